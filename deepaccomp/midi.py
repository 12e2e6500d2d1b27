"""MIDI in and out: MIDI file <-> piano roll ``(time, pitch, tracks)``.

Reading puts notes on a grid of ``steps_per_beat`` steps per quarter note
(4 = 16th notes) computed from the file's own ticks, so tempo changes do not
move notes off the grid. Step 0 of the roll is the file's downbeat at or
before the first note (from its time-signature events), so a pickup lands at
the end of an otherwise empty first bar. :class:`MidiInfo` keeps what is
needed for the way back (tempo map, time and key signatures, the grid).
A file's melody or tracks are read into a piece by :func:`deepaccomp.piece.read_piece`,
built on the functions here; :func:`midi_to_roll` is the 0.1 form of its melody reading.

Writing merges consecutive active steps of a pitch into one held note; a file
written and read back gives the same roll. Pure numpy + pretty_midi.
"""

from __future__ import annotations

import copy
import io
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pretty_midi

from .errors import (
    ConfigError,
    InputFileError,
    InputTooLargeError,
    InvalidMidiError,
    InvalidRollError,
    NoMelodyError,
    brief,
)
from .io_utils import atomic_write_bytes
from .meter import estimate_pickup, lead_in
from .representation import N_MIDI_PITCHES, STEPS_PER_BEAT, as_bool, note_runs

__all__ = [
    "PROGRAM_PRESETS",
    "MELODY_NAME_PATTERN",
    "MAX_MIDI_BYTES",
    "MAX_MIDI_EVENTS",
    "MAX_MELODY_NOTES",
    "MAX_MELODY_BARS",
    "MAX_ROLL_STEPS",
    "max_melody_steps",
    "check_melody_notes",
    "MidiInfo",
    "ticks_to_seconds",
    "seconds_to_ticks",
    "read_midi",
    "pitched_instruments",
    "choose_melody_track",
    "ticks_to_steps",
    "note_steps",
    "notes_to_roll",
    "notes_to_onsets",
    "top_line",
    "check_midi_bytes",
    "check_notes",
    "midi_to_roll",
    "multitrack_midi_to_roll",
    "timing_template",
    "roll_to_notes",
    "hits_to_notes",
    "roll_to_midi",
    "resolve_programs",
    "write_midi",
    "to_midi_bytes",
]

PROGRAM_PRESETS = {
    "choir": (52, 52, 52, 52),
    "piano": (0, 0, 0, 0),
    "strings": (40, 41, 42, 43),  # violin, viola, cello, contrabass
    "organ": (19, 19, 19, 19),  # church organ
    "winds": (73, 68, 71, 70),  # flute, oboe, clarinet, bassoon
    "brass": (56, 60, 57, 58),  # trumpet, french horn, trombone, tuba
}
"""Named General MIDI program sets, one program per SATB track."""

MELODY_NAME_PATTERN = re.compile(r"melod|soprano|lead|vocal|voice|tune|sopran|canto|cantus", re.I)

MAX_MIDI_BYTES = 16 * 1024 * 1024
"""Largest MIDI file read (16 MiB); larger files are refused before they are parsed."""

MAX_MIDI_EVENTS = 500_000
"""Most MIDI events (notes on and off, controllers, meta events...) in one file, each track chunk
counting as one more.

Counted in the raw bytes before the file is parsed: the parser holds every
event as a Python object (hundreds of bytes each) and takes about 15 s per
500,000 events on a slow 2-core machine. A 512-bar piece for 16 instruments
playing 16th notes has about 260,000."""

MAX_MELODY_NOTES = 100_000
"""Most notes in the melody instrument (512 bars of 16th notes are 8,192)."""

MAX_MELODY_BARS = 512
"""Longest melody, in bars of its meter (about 17 minutes of 4/4 at 120 bpm).

The generator's memory and time grow with the length; a note far beyond the
others in a damaged file would otherwise mean hours of accompaniment."""

MAX_BAR_STEPS = 24
"""Longest bar counted by :func:`max_melody_steps`: 6/4 or 3/2 at 4 steps per beat."""

MAX_ROLL_STEPS = MAX_MELODY_BARS * MAX_BAR_STEPS
"""Longest roll :func:`notes_to_roll` builds: 12,288 steps (512 bars of 6/4), whatever the meter.

Damaged files can put a note millions of ticks away; without this bound the
roll would need gigabytes of memory."""


def check_melody_notes(n_notes: int) -> None:
    """Refuse a melody instrument of more than :data:`MAX_MELODY_NOTES` notes, before it is quantised.

    Raises
    ------
    InputTooLargeError
        Too many notes.
    """
    if n_notes > MAX_MELODY_NOTES:
        raise InputTooLargeError(f"the melody holds {n_notes} notes, more than the limit of "
                                 f"{MAX_MELODY_NOTES} (see docs/errors.md)")


def max_melody_steps(steps_per_bar: float) -> int:
    """Longest melody roll accepted, in steps: :data:`MAX_MELODY_BARS` bars of ``steps_per_bar``.

    Parameters
    ----------
    steps_per_bar : float
        Bar length in grid steps of the melody's meter (16 for 4/4 in 16th notes).

    Returns
    -------
    int
        ``MAX_MELODY_BARS * steps_per_bar``, at most :data:`MAX_ROLL_STEPS`
        (bars longer than :data:`MAX_BAR_STEPS` count as that long).
    """
    bar = steps_per_bar if math.isfinite(steps_per_bar) and steps_per_bar >= 1 else 1
    return int(min(MAX_ROLL_STEPS, MAX_MELODY_BARS * round(bar)))


