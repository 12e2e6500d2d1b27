"""Objective metrics of piano rolls, per track, in pure numpy.

Every metric takes a roll of shape ``(time, pitch, tracks)`` or a batch
``(batch, time, pitch, tracks)``, boolean or in model range ([-1, 1], a cell is
on where its value is > 0; see :func:`deepaccomp.representation.as_bool`).
Pitch index ``i`` is MIDI pitch ``lowest_pitch + i``. A batch is pooled: the
counts of all pieces are added before dividing, so every bar / step / note
weighs the same whatever piece it comes from (a bar never crosses pieces).

Each metric returns a float array with one value per track, shape
``(tracks,)`` (:func:`pitch_class_histogram`: ``(12, tracks)``;
:func:`note_lengths`: ``(max_length, tracks)``; :func:`consonance_with_melody`
and :func:`rest_under_melody`: one value per accompaniment track;
:func:`parallel_perfects` can also answer per pair or overall). A track
with nothing to measure (no notes, no bars, ...) gets ``nan``.

:data:`METRICS` is the one table of metrics that :func:`evaluate`, the evaluation, the
training monitor and the model card read: a new metric is one entry there. A track is
*absent* from a piece when it has no note in it (:func:`presence`); :func:`evaluate`
measures each track over the pieces where it is present and gives nan where it is present
in none, never a 0 or a 1.

The formulas, and how they differ from the DeepComposer lab / MuseGAN /
pypianoroll metrics, are in ``docs/metrics.md``. No TensorFlow is imported.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from .errors import ConfigError, InvalidRollError
from .representation import STEPS_PER_BAR, STEPS_PER_BEAT, as_bool, note_runs, run_starts

__all__ = [
    "CONSONANT_INTERVALS",
    "MAJOR_PROFILE",
    "MINOR_PROFILE",
    "Key",
    "empty_bar_rate",
    "pitches_used",
    "in_scale_ratio",
    "polyphony",
    "pitch_class_histogram",
    "chroma",
    "consonance_with_melody",
    "harmonic_agreement",
    "SATB_RANGES",
    "note_lengths",
    "fragment_rate",
    "long_note_ratio",
    "leap_rate",
    "LEAP_INTERVAL",
    "rest_under_melody",
    "unison_with_melody",
    "parallel_perfects",
    "voice_crossing",
    "out_of_range",
    "drum_pattern_rate",
    "estimate_key",
    "estimate_key_from_histogram",
    "evaluate",
    "presence",
    "without_drums",
    "Metric",
    "MetricInput",
    "METRICS",
    "per_track_metrics",
    "logged_metrics",
    "METRIC_TRACKS",
    "METRIC_DIRECTIONS",
    "TRIAD_QUALITIES",
    "NO_CHORD",
    "triad_templates",
    "beat_chroma",
    "recognise_chords",
    "chord_accuracy",
    "onset_positions",
    "groove_similarity",
    "onset_profile",
    "onset_profile_similarity",
    "onsets_per_bar",
    "notes_at_once",
    "pitch_class_overlap",
    "empty_bars_under_melody",
]

LEAP_INTERVAL = 8
"""Smallest move counted as a leap by :func:`leap_rate` and charged by the ``leap_cost`` of the
``notes`` decoding, in semitones (a minor sixth)."""

CONSONANT_INTERVALS = frozenset({0, 3, 4, 5, 7, 8, 9})
"""Interval classes (semitones mod 12) counted as consonant: unison/octave,
minor/major third, perfect fourth, perfect fifth, minor/major sixth."""

SATB_RANGES = ((60, 79), (55, 74), (48, 67), (40, 60))
"""Usual MIDI ranges (lowest, highest, inclusive) of soprano C4-G5, alto G3-D5,
tenor C3-G4 and bass E2-C4, the textbook ranges of four-part writing."""

MAJOR_PROFILE = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
"""Krumhansl-Kessler major key profile, index 0 = tonic."""

MINOR_PROFILE = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
"""Krumhansl-Kessler minor key profile, index 0 = tonic."""

_SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_MAJOR_NAMES = ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_MINOR_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_MODE_WORDS = {"major": "major", "maj": "major", "": "major", "minor": "minor", "min": "minor",
               "m": "minor"}
_KEY_RE = re.compile(r"^\s*([A-Ga-g])\s*([#b♯♭s]*)\s*[-_ ]?\s*([A-Za-z]*)\s*$")


# ---------------------------------------------------------------------- keys
@dataclass(frozen=True)
class Key:
    """A major or (natural) minor key.

    Attributes
    ----------
    tonic : int
        Pitch class of the tonic, 0 (C) .. 11 (B).
    mode : str
        ``"major"`` or ``"minor"``.
    """

    tonic: int
    mode: str = "major"

    def __post_init__(self):
        try:
            tonic = operator.index(self.tonic)
        except TypeError:
            raise ConfigError(f"key tonic must be an integer pitch class 0..11, got {self.tonic!r}") from None
        if not 0 <= tonic <= 11:
            raise ConfigError(f"key tonic must be a pitch class 0..11, got {tonic}")
        mode = str(self.mode).lower()
        if mode not in _SCALE_STEPS:
            raise ConfigError(f"key mode must be 'major' or 'minor', got {self.mode!r}")
        object.__setattr__(self, "tonic", int(tonic))
        object.__setattr__(self, "mode", mode)

    @property
    def name(self) -> str:
        """Readable name, e.g. ``"F# minor"``, ``"Bb major"``; :meth:`parse` reads it back.

        Spelling: major keys Db, Eb, F#, Ab, Bb; minor keys C#, Eb, F#, G#, Bb.
        """
        names = _MAJOR_NAMES if self.mode == "major" else _MINOR_NAMES
        return f"{names[self.tonic]} {self.mode}"

    @property
    def pitch_classes(self) -> tuple:
        """The 7 scale pitch classes from the tonic up (minor = natural minor)."""
        return tuple((self.tonic + s) % 12 for s in _SCALE_STEPS[self.mode])

    def shift_to_c(self) -> int:
        """Semitones in -6..+5 that transpose this key to C major (major) or A minor (minor).

        E.g. G major -> +5 (G up a fourth is C), F major -> -5, E minor -> +5,
        D minor -> -5, F# major -> -6.
        """
        target = 0 if self.mode == "major" else 9
        return (target - self.tonic + 6) % 12 - 6

    @classmethod
    def parse(cls, text: str) -> "Key":
        """Read ``"C major"``, ``"F# minor"``, ``"Bb major"``, ``"a minor"``, ``"Am"``, ``"Eb"``.

        Accidentals: any number of ``#``/``♯``/``s`` (sharp) or ``b``/``♭`` (flat).
        The mode defaults to major. Raises :class:`~deepaccomp.errors.ConfigError`
        on anything else.
        """
        if isinstance(text, Key):
            return text
        m = _KEY_RE.match(str(text))
        mode = _MODE_WORDS.get(m.group(3).lower()) if m else None
        if m is None or mode is None:
            raise ConfigError(f"cannot read key {text!r}; write e.g. 'C major', 'F# minor', 'Bb major'")
        tonic = _LETTERS[m.group(1).upper()]
        for acc in m.group(2):
            tonic += 1 if acc in "#♯s" else -1
        return cls(tonic % 12, mode)

    def __str__(self) -> str:
        return self.name


def _profiles() -> np.ndarray:
    """The 24 rotated key profiles, ``(24, 12)``: rows 0..11 major C..B, 12..23 minor C..B."""
    return np.stack([np.roll(MAJOR_PROFILE, t) for t in range(12)]
                    + [np.roll(MINOR_PROFILE, t) for t in range(12)])


def estimate_key_from_histogram(hist12) -> Key:
    """Krumhansl-Schmuckler key of a 12-bin pitch-class histogram.

    Parameters
    ----------
    hist12 : array_like, shape (12,)
        Non-negative weight of each pitch class (C = 0), e.g. note-steps.

    Returns
    -------
    Key
        The key whose rotated Krumhansl-Kessler profile has the highest Pearson
        correlation with ``hist12``. Ties go to the first of C..B major, then
        C..B minor.

    Raises
    ------
    InvalidRollError
        If the histogram is not 12 finite non-negative values with a positive sum.
    """
    h = np.asarray(hist12, dtype=float)
    if h.shape != (12,):
        raise InvalidRollError(f"a pitch-class histogram has shape (12,), got {h.shape}")
    if not np.all(np.isfinite(h)) or np.any(h < 0):
        raise InvalidRollError("a pitch-class histogram must hold finite non-negative values")
    if h.sum() <= 0:
        raise InvalidRollError("cannot estimate a key: the histogram is empty (no notes)")
    p = _profiles()
    pc = p - p.mean(axis=1, keepdims=True)
    hc = h - h.mean()
    denom = np.sqrt((pc**2).sum(axis=1) * (hc**2).sum())
    corr = np.zeros(24) if np.all(denom == 0) else (pc @ hc) / denom
    best = int(np.argmax(corr))
    return Key(best % 12, "major" if best < 12 else "minor")


def estimate_key(roll, lowest_pitch: int = 0, tracks=None) -> Key:
    """Krumhansl-Schmuckler key estimate of a roll.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.
    lowest_pitch : int
        MIDI pitch of pitch index 0.
    tracks : int, sequence of int or None
        Tracks whose notes are counted; ``None`` = all tracks.

    Returns
    -------
    Key
        Best key for the duration-weighted (active cells) pitch-class histogram.

    Raises
    ------
    InvalidRollError
        Wrong ndim, or no active cell in the selected tracks.
    """
    r = _batch(roll)
    if tracks is not None:
        idx = np.atleast_1d(np.asarray(tracks))
        if idx.dtype.kind not in "iu" or np.any(idx >= r.shape[-1]) or np.any(idx < -r.shape[-1]):
            raise InvalidRollError(f"tracks {tracks!r} out of range for a roll with {r.shape[-1]} tracks")
        r = r[..., idx]
    hist = pitch_class_histogram(r, lowest_pitch=lowest_pitch, normalize=False).sum(axis=1)
    if hist.sum() == 0:
        raise InvalidRollError("cannot estimate the key of an empty roll (no active cell)")
    return estimate_key_from_histogram(hist)


def _scale_mask(key) -> np.ndarray:
    """Boolean ``(12,)`` mask of the pitch classes of ``key`` (Key, str or iterable of ints)."""
    if isinstance(key, str):
        key = Key.parse(key)
    if isinstance(key, Key):
        pcs = key.pitch_classes
    else:
        try:
            pcs = [operator.index(p) for p in key]
        except TypeError:
            raise ConfigError(f"key must be a Key, a name like 'C major' or pitch classes, got {key!r}") from None
        if any(not 0 <= p <= 11 for p in pcs):
            raise ConfigError(f"pitch classes must lie in 0..11, got {list(pcs)}")
    mask = np.zeros(12, dtype=bool)
    mask[list(pcs)] = True
    return mask


# ---------------------------------------------------------------------- helpers
def _batch(roll) -> np.ndarray:
    """Boolean ``(batch, time, pitch, tracks)`` view of a 3-D or 4-D roll."""
    r = as_bool(roll)
    if r.ndim == 3:
        return r[None]
    if r.ndim == 4:
        return r
    raise InvalidRollError(
        f"a roll has shape (time, pitch, tracks) or (batch, time, pitch, tracks); got {r.ndim} "
        f"dimensions {r.shape}")


def _bars(r: np.ndarray, steps_per_bar: int) -> np.ndarray:
    """``(batch, bars, steps_per_bar, pitch, tracks)`` view of a 4-D bool roll."""
    try:
        spb = operator.index(steps_per_bar)
    except TypeError:
        raise InvalidRollError(f"steps_per_bar must be a positive integer, got {steps_per_bar!r}") from None
    if spb <= 0:
        raise InvalidRollError(f"steps_per_bar must be a positive integer, got {spb}")
    b, t, p, k = r.shape
    if t % spb:
        raise InvalidRollError(
            f"time length {t} is not a multiple of {spb} steps per bar; pad the roll "
            f"(representation.pad_time) or cut whole bars")
    return r.reshape(b, t // spb, spb, p, k)


def _ratio(num, den) -> np.ndarray:
    """``num / den`` as float, nan where ``den == 0`` (no warning)."""
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _midi_pitches(n_pitches: int, lowest_pitch: int) -> np.ndarray:
    """MIDI pitch of every pitch index, ``(n_pitches,)``."""
    try:
        low = operator.index(lowest_pitch)
    except TypeError:
        raise InvalidRollError(f"lowest_pitch must be an integer, got {lowest_pitch!r}") from None
    return low + np.arange(n_pitches)


def _pitch_classes(n_pitches: int, lowest_pitch: int) -> np.ndarray:
    """Pitch class of every pitch index, ``(n_pitches,)``."""
    return _midi_pitches(n_pitches, lowest_pitch) % 12


def _pitch_counts(r: np.ndarray) -> np.ndarray:
    """Active cells per (pitch, track) over batch and time: ``(pitch, tracks)`` int64."""
    return np.count_nonzero(r, axis=(0, 1)).astype(np.int64)


# ---------------------------------------------------------------------- metrics
def empty_bar_rate(roll, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
    """Fraction of bars in which a track plays nothing.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll; ``time`` a multiple of ``steps_per_bar``.
    steps_per_bar : int
        Time steps per bar (16 for 4/4 at 16th notes).

    Returns
    -------
    ndarray, shape (tracks,)
        Empty bars / all bars, in [0, 1] (1 = silent track); nan if the roll
        holds no bar. The DeepComposer lab / MuseGAN code returns 1 - this.

    Raises
    ------
    InvalidRollError
        Wrong ndim, or time not a multiple of ``steps_per_bar``.
    """
    bars = _bars(_batch(roll), steps_per_bar)
    occupied = bars.any(axis=(2, 3))  # (batch, bars, tracks)
    n = occupied.shape[0] * occupied.shape[1]
    empty = n - np.count_nonzero(occupied, axis=(0, 1))
    return _ratio(empty, np.full(occupied.shape[-1], n))


def pitches_used(roll, steps_per_bar: int = STEPS_PER_BAR, per: str = "bar") -> np.ndarray:
    """Number of distinct pitches a track uses.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.
    steps_per_bar : int
        Time steps per bar (only used with ``per="bar"``).
    per : {"bar", "piece"}
        ``"bar"``: mean number of distinct pitches (MIDI pitches, not pitch
        classes) per non-empty bar, pooled over all bars of the batch.
        ``"piece"``: number of distinct pitches over each whole piece, averaged
        over the pieces of the batch in which the track plays.

    Returns
    -------
    ndarray, shape (tracks,)
        Pitches (a count, >= 1); nan for a track with no note.

    Raises
    ------
    InvalidRollError
        Wrong ndim, or (``per="bar"``) time not a multiple of ``steps_per_bar``.
    ConfigError
        ``per`` is neither ``"bar"`` nor ``"piece"``.
    """
    r = _batch(roll)
    if per == "bar":
        used = np.count_nonzero(_bars(r, steps_per_bar).any(axis=2), axis=2)  # (batch, bars, tracks)
    elif per == "piece":
        used = np.count_nonzero(r.any(axis=1), axis=1)[:, None, :]  # (batch, 1, tracks)
    else:
        raise ConfigError(f"per must be 'bar' or 'piece', got {per!r}")
    return _ratio(used.sum(axis=(0, 1)), np.count_nonzero(used, axis=(0, 1)))


def in_scale_ratio(roll, key="C major", lowest_pitch: int = 0) -> np.ndarray:
    """Fraction of note-steps whose pitch class belongs to the scale of ``key``.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.
    key : Key, str or iterable of int
        A :class:`Key`, a key name (``"C major"``, ``"F# minor"``, ``"Bb major"``)
        or the pitch classes (0..11) of the scale. Minor keys use the natural
        minor scale (the pitch classes of the relative major).
    lowest_pitch : int
        MIDI pitch of pitch index 0.

    Returns
    -------
    ndarray, shape (tracks,)
        In-scale active cells / active cells, in [0, 1]; nan for a track with
        no note. Each active cell (one pitch at one 16th-note step) counts once,
        so the ratio is duration weighted.
    """
    r = _batch(roll)
    counts = _pitch_counts(r)
    mask = _scale_mask(key)[_pitch_classes(r.shape[2], lowest_pitch)]
    return _ratio(counts[mask].sum(axis=0), counts.sum(axis=0))


def polyphony(roll) -> np.ndarray:
    """Mean number of pitches sounding together, over the steps where a track plays.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.

    Returns
    -------
    ndarray, shape (tracks,)
        Active cells / steps with at least one active cell (pitches per sounding
        step, >= 1; a SATB voice gives 1.0); nan for a track with no note.
    """
    r = _batch(roll)
    per_step = np.count_nonzero(r, axis=2)  # (batch, time, tracks)
    return _ratio(per_step.sum(axis=(0, 1)), np.count_nonzero(per_step, axis=(0, 1)))


def chroma(roll, lowest_pitch: int = 0) -> np.ndarray:
    """Active pitches per pitch class at each step.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks)
        Boolean or model-range roll.
    lowest_pitch : int
        MIDI pitch of pitch index 0; pitch class = (lowest_pitch + index) % 12.

    Returns
    -------
    ndarray of int64, shape (time, 12, tracks)
        Column 0 = C. A batch is not pooled: pass one piece.
    """
    r = as_bool(roll)
    if r.ndim != 3:
        raise InvalidRollError(f"chroma takes one roll (time, pitch, tracks), got shape {r.shape}")
    onehot = np.eye(12, dtype=np.int64)[_pitch_classes(r.shape[1], lowest_pitch)]  # (pitch, 12)
    return np.einsum("tpk,pc->tck", r.astype(np.int64), onehot)


def pitch_class_histogram(roll, lowest_pitch: int = 0, normalize: bool = True) -> np.ndarray:
    """Note-steps per pitch class (C = 0 .. B = 11), per track.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.
    lowest_pitch : int
        MIDI pitch of pitch index 0; pitch class = (lowest_pitch + index) % 12.
    normalize : bool
        Divide each track's column by its sum (so it sums to 1).

    Returns
    -------
    ndarray, shape (12, tracks)
        Active-cell counts (float) per pitch class, or their fractions when
        ``normalize``; a track with no note gives a column of nan when
        ``normalize`` (zeros otherwise).
    """
    r = _batch(roll)
    counts = _pitch_counts(r)  # (pitch, tracks)
    onehot = np.eye(12, dtype=np.int64)[_pitch_classes(r.shape[2], lowest_pitch)]  # (pitch, 12)
    hist = (onehot.T @ counts).astype(float)
    if normalize:
        hist = _ratio(hist, hist.sum(axis=0, keepdims=True))
    return hist


def consonance_with_melody(roll, melody_track: int = 0, lowest_pitch: int = 0) -> np.ndarray:
    """Fraction of accompaniment note-steps consonant with the melody note above them.

    At every step where the melody track sounds, the interval class of each
    active accompaniment cell to the melody's highest sounding pitch,
    ``(acc - mel) % 12``, is consonant if it is in
    :data:`CONSONANT_INTERVALS` = {0, 3, 4, 5, 7, 8, 9}. Steps with no melody
    note are excluded.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll holding the melody and the accompaniment.
    melody_track : int
        Index of the melody track (negative indices allowed).
    lowest_pitch : int
        MIDI pitch of pitch index 0.

    Returns
    -------
    ndarray, shape (tracks - 1,)
        One value per accompaniment track (every track but ``melody_track``, in
        order), in [0, 1]; nan for a track with no note while the melody sounds.
    """
    r = _batch(roll)
    n_tracks = r.shape[-1]
    try:
        m = operator.index(melody_track)
    except TypeError:
        raise InvalidRollError(f"melody_track must be an integer, got {melody_track!r}") from None
    if not -n_tracks <= m < n_tracks:
        raise InvalidRollError(f"melody_track {m} out of range for a roll with {n_tracks} tracks")
    m %= n_tracks
    n_pitch = r.shape[2]
    pcs = _pitch_classes(n_pitch, lowest_pitch)
    mel = r[..., m]  # (batch, time, pitch)
    sounding = mel.any(axis=-1)  # (batch, time)
    top = n_pitch - 1 - np.argmax(mel[..., ::-1], axis=-1)  # highest melody pitch index
    mel_pc = pcs[top]  # (batch, time)
    consonant_pc = np.isin((np.arange(12)[None, None, :] - mel_pc[..., None]) % 12,
                           list(CONSONANT_INTERVALS))  # (batch, time, 12): by accompaniment pc
    consonant = consonant_pc[..., pcs] & sounding[..., None]  # (batch, time, pitch)
    acc_tracks = [k for k in range(n_tracks) if k != m]
    num = np.empty(len(acc_tracks))
    den = np.empty(len(acc_tracks))
    for j, k in enumerate(acc_tracks):  # loop over tracks only
        acc = r[..., k]
        num[j] = np.count_nonzero(acc & consonant)
        den[j] = np.count_nonzero(acc & sounding[..., None])
    return _ratio(num, den)


def harmonic_agreement(generated, reference, lowest_pitch: int = 0,
                       reference_lowest_pitch: int | None = None) -> np.ndarray:
    """Fraction of generated note-steps whose pitch class also sounds in the reference.

    A generated active cell agrees when, at the same step of the same piece,
    any track of ``reference`` sounds the same pitch class (any octave).

    Parameters
    ----------
    generated : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll to score.
    reference : array_like, shape (time, pitch', tracks') or (batch, time, pitch', tracks')
        Roll to compare with (e.g. the real accompaniment); same batch size and
        time length as ``generated``, any pitch window and number of tracks.
    lowest_pitch : int
        MIDI pitch of pitch index 0 of ``generated``.
    reference_lowest_pitch : int or None
        MIDI pitch of pitch index 0 of ``reference``; ``None`` = ``lowest_pitch``.

    Returns
    -------
    ndarray, shape (generated_tracks,)
        Agreeing active cells / active cells, in [0, 1]; nan for a track with no note.

    Raises
    ------
    InvalidRollError
        Wrong ndim, or batch size / time length differ.
    """
    g = _batch(generated)
    ref = _batch(reference)
    if g.shape[:2] != ref.shape[:2]:
        raise InvalidRollError(
            f"generated (batch, time) {g.shape[:2]} and reference {ref.shape[:2]} must match")
    if reference_lowest_pitch is None:
        reference_lowest_pitch = lowest_pitch
    ref_pcs = _pitch_classes(ref.shape[2], reference_lowest_pitch)
    ref_any = ref.any(axis=-1)  # (batch, time, pitch')
    ref_pc = np.zeros(ref.shape[:2] + (12,), dtype=bool)
    for c in range(12):  # loop over pitch classes only
        sel = ref_pcs == c
        if sel.any():
            ref_pc[..., c] = ref_any[..., sel].any(axis=-1)
    agree = ref_pc[..., _pitch_classes(g.shape[2], lowest_pitch)]  # (batch, time, pitch)
    num = np.array([np.count_nonzero(g[..., k] & agree) for k in range(g.shape[-1])], dtype=float)
    return _ratio(num, np.count_nonzero(g, axis=(0, 1, 2)))


# ---------------------------------------------------------------------- voice leading
def _notes(r: np.ndarray):
    """Notes of a 4-D bool roll, per track: list of ``(batch index, pitch, start, length)`` arrays.

    The pieces of the batch are laid end to end with one silent step between
    them, so a note never runs from one piece into the next.
    """
    b, t, p, k = r.shape
    out = []
    for track in range(k):
        flat = np.zeros((b, t + 1, p), dtype=bool)
        flat[:, :t] = r[..., track]
        pitches, starts, lengths = note_runs(flat.reshape(b * (t + 1), p))
        out.append((starts // (t + 1), pitches, starts % (t + 1), lengths))
    return out


def _positive_int(value, name: str) -> int:
    try:
        v = operator.index(value)
    except TypeError:
        raise InvalidRollError(f"{name} must be a positive integer, got {value!r}") from None
    if v <= 0:
        raise InvalidRollError(f"{name} must be a positive integer, got {v}")
    return v


def _track_index(track, n_tracks: int, name: str) -> int:
    try:
        m = operator.index(track)
    except TypeError:
        raise InvalidRollError(f"{name} must be an integer, got {track!r}") from None
    if not -n_tracks <= m < n_tracks:
        raise InvalidRollError(f"{name} {m} out of range for a roll with {n_tracks} tracks")
    return m % n_tracks


def _top_pitch(r: np.ndarray) -> np.ndarray:
    """Highest active pitch index per ``(batch, time, tracks)``, -1 where silent."""
    n = r.shape[2]
    top = n - 1 - np.argmax(r[:, :, ::-1, :], axis=2)
    return np.where(r.any(axis=2), top, -1)


def note_lengths(roll, max_length: int = STEPS_PER_BAR, normalize: bool = True) -> np.ndarray:
    """Distribution of note lengths per track.

    A note is a run of consecutive active steps of one pitch
    (:func:`deepaccomp.representation.note_runs`); a pitch repeated without a
    rest between is one long note, as a piano roll cannot tell them apart.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.
    max_length : int
        Number of bins: bin ``i`` holds notes of ``i + 1`` steps; the last bin
        holds every note of ``max_length`` steps or longer (16 = a whole note).
    normalize : bool
        Divide each track's column by its number of notes.

    Returns
    -------
    ndarray, shape (max_length, tracks)
        Number of notes per length (float), or their fractions when
        ``normalize`` (a column of nan for a track with no note).
    """
    r = _batch(roll)
    cap = _positive_int(max_length, "max_length")
    hist = np.zeros((cap, r.shape[-1]))
    for k, (_, _, _, lengths) in enumerate(_notes(r)):
        hist[:, k] = np.bincount(np.minimum(lengths, cap) - 1, minlength=cap)
    return _ratio(hist, hist.sum(axis=0, keepdims=True)) if normalize else hist


def fragment_rate(roll) -> np.ndarray:
    """Share of notes exactly one step (a 16th note) long.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.

    Returns
    -------
    ndarray, shape (tracks,)
        Notes of one step / notes, in [0, 1]; nan for a track with no note.
        Counts notes, not note-steps (see :func:`note_lengths` for what a note is).
    """
    counts = note_lengths(roll, max_length=2, normalize=False)
    return _ratio(counts[0], counts.sum(axis=0))


def long_note_ratio(roll, min_length: int = STEPS_PER_BEAT) -> np.ndarray:
    """Share of notes at least ``min_length`` steps long (default a quarter note).

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.
    min_length : int
        Shortest length counted as long, in steps (4 = a quarter note).

    Returns
    -------
    ndarray, shape (tracks,)
        Notes of ``min_length`` steps or more / notes, in [0, 1]; nan for a
        track with no note.
    """
    cap = _positive_int(min_length, "min_length")
    counts = note_lengths(roll, max_length=cap, normalize=False)
    return _ratio(counts[-1], counts.sum(axis=0))


def leap_rate(roll, min_interval: int = LEAP_INTERVAL) -> np.ndarray:
    """Share of a voice's moves from one note to the next that leap ``min_interval`` semitones or more.

    Notes in the order they start (over a rest too; a chord counts its highest
    note), piece by piece. Bach's inner voices leap a minor sixth or more
    about once in a hundred moves, his bass about six times (docs/metrics.md).

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.
    min_interval : int
        Smallest interval counted as a leap, in semitones (8 = a minor sixth).

    Returns
    -------
    ndarray, shape (tracks,)
        Moves of ``min_interval`` or more / moves, in [0, 1]; nan for a track
        with fewer than two notes. A repeated pitch after a rest is a move of 0.
    """
    r = _batch(roll)
    least = _positive_int(min_interval, "min_interval")
    leaps, moves = np.zeros(r.shape[-1]), np.zeros(r.shape[-1])
    for k, (piece, pitch, start, _) in enumerate(_notes(r)):
        order = np.lexsort((-pitch, start, piece))
        piece, pitch, start = piece[order], pitch[order], start[order]
        first = np.ones(len(piece), dtype=bool)  # the highest note of each onset
        first[1:] = (piece[1:] != piece[:-1]) | (start[1:] != start[:-1])
        piece, pitch = piece[first], pitch[first]
        same = piece[1:] == piece[:-1]
        step = np.abs(np.diff(pitch))[same]
        leaps[k], moves[k] = np.count_nonzero(step >= least), len(step)
    return _ratio(leaps, moves)


def _with_melody(roll, melody_track: int):
    """``(roll (batch, time, pitch, tracks), melody index, sounding (batch, time, tracks))``."""
    r = _batch(roll)
    return r, _track_index(melody_track, r.shape[-1], "melody_track"), r.any(axis=2)


def rest_under_melody(roll, melody_track: int = 0) -> np.ndarray:
    """Share of the melody's steps in which an accompaniment voice is silent.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll holding the melody and the accompaniment.
    melody_track : int
        Index of the melody track (negative indices allowed).

    Returns
    -------
    ndarray, shape (tracks - 1,)
        Per accompaniment track (every track but ``melody_track``, in order):
        steps where the melody sounds and the track does not / steps where the
        melody sounds, in [0, 1]; nan if the melody never sounds.
    """
    _, m, sounding = _with_melody(roll, melody_track)
    mel = sounding[..., m]
    acc = np.delete(sounding, m, axis=-1)
    silent = np.count_nonzero(mel[..., None] & ~acc, axis=(0, 1))
    return _ratio(silent, np.full(acc.shape[-1], np.count_nonzero(mel)))


def unison_with_melody(roll, melody_track: int = 0) -> np.ndarray:
    """Share of the steps shared with the melody in which a voice sings the melody's own pitch.

    A voice that doubles the melody at the unison adds nothing to the harmony (four
    parts sound as three); Bach's alto, tenor and bass do it rarely.

    Parameters and the shape of the result as in :func:`rest_under_melody`; the value
    per accompaniment track is steps where the track sounds a pitch the melody sounds
    / steps where both sound, in [0, 1]; nan where the two never sound together.
    Octave doublings do not count (they are ``parallel_perfects``' concern when they
    move).
    """
    r, m, sounding = _with_melody(roll, melody_track)
    unison = np.delete((r & r[..., m:m + 1]).any(axis=2), m, axis=-1)  # a pitch shared with the melody
    both = np.delete(sounding & sounding[..., m:m + 1], m, axis=-1)
    return _ratio(np.count_nonzero(unison, axis=(0, 1)), np.count_nonzero(both, axis=(0, 1)))


def _parallel_counts(r: np.ndarray, steps_per_beat: int, contrary: bool):
    """``(parallels, moves)``, each ``(tracks, tracks)``: per voice pair, over consecutive beats."""
    spb = _positive_int(steps_per_beat, "steps_per_beat")
    top = _top_pitch(r[:, ::spb])  # (batch, beats, tracks)
    now, nxt = top[:, :-1], top[:, 1:]
    moves = (now >= 0) & (nxt >= 0) & (now != nxt)  # (batch, beats - 1, tracks)
    both = moves[..., :, None] & moves[..., None, :]  # (batch, beats - 1, tracks, tracks)
    ic_now = np.abs(now[..., :, None] - now[..., None, :]) % 12
    ic_nxt = np.abs(nxt[..., :, None] - nxt[..., None, :]) % 12
    perfect = both & (ic_now == ic_nxt) & ((ic_now == 0) | (ic_now == 7))
    if not contrary:
        step = np.sign(nxt - now)
        perfect &= step[..., :, None] == step[..., None, :]
    n = np.count_nonzero(perfect, axis=(0, 1)).astype(float)
    d = np.count_nonzero(both, axis=(0, 1)).astype(float)
    np.fill_diagonal(n, 0)
    np.fill_diagonal(d, 0)
    return n, d


def parallel_perfects(roll, steps_per_beat: int = STEPS_PER_BEAT, per: str = "track",
                      contrary: bool = False) -> np.ndarray:
    """Parallel perfect fifths and octaves (unisons) between two voices, per beat where both move.

    At consecutive beat onsets ``t`` and ``t + steps_per_beat`` (steps 0, 4, 8,
    ... of each piece), each voice's highest sounding pitch is compared. A
    pair of voices *moves* when both sound at both onsets and both change
    pitch; the move is a *parallel perfect* when the interval class
    ``|p_i - p_j| % 12`` is the same on both beats, is 0 (unison, octave)
    or 7 (fifth, twelfth), and both voices move in the same direction.
    Notes between the onsets are not looked at.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll with the melody and the accompaniment.
    steps_per_beat : int
        Steps between compared onsets (4 = quarter-note beats).
    per : {"track", "pair", "all"}
        ``"track"``: per voice, over its pairs with every other voice (each
        parallel counts for both of its voices); ``"pair"``: a
        ``(tracks, tracks)`` matrix, nan on the diagonal; ``"all"``: one value
        over all pairs, shape ``(1,)``.
    contrary : bool
        Also count contrary fifths and octaves (the voices move in opposite
        directions, e.g. an octave leap of the bass against a step up).

    Returns
    -------
    ndarray, shape (tracks,), (tracks, tracks) or (1,)
        Parallel perfects / moves, in [0, 1]; nan where no pair moves.

    Raises
    ------
    ConfigError
        ``per`` is not one of the three.
    """
    n, d = _parallel_counts(_batch(roll), steps_per_beat, contrary)
    if per == "track":
        return _ratio(n.sum(axis=1), d.sum(axis=1))
    if per == "pair":
        out = _ratio(n, d)
        np.fill_diagonal(out, np.nan)
        return out
    if per == "all":
        return _ratio([np.triu(n).sum()], [np.triu(d).sum()])
    raise ConfigError(f"per must be 'track', 'pair' or 'all', got {per!r}")


def voice_crossing(roll) -> np.ndarray:
    """Share of steps in which a voice sounds above the voice one track higher.

    Tracks are ordered from the highest voice down (SATB). At every step where
    track ``k`` and track ``k - 1`` both sound, they cross when the highest
    pitch of ``k`` lies above the lowest pitch of ``k - 1`` (a unison is not a
    crossing): the alto above the soprano, the tenor above the alto, the bass
    above the tenor.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.

    Returns
    -------
    ndarray, shape (tracks,)
        Value of track ``k``: crossed steps / steps where ``k`` and ``k - 1``
        both sound, in [0, 1]; nan for track 0 and where the two never sound
        together.
    """
    r = _batch(roll)
    top = _top_pitch(r)
    n = r.shape[2]
    bottom = np.where(r.any(axis=2), np.argmax(r, axis=2), n)  # lowest pitch, n where silent
    both = (top[..., 1:] >= 0) & (bottom[..., :-1] < n)
    crossed = both & (top[..., 1:] > bottom[..., :-1])
    num = np.r_[0, np.count_nonzero(crossed, axis=(0, 1))]
    den = np.r_[0, np.count_nonzero(both, axis=(0, 1))]
    return _ratio(num, den)


def out_of_range(roll, ranges=None, lowest_pitch: int = 0) -> np.ndarray:
    """Share of a voice's note-steps outside its usual range.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll.
    ranges : sequence of (int, int) or None
        Lowest and highest MIDI pitch (inclusive) of each track; ``None`` =
        :data:`SATB_RANGES` (the roll must then have 4 tracks).
    lowest_pitch : int
        MIDI pitch of pitch index 0.

    Returns
    -------
    ndarray, shape (tracks,)
        Active cells outside the track's range / active cells, in [0, 1]
        (duration weighted); nan for a track with no note.

    Raises
    ------
    InvalidRollError
        ``ranges`` does not give one (low, high) pair per track.
    """
    r = _batch(roll)
    bounds = np.asarray(SATB_RANGES if ranges is None else ranges)
    if bounds.shape != (r.shape[-1], 2):
        raise InvalidRollError(f"ranges must give (lowest, highest) MIDI pitch for each of the "
                               f"{r.shape[-1]} tracks, got shape {bounds.shape}")
    midi = _midi_pitches(r.shape[2], lowest_pitch)
    outside = (midi[:, None] < bounds[None, :, 0]) | (midi[:, None] > bounds[None, :, 1])
    counts = _pitch_counts(r)  # (pitch, tracks)
    return _ratio((counts * outside).sum(axis=0), counts.sum(axis=0))


def drum_pattern_rate(roll, grid: int = STEPS_PER_BEAT // 2) -> np.ndarray:
    """Share of drum hits that fall on the eighth-note grid (MuseGAN's drum-pattern metric on our grid).

    MuseGAN's DP counts the drum notes that lie in an 8- or 16-beat pattern
    (on the 8th- or 16th-note positions of the bar). Every onset of our
    16th-note grid is on a 16th position, so only the 8-beat pattern tells
    anything here: a hit counts when its step is a multiple of ``grid``
    steps (2 = eighth notes; bars start at step 0, a multiple of 16).

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks) or (batch, time, pitch, tracks)
        Boolean or model-range roll; a hit is a note onset (a held note counts once).
    grid : int
        Grid spacing in steps (>= 1).

    Returns
    -------
    ndarray, shape (tracks,)
        Onsets on the grid / all onsets, in [0, 1]; nan for a track without any.
    """
    grid = _positive_int(grid, "grid")
    r = _batch(roll)
    onsets = r & ~np.concatenate([np.zeros_like(r[:, :1]), r[:, :-1]], axis=1)
    on_grid = (np.arange(r.shape[1]) % grid == 0)[None, :, None, None]
    return _ratio(np.count_nonzero(onsets & on_grid, axis=(0, 1, 2)), np.count_nonzero(onsets, axis=(0, 1, 2)))


# ---------------------------------------------------------------------- the registry
@dataclass(frozen=True)
class MetricInput:
    """What a metric of :data:`METRICS` reads: the pieces it measures and the options of :func:`evaluate`.

    Attributes
    ----------
    roll : ndarray of bool, shape (batch, time, pitch, tracks)
        The pieces measured (melody and accompaniment).
    lowest_pitch : int
        MIDI pitch of pitch index 0 of ``roll``.
    key : Key or None
        The key of ``in_scale_ratio`` (``None``: no key could be told).
    melody_track : int
        Index (>= 0) of the melody track.
    steps_per_bar : int
        Time steps per bar.
    reference : ndarray of bool or None, shape (batch, time, pitch', tracks')
        The roll to compare with (``harmonic_agreement``), or ``None``.
    reference_lowest_pitch : int
        MIDI pitch of pitch index 0 of ``reference``.
    ranges : sequence of (int, int) or None
        Track windows for ``out_of_range``.
    drum_tracks : tuple of int
        Indices of drum tracks: the metrics between voices (``parallel_perfects``,
        ``voice_crossing``) compare the pitched tracks only.
    """

    roll: np.ndarray
    lowest_pitch: int = 0
    key: Key | None = None
    melody_track: int = 0
    steps_per_bar: int = STEPS_PER_BAR
    reference: np.ndarray | None = None
    reference_lowest_pitch: int = 0
    ranges: tuple | None = None
    drum_tracks: tuple = ()


METRIC_TRACKS = ("all", "pitched", "drums")
"""Which tracks a metric applies to: every track, the pitched ones (not drums) or the drum tracks."""
METRIC_DIRECTIONS = ("higher", "lower", None)
"""A metric's ``better``: a higher value is better, a lower one, or neither (it depends on the style)."""


