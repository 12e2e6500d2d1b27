"""Bar lines of an unmarked melody: estimate the metrical phase from rhythm alone.

A melody exported "from time 0" (its first note at the very start of the
file, although it is an upbeat) carries no mark of where its bars start. This
module estimates the **pickup**: the number of steps from the first note to
the first downbeat (0 when the first note is a downbeat), and moves a roll
onto the bar grid and back. Pure numpy.

Method (scores every candidate pickup ``p`` in ``0 .. steps_per_bar - 1``):

* Each step of the bar has a **metrical level**: 0 downbeat, 1 middle of the
  bar (beat 3 of 4/4; only with an even number of beats, at least 4), 2
  another beat, 3 an eighth between beats, 4 anything finer
  (:func:`metrical_levels`).
* Each note (a run of active steps of one pitch, :func:`~deepaccomp.representation.note_runs`)
  has a **duration class** in beats: ``< 1/2``, ``[1/2, 1)``, ``[1, 3/2)``,
  ``[3/2, 2)``, ``[2, 3)``, ``[3, 4)``, ``>= 4`` (:func:`duration_classes`).
* Under candidate ``p`` a note starting at step ``t`` sits at bar position
  ``(t - p) mod steps_per_bar``. The score adds, over the notes,
  :data:`NOTE_WEIGHTS` ``[duration class, level]``: the log-ratio of how
  often a note of that length starts at one position of that level versus
  at a position drawn uniformly (long notes on downbeats score high, a half
  note off the beat very low); plus :data:`LAST_NOTE_WEIGHT` times
  :data:`LAST_NOTE_WEIGHTS` ``[level]`` for the last note (the final, often
  held note lands on beat 1 or 3); plus :data:`PICKUP_PRIOR_WEIGHT` times
  :func:`pickup_prior` (no pickup or a one-beat upbeat are the common cases,
  longer or off-beat pickups less so).
* The estimate is the best-scoring candidate (ties: the shortest pickup).

The two tables are the add-one-smoothed frequencies of the 4/4 Bach chorale
sopranos of the **train** split (:func:`fit_note_weights` recomputes them;
``scripts/measure_pickup.py --fit`` prints them), rounded to two decimals.
The two scalar weights were chosen on the train and valid splits; the test
split is measured once (numbers in ``docs/representation.md``).
"""

from __future__ import annotations

import numpy as np

from .errors import ConfigError, InvalidRollError
from .representation import STEPS_PER_BAR, STEPS_PER_BEAT, as_bool, note_runs

__all__ = [
    "N_LEVELS",
    "DURATION_EDGES",
    "NOTE_WEIGHTS",
    "LAST_NOTE_WEIGHTS",
    "LAST_NOTE_WEIGHT",
    "PICKUP_PRIOR_WEIGHT",
    "metrical_levels",
    "duration_classes",
    "pickup_prior",
    "melody_notes",
    "phase_scores",
    "estimate_pickup",
    "fit_note_weights",
    "lead_in",
    "add_lead_in",
    "remove_lead_in",
]

N_LEVELS = 5
"""Metrical levels: 0 downbeat, 1 middle of the bar, 2 other beat, 3 eighth, 4 finer."""

DURATION_EDGES = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
"""Edges, in beats, of the 7 duration classes ``<1/2, [1/2,1), [1,3/2), [3/2,2), [2,3), [3,4), >=4``."""

NOTE_WEIGHTS = np.array([
    [-1.34, -1.34, -0.78, 0.43, 0.05],
    [0.72, 0.55, 0.69, 0.72, -6.84],
    [1.30, 1.38, 1.42, -5.30, -5.99],
    [1.69, 1.84, -0.03, -0.55, -4.71],
    [1.94, 1.87, -0.02, -2.00, -4.94],
    [2.10, 1.02, 0.76, -1.71, -4.80],
    [2.29, 1.24, 0.06, -2.20, -4.51],
])
"""Score of a note starting at one position of a level, ``(duration class, level)``, in nats:
``log(P(position | duration class) / (1 / steps_per_bar))`` on the train-split chorale sopranos."""

LAST_NOTE_WEIGHTS = np.array([1.48, 2.29, -1.59, -1.30, -3.67])
"""Score of the last note starting at one position of a level, ``(level,)``, in nats (same fit)."""

LAST_NOTE_WEIGHT = 2.0
"""Weight of :data:`LAST_NOTE_WEIGHTS` in the score (chosen on train and valid)."""

PICKUP_PRIOR_WEIGHT = 2.0
"""Weight of :func:`pickup_prior` in the score (chosen on train and valid)."""


