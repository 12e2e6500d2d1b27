"""The POP909 reader: pop songs arranged for piano, on the grid of their annotated beats.

POP909 (Wang et al., ISMIR 2020, MIT License) holds, per song folder ``NNN/``,
``NNN.mid`` (tracks MELODY, BRIDGE and PIANO, played, not quantised, time
signatures unreliable), ``beat_midi.txt`` (one line per beat: time in seconds,
a flag every 2 beats, a downbeat flag) and ``key_audio.txt`` (start, end, key).
docs/pop909.md gives the measurements behind every rule here:

* **Grid**: each note's start and end are mapped through the annotated beats,
  piecewise linear between beats, :data:`STEPS_PER_BEAT` steps per beat
  (:func:`beat_steps`), then rounded to the nearest step; the last beat lasts
  as long as the one before it. A note starting before the first beat or
  after the end of the last is dropped and counted. Any tempo map works: the
  grid follows the beats, not the file's tempo events.
* **Grid alignment**: the share of onsets within :data:`GRID_TOLERANCE` of a
  step; a song below :data:`MIN_GRID_SHARE` (a triplet feel) is skipped.
* **Bars** start at the downbeats. A song whose commonest bar is not
  :data:`BEATS_PER_BAR` beats (triple meter) is skipped. In the others, every
  maximal run of 4-beat bars under one annotated key is a **stretch**, stored as
  its own piece of 16-step bars (the library's phrases are cut on 16-step
  bars); irregular bars (2, 3, 5, 6, 7 beats) and the beats before the first
  downbeat are left out, and counted.
* **Key**: each stretch is transposed by the shift that takes its annotated key
  (``key_audio.txt``) to C major / A minor; a key change starts a new stretch.
* **Tracks** (the ``pop`` layout): the melody as its top line
  (:func:`deepaccomp.midi.top_line`), the piano's lowest note per step below
  :data:`BASS_SPLIT` as the bass, the rest of the piano as the piano; BRIDGE is
  left out. The piano's notes are key-up lengths (the sustain pedal is not
  applied) and velocities are not kept (the roll is boolean).
* **Onsets**: every note's own start step is kept (a re-struck note stays two notes).
* **Split** by song number: :func:`split_of_song`.

Every song that cannot be used is skipped with its reason; the build never stops for one.
"""

from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree

import numpy as np
import pretty_midi

from .data import SPLITS, Dataset, _assemble, _run_jobs, check_workers
from .errors import DatasetError, DeepAccompError, brief
from .io_utils import FileTooLargeError, NotRegularFileError, read_bounded
from .layout import get_layout, layout_ref
from .metrics import NO_CHORD, Key, estimate_key
from .midi import MAX_ROLL_STEPS, read_midi, top_line
from .representation import N_MIDI_PITCHES, STEPS_PER_BAR, STEPS_PER_BEAT, run_starts, transpose_roll

__all__ = ["MAX_BEAT_FILE_BYTES", "MAX_KEY_FILE_BYTES", "MAX_BEATS", "MAX_KEY_LINES", "MAX_INDEX_BYTES",
           "GRID_TOLERANCE", "MIN_GRID_SHARE", "MAX_TRIPLET_SHARE", "BEATS_PER_BAR", "BASS_SPLIT", "SPLIT_RULE",
           "POP909_TRACKS", "Beats", "read_beats", "read_keys", "read_index", "beat_steps", "split_of_song",
           "song_number", "song_folders", "SongNotes", "read_song_notes", "split_bass", "song_rolls", "stretches",
           "SongReport", "pop909_song",
           "sustain_extension", "restrike_stats", "build_pop909", "POP909_LAYOUT",
           "MAX_CHORD_FILE_BYTES", "MAJOR_CHORDS", "MINOR_CHORDS", "read_chords", "chord_code", "beat_chords"]

POP909_LAYOUT = "pop"
"""The layout a POP909 build gives (:data:`deepaccomp.layout.LAYOUTS`)."""

MAX_BEAT_FILE_BYTES = 512 * 1024
"""Largest ``beat_midi.txt`` read (the largest of POP909's is 17.7 KB, 250/)."""

MAX_KEY_FILE_BYTES = 64 * 1024
"""Largest ``key_audio.txt`` read (POP909's have 1-5 lines of about 40 bytes)."""

MAX_BEATS = MAX_ROLL_STEPS // STEPS_PER_BEAT
"""Most beats of a song: 3,072, the longest roll the library builds (POP909's longest song has about 800)."""

MAX_KEY_LINES = 1000
"""Most key segments of a song."""

MAX_CHORD_FILE_BYTES = 256 * 1024
"""Largest ``chord_midi.txt`` read (the largest of POP909's is 8.3 KB, 043/)."""

MAJOR_CHORDS = frozenset({"maj", "maj7", "7", "maj6", "6", "9", "maj9"})
"""Chord qualities (Harte syntax, before any ``/bass``) read as a major triad by :func:`chord_code`."""

