"""The piano-roll representation shared by every other module.

A piece is a boolean piano roll of shape ``(time, pitch, tracks)``:

* time: 4 steps per beat (16th notes); a 4/4 bar is 16 steps.
* pitch: a window of MIDI pitches, ``PitchWindow(lowest, size)``; index ``i``
  is MIDI pitch ``lowest + i``. ``FULL_WINDOW`` is all 128 MIDI pitches (the
  DeepComposer lab); ``COMPACT_WINDOW`` covers every note of the chorales
  after key normalisation (see docs/representation.md).
* tracks: the tracks of a layout (:mod:`deepaccomp.layout`), the melody first;
  SATB order for the default ``satb`` layout (the chorales).

Batches add a leading axis: ``(batch, time, pitch, tracks)``. The model sees
values in [-1, 1] (-1 = off, +1 = on); :func:`to_model_range` and
:func:`from_model_range` convert both ways. Pure numpy, no TensorFlow.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, InvalidRollError

__all__ = [
    "restrike_gaps",
    "close_restrike_gaps",
    "STEPS_PER_BEAT",
    "BEATS_PER_BAR",
    "STEPS_PER_BAR",
    "N_MIDI_PITCHES",
    "MELODY_TRACK",
    "PitchWindow",
    "FULL_WINDOW",
    "COMPACT_WINDOW",
    "WINDOWS",
    "get_window",
    "crop_pitches",
    "uncrop_pitches",
    "out_of_window",
    "to_model_range",
    "from_model_range",
    "as_bool",
    "phrase_starts",
    "cut_phrases",
    "pad_time",
    "transpose_roll",
    "transpose_tracks",
    "note_runs",
    "run_starts",
    "POSITION_CHANNELS",
    "position_planes",
    "decode_voices",
    "decode",
    "truncated_normal",
]

STEPS_PER_BEAT = 4
"""Time steps per quarter-note beat (16th-note grid)."""

BEATS_PER_BAR = 4
"""Beats per bar in the 4/4 training data."""

STEPS_PER_BAR = STEPS_PER_BEAT * BEATS_PER_BAR
"""16 steps per 4/4 bar."""

N_MIDI_PITCHES = 128

MELODY_TRACK = 0
"""The melody is track 0 of every roll; the accompaniment tracks follow in layout order
(:attr:`deepaccomp.layout.Layout.track_names`)."""

_DEPRECATED = {"TRACK_NAMES": "deepaccomp.layout.get_layout('satb').track_names",
               "ACCOMPANIMENT_TRACKS": "range(1, len(layout.tracks))"}


def __getattr__(name):
    """The satb facts once written here, now read from the satb layout (deprecated names)."""
    if name not in _DEPRECATED:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .layout import SATB  # the layouts sit above this module

    warnings.warn(f"deepaccomp.representation.{name} is deprecated; use {_DEPRECATED[name]}",
                  DeprecationWarning, stacklevel=2)
    return SATB.track_names if name == "TRACK_NAMES" else tuple(range(1, len(SATB.tracks)))


@dataclass(frozen=True)
class PitchWindow:
    """A contiguous range of MIDI pitches: index ``i`` is pitch ``lowest + i``."""

    lowest: int
    size: int

    def __post_init__(self):
        if self.size <= 0 or self.lowest < 0 or self.lowest + self.size > N_MIDI_PITCHES:
            raise ConfigError(
                f"pitch window lowest={self.lowest} size={self.size} must lie inside "
                f"MIDI pitches 0..127"
            )

    @property
    def highest(self) -> int:
        """Highest MIDI pitch in the window (inclusive)."""
        return self.lowest + self.size - 1

    def contains(self, pitch) -> np.ndarray:
        """Boolean mask: which MIDI ``pitch`` values (scalar or array) lie inside the window."""
        pitch = np.asarray(pitch)
        return (pitch >= self.lowest) & (pitch <= self.highest)

    def to_dict(self) -> dict:
        """``{"lowest": MIDI pitch, "size": pitches}``, as stored in dataset metadata."""
        return {"lowest": self.lowest, "size": self.size}


FULL_WINDOW = PitchWindow(0, 128)
"""All 128 MIDI pitches, as in the DeepComposer lab."""

COMPACT_WINDOW = PitchWindow(28, 64)
"""MIDI 28 (E1) .. 91 (G6). Every note of the 371 music21 chorales after
transposition to C major / A minor lies in MIDI 31..84 (measured by
``deepaccomp prepare``, stored as ``pitch_min``/``pitch_max`` in the dataset
metadata); the window adds a margin and has a size divisible by 16 so that four
stride-2 convolutions divide it evenly."""

WINDOWS = {"full": FULL_WINDOW, "compact": COMPACT_WINDOW}


def get_window(name_or_window) -> PitchWindow:
    """Return a :class:`PitchWindow` from ``"full"``, ``"compact"`` or a window/dict."""
    if isinstance(name_or_window, PitchWindow):
        return name_or_window
    if isinstance(name_or_window, dict):
        return PitchWindow(int(name_or_window["lowest"]), int(name_or_window["size"]))
    try:
        return WINDOWS[name_or_window]
    except (KeyError, TypeError):
        raise ConfigError(
            f"unknown pitch window {name_or_window!r}; use one of {sorted(WINDOWS)}"
        ) from None


def crop_pitches(roll: np.ndarray, window: PitchWindow) -> np.ndarray:
    """Cut a full 128-pitch roll ``(..., time, 128, tracks)`` to ``window``.

    Notes outside the window are dropped; check with :func:`out_of_window`.
    """
    return roll[..., window.lowest : window.lowest + window.size, :]


def uncrop_pitches(roll: np.ndarray, window: PitchWindow) -> np.ndarray:
    """Place a windowed roll ``(..., time, window.size, tracks)`` into 128 pitches."""
    shape = roll.shape[:-2] + (N_MIDI_PITCHES, roll.shape[-1])
    full = np.zeros(shape, dtype=roll.dtype)
    full[..., window.lowest : window.lowest + window.size, :] = roll
    return full


def out_of_window(roll: np.ndarray, window: PitchWindow) -> int:
    """Number of active cells of a 128-pitch roll that ``window`` would drop."""
    inside = crop_pitches(roll, window).astype(bool).sum()
    return int(roll.astype(bool).sum() - inside)


def to_model_range(roll: np.ndarray, dtype=np.float32) -> np.ndarray:
    """Boolean roll -> model values: on = +1, off = -1."""
    return np.where(np.asarray(roll, dtype=bool), 1.0, -1.0).astype(dtype)


def from_model_range(values: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Model values (e.g. tanh output) -> boolean roll: on where ``value > threshold``."""
    return np.asarray(values) > threshold


