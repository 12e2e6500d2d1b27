"""Every workaround for pypianoroll 1.0.4 (its last release, 2021) in one place.

pypianoroll 1.0.4 predates numpy 2.x and matplotlib 3.9, and has some plain
bugs. deepaccomp uses it only through the functions below; each
defect is pinned by ``tests/test_pypianoroll_compat.py``, which fails with
"upstream fixed ...: remove the workaround in deepaccomp/compat.py" once a
pypianoroll release no longer has it.

Defects and workarounds
-----------------------

1. ``Multitrack.write()`` / ``to_pretty_midi()`` raise ``TypeError: only
   0-dimensional arrays can be converted to Python scalars`` on numpy >= 2.4
   for every multitrack from ``pypianoroll.read()``: its tempo array has shape
   ``(n, 1)``, ``scipy.stats.hmean`` of it has shape ``(1,)`` and ``float()``
   of a 1-element 1-D array is an error since numpy 2.4.
   Workaround: :func:`multitrack_to_pretty_midi` hands pypianoroll a flattened
   1-D tempo array (and real Binary/StandardTracks, see 3).

2. ``pypianoroll.read()`` / ``from_pretty_midi()`` build the Multitrack
   wrongly:

   a. the tempo array has ``24 * n_beats`` rows whatever ``resolution`` is
      (``np.tile(bpm, (1, 24))``), and is the per-beat tempo sequence
      repeated 24 times, not each beat's tempo repeated per step;
   b. tempo and downbeat arrays are 2-D ``(n, 1)`` although
      ``Multitrack.validate()`` requires 1-D;
   c. only the first bar gets a downbeat (the last time-signature segment,
      the only one in most files, is never filled);
   d. note ends are truncated (``astype(int)``) instead of rounded, so at
      many tempos notes lose their last step to floating-point error;
   e. ``resolution`` counts pretty_midi *beats*, not quarter notes: in 2/2,
      3/2 or 6/8 the grid and the tempo follow half or dotted-quarter notes;
   f. ``mode="max"`` adds the velocities of overlapping notes (uint8, can
      wrap) and ``mode="sum"`` takes their maximum;
   g. a file whose notes fit in one beat raises ``IndexError``.

   Workaround: :func:`read_multitrack` builds the Multitrack itself from the
   file's ticks, on a grid of ``resolution`` steps per quarter note, with a
   1-D per-step tempo (quarter notes per minute) and a 1-D downbeat array.

3. ``Track.copy()`` returns a plain ``Track`` for a ``StandardTrack`` or
   ``BinaryTrack``, so after ``Multitrack.copy()``: ``binarize()`` silently
   does nothing (it only converts ``StandardTrack`` instances) and
   ``to_pretty_midi()`` / ``write()`` raise ``ValueError: Expect BinaryTrack
   or StandardTrack``. Workaround: :func:`copy_multitrack` (a deep copy that
   keeps the track classes); :func:`multitrack_to_pretty_midi` also accepts
   plain ``Track`` objects.

4. ``Multitrack.set_resolution()`` leaves the tempo and downbeat arrays at the
   old resolution, and it moves each active *cell* instead of each note: when
   the resolution goes up, held notes break into isolated steps with gaps,
   and the roll is cut after its last active step (trailing rests are lost).
   Workaround: :func:`set_resolution` rescales note spans, tempo and
   downbeats and keeps the length; it returns a new multitrack.

5. ``pypianoroll.metrics`` builds its "chroma" by grouping 10 *adjacent*
   semitones (``pianoroll[:, :120].reshape(-1, 12, 10)``), not pitch classes,
   and adds pitches 120..127 into the caller's array in place. Hence
   ``n_pitch_classes_used``, ``in_scale_rate`` (and ``tonal_distance``) are
   wrong; ``in_scale_rate`` also counts its ``root`` from A (C major is
   ``root=3``) and weighs by velocity. ``empty_beat_rate`` returns the rate
   of *non-empty* beats, and ``qualified_note_rate`` raises (its uint8
   ``np.diff`` wraps, so no note end is found). Workaround: the corrected
   :func:`to_chroma`, :func:`n_pitch_classes_used`, :func:`in_scale_rate`,
   :func:`empty_beat_rate` and :func:`qualified_note_rate` below.

6. ``pypianoroll.plot_multitrack(..., mode="blended")`` (and
   ``Multitrack.plot(mode="blended")``) call ``matplotlib.cm.get_cmap``,
   removed in matplotlib 3.9 (``AttributeError``); ``plot_multitrack``'s
   ``axs`` argument has no default, and its ``separate`` mode and
   ``plot_track`` draw on pyplot's global figures. Workaround:
   :func:`plot_multitrack`, which draws with
   :func:`deepaccomp.visualization.plot_roll` (no pyplot state).

7. ``Multitrack.remove_empty()`` keeps the empty tracks and removes the others.
   Workaround: :func:`remove_empty_tracks`.

Everything here returns new objects and leaves its input unchanged.
"""