MINOR_CHORDS = frozenset({"min", "min7", "min6", "minmaj7", "min9"})
"""Chord qualities read as a minor triad by :func:`chord_code`; any other (sus2, sus4, sus4(b7), dim,
hdim7, dim7, aug) has no major/minor reading and is left out of the chord accuracy."""

MAX_INDEX_BYTES = 4 * 1024 ** 2
"""Largest ``index.xlsx`` read, on disk and its sheet decompressed (POP909's: 44 KB, its sheet about 200 KB)."""

GRID_TOLERANCE = 0.125
"""An onset is on the grid when it lies within this many steps (an eighth of a 16th, a 128th note) of a
step, after the mapping through the beats; on a triplet eighth when within as many steps of a third or
two thirds of a beat (and not on the grid)."""

MIN_GRID_SHARE = 0.5
"""A song with fewer of its onsets on the grid than this is skipped as off the grid (its notes do not
follow its annotated beats; docs/pop909.md)."""

MAX_TRIPLET_SHARE = 0.1
"""A song with at least this share of its onsets on triplet eighths (or that POP909's index.xlsx marks
with 3 quavers per beat) has a triplet feel and is skipped: the songs index.xlsx marks so have 0.14-0.54,
the others at most 0.15, all but 3 below 0.1 (docs/pop909.md)."""

BEATS_PER_BAR = 4
"""Beats of the bars kept (16 steps); a song whose commonest bar is another length is skipped."""

BASS_SPLIT = 55
"""MIDI pitch (G3): the piano's lowest sounding note at a step, if below this, is the bass track's."""

SPLIT_RULE = "song number % 10 == 0: test; % 10 == 5: valid; otherwise train"
"""How songs are split (recorded in the dataset's info)."""

POP909_TRACKS = ("MELODY", "BRIDGE", "PIANO")
"""Instrument names of a POP909 file."""


# ------------------------------------------------------------------------------------------ bounded reading
def _read_text(path, limit: int, what: str, limit_name: str) -> str:
    """A small text file read bounded: a regular file of at most ``limit`` bytes (the constant
    ``limit_name``), UTF-8 (or a :class:`DatasetError` saying what is wrong with it)."""
    shown = brief(os.fspath(path))
    try:
        raw = read_bounded(path, limit)
    except FileNotFoundError:
        raise DatasetError(f"no {what}") from None
    except NotRegularFileError:
        raise DatasetError(f"{what} is not a regular file ({shown})") from None
    except FileTooLargeError:
        raise DatasetError(f"{what} is larger than {limit:,} bytes (deepaccomp.pop909.{limit_name}); not a POP909 "
                           "file: replace it with the song's own") from None
    except OSError as exc:
        raise DatasetError(f"{what} cannot be read ({brief(exc.strerror or str(exc))})") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetError(f"{what} is not text (not UTF-8)") from None


def _numbers(line: str, count: int, what: str, number: int) -> list:
    parts = line.split()
    try:
        values = [float(p) for p in parts[:count]]
    except ValueError:
        values = []
    if len(parts) != count or len(values) != count or not all(np.isfinite(values)):
        raise DatasetError(f"{what} line {number} is not {count} numbers: {brief(repr(line))}")
    return values


@dataclass(frozen=True)
class Beats:
    """A song's annotated beats.

    Attributes
    ----------
    times : np.ndarray of float, shape (n,)
        Start of every beat in seconds, strictly increasing.
    downbeat : np.ndarray of bool, shape (n,)
        Which beats start a bar.
    """

    times: np.ndarray
    downbeat: np.ndarray

    @property
    def bars(self) -> np.ndarray:
        """``(n_bars, 2)``: first beat and number of beats of each bar (from each downbeat to the next;
        the last to the end of the beats)."""
        starts = np.nonzero(self.downbeat)[0]
        ends = np.r_[starts[1:], len(self.times)]
        return np.stack([starts, ends - starts], axis=1)

    @property
    def meter(self) -> int:
        """Beats of the commonest bar (the longer one on a tie)."""
        lengths = self.bars[:, 1]
        values, counts = np.unique(lengths, return_counts=True)
        return int(values[counts == counts.max()].max())


def read_beats(path) -> Beats:
    """Read a ``beat_midi.txt``: lines ``time flag downbeat`` (seconds, 0/1, 0/1), bounded.

    Raises
    ------
    DatasetError
        Saying what is wrong: missing, too large (:data:`MAX_BEAT_FILE_BYTES`), more than
        :data:`MAX_BEATS` lines, a line that is not three numbers, flags other than 0/1,
        times not increasing, fewer than two beats or no downbeat.
    """
    what = "beat file (beat_midi.txt)"
    lines = [ln for ln in _read_text(path, MAX_BEAT_FILE_BYTES, what, "MAX_BEAT_FILE_BYTES").splitlines() if ln.strip()]
    if len(lines) > MAX_BEATS:
        raise DatasetError(f"{what} has {len(lines):,} beats, more than {MAX_BEATS:,} "
                           "(deepaccomp.pop909.MAX_BEATS)")
    if len(lines) < 2:
        raise DatasetError(f"{what} has {len(lines)} beats; a song needs at least two")
    rows = np.array([_numbers(ln, 3, what, i + 1) for i, ln in enumerate(lines)])
    times, flags = rows[:, 0], rows[:, 1:]
    if not np.isin(flags, (0.0, 1.0)).all():
        raise DatasetError(f"{what}: the second and third columns must be 0 or 1")
    bad = np.nonzero(np.diff(times) <= 0)[0]
    if len(bad) or times[0] < 0:
        at = int(bad[0]) + 2 if len(bad) else 1
        raise DatasetError(f"{what}: beat times must start at 0 s or later and increase (line {at})")
    downbeat = flags[:, 1] == 1.0
    if not downbeat.any():
        raise DatasetError(f"{what} marks no downbeat (third column)")
    return Beats(times, downbeat)