@dataclass(frozen=True)
class Metric:
    """One entry of :data:`METRICS`: a metric, and where and how it is reported.

    Attributes
    ----------
    name : str
        The key in :func:`evaluate`'s dict, the evaluation's figures, the model card and the
        TensorBoard tag ``metrics/<track>/<name>``.
    function : callable
        ``function(MetricInput) -> ndarray``: one value per track of ``roll``, shape
        ``(tracks,)`` (``(bins, tracks)`` for a distribution), nan where there is nothing to
        measure.
    label : str
        A few words for tables (the model card, docs/metrics.md).
    better : {"higher", "lower", None}
        Which way is better; ``None`` where neither is (a figure to compare with the real data's).
    distribution : bool
        A histogram per track, shape ``(bins, tracks)``: only in :func:`evaluate`; the
        evaluation, TensorBoard and the model card take the one-number metrics.
    needs_melody : bool
        Measured against the melody track (nan at the melody itself).
    needs_reference : bool
        Measured against the reference roll: only where one is given.
    tracks : {"all", "pitched", "drums"}
        The tracks it applies to (:data:`METRIC_TRACKS`); nan on the others when the drum
        tracks are known, and a ``"drums"`` metric is reported only then.
    logged : bool
        Logged to TensorBoard by the training monitor.
    """

    name: str
    function: Callable
    label: str
    better: str | None = None
    distribution: bool = False
    needs_melody: bool = False
    needs_reference: bool = False
    tracks: str = "pitched"
    logged: bool = True

    def __post_init__(self):
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ConfigError(f"a metric name is lower-case words joined by '_', got {self.name!r}")
        if self.tracks not in METRIC_TRACKS:
            raise ConfigError(f"metric {self.name}: tracks must be one of {METRIC_TRACKS}, got {self.tracks!r}")
        if self.better not in METRIC_DIRECTIONS:
            raise ConfigError(f"metric {self.name}: better must be one of {METRIC_DIRECTIONS}, got {self.better!r}")

    def applies_to(self, drums: bool) -> bool:
        """Whether the metric applies to a drum track (``drums``) or a pitched one."""
        return self.tracks == "all" or (self.tracks == "drums") == bool(drums)