from __future__ import annotations

import copy
import math
from typing import Optional

import numpy as np
import pretty_midi
import pypianoroll
from pypianoroll import BinaryTrack, Multitrack, StandardTrack, Track

from . import metrics
from .errors import ConfigError, InvalidRollError
from .midi import read_midi, ticks_to_steps
from .representation import note_runs
from .visualization import plot_roll

__all__ = [
    "read_multitrack",
    "multitrack_to_pretty_midi",
    "copy_multitrack",
    "set_resolution",
    "remove_empty_tracks",
    "plot_multitrack",
    "to_chroma",
    "n_pitch_classes_used",
    "in_scale_rate",
    "empty_beat_rate",
    "qualified_note_rate",
]

_N_PITCHES = 128


def _check_resolution(resolution) -> int:
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or resolution < 1:
        raise ConfigError(f"resolution must be a positive integer (steps per quarter note), got {resolution!r}")
    return int(resolution)


# --------------------------------------------------------------------------- reading (defect 2)


def read_multitrack(source, resolution: int = 4) -> Multitrack:
    """Read a MIDI file into a :class:`pypianoroll.Multitrack` (replaces ``pypianoroll.read``).

    Parameters
    ----------
    source : str, os.PathLike, binary file object or pretty_midi.PrettyMIDI
        The MIDI file (a PrettyMIDI object is read, not modified).
    resolution : int
        Time steps per quarter note (4 = 16th notes), whatever the meter.

    Returns
    -------
    pypianoroll.Multitrack
        Step 0 is tick 0 of the file. One ``StandardTrack`` (uint8
        velocities) per instrument, all of the same length: whole quarter
        notes covering the last note end. Notes are placed by rounding their
        start and end ticks to the grid and last at least one step;
        overlapping notes of one pitch keep the highest velocity; drum notes
        mark their onset step only (as pypianoroll does). ``tempo`` is 1-D
        float, the tempo (quarter notes per minute) at each step.
        ``downbeat`` is 1-D bool marking the first step of every bar (4/4
        before the first time-signature event), or ``None`` when the file
        has no time-signature event (as in pypianoroll).

    Raises
    ------
    InputFileError, InvalidMidiError, ConfigError
    """
    resolution = _check_resolution(resolution)
    pm = read_midi(source)
    tpq = pm.resolution  # ticks per quarter note
    tps = tpq / resolution  # ticks per step

    def step_of(ticks):
        return ticks_to_steps(ticks, tps)

    notes = [
        (pm.time_to_tick(n.start), pm.time_to_tick(n.end))
        for inst in pm.instruments
        for n in inst.notes
    ]
    end_tick = max((end for _, end in notes), default=0)
    n_steps = resolution * int(math.ceil(end_tick / tpq))

    tracks = []
    for inst in pm.instruments:
        roll = np.zeros((n_steps, _N_PITCHES), np.uint8)
        for note in inst.notes:
            velocity = min(int(note.velocity), 127)
            if velocity < 1 or not 0 <= note.pitch < _N_PITCHES:
                continue
            on = min(int(step_of(pm.time_to_tick(note.start))), n_steps - 1)
            if inst.is_drum:
                off = on + 1
            else:
                off = max(int(step_of(pm.time_to_tick(note.end))), on + 1)
            cells = roll[on:off, note.pitch]
            np.maximum(cells, velocity, out=cells)
        tracks.append(
            StandardTrack(
                name=str(inst.name), program=int(inst.program), is_drum=bool(inst.is_drum), pianoroll=roll
            )
        )

    step_ticks = np.arange(n_steps) * tps
    change_times, qpms = pm.get_tempo_changes()
    if len(qpms):
        change_ticks = np.array([pm.time_to_tick(t) for t in change_times])
        order = np.argsort(change_ticks, kind="stable")
        change_ticks, qpms = change_ticks[order], np.asarray(qpms, float)[order]
        index = np.clip(np.searchsorted(change_ticks, step_ticks + 1e-9, side="right") - 1, 0, None)
        tempo = qpms[index].astype(float)
    else:  # pragma: no cover - pretty_midi always reports an initial tempo
        tempo = np.full(n_steps, 120.0)

    downbeat = None
    if pm.time_signature_changes:
        downbeat = np.zeros(n_steps, bool)
        signatures = sorted(
            ((pm.time_to_tick(ts.time), ts.numerator, ts.denominator) for ts in pm.time_signature_changes),
            key=lambda s: s[0],
        )
        if signatures[0][0] > 0:
            signatures.insert(0, (0, 4, 4))  # the MIDI default before the first event
        bounds = [s[0] for s in signatures[1:]] + [n_steps * tps]
        for (start, num, den), stop in zip(signatures, bounds):
            bar_ticks = num * tpq * 4 / den
            bar_starts = np.arange(start, stop - 1e-9, bar_ticks) if bar_ticks > 0 else []
            steps = step_of(bar_starts) if len(bar_starts) else np.zeros(0, int)
            downbeat[steps[(steps >= 0) & (steps < n_steps)]] = True

    return Multitrack(resolution=resolution, tempo=tempo, downbeat=downbeat, tracks=tracks)