def read_keys(path) -> list:
    """Read a ``key_audio.txt``: lines ``start end key`` (seconds, seconds, e.g. ``Gb:maj``), bounded.

    Returns
    -------
    list of (float, float, deepaccomp.metrics.Key)

    Raises
    ------
    DatasetError
        Missing, too large (:data:`MAX_KEY_FILE_BYTES`, :data:`MAX_KEY_LINES`), empty, or a line
        that is not two times and a key.
    """
    what = "key file (key_audio.txt)"
    lines = [ln for ln in _read_text(path, MAX_KEY_FILE_BYTES, what, "MAX_KEY_FILE_BYTES").splitlines() if ln.strip()]
    if len(lines) > MAX_KEY_LINES:
        raise DatasetError(f"{what} has {len(lines):,} lines, more than {MAX_KEY_LINES:,} "
                           "(deepaccomp.pop909.MAX_KEY_LINES)")
    if not lines:
        raise DatasetError(f"{what} is empty")
    keys = []
    for i, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != 3:
            raise DatasetError(f"{what} line {i} is not 'start end key': {brief(repr(line))}")
        start, end = _numbers(" ".join(parts[:2]), 2, what, i)
        try:
            key = Key.parse(parts[2].replace(":", " "))
        except DeepAccompError:
            raise DatasetError(f"{what} line {i}: unknown key {brief(repr(parts[2]))}") from None
        keys.append((start, end, key))
    return keys


def read_chords(path) -> list:
    """Read a ``chord_midi.txt``: lines ``start end label`` (seconds, seconds, a Harte label such as
    ``C#:maj``, ``F:min/b3``, ``G:sus4(b7)`` or ``N``), bounded by :data:`MAX_CHORD_FILE_BYTES`.

    Returns
    -------
    list of (float, float, str)
        The segments in file order.

    Raises
    ------
    DatasetError
        Missing, too large, empty, or a line that is not two times and a chord label
        (:func:`chord_code` reads every label).
    """
    what = "chord file (chord_midi.txt)"
    text = _read_text(path, MAX_CHORD_FILE_BYTES, what, "MAX_CHORD_FILE_BYTES")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        raise DatasetError(f"{what} is empty")
    out = []
    for i, line in enumerate(lines, start=1):
        parts = line.split()
        if len(parts) != 3:
            raise DatasetError(f"{what} line {i} is not 'start end chord': {brief(repr(line))}")
        start, end = _numbers(" ".join(parts[:2]), 2, what, i)
        try:
            chord_code(parts[2])
        except DatasetError as exc:
            raise DatasetError(f"{what} line {i}: {exc}") from None
        out.append((start, end, parts[2]))
    return out


def chord_code(label: str) -> int:
    """A chord label reduced to root and major/minor: ``2 * root + quality`` (0 major, 1 minor), the
    code of :func:`deepaccomp.metrics.chord_accuracy`.

    The root is the label's letter and accidentals (``#``, ``b``); the quality is the text after
    ``:`` up to any ``/`` (an inversion keeps its root): :data:`MAJOR_CHORDS` give major,
    :data:`MINOR_CHORDS` minor (a label without ``:`` is major), anything else and ``N`` give
    :data:`deepaccomp.metrics.NO_CHORD` (-1).

    Raises
    ------
    DatasetError
        A root that is not a note name.
    """
    if label.strip() in ("N", "X"):
        return NO_CHORD
    root, _, quality = label.strip().partition(":")
    quality = quality.split("/")[0] or "maj"
    m = re.fullmatch(r"([A-G])([#b]*)", root)
    if m is None:
        raise DatasetError(f"unknown chord {brief(repr(label))} (a root A-G, then ':' and a quality, or N)")
    pc = ("C D EF G A B".index(m.group(1)) + m.group(2).count("#") - m.group(2).count("b")) % 12
    if quality in MAJOR_CHORDS:
        return 2 * pc
    return 2 * pc + 1 if quality in MINOR_CHORDS else NO_CHORD