def _to_tracks(values: np.ndarray, melody_track: int) -> np.ndarray:
    """Per-accompaniment-track values ``(tracks - 1,)`` -> ``(tracks,)`` with nan at ``melody_track`` (>= 0)."""
    return np.insert(np.asarray(values, dtype=float), melody_track, np.nan)


def _in_scale(x: MetricInput) -> np.ndarray:
    n_tracks = x.roll.shape[-1]
    return np.full(n_tracks, np.nan) if x.key is None else in_scale_ratio(x.roll, x.key, x.lowest_pitch)


def _out_of_range(x: MetricInput) -> np.ndarray:
    n_tracks = x.roll.shape[-1]
    if x.ranges is None and n_tracks != len(SATB_RANGES):
        return np.full(n_tracks, np.nan)
    return out_of_range(x.roll, x.ranges, lowest_pitch=x.lowest_pitch)


def _between_pitched(function, x: MetricInput) -> np.ndarray:
    """A metric between voices, ``function(roll) -> (tracks,)``, over the pitched tracks only (as if the
    drum tracks were not there: the voice above the bass is the pitched track above it); nan for drums."""
    if not x.drum_tracks:
        return function(x.roll)
    drums = np.zeros(x.roll.shape[-1], bool)
    drums[list(x.drum_tracks)] = True
    pitched = np.nonzero(~drums)[0]
    out = np.full(x.roll.shape[-1], np.nan)
    out[pitched] = function(x.roll[..., pitched])
    return out