def as_bool(roll: np.ndarray) -> np.ndarray:
    """Accept a boolean roll or one in model range ([-1, 1], on where > 0)."""
    roll = np.asarray(roll)
    if roll.dtype == bool:
        return roll
    if np.issubdtype(roll.dtype, np.integer):
        return roll > 0
    return roll > 0.0


def phrase_starts(n_steps: int, phrase_steps: int, hop_steps: int) -> list[int]:
    """Start steps of the full phrases of length ``phrase_steps`` cut every ``hop_steps``."""
    if phrase_steps <= 0 or hop_steps <= 0:
        raise ConfigError("phrase and hop lengths must be positive")
    return list(range(0, n_steps - phrase_steps + 1, hop_steps))


def cut_phrases(roll: np.ndarray, phrase_steps: int, hop_steps: int) -> np.ndarray:
    """Cut a roll ``(time, pitch, tracks)`` into ``(n, phrase_steps, pitch, tracks)``.

    Only whole phrases are kept; a roll shorter than one phrase gives ``n = 0``.
    """
    starts = phrase_starts(roll.shape[0], phrase_steps, hop_steps)
    if not starts:
        return np.zeros((0, phrase_steps) + roll.shape[1:], dtype=roll.dtype)
    return np.stack([roll[s : s + phrase_steps] for s in starts])