@dataclass
class MidiInfo:
    """A file's time grid as a roll's side-car, for the way back: the 0.1 form of
    :class:`deepaccomp.piece.TimeGrid` (:meth:`~deepaccomp.piece.TimeGrid.midi_info`), which
    :func:`midi_to_roll`, :func:`multitrack_midi_to_roll` and the bar functions take and give.

    Attributes
    ----------
    template : pretty_midi.PrettyMIDI
        The input file without its instruments: resolution, tempo map, time
        and key signatures.
    start_tick : int
        Tick of roll step 0 (a downbeat).
    ticks_per_step : float
        MIDI ticks per roll step.
    n_steps : int
        Length of the roll in steps.
    melody_index : int or None
        Index (in ``pretty_midi.PrettyMIDI.instruments``) of the melody track.
    steps_per_beat : int
        Steps per quarter note.
    """

    template: pretty_midi.PrettyMIDI
    start_tick: int
    ticks_per_step: float
    n_steps: int
    melody_index: int | None = None
    steps_per_beat: int = STEPS_PER_BEAT
    extra: dict = field(default_factory=dict)

    @property
    def tempo(self) -> float:
        """Initial tempo in quarter notes per minute."""
        _, tempi = self.template.get_tempo_changes()
        return float(tempi[0]) if len(tempi) else 120.0

    @property
    def time_signature(self) -> tuple[int, int]:
        """Time signature in force at step 0, as ``(numerator, denominator)``."""
        ts = self.time_signature_at(0)
        return ts

    def time_signature_at(self, step: int) -> tuple[int, int]:
        """``(numerator, denominator)`` in force at roll step ``step`` (4 steps per beat from the roll's start)."""
        tick = self.start_tick + step * self.ticks_per_step
        current = (4, 4)
        for t in sorted(self.template.time_signature_changes, key=lambda t: t.time):
            if self.template.time_to_tick(t.time) <= tick + 1e-6:
                current = (t.numerator, t.denominator)
        return current

    @property
    def time_signatures(self) -> list[tuple[int, int]]:
        """All distinct time signatures of the file (``[(4, 4)]`` if none)."""
        sigs = [(t.numerator, t.denominator) for t in self.template.time_signature_changes]
        return sorted(set(sigs)) or [(4, 4)]

    def step_times(self, n_steps: int | None = None) -> np.ndarray:
        """Start time in seconds of steps ``0..n_steps`` (``n_steps + 1`` values).

        Steps past the end of the file continue at the last tempo.
        """
        n = self.n_steps if n_steps is None else n_steps
        ticks = self.start_tick + np.arange(n + 1) * self.ticks_per_step
        return ticks_to_seconds(self.template, ticks)


def ticks_to_seconds(pm: pretty_midi.PrettyMIDI, ticks) -> np.ndarray:
    """Convert (fractional) ticks to seconds with ``pm``'s tempo map, extrapolating."""
    ticks = np.asarray(ticks, dtype=np.float64)
    change_times, tempi = pm.get_tempo_changes()
    if len(tempi) == 0:
        change_times, tempi = np.array([0.0]), np.array([120.0])
    change_ticks = np.array([pm.time_to_tick(t) for t in change_times], dtype=np.float64)
    sec_per_tick = 60.0 / (np.asarray(tempi, dtype=np.float64) * pm.resolution)
    idx = np.clip(np.searchsorted(change_ticks, ticks, side="right") - 1, 0, None)
    return change_times[idx] + (ticks - change_ticks[idx]) * sec_per_tick[idx]


def seconds_to_ticks(pm: pretty_midi.PrettyMIDI, seconds) -> np.ndarray:
    """Convert times in seconds to (fractional) ticks with ``pm``'s tempo map: the inverse of
    :func:`ticks_to_seconds`, for many times at once (``PrettyMIDI.time_to_tick`` takes one per call)."""
    seconds = np.asarray(seconds, dtype=np.float64)
    change_times, tempi = pm.get_tempo_changes()
    if len(tempi) == 0:
        change_times, tempi = np.array([0.0]), np.array([120.0])
    change_ticks = np.array([pm.time_to_tick(t) for t in change_times], dtype=np.float64)
    idx = np.clip(np.searchsorted(change_times, seconds, side="right") - 1, 0, None)
    return change_ticks[idx] + (seconds - change_times[idx]) * np.asarray(tempi)[idx] * pm.resolution / 60.0


