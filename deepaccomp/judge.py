"""A judge of our own: a classifier two-sample test of four-voice harmonisations against Bach's.

Every 2-bar window (32 steps of a 16th, 4/4, hop one bar) of a four-voice piece
(soprano, alto, tenor, bass) is described by counts of key-relative features
(:data:`FEATURE_NAMES`):

* per beat (the sonority at the beat's first step): how many pitch classes sound,
  which intervals above the bass sound, which scale degrees sound, the bass's
  degree, the interval (mod 12) between each pair of voices, chromatic notes;
* per note start of alto, tenor and bass: the melodic interval from the voice's
  previous note (repeat, semitone, tone, third, fourth/fifth, leap, each way),
  a re-struck note (a new onset of the pitch that sounded the step before),
  where in the beat it starts (beat, off-beat eighth, sixteenth);
* per beat and voice: a beat held through (no onset in it) and a silent beat;
* per step where a pair of voices moves: parallel, similar, contrary or oblique motion.

Re-struck notes need onsets: a boolean roll cannot tell a held note from one struck
again. A piece may come with its onsets; without them every run of a pitch is one
note (:func:`deepaccomp.representation.run_starts`) and no note is re-struck.

:func:`judge` labels the windows of the real pieces 0 and those of a candidate 1,
standardises the features inside each training fold, fits an L2-regularised logistic
regression (Newton's method, deterministic) and scores the held-out fold; the folds
are grouped (:func:`grouped_folds`): no group (chorale) has windows in both the
training and the held-out part of a fold. Balanced accuracy near 0.5 means the judge
cannot tell the two apart; near 1.0, it always can. It is a measurement, never a
training loss.
"""

from __future__ import annotations

import numpy as np

from .data import score_onsets
from .errors import ConfigError
from .representation import STEPS_PER_BAR, STEPS_PER_BEAT, as_bool, run_starts

__all__ = ["WINDOW_STEPS", "HOP_STEPS", "FOLDS", "L2", "VOICES", "FEATURE_NAMES", "voice_lines", "step_features",
           "window_features", "pieces_windows", "grouped_folds", "fit_logistic", "auc", "balanced_accuracy",
           "judge", "score_onsets", "count_moves", "count_verticals"]

WINDOW_STEPS = 2 * STEPS_PER_BAR
"""Steps of a window: two bars of 4/4."""

HOP_STEPS = STEPS_PER_BAR
"""Steps between the starts of two windows: one bar."""

FOLDS = 5
"""Cross-validation folds of :func:`judge`."""

L2 = 1.0
"""Weight of the L2 penalty of the logistic regression (on standardised features, intercept left out)."""

VOICES = ("soprano", "alto", "tenor", "bass")
"""The four voices, in the tracks' order; the features of the soprano's own line are left out (it is the given melody)."""
PAIRS = tuple((i, j) for i in range(4) for j in range(i + 1, 4))
_SCALE = (0, 2, 4, 5, 7, 9, 11)  # C major / A minor, the key all features are relative to
_LEAP_NAMES = ("repeat", "semitone", "tone", "third", "fourth/fifth", "leap")
_MOTIONS = ("parallel", "similar", "contrary", "oblique")


def _leap_class(d: int) -> int:
    a = abs(d)
    return 0 if a == 0 else 1 if a == 1 else 2 if a == 2 else 3 if a <= 4 else 4 if a <= 7 else 5


def _names() -> tuple:
    names = [f"beat: {n} pitch classes" for n in range(1, 5)]
    names += [f"beat: {iv} semitones above the bass (mod 12)" for iv in range(1, 12)]
    names += [f"beat: degree {pc} sounds" for pc in range(12)]
    names += [f"beat: bass on degree {pc}" for pc in range(12)]
    names += ["beat: chromatic notes"]
    names += [f"beat: {VOICES[i]}-{VOICES[j]} interval {iv}" for i, j in PAIRS for iv in range(12)]
    for v in VOICES[1:]:
        names += [f"{v}: repeat"] + [f"{v}: {way} {leap}" for leap in _LEAP_NAMES[1:] for way in ("up", "down")]
        names += [f"{v}: re-struck notes", f"{v}: notes on the beat", f"{v}: notes on an off-beat eighth",
                  f"{v}: notes on a sixteenth", f"{v}: held beats", f"{v}: silent beats"]
    names += [f"{VOICES[i]}-{VOICES[j]}: {m} motion" for i, j in PAIRS for m in _MOTIONS]
    return tuple(names)