def _active_steps(x: MetricInput) -> np.ndarray:
    sounding = x.roll.any(axis=2)  # (batch, time, tracks)
    steps = sounding.shape[0] * sounding.shape[1]
    return _ratio(np.count_nonzero(sounding, axis=(0, 1)), np.full(sounding.shape[-1], steps))


METRICS = (
    Metric("harmonic_agreement", lambda x: harmonic_agreement(x.roll, x.reference, x.lowest_pitch,
                                                              x.reference_lowest_pitch),
           "harmonic agreement with the reference", "higher", needs_reference=True),
    Metric("consonance_with_melody",
           lambda x: _to_tracks(consonance_with_melody(x.roll, x.melody_track, x.lowest_pitch), x.melody_track),
           "consonance with the melody", "higher", needs_melody=True),
    Metric("in_scale_ratio", _in_scale, "in-scale ratio (piece's key)", "higher"),
    Metric("empty_bar_rate", lambda x: empty_bar_rate(x.roll, x.steps_per_bar), "empty-bar rate", "lower",
           tracks="all"),
    Metric("fragment_rate", lambda x: fragment_rate(x.roll), "notes one 16th long (fragments)", "lower"),
    Metric("long_note_ratio", lambda x: long_note_ratio(x.roll), "notes a quarter or longer"),
    Metric("leap_rate", lambda x: leap_rate(x.roll), "moves of a minor sixth or more, note to note"),
    Metric("rest_under_melody", lambda x: _to_tracks(rest_under_melody(x.roll, x.melody_track), x.melody_track),
           "silent while the melody sounds", "lower", needs_melody=True),
    Metric("unison_with_melody", lambda x: _to_tracks(unison_with_melody(x.roll, x.melody_track), x.melody_track),
           "sings the melody's own pitch (unison), while both sound", needs_melody=True),
    Metric("parallel_perfects", lambda x: _between_pitched(parallel_perfects, x),
           "parallel fifths/octaves per beat where both move", "lower"),
    Metric("voice_crossing", lambda x: _between_pitched(voice_crossing, x), "voice crossing per step", "lower"),
    Metric("out_of_range", _out_of_range, "note-steps outside the voice's range", "lower"),
    Metric("polyphony", lambda x: polyphony(x.roll), "simultaneous pitches per active step"),
    Metric("pitches_used", lambda x: pitches_used(x.roll, x.steps_per_bar, per="bar"), "distinct pitches per bar",
           tracks="all"),
    Metric("active_step_ratio", _active_steps, "steps where the voice sounds", tracks="all", logged=False),
    Metric("drum_pattern_rate", lambda x: drum_pattern_rate(x.roll), "drum hits on the eighth-note grid",
           tracks="drums"),
    Metric("pitch_class_histogram", lambda x: pitch_class_histogram(x.roll, x.lowest_pitch),
           "share of note-steps per pitch class", distribution=True, logged=False),
    Metric("note_lengths", lambda x: note_lengths(x.roll), "share of notes per length in steps", distribution=True,
           tracks="all", logged=False),
)
"""Every metric, in the order of the model card's tables: :func:`evaluate`, the evaluation
(:func:`deepaccomp.evaluation.piece_metrics`), the training monitor's TensorBoard scalars and
the model card all read this table, so a new metric is one :class:`Metric` entry here
(docs/metrics.md, "Adding a metric")."""



