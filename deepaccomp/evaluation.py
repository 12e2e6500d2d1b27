"""The quality bar: accompany held-out chorales' sopranos and compare with Bach.

For each chorale of a split (whole piece, 4/4), the soprano is put back in
the chorale's original key and fed through the same path a user's melody
takes (key estimated from the melody alone, octave shift, model, shifts
undone). The generated alto/tenor/bass are measured with
:mod:`deepaccomp.metrics` and averaged over chorales (and seeds):

* ``harmonic_agreement``: fraction of generated note-steps whose pitch class
  sounds in Bach's own **alto, tenor and bass** at that step. Bach's soprano
  is left out of the reference on purpose: it is the input, so with it a
  generator that only doubles the melody would score 1.0. With alto, tenor and
  bass, doubling the melody scores ~0.35 and random in-key notes ~0.29-0.33,
  the baseline columns of docs/model_card.md (test split).
* ``consonance_with_melody``, ``in_scale_ratio`` (key estimated from Bach's
  four voices), ``empty_bar_rate``, ``polyphony``, ``pitches_used`` (per bar);
* ``seed_difference``: 1 - |A and B| / |A or B| over accompaniment note-steps
  of two seeds;
* ``active_step_ratio``: fraction of steps where a voice sounds (no target:
  reported so that a model cannot look better by resting where unsure, since
  rests are not note-steps).

Baselines: ``random_in_key`` (one random scale note per beat per voice in
the voice's range) and ``melody_doubled`` (the melody 1, 2 and 3 octaves down).
"""

from __future__ import annotations

import warnings

import numpy as np

from . import metrics
from .representation import STEPS_PER_BEAT, transpose_roll

QUALITY_BAR = {
    "harmonic_agreement": (">=", 0.60),
    "consonance_with_melody": (">=", 0.85),
    "in_scale_ratio": (">=", 0.88),
    "empty_bar_rate": ("<=", 0.02),
    "polyphony": ("<=", 1.2),
    "pitches_used": ("range", (2.5, 5.0)),
    "seed_difference": (">=", 0.10),
}
"""The Accompanist issue's quality bar, per accompaniment voice (seed_difference overall)."""

VOICE_RANGES = {1: (53, 74), 2: (48, 69), 3: (36, 62)}
"""MIDI ranges of alto, tenor and bass for the random baseline (C major / A minor)."""


def held_out_pieces(dataset, split: str = "test", limit: int | None = None):
    """``[(original-key roll (time, 128, 4), key)]`` for the 4/4 chorales of a split."""
    out = []
    for i in dataset.indices(split)[:limit]:
        meta = dataset.pieces[i]
        roll = transpose_roll(dataset.rolls[i], -int(meta["shift"]))
        out.append((roll, metrics.Key.parse(meta["key"])))
    return out


def piece_metrics(melody, accomp, bach, key) -> dict:
    """Metrics of one accompaniment ``(time, 128, 3)`` against Bach's roll ``(time, 128, 4)``."""
    full = np.concatenate([melody, accomp], axis=-1)
    return {
        "harmonic_agreement": metrics.harmonic_agreement(accomp, bach[..., 1:]),
        "consonance_with_melody": metrics.consonance_with_melody(full),
        "in_scale_ratio": metrics.in_scale_ratio(accomp, key),
        "empty_bar_rate": metrics.empty_bar_rate(accomp),
        "polyphony": metrics.polyphony(accomp),
        "pitches_used": metrics.pitches_used(accomp),
        "active_step_ratio": accomp.any(axis=1).mean(axis=0),
    }