FEATURE_NAMES = _names()
"""Names of the window features, in the order of :func:`window_features`' columns."""

_INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def voice_lines(roll, onsets=None) -> tuple[np.ndarray, np.ndarray]:
    """The pitch and the note starts of each voice at each step.

    Parameters
    ----------
    roll : array_like of bool, shape (time, 128, 4)
        Soprano, alto, tenor, bass (a voice sounding several pitches is read as its highest).
    onsets : array_like of bool, shape (time, 128, 4), optional
        Where notes start; ``None``: at the start of every run (no note re-struck).

    Returns
    -------
    pitch : np.ndarray of int, shape (time, 4)
        MIDI pitch, -1 where the voice is silent.
    start : np.ndarray of bool, shape (time, 4)
        Whether the voice's note starts at the step.
    """
    roll = as_bool(roll)
    if roll.ndim != 3 or roll.shape[1] != 128 or roll.shape[2] != 4:
        raise ConfigError(f"the judge reads four-voice rolls (time, 128, 4), got shape {roll.shape}")
    onsets = run_starts(roll) if onsets is None else as_bool(onsets) & roll
    if onsets.shape != roll.shape:
        raise ConfigError(f"onsets of shape {onsets.shape} for a roll of shape {roll.shape}")
    sounding = roll.any(axis=1)
    pitch = np.where(sounding, 127 - np.argmax(roll[:, ::-1, :], axis=1), -1)
    t, k = np.nonzero(sounding)
    start = np.zeros(sounding.shape, bool)
    start[t, k] = onsets[t, pitch[t, k], k]
    start[1:] |= sounding[1:] & (pitch[1:] != pitch[:-1])  # a new pitch is a new note
    start[0] |= sounding[0]
    return pitch, start


def count_moves(rolls) -> dict:
    """How often the lower voices move straight from one pitch to another, by interval.

    Parameters
    ----------
    rolls : iterable of array_like of bool, each of shape (time, 128, 4)
        Soprano, alto, tenor, bass (:func:`voice_lines` reads each voice).

    Returns
    -------
    dict
        ``{"upper": (25,), "bass": (25,)}`` int counts of moves by -12..+12 semitones (beyond clipped to
        12; index 12, no move, stays 0) between consecutive steps of a voice sounding two different
        pitches: ``"upper"`` the alto's and the tenor's together, ``"bass"`` the bass's (the tables of
        :data:`deepaccomp.decoding.BACH_MOVES` and ``generation.own_moves``).
    """
    counts = {"upper": np.zeros(25, np.int64), "bass": np.zeros(25, np.int64)}
    for roll in rolls:
        pitch, _ = voice_lines(roll)
        for v in (1, 2, 3):
            a, b = pitch[:-1, v], pitch[1:, v]
            moved = (a >= 0) & (b >= 0) & (a != b)
            np.add.at(counts["bass" if v == 3 else "upper"], np.clip(b[moved] - a[moved], -12, 12) + 12, 1)
    return counts


def count_verticals(rolls) -> np.ndarray:
    """How often each pair of voices sounds each interval at a beat onset.

    Parameters
    ----------
    rolls : iterable of array_like of bool, each of shape (time, 128, 4)
        Soprano, alto, tenor, bass (:func:`voice_lines` reads each voice).

    Returns
    -------
    np.ndarray of int64, shape (6, 12)
        Row ``k``: the pair :data:`PAIRS` ``[k]`` (higher voice first: soprano-alto, soprano-tenor,
        soprano-bass, alto-tenor, alto-bass, tenor-bass); column: the higher voice's pitch minus the
        lower's, mod 12, at every beat onset (every :data:`~deepaccomp.representation.STEPS_PER_BEAT`
        steps from step 0) where both sound (the judge's ``beat: ... interval`` features; the table of
        ``generation.own_verticals`` and :data:`deepaccomp.decoding.BACH_VERTICALS`).
    """
    counts = np.zeros((len(PAIRS), 12), np.int64)
    for roll in rolls:
        pitch, _ = voice_lines(roll)
        at = pitch[::STEPS_PER_BEAT]
        for k, (i, j) in enumerate(PAIRS):
            both = (at[:, i] >= 0) & (at[:, j] >= 0)
            np.add.at(counts[k], (at[both, i] - at[both, j]) % 12, 1)
    return counts