def beat_chords(chords: list, beats: Beats) -> np.ndarray:
    """The chord of every annotated beat: the segment sounding at the beat's middle.

    Parameters
    ----------
    chords : list of (float, float, str)
        :func:`read_chords`' segments (seconds).
    beats : Beats
        The song's beats; the last beat lasts as long as the one before it (:func:`beat_steps`).

    Returns
    -------
    np.ndarray of int64, shape (n_beats,)
        :func:`chord_code` per beat; -1 where no segment covers the middle, where it is ``N``, or
        where the chord has no major/minor reading. Where segments overlap, the one starting last wins.
    """
    t = beats.times
    ends = np.r_[t[1:], 2 * t[-1] - t[-2]]
    middle = (t + ends) / 2
    out = np.full(len(t), NO_CHORD, dtype=np.int64)
    for start, end, label in sorted(chords, key=lambda c: c[0]):
        out[(middle >= start) & (middle < end)] = chord_code(label)
    return out


_CELL = re.compile(r"([A-Z]+)(\d+)\Z")


def read_index(path) -> dict:
    """POP909's ``index.xlsx`` (a zip of XML; no spreadsheet library needed), bounded by :data:`MAX_INDEX_BYTES`.

    Returns
    -------
    dict
        ``{song: (beats_per_measure, quavers_per_beat)}`` (``song`` as written, e.g. ``"001"``;
        POP909 counts 2 beats per measure for 4/4 and 3 for triple meter, 3 quavers per beat for a
        triplet feel). ``{}`` when the file is absent.

    Raises
    ------
    DatasetError
        A file that is too large or not the index.
    """
    shown = brief(os.fspath(path))
    if not os.path.exists(path):
        return {}
    if not os.path.isfile(path) or os.path.getsize(path) > MAX_INDEX_BYTES:
        raise DatasetError(f"{shown}: not a regular file of at most {MAX_INDEX_BYTES:,} bytes "
                           "(deepaccomp.pop909.MAX_INDEX_BYTES)")
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("xl/worksheets/sheet1.xml")
            if info.file_size > MAX_INDEX_BYTES:
                raise DatasetError(f"{shown}: its sheet is {info.file_size:,} bytes decompressed, more than "
                                   f"{MAX_INDEX_BYTES:,} (deepaccomp.pop909.MAX_INDEX_BYTES)")
            root = ElementTree.fromstring(zf.read(info))
    except DatasetError:
        raise
    except Exception as exc:  # zip, XML: one kind of report
        raise DatasetError(f"{shown}: not POP909's index.xlsx ({type(exc).__name__}: {brief(str(exc))})") from None
    return _index_rows(root, shown)


def _index_rows(root, shown: str) -> dict:
    ns = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
    rows = []
    for row in root.iter(f"{ns}row"):
        cells = {}
        for c in row.iter(f"{ns}c"):
            m = _CELL.match(c.get("r", ""))
            if m:
                cells[m.group(1)] = "".join(t.text or "" for t in c.iter(f"{ns}t")) or (
                    c.findtext(f"{ns}v") or "")
        rows.append(cells)
    if not rows or rows[0].get("E") != "num_beats_per_measure" or rows[0].get("F") != "num_quavers_per_beat":
        raise DatasetError(f"{shown}: not POP909's index.xlsx (no num_beats_per_measure, num_quavers_per_beat)")
    out = {}
    for cells in rows[1:]:
        try:
            out[cells["A"].strip()] = (int(float(cells["E"])), int(float(cells["F"])))
        except (KeyError, ValueError):
            continue
    return out


# ------------------------------------------------------------------------------------------ the grid
def beat_steps(seconds, beats: Beats) -> np.ndarray:
    """Times in seconds -> steps of the beat grid (float): beat ``i`` starts at step ``4 i``, linear
    between beats, the last beat as long as the one before it; ``nan`` before the first beat or
    after the end of the last."""
    t = beats.times
    ends = np.r_[t, 2 * t[-1] - t[-2]]
    steps = np.arange(len(ends), dtype=np.float64) * STEPS_PER_BEAT
    seconds = np.asarray(seconds, dtype=np.float64)
    out = np.interp(seconds, ends, steps)
    return np.where((seconds < ends[0]) | (seconds > ends[-1]), np.nan, out)


def song_number(name: str) -> int | None:
    """The number of a song folder named by digits (``"042"`` -> 42); ``None`` for another name."""
    return int(name) if name.isdigit() and len(name) <= 9 else None


def split_of_song(number: int) -> str:
    """The split of song ``number`` (:data:`SPLIT_RULE`): test if ``number % 10 == 0``, valid if 5, else train."""
    if number % 10 == 0:
        return "test"
    if number % 10 == 5:
        return "valid"
    return "train"


def song_folders(source) -> list:
    """The song folders of a POP909 folder, in song-number order: sub-folders named by digits.

    Raises
    ------
    DatasetError
        ``source`` is not a folder or holds no song folder.
    """
    source = os.fspath(source)
    if not os.path.isdir(source):
        raise DatasetError(f"{brief(source)}: not a POP909 folder (a folder of song folders 001, 002, ...)")
    names = sorted((n for n in os.listdir(source) if song_number(n) is not None), key=song_number)
    if not names:
        raise DatasetError(f"{brief(source)}: no song folders (named by their number, 001, 002, ...); "
                           "not a POP909 folder")
    return [os.path.join(source, n) for n in names]


