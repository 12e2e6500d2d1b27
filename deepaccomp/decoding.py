"""From the generator's values to notes: the decodings of ``config.generation``.

The generator gives a value in [-1, 1] per (step, pitch, voice). A decoding
turns them into a boolean accompaniment roll ``(time, pitch, voices)``:

* ``"threshold"`` (the lab): every cell above ``decode_threshold`` sounds;
* ``"voice"``: each voice sings its best pitch at each step when that value is
  above the threshold;
* ``"notes"``: each voice's whole line is chosen at once, by dynamic
  programming, to maximise ``sum over sounding steps of (value - threshold)``
  minus ``onset_cost`` for every note it starts (a held pitch costs nothing;
  a change of pitch starts a note). With ``note_score="log_odds"`` a step scores
  ``logit((value + 1) / 2) - logit((threshold + 1) / 2)`` instead: the value read as
  the probability the reconstruction term trains it to be, so that where the model
  is unsure (every value near -1) its ranking still counts and is not drowned by
  the onset cost. Optional structural costs, each of which
  only ever removes options and never adds a pitch the model did not rate:

  - ``sing_with_melody``: a voice does not rest while the melody sounds;
  - ``order_voices``: the bass is decoded first, then the tenor at or above
    it, then the alto at or above the tenor; while the melody sounds, every
    voice stays at or below it (no voice crossing, and the alto always has
    room between the tenor and the melody);
  - ``parallel_cost``: charged for every perfect fifth or octave (unison)
    reached from the same interval at the previous beat onset while both
    voices move (in parallel or contrary motion), against the melody and the
    voices already decoded: the pitch at each beat onset (held for the first
    half of the beat) is chosen first, beat by beat, then the steps between;
  - ``leap_cost``: charged for every move straight from one pitch to another
    :data:`~deepaccomp.metrics.LEAP_INTERVAL` (a minor sixth) or more away, at
    beat onsets and between them (a move over a rest is not charged: the line
    keeps no memory of a pitch through a rest);
  - ``lowest_min_steps``: every note of the lowest voice (the bass) lasts at
    least this many steps (2: no 16th notes; Bach's basses have almost none),
    so that a cost for leaps is not dodged by a one-step note between two pitches;
  - ``lowest_onset_factor``: the lowest voice pays ``onset_cost`` times this
    factor per note start (below 1: a bass that moves more than the voices above it);
  - ``interval_cost``: charged for every move straight from one pitch to another, by
    how much rarer than his commonest move its interval is in Bach's lines (:func:`interval_costs`);
  - ``balance_cost`` (with the model's own moves, ``own_moves``): charged for every such move
    by how much more often the model makes it than Bach does, a move it makes too rarely
    rewarded instead (:func:`balance_costs`); the lowest voice pays it times
    ``lowest_balance_factor``;
  - ``bare_cost`` (with ``order_voices``): charged at every beat onset where the
    voice decoded last (the alto) leaves the melody and the voices at most
    :data:`BARE_PITCH_CLASSES` pitch classes (a bare fifth, octave or third);
  - ``similar_cost`` (with the melody): charged at every beat onset where a voice
    moves the way the melody moves from the beat before (similar or parallel
    motion with it; both change pitch, neither rests), so that the voices hold
    or move against the tune more often; chosen with the beat onsets (as ``parallel_cost``);
  - ``vertical_cost`` (with the model's own intervals between voices, ``own_verticals``,
    and the melody): charged at every beat onset for the interval a voice makes with
    the melody and each voice decoded before it, by how much more often the model
    sounds that interval between that pair of voices than Bach does, an interval it
    sounds too rarely rewarded instead (:func:`vertical_costs`).

  The decoding never looks at real music: it cannot add harmony the values
  do not hold (docs/model_card.md measures it on random and trivial input).

With a track layout (:mod:`deepaccomp.layout`) the method above applies to
the monophonic pitched tracks (voices, a bass line), in layout order, which
the ``order_voices`` rule reads as highest first; polyphonic tracks (piano,
guitar, strings) sound every cell above 0 (the model's on/off boundary; above
``decode_threshold`` when the method is ``"threshold"``); drum tracks become
hits (:func:`decode_hits`). The satb layout has only voices: its decoding is
the method alone, unchanged.

Regenerating a part (``fixed``, :data:`FREE`): the ``"notes"`` decoding can take
each voice's state at every step as given (a kept pitch, or a rest) outside the
steps to draw again. The kept states are constraints of the same dynamic
programme: the new notes join them under the same costs (an onset, a leap, a
parallel perfect, a bass note shorter than ``lowest_min_steps``), a voice
decoded first stays under the kept voices above it and avoids parallels with
the kept voices decoded after it. A kept note ends where the kept line says:
a new note of the same pitch right after it is struck again (and pays its onset).

Pure numpy; rolls are ``(batch, time, pitch, voices)`` or ``(time, pitch, voices)``.
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .metrics import LEAP_INTERVAL
from .representation import STEPS_PER_BEAT, decode_voices, from_model_range

__all__ = ["DECODE_METHODS", "NOTE_SCORES", "FREE", "decode", "decode_notes", "decode_hits", "log_odds", "note_scores",
           "mark_restrikes", "RESTRIKE_GRID", "DISSONANT", "BACH_MOVES", "interval_costs", "BARE_PITCH_CLASSES",
           "MOVE_CLASSES", "MOVE_VOICES", "RATIO_CLIP", "balance_costs", "BACH_VERTICALS", "vertical_costs"]

DECODE_METHODS = ("threshold", "voice", "notes")
"""The decodings :func:`decode` knows (``generation.decode``)."""
NOTE_SCORES = ("value", "log_odds")
"""What a sounding step scores in the ``"notes"`` decoding (``generation.note_score``)."""
LOG_ODDS_EPS = 1e-6
"""Probabilities are clipped to [eps, 1 - eps] before the log-odds (at most about +-13.8)."""

_PERFECT = (0, 7)  # interval classes of unisons/octaves and fifths

BARE_PITCH_CLASSES = 2
"""A beat onset whose sounding parts hold at most this many pitch classes is bare (``bare_cost``): Bach's
chorales have 0.12 such beats per 2-bar window on valid, the shipped model's decoding without the cost
0.62 (docs/judge.md)."""

DISSONANT = (1, 10, 11)
"""Intervals above the lowest voice (semitones, mod 12) that ``dissonance_cost`` charges: the minor second
(ninth) and the minor and major sevenths, the sharpest dissonances with the bass (the judge found the
model's upper voices on them far more often than Bach's: docs/model_card.md)."""

BACH_MOVES = {
    "upper": (24, 0, 0, 17, 22, 385, 76, 373, 758, 534, 5154, 3690, 0, 2748, 4200, 363, 273, 1174, 9, 234, 72, 80,
              6, 1, 52),
    "bass": (239, 6, 10, 25, 45, 823, 76, 426, 361, 393, 2343, 1495, 0, 1890, 2527, 94, 89, 1028, 6, 302, 31, 30,
             20, 10, 300),
}
"""Moves straight from one pitch to another (-12..+12 semitones, beyond clipped to 12; index 12, no move,
is 0) in the lines of the chorale dataset's train split (dataset version 6): ``"upper"`` the alto's and
the tenor's together, ``"bass"`` the bass's (:func:`deepaccomp.judge.count_moves`). A test recounts them
from the built dataset."""

BACH_VERTICALS = (
    (620, 140, 676, 1851, 1327, 2591, 287, 1256, 1159, 1034, 93, 0),
    (1614, 38, 348, 1094, 742, 1393, 225, 1532, 1871, 1990, 178, 8),
    (2449, 12, 188, 1781, 1799, 161, 217, 2365, 1024, 849, 152, 39),
    (446, 8, 126, 2074, 1777, 2348, 292, 1778, 883, 1164, 129, 6),
    (2304, 37, 375, 1569, 1965, 446, 170, 2771, 684, 446, 224, 37),
    (2273, 27, 202, 2053, 2196, 293, 202, 2489, 694, 382, 185, 30),
)
"""Intervals between each pair of voices at beat onsets in the chorale dataset's train split (dataset
version 6): a row per pair (soprano-alto, soprano-tenor, soprano-bass, alto-tenor, alto-bass,
tenor-bass), a column per interval, the higher voice's pitch minus the lower's mod 12
(:func:`deepaccomp.judge.count_verticals`). A test recounts them from the built dataset."""

MOVE_CLASSES = 25
"""Interval classes of a move, -12..+12 semitones (beyond clipped to 12), as :data:`BACH_MOVES` counts them."""

MOVE_VOICES = ("upper", "bass")
"""The voices a move table describes, in the order ``generation.own_moves`` holds them."""

RATIO_CLIP = 3.0
"""Bound (either way, in units of the note score per unit of ``balance_cost``) of a move's cost by the ratio of
the model's share of it to Bach's (:func:`balance_costs`): a move one of them never makes is charged or
rewarded this much at most."""

RESTRIKE_GRID = STEPS_PER_BEAT // 2
"""Steps between the positions where :func:`mark_restrikes` lets a note be struck again: an eighth note
(all 4,850 re-struck notes of the alto, tenor and bass in the chorales' train split start on one)."""

FREE = -2
"""In a ``fixed`` line (:func:`decode_notes`): the decoding chooses this step (-1 is a kept rest,
0 or more a kept pitch index)."""


def decode(values: np.ndarray, settings, melody: np.ndarray | None = None, layout=None,
           fixed: np.ndarray | None = None) -> np.ndarray:
    """Generator values -> bool roll with the decoding of ``settings`` (a :class:`~deepaccomp.config.GenerationConfig`).

    Parameters
    ----------
    values : ndarray, shape (batch, time, pitch, voices)
        Generator output in tanh range.
    settings : GenerationConfig
    melody : ndarray of bool, shape (batch, time, pitch, 1), optional
        The melody on the same pitch axis; needed by ``"notes"`` when
        ``sing_with_melody`` or ``parallel_cost`` is set.
    layout : Layout, optional
        The tracks of ``values`` (:attr:`Layout.accompaniment`, one per
        channel); ``None`` or a layout of voices only = every channel a voice.
    fixed : ndarray of int, shape (batch, time, voices), optional
        Kept states of the voices for the ``"notes"`` decoding (see
        :func:`decode_notes`); the other decodings and the polyphonic and drum
        tracks ignore it (their kept cells are put back by the caller).
    """
    tracks = () if layout is None else layout.accompaniment
    if any(t.drums or t.polyphonic for t in tracks):
        return _decode_by_kind(values, settings, melody, tracks, fixed)
    return _decode_voices(values, settings, melody, fixed)


def _decode_by_kind(values, settings, melody, tracks, fixed=None) -> np.ndarray:
    """Voices by the method, polyphonic tracks by threshold, drums as hits (see the module docstring)."""
    values = np.asarray(values)
    out = np.zeros(values.shape, dtype=bool)
    voices = [k for k, t in enumerate(tracks) if not (t.drums or t.polyphonic)]
    if voices:
        out[..., voices] = _decode_voices(values[..., voices], settings, melody,
                                          None if fixed is None else np.asarray(fixed)[..., voices])
    poly = [k for k, t in enumerate(tracks) if t.polyphonic and not t.drums]
    poly_threshold = settings.decode_threshold if settings.decode == "threshold" else 0.0
    out[..., poly] = from_model_range(values[..., poly], poly_threshold)
    drums = [k for k, t in enumerate(tracks) if t.drums]
    out[..., drums] = decode_hits(values[..., drums])
    return out


def decode_hits(values, threshold: float = 0.0) -> np.ndarray:
    """Drum values ``(..., time, pitch, tracks)`` -> one-step hits: the first step of every run above ``threshold``.

    A drum is struck, not held: a run of steps above the threshold at one
    pitch is one hit at its first step.
    """
    on = from_model_range(values, threshold)
    before = np.concatenate([np.zeros_like(on[..., :1, :, :]), on[..., :-1, :, :]], axis=-3)
    return on & ~before


def _decode_voices(values, settings, melody, fixed=None) -> np.ndarray:
    method = settings.decode
    if method == "threshold":
        return from_model_range(values, settings.decode_threshold)
    if method == "voice":
        return decode_voices(values, settings.decode_threshold)
    if method == "notes":
        out = decode_notes(values, threshold=settings.decode_threshold, onset_cost=settings.onset_cost,
                           score=settings.note_score, melody=melody, sing_with_melody=settings.sing_with_melody,
                           order_voices=settings.order_voices, parallel_cost=settings.parallel_cost,
                           leap_cost=settings.leap_cost, lowest_min_steps=settings.lowest_min_steps,
                           dissonance_cost=settings.dissonance_cost, interval_cost=settings.interval_cost,
                           bare_cost=settings.bare_cost, lowest_onset_factor=settings.lowest_onset_factor,
                           balance_cost=settings.balance_cost, own_moves=_own_moves_by_voice(settings.own_moves),
                           lowest_balance_factor=settings.lowest_balance_factor,
                           similar_cost=settings.similar_cost, vertical_cost=settings.vertical_cost,
                           own_verticals=_own_verticals(settings.own_verticals), fixed=fixed)
        if settings.restrike:
            thresholds = np.full(values.shape[-1], settings.restrike_threshold)
            thresholds[-1] += settings.lowest_restrike_shift  # the voices highest first: the last is the lowest
            out = mark_restrikes(out, note_scores(values, settings.note_score), thresholds, fixed)
        return out
    raise ConfigError(f"unknown decode method {method!r}; use one of {list(DECODE_METHODS)}")


def note_scores(values, score: str = "value") -> np.ndarray:
    """What each cell of generator ``values`` scores in the ``"notes"`` decoding, before its threshold:
    the value itself (``"value"``) or its :func:`log_odds` (``"log_odds"``); float64."""
    if score not in NOTE_SCORES:
        raise ConfigError(f"unknown note score {score!r}; use one of {list(NOTE_SCORES)}")
    values = np.asarray(values, dtype=np.float64)
    return log_odds(values) if score == "log_odds" else values


def mark_restrikes(roll, scores, threshold=0.0, fixed=None) -> np.ndarray:
    """Decoded voices with a silent step before each note the generator strikes again.

    A model trained with ``data.restrike_gaps`` learned a re-struck note as one
    silent step before it (:func:`deepaccomp.representation.restrike_gaps`);
    the ``"notes"`` decoding, whose voices sing on through the melody, holds the
    pitch through that step. Here a step ``s`` is cleared where the held pitch's
    score is below ``threshold`` and lowest of its dip, so that the note is struck
    again at ``s + 1``, on an eighth-note position (step 0 a downbeat; every
    re-struck note of Bach's chorales starts on one, :data:`RESTRIKE_GRID`):

    * ``s + 1`` is a multiple of :data:`RESTRIKE_GRID`, and the score at ``s`` is
      at most the one a grid step before and below the one a grid step after;
    * the pitch sounds from ``s - 1`` to ``s + 2``: once
      :func:`deepaccomp.representation.close_restrike_gaps` has read the gap back
      (the note before sounding through ``s``), both notes last two steps or more.

    Parameters
    ----------
    roll : ndarray of bool, shape (..., time, pitch, voices)
        Decoded voices, one pitch per voice and step (:func:`decode_notes`).
    scores : ndarray, the roll's shape
        The note score of every cell (:func:`note_scores`).
    threshold : float or array_like, shape (voices,)
        In the units of ``scores``; one per voice where an array.
    fixed : ndarray of int, shape (..., time, voices), optional
        Kept states (:func:`decode_notes`): a kept step is never cleared.

    Returns
    -------
    ndarray of bool, the roll's shape
    """
    roll, scores = np.asarray(roll, bool), np.asarray(scores, dtype=np.float64)
    g = RESTRIKE_GRID
    low = scores < np.asarray(threshold, dtype=np.float64)
    low[..., g:, :, :] &= scores[..., g:, :, :] <= scores[..., :-g, :, :]
    low[..., :-g, :, :] &= scores[..., :-g, :, :] < scores[..., g:, :, :]
    if fixed is not None:
        low &= (np.asarray(fixed) == FREE)[..., None, :]
    n = roll.shape[-3]
    cut = np.zeros(roll.shape, bool)
    inner = (Ellipsis, slice(g - 1, max(g - 1, n - 2), g), slice(None), slice(None))  # s = g-1, 2g-1, ... < n-2
    cut[inner] = low[inner] & roll[inner]
    for d in (-1, 1, 2):
        cut[inner] &= roll[(Ellipsis, slice(g - 1 + d, max(g - 1, n - 2) + d, g), slice(None), slice(None))]
    return roll & ~cut


def log_odds(values) -> np.ndarray:
    """``log(p / (1 - p))`` of ``p = (values + 1) / 2``, ``p`` clipped to ``[LOG_ODDS_EPS, 1 - LOG_ODDS_EPS]``; float64."""
    p = np.clip((np.asarray(values, dtype=np.float64) + 1.0) / 2.0, LOG_ODDS_EPS, 1.0 - LOG_ODDS_EPS)
    return np.log(p) - np.log1p(-p)


def decode_notes(values, *, threshold: float = 0.0, onset_cost: float = 0.0, score: str = "value", melody=None,
                 sing_with_melody: bool = False, order_voices: bool = False,
                 parallel_cost: float = 0.0, leap_cost: float = 0.0, lowest_min_steps: int = 1,
                 dissonance_cost: float = 0.0, interval_cost: float = 0.0, bare_cost: float = 0.0,
                 lowest_onset_factor: float = 1.0, balance_cost: float = 0.0, own_moves=None,
                 lowest_balance_factor: float = 1.0, similar_cost: float = 0.0, vertical_cost: float = 0.0,
                 own_verticals=None, steps_per_beat: int = STEPS_PER_BEAT, fixed=None) -> np.ndarray:
    """Each voice's best line under a cost per note start (and the optional structural costs).

    Parameters
    ----------
    values : ndarray, shape (batch, time, pitch, voices) or (time, pitch, voices)
        Generator output; voices in alto, tenor, bass order (highest first).
    threshold : float
        A sounding step scores ``value - threshold``; a rest scores 0.
    onset_cost : float
        Charged for every note start (>= 0), in units of the score.
    lowest_onset_factor : float
        The lowest voice's note starts cost ``onset_cost * lowest_onset_factor`` (>= 0; 1: as the others).
    score : {"value", "log_odds"}
        ``"log_odds"``: a step scores ``log_odds(value) - log_odds(threshold)`` (:func:`log_odds`).
    melody : ndarray of bool, shape (..., time, pitch, 1), optional
        Needed for ``sing_with_melody`` and ``parallel_cost``.
    sing_with_melody, order_voices, parallel_cost, leap_cost, lowest_min_steps
        See the module docstring.
    dissonance_cost : float
        With ``order_voices`` (the lowest voice decoded first): charged for every step an upper
        voice sounds a dissonance (:data:`DISSONANT` semitones, mod 12) above the lowest voice.
    interval_cost : float
        Charged for every move of a voice straight from one pitch to another, times the move's
        :func:`interval_costs` (how much rarer than his commonest move it is in Bach's chorales: the
        lowest voice by his basses', the others by his alto and tenor lines').
    balance_cost : float
        With ``own_moves``: charged for every such move times its :func:`balance_costs` (how much more often
        than Bach the model makes it; negative, a reward, for a move it makes too rarely). Not charged without.
    lowest_balance_factor : float
        The lowest voice's moves cost ``balance_cost * lowest_balance_factor`` (>= 0; 1: as the others).
    own_moves : dict, optional
        ``{"upper": (25,), "bass": (25,)}`` counts of the model's own moves (``generation.own_moves`` split by voice).
    bare_cost : float
        With ``order_voices`` and the melody: charged to the voice decoded last (the highest, the alto) at
        every beat onset (step 0 a downbeat) where its pitch leaves the melody and the voices sounding
        there at most :data:`BARE_PITCH_CLASSES` pitch classes.
    similar_cost : float
        With the melody: charged at every beat onset where a voice moves the way the melody moves there
        (from the beat onset before; both change pitch, neither rests).
    vertical_cost : float
        With ``own_verticals`` and the melody: charged at every beat onset (step 0 a downbeat) for the
        interval a voice sounds with the melody and with each voice decoded before it, times its
        :func:`vertical_costs` (how much more often than Bach the model sounds it between that pair;
        negative, a reward, where it sounds it too rarely). Not charged without ``own_verticals``.
    own_verticals : array_like, shape (pairs, 12), optional
        Counts of the model's own intervals between each pair of parts (the melody first, then the
        voices; pairs ``(i, j)``, ``i < j``, in that order), as ``generation.own_verticals`` holds them
        for the three chorale voices (:func:`deepaccomp.judge.count_verticals`).
    steps_per_beat : int
        Beat length in steps, for ``parallel_cost``, ``similar_cost`` and ``vertical_cost``.
    fixed : array_like of int, shape (batch, time, voices) or (time, voices), optional
        Per voice and step, the state kept: a pitch index, -1 (a rest) or
        :data:`FREE` (the decoding chooses). Kept steps come out as given;
        the free steps are decoded through them (see the module docstring).

    Returns
    -------
    ndarray of bool, the shape of ``values``
        At most one pitch per voice and step.
    """
    values, threshold = note_scores(values, score), float(note_scores(threshold, score))
    single = values.ndim == 3
    if single:
        values = values[None]
        melody = None if melody is None else np.asarray(melody)[None]
    fixed = None if fixed is None else _check_fixed(fixed, values.shape, single)
    if (sing_with_melody or parallel_cost > 0 or similar_cost > 0) and melody is None:
        raise ConfigError("sing_with_melody, parallel_cost and similar_cost need the melody")
    mel_line = None if melody is None else _line(np.asarray(melody, bool)[..., 0])
    n_voices = values.shape[-1]
    verticals = None if not vertical_cost or own_verticals is None else vertical_cost * vertical_costs(own_verticals)
    if verticals is not None and (mel_line is None or len(verticals) != len(_pairs(n_voices + 1))):
        raise ConfigError(f"vertical_cost needs the melody and a table of {len(_pairs(n_voices + 1))} pairs of parts "
                          f"for {n_voices} voices (own_verticals), got {len(verticals)}")
    order = range(n_voices - 1, -1, -1) if order_voices else range(n_voices)
    lines = {}
    for v in order:
        floor = lines.get(v + 1) if order_voices else None
        ceiling = mel_line if order_voices else None
        others = [line for line in lines.values()] + ([mel_line] if mel_line is not None else [])
        sounding = mel_line >= 0 if (sing_with_melody and mel_line is not None) else None
        kept = None
        if fixed is not None:  # the kept parts of the voices not decoded yet bind this one too
            waiting = [u for u in order if u not in lines and u != v]
            others += [np.where(fixed[..., u] == FREE, -1, fixed[..., u]) for u in waiting]
            if order_voices:
                above = [np.where(fixed[..., u] == FREE, -1, fixed[..., u]) for u in waiting if u < v]
                ceiling = _lowest_sounding(([] if mel_line is None else [mel_line]) + above)
            kept = fixed[..., v]
        emit = values[..., v] - threshold
        if dissonance_cost and order_voices and v != n_voices - 1:
            emit = emit - dissonance_cost * _dissonant_above(lines[n_voices - 1], values.shape[-2])
        if bare_cost and order_voices and v == order[-1] and n_voices > 1 and mel_line is not None:
            emit = emit - bare_cost * _bare_beats([mel_line] + list(lines.values()), values.shape[-2], steps_per_beat)
        if verticals is not None:
            emit = emit - _vertical_emissions(verticals, n_voices + 1, v, mel_line, lines, values.shape[-2],
                                              steps_per_beat)
        lowest = v == n_voices - 1
        kind = "bass" if lowest else "upper"
        balance = balance_cost * lowest_balance_factor if lowest else balance_cost
        moves = _move_costs(values.shape[-2] + 1, leap_cost, interval_cost, kind, balance, (own_moves or {}).get(kind))
        lines[v] = _best_line(emit, onset_cost * lowest_onset_factor if lowest else onset_cost, sounding, floor,
                              ceiling, others if parallel_cost > 0 else [], parallel_cost, steps_per_beat, moves,
                              lowest_min_steps if lowest else 1, kept,
                              (mel_line, similar_cost) if similar_cost else None)
    out = np.zeros(values.shape, dtype=bool)
    for v, line in lines.items():
        b, t = np.nonzero(line >= 0)
        out[b, t, line[b, t], v] = True
    return out[0] if single else out


def _dissonant_above(bass, n_pitch: int) -> np.ndarray:
    """``(batch, time, pitch)`` 1.0 where a pitch index lies a dissonance (:data:`DISSONANT`, mod 12) above the
    line ``bass`` (``(batch, time)`` pitch indices, -1 where it rests), else 0."""
    pitch = np.arange(n_pitch)[None, None, :]
    above = (pitch - bass[..., None]) % 12
    return ((bass[..., None] >= 0) & (pitch > bass[..., None]) & np.isin(above, DISSONANT)).astype(np.float64)


def _bare_beats(lines, n_pitch: int, steps_per_beat: int) -> np.ndarray:
    """``(batch, time, pitch)`` 1.0 at a beat onset where a pitch index added to ``lines`` (``(batch, time)``
    pitch indices on one pitch axis, -1 where silent) makes at most :data:`BARE_PITCH_CLASSES` pitch
    classes sound, else 0 (pitch index ``i`` and ``j`` share a class when ``i - j`` is a multiple of 12)."""
    lines = np.stack(lines)
    present = np.zeros(lines.shape[1:] + (12,), dtype=bool)
    for line in lines:
        b, t = np.nonzero(line >= 0)
        present[b, t, line[b, t] % 12] = True
    classes = present.sum(axis=-1)[..., None] + ~present[..., np.arange(n_pitch) % 12]
    onset = np.arange(lines.shape[-1]) % steps_per_beat == 0
    return ((classes <= BARE_PITCH_CLASSES) & onset[None, :, None]).astype(np.float64)


def _pairs(parts: int) -> list:
    """The pairs ``(i, j)``, ``i < j``, of ``parts`` parts (the melody 0, then the voices), in
    :data:`BACH_VERTICALS`'s order."""
    return [(i, j) for i in range(parts) for j in range(i + 1, parts)]


def _vertical_emissions(table, parts: int, v, mel_line, lines, n_pitch: int, steps_per_beat: int) -> np.ndarray:
    """``(batch, time, pitch)`` cost of voice ``v`` (part ``v + 1`` of ``parts``) sounding each pitch index at
    each beat onset: ``table[pair, interval]`` (``(pairs, 12)``, the pairs of :func:`_pairs`) summed over
    the melody and the decoded ``lines`` (``{voice: (batch, time)}``) that sound there; 0 off the beat
    onsets."""
    pairs = _pairs(parts)
    pitch = np.arange(n_pitch)[None, None, :]
    cost = np.zeros(mel_line.shape + (n_pitch,))
    for u, line in [(0, mel_line)] + [(w + 1, line) for w, line in lines.items()]:
        interval = (line[..., None] - pitch) % 12 if u < v + 1 else (pitch - line[..., None]) % 12
        cost += np.where(line[..., None] >= 0, table[pairs.index(tuple(sorted((u, v + 1))))][interval], 0.0)
    cost[:, np.arange(cost.shape[1]) % steps_per_beat != 0] = 0.0
    return cost


def _check_fixed(fixed, shape, single) -> np.ndarray:
    """``fixed`` as ``(batch, time, voices)`` int64 for values of ``shape`` (batch, time, pitch, voices)."""
    fixed = np.asarray(fixed)
    fixed = fixed[None] if single else fixed
    want = (shape[0], shape[1], shape[3])
    if fixed.shape != want or not np.issubdtype(fixed.dtype, np.integer):
        raise ConfigError(f"fixed must be integers of shape {want} (batch, time, voices), got "
                          f"{fixed.dtype} {fixed.shape}")
    if fixed.size and (fixed.min() < FREE or fixed.max() >= shape[2]):
        raise ConfigError(f"fixed holds {FREE} (free), -1 (rest) or a pitch index below {shape[2]}")
    return fixed.astype(np.int64)


def _lowest_sounding(lines) -> np.ndarray:
    """Per ``(batch, time)`` the lowest pitch of ``lines`` that sounds there, -1 where none does (``None``
    for no lines)."""
    if not lines:
        return None
    stack = np.stack([np.broadcast_to(line, lines[0].shape) for line in lines])
    low = np.where(stack >= 0, stack, np.iinfo(np.int64).max).min(axis=0)
    return np.where(low == np.iinfo(np.int64).max, -1, low)


def _line(roll: np.ndarray) -> np.ndarray:
    """``(batch, time)`` top pitch index of a bool roll ``(batch, time, pitch)``, -1 where silent."""
    top = roll.shape[-1] - 1 - np.argmax(roll[..., ::-1], axis=-1)
    return np.where(roll.any(axis=-1), top, -1)


def _best_line(score, onset_cost, must_sound, floor, ceiling, others, parallel_cost, steps_per_beat, leaps=None,
               min_steps=1, kept=None, similar=None):
    """One voice's line: ``(batch, time)`` pitch index, -1 where it rests.

    ``score``: ``(batch, time, pitch)`` reward of sounding each pitch (a rest
    scores 0); ``must_sound``: ``(batch, time)`` bool, no rest there;
    ``floor``, ``ceiling``: ``(batch, time)`` lowest and highest allowed pitch
    index (-1: none); ``others``: lines ``(batch, time)`` to avoid parallel
    perfects with; ``similar``: ``(lead, cost)``, the cost of a move at a beat onset
    the way the line ``lead`` (``(batch, time)``) moves there, or ``None``. With ``others``
    or ``similar``, the pitches at beat onsets are chosen
    first, beat by beat (where the parallels and similar moves are counted), then the steps in
    between with those onsets fixed for half a beat. ``leaps``: ``(states, states)`` cost of each
    move between two pitches (:func:`_move_costs`), or ``None``;
    every note lasts at least ``min_steps`` steps. ``kept``: ``(batch, time)`` kept
    state per step (:data:`FREE` where the line is chosen), see :func:`decode_notes`.
    """
    emit = _emissions(score, must_sound, floor, ceiling)
    is_kept = None
    if kept is not None:
        is_kept = kept != FREE
        states = np.arange(emit.shape[-1])[None, None, :]
        forced = np.where(states == (kept + 1)[..., None], 0.0, -np.inf)
        emit = np.where(is_kept[..., None], forced, emit)
    onset = np.full(emit.shape[-1], float(onset_cost))
    onset[0] = 0.0  # starting a rest is free
    if (others and parallel_cost > 0) or similar is not None:
        beats = _beat_states(emit, onset, others if parallel_cost > 0 else [], parallel_cost, steps_per_beat, leaps,
                             similar)
        # the chosen state holds for the first half of the beat: no one-step note at a beat onset
        for offset in range(max(1, steps_per_beat // 2)):
            steps = np.arange(offset, emit.shape[1], steps_per_beat)
            chosen = beats[:, : len(steps)]
            keep = np.zeros(emit[:, steps].shape, bool)
            np.put_along_axis(keep, chosen[..., None], True, axis=-1)
            if is_kept is not None:  # kept steps, and the steps of a beat whose onset is kept, stay as they are
                keep = keep | is_kept[:, steps, None] | is_kept[:, steps - offset, None]
            emit[:, steps] = np.where(keep, emit[:, steps], -np.inf)
    if is_kept is not None:
        return _viterbi_moves(emit, onset, leaps, min_steps, kept) - 1
    if leaps is None and min_steps == 1:
        return _viterbi(emit, onset) - 1
    return _viterbi_moves(emit, onset, leaps, min_steps) - 1


def _move_costs(n_states: int, leap_cost: float, interval_cost: float = 0.0, voice: str = "upper",
                balance_cost: float = 0.0, own=None):
    """``(states, states)`` cost of moving from state q to state p (0 = rest) for its interval: ``leap_cost``
    for a leap, ``interval_cost`` times the interval's :func:`interval_costs` of ``voice`` and, with the
    model's ``own`` counts, ``balance_cost`` times its :func:`balance_costs`; ``None`` for no cost."""
    balance_cost = balance_cost if own is not None else 0.0
    if not leap_cost and not interval_cost and not balance_cost:
        return None
    pitch = np.arange(n_states) - 1
    q, p = pitch[:, None], pitch[None, :]
    moved = (q >= 0) & (p >= 0) & (p != q)
    cost = np.where(moved & (np.abs(p - q) >= LEAP_INTERVAL), float(leap_cost), 0.0)
    table = np.zeros(MOVE_CLASSES)
    if interval_cost:
        table = table + float(interval_cost) * interval_costs(voice)
    if balance_cost:
        table = table + float(balance_cost) * balance_costs(voice, own)
    return cost + np.where(moved, table[np.clip(p - q, -12, 12) + 12], 0.0)


def interval_costs(voice: str = "upper") -> np.ndarray:
    """``(25,)`` cost of a voice's move by -12..+12 semitones (beyond: as 12), from Bach's own lines:
    ``-log`` of its count (plus one) over the commonest move's in :data:`BACH_MOVES` (0 for the commonest;
    a move he never makes about 8.5)."""
    return -np.log(_bach_counts(voice) / _bach_counts(voice).max())


def balance_costs(voice: str, own) -> np.ndarray:
    """``(25,)`` cost of a voice's move by -12..+12 semitones (beyond: as 12) by how much more often the model
    makes it than Bach: ``log`` of the model's share of the move (``own``, ``(25,)`` counts of its own lines,
    :func:`deepaccomp.judge.count_moves`) over Bach's (:data:`BACH_MOVES`), each count plus one, within
    :data:`RATIO_CLIP` either way; negative (a reward) for a move it makes too rarely, all 0 for a model that
    moves in his proportions."""
    counts = _bach_counts(voice)
    mine = np.asarray(own, dtype=np.float64) + 1.0
    if mine.shape != counts.shape:
        raise ConfigError(f"own move counts must be {counts.size} numbers (-12..+12 semitones), got {mine.shape}")
    return _share_ratio(mine, counts)


def vertical_costs(own) -> np.ndarray:
    """``(6, 12)`` cost of each interval (mod 12, the higher part's pitch minus the lower's) between each pair
    of parts at a beat onset (the rows of :data:`BACH_VERTICALS`) by how much more often the model sounds
    it than Bach: ``log`` of the model's share of the interval in that pair (``own``, ``(6, 12)`` counts,
    :func:`deepaccomp.judge.count_verticals`) over his, each count plus one, within :data:`RATIO_CLIP`
    either way; negative (a reward) for an interval it sounds too rarely."""
    counts = np.asarray(BACH_VERTICALS, dtype=np.float64) + 1.0
    mine = np.asarray(own, dtype=np.float64) + 1.0
    if mine.shape != counts.shape:
        raise ConfigError(f"own vertical counts must be {counts.shape[0]} pairs of 12 numbers, got {mine.shape}")
    return _share_ratio(mine, counts)


def _share_ratio(mine, counts) -> np.ndarray:
    """``log`` of each class's share of ``mine`` over its share of ``counts`` (shares along the last axis; both
    counts plus one already), within :data:`RATIO_CLIP` either way."""
    share = np.log(mine / mine.sum(axis=-1, keepdims=True)) - np.log(counts / counts.sum(axis=-1, keepdims=True))
    return np.clip(share, -RATIO_CLIP, RATIO_CLIP)


def _bach_counts(voice: str) -> np.ndarray:
    """:data:`BACH_MOVES` of ``voice``, each count plus one."""
    if voice not in BACH_MOVES:
        raise ConfigError(f"no interval table for voice {voice!r}; use one of {sorted(BACH_MOVES)}")
    return np.asarray(BACH_MOVES[voice], dtype=np.float64) + 1.0


def _own_moves_by_voice(own_moves) -> dict | None:
    """``generation.own_moves`` (its size checked by the config, ``config.COUNT_SETTINGS``; :data:`MOVE_VOICES`
    in order) as ``{voice: counts}``; ``None`` when empty."""
    if not len(own_moves):
        return None
    return {v: tuple(own_moves[i * MOVE_CLASSES:(i + 1) * MOVE_CLASSES]) for i, v in enumerate(MOVE_VOICES)}


def _own_verticals(own_verticals):
    """``generation.own_verticals`` (its size checked by the config) as ``(6, 12)``; ``None`` when empty."""
    return np.reshape(own_verticals, (len(BACH_VERTICALS), 12)) if len(own_verticals) else None


def _emissions(score, must_sound, floor, ceiling):
    """``(batch, time, 1 + pitch)`` reward of each state (0 = rest), -inf where not allowed."""
    batch, steps, n_pitch = score.shape
    emit = np.concatenate([np.zeros((batch, steps, 1)), score], axis=-1)
    if must_sound is not None:
        emit[..., 0] = np.where(must_sound, -np.inf, 0.0)
    pitch = np.arange(n_pitch)[None, None, :]
    if floor is not None:
        emit[..., 1:] = np.where(pitch < floor[..., None], -np.inf, emit[..., 1:])
    if ceiling is not None:
        emit[..., 1:] = np.where((ceiling[..., None] >= 0) & (pitch > ceiling[..., None]), -np.inf, emit[..., 1:])
    # a voice with nothing allowed at a step (no pitch between floor and ceiling, no rest) rests there
    stuck = ~np.isfinite(emit).any(axis=-1)
    emit[..., 0] = np.where(stuck, 0.0, emit[..., 0])
    return emit


def _viterbi(emit, onset):
    """Best state per step, ``(batch, time)``: reward ``emit`` minus ``onset[s]`` each time state ``s`` starts."""
    batch, steps, n = emit.shape
    best = emit[:, 0] - onset
    back = np.zeros((steps, batch, n), dtype=np.int16)
    rows = np.arange(batch)
    for t in range(1, steps):
        top = np.argmax(best, axis=1)
        change = best[rows, top][:, None] - onset[None, :]  # from the best state, paying the onset
        stay = best.copy()
        stay[:, 0] = -np.inf  # rest -> rest is covered by "change" (a rest has no onset)
        keep = stay >= change
        back[t] = np.where(keep, np.arange(n)[None, :], top[:, None])
        best = np.where(keep, stay, change) + emit[:, t]
    return _backtrack(best, back)


FORBIDDEN = -1e9
"""Reward of a step a note may not take (``-inf`` in the emissions) in :func:`_viterbi_moves`: a
heavy penalty, not -inf, so that a line always exists where a note must last ``min_steps``."""


def _viterbi_moves(emit, onset, leaps, min_steps, kept=None):
    """:func:`_viterbi` with a cost per move between two pitches (``leaps``, ``(states, states)``
    or ``None``) and every note at least ``min_steps`` steps long.

    Each pitch has ``min_steps`` states, its note's age (1, 2, ..., ``min_steps``
    or more); a note may end (to a rest or another pitch) only from the last.
    A note cut short by the end of the piece is kept. Every move is scored
    against every state, so this costs ``states`` times :func:`_viterbi`.

    ``kept`` (``(batch, time)``, :data:`FREE` where free) fixes the state of
    the other steps: between two kept steps any move is free (a kept line is
    taken as it is), out of a kept step a note starts afresh (its onset and
    its leap from the kept pitch paid), and into a kept step the free note
    ends (its leap to the kept pitch paid; a note shorter than ``min_steps``
    costs :data:`FORBIDDEN`, so a line always exists).
    """
    batch, steps, n = emit.shape
    pitches, k = n - 1, int(min_steps)
    leaps = np.zeros((n, n)) if leaps is None else leaps
    size = 1 + k * pitches

    def state(p, age):  # p: pitch index 0..pitches-1, age 1..k
        return 1 + (age - 1) * pitches + p

    trans = np.full((size, size), -np.inf)  # reward of a move from a state (row) to a state (column)
    trans[0, 0] = 0.0
    p = np.arange(pitches)
    trans[0, state(p, 1)] = -onset[1:]
    for age in range(1, k):
        trans[state(p, age), state(p, age + 1)] = 0.0
    old = state(p, k)
    change = -(onset[None, 1:] + leaps[1:, 1:])
    np.fill_diagonal(change, -np.inf)
    trans[np.ix_(old, state(p, 1))] = change  # a new note of another pitch
    trans[old, old] = 0.0  # held (after the block: with min_steps 1 the first age is the last)
    trans[old, 0] = 0.0
    pitched = np.where(np.isfinite(emit[..., 1:]), emit[..., 1:], FORBIDDEN)
    emit_all = np.concatenate([np.where(np.isfinite(emit[..., :1]), emit[..., :1], FORBIDDEN)] + [pitched] * k, axis=-1)
    if kept is not None:
        pitch_of = np.r_[-1, np.tile(p, k)]  # the pitch index of every state, -1 for the rest
        emit_all = np.where((kept[..., None] == FREE) | (pitch_of == kept[..., None]), emit_all, -np.inf)
        moves = _join_moves(trans, onset, leaps, pitch_of, state(p, 1), old)
        free = kept == FREE
        mode = np.where(free[:, 1:], np.where(free[:, :-1], 0, 2), np.where(free[:, :-1], 3, 1))
    best = np.full((batch, size), -np.inf)
    best[:, 0] = emit_all[:, 0, 0]
    best[:, state(p, 1)] = emit_all[:, 0, 1:1 + pitches] - onset[1:]
    if kept is None:
        into = np.ascontiguousarray(trans.T)[None]
        line = _max_plus(best, emit_all, lambda t: into)
    else:
        into = np.ascontiguousarray(moves.transpose(0, 2, 1))
        line = _max_plus(best, emit_all, lambda t: into[mode[:, t - 1]])
    return np.where(line == 0, 0, (line - 1) % pitches + 1)


def _max_plus(best, emit, moves_at):
    """The Viterbi recursion shared by the decodings: ``(batch, time)`` best state per step.

    ``best``: ``(batch, states)`` rewards at step 0; ``emit``: ``(batch, time, states)``;
    ``moves_at(t)``: ``(batch or 1, to, from)`` reward of each move into step ``t``. Each step computes every candidate
    ``best[from] + move[to, from]`` (the arithmetic of a dense ``(from, to)`` table, so the
    sums and the first-best tie-break are the same), takes the first best per target and
    adds the emission; a batch costs one loop. The best value is read at the first best's
    index (the same value as a maximum, in about a third of a maximum's time).
    """
    batch, steps, size = emit.shape
    best = best.copy()
    back = np.zeros((steps, batch, size), dtype=np.intp)
    cand = np.empty((batch, size, size))
    view = best[:, None, :]
    rows, targets = np.arange(batch)[:, None], np.arange(size)[None, :]
    for t in range(1, steps):
        np.add(view, moves_at(t), out=cand)
        cand.argmax(axis=2, out=back[t])
        best[...] = cand[rows, targets, back[t]]
        best += emit[:, t]
    return _backtrack(best, back)


def _join_moves(trans, onset, leaps, pitch_of, first, old):
    """The moves of :func:`_viterbi_moves` at a step by its kind: ``[free -> free, kept -> kept,
    kept -> free, free -> kept]`` as ``(4, states, states)`` rewards (see its docstring)."""
    size = trans.shape[0]
    start = -(onset[None, 1:] + leaps[pitch_of + 1][:, 1:])  # from any state to a new note
    out_of_kept = np.full((size, size), -np.inf)
    out_of_kept[:, 0] = 0.0
    out_of_kept[:, first] = start
    young = np.ones(size, bool)
    young[0] = False
    young[old] = False
    into_kept = np.zeros((size, size))
    into_kept[:, 1:] = -(onset[pitch_of[1:] + 1][None, :] + leaps[(pitch_of + 1)[:, None], (pitch_of + 1)[None, 1:]])
    into_kept[young] += FORBIDDEN
    return np.stack([trans, np.zeros((size, size)), out_of_kept, into_kept])


def _backtrack(best, back):
    """``(batch, time)`` states of the best paths: from the best final state through ``back``
    (``(time, batch, states)``, the best previous state of each state)."""
    steps, batch, _ = back.shape
    state = np.argmax(best, axis=1)
    line = np.empty((steps, batch), dtype=np.int64)
    rows = np.arange(batch)
    for t in range(steps - 1, -1, -1):
        line[t] = state
        state = back[t, rows, state]
    return line.T


def _beat_states(emit, onset, others, parallel_cost, steps_per_beat, leaps=None, similar=None):
    """``(batch, beats)`` state at each beat onset: a Viterbi over beats whose moves pay onsets, parallels
    with ``others`` and, with ``similar`` (``(lead line, cost)``), moves the way the lead moves.

    A state's reward for a beat is its reward at the onset plus, for the other
    steps of the beat, its reward floored at -2 (so that a step where it is
    not allowed lowers, but does not forbid, holding it through the beat).
    """
    batch, steps, n = emit.shape
    n_beats = -(-steps // steps_per_beat)
    pad = n_beats * steps_per_beat - steps
    held = np.pad(np.maximum(emit, -2.0), ((0, 0), (0, pad), (0, 0)))
    held = held.reshape(batch, n_beats, steps_per_beat, n)
    beat_emit = emit[:, ::steps_per_beat] + held[:, :, 1:].sum(axis=2)
    # moves as (to, from): a change of state pays the target's onset (and the leap)
    base = np.where(np.eye(n, dtype=bool), 0.0, onset[:, None])
    if leaps is not None:
        base = base + leaps.T
    lines = [line[:, ::steps_per_beat] for line in others]
    block = {}

    def moves_into(k):  # the moves into beats start..stop-1 at once, (batch, beats, to, from), negated
        start = 1 + (k - 1) // BEATS_PER_BLOCK * BEATS_PER_BLOCK
        if block.get("start") != start:
            stop = min(n_beats, start + BEATS_PER_BLOCK)
            moves = _parallel_counts(lines, start, stop, n, batch)
            np.multiply(moves, parallel_cost, out=moves)  # in place: one array of the block's size
            if similar is not None:
                moves += similar[1] * _similar_moves(similar[0][:, ::steps_per_beat], start, stop, n)
            np.add(base, moves, out=moves)
            block.update(start=start, moves=np.negative(moves, out=moves))
        return block["moves"][:, k - start]

    return _max_plus(beat_emit[:, 0] - onset, beat_emit, moves_into)


BEATS_PER_BLOCK = 64
"""Beats whose parallel-perfect costs :func:`_beat_states` computes in one array (``batch x 64 x states
x states``: about 2 MB a melody with the compact window), so memory stays bounded for long melodies."""


def _similar_moves(lead, start, stop, n):
    """``(batch, stop - start, to, from)``: 1.0 where a move between two of ``n`` states (0 the rest, ``1 + pitch``)
    from beat ``k - 1`` to beat ``k`` goes the way ``lead`` (``(batch, beats)`` pitch indices, -1 for a rest)
    moves there (both change pitch, neither rests), else 0; for ``k`` in ``start..stop - 1``."""
    a, b = lead[:, start - 1: stop - 1], lead[:, start: stop]
    way = np.where((a >= 0) & (b >= 0), np.sign(b - a), 0)[..., None, None]
    pitch = np.arange(n) - 1
    sounds = (pitch[:, None] >= 0) & (pitch[None, :] >= 0)
    move = np.where(sounds, np.sign(pitch[:, None] - pitch[None, :]), 0)  # (to, from)
    return ((way != 0) & (move == way)).astype(np.float64)


def _parallel_counts(lines, start, stop, n, batch=None):
    """``(batch, stop - start, to, from)``: how many of ``lines`` (``(batch, beats)`` pitch indices, -1
    for a rest) a move between two of ``n`` states (0 the rest, ``1 + pitch``) from beat ``k - 1`` to
    beat ``k`` makes a parallel or contrary perfect fifth or octave with (both voices sound on both beats
    and both change pitch), for ``k`` in ``start..stop - 1``; whole numbers as floats.

    A move ``q -> p`` against ``a -> b`` counts when ``|q - a|`` and ``|p - b|`` are the same
    perfect interval class (0 or 7 mod 12): per line and class, an outer product of the
    targets that make it at ``b`` and the sources that make it at ``a``, all summed in one
    matrix product. No lines: zeros for ``batch`` melodies.
    """
    if not lines:
        return np.zeros((batch, stop - start, n, n))
    pitch = np.arange(n) - 1
    sources, targets = [], []
    for line in lines:
        a, b = line[:, start - 1: stop - 1, None], line[:, start: stop, None]
        moved = (a >= 0) & (b >= 0) & (a != b)
        before, after = np.abs(pitch - a) % 12, np.abs(pitch - b) % 12
        for interval in _PERFECT:
            sources.append((pitch >= 0) & (before == interval))
            targets.append(moved & (pitch >= 0) & (after == interval))
    count = np.matmul(np.stack(targets, axis=-1).astype(np.float64), np.stack(sources, axis=-2).astype(np.float64))
    count[..., np.arange(n), np.arange(n)] = 0.0  # holding a pitch is no move
    return count