# --------------------------------------------------------------------------- writing (defects 1, 3)


def _as_writable_track(track: Track) -> Track:
    if isinstance(track, (BinaryTrack, StandardTrack)):
        return track
    roll = np.asarray(track.pianoroll)
    if roll.dtype == np.bool_:
        return BinaryTrack(name=track.name, program=track.program, is_drum=track.is_drum, pianoroll=roll)
    return StandardTrack(
        name=track.name, program=track.program, is_drum=track.is_drum, pianoroll=np.clip(roll, 0, 127)
    )


def _meter_of_bar(n_steps: int, resolution: int) -> Optional[tuple]:
    """(numerator, denominator) of a bar of ``n_steps`` steps, or None."""
    for den in (4, 8, 16):
        num = n_steps * den / (4 * resolution)
        if num >= 1 and float(num).is_integer():
            return int(num), den
    return None


def multitrack_to_pretty_midi(
    multitrack: Multitrack, *, default_tempo: Optional[float] = None, default_velocity: int = 64
) -> pretty_midi.PrettyMIDI:
    """Convert a Multitrack to PrettyMIDI (replaces ``Multitrack.to_pretty_midi``).

    Works whatever the shape of ``multitrack.tempo`` (1-D, or ``(n, 1)`` as
    ``pypianoroll.read`` makes it) and for plain ``Track`` objects (bool
    rolls become binary tracks, others are clipped to velocities 0..127).
    Like pypianoroll, one tempo is written: ``default_tempo``, else the
    harmonic mean of the tempo array, else 120; binary tracks get
    ``default_velocity``. Unlike pypianoroll, the bar lengths of the
    ``downbeat`` array are written as time-signature events (a bar of
    ``4 * resolution`` steps is 4/4, ``3 * resolution`` is 3/4, bars of a
    whole number of 8th notes are n/8), so bar lines survive a round trip;
    the bar length cannot tell 6/8 from 3/4 or 2/2 from 4/4, and the
    denominator 4 is chosen when possible. The input is not modified.
    """
    tempo = None
    if multitrack.tempo is not None:
        tempo = np.asarray(multitrack.tempo, dtype=float).reshape(-1)
        if tempo.size == 0:
            tempo = None
    fixed = Multitrack(
        name=multitrack.name,
        resolution=multitrack.resolution,
        tempo=tempo,
        downbeat=None,
        tracks=[_as_writable_track(t) for t in multitrack.tracks],
    )
    pm = pypianoroll.to_pretty_midi(fixed, default_tempo=default_tempo, default_velocity=default_velocity)

    if multitrack.downbeat is not None:
        steps = np.flatnonzero(np.asarray(multitrack.downbeat).reshape(-1))
        if len(steps) >= 2:
            qpm = float(pm.get_tempo_changes()[1][0])
            step_seconds = 60.0 / qpm / multitrack.resolution
            lengths = np.diff(steps)
            lengths = np.append(lengths, lengths[-1])  # the last bar: as long as the one before
            current = None
            for step, length in zip(steps, lengths):
                meter = _meter_of_bar(int(length), multitrack.resolution)
                if meter is not None and meter != current:
                    pm.time_signature_changes.append(
                        pretty_midi.TimeSignature(meter[0], meter[1], float(step * step_seconds))
                    )
                    current = meter
    return pm