def step_features(roll, shift: int = 0, onsets=None) -> np.ndarray:
    """Feature counts ``(time, len(FEATURE_NAMES))`` charged to the step where each event happens.

    ``shift``: semitones that move the piece's key to C major / A minor (``Key.shift_to_c()``).
    Sums over a window's steps are :func:`window_features`.
    """
    pitch, start = voice_lines(roll, onsets)
    steps = pitch.shape[0]
    out = np.zeros((steps, len(FEATURE_NAMES)))
    for t in range(0, steps, STEPS_PER_BEAT):
        _beat(out, t, pitch, start, shift)
    for k in (1, 2, 3):
        _notes(out, pitch[:, k], start[:, k], VOICES[k])
    _motion(out, pitch, start)
    return out


def _beat(out, t, pitch, start, shift):
    now = pitch[t]
    on = now >= 0
    beat = slice(t, t + STEPS_PER_BEAT)
    for k in (1, 2, 3):
        name = VOICES[k]
        if not on[k]:
            out[t, _INDEX[f"{name}: silent beats"]] += 1
        elif not start[beat, k].any():
            out[t, _INDEX[f"{name}: held beats"]] += 1
    if not on.any():
        return
    pcs = {int(p + shift) % 12 for p in now[on]}
    out[t, _INDEX[f"beat: {min(len(pcs), 4)} pitch classes"]] += 1
    bass = int(now[on].min())
    for iv in {int(p - bass) % 12 for p in now[on]} - {0}:
        out[t, _INDEX[f"beat: {iv} semitones above the bass (mod 12)"]] += 1
    for pc in pcs:
        out[t, _INDEX[f"beat: degree {pc} sounds"]] += 1
    out[t, _INDEX["beat: chromatic notes"]] += len(pcs - set(_SCALE))
    if on[3]:
        out[t, _INDEX[f"beat: bass on degree {int(now[3] + shift) % 12}"]] += 1
    for i, j in PAIRS:
        if on[i] and on[j]:
            out[t, _INDEX[f"beat: {VOICES[i]}-{VOICES[j]} interval {int(now[i] - now[j]) % 12}"]] += 1