def logged_metrics(drums: bool = False) -> tuple:
    """Names of the metrics of :data:`METRICS` that the training monitor logs to TensorBoard for a drum
    track (``drums``) or a pitched one, in order."""
    return tuple(m.name for m in METRICS if m.logged and not m.distribution and m.applies_to(drums))


def per_track_metrics() -> tuple:
    """The entries of :data:`METRICS` with one number per track (not a distribution), in order: the
    figures of the evaluation, the model card and TensorBoard."""
    return tuple(m for m in METRICS if not m.distribution)


# ---------------------------------------------------------------------- all at once
def presence(roll) -> np.ndarray:
    """Where each track is present: it has at least one note in the piece.

    Parameters
    ----------
    roll : array_like or list of array_like
        A roll ``(time, pitch, tracks)``, a batch ``(batch, time, pitch, tracks)`` or a list of
        pieces ``(time_i, pitch, tracks)`` of any lengths.

    Returns
    -------
    ndarray of bool, shape (pieces, tracks)
        ``False`` where the track has no note in the piece: absent (a band file without
        strings), so that no metric of that track counts the piece.
    """
    pieces = _as_pieces(roll)
    if isinstance(pieces, list):
        return np.stack([p.any(axis=(0, 1)) for p in pieces])
    return pieces.any(axis=(1, 2))