def copy_multitrack(multitrack: Multitrack) -> Multitrack:
    """Deep copy of a Multitrack that keeps ``StandardTrack``/``BinaryTrack`` classes.

    ``Multitrack.copy()`` turns every track into a plain ``Track`` (defect 3).
    """
    return copy.deepcopy(multitrack)


# --------------------------------------------------------------------------- resolution (defect 4)


def _rescale_roll(roll: np.ndarray, old: int, new: int, length: int) -> np.ndarray:
    """Move each note (a run of equal nonzero values of one pitch) to the new grid."""
    out = np.zeros((length,) + roll.shape[1:], roll.dtype)
    if roll.shape[0] == 0 or length == 0:
        return out
    padded = np.zeros((roll.shape[0] + 2,) + roll.shape[1:], roll.dtype)
    padded[1:-1] = roll
    changes = padded[1:] != padded[:-1]  # changes[t]: a new value starts at step t
    for pitch in np.flatnonzero(changes.any(axis=0)):
        bounds = np.flatnonzero(changes[:, pitch])
        new_bounds = np.floor(bounds * new / old + 0.5).astype(int)
        for i in range(len(bounds) - 1):
            value = roll[bounds[i], pitch]
            if not value:
                continue
            start = min(new_bounds[i], length - 1)
            stop = min(max(new_bounds[i + 1], start + 1), length)
            out[start:stop, pitch] = value
    return out