def _check_meter(steps_per_bar, steps_per_beat) -> tuple[int, int]:
    for name, v in (("steps_per_bar", steps_per_bar), ("steps_per_beat", steps_per_beat)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ConfigError(f"{name} must be a positive integer, got {v!r}")
    if steps_per_bar % steps_per_beat:
        raise ConfigError(
            f"steps_per_bar={steps_per_bar} is not a whole number of beats of {steps_per_beat} steps")
    return int(steps_per_bar), int(steps_per_beat)


def metrical_levels(steps_per_bar: int = STEPS_PER_BAR, steps_per_beat: int = STEPS_PER_BEAT) -> np.ndarray:
    """Metrical level of every step of a bar.

    Parameters
    ----------
    steps_per_bar, steps_per_beat : int
        Bar and beat length in steps (16 and 4 for 4/4 in 16th notes; 12 and 4 for 3/4).

    Returns
    -------
    np.ndarray of int, shape (steps_per_bar,)
        0 downbeat, 1 middle of the bar (even number of beats >= 4), 2 other
        beat, 3 eighth between beats, 4 finer.
    """
    steps_per_bar, steps_per_beat = _check_meter(steps_per_bar, steps_per_beat)
    pos = np.arange(steps_per_bar)
    levels = np.full(steps_per_bar, 4)
    half_beat = steps_per_beat // 2
    if half_beat and steps_per_beat % 2 == 0:
        levels[pos % half_beat == 0] = 3
    levels[pos % steps_per_beat == 0] = 2
    beats = steps_per_bar // steps_per_beat
    if beats >= 4 and beats % 2 == 0:
        levels[steps_per_bar // 2] = 1
    levels[0] = 0
    return levels


def duration_classes(lengths, steps_per_beat: int = STEPS_PER_BEAT) -> np.ndarray:
    """Duration class (0..6, see :data:`DURATION_EDGES`) of notes of ``lengths`` steps, shape ``(n_notes,)``."""
    beats = np.asarray(lengths, dtype=np.float64) / steps_per_beat
    return np.searchsorted(np.asarray(DURATION_EDGES), beats, side="right")


def pickup_prior(steps_per_bar: int = STEPS_PER_BAR, steps_per_beat: int = STEPS_PER_BEAT) -> np.ndarray:
    """Log prior (unnormalised, <= 0) of each pickup ``0 .. steps_per_bar - 1``, shape ``(steps_per_bar,)``.

    0 for no pickup and for a one-beat upbeat; ``-(k - 1)`` for an upbeat of
    ``k >= 2`` whole beats; -3 for a pickup on an eighth between beats; -4
    for anything finer.
    """
    levels = metrical_levels(steps_per_bar, steps_per_beat)
    p = np.arange(steps_per_bar)
    beats = p // steps_per_beat
    prior = np.where(levels[p] == 3, -3.0, -4.0)
    on_beat = p % steps_per_beat == 0
    prior[on_beat] = -np.maximum(beats[on_beat] - 1, 0).astype(np.float64)
    return prior


def melody_notes(melody) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and lengths (steps) of the notes of a melody, sorted by onset.

    Parameters
    ----------
    melody : array_like, shape (time, pitch) or (time, pitch, 1)
        Boolean or model-range roll (on where > 0).

    Returns
    -------
    starts, lengths : np.ndarray of int, each shape (n_notes,)

    Raises
    ------
    InvalidRollError
        Wrong shape, several tracks, or no note at all.
    """
    roll = np.asarray(melody)
    if roll.ndim == 3:
        if roll.shape[2] != 1:
            raise InvalidRollError(f"expected one melody track, got a roll of shape {roll.shape}")
        roll = roll[:, :, 0]
    if roll.ndim != 2:
        raise InvalidRollError(f"expected a melody roll (time, pitch) or (time, pitch, 1), got shape {roll.shape}")
    _, starts, lengths = note_runs(as_bool(roll))
    if len(starts) == 0:
        raise InvalidRollError("the melody roll holds no note: no rhythm to find the bar lines from")
    order = np.argsort(starts, kind="stable")
    return starts[order], lengths[order]


def phase_scores(melody, steps_per_bar: int = STEPS_PER_BAR, steps_per_beat: int = STEPS_PER_BEAT) -> np.ndarray:
    """Score (nats, higher is likelier) of every candidate pickup.

    Parameters
    ----------
    melody : array_like, shape (time, pitch) or (time, pitch, 1)
        The melody roll; step 0 is normally its first note.
    steps_per_bar, steps_per_beat : int
        The meter in steps.

    Returns
    -------
    np.ndarray of float, shape (steps_per_bar,)
        Entry ``p``: the first downbeat is at step ``p``.
    """
    levels = metrical_levels(steps_per_bar, steps_per_beat)
    starts, lengths = melody_notes(melody)
    classes = duration_classes(lengths, steps_per_beat)
    candidates = np.arange(steps_per_bar)
    note_levels = levels[(starts[None, :] - candidates[:, None]) % steps_per_bar]  # (candidates, notes)
    notes = NOTE_WEIGHTS[classes[None, :], note_levels].sum(axis=1)
    last = LAST_NOTE_WEIGHTS[note_levels[:, -1]]
    # the prior is on the pickup counted from the first note, whatever silence comes before it
    prior = pickup_prior(steps_per_bar, steps_per_beat)[(candidates - starts[0]) % steps_per_bar]
    return notes + LAST_NOTE_WEIGHT * last + PICKUP_PRIOR_WEIGHT * prior


def estimate_pickup(melody, steps_per_bar: int = STEPS_PER_BAR, steps_per_beat: int = STEPS_PER_BEAT) -> int:
    """Estimate the number of steps before the first downbeat of an unmarked melody.

    Parameters
    ----------
    melody : array_like, shape (time, pitch) or (time, pitch, 1)
        Boolean or model-range roll whose step 0 is its first note (with
        leading silence the answer still counts from step 0).
    steps_per_bar, steps_per_beat : int
        The meter in steps (16 and 4: 4/4 in 16th notes; 12 and 4: 3/4).

    Returns
    -------
    int
        In ``[0, steps_per_bar)``: 0 when the first note is a downbeat, 4 for a
        one-beat upbeat in 4/4 with 4 steps per beat.

    Raises
    ------
    InvalidRollError
        Wrong shape or an empty melody.
    ConfigError
        A meter that is not a whole number of beats.
    """
    return int(np.argmax(phase_scores(melody, steps_per_bar, steps_per_beat)))


def fit_note_weights(melodies, pickups, steps_per_bar: int = STEPS_PER_BAR,
                     steps_per_beat: int = STEPS_PER_BEAT) -> tuple[np.ndarray, np.ndarray]:
    """Fit :data:`NOTE_WEIGHTS` and :data:`LAST_NOTE_WEIGHTS` on melodies with known pickups.

    Parameters
    ----------
    melodies : sequence of array_like, each shape (time, pitch) or (time, pitch, 1)
    pickups : sequence of int
        The true pickup of each melody, in steps.

    Returns
    -------
    note_weights : np.ndarray, shape (7, N_LEVELS)
    last_weights : np.ndarray, shape (N_LEVELS,)
        ``log(P(position | class) * steps_per_bar)`` with add-one smoothed
        counts spread evenly over the positions of each level.
    """
    levels = metrical_levels(steps_per_bar, steps_per_beat)
    counts = np.ones((len(DURATION_EDGES) + 1, N_LEVELS))
    last = np.ones(N_LEVELS)
    for melody, pickup in zip(melodies, pickups):
        starts, lengths = melody_notes(melody)
        note_levels = levels[(starts - int(pickup)) % steps_per_bar]
        np.add.at(counts, (duration_classes(lengths, steps_per_beat), note_levels), 1)
        last[note_levels[-1]] += 1
    per_level = np.maximum(np.bincount(levels, minlength=N_LEVELS), 1)
    note_weights = np.log(counts / counts.sum(axis=1, keepdims=True) / per_level * steps_per_bar)
    last_weights = np.log(last / last.sum() / per_level * steps_per_bar)
    return note_weights, last_weights


def lead_in(pickup: int, steps_per_bar: int = STEPS_PER_BAR) -> int:
    """Silent steps to put before a melody with ``pickup`` steps of upbeat so its downbeats
    fall on multiples of ``steps_per_bar``: ``(-pickup) mod steps_per_bar``."""
    return int((-int(pickup)) % steps_per_bar)


def _check_steps(steps) -> int:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ConfigError(f"a lead-in must be a non-negative number of steps, got {steps!r}")
    return int(steps)


def add_lead_in(roll, steps: int) -> np.ndarray:
    """Put ``steps`` silent steps before a roll ``(time, ...)``; shape ``(time + steps, ...)``."""
    roll = np.asarray(roll)
    steps = _check_steps(steps)
    return np.pad(roll, [(steps, 0)] + [(0, 0)] * (roll.ndim - 1))


def remove_lead_in(roll, steps: int, n_steps: int | None = None) -> np.ndarray:
    """Undo :func:`add_lead_in`: drop the first ``steps`` steps of a roll ``(time, ...)``.

    With ``n_steps`` the result is cut or padded with silence to exactly
    ``n_steps`` steps (the original melody's length).
    """
    roll = np.asarray(roll)
    out = roll[_check_steps(steps):]
    if n_steps is None:
        return out
    n_steps = _check_steps(n_steps)
    if out.shape[0] >= n_steps:
        return out[:n_steps]
    return np.pad(out, [(0, n_steps - out.shape[0])] + [(0, 0)] * (roll.ndim - 1))