def without_drums(roll, drum_tracks=None) -> np.ndarray:
    """``roll`` without its drum tracks (the last axis): the harmony a reference sounds, as
    ``harmonic_agreement`` takes it (a kick drum's note number is no chord tone).

    Parameters
    ----------
    roll : array_like, shape (..., tracks)
    drum_tracks : sequence of int or None
        Indices of the drum tracks; ``None`` or empty: ``roll`` as it is.
    """
    r = np.asarray(roll)
    return r if not drum_tracks else np.delete(r, list(drum_tracks), axis=-1)


def _as_pieces(roll):
    """A 4-D bool batch, or a list of 3-D bool pieces (``roll`` a list of rolls of any lengths)."""
    if not isinstance(roll, list):
        return _batch(roll)
    pieces = [as_bool(p) for p in roll]
    if not pieces or any(p.ndim != 3 for p in pieces) or len({p.shape[1:] for p in pieces}) != 1:
        raise InvalidRollError("a list of pieces holds one or more rolls (time, pitch, tracks) with the same "
                               "pitch and track axes")
    return pieces


def _take(pieces, mask: np.ndarray) -> np.ndarray:
    """The pieces where ``mask`` holds, as one batch: a batch's rows, or a list's pieces end to end."""
    if isinstance(pieces, list):
        return np.concatenate([p for p, keep in zip(pieces, mask) if keep])[None]
    return pieces if mask.all() else pieces[mask]


def _resolve_key(pieces, key, lowest_pitch: int, melody_track: int):
    """``key`` as given, else estimated from the melody (all tracks if it is silent; ``None`` if all are)."""
    if key is not None:
        return key
    whole = _take(pieces, np.ones(len(pieces), bool))
    for tracks in (melody_track, None):
        try:
            return estimate_key(whole, lowest_pitch, tracks=tracks)
        except InvalidRollError:
            continue
    return None


def _chosen(names, reference, drum_tracks) -> list:
    """The entries of :data:`METRICS` that :func:`evaluate` reports."""
    if names is not None:
        names, known = list(names), [m.name for m in METRICS]
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ConfigError(f"unknown metric {unknown[0]!r}; the metrics are {', '.join(known)}")
    return [m for m in METRICS if (names is None or m.name in names)
            and (reference is not None or not m.needs_reference)
            and (drum_tracks is not None or m.tracks != "drums")]


def _present(present, pieces, n_tracks: int) -> np.ndarray:
    """``present`` checked, or the pieces' own :func:`presence`."""
    if present is None:
        return presence(pieces)
    p = np.asarray(present)
    if p.dtype != bool or p.shape != (len(pieces), n_tracks):
        raise InvalidRollError(f"present must be a bool array (pieces, tracks) = {(len(pieces), n_tracks)}, "
                               f"got {p.dtype} {p.shape}")
    return p


def _track_mask(drum_tracks, n_tracks: int) -> np.ndarray | None:
    """``(tracks,)`` bool: the drum tracks; ``None`` when they are not given."""
    if drum_tracks is None:
        return None
    mask = np.zeros(n_tracks, bool)
    mask[np.asarray(drum_tracks, dtype=int)] = True
    return mask