def _notes(out, pitch, start, name):
    previous = -1
    for t in np.nonzero(start)[0]:
        p = int(pitch[t])
        if t > 0 and pitch[t - 1] == p:
            out[t, _INDEX[f"{name}: re-struck notes"]] += 1
        where = "on the beat" if t % STEPS_PER_BEAT == 0 else \
            "on an off-beat eighth" if t % (STEPS_PER_BEAT // 2) == 0 else "on a sixteenth"
        out[t, _INDEX[f"{name}: notes {where}"]] += 1
        if previous >= 0:
            d = p - previous
            leap = _LEAP_NAMES[_leap_class(d)]
            out[t, _INDEX[f"{name}: repeat" if d == 0 else f"{name}: {'up' if d > 0 else 'down'} {leap}"]] += 1
        previous = p


def _motion(out, pitch, start):
    before, now = pitch[:-1], pitch[1:]
    moved = start[1:] & (before >= 0) & (now >= 0) & (now != before)
    for i, j in PAIRS:
        both = (before[:, i] >= 0) & (before[:, j] >= 0) & (now[:, i] >= 0) & (now[:, j] >= 0)
        for t in np.nonzero(both & (moved[:, i] | moved[:, j]))[0]:
            di, dj = now[t, i] - before[t, i], now[t, j] - before[t, j]
            if di == 0 or dj == 0:
                m = "oblique"
            elif np.sign(di) != np.sign(dj):
                m = "contrary"
            else:
                m = "parallel" if di == dj else "similar"
            out[t + 1, _INDEX[f"{VOICES[i]}-{VOICES[j]}: {m} motion"]] += 1


def window_features(roll, shift: int = 0, onsets=None) -> np.ndarray:
    """Feature counts of each 2-bar window (hop one bar) of a four-voice piece whose soprano sounds in it.

    Returns
    -------
    np.ndarray, shape (windows, len(FEATURE_NAMES))
        Row ``w`` sums :func:`step_features` over steps ``w * HOP_STEPS`` to ``w * HOP_STEPS + WINDOW_STEPS``.
    """
    per_step = step_features(roll, shift, onsets)
    melody = as_bool(roll)[..., 0].any(axis=1)
    rows = [per_step[s:s + WINDOW_STEPS].sum(axis=0)
            for s in range(0, max(1, len(per_step) - WINDOW_STEPS + 1), HOP_STEPS)
            if melody[s:s + WINDOW_STEPS].any()]
    return np.array(rows).reshape(-1, len(FEATURE_NAMES))


def pieces_windows(pieces, groups) -> tuple[np.ndarray, np.ndarray]:
    """Window features of pieces and each window's group.

    Parameters
    ----------
    pieces : sequence of tuple
        ``(roll (time, 128, 4), key)`` or ``(roll, key, onsets)``: ``key`` a
        :class:`~deepaccomp.metrics.Key` (``None``: already in C major / A minor).
    groups : sequence
        One label per piece (the chorale it harmonises).
    """
    pieces, groups = list(pieces), list(groups)
    if not pieces:
        raise ConfigError("the judge needs pieces on both sides; one side has none")
    if len(pieces) != len(groups):
        raise ConfigError(f"{len(groups)} group labels for {len(pieces)} pieces")
    feats, labels = [], []
    for piece, group in zip(pieces, groups):
        roll, key = piece[0], piece[1]
        onsets = piece[2] if len(piece) > 2 else None
        f = window_features(roll, 0 if key is None else key.shift_to_c(), onsets)
        feats.append(f)
        labels += [group] * len(f)
    return np.concatenate(feats), np.array(labels, dtype=object)


def grouped_folds(groups, folds: int = FOLDS, seed: int = 0) -> np.ndarray:
    """Fold number of each item: the distinct groups shuffled by ``seed`` and dealt to the folds in turn,
    so every item of a group is in the same fold."""
    groups = np.asarray(groups, dtype=object)
    distinct = sorted(set(groups.tolist()), key=str)
    if len(distinct) < folds:
        raise ConfigError(f"{len(distinct)} groups cannot fill {folds} folds; give at least {folds} pieces")
    order = np.random.default_rng(seed).permutation(len(distinct))
    fold_of = {distinct[g]: n % folds for n, g in enumerate(order)}
    return np.array([fold_of[g] for g in groups.tolist()])


def fit_logistic(x, y, l2: float = L2, weights=None, iterations: int = 100) -> np.ndarray:
    """L2-regularised logistic regression by Newton's method: ``w`` (intercept last) of ``p = sigmoid(x @ w[:-1] + w[-1])``.

    ``weights``: per-sample weights (default 1); the intercept is not penalised.
    """
    x = np.hstack([np.asarray(x, float), np.ones((len(x), 1))])
    y = np.asarray(y, float)
    sw = np.ones(len(y)) if weights is None else np.asarray(weights, float)
    penalty = np.full(x.shape[1], float(l2))
    penalty[-1] = 0.0
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ (sw * (p - y)) + penalty * w
        hess = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    return w


def auc(scores, y) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative (ties half)."""
    scores, y = np.asarray(scores, float), np.asarray(y, bool)
    pos, neg = scores[y], scores[~y]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    ranks = np.empty(len(order))
    allv = np.concatenate([pos, neg])[order]
    _, first, counts = np.unique(allv, return_index=True, return_counts=True)
    ranks[order] = np.repeat(first + (counts + 1) / 2.0, counts)
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def balanced_accuracy(predicted, y) -> float:
    """Mean of the recall of each class present in ``y`` (nan for none)."""
    predicted, y = np.asarray(predicted, bool), np.asarray(y, bool)
    recalls = [np.mean(predicted[y == c] == c) for c in (True, False) if np.any(y == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def _standardise(train, test):
    mean, std = train.mean(axis=0), train.std(axis=0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std


def _class_weights(y):
    n1 = max(1, int(y.sum()))
    n0 = max(1, len(y) - n1)
    return np.where(y == 1, len(y) / (2 * n1), len(y) / (2 * n0))


def judge(real_pieces, candidate_pieces, groups, *, candidate_groups=None, seed: int = 0, folds: int = FOLDS,
          l2: float = L2, top: int = 10, features=None) -> dict:
    """Can a classifier tell a candidate's windows from the real ones? Grouped cross-validation.

    Parameters
    ----------
    real_pieces, candidate_pieces : sequence of tuple
        ``(roll (time, 128, 4), key[, onsets])`` as :func:`pieces_windows` takes them.
    groups : sequence
        One label per real piece (e.g. the chorale's id).
    candidate_groups : sequence, optional
        One label per candidate piece; default ``groups`` (the candidate harmonises the same melodies).
    seed : int
        Seed of the folds' draw; the fit is deterministic.
    folds : int
        Folds of the cross-validation (at least 2).
    l2 : float
        L2 penalty of the logistic regression.
    top : int
        How many features :func:`judge` lists as the most telling.
    features : tuple of np.ndarray, optional
        ``(x, y, groups)`` given directly (windows, 0 real / 1 candidate, group): the pieces are then ignored.

    Returns
    -------
    dict
        ``accuracy`` (balanced, mean over the held-out folds), ``auc`` (mean over folds), ``per_fold``
        (``[{"accuracy", "auc", "n_windows"}]``), ``top_features`` (``[(name, weight)]``, the largest
        weights of a fit on every window; positive: the candidate has more), ``means`` (``{name: (real,
        candidate)}`` mean counts per window of those features) and ``n_windows`` (``{"real", "candidate"}``).
    """
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"folds must be a whole number of at least 2, got {folds!r}")
    if features is None:
        xr, gr = pieces_windows(real_pieces, groups)
        xc, gc = pieces_windows(candidate_pieces, groups if candidate_groups is None else candidate_groups)
        x, y, g = np.vstack([xr, xc]), np.r_[np.zeros(len(xr)), np.ones(len(xc))], np.r_[gr, gc]
        names = FEATURE_NAMES
    else:
        x, y, g = (np.asarray(a) for a in features)
        names = tuple(f"feature {i}" for i in range(x.shape[1]))
    if y.min() == y.max():
        raise ConfigError("the judge needs windows of both sides; one side has none")
    fold = grouped_folds(g, folds, seed)
    rows = [_fold_score(x, y, fold == f, l2) for f in range(folds)]
    xs, _ = _standardise(x, x)
    w = fit_logistic(xs, y, l2, _class_weights(y))[:-1]
    best = np.argsort(-np.abs(w), kind="stable")[:top]
    return {"accuracy": float(np.mean([r["accuracy"] for r in rows])),
            "auc": float(np.nanmean([r["auc"] for r in rows])),
            "per_fold": rows,
            "top_features": [(names[i], float(w[i])) for i in best],
            "means": {names[i]: (float(x[y == 0, i].mean()), float(x[y == 1, i].mean())) for i in best},
            "n_windows": {"real": int(np.sum(y == 0)), "candidate": int(np.sum(y == 1))}}


def _fold_score(x, y, held, l2) -> dict:
    train, test = _standardise(x[~held], x[held])
    w = fit_logistic(train, y[~held], l2, _class_weights(y[~held]))
    score = test @ w[:-1] + w[-1]
    return {"accuracy": balanced_accuracy(score > 0, y[held] == 1), "auc": auc(score, y[held] == 1),
            "n_windows": int(held.sum())}