def seed_difference(a, b) -> float:
    """Jaccard distance between two accompaniments' active cells."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.count_nonzero(a | b)
    return float(1.0 - np.count_nonzero(a & b) / union) if union else 0.0


def _average(rows: list[dict]) -> dict:
    keys = rows[0].keys()
    with warnings.catch_warnings():  # a voice silent in every piece has no value: NaN, without a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return {k: np.nanmean(np.stack([np.asarray(r[k], float) for r in rows]), axis=0) for k in keys}


def score_table(columns: dict, voices=("alto", "tenor", "bass")) -> str:
    """A text table of :func:`evaluate_generator` and :func:`evaluate_baseline` results, by metric and source.

    Parameters
    ----------
    columns : dict of str to dict
        ``{label: result}``, e.g. ``{"generated": gen, "Bach": bach}``; also
        a dataset's ``info["reference_metrics"]`` (entries that are not one
        value per voice, such as the pitch-class histogram, are left out).
    voices : sequence of str
        Column titles of the per-voice values.

    Returns
    -------
    str
        A value that has none (a voice silent in every piece, or a metric
        that does not apply, such as the melody's consonance with itself) is
        shown as ``-``, never ``nan``; a note under the table says so.
    """
    first = next(iter(columns.values()))
    metrics_ = [k for k in first if k not in ("n_pieces", "seed_difference") and np.ndim(first[k]) <= 1]
    lines = [f"{'metric':<24}{'':>10}" + "".join(f"{v:>8}" for v in voices)]
    missing = False
    for metric in metrics_:
        for i, (label, result) in enumerate(columns.items()):
            values = np.atleast_1d(np.asarray(result.get(metric, np.nan), float))
            cells = []
            for v in values:
                missing |= not np.isfinite(v)
                cells.append(f"{v:8.3f}" if np.isfinite(v) else f"{'-':>8}")
            lines.append(f"{metric if i == 0 else '':<24}{label:>10}" + "".join(cells))
    if missing:
        lines.append("- : no value (the voice is silent in every piece, or the metric does not apply to it)")
    return "\n".join(lines)


def evaluate_generator(accompanist, dataset, *, split: str = "test", seeds=(0, 1, 2),
                       limit: int | None = None) -> dict:
    """Quality-bar figures of an :class:`~deepaccomp.Accompanist` on a split.

    Returns per-voice arrays (alto, tenor, bass) averaged over chorales and
    seeds, plus ``seed_difference`` (mean over chorales, seeds 0 vs 1).
    """
    pieces = held_out_pieces(dataset, split, limit)
    melodies = [r[..., :1] for r, _ in pieces]
    rows, outputs = [], []
    for seed in seeds:
        accs = accompanist.accompany(melodies, seed=seed)
        outputs.append(accs)
        for (bach, key), acc in zip(pieces, accs):
            rows.append(piece_metrics(bach[..., :1], acc, bach, key))
    result = _average(rows)
    if len(seeds) > 1:
        result["seed_difference"] = float(np.mean(
            [seed_difference(a, b) for a, b in zip(outputs[0], outputs[1])]))
    result["n_pieces"] = len(pieces)
    return result


def evaluate_baseline(name: str, dataset, *, split: str = "test", seed: int = 0,
                      limit: int | None = None) -> dict:
    """Figures of ``bach`` (Bach's own A/T/B), ``random_in_key`` or ``melody_doubled``."""
    rng = np.random.default_rng(seed)
    rows = []
    for bach, key in held_out_pieces(dataset, split, limit):
        melody = bach[..., :1]
        if name == "bach":
            acc = bach[..., 1:]
        elif name == "random_in_key":
            acc = random_in_key(melody, key, rng)
        elif name == "melody_doubled":
            acc = np.concatenate([transpose_roll(melody, -12 * k) for k in (1, 2, 3)], axis=-1)
        else:
            raise ValueError(f"unknown baseline {name!r}")
        rows.append(piece_metrics(melody, acc, bach, key))
    result = _average(rows)
    result["n_pieces"] = len(rows)
    return result


def random_in_key(melody, key, rng) -> np.ndarray:
    """One random scale note per beat per voice, within each voice's range (shifted to ``key``)."""
    steps = melody.shape[0]
    out = np.zeros((steps, 128, 3), dtype=bool)
    pcs = np.array(key.pitch_classes)
    shift = -key.shift_to_c()
    for k, (lo, hi) in VOICE_RANGES.items():
        cands = [p for p in range(lo + shift, hi + shift + 1) if p % 12 in pcs]
        for s in range(0, steps, STEPS_PER_BEAT):
            out[s: s + STEPS_PER_BEAT, rng.choice(cands), k - 1] = True
    return out


def check_quality_bar(result: dict) -> dict:
    """``{metric: (value(s), passed)}`` for the figures in :data:`QUALITY_BAR`."""
    report = {}
    for name, (op, target) in QUALITY_BAR.items():
        if name not in result:
            continue
        v = np.asarray(result[name], float)
        if op == ">=":
            ok = bool(np.all(v >= target))
        elif op == "<=":
            ok = bool(np.all(v <= target))
        else:
            ok = bool(np.all((v >= target[0]) & (v <= target[1])))
        report[name] = (v.round(3).tolist(), ok)
    return report