def evaluate(roll, *, lowest_pitch: int = 0, key=None, melody_track: int = 0,
             steps_per_bar: int = STEPS_PER_BAR, reference=None,
             reference_lowest_pitch: int | None = None, ranges=None, drum_tracks=None,
             present=None, names=None) -> dict:
    """Every metric of :data:`METRICS`, per track, each over the pieces where its track is present.

    Parameters
    ----------
    roll : array_like or list of array_like
        A roll ``(time, pitch, tracks)``, a batch ``(batch, time, pitch, tracks)`` (pooled) or
        a list of pieces ``(time_i, pitch, tracks)`` of any lengths, each a whole number of
        bars (pooled as if laid end to end), boolean or model range; melody and accompaniment.
    lowest_pitch : int
        MIDI pitch of pitch index 0.
    key : Key, str, iterable of int or None
        Scale of ``in_scale_ratio``; ``None`` = the key estimated from the
        melody track (from all tracks if the melody is silent; nan if the roll
        is silent).
    melody_track : int
        Track of the melody, for the metrics against the melody and the key estimate.
    steps_per_bar : int
        Time steps per bar.
    reference : array_like, list of array_like or None
        If given (pieces as ``roll``'s, any pitch window and tracks), ``harmonic_agreement``
        of ``roll`` against it is included.
    reference_lowest_pitch : int or None
        Lowest pitch of ``reference``; ``None`` = ``lowest_pitch``.
    ranges : sequence of (int, int) or None
        Track windows for ``out_of_range`` (:attr:`deepaccomp.layout.Layout.ranges`);
        ``None`` = :data:`SATB_RANGES` for a 4-track roll, nan otherwise.
    drum_tracks : sequence of int or None
        Drum tracks: if given, ``drum_pattern_rate`` is added (nan for the other tracks) and
        the metrics of pitch (``tracks="pitched"``) are nan on the drum tracks.
    present : array_like of bool, shape (pieces, tracks), or None
        Where each track is present (:func:`presence`). A track's metrics count only the
        pieces where it is present and are nan where it is present in none: never a 0 or 1
        for a track a piece lacks. ``None`` = where ``roll`` itself has notes, right for real
        data; to judge generated output pass the presence of its real counterpart, so that a
        generated track that stays silent where the real one plays counts (and scores
        ``empty_bar_rate`` 1.0).
    names : iterable of str or None
        Only these metrics (names of :data:`METRICS`); ``None`` = all.

    Returns
    -------
    dict of str to ndarray
        One entry per metric of :data:`METRICS`, in its order: shape ``(tracks,)``, or
        ``(bins, tracks)`` for a distribution (``pitch_class_histogram`` ``(12, tracks)``,
        ``note_lengths`` ``(16, tracks)``, both normalised). The metrics against the melody
        (``consonance_with_melody``, ``rest_under_melody``, ``unison_with_melody``) are nan
        at ``melody_track``; ``voice_crossing`` is nan for track 0; ``harmonic_agreement``
        only with a reference, ``drum_pattern_rate`` only with ``drum_tracks``.
    """
    pieces = _as_pieces(roll)
    n_tracks = pieces[0].shape[-1] if isinstance(pieces, list) else pieces.shape[-1]
    melody = _track_index(melody_track, n_tracks, "melody_track")
    chosen = _chosen(names, reference, drum_tracks)
    refs = None if reference is None else _as_pieces(reference)
    base = MetricInput(
        roll=None, lowest_pitch=lowest_pitch, melody_track=melody, steps_per_bar=steps_per_bar,
        key=_resolve_key(pieces, key, lowest_pitch, melody) if any(m.name == "in_scale_ratio" for m in chosen)
        else None,
        reference_lowest_pitch=lowest_pitch if reference_lowest_pitch is None else reference_lowest_pitch,
        ranges=ranges, drum_tracks=tuple(int(k) for k in (drum_tracks or ())))
    out = _by_presence(chosen, pieces, refs, _present(present, pieces, n_tracks), base)
    drums = _track_mask(drum_tracks, n_tracks)
    for m in chosen:
        if drums is not None and m.tracks != "all":
            out[m.name][..., ~np.array([m.applies_to(d) for d in drums])] = np.nan
    return out


def _by_presence(chosen: list, pieces, refs, present: np.ndarray, base: MetricInput) -> dict:
    """Each metric of ``chosen``, each track over the pieces where ``present`` says it is (nan where none)."""
    groups = {}
    for k in range(present.shape[1]):  # tracks present in the same pieces are measured together
        groups.setdefault(present[:, k].tobytes(), (present[:, k], []))[1].append(k)
    out = {}
    for mask, tracks in groups.values():
        if not mask.any():
            continue
        x = replace(base, roll=_take(pieces, mask), reference=None if refs is None else _take(refs, mask))
        for m in chosen:
            value = np.asarray(m.function(x), dtype=float)
            out.setdefault(m.name, np.full(value.shape, np.nan))[..., tracks] = value[..., tracks]
    if len(out) < len(chosen):  # no track is present anywhere: every value is absent
        x = replace(base, roll=_take(pieces, np.ones(len(pieces), bool)),
                    reference=None if refs is None else _take(refs, np.ones(len(refs), bool)))
        for m in chosen:
            out.setdefault(m.name, np.full(np.shape(m.function(x)), np.nan))
    return {m.name: out[m.name] for m in chosen}


# ---------------------------------------------------------------------- pop accompaniment (issue 32)
TRIAD_QUALITIES = ("major", "minor")
"""Chord qualities of a chord code: ``code = 2 * root + quality`` (root a pitch class 0..11, quality
0 major, 1 minor; -1 no chord). Used by :func:`recognise_chords` and :func:`chord_accuracy`."""

NO_CHORD = -1
"""The chord code of a beat without a chord (or a chord with no major/minor reading)."""


def triad_templates() -> np.ndarray:
    """The 24 root-position triads as pitch-class templates.

    Returns
    -------
    ndarray of int64, shape (24, 12)
        Row ``2 * root + quality`` (:data:`TRIAD_QUALITIES`) holds 1 at the root, the third (4
        semitones up for major, 3 for minor) and the fifth (7 up); 0 elsewhere.
    """
    out = np.zeros((24, 12), dtype=np.int64)
    for root in range(12):
        for quality, third in enumerate((4, 3)):
            out[2 * root + quality, [root, (root + third) % 12, (root + 7) % 12]] = 1
    return out


def _union(roll) -> np.ndarray:
    """A roll ``(time, pitch)`` or ``(time, pitch, tracks)`` as one bool ``(time, pitch)``: any track sounding."""
    r = as_bool(roll)
    if r.ndim == 3:
        return r.any(axis=2)
    if r.ndim != 2:
        raise InvalidRollError(f"a roll has shape (time, pitch) or (time, pitch, tracks); got {r.ndim} "
                               f"dimensions {r.shape}")
    return r


def _whole(n_steps: int, unit: int, what: str) -> int:
    """``n_steps // unit``, refusing a length that is not a whole number of ``unit`` (beats, bars)."""
    unit = _positive_int(unit, f"steps_per_{what}")
    if n_steps % unit:
        raise InvalidRollError(f"time length {n_steps} is not a whole number of {what}s of {unit} steps; "
                               f"pad the roll (representation.pad_time) or cut whole {what}s")
    return n_steps // unit


def beat_chroma(roll, lowest_pitch: int = 0, steps_per_beat: int = STEPS_PER_BEAT) -> np.ndarray:
    """Duration-weighted chroma of every beat.

    Parameters
    ----------
    roll : array_like, shape (time, pitch) or (time, pitch, tracks)
        Boolean or model-range roll (tracks pooled); ``time`` a whole number of beats.
    lowest_pitch : int
        MIDI pitch of pitch index 0.
    steps_per_beat : int
        Steps per beat (4: 16th notes).

    Returns
    -------
    ndarray of int64, shape (beats, 12)
        Per beat and pitch class (C = 0), the sounding cells: each step of each sounding pitch counts 1.
    """
    r = _union(roll)
    beats = _whole(r.shape[0], steps_per_beat, "beat")
    per_step = chroma(r[..., None], lowest_pitch)[..., 0]  # (time, 12)
    return per_step.reshape(beats, steps_per_beat, 12).sum(axis=1)


def recognise_chords(roll, lowest_pitch: int = 0, steps_per_beat: int = STEPS_PER_BEAT) -> np.ndarray:
    """The chord of every beat by template matching on the beat's duration-weighted chroma.

    Each of the 24 triads (:func:`triad_templates`) scores the chroma's sum over its three pitch
    classes (the same ranking as the correlation of the chroma with the binary template); the best
    wins, ties going to the lowest code (C major, C minor, C# major, ...).

    Parameters
    ----------
    roll : array_like, shape (time, pitch) or (time, pitch, tracks)
        Boolean or model-range roll (tracks pooled); ``time`` a whole number of beats.
    lowest_pitch : int
        MIDI pitch of pitch index 0.
    steps_per_beat : int
        Steps per beat.

    Returns
    -------
    ndarray of int64, shape (beats,)
        Chord code ``2 * root + quality`` per beat; :data:`NO_CHORD` (-1) for a silent beat.
    """
    c = beat_chroma(roll, lowest_pitch, steps_per_beat)
    best = np.argmax(c @ triad_templates().T, axis=1)
    return np.where(c.sum(axis=1) > 0, best, NO_CHORD).astype(np.int64)