def pad_time(roll: np.ndarray, multiple: int, axis: int = 0) -> np.ndarray:
    """Pad the time axis with silence up to a multiple of ``multiple`` steps."""
    n = roll.shape[axis]
    extra = (-n) % multiple
    if extra == 0:
        return roll
    widths = [(0, 0)] * roll.ndim
    widths[axis] = (0, extra)
    return np.pad(roll, widths)


def transpose_roll(roll: np.ndarray, semitones: int) -> np.ndarray:
    """Shift a roll ``(..., time, pitch, tracks)`` by ``semitones`` along pitch.

    Notes shifted past either end of the pitch axis are dropped.
    """
    if semitones == 0:
        return roll.copy()
    out = np.zeros_like(roll)
    if semitones > 0:
        out[..., semitones:, :] = roll[..., :-semitones, :]
    else:
        out[..., :semitones, :] = roll[..., -semitones:, :]
    return out


def transpose_tracks(roll: np.ndarray, semitones: int, drums=None) -> np.ndarray:
    """:func:`transpose_roll` on the pitched tracks only.

    ``drums``: bool mask over the track axis (:attr:`deepaccomp.layout.Layout.drum_mask`);
    a drum track's "pitches" are drum sounds (General MIDI key map) and never move.
    """
    out = transpose_roll(roll, semitones)
    if drums is not None and np.any(drums):
        out[..., np.asarray(drums, bool)] = roll[..., np.asarray(drums, bool)]
    return out


POSITION_CHANNELS = 3
"""Channels of :func:`position_planes`: bar starts, beat starts, eighth-note starts."""