# ------------------------------------------------------------------------------------------ one song
@dataclass
class SongNotes:
    """A song's notes on its beat grid, per POP909 track.

    Attributes
    ----------
    beats : Beats
    notes : dict
        ``{track: (on, off, pitch)}`` int arrays: first step, step after the last (at least on + 1), MIDI pitch.
    instruments : dict
        ``{track: pretty_midi.Instrument}`` as read (merged if a name repeats).
    onset_steps : np.ndarray of float
        Every kept onset's place on the grid, in steps, before rounding (all tracks).
    dropped : int
        Notes starting before the first beat or after the end of the last.
    """

    beats: Beats
    notes: dict
    instruments: dict
    onset_steps: np.ndarray
    dropped: int = 0

    @property
    def n_steps(self) -> int:
        """Steps of the whole song (every beat, 4 steps each)."""
        return len(self.beats.times) * STEPS_PER_BEAT

    @property
    def on_grid(self) -> np.ndarray:
        """Which onsets lie within :data:`GRID_TOLERANCE` of a step."""
        return np.abs(self.onset_steps - np.round(self.onset_steps)) <= GRID_TOLERANCE

    @property
    def grid_share(self) -> float:
        """Share of the onsets within :data:`GRID_TOLERANCE` of a step (nan without onsets)."""
        return float(np.mean(self.on_grid)) if len(self.onset_steps) else float("nan")

    @property
    def triplet_share(self) -> float:
        """Share of the onsets off the grid but within :data:`GRID_TOLERANCE` steps of a triplet eighth
        (a third or two thirds of a beat)."""
        if not len(self.onset_steps):
            return float("nan")
        in_beat = self.onset_steps - STEPS_PER_BEAT * np.floor(self.onset_steps / STEPS_PER_BEAT)
        thirds = np.abs(in_beat[:, None] - STEPS_PER_BEAT * np.array([1 / 3, 2 / 3])[None, :]).min(axis=1)
        return float(np.mean((thirds <= GRID_TOLERANCE) & ~self.on_grid))


def _instruments(pm) -> dict:
    found = {}
    for inst in pm.instruments:
        name = (inst.name or "").strip().upper()
        if name in POP909_TRACKS:
            if name in found:
                merged = pretty_midi.Instrument(inst.program, name=name)
                merged.notes = found[name].notes + inst.notes
                merged.control_changes = found[name].control_changes + inst.control_changes
                found[name] = merged
            else:
                found[name] = inst
    return found


def read_song_notes(folder) -> SongNotes:
    """Read a song folder's MIDI file and beats, and map every note onto the beat grid.

    Raises
    ------
    DatasetError
        A missing or bad beat file, no MIDI file, a track (MELODY, PIANO) missing or empty.
    InvalidMidiError, InputFileError
        A garbled or oversized MIDI file (:func:`deepaccomp.midi.read_midi`).
    """
    folder = os.fspath(folder)
    name = os.path.basename(os.path.normpath(folder))
    beats = read_beats(os.path.join(folder, "beat_midi.txt"))
    midi_path = os.path.join(folder, f"{name}.mid")
    if not os.path.exists(midi_path):
        raise DatasetError(f"no MIDI file ({name}.mid)")
    found = _instruments(read_midi(midi_path))
    for track in ("MELODY", "PIANO"):
        if not any(n.end > n.start for n in getattr(found.get(track), "notes", [])):
            raise DatasetError(f"no {track} track (instruments named {', '.join(POP909_TRACKS)})")
    notes, offsets, dropped = {}, [], 0
    for track, inst in found.items():
        kept = [n for n in inst.notes if n.end > n.start]
        on = beat_steps([n.start for n in kept], beats)
        off = beat_steps([min(n.end, 2 * beats.times[-1] - beats.times[-2]) for n in kept], beats)
        ok = np.isfinite(on)
        dropped += int((~ok).sum())
        on, off = on[ok], off[ok]
        pitch = np.array([n.pitch for n in kept], dtype=np.int64)[ok]
        offsets.append(on)
        on_step = np.floor(on + 0.5).astype(np.int64)
        off_step = np.maximum(np.floor(off + 0.5).astype(np.int64), on_step + 1)
        notes[track] = (on_step, np.minimum(off_step, len(beats.times) * STEPS_PER_BEAT), pitch)
    return SongNotes(beats, notes, found, np.concatenate(offsets), dropped)


def _paint(notes, n_steps: int) -> tuple:
    """``(roll, onsets)`` ``(n_steps, 128)`` of ``(on, off, pitch)`` arrays."""
    on, off, pitch = notes
    keep = on < n_steps
    on, off, pitch = on[keep], np.minimum(off[keep], n_steps), pitch[keep]
    diff = np.zeros((n_steps + 1, N_MIDI_PITCHES), dtype=np.int32)
    np.add.at(diff, (on, pitch), 1)
    np.add.at(diff, (off, pitch), -1)
    roll = np.cumsum(diff, axis=0)[:n_steps] > 0
    onsets = np.zeros_like(roll)
    onsets[on, pitch] = True
    return roll, onsets