def chord_accuracy(accomp, chords, lowest_pitch: int = 0, steps_per_beat: int = STEPS_PER_BEAT) -> float:
    """Share of the annotated beats whose recognised chord has the annotation's root and quality.

    Parameters
    ----------
    accomp : array_like, shape (time, pitch) or (time, pitch, tracks)
        The accompaniment (tracks pooled); ``time`` = ``steps_per_beat * len(chords)``.
    chords : array_like of int, shape (beats,)
        Annotated chord code per beat (``2 * root + quality``; :data:`NO_CHORD` = not counted).
    lowest_pitch : int
        MIDI pitch of pitch index 0 of ``accomp``.
    steps_per_beat : int
        Steps per beat.

    Returns
    -------
    float
        Right beats / beats with an annotated chord (:func:`recognise_chords`; a silent beat is
        wrong), in [0, 1]; nan if no beat has a chord.
    """
    chords = np.asarray(chords, dtype=np.int64)
    found = recognise_chords(accomp, lowest_pitch, steps_per_beat)
    if found.shape != chords.shape:
        raise InvalidRollError(f"{len(chords)} chords for a roll of {len(found)} beats")
    if np.any((chords < NO_CHORD) | (chords > 23)):
        raise InvalidRollError("chord codes lie in -1..23 (2 * root + quality, -1 no chord)")
    counted = chords != NO_CHORD
    return float(_ratio(np.count_nonzero(found[counted] == chords[counted]), np.count_nonzero(counted)))


def onset_positions(onsets, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
    """Where in each bar something starts.

    Parameters
    ----------
    onsets : array_like, shape (time, pitch) or (time, pitch, tracks)
        Boolean onsets (a note's first step; tracks pooled); ``time`` a whole number of bars.
    steps_per_bar : int
        Steps per bar.

    Returns
    -------
    ndarray of bool, shape (bars, steps_per_bar)
        True at a bar's position where any pitch starts.
    """
    o = _union(onsets)
    bars = _whole(o.shape[0], steps_per_bar, "bar")
    return o.any(axis=1).reshape(bars, steps_per_bar)


def groove_similarity(a_onsets, b_onsets, steps_per_bar: int = STEPS_PER_BAR) -> float:
    """How alike two parts' rhythms are, bar by bar.

    Per bar, 1 minus the mean absolute difference of the two :func:`onset_positions` vectors
    (the share of the bar's positions where both start something or both do not), averaged
    over the bars in which at least one of the two has an onset (bars where both are silent
    say nothing about rhythm).

    Parameters
    ----------
    a_onsets, b_onsets : array_like, shape (time, pitch) or (time, pitch, tracks)
        Boolean onsets of the two parts, the same number of steps (any pitch axes).
    steps_per_bar : int
        Steps per bar.

    Returns
    -------
    float
        In [0, 1] (1: the same positions in every bar); nan if neither part has an onset.
    """
    a, b = onset_positions(a_onsets, steps_per_bar), onset_positions(b_onsets, steps_per_bar)
    if a.shape != b.shape:
        raise InvalidRollError(f"the two parts have {a.shape[0]} and {b.shape[0]} bars; compare equal lengths")
    used = a.any(axis=1) | b.any(axis=1)
    if not used.any():
        return float("nan")
    return float(1.0 - np.mean(a[used] != b[used]))


def onset_profile(onsets, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
    """A part's profile of onset positions: per position of the bar, the share of the bars (those in
    which the part has an onset) with an onset there.

    Returns
    -------
    ndarray of float, shape (steps_per_bar,)
        In [0, 1]; nan everywhere if the part has no onset.
    """
    pos = onset_positions(onsets, steps_per_bar)
    used = pos[pos.any(axis=1)]
    return _ratio(used.sum(axis=0), np.full(pos.shape[1], len(used)))


def onset_profile_similarity(a_onsets, b_onsets, steps_per_bar: int = STEPS_PER_BAR) -> float:
    """1 minus the mean absolute difference of two parts' :func:`onset_profile`.

    Unlike :func:`groove_similarity`, the bars need not line up: the parts may have any lengths.

    Returns
    -------
    float
        In [0, 1]; nan if either part has no onset.
    """
    pa, pb = onset_profile(a_onsets, steps_per_bar), onset_profile(b_onsets, steps_per_bar)
    if np.isnan(pa).any() or np.isnan(pb).any():
        return float("nan")
    return float(1.0 - np.mean(np.abs(pa - pb)))


def onsets_per_bar(roll, onsets=None, steps_per_bar: int = STEPS_PER_BAR) -> float:
    """Notes struck per bar, over the bars in which the part sounds.

    Parameters
    ----------
    roll : array_like, shape (time, pitch) or (time, pitch, tracks)
        Boolean roll (tracks pooled); ``time`` a whole number of bars.
    onsets : array_like or None
        Boolean onsets of the roll's shape (a re-struck note is two onsets); ``None``: the start of
        every run of the roll (:func:`deepaccomp.representation.run_starts`).
    steps_per_bar : int
        Steps per bar.

    Returns
    -------
    float
        Onset cells (pitch, step) / bars with a sounding step; nan if the part never sounds.
    """
    r = as_bool(roll)
    o = run_starts(r) if onsets is None else as_bool(onsets)
    if o.shape != r.shape:
        raise InvalidRollError(f"onsets of shape {o.shape} for a roll of shape {r.shape}")
    sounding = _union(r).any(axis=1)
    bars = _whole(len(sounding), steps_per_bar, "bar")
    n_bars = np.count_nonzero(sounding.reshape(bars, -1).any(axis=1))
    return float(_ratio(np.count_nonzero(o), n_bars))


def notes_at_once(roll) -> float:
    """Mean number of pitches sounding together, over the steps where the part sounds.

    Parameters
    ----------
    roll : array_like, shape (time, pitch) or (time, pitch, tracks)
        Boolean roll; the tracks are pooled (a pitch two tracks sound counts once).

    Returns
    -------
    float
        Sounding cells / sounding steps (>= 1); nan if the part never sounds.
    """
    return float(polyphony(_union(roll)[..., None])[0])


def pitch_class_overlap(a, b, lowest_pitch: int = 0, b_lowest_pitch: int | None = None) -> float:
    """Overlap of two parts' pitch-class histograms: the sum over pitch classes of the smaller share.

    Parameters
    ----------
    a, b : array_like, shape (time, pitch) or (time, pitch, tracks)
        Boolean rolls (tracks pooled; any lengths and pitch axes).
    lowest_pitch, b_lowest_pitch : int
        MIDI pitch of pitch index 0 of ``a`` and of ``b`` (``None``: ``lowest_pitch``).

    Returns
    -------
    float
        In [0, 1] (1: the same shares of note-steps per pitch class); nan if either part is silent.
    """
    b_low = lowest_pitch if b_lowest_pitch is None else b_lowest_pitch
    ha = pitch_class_histogram(_union(a)[..., None], lowest_pitch)[:, 0]
    hb = pitch_class_histogram(_union(b)[..., None], b_low)[:, 0]
    if np.isnan(ha).any() or np.isnan(hb).any():
        return float("nan")
    return float(np.minimum(ha, hb).sum())


def empty_bars_under_melody(melody, accomp, steps_per_bar: int = STEPS_PER_BAR) -> float:
    """Share of the bars in which the melody sounds where the accompaniment sounds nothing at all.

    Parameters
    ----------
    melody, accomp : array_like, shape (time, pitch) or (time, pitch, tracks)
        Boolean rolls of the same length, a whole number of bars (tracks pooled).
    steps_per_bar : int
        Steps per bar.

    Returns
    -------
    float
        In [0, 1]; nan if the melody never sounds.
    """
    m, a = _union(melody).any(axis=1), _union(accomp).any(axis=1)
    if m.shape != a.shape:
        raise InvalidRollError(f"melody of {len(m)} steps and accompaniment of {len(a)}; give equal lengths")
    bars = _whole(len(m), steps_per_bar, "bar")
    m, a = m.reshape(bars, -1).any(axis=1), a.reshape(bars, -1).any(axis=1)
    return float(_ratio(np.count_nonzero(m & ~a), np.count_nonzero(m)))
