"""The piece: one value carried from the MIDI file read to the MIDI file written.

A :class:`Piece` is what every step of the library takes and gives (reading,
the model space, the generator, the evaluation, the monitor, the command line,
the studio), in the spirit of muspy's ``Music`` and note-seq's ``NoteSequence``:

* its **roll** ``(time, pitch, tracks)`` bool and its **onsets** of the same
  shape (True where a note starts: a note struck again is two notes, a held
  note has one onset, although the roll is the same);
* its **layout** (:class:`deepaccomp.layout.Layout`): the roll's tracks are the
  layout's first tracks, in layout order (the melody alone as read for
  accompaniment, or the melody and every accompaniment track);
* its **time grid** (:class:`TimeGrid`): the file's tempo map and signatures,
  the tick of step 0 and the ticks per step, and where its bars start;
* its **key shift** (semitones the roll was moved by, 0 as read) and the MIDI
  pitch of its pitch index 0 (the model's window in model space).

:func:`read_piece` reads one from MIDI with the library's one quantiser
(:func:`deepaccomp.midi.ticks_to_steps`); :func:`to_pretty_midi` is the one
writer back to MIDI (per track from the layout: its name, its program, drums
as hits on channel 10; notes split at onsets; the grid's tempo map and
meters). :func:`write_piece` writes the file atomically.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pretty_midi

from .errors import ConfigError, InputTooLargeError, InvalidRollError, NoMelodyError, UnsupportedMeterError, brief
from .layout import DEFAULT_LAYOUT, SATB, Layout, Track, get_layout, select_instruments
from .meter import add_lead_in, remove_lead_in
from .midi import (
    MAX_MELODY_NOTES,
    BarAlignment,
    MidiInfo,
    _bar_at,
    _bar_steps,
    _grid,
    bar_alignment,
    check_melody_notes,
    choose_melody_track,
    hits_to_notes,
    max_melody_steps,
    notes_to_onsets,
    notes_to_roll,
    read_midi,
    resolve_programs,
    roll_to_notes,
    ticks_to_seconds,
    timing_template,
    top_line,
    write_midi,
)
from .representation import N_MIDI_PITCHES, STEPS_PER_BEAT, as_bool, run_starts

__all__ = ["TimeGrid", "Piece", "read_piece", "align_bars", "to_pretty_midi", "write_piece", "roll_to_midi",
           "default_track_names", "default_programs"]


@dataclass(frozen=True, eq=False)
class TimeGrid:
    """Where the steps of a roll fall in time: the way back to the file's own ticks and seconds.

    Attributes
    ----------
    template : pretty_midi.PrettyMIDI
        A file without instruments: resolution, tempo map, time and key
        signatures (never modified; the writer copies it).
    start_tick : int
        Tick of the file's grid step 0 (a downbeat at or before the first note).
    ticks_per_step : float
        MIDI ticks per step.
    steps_per_beat : int
        Steps per quarter note (4: 16th notes).
    bars : deepaccomp.midi.BarAlignment or None
        Where the bars start (:func:`align_bars`): ``bars.offset`` silent steps
        before step 0 put every downbeat on a multiple of ``bars.steps_per_bar``.
        ``None``: not aligned yet.
    lead_in : int
        Silent steps that have been put before the file's step 0 (model space:
        ``bars.offset``); roll step ``k`` is the file's grid step ``k - lead_in``.
    """

    template: pretty_midi.PrettyMIDI
    start_tick: int
    ticks_per_step: float
    steps_per_beat: int = STEPS_PER_BEAT
    bars: BarAlignment | None = None
    lead_in: int = 0

    @classmethod
    def plain(cls, *, tempo: float = 120.0, time_signature: tuple[int, int] = (4, 4),
              steps_per_beat: int = STEPS_PER_BEAT, steps_per_bar: int | None = None,
              resolution: int = 480) -> "TimeGrid":
        """A grid of one tempo and one meter from tick 0, step 0 a downbeat (a roll without a file).

        ``steps_per_bar`` (default: the meter's bar) marks the bars as aligned from step 0.
        """
        pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=float(tempo))
        pm.time_signature_changes.append(pretty_midi.TimeSignature(*time_signature, 0.0))
        bar = steps_per_bar or _bar_steps(*time_signature, steps_per_beat)
        return cls(pm, 0, resolution / steps_per_beat, steps_per_beat, BarAlignment(0, 0, int(bar), "pickup"))

    @classmethod
    def of(cls, info: MidiInfo) -> "TimeGrid":
        """The grid a :class:`~deepaccomp.midi.MidiInfo` describes (bars not aligned)."""
        return cls(info.template, info.start_tick, info.ticks_per_step, info.steps_per_beat)

    def midi_info(self, n_steps: int, melody_index: int | None = None) -> MidiInfo:
        """The :class:`~deepaccomp.midi.MidiInfo` of a roll of ``n_steps`` file steps on this grid."""
        return MidiInfo(self.template, self.start_tick, self.ticks_per_step, n_steps, melody_index,
                        self.steps_per_beat)

    @property
    def steps_per_bar(self) -> int:
        """Bar length in steps: the aligned bars', else the meter's at step 0."""
        if self.bars is not None:
            return self.bars.steps_per_bar
        return _bar_steps(*self.midi_info(0).time_signature_at(0), self.steps_per_beat)

    @property
    def time_signatures(self) -> list:
        """Every distinct time signature of the file as ``(numerator, denominator)`` (``[(4, 4)]`` if none)."""
        return self.midi_info(0).time_signatures

    @property
    def tempo(self) -> float:
        """Initial tempo in quarter notes per minute."""
        return self.midi_info(0).tempo

    def step_times(self, n_steps: int) -> np.ndarray:
        """Start time in seconds of file steps ``0..n_steps`` (``n_steps + 1`` values, the last the end of
        the last step); past the file's end at its last tempo."""
        ticks = self.start_tick + np.arange(n_steps + 1) * self.ticks_per_step
        return ticks_to_seconds(self.template, ticks)

    def replace(self, **changes) -> "TimeGrid":
        """A copy with ``changes`` (the fields' names)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, eq=False)
class Piece:
    """A roll with everything needed to read, generate, measure and write it.

    Attributes
    ----------
    roll : np.ndarray of bool, shape (time, pitch, tracks)
        Index ``(t, i, k)``: track ``k`` sounds MIDI pitch ``lowest_pitch + i`` at step ``t``.
    onsets : np.ndarray of bool, shape (time, pitch, tracks)
        Where notes start; always inside the roll and at the start of every
        run of active steps (the constructor makes it so). A held note has
        one onset, a note struck again one per stroke.
    layout : deepaccomp.layout.Layout
        The roll's tracks are ``layout.tracks[:tracks]``, in order.
    grid : TimeGrid
    key_shift : int
        Semitones the pitched tracks have been moved by (0 as read; the model
        space's shift to C major / A minor and the soprano's octave).
    lowest_pitch : int
        MIDI pitch of pitch index 0 (0 for 128 pitches; the window's lowest in model space).
    originals : tuple of pretty_midi.Instrument or None
        Per track, the instrument it was read from when it is to be written
        back as it was (velocities, exact times, controllers): the accompanist
        keeps the user's melody unchanged. ``()``: none.
    sources : tuple of tuple of int
        Per track, the indices (in the file's ``instruments``) of the instruments
        read into it; ``()``: not read from a file.
    """

    roll: np.ndarray
    onsets: np.ndarray
    layout: Layout
    grid: TimeGrid
    key_shift: int = 0
    lowest_pitch: int = 0
    originals: tuple = ()
    sources: tuple = ()

    def __post_init__(self):
        roll = np.asarray(self.roll)
        if roll.ndim != 3:
            raise InvalidRollError(f"a piece's roll is (time, pitch, tracks), got shape {roll.shape}")
        roll = as_bool(roll)
        onsets = run_starts(roll) if self.onsets is None else np.asarray(self.onsets, dtype=bool)
        if onsets.shape != roll.shape:
            raise InvalidRollError(f"onsets of shape {onsets.shape} for a roll of shape {roll.shape}")
        layout = get_layout(self.layout)
        if not 1 <= roll.shape[2] <= len(layout.tracks):
            raise InvalidRollError(f"a roll of {roll.shape[2]} tracks for layout {layout.name!r} of "
                                   f"{len(layout.tracks)} ({', '.join(layout.track_names)})")
        if not 0 <= self.lowest_pitch <= N_MIDI_PITCHES - roll.shape[1]:
            raise InvalidRollError(f"pitch axis of {roll.shape[1]} starting at {self.lowest_pitch} leaves "
                                   "MIDI range 0..127")
        for what in ("originals", "sources"):
            if len(getattr(self, what)) not in (0, roll.shape[2]):
                raise InvalidRollError(f"{len(getattr(self, what))} {what} for {roll.shape[2]} tracks")
        object.__setattr__(self, "roll", roll)
        object.__setattr__(self, "onsets", (onsets & roll) | run_starts(roll))
        object.__setattr__(self, "layout", layout)

    @classmethod
    def from_roll(cls, roll, layout=DEFAULT_LAYOUT, grid: TimeGrid | None = None, *, onsets=None,
                  lowest_pitch: int = 0, key_shift: int = 0) -> "Piece":
        """A piece of a bare roll ``(time, pitch, tracks)``: onsets at the start of every run unless
        given, the grid :meth:`TimeGrid.plain` (120 bpm, 4/4) unless given."""
        return cls(roll, onsets, layout, grid or TimeGrid.plain(), key_shift, lowest_pitch)

    @property
    def n_steps(self) -> int:
        """Length in steps."""
        return self.roll.shape[0]

    @property
    def tracks(self) -> tuple:
        """The layout's tracks this roll holds, in roll order."""
        return self.layout.tracks[: self.roll.shape[2]]

    def replace(self, **changes) -> "Piece":
        """A copy with ``changes`` (the fields' names); onsets are made to fit a new roll."""
        return dataclasses.replace(self, **changes)

    def melody(self) -> "Piece":
        """The melody track alone."""
        return self.replace(roll=self.roll[..., :1], onsets=self.onsets[..., :1], originals=self.originals[:1],
                            sources=self.sources[:1])

    def with_accompaniment(self, roll, onsets=None) -> "Piece":
        """The melody of this piece with accompaniment tracks ``(time, pitch, N)`` after it (onsets: the
        start of every run unless given); the accompaniment is cut or padded to the melody's length."""
        roll = remove_lead_in(as_bool(roll), 0, self.n_steps)
        onsets = run_starts(roll) if onsets is None else remove_lead_in(np.asarray(onsets, bool), 0, self.n_steps)
        melody = self.melody()
        originals = melody.originals + (None,) * roll.shape[2] if melody.originals else ()
        sources = melody.sources + ((),) * roll.shape[2] if melody.sources else ()
        return self.replace(roll=np.concatenate([melody.roll, roll], axis=-1),
                            onsets=np.concatenate([melody.onsets, onsets], axis=-1), originals=originals,
                            sources=sources)

    def with_lead_in(self, steps: int) -> "Piece":
        """``steps`` silent steps put before step 0 (the grid's ``lead_in`` grows by as many)."""
        return self.replace(roll=add_lead_in(self.roll, steps), onsets=add_lead_in(self.onsets, steps),
                            grid=self.grid.replace(lead_in=self.grid.lead_in + steps))

    def without_lead_in(self) -> "Piece":
        """The piece on the file's own grid again: its lead-in steps dropped."""
        n = self.grid.lead_in
        if n == 0:
            return self
        length = max(0, self.n_steps - n)
        return self.replace(roll=remove_lead_in(self.roll, n, length), onsets=remove_lead_in(self.onsets, n, length),
                            grid=self.grid.replace(lead_in=0))


# ------------------------------------------------------------------------------------------ reading
def read_piece(source, layout=DEFAULT_LAYOUT, *, tracks: str = "all", melody_track: int | None = None,
               pickup: float | None = None, align: bool = True, meters=None,
               steps_per_beat: int = STEPS_PER_BEAT, estimate_pickup: bool = True) -> Piece:
    """Read a MIDI file into a :class:`Piece` of ``layout``.

    Parameters
    ----------
    source : str, os.PathLike, bytes, file object or pretty_midi.PrettyMIDI
        The file (:func:`deepaccomp.midi.read_midi`).
    layout : str, dict, path or Layout
        The layout (:func:`deepaccomp.layout.get_layout`).
    tracks : {"all", "melody"}
        ``"all"``: every track of the layout, taken by
        :func:`deepaccomp.layout.select_instruments` (instruments of one track
        merged; a drum track as one-step hits; an optional track the file lacks
        kept empty). ``"melody"``: the melody alone, as the accompanist reads
        it (``melody_track`` or :func:`~deepaccomp.midi.choose_melody_track`'s
        choice, its top line, at most :data:`~deepaccomp.midi.MAX_MELODY_NOTES`
        notes and :data:`~deepaccomp.midi.MAX_MELODY_BARS` bars), kept as the
        file's instrument for writing. This is the library's one melody reader;
        :func:`deepaccomp.midi.midi_to_roll` wraps it for the 0.1 API.
    melody_track : int, optional
        Index of the melody instrument (``tracks="melody"``).
    pickup : float, optional
        Quarter-note beats from the first note to the first downbeat (see
        :func:`deepaccomp.midi.bar_alignment`); default: the file's marks, else estimated.
    align : bool
        Find where the bars start (:func:`align_bars`); ``False`` leaves ``grid.bars`` ``None``.
    estimate_pickup : bool
        Without a ``pickup`` or marks in the file, estimate the pickup (True) or take the file's bars
        as they are (a model's ``generation.estimate_pickup``).
    meters : collection of (int, int), optional
        The time signatures accepted (default: any); another is an
        :class:`~deepaccomp.errors.UnsupportedMeterError`, raised before the bars are looked for.
    steps_per_beat : int
        Grid steps per quarter note.

    Returns
    -------
    Piece
        Step 0 is the file's downbeat at or before the first note; the onsets
        are the notes' own start steps, so a note struck again where the same
        pitch ends keeps its onset.

    Raises
    ------
    InputFileError, InvalidMidiError, NoMelodyError, UnsupportedMeterError, ConfigError
    """
    layout = get_layout(layout)
    pm = read_midi(source)
    if tracks == "melody":
        piece = _read_melody(pm, layout, melody_track, steps_per_beat)
    elif tracks == "all":
        piece = _read_tracks(pm, layout, steps_per_beat)
    else:
        raise ConfigError(f"tracks must be 'all' or 'melody', got {brief(repr(tracks))}")
    if meters is not None:
        bad = set(piece.grid.time_signatures) - set(meters)
        if bad:
            raise UnsupportedMeterError(
                f"time signature(s) {sorted(f'{n}/{d}' for n, d in bad)} are not supported; "
                f"the model handles {sorted(f'{n}/{d}' for n, d in meters)}")
    return align_bars(piece, pickup, estimate_pickup) if align else piece


def align_bars(piece: Piece, pickup: float | None = None, estimate: bool = True) -> Piece:
    """The piece with ``grid.bars`` found from its melody (:func:`deepaccomp.midi.bar_alignment`:
    the user's ``pickup``, else the file's marks, else an estimate unless ``estimate`` is False)."""
    melody = piece.roll[piece.grid.lead_in:, :, :1]
    bars = bar_alignment(melody, piece.grid.midi_info(melody.shape[0]), pickup=pickup, estimate=estimate)
    return piece.replace(grid=piece.grid.replace(bars=bars))


def _read_melody(pm, layout: Layout, melody_track, steps_per_beat: int, monophonic: bool = True) -> Piece:
    """The melody instrument of ``pm`` as a one-track piece of ``layout`` (see :func:`read_piece`).

    The instrument is ``melody_track`` or :func:`~deepaccomp.midi.choose_melody_track`'s
    choice, reduced to its top line unless ``monophonic`` is False (only
    :func:`deepaccomp.midi.midi_to_roll` keeps the chords); it is kept as
    ``originals[0]`` for writing. Step 0 is the downbeat at or before its first note.
    """
    index = _melody_index(pm, melody_track)
    inst = pm.instruments[index]
    check_melody_notes(len(inst.notes))
    notes = [n for n in inst.notes if n.end > n.start]
    if inst.is_drum or not notes:
        raise NoMelodyError(f"instrument {index} ({brief(repr(inst.name))}) holds no pitched notes")
    start_tick, tps = _grid(pm, min(n.start for n in notes), steps_per_beat)
    roll = notes_to_roll(notes, pm, start_tick, tps, max_steps=max_melody_steps(_bar_at(pm, start_tick)[1] / tps))
    if monophonic:
        roll = top_line(roll)
    onsets = notes_to_onsets(notes, pm, start_tick, tps, roll.shape[0])
    grid = TimeGrid(timing_template(pm), start_tick, tps, steps_per_beat)  # once the melody is known to fit
    return Piece(roll[:, :, None], onsets[:, :, None], layout, grid, originals=(inst,), sources=((index,),))


def _melody_index(pm, melody_track) -> int:
    """``melody_track`` checked against ``pm``'s instruments, or the one
    :func:`~deepaccomp.midi.choose_melody_track` finds."""
    if melody_track is None:
        return choose_melody_track(pm)
    if isinstance(melody_track, bool) or not isinstance(melody_track, (int, np.integer)):
        raise ConfigError(f"melody_track must be an instrument index (an integer), got {brief(repr(melody_track))}")
    if not 0 <= melody_track < len(pm.instruments):
        raise NoMelodyError(
            f"melody_track={melody_track} but the file has {len(pm.instruments)} instruments "
            f"(0..{len(pm.instruments) - 1})"
        )
    return int(melody_track)


def _read_tracks(pm, layout: Layout, steps_per_beat: int) -> Piece:
    """Every track of ``layout`` from ``pm`` (see :func:`read_piece`)."""
    groups = select_instruments(pm, layout)
    for track, group in zip(layout.tracks, groups):
        if not group and track.required:
            raise NoMelodyError(f"no instrument for track {track.name!r} of layout {layout.name!r} ({track.rule})")
    per_track = [[n for i in group for n in _track_notes(pm.instruments[i], track)]
                 for track, group in zip(layout.tracks, groups)]
    everything = [n for notes in per_track for n in notes]
    if len(everything) > MAX_MELODY_NOTES * len(layout.tracks):
        raise InputTooLargeError(f"the file holds {len(everything)} notes, more than "
                                 f"{MAX_MELODY_NOTES} per track (see docs/errors.md)")
    first = min(n.start for n in everything)
    grid = _file_grid(pm, first, steps_per_beat)
    rolls = [notes_to_roll(notes, pm, grid.start_tick, grid.ticks_per_step) for notes in per_track]
    n = max(r.shape[0] for r in rolls)
    roll = np.zeros((n, N_MIDI_PITCHES, len(rolls)), dtype=bool)
    onsets = np.zeros_like(roll)
    for k, (r, notes) in enumerate(zip(rolls, per_track)):
        roll[: r.shape[0], :, k] = r
        onsets[:, :, k] = notes_to_onsets(notes, pm, grid.start_tick, grid.ticks_per_step, n)
    return Piece(roll, onsets, layout, grid, sources=tuple(tuple(g) for g in groups))


def _track_notes(inst, track: Track) -> list:
    """The notes of positive length of an instrument; a drum track's as one-step hits."""
    notes = [n for n in inst.notes if n.end > n.start]
    if track.drums:  # a hit lasts one step, however the file holds it
        notes = [pretty_midi.Note(n.velocity, n.pitch, n.start, n.start + 1e-6) for n in notes]
    return notes


def _file_grid(pm, first_note_time: float, steps_per_beat: int) -> TimeGrid:
    """The grid of ``pm`` whose step 0 is the downbeat at or before ``first_note_time`` (bars not aligned)."""
    start_tick, tps = _grid(pm, first_note_time, steps_per_beat)
    return TimeGrid(timing_template(pm), start_tick, tps, steps_per_beat)


# ------------------------------------------------------------------------------------------ writing
def _check_velocity(velocity) -> int:
    if isinstance(velocity, bool) or not isinstance(velocity, (int, np.integer)) or not 1 <= velocity <= 127:
        raise ConfigError(f"velocity must be an integer 1..127, got {brief(repr(velocity))}")
    return int(velocity)


def to_pretty_midi(piece: Piece, *, programs=None, velocity: int = 80) -> pretty_midi.PrettyMIDI:
    """The one writer: a :class:`Piece` -> ``pretty_midi.PrettyMIDI`` on the piece's own grid.

    Parameters
    ----------
    piece : Piece
        Its lead-in (``grid.lead_in`` silent steps) is not written.
    programs : None, str or sequence of int
        The accompaniment tracks' General MIDI programs, resolved by
        :meth:`deepaccomp.layout.Layout.resolve_programs` (``None``: the
        layout's own; a preset name for a voice layout; one per accompaniment
        track). The melody sounds with its track's program.
    velocity : int
        Velocity of every note written from the roll, 1..127.

    Returns
    -------
    pretty_midi.PrettyMIDI
        A copy of the grid's template (tempo map, time and key signatures)
        with one instrument per track of the roll, named after its layout
        track: a track with an original instrument (:attr:`Piece.originals`)
        as that instrument, a drum track as one-step hits on channel 10
        (``is_drum``, program 0), any other as its runs split at its onsets.

    Raises
    ------
    ConfigError
        A velocity or programs refused.
    """
    velocity = _check_velocity(velocity)
    programs = [piece.layout.melody.program] + piece.layout.resolve_programs(programs)
    piece = piece.without_lead_in()
    out = copy.deepcopy(piece.grid.template)
    times = piece.grid.step_times(piece.n_steps)
    for k, track in enumerate(piece.tracks):
        original = piece.originals[k] if piece.originals else None
        if original is not None:
            out.instruments.append(copy.deepcopy(original))
            continue
        inst = pretty_midi.Instrument(program=0 if track.drums else programs[k], name=track.name,
                                      is_drum=track.drums)
        if track.drums:
            inst.notes = hits_to_notes(piece.roll[:, :, k], times, lowest_pitch=piece.lowest_pitch,
                                       velocity=velocity)
        else:
            inst.notes = roll_to_notes(piece.roll[:, :, k], times, lowest_pitch=piece.lowest_pitch,
                                       velocity=velocity, onsets=piece.onsets[:, :, k])
        out.instruments.append(inst)
    return out


def write_piece(piece: Piece, path, *, programs=None, velocity: int = 80) -> None:
    """Write a piece as a MIDI file, atomically (:func:`to_pretty_midi`, :func:`deepaccomp.midi.write_midi`)."""
    write_midi(to_pretty_midi(piece, programs=programs, velocity=velocity), path)


# ------------------------------------------------------------------------------------------ bare rolls
def roll_to_midi(roll: np.ndarray, *, lowest_pitch: int = 0, info: MidiInfo | None = None,
                 programs: Sequence[int] | str | None = None, track_names: Sequence[str] | None = None,
                 tempo: float = 120.0, time_signature: tuple[int, int] = (4, 4), velocity: int = 80,
                 steps_per_beat: int = STEPS_PER_BEAT) -> pretty_midi.PrettyMIDI:
    """A bare roll ``(time, pitch, tracks)`` (bool, or model range: on where > 0) as MIDI, through
    :func:`to_pretty_midi`: every run one held note, on ``info``'s grid (a file's tempo map and
    signatures) or else one ``tempo`` and ``time_signature``.

    ``programs``: one General MIDI program per track or a preset of
    :data:`deepaccomp.midi.PROGRAM_PRESETS` (default: the satb layout's, extended with its last);
    ``track_names`` default to the satb layout's names, then ``"track 4"``, ``"track 5"``, ...
    """
    roll = np.asarray(roll)
    if roll.ndim != 3:
        raise InvalidRollError(f"roll must be (time, pitch, tracks), got shape {roll.shape}")
    n = roll.shape[2]
    programs = resolve_programs(default_programs(n) if programs is None else programs, n)
    names = list(track_names) if track_names is not None else default_track_names(n)
    if len(names) != n:
        raise InvalidRollError(f"{len(names)} track names for {n} tracks")
    grid = TimeGrid.of(info) if info is not None else TimeGrid.plain(
        tempo=tempo, time_signature=time_signature, steps_per_beat=steps_per_beat)
    piece = Piece(roll, None, _roll_layout(names, programs), grid, lowest_pitch=lowest_pitch)
    return to_pretty_midi(piece, velocity=velocity)


def default_track_names(n_tracks: int) -> list[str]:
    """Names of the tracks of a bare roll: the ``satb`` layout's (soprano, alto, tenor, bass), then
    ``"track 4"``, ``"track 5"``, ... (0-based index)."""
    names = SATB.track_names
    return [names[k] if k < len(names) else f"track {k}" for k in range(n_tracks)]


def default_programs(n_tracks: int) -> list[int]:
    """General MIDI programs of the tracks of a bare roll: the ``satb`` layout's, the last repeated."""
    tracks = SATB.tracks
    return [tracks[min(k, len(tracks) - 1)].program for k in range(n_tracks)]


def _roll_layout(names, programs) -> Layout:
    """A layout of plain pitched tracks named ``names`` with ``programs`` (one more placeholder track
    when there is only one: a layout has an accompaniment)."""
    tracks = [Track(str(name), program=int(p), required=True) for name, p in zip(names, programs)]
    if len(tracks) == 1:
        tracks.append(Track(tracks[0].name + " 2", program=tracks[0].program))
    return Layout("roll", tracks[0], tuple(tracks[1:]))