def split_bass(roll: np.ndarray, onsets: np.ndarray, split: int = BASS_SPLIT) -> tuple:
    """A piano ``(time, 128)`` as ``(bass, bass onsets, rest, rest onsets)``: at each step the lowest
    sounding note, if below MIDI ``split``, is the bass; the two together are the piano again."""
    lowest = np.argmax(roll, axis=1)
    has = roll.any(axis=1) & (lowest < split)
    bass = np.zeros_like(roll)
    bass[np.nonzero(has)[0], lowest[has]] = True
    rest = roll & ~bass
    return bass, (onsets & bass) | run_starts(bass), rest, (onsets & rest) | run_starts(rest)


def song_rolls(song: SongNotes) -> tuple:
    """The ``pop`` layout's ``(roll, onsets)`` of a whole song, ``(steps, 128, 3)`` each: the melody's
    top line, the piano without its bass, and the bass (:func:`split_bass`)."""
    n = song.n_steps
    melody, melody_on = _paint(song.notes["MELODY"], n)
    melody = top_line(melody)
    melody_on = (melody_on & melody) | run_starts(melody)
    piano, piano_on = _paint(song.notes["PIANO"], n)
    bass, bass_on, rest, rest_on = split_bass(piano, piano_on)
    return np.stack([melody, rest, bass], axis=-1), np.stack([melody_on, rest_on, bass_on], axis=-1)


def _key_at(keys: list, seconds: float) -> Key:
    """The annotated key sounding at ``seconds`` (the nearest segment's outside them all)."""
    for start, end, key in keys:
        if start <= seconds < end:
            return key
    return min(keys, key=lambda k: min(abs(k[0] - seconds), abs(k[1] - seconds)))[2]


def stretches(beats: Beats, keys: list | None = None) -> list:
    """The maximal runs of consecutive :data:`BEATS_PER_BAR`-beat bars under one key.

    Returns
    -------
    list of (int, int, Key or None)
        First bar (index into :attr:`Beats.bars`), number of bars, key (``None`` without ``keys``).
    """
    bars = beats.bars
    out = []
    for b, (first_beat, length) in enumerate(bars):
        key = _key_at(keys, beats.times[first_beat]) if keys else None
        regular = length == BEATS_PER_BAR
        if regular and out and out[-1][0] + out[-1][1] == b and out[-1][2] == key:
            out[-1] = (out[-1][0], out[-1][1] + 1, key)
        elif regular:
            out.append((b, 1, key))
    return out


@dataclass
class SongReport:
    """What a song gave: its pieces and its figures (``stats``), or the reason it was skipped."""

    pieces: list = field(default_factory=list)
    stats: dict = field(default_factory=dict)
    reason: str | None = None


def _check_song(song: SongNotes, index_entry) -> str | None:
    """Why a read song is not used (triple meter, triplet feel), or ``None``."""
    meter = song.beats.meter
    if meter != BEATS_PER_BAR or (index_entry is not None and index_entry[0] == 3):
        return (f"triple meter ({meter} beats per bar in beat_midi.txt"
                + (f", index.xlsx {index_entry[0]} beats per measure)" if index_entry else ")"))
    triplets = song.triplet_share
    if triplets >= MAX_TRIPLET_SHARE or (index_entry is not None and index_entry[1] == 3):
        return (f"triplet feel ({triplets:.0%} of onsets on triplet eighths, the limit {MAX_TRIPLET_SHARE:.0%}"
                + (f"; index.xlsx {index_entry[1]} quavers per beat)" if index_entry else ")"))
    share = song.grid_share
    if not share >= MIN_GRID_SHARE:
        return (f"off the grid ({share:.0%} of onsets within {GRID_TOLERANCE} steps of a 16th of the annotated "
                f"beats, fewer than {MIN_GRID_SHARE:.0%})")
    return None