def set_resolution(multitrack: Multitrack, resolution: int) -> Multitrack:
    """Return a copy of ``multitrack`` at ``resolution`` steps per quarter note.

    Replaces ``Multitrack.set_resolution`` (defect 4): every note keeps its
    duration in quarter notes (start and end rounded to the new grid, at
    least one step long), every array keeps its duration (``ceil(n * new /
    old)`` steps), the tempo array is resampled step by step (and made 1-D)
    and downbeats move to the nearest new step. The input is not modified.
    """
    resolution = _check_resolution(resolution)
    old = _check_resolution(multitrack.resolution)

    def new_length(n: int) -> int:
        return -(-n * resolution // old)

    result = copy_multitrack(multitrack)
    result.resolution = resolution
    for track in result.tracks:
        roll = np.asarray(track.pianoroll)
        track.pianoroll = _rescale_roll(roll, old, resolution, new_length(roll.shape[0]))
    if multitrack.tempo is not None:
        tempo = np.asarray(multitrack.tempo, dtype=float).reshape(-1)
        index = (np.arange(new_length(tempo.size)) * old) // resolution
        result.tempo = tempo[index]
    if multitrack.downbeat is not None:
        downbeat = np.asarray(multitrack.downbeat, dtype=bool).reshape(-1)
        n = new_length(downbeat.size)
        steps = np.floor(np.flatnonzero(downbeat) * resolution / old + 0.5).astype(int)
        result.downbeat = np.zeros(n, bool)
        result.downbeat[steps[steps < n]] = True
    return result


def remove_empty_tracks(multitrack: Multitrack) -> Multitrack:
    """Return a copy without the tracks that hold no note (``remove_empty`` does the opposite)."""
    result = copy_multitrack(multitrack)
    result.tracks = [t for t in result.tracks if np.any(t.pianoroll)]
    return result


# --------------------------------------------------------------------------- plotting (defect 6)


def plot_multitrack(multitrack: Multitrack, *, title: Optional[str] = None, ax=None):
    """Plot a Multitrack with :func:`deepaccomp.visualization.plot_roll` (one overlaid axis).

    Replaces ``pypianoroll.plot_multitrack`` / ``Multitrack.plot`` (defect 6).
    The bar length comes from the first two downbeats, else a 4/4 bar.
    Returns the :class:`matplotlib.figure.Figure`.
    """
    n = max((len(t.pianoroll) for t in multitrack.tracks), default=0)
    roll = np.zeros((n, _N_PITCHES, max(len(multitrack.tracks), 1)), bool)
    for k, track in enumerate(multitrack.tracks):
        pianoroll = np.asarray(track.pianoroll)
        roll[: len(pianoroll), : pianoroll.shape[1], k] = pianoroll[:, :_N_PITCHES] > 0
    names = [t.name or f"track {k}" for k, t in enumerate(multitrack.tracks)] or ["(no track)"]
    steps_per_bar = 4 * multitrack.resolution
    if multitrack.downbeat is not None:
        downbeats = np.flatnonzero(np.asarray(multitrack.downbeat).reshape(-1))
        if len(downbeats) >= 2:
            steps_per_bar = int(downbeats[1] - downbeats[0])
    return plot_roll(roll, track_names=names, steps_per_bar=steps_per_bar, title=title, ax=ax)


# --------------------------------------------------------------------------- metrics (defect 5)


def _pianoroll_2d(pianoroll) -> np.ndarray:
    roll = np.asarray(pianoroll)
    if roll.ndim != 2:
        raise InvalidRollError(f"expected a (time, pitch) piano roll, got shape {roll.shape}")
    return roll


def _as_roll3(pianoroll) -> np.ndarray:
    """A pypianoroll ``(time, pitch)`` roll (any dtype, on where != 0) as our bool ``(time, pitch, 1)``."""
    return (_pianoroll_2d(pianoroll) != 0)[..., None]


def to_chroma(pianoroll, *, lowest_pitch: int = 0) -> np.ndarray:
    """Active cells per pitch class at each step: ``(time, 12)`` ints, column 0 = C.

    ``pianoroll`` is ``(time, pitch)``; pitch index ``i`` is MIDI pitch
    ``lowest_pitch + i`` (pypianoroll rolls: 128 pitches, ``lowest_pitch=0``).
    """
    return metrics.chroma(_as_roll3(pianoroll), lowest_pitch=lowest_pitch)[..., 0]


def n_pitch_classes_used(pianoroll, *, lowest_pitch: int = 0) -> int:
    """Number of distinct pitch classes (C, C#, ..., B) that sound at least once."""
    hist = metrics.pitch_class_histogram(_as_roll3(pianoroll), lowest_pitch=lowest_pitch, normalize=False)
    return int(np.count_nonzero(hist[:, 0]))


def in_scale_rate(pianoroll, tonic: int = 0, mode: str = "major", *, lowest_pitch: int = 0) -> float:
    """Fraction of active cells whose pitch class is in the scale; NaN if none is active.

    ``tonic`` is the pitch class of the key note with C = 0 (pypianoroll's
    ``root`` counts from A: its C major is ``root=3``); ``mode`` is
    ``"major"`` or ``"minor"`` (natural minor). Velocities do not weigh.
    Delegates to :func:`deepaccomp.metrics.in_scale_ratio`.
    """
    if mode not in ("major", "minor"):
        raise ConfigError(f"mode must be 'major' or 'minor', got {mode!r}")
    key = metrics.Key(int(tonic) % 12, mode)
    return float(metrics.in_scale_ratio(_as_roll3(pianoroll), key, lowest_pitch=lowest_pitch)[0])


def empty_beat_rate(pianoroll, resolution: int) -> float:
    """Fraction of beats (``resolution`` steps each) in which nothing sounds; NaN if no beat.

    The roll's length must be a whole number of beats. Delegates to
    :func:`deepaccomp.metrics.empty_bar_rate` with a "bar" of one beat.
    """
    roll = _as_roll3(pianoroll)
    resolution = _check_resolution(resolution)
    if roll.shape[0] % resolution:
        raise InvalidRollError(
            f"a roll of {roll.shape[0]} steps is not a whole number of beats of {resolution} steps"
        )
    return float(metrics.empty_bar_rate(roll, steps_per_bar=resolution)[0])


def qualified_note_rate(pianoroll, threshold: int = 2) -> float:
    """Fraction of notes lasting at least ``threshold`` steps; NaN if there is no note.

    A note is a run of consecutive active steps of one pitch
    (:func:`deepaccomp.representation.note_runs`).
    """
    _, _, lengths = note_runs(_pianoroll_2d(pianoroll) != 0)
    if lengths.size == 0:
        return math.nan
    return float(np.count_nonzero(lengths >= threshold) / lengths.size)