def position_planes(steps: int, n_pitch: int, steps_per_bar: int = STEPS_PER_BAR,
                    steps_per_beat: int = STEPS_PER_BEAT) -> np.ndarray:
    """Where each step sits in the bar, as model-range planes for the generator's and critic's input.

    Step 0 must be a downbeat (:func:`deepaccomp.meter.add_lead_in` puts a melody there).

    Returns
    -------
    ndarray of float32, shape (steps, n_pitch, 3)
        +1 at the steps that start a bar, a beat and an eighth note
        (channels 0, 1, 2), -1 elsewhere; the same for every pitch.
    """
    t = np.arange(steps)
    starts = np.stack([t % steps_per_bar == 0, t % steps_per_beat == 0, t % max(1, steps_per_beat // 2) == 0], -1)
    return np.broadcast_to(to_model_range(starts)[:, None, :], (steps, n_pitch, POSITION_CHANNELS)).copy()


def note_runs(roll: np.ndarray, onsets: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notes of a roll ``(time, pitch)``: runs of consecutive active steps of one pitch.

    Parameters
    ----------
    roll : array_like, shape (time, pitch)
        Boolean, integer (on where > 0) or model-range roll.
    onsets : array_like of bool, shape (time, pitch), optional
        Where notes start: a run is split at every onset inside it (a note
        struck again is two notes). Without it a run is one note.

    Returns
    -------
    pitches, starts, lengths : ndarray of int, each shape (n_notes,)
        Pitch index, first step and length in steps of every note, sorted by
        pitch, then start.
    """
    roll = as_bool(roll)
    if roll.ndim != 2:
        raise InvalidRollError(f"expected a (time, pitch) roll, got shape {roll.shape}")
    padded = np.zeros((roll.shape[0] + 2, roll.shape[1]), dtype=np.int8)
    padded[1:-1] = roll
    if onsets is not None:
        onsets = np.asarray(onsets, dtype=bool)
        if onsets.shape != roll.shape:
            raise InvalidRollError(f"onsets of shape {onsets.shape} for a roll of shape {roll.shape}")
        starts_mask = roll & (onsets | ~padded[:-2].astype(bool))
        ends_mask = roll & (~padded[2:].astype(bool) | np.vstack([onsets[1:], np.zeros_like(onsets[:1])]))
        pitches, starts = np.nonzero(starts_mask.T)
        _, last = np.nonzero(ends_mask.T)
        return pitches, starts, last + 1 - starts
    edges = np.diff(padded, axis=0).T  # (pitch, time + 1): +1 at an onset, -1 after an end
    pitches, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    return pitches, starts, ends - starts


def run_starts(roll: np.ndarray) -> np.ndarray:
    """The first step of every run of active steps of a roll ``(time, pitch, ...)``: the onsets of a roll
    whose notes are all held notes (bool, the roll's shape)."""
    roll = as_bool(roll)
    starts = roll.copy()
    starts[1:] &= ~roll[:-1]
    return starts


def restrike_gaps(roll: np.ndarray, onsets: np.ndarray) -> np.ndarray:
    """A roll whose re-struck notes are parted by a silent step: where a pitch is struck again at step
    ``t`` while it sounds at ``t - 1``, step ``t - 1`` is cleared, unless it is itself an onset (a
    one-step note is kept, and merges with the next; such onsets are lost).

    Parameters
    ----------
    roll, onsets : np.ndarray
        Bool ``(time, pitch, ...)``: the sounding cells and the note starts.

    Returns
    -------
    np.ndarray
        Bool, the roll's shape: every note of ``roll`` that lasts two steps or more and is followed at
        once by a note of the same pitch ends one step early, so the roll's :func:`run_starts` hold
        those onsets.
    """
    roll, onsets = as_bool(roll), as_bool(onsets)
    out = roll.copy()
    cut = onsets[1:] & roll[1:] & roll[:-1] & ~onsets[:-1]
    out[:-1] &= ~cut
    return out


def close_restrike_gaps(roll: np.ndarray, voices: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`restrike_gaps`: every one-step silence of a pitch between two of its notes
    is filled, and the note after it is struck again there.

    Parameters
    ----------
    roll : np.ndarray
        Bool ``(time, pitch, ...)``, a re-strike marked by one silent step before it.
    voices : bool
        Every track (the axes after ``pitch``) sings one pitch at a time: a gap is filled only where
        the whole track is silent (a voice that moves away from a pitch for one step keeps its move).

    Returns
    -------
    roll, onsets : np.ndarray
        Bool, the roll's shape: the roll with those steps sounding, and its onsets (every run's start,
        and each re-struck note's first step).
    """
    roll = as_bool(roll)
    gap = np.zeros(roll.shape, bool)
    gap[1:-1] = roll[:-2] & ~roll[1:-1] & roll[2:]
    if voices:
        gap &= ~roll.any(axis=1, keepdims=True)
    closed = roll | gap
    onsets = run_starts(closed)
    onsets[1:] |= gap[:-1]
    return closed, onsets


def decode_voices(values: np.ndarray, threshold: float = 0.0) -> np.ndarray:
    """Model output ``(..., time, pitch, tracks)`` -> bool roll with one pitch per voice.

    At each step each track sounds its highest-valued pitch if that value is
    above ``threshold``, else rests: SATB voices sing one note at a time.
    """
    values = np.asarray(values)
    best = values.argmax(axis=-2)  # (..., time, tracks)
    top = np.take_along_axis(values, best[..., None, :], axis=-2)[..., 0, :]
    out = np.zeros(values.shape, dtype=bool)
    np.put_along_axis(out, best[..., None, :], (top > threshold)[..., None, :], axis=-2)
    return out


def decode(values: np.ndarray, method: str = "threshold", threshold: float = 0.0) -> np.ndarray:
    """Model output -> bool roll: ``"threshold"`` (every cell > threshold) or ``"voice"``."""
    if method == "voice":
        return decode_voices(values, threshold)
    if method == "threshold":
        return from_model_range(values, threshold)
    raise ConfigError(f"unknown decode method {method!r}; use 'threshold' or 'voice' "
                      "(deepaccomp.decoding.decode has all of them)")


def truncated_normal(rng: np.random.Generator, shape, limit: float = 2.0) -> np.ndarray:
    """Standard normal noise re-drawn beyond ``±limit`` (as ``tf.random.truncated_normal``), float32."""
    x = rng.standard_normal(shape)
    bad = np.abs(x) > limit
    while bad.any():
        x[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(x) > limit
    return x.astype(np.float32)