def pop909_song(folder, number: int, key_normalize: bool = True, index_entry=None) -> SongReport:
    """One song folder -> its pieces (one per stretch, :func:`stretches`) or the reason it is skipped.

    Each piece is ``(roll, onsets, meta)``; ``meta`` holds ``id`` (``"NNN/k"``), ``song``, ``title``,
    ``position`` (the song number), ``split`` (:func:`split_of_song`), ``first_bar``, ``bars``,
    ``start_seconds``, ``key`` (annotated), ``melody_key`` (estimated from the stretch's melody),
    ``shift``. ``stats`` holds the song's figures for the build's report.
    """
    name = os.path.basename(os.path.normpath(os.fspath(folder)))
    try:
        song = read_song_notes(folder)
        keys = read_keys(os.path.join(folder, "key_audio.txt"))
    except DeepAccompError as exc:
        return SongReport(reason=str(exc))
    stats = _song_stats(song, keys)
    reason = _check_song(song, index_entry)
    if reason:
        return SongReport(stats=stats, reason=reason)
    roll, onsets = song_rolls(song)
    bars = song.beats.bars
    pieces = []
    for k, (first, n_bars, key) in enumerate(stretches(song.beats, keys)):
        start = int(bars[first, 0]) * STEPS_PER_BEAT
        r = roll[start: start + n_bars * STEPS_PER_BAR]
        o = onsets[start: start + n_bars * STEPS_PER_BAR]
        if not r.any():  # a stretch without a note (a pause between sections) teaches nothing
            continue
        o = (o & r) | run_starts(r)
        melody_key = estimate_key(r[..., :1]) if r[..., 0].any() else None
        shift = key.shift_to_c() if key_normalize else 0
        r, o = transpose_roll(r, shift), transpose_roll(o, shift)
        pieces.append((r, o, {
            "id": f"{name}/{k}", "song": name, "title": name, "position": number, "split": split_of_song(number),
            "first_bar": int(first), "bars": int(n_bars),
            "start_seconds": round(float(song.beats.times[bars[first, 0]]), 4),
            "key": key.name, "melody_key": melody_key.name if melody_key else None, "shift": int(shift)}))
    stats["stretches"] = len(pieces)
    return SongReport(pieces, stats)


def _song_stats(song: SongNotes, keys: list) -> dict:
    lengths = song.beats.bars[:, 1]
    regular = int((lengths == BEATS_PER_BAR).sum())
    return {"grid_share": round(song.grid_share, 4), "triplet_share": round(song.triplet_share, 4),
            "dropped_notes": song.dropped, "onsets": int(len(song.onset_steps)),
            "onsets_on_grid": int(song.on_grid.sum()), "bars": int(len(lengths)), "regular_bars": regular,
            "irregular_bars": int(len(lengths) - regular), "pickup_beats": int(song.beats.bars[0, 0]),
            "key_changes": len({k.name for _, _, k in keys}) - 1,
            "bridge": "BRIDGE" in song.notes and bool(len(song.notes["BRIDGE"][0]))}


# ------------------------------------------------------------------------------------------ measurements
def sustain_extension(inst, beats: Beats) -> dict:
    """What the sustain pedal (CC64 >= 64) would do to the note lengths of ``inst`` if applied.

    A note released while the pedal is down sounds until the pedal is lifted (or the same pitch is
    struck again). Returns ``notes``, ``extended`` (how many would sound longer), ``mean_extension_beats``
    (over the extended ones) and ``pedal_down_share`` (share of the song's beats with the pedal down).
    """
    changes = sorted((c.time, c.value >= 64) for c in inst.control_changes if c.number == 64)
    downs, state, since = [], False, 0.0
    for t, down in changes:
        if down and not state:
            since = t
        elif state and not down:
            downs.append((since, t))
        state = down
    if state:
        downs.append((since, max(n.end for n in inst.notes)))
    notes = sorted(inst.notes, key=lambda n: n.start)
    next_same = {}
    later = {}
    for n in reversed(notes):
        next_same[id(n)] = later.get(n.pitch, np.inf)
        later[n.pitch] = n.start
    ext = []
    starts = np.array([d[0] for d in downs]) if downs else np.zeros(0)
    for n in notes:
        i = np.searchsorted(starts, n.end, side="right") - 1
        if i >= 0 and downs[i][0] <= n.end < downs[i][1]:
            new_end = min(downs[i][1], next_same[id(n)])
            if new_end > n.end:
                ext.append((beat_steps([new_end], beats)[0] - beat_steps([n.end], beats)[0]) / STEPS_PER_BEAT)
    ext = np.array([e for e in ext if np.isfinite(e)])
    span = beats.times[-1] - beats.times[0]
    down = sum(min(b, beats.times[-1]) - max(a, beats.times[0]) for a, b in downs if b > beats.times[0]
               and a < beats.times[-1])
    return {"notes": len(notes), "extended": int(len(ext)),
            "mean_extension_beats": float(ext.mean()) if len(ext) else 0.0,
            "pedal_down_share": float(down / span) if span > 0 else 0.0}


def restrike_stats(roll: np.ndarray, onsets: np.ndarray) -> dict:
    """Onsets of one track ``(time, pitch)`` (time a multiple of 16): ``onsets``, ``bars``, ``onsets_per_bar``
    (over bars with a note) and ``restruck`` (onsets a boolean roll would merge: the same pitch sounding
    at the step before)."""
    restruck = onsets.copy()
    restruck[0] = False
    restruck[1:] &= roll[:-1]
    sounding = roll.reshape(-1, STEPS_PER_BAR, roll.shape[1]).any(axis=(1, 2))
    n = int(onsets.sum())
    return {"onsets": n, "bars": int(sounding.sum()), "restruck": int(restruck.sum()),
            "onsets_per_bar": n / max(1, int(sounding.sum()))}


# ------------------------------------------------------------------------------------------ the build
def _pop909_one(args):
    """One song of a build: ``(number, folder, key_normalize, index_entry)`` -> ``(number, folder, SongReport)``."""
    number, folder, key_normalize, index_entry = args
    try:
        return number, folder, pop909_song(folder, number, key_normalize, index_entry)
    except Exception as exc:  # one damaged song never stops the build
        return number, folder, SongReport(reason=f"{type(exc).__name__}: {brief(str(exc))}")