def read_midi(source) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file from a path, bytes, a file object or a ``PrettyMIDI``.

    Raises
    ------
    InputFileError
        The path does not exist, is a directory, is not a regular file or cannot be read.
    InvalidMidiError
        The data is not a valid Standard MIDI File, uses SMPTE timing, or
        (a ``PrettyMIDI``) holds a note MIDI cannot store.
    InputTooLargeError
        More than :data:`MAX_MIDI_BYTES` bytes or :data:`MAX_MIDI_EVENTS` events.
    """
    if isinstance(source, pretty_midi.PrettyMIDI):
        for inst in source.instruments:
            check_notes(inst.notes)
        return source
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = "<bytes>"
        if len(source) > MAX_MIDI_BYTES:
            raise InputTooLargeError(f"{name}: more than {MAX_MIDI_BYTES} bytes, too large for a MIDI file")
        data = bytes(source)
    elif isinstance(source, (str, os.PathLike)):
        name = brief(os.fspath(source))
        data = _read_file_bytes(os.fspath(source))
    elif hasattr(source, "read"):
        name = brief(getattr(source, "name", "<file object>"))
        text_mode = f"{name}: opened in text mode; open MIDI files with mode 'rb'"
        if isinstance(source, io.TextIOBase):
            raise InvalidMidiError(text_mode)
        try:
            data = source.read(MAX_MIDI_BYTES + 1)
        except UnicodeDecodeError as exc:  # a text-mode file object of another kind, decoding the bytes
            raise InvalidMidiError(text_mode) from exc
        except OSError as exc:
            raise InputFileError(f"{name}: cannot be read ({brief(exc.strerror or str(exc))})") from exc
        if isinstance(data, str):
            raise InvalidMidiError(text_mode)
        if len(data) > MAX_MIDI_BYTES:
            raise InputTooLargeError(f"{name}: more than {MAX_MIDI_BYTES} bytes, too large for a MIDI file")
    else:
        raise InvalidMidiError(
            f"cannot read MIDI from a {type(source).__name__}: pass a path, bytes, "
            "a file object or a pretty_midi.PrettyMIDI"
        )
    if len(data) == 0:
        raise InvalidMidiError(f"{name}: the file is empty (0 bytes), not a MIDI file")
    if data[:4] != b"MThd":
        raise InvalidMidiError(
            f"{name}: not a MIDI file (a Standard MIDI File starts with 'MThd'); "
            "export the melody as .mid from your notation program or DAW"
        )
    check_midi_bytes(data, name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pretty_midi.PrettyMIDI(io.BytesIO(data))
    except Exception as exc:  # mido/pretty_midi raise many kinds: report one
        detail = brief(str(exc)) or ("unexpected end of data" if isinstance(exc, EOFError) else "")
        reason = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise InvalidMidiError(f"{name}: the MIDI file is damaged or truncated ({reason})") from exc


def check_midi_bytes(data: bytes, name: str) -> None:
    """Refuse, before parsing, a MIDI file with SMPTE timing or more than :data:`MAX_MIDI_EVENTS` events.

    Parameters
    ----------
    data : bytes
        The file, starting with its ``MThd`` header.
    name : str
        How messages name the file.

    Raises
    ------
    InvalidMidiError
        The header asks for SMPTE (frames per second) timing.
    InputTooLargeError
        The track chunks hold more than :data:`MAX_MIDI_EVENTS` events (each chunk counting as one).

    Notes
    -----
    Events are counted by walking the track chunks (delta time, status,
    length) without decoding them; damaged data ends the walk and is left to
    the parser to report.
    """
    if len(data) >= 14 and data[12] & 0x80:
        raise InvalidMidiError(
            f"{name}: SMPTE timing (frames per second) is not supported; export the file with "
            "musical timing (ticks per quarter note) from your notation program or DAW")
    events, pos, n = 0, 8 + int.from_bytes(data[4:8], "big"), len(data)
    while pos + 8 <= n:
        length = int.from_bytes(data[pos + 4: pos + 8], "big")
        if data[pos: pos + 4] == b"MTrk":  # a track counts as one event too: a million empty ones are costly
            events += 1 + _count_track_events(data, pos + 8, min(n, pos + 8 + length), MAX_MIDI_EVENTS - events)
            if events > MAX_MIDI_EVENTS:
                raise InputTooLargeError(
                    f"{name}: more than {MAX_MIDI_EVENTS} MIDI events, too many for a melody file "
                    "(see the limits in docs/errors.md)")
        pos += 8 + length


def _count_track_events(data: bytes, pos: int, end: int, limit: int) -> int:
    """Events of one track chunk ``data[pos:end]``, counting stops at ``limit``."""
    count, status = 0, 0
    while pos < end and count < limit:
        while pos < end and data[pos] & 0x80:  # delta time: a variable-length quantity
            pos += 1
        pos += 1
        if pos >= end:
            break
        byte = data[pos]
        if byte in (0xFF, 0xF0, 0xF7):  # meta or sysex: skip its data by its length
            pos += 2 if byte == 0xFF else 1
            length = 0
            while pos < end and data[pos] & 0x80:
                length = (length << 7) | (data[pos] & 0x7F)
                pos += 1
            if pos >= end:
                break
            pos += 1 + ((length << 7) | data[pos])
        else:
            if byte & 0x80:
                status, pos = byte, pos + 1
            elif not status:
                break  # data without a status byte: damaged, the parser reports it
            pos += 1 if 0xC0 <= status < 0xE0 else 2
        count += 1
    return count


def _read_file_bytes(path: str) -> bytes:
    shown = brief(path)
    if not os.path.exists(path):
        raise InputFileError(f"{shown}: no such file")
    if os.path.isdir(path):
        raise InputFileError(f"{shown}: is a directory, expected a MIDI file")
    if not os.path.isfile(path):  # a FIFO would block open() until a writer comes; a device never ends
        raise InputFileError(f"{shown}: not a regular file (a pipe, socket or device); give a MIDI file")
    try:
        with open(path, "rb") as fh:
            # bounded read: a huge file, or a device like /dev/zero, must not fill the memory
            data = fh.read(MAX_MIDI_BYTES + 1)
    except PermissionError as exc:
        raise InputFileError(f"{shown}: permission denied; check the file's read permission") from exc
    except OSError as exc:
        raise InputFileError(f"{shown}: cannot be read ({brief(exc.strerror or str(exc))})") from exc
    if len(data) > MAX_MIDI_BYTES:
        raise InputTooLargeError(f"{shown}: more than {MAX_MIDI_BYTES} bytes, too large for a MIDI file")
    return data


def pitched_instruments(pm: pretty_midi.PrettyMIDI) -> list[int]:
    """Indices of the non-drum instruments holding at least one note of positive length."""
    return [
        i
        for i, inst in enumerate(pm.instruments)
        if not inst.is_drum and any(n.end > n.start for n in inst.notes)
    ]


def choose_melody_track(pm: pretty_midi.PrettyMIDI) -> int:
    """Pick the melody instrument of a file.

    Rule: among non-drum instruments with notes, the first whose name looks
    like a melody (melody, soprano, lead, vocal, voice, tune, cantus); else
    the one with the highest mean pitch among those holding at least a
    quarter as many notes as the busiest one (so a few high grace notes do
    not win). Override with ``melody_track=`` in :func:`deepaccomp.piece.read_piece`.

    Raises
    ------
    NoMelodyError
        No instrument holds a pitched note of positive length.
    """
    candidates = pitched_instruments(pm)
    if not candidates:
        if any(inst.is_drum and inst.notes for inst in pm.instruments):
            raise NoMelodyError("the MIDI file holds only drums: no pitched melody to accompany")
        raise NoMelodyError("the MIDI file holds no notes (of positive length) to accompany")
    for i in candidates:
        if MELODY_NAME_PATTERN.search(pm.instruments[i].name or ""):
            return i
    counts = {i: len(pm.instruments[i].notes) for i in candidates}
    busiest = max(counts.values())
    eligible = [i for i in candidates if counts[i] * 4 >= busiest]
    return max(eligible, key=lambda i: np.mean([n.pitch for n in pm.instruments[i].notes]))


def _grid(pm: pretty_midi.PrettyMIDI, first_note_time: float, steps_per_beat: int):
    """Return (start_tick, ticks_per_step): step 0 = the downbeat at or before the first note."""
    if not isinstance(steps_per_beat, (int, np.integer)) or steps_per_beat < 1:
        raise ConfigError(f"steps_per_beat must be a positive integer, got {brief(repr(steps_per_beat))}")
    ticks_per_step = pm.resolution / steps_per_beat
    first_tick = pm.time_to_tick(first_note_time)
    return _downbeat_at_or_before(pm, first_tick), float(ticks_per_step)


def _downbeat_at_or_before(pm: pretty_midi.PrettyMIDI, tick: int) -> int:
    """Tick of the last downbeat at or before ``tick``.

    Bars restart at each time-signature change (as in
    ``pretty_midi.PrettyMIDI.get_downbeats``); before the first one, and in a
    file without any, 4/4 bars run from tick 0 (the MIDI default). Computed
    in ticks from the signature events alone: ``get_downbeats`` walks every
    beat of the file in Python, which takes tens of seconds on a damaged file
    whose last event lies millions of ticks away.
    """
    origin, bar = _bar_at(pm, tick)
    return int(origin + (tick - origin) // bar * bar)


def _bar_at(pm: pretty_midi.PrettyMIDI, tick: int) -> tuple[int, float]:
    """``(tick where the bars in force at tick start, bar length in ticks)``."""
    changes = sorted(
        (pm.time_to_tick(ts.time), ts.numerator, ts.denominator) for ts in pm.time_signature_changes
    )
    origin, numerator, denominator = 0, 4, 4
    for change_tick, num, den in changes:
        if change_tick > tick:
            break
        origin, numerator, denominator = change_tick, num, den
    bar = numerator * pm.resolution * 4 / denominator
    if not (np.isfinite(bar) and bar > 0):
        raise InvalidMidiError(f"time signature {numerator}/{denominator} gives bars of no length")
    return origin, bar


def ticks_to_steps(ticks, ticks_per_step: float) -> np.ndarray:
    """The quantiser: MIDI ticks -> the nearest grid step, ties rounded up (int64 array).

    Every conversion of note times to steps in the library goes through here.
    Ties (a note exactly between two steps) go to the later step, so that the
    result does not depend on whether the step number is even.
    """
    return np.floor(np.asarray(ticks, dtype=np.float64) / ticks_per_step + 0.5).astype(np.int64)


def check_notes(notes) -> None:
    """Refuse notes MIDI cannot hold: a pitch outside 0..127, a time that is negative or not finite.

    Files read from bytes always pass; a ``pretty_midi.PrettyMIDI`` built or
    edited in memory may not (:func:`read_midi` checks those).

    Raises
    ------
    InvalidMidiError
        The first bad note, named by its index.
    """
    for i, n in enumerate(notes):
        pitch, start, end = n.pitch, n.start, n.end
        if isinstance(pitch, bool) or not isinstance(pitch, (int, np.integer)) or not 0 <= pitch <= 127:
            raise InvalidMidiError(f"note {i} has pitch {brief(repr(pitch))}; MIDI pitches are integers 0..127")
        for what, t in (("start", start), ("end", end)):
            if isinstance(t, bool) or not isinstance(t, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(t) or t < 0:
                raise InvalidMidiError(f"note {i} has {what} time {brief(repr(t))}; times are finite seconds >= 0")


def note_steps(notes, pm, start_tick, ticks_per_step) -> np.ndarray:
    """Where ``pretty_midi.Note`` objects fall on a grid, by :func:`ticks_to_steps`.

    Parameters
    ----------
    notes : sequence of pretty_midi.Note
    pm : pretty_midi.PrettyMIDI
        The file whose tempo map turns the notes' seconds into ticks.
    start_tick : int
        Tick of step 0.
    ticks_per_step : float

    Returns
    -------
    np.ndarray of int64, shape (3, n_notes)
        Rows: first step, step after the last (at least first + 1), MIDI pitch;
        notes starting before step 0 are left out.
    """
    if not len(notes):
        return np.zeros((3, 0), dtype=np.int64)
    starts = np.array([pm.time_to_tick(n.start) for n in notes], dtype=np.float64)
    ends = np.array([pm.time_to_tick(n.end) for n in notes], dtype=np.float64)
    on = ticks_to_steps(starts - start_tick, ticks_per_step)
    off = np.maximum(ticks_to_steps(ends - start_tick, ticks_per_step), on + 1)
    pitches = np.array([n.pitch for n in notes], dtype=np.int64)
    keep = on >= 0
    return np.stack([on[keep], off[keep], pitches[keep]])


def notes_to_roll(notes, pm, start_tick, ticks_per_step, n_steps=None,
                  max_steps: int = MAX_ROLL_STEPS) -> np.ndarray:
    """Quantise ``pretty_midi.Note`` objects to a roll ``(time, 128)`` (bool).

    Onsets and offsets snap to the nearest step (:func:`note_steps`); every note lasts at least one step.
    Without ``n_steps``, raises :class:`InputTooLargeError` (an
    :class:`InvalidMidiError`) if the notes span more than ``max_steps``
    steps, before the roll is allocated.
    """
    if not notes:
        return np.zeros((n_steps or 0, N_MIDI_PITCHES), dtype=bool)
    on, off, pitches = note_steps(notes, pm, start_tick, ticks_per_step)
    length = int(off.max()) if n_steps is None and len(off) else (n_steps or 0)
    if n_steps is None and length > max_steps:
        raise InputTooLargeError(
            f"the notes span {length} steps, more than {max_steps} ({MAX_MELODY_BARS} bars of the meter, the "
            "most a melody may have); the file is too long or damaged (a note far beyond the others)"
        )
    # Paint each note with a difference array: +1 at onset, -1 at offset.
    diff = np.zeros((length + 1, N_MIDI_PITCHES), dtype=np.int32)
    on_c, off_c = np.clip(on, 0, length), np.clip(off, 0, length)
    np.add.at(diff, (on_c, pitches), 1)
    np.add.at(diff, (off_c, pitches), -1)
    return np.cumsum(diff, axis=0, dtype=np.int32)[:length] > 0


def notes_to_onsets(notes, pm, start_tick, ticks_per_step, n_steps: int) -> np.ndarray:
    """Where ``pretty_midi.Note`` objects start, ``(n_steps, 128)`` bool, on the grid of :func:`notes_to_roll`.

    A note struck again right after the same pitch ends (or while it sounds)
    has its own onset here, although the roll merges the two; onsets at or
    after ``n_steps`` are left out.
    """
    onsets = np.zeros((n_steps, N_MIDI_PITCHES), dtype=bool)
    on, _, pitches = note_steps(notes, pm, start_tick, ticks_per_step)
    keep = on < n_steps
    onsets[on[keep], pitches[keep]] = True
    return onsets


def top_line(roll: np.ndarray) -> np.ndarray:
    """Reduce a roll ``(time, pitch)`` to its highest sounding pitch at each step."""
    roll = as_bool(roll)
    out = np.zeros_like(roll)
    active = roll.any(axis=1)
    top = roll.shape[1] - 1 - np.argmax(roll[:, ::-1], axis=1)
    out[np.nonzero(active)[0], top[active]] = True
    return out


def midi_to_roll(
    source,
    *,
    melody_track: int | None = None,
    steps_per_beat: int = STEPS_PER_BEAT,
    monophonic: bool = True,
) -> tuple[np.ndarray, MidiInfo]:
    """Read a melody from a MIDI file into a roll ``(time, 128, 1)`` and a :class:`MidiInfo` (0.1 API).

    A compatibility wrapper kept for users: the library reads a melody as a
    :class:`deepaccomp.piece.Piece` (``read_piece(source, tracks="melody")``,
    which keeps the notes' onsets and the time grid together) and calls this
    nowhere. It runs that same reader (the melody's choice, limits, grid and
    top line all live in :mod:`deepaccomp.piece`) and returns the piece's roll
    and its grid as a :class:`MidiInfo`; :mod:`deepaccomp.piece` is imported
    when it is called, as it builds on this module.

    Parameters
    ----------
    source : str, os.PathLike, bytes, file object or pretty_midi.PrettyMIDI
        The MIDI file.
    melody_track : int, optional
        Index of the melody instrument; by default chosen by
        :func:`choose_melody_track`.
    steps_per_beat : int
        Grid resolution in steps per quarter note (4 = 16th notes).
    monophonic : bool
        Reduce the melody to its top line (default; the piece reader always does).

    Returns
    -------
    roll : np.ndarray of bool, shape (time, 128, 1)
        Step 0 is the downbeat at or before the first note: ``piece.roll``.
    info : MidiInfo
        Tempo map, meter, grid and melody index, for :func:`roll_to_midi`:
        ``piece.grid.midi_info(piece.n_steps, melody_index)``.

    Raises
    ------
    InputFileError, InvalidMidiError, NoMelodyError, ConfigError
    """
    from . import piece  # the piece reader builds on this module: imported when called

    melody = piece._read_melody(read_midi(source), piece.DEFAULT_LAYOUT, melody_track, steps_per_beat, monophonic)
    return melody.roll, melody.grid.midi_info(melody.n_steps, melody.sources[0][0])


def multitrack_midi_to_roll(
    source,
    *,
    tracks: Sequence[int] | None = None,
    steps_per_beat: int = STEPS_PER_BEAT,
) -> tuple[np.ndarray, MidiInfo]:
    """Read several instruments into a roll ``(time, 128, len(tracks))``, one track per instrument.

    ``tracks`` lists instrument indices in output order (default: all
    pitched instruments in file order). No reduction to a top line. A wrapper
    kept for users who want a file's instruments as they are; the library reads
    files as pieces of a layout (:func:`deepaccomp.piece.read_piece` with
    ``tracks="all"``: the tracks chosen and merged by the layout, drums as hits,
    onsets and the time grid carried with the roll;
    :func:`deepaccomp.data.folder_piece` for a training file).
    """
    pm = read_midi(source)
    if tracks is None:
        tracks = pitched_instruments(pm)
    if not tracks:
        raise NoMelodyError("the MIDI file holds no pitched notes")
    all_notes = [n for i in tracks for n in pm.instruments[i].notes if n.end > n.start]
    if not all_notes:
        raise NoMelodyError("the selected tracks hold no notes of positive length")
    start_tick, tps = _grid(pm, min(n.start for n in all_notes), steps_per_beat)
    rolls = [
        notes_to_roll([n for n in pm.instruments[i].notes if n.end > n.start], pm, start_tick, tps)
        for i in tracks
    ]
    n = max(r.shape[0] for r in rolls)
    roll = np.zeros((n, N_MIDI_PITCHES, len(rolls)), dtype=bool)
    for k, r in enumerate(rolls):
        roll[: r.shape[0], :, k] = r
    info = MidiInfo(timing_template(pm), start_tick, tps, n, None, steps_per_beat)
    return roll, info


def timing_template(pm: pretty_midi.PrettyMIDI) -> pretty_midi.PrettyMIDI:
    """A copy of ``pm`` without instruments or lyrics: only its timing and signatures."""
    instruments, lyrics, text = pm.instruments, pm.lyrics, pm.text_events
    pm.instruments, pm.lyrics, pm.text_events = [], [], []
    try:
        template = copy.deepcopy(pm)
    finally:
        pm.instruments, pm.lyrics, pm.text_events = instruments, lyrics, text
    return template


def roll_to_notes(roll: np.ndarray, step_times: np.ndarray, *, lowest_pitch: int = 0,
                  velocity: int = 80, onsets: np.ndarray | None = None) -> list[pretty_midi.Note]:
    """Turn a roll ``(time, pitch)`` into notes, merging consecutive active steps.

    ``step_times`` has ``time + 1`` entries: the start of each step and the end of the last.
    ``onsets`` (bool, the roll's shape): where notes start; a run of active steps is
    split at each onset inside it (a re-struck note becomes two notes). Without it
    every run is one note.
    """
    pitches, starts, lengths = note_runs(roll, onsets)
    notes = [pretty_midi.Note(velocity=int(velocity), pitch=int(p + lowest_pitch),
                              start=float(step_times[s]), end=float(step_times[s + n]))
             for p, s, n in zip(pitches, starts, lengths)]
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


def hits_to_notes(roll: np.ndarray, step_times: np.ndarray, *, lowest_pitch: int = 0,
                  velocity: int = 80) -> list[pretty_midi.Note]:
    """Drum hits: one note of one step for every active cell of a roll ``(time, pitch)``.

    Unlike :func:`roll_to_notes`, consecutive active steps of one pitch stay separate strokes.
    ``step_times`` has ``time + 1`` entries: the start of each step and the end of the last.
    """
    steps, pitches = np.nonzero(np.asarray(roll, dtype=bool))
    notes = [pretty_midi.Note(velocity=int(velocity), pitch=int(p + lowest_pitch),
                              start=float(step_times[t]), end=float(step_times[t + 1]))
             for t, p in zip(steps, pitches)]
    notes.sort(key=lambda n: (n.start, n.pitch))
    return notes


def roll_to_midi(roll: np.ndarray, **kw) -> pretty_midi.PrettyMIDI:
    """Write a roll ``(time, pitch, tracks)`` as a multi-instrument MIDI: :func:`deepaccomp.piece.roll_to_midi`
    (the one writer, :func:`deepaccomp.piece.to_pretty_midi`), which takes the same keywords
    (``lowest_pitch``, ``info``, ``programs``, ``track_names``, ``tempo``, ``time_signature``,
    ``velocity``, ``steps_per_beat``)."""
    from . import piece  # the writer needs the layouts, which read through this module

    return piece.roll_to_midi(roll, **kw)


def default_track_names(n_tracks: int) -> list[str]:
    """Deprecated: :func:`deepaccomp.piece.default_track_names` (the names come from the satb layout)."""
    warnings.warn("deepaccomp.midi.default_track_names is deprecated; use deepaccomp.piece.default_track_names",
                  DeprecationWarning, stacklevel=2)
    from . import piece  # the layouts read through this module

    return piece.default_track_names(n_tracks)


def resolve_programs(programs, n_tracks: int) -> list[int]:
    """General MIDI programs for ``n_tracks`` tracks from a preset name or a list."""
    if programs is None:
        programs = "choir"
    if isinstance(programs, str):
        if programs not in PROGRAM_PRESETS:
            raise ConfigError(
                f"unknown instrument preset {brief(repr(programs))}; use one of {sorted(PROGRAM_PRESETS)} "
                "or a list of General MIDI program numbers"
            )
        preset = PROGRAM_PRESETS[programs]
        return [preset[min(i, len(preset) - 1)] for i in range(n_tracks)]
    if not isinstance(programs, (list, tuple, np.ndarray)) or not all(
            isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in programs):
        raise ConfigError(f"programs must be a preset name or a list of General MIDI program numbers "
                          f"(integers 0..127), got {brief(repr(programs))}")
    programs = [int(p) for p in programs]
    if len(programs) != n_tracks:
        raise ConfigError(f"{len(programs)} programs given for {n_tracks} tracks")
    bad = [p for p in programs if not 0 <= p <= 127]
    if bad:
        raise ConfigError(f"General MIDI programs must be 0..127, got {brief(repr(bad))}")
    return programs


def write_midi(pm: pretty_midi.PrettyMIDI, path) -> None:
    """Write ``pm`` to ``path`` atomically (:func:`to_midi_bytes`): a temporary file in the same folder,
    then rename.

    Raises
    ------
    OutputFileError
        The folder does not exist or is not writable, or the disk is full.
    InvalidMidiError
        ``pm`` holds values MIDI cannot store (a pitch or velocity above 127...).
    """
    try:
        data = to_midi_bytes(pm)
    except InvalidMidiError as exc:
        raise InvalidMidiError(f"{brief(os.fspath(path))}: {exc}") from exc.__cause__
    atomic_write_bytes(path, data)


def to_midi_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    """``pm`` as a Standard MIDI File's bytes: what ``pm.write`` writes, byte for byte.

    The notes, programs, control changes, pitch bends, tempi, meters and key
    signatures that the library's own files hold are encoded here, in about a
    ninth of ``pm.write``'s time (it builds, checks and sorts one ``mido``
    message per event, a large part of a studio answer's time); anything else
    (lyrics, text events, a value MIDI cannot hold) goes through ``pm.write``
    itself. Tests compare the two on many files.

    Raises
    ------
    InvalidMidiError
        ``pm`` holds values MIDI cannot store (a pitch or velocity above 127...).
    """
    data = _encode_midi(pm)
    if data is not None:
        return data
    buf = io.BytesIO()
    try:
        pm.write(buf)
    except Exception as exc:  # mido rejects out-of-range pitches, velocities, programs...
        raise InvalidMidiError(f"the MIDI data cannot be encoded ({type(exc).__name__}: {brief(str(exc))})") from exc
    return buf.getvalue()


_EVENT_ORDER = {"set_tempo": 1, "time_signature": 2, "key_signature": 3, "program_change": 6, "pitchwheel": 7,
                "control_change": 8, "note_on": 10}
"""``PrettyMIDI.write``'s order of the events on one tick (times 65,536, plus the values it adds:
:func:`_order`)."""


def _order(kind: str, value: int = 0) -> int:
    """The sort key ``PrettyMIDI.write`` gives an event of ``kind`` on its tick (``value``: what it adds)."""
    return (_EVENT_ORDER[kind] << 16) + value

_KEY_SHARPS = (0, -5, 2, -3, 4, -1, 6, 1, -4, 3, -2, 5, -3, 4, -1, 6, 1, -4, 3, -2, 5, 0, -5, 2)
"""Sharps (negative: flats) of each key number's signature as ``pm.write`` spells it (C, Db, D, ...,
then Cm, C#m, Dm, D#m, ...)."""


def _pm_ticks(pm: pretty_midi.PrettyMIDI, times) -> np.ndarray | None:
    """``[pm.time_to_tick(t) for t in times]`` at once (the same arithmetic); ``None`` without its tick table."""
    table = getattr(pm, "_PrettyMIDI__tick_to_time", None)
    if table is None or not pm._tick_scales:
        return None
    table = np.asarray(table, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if not np.isfinite(times).all():
        return None
    tick = np.searchsorted(table, times, side="left")
    last = tick == len(table)
    inner = np.minimum(tick, len(table) - 1)
    earlier = (tick > 0) & (np.abs(times - table[np.maximum(inner - 1, 0)]) < np.abs(times - table[inner]))
    out = np.where(earlier, tick - 1, tick).astype(np.float64)
    beyond = (len(table) - 1) + (times - table[-1]) / pm._tick_scales[-1][1]
    return np.where(last, np.round(beyond), out).astype(np.int64)


def _encode_midi(pm: pretty_midi.PrettyMIDI) -> bytes | None:
    """:func:`to_midi_bytes`' own encoder; ``None`` where ``pm`` holds what it leaves to ``pm.write``."""
    if pm.lyrics or pm.text_events or not 0 < pm.resolution < 2**15 or len(pm.instruments) + 1 >= 2**15:
        return None
    times = [ts.time for ts in pm.time_signature_changes] + [ks.time for ks in pm.key_signature_changes]
    for inst in pm.instruments:
        times += [t for n in inst.notes for t in (n.start, n.end)]
        times += [b.time for b in inst.pitch_bends] + [c.time for c in inst.control_changes]
    ticks = _pm_ticks(pm, times)
    if ticks is None:
        return None
    ticks = iter(ticks.tolist())
    try:
        tracks = [_timing_track(pm, ticks)]
        channels = [c for c in range(16) if c != 9]
        for n, inst in enumerate(pm.instruments):
            tracks.append(_instrument_track(inst, 9 if inst.is_drum else channels[n % len(channels)], ticks,
                                            getattr(pm, "_charset", "latin1")))
    except (ValueError, TypeError, IndexError, OverflowError, LookupError):
        return None  # a value MIDI cannot hold: pm.write says which
    out = bytearray(b"MThd" + (6).to_bytes(4, "big") + (1).to_bytes(2, "big") + len(tracks).to_bytes(2, "big")
                    + int(pm.resolution).to_bytes(2, "big"))
    for events in tracks:
        out += _track_chunk(events)
    return bytes(out)


def _byte(value) -> int:
    value = int(value)
    if not 0 <= value <= 127:
        raise ValueError("data byte out of range")
    return value


def _timing_track(pm, ticks) -> list:
    """``(tick, order, bytes, channel message?)`` of the tempo, meter and key track, sorted as ``pm.write`` sorts."""
    events = []
    if not pm.time_signature_changes or min(ts.time for ts in pm.time_signature_changes) > 0.0:
        events.append((0, _order("time_signature"), b"\xff\x58\x04\x04\x02\x18\x08", False))
    for tick, scale in pm._tick_scales:
        tempo = int(6e7 / (60.0 / (scale * pm.resolution)))
        if not 0 <= tempo <= 0xFFFFFF:
            raise ValueError("tempo out of range")
        events.append((int(tick), _order("set_tempo"), b"\xff\x51\x03" + tempo.to_bytes(3, "big"), False))
    for ts in pm.time_signature_changes:
        if ts.denominator & (ts.denominator - 1):
            raise ValueError("a meter's denominator must be a power of 2")
        meter = bytes([ts.numerator, int(math.log(ts.denominator, 2)), 24, 8])  # bytes() refuses values over 255
        events.append((next(ticks), _order("time_signature"), b"\xff\x58\x04" + meter, False))
    for ks in pm.key_signature_changes:
        sharps, minor = _KEY_SHARPS[ks.key_number], ks.key_number >= 12
        events.append((next(ticks), _order("key_signature"), bytes([0xFF, 0x59, 2, sharps & 0xFF, int(minor)]), False))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def _instrument_track(inst, channel: int, ticks, charset: str) -> list:
    """An instrument's events as :func:`_timing_track`'s, its name first."""
    head = []
    if inst.name:
        name = inst.name.encode(charset)
        head.append((0, -1, b"\xff\x03" + _variable_int(len(name)) + name, False))
    events = [(0, _order("program_change"), bytes([0xC0 | channel, _byte(inst.program)]), True)]
    for note in inst.notes:
        pitch, velocity = _byte(note.pitch), _byte(note.velocity)
        events.append((next(ticks), _order("note_on", (pitch << 8) + velocity), bytes([0x90 | channel, pitch, velocity]),
                       True))
        events.append((next(ticks), _order("note_on", pitch << 8), bytes([0x90 | channel, pitch, 0]), True))
    for bend in inst.pitch_bends:
        value = int(bend.pitch) + 8192
        if not 0 <= value < 16384:
            raise ValueError("pitch bend out of range")
        events.append((next(ticks), _order("pitchwheel", int(bend.pitch)),
                       bytes([0xE0 | channel, value & 0x7F, value >> 7]), True))
    for cc in inst.control_changes:
        number, value = _byte(cc.number), _byte(cc.value)
        events.append((next(ticks), _order("control_change", (number << 8) + value),
                       bytes([0xB0 | channel, number, value]), True))
    events.sort(key=lambda e: (e[0], e[1]))  # stable, as pm.write's sort; its note-off swap never applies then
    return head + events


def _track_chunk(events) -> bytes:
    """One ``MTrk`` chunk as mido writes it: delta times, running status for channel messages, and the
    end of track one tick after the last event."""
    data = bytearray()
    last_tick, status = 0, None
    for tick, _, message, channel in events:
        if tick < last_tick:
            raise ValueError("negative delta")
        data += _variable_int(tick - last_tick)
        last_tick = tick
        if channel and message[0] == status:
            data += message[1:]
        else:
            data += message
        status = message[0] if channel else None
    data += _variable_int(1 if events else 0) + b"\xff\x2f\x00"
    return b"MTrk" + len(data).to_bytes(4, "big") + bytes(data)


def _variable_int(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


# ---------------------------------------------------------------- bar lines of the melody
ESTIMATED_METERS = ((4, 4), (3, 4))
"""Meters in which a melody without bar evidence gets its pickup estimated (:func:`bar_alignment`)."""


@dataclass(frozen=True)
class BarAlignment:
    """Where the bars of a melody roll start, and how to put them on the model's grid.

    Attributes
    ----------
    offset : int
        Silent steps to put before roll step 0 (:func:`deepaccomp.meter.add_lead_in`)
        so that every downbeat falls on a multiple of ``steps_per_bar``.
    pickup : int
        Steps from the first note to the first downbeat (0: the first note is a downbeat).
    steps_per_bar : int
        Bar length in steps of the meter the alignment refers to.
    source : str
        ``"pickup"`` (the user's override), ``"file"`` (the file's own bar
        evidence) or ``"estimate"`` (:func:`deepaccomp.meter.estimate_pickup`).
    """

    offset: int
    pickup: int
    steps_per_bar: int
    source: str


def _bar_steps(numerator: int, denominator: int, steps_per_beat: int) -> int:
    """Bar length in steps of ``numerator/denominator`` with ``steps_per_beat`` steps per quarter note.

    Rounded to a whole number of steps, at least 1 (a bar off the grid, such
    as 7/32 in 16th steps, cannot be aligned exactly anyway).
    """
    return max(1, int(round(numerator * steps_per_beat * 4 / denominator)))


def _signature_steps(info: MidiInfo) -> list[tuple[float, int, int]]:
    """``[(roll step, numerator, denominator)]`` of the file's time-signature events, by time."""
    pm = info.template
    events = sorted(pm.time_signature_changes, key=lambda t: t.time)
    return [((pm.time_to_tick(t.time) - info.start_tick) / info.ticks_per_step, t.numerator, t.denominator)
            for t in events]


def _first_step(roll) -> int:
    roll = np.asarray(roll)
    if roll.ndim not in (2, 3):
        raise InvalidRollError(f"expected a roll (time, pitch) or (time, pitch, tracks), got shape {roll.shape}")
    active = np.nonzero(roll.reshape(roll.shape[0], -1).any(axis=1))[0]
    if len(active) == 0:
        raise InvalidRollError("the roll holds no note: no bar lines to find")
    return int(active[0])


def has_bar_evidence(roll, info: MidiInfo) -> bool:
    """Does the file itself say where the melody's bars start?

    Yes (trust the file) when any of these holds: the first note comes after
    the start of the file (a leading rest, so the file's grid places it);
    the file has several distinct time signatures (e.g. a partial first bar
    written as its own signature); a signature event starts bars off the
    grid running from tick 0; the only meter is other than 4/4 or 3/4
    (:data:`ESTIMATED_METERS`). No when the first note is at time 0 under a
    single 4/4 or 3/4 (or no signature: the MIDI default 4/4): then the first
    note is a downbeat only by default, and the pickup should be estimated.

    Parameters
    ----------
    roll : np.ndarray, shape (time, pitch) or (time, pitch, tracks)
        The roll :func:`midi_to_roll` read, with ``info``.
    info : MidiInfo

    Returns
    -------
    bool
        True: align by the file (:func:`bar_alignment` source ``"file"``);
        False: estimate the pickup.

    Raises
    ------
    InvalidRollError
        An empty or misshapen roll.
    """
    if info.start_tick > 0 or _first_step(roll) > 0:
        return True
    events = _signature_steps(info)
    meters = {(num, den) for _, num, den in events} or {(4, 4)}
    if len(meters) > 1 or not meters <= set(ESTIMATED_METERS):
        return True
    bar = _bar_steps(*next(iter(meters)), info.steps_per_beat)
    return any(step > 0 and step % bar for step, _, _ in events)


def _file_anchor(info: MidiInfo) -> tuple[int, int]:
    """``(step of the first full bar's downbeat, its bar length)`` from the file's signatures.

    Roll step 0 is a downbeat of the file. When the bar starting there is cut
    short by a change to another meter (a pickup bar written as, say, 1/4
    before 4/4), the first full bar starts at that change.
    """
    events = _signature_steps(info)
    _, num, den = ([e for e in events if e[0] <= 1e-6] or [(0.0, 4, 4)])[-1]
    bar = _bar_steps(num, den, info.steps_per_beat)
    for step, n2, d2 in events:
        if 1e-6 < step <= bar + 1e-6 and (n2, d2) != (num, den):
            new_bar = _bar_steps(n2, d2, info.steps_per_beat)
            if new_bar > step:
                return int(round(step)), new_bar
            break
    return 0, bar


def _pickup_steps(pickup, steps_per_beat: int, steps_per_bar: int) -> int:
    """A pickup given in quarter-note beats -> steps, checked."""
    if isinstance(pickup, bool) or not isinstance(pickup, (int, float, np.integer, np.floating)):
        raise ConfigError(f"pickup must be a number of beats, got {brief(repr(pickup))}")
    steps = float(pickup) * steps_per_beat
    if not np.isfinite(steps) or not steps.is_integer() or not 0 <= steps < steps_per_bar:
        raise ConfigError(
            f"pickup={brief(repr(pickup))} beats must be a whole number of {steps_per_beat}-per-beat steps in "
            f"[0, {steps_per_bar / steps_per_beat:g}) beats (less than one bar)")
    return int(steps)


def bar_alignment(roll, info: MidiInfo, pickup=None, estimate: bool = True) -> BarAlignment:
    """Decide where the bars of a melody start: the user's ``pickup``, else the file, else an estimate.

    Parameters
    ----------
    roll : np.ndarray, shape (time, pitch) or (time, pitch, 1)
        The melody as :func:`midi_to_roll` read it (step 0 = the file's
        downbeat at or before the first note).
    info : MidiInfo
        From the same :func:`midi_to_roll` call.
    pickup : float, optional
        The user's override, in quarter-note beats from the first note to the
        first downbeat (0: the first note is a downbeat; 1: a one-beat upbeat;
        0.5: an eighth-note upbeat). Must be a whole number of steps and less
        than a bar.
    estimate : bool
        Estimate the pickup of a melody without bar evidence (:func:`has_bar_evidence`); False takes
        the file's bars as they are (``generation.estimate_pickup``: a DAW's export starts at bar 1).

    Returns
    -------
    BarAlignment
        ``offset`` is what to pass to :func:`deepaccomp.meter.add_lead_in`
        before generating and to :func:`deepaccomp.meter.remove_lead_in`
        after it.

    Raises
    ------
    ConfigError
        A ``pickup`` that is negative, a bar or longer, or off the grid.
    InvalidRollError
        An empty roll.
    """
    first = _first_step(roll)
    anchor, bar = _file_anchor(info)
    if pickup is not None:
        steps = _pickup_steps(pickup, info.steps_per_beat, bar)
        return BarAlignment(lead_in(first + steps, bar), steps, bar, "pickup")
    if not estimate or has_bar_evidence(roll, info):
        offset = lead_in(anchor, bar)
        return BarAlignment(offset, lead_in(offset + first, bar), bar, "file")
    melody = np.asarray(roll)[first:]
    steps = estimate_pickup(melody, bar, info.steps_per_beat)
    return BarAlignment(lead_in(first + steps, bar), steps, bar, "estimate")


def bar_offset(roll, info: MidiInfo, pickup=None) -> int:
    """Silent steps to put before the roll so its downbeats fall on whole bars: ``bar_alignment(...).offset``."""
    return bar_alignment(roll, info, pickup).offset