def build_pop909(source, *, layout=POP909_LAYOUT, key_normalize: bool = True, workers: int | None = None,
                 progress: bool = True) -> Dataset:
    """Build the ``pop`` dataset from a POP909 folder (song folders ``001/``, ``002/``, ...).

    Every song is read by :func:`pop909_song`; a song that cannot be used is listed in
    ``Dataset.skipped`` with its reason and its figures. Pieces are the songs' stretches, with their
    onsets (:attr:`deepaccomp.data.Dataset.onsets`). No tune cleaning (the songs are distinct; the
    split is by song number, :data:`SPLIT_RULE`). ``info["pop909"]`` holds the build's report
    (docs/pop909.md): songs kept and skipped by reason, bars, onsets on the grid, keys, and every
    song's figures.

    Raises
    ------
    DatasetError
        Not a POP909 folder, or no usable song.
    ConfigError
        A layout other than ``pop``, or a bad ``workers``.
    """
    layout = get_layout(layout)
    if layout_ref(layout) != POP909_LAYOUT:
        raise DatasetError(f"a POP909 build gives the {POP909_LAYOUT!r} layout (melody, piano, bass), not "
                           f"{layout.name!r}; leave out --layout or give --layout {POP909_LAYOUT}")
    workers = check_workers(workers) or min(2, os.cpu_count() or 1)
    folders = song_folders(source)
    index, index_note = _index_of(source)
    jobs = [(song_number(os.path.basename(f)), f, key_normalize, index.get(os.path.basename(f)))
            for f in folders]
    reports = _run_jobs(_pop909_one, jobs, workers, progress, "POP909 songs")
    results, onsets, skipped_songs = [], [], 0
    for number, folder, report in reports:
        name = os.path.basename(folder)
        if report.reason is not None:
            results.append((len(results), name, None, {"id": name, "position": number, "reason": report.reason}))
            skipped_songs += 1
        for roll, ons, meta in report.pieces:
            results.append((len(results), meta["id"], roll, meta))
            onsets.append(ons)
    ds = _assemble(results, {"source": os.fspath(source), "format": "pop909", "key_normalize": key_normalize,
                             "layout": layout_ref(layout), "split_rule": SPLIT_RULE}, clean_tunes=False)
    ds.onsets = onsets
    ds.info["pop909"] = _report(reports, ds, index_note)
    return ds


def _index_of(source) -> tuple:
    """``(index, note)``: index.xlsx's entries (``{}`` if absent or unreadable) and what became of it."""
    try:
        index = read_index(os.path.join(os.fspath(source), "index.xlsx"))
    except DatasetError as exc:
        return {}, f"not used: {exc}"
    return index, f"{len(index)} songs" if index else "absent"


def _report(reports, ds: Dataset, index_note: str) -> dict:
    """The build's figures (docs/pop909.md)."""
    songs = {os.path.basename(f): dict(r.stats, **({"skipped": r.reason} if r.reason else {}))
             for _, f, r in reports}
    kept = [s for s in songs.values() if "skipped" not in s]
    reasons = {}
    for s in songs.values():
        if "skipped" in s:
            why = s["skipped"].split(" (")[0]
            reasons[why] = reasons.get(why, 0) + 1
    shares = [s["grid_share"] for s in songs.values() if "grid_share" in s]
    total = sum(s.get("onsets", 0) for s in songs.values())
    stored_bars = sum(p["bars"] for p in ds.pieces)
    agree = [p["key"] == p["melody_key"] for p in ds.pieces if p.get("melody_key")]
    return {
        "grid_tolerance_steps": GRID_TOLERANCE, "min_grid_share": MIN_GRID_SHARE,
        "max_triplet_share": MAX_TRIPLET_SHARE, "index": index_note,
        "songs": len(songs), "songs_kept": len(kept), "songs_skipped": reasons,
        "songs_kept_by_split": {sp: len({p["song"] for p in ds.pieces if p["split"] == sp}) for sp in SPLITS},
        "onsets": total, "onsets_on_grid": sum(s.get("onsets_on_grid", 0) for s in songs.values()),
        "grid_share_median": float(np.median(shares)) if shares else None,
        "dropped_notes": sum(s.get("dropped_notes", 0) for s in songs.values()),
        "bars_of_kept_songs": sum(s["bars"] for s in kept), "bars_stored": stored_bars,
        "irregular_bars": sum(s["irregular_bars"] for s in kept),
        "kept_songs_with_irregular_bars": sum(s["irregular_bars"] > 0 for s in kept),
        "pickup_beats": sum(s["pickup_beats"] for s in kept),
        "kept_songs_with_key_changes": sum(s["key_changes"] > 0 for s in kept),
        "stretches": len(ds.pieces),
        "melody_key_agrees": round(float(np.mean(agree)), 4) if agree else None,
        "per_song": songs,
    }
