"""Between the studio's JSON and MIDI: a note list -> a melody piece, a MIDI file -> a melody piece
and editor notes, a generated piece -> JSON.

Nothing here quantises for the model or generates: a note list becomes a plain
MIDI file (one tempo, one time signature, notes on a 16th grid) read as any
uploaded file is, once, into a melody :class:`deepaccomp.piece.Piece` (its melody
track, the grid and the downbeat it starts on: :func:`deepaccomp.piece.read_piece`),
which goes to :meth:`deepaccomp.Accompanist.generate_piece`; the answer is the
accompanied piece written by the library's one writer
(:func:`deepaccomp.piece.to_pretty_midi`). Steps below are only coordinates for drawing
the piano rolls.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import numpy as np
import pretty_midi

from ..errors import ConfigError, InvalidMidiError, NoMelodyError, UnsupportedMeterError, brief
from ..midi import PROGRAM_PRESETS, read_midi, seconds_to_ticks, to_midi_bytes
from ..piece import Piece, read_piece, to_pretty_midi
from . import limits

__all__ = ["MELODY_LABEL", "UPLOAD_NAME", "check_int", "check_number", "check_meter", "check_tempi", "check_programs",
           "layout_presets",
           "midi_channels", "steps_per_bar", "EditorMelody", "read_note_list", "read_upload", "upload_to_editor",
           "result_to_json", "take_to_json", "edit_take"]

MELODY_LABEL = "melody"
"""The name of the melody track in the studio's answers (the layout's own name for it may differ:
satb's is ``soprano``); the accompaniment tracks keep their layout names."""

UPLOAD_NAME = "the uploaded file"
"""How the library's messages name an uploaded MIDI file (the studio has no file name of its own)."""

GM_CHANNELS = 16
"""MIDI channels of a file."""

DRUM_CHANNEL = 9
"""MIDI channel 10 (counted from 0), General MIDI's drum kit."""


# --------------------------------------------------------------------------- checks
def check_int(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer {lo}..{hi}, got {brief(repr(value))}")
    return value


def check_number(value, name: str, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not lo <= value <= hi:
        raise ConfigError(f"{name} must be a number {lo:g}..{hi:g}, got {brief(repr(value))}")
    return float(value)


def check_meter(meter) -> tuple[int, int]:
    if not isinstance(meter, str) or meter not in limits.METERS:
        raise UnsupportedMeterError(
            f"meter {brief(repr(meter))} is not supported by the studio; use one of {sorted(limits.METERS)}")
    return limits.METERS[meter]


def check_tempi(pm: pretty_midi.PrettyMIDI) -> None:
    """Refuse a file with a tempo outside :data:`~deepaccomp.studio.limits.TEMPO_RANGE`, the range of the
    page's Tempo field and of a note list (:class:`~deepaccomp.errors.InvalidMidiError`)."""
    _, tempi = pm.get_tempo_changes()
    lo, hi = limits.TEMPO_RANGE
    bad = [round(float(t), 2) for t in tempi if not lo <= round(float(t), 2) <= hi]  # MIDI stores microseconds
    if bad:
        shown = f"{bad[0]:,.2f}".rstrip("0").rstrip(".")
        raise InvalidMidiError(f"{UPLOAD_NAME} has a tempo of {shown} bpm; the studio takes {lo:g} to {hi:g} "
                               "quarter notes per minute: set the tempo in that range and export it again")


def check_programs(programs, layout):
    """The ``programs`` of a request, checked by :meth:`deepaccomp.layout.Layout.resolve_programs`.

    Parameters
    ----------
    programs : None, str or list of int
        ``None`` (the layout's own programs), a preset name (voice layouts) or one
        General MIDI program per accompaniment track.
    layout : deepaccomp.layout.Layout
        The model's layout.

    Returns
    -------
    None, str or list of int
        As the studio echoes it: the name (or ``None``) as given, a list as resolved.
    """
    resolved = layout.resolve_programs(programs)
    return programs if programs is None or isinstance(programs, str) else resolved


def layout_presets(layout) -> dict:
    """The instrument presets a layout takes, each as one program per track, melody first.

    A voice layout takes every preset of :data:`deepaccomp.midi.PROGRAM_PRESETS`
    (the melody sounds with the preset's soprano program); a band layout none."""
    if not layout.voices:
        return {}
    return {name: [int(programs[0])] + layout.resolve_programs(name) for name, programs in PROGRAM_PRESETS.items()}


def midi_channels(pm: pretty_midi.PrettyMIDI) -> list:
    """The MIDI channel of each instrument as ``pm.write`` assigns them: drums on channel 10
    (9 from 0), the others by instrument index on the 15 other channels."""
    pitched = [c for c in range(GM_CHANNELS) if c != DRUM_CHANNEL]
    return [DRUM_CHANNEL if inst.is_drum else pitched[k % len(pitched)] for k, inst in enumerate(pm.instruments)]


def steps_per_bar(meter: tuple[int, int]) -> int:
    num, den = meter
    return num * limits.STEPS_PER_BEAT * 4 // den


def _file_meters(pm: pretty_midi.PrettyMIDI) -> list[tuple[int, int]]:
    return sorted({(t.numerator, t.denominator) for t in pm.time_signature_changes}) or [(4, 4)]


# --------------------------------------------------------------------------- note list -> piece
@dataclass(frozen=True)
class EditorMelody:
    """A note list of the editor, read as the library reads a melody file.

    Attributes
    ----------
    piece : deepaccomp.piece.Piece
        The melody piece (:func:`deepaccomp.piece.read_piece`, ``tracks="melody"``)
        of the file built from the notes, bars not yet aligned; its melody
        instrument (``originals[0]``) is the file's, written back unchanged.
    origin_tick : int
        Tick of the editor's step 0 in that file (where its steps count from in
        the answer, :func:`result_to_json`).
    """

    piece: Piece
    origin_tick: int


def read_note_list(notes, *, tempo: float, meter: str, pickup_steps: int = 0, melody_program: int = 0,
                   layout=None) -> EditorMelody:
    """Read a JSON note list as a melody piece, through the MIDI file it makes.

    ``notes`` are dicts ``{"pitch", "start", "length"[, "velocity"]}`` with
    ``start`` and ``length`` in 16th-note steps from the editor's first step.
    With a pickup of ``pickup_steps`` (< one bar), the editor's step 0 is
    placed that many steps before the first downbeat, i.e. at the end of an
    otherwise empty first bar, which is how the library reads a pickup.
    ``layout`` is the model's (default: satb).

    Returns
    -------
    EditorMelody
        The melody piece (of a file of one tempo and one time signature, the
        notes on a 16th grid) and the tick of the editor's step 0.
    """
    tempo = check_number(tempo, "tempo", *limits.TEMPO_RANGE)
    ts = check_meter(meter)
    bar = steps_per_bar(ts)
    pickup_steps = check_int(pickup_steps, "pickup (in 16th steps)", 0, bar - 1)
    melody_program = check_int(melody_program, "melody_program", 0, 127)
    if not isinstance(notes, list):
        raise ConfigError("notes must be a list of {pitch, start, length} objects")
    if not notes:
        raise NoMelodyError("the melody is empty: add notes in the editor or upload a MIDI file")
    if len(notes) > limits.MAX_NOTES:
        raise ConfigError(f"{len(notes)} notes; the studio accepts at most {limits.MAX_NOTES}")
    max_step = limits.MAX_BARS * bar
    tick = limits.PPQ // limits.STEPS_PER_BEAT
    origin = ((bar - pickup_steps) % bar) * tick
    seconds_per_tick = 60.0 / (tempo * limits.PPQ)  # one tempo from tick 0: exact (PrettyMIDI.tick_to_time
    # grows its table at every call for a later tick, quadratic in the number of notes)
    pm = pretty_midi.PrettyMIDI(resolution=limits.PPQ, initial_tempo=tempo)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(ts[0], ts[1], 0.0))
    inst = pretty_midi.Instrument(program=melody_program, name="melody")
    for i, n in enumerate(notes):
        if not isinstance(n, dict):
            raise ConfigError(f"notes[{i}] must be an object {{pitch, start, length}}, got {brief(repr(n))}")
        unknown = set(n) - {"pitch", "start", "length", "velocity"}
        if unknown:
            raise ConfigError(f"notes[{i}] has unknown fields {brief(sorted(unknown))}")
        pitch = check_int(n.get("pitch"), f"notes[{i}].pitch", *limits.PITCH_RANGE)
        start = check_int(n.get("start"), f"notes[{i}].start", 0, max_step - 1)
        length = check_int(n.get("length"), f"notes[{i}].length", 1, limits.MAX_NOTE_STEPS)
        velocity = check_int(n.get("velocity", 90), f"notes[{i}].velocity", *limits.VELOCITY_RANGE)
        if start + length > max_step:
            raise ConfigError(f"notes[{i}] ends after bar {limits.MAX_BARS}; "
                              f"the studio accepts melodies of at most {limits.MAX_BARS} bars")
        on, off = origin + start * tick, origin + (start + length) * tick
        inst.notes.append(pretty_midi.Note(velocity=velocity, pitch=pitch,
                                           start=on * seconds_per_tick, end=off * seconds_per_tick))
    inst.notes.sort(key=lambda n: (n.start, n.pitch))
    pm.instruments.append(inst)
    piece = read_piece(pm, "satb" if layout is None else layout, tracks="melody", align=False)
    return EditorMelody(piece, origin)


# --------------------------------------------------------------------------- uploaded MIDI
def read_upload(data: bytes, layout=None):
    """Read and check an uploaded melody file.

    Parameters
    ----------
    data : bytes
    layout : deepaccomp.layout.Layout, optional
        The model's layout (default: satb).

    Returns
    -------
    deepaccomp.piece.Piece
        The library's reading of its melody (:func:`deepaccomp.piece.read_piece`,
        ``tracks="melody"``: the melody instrument kept as ``originals[0]``, the
        grid and the first downbeat), bars not yet aligned.
    """
    upload = io.BytesIO(bytes(data))
    upload.name = UPLOAD_NAME  # the library's messages name it so, not '<bytes>'
    pm = read_midi(upload)
    check_tempi(pm)
    bad = [m for m in _file_meters(pm) if f"{m[0]}/{m[1]}" not in limits.METERS]
    if bad:
        raise UnsupportedMeterError(
            f"time signature(s) {[f'{n}/{d}' for n, d in bad]} are not supported by the studio; "
            f"use {sorted(limits.METERS)}")
    piece = read_piece(pm, "satb" if layout is None else layout, tracks="melody", align=False)
    n_notes = len(piece.originals[0].notes)
    if n_notes > limits.MAX_NOTES:
        raise InvalidMidiError(f"the melody has {n_notes} notes; the studio accepts at most {limits.MAX_NOTES}")
    bar = min(steps_per_bar(m) for m in _file_meters(pm))
    bars = math.ceil(piece.n_steps / bar)
    if bars > limits.MAX_BARS:
        raise InvalidMidiError(f"the melody is {bars} bars long; the studio accepts at most {limits.MAX_BARS}")
    return piece


def upload_to_editor(piece) -> dict:
    """The melody of an uploaded file (a piece of :func:`read_upload`) as editor notes, on the library's
    grid for that file."""
    grid, inst = piece.grid, piece.originals[0]
    pm = grid.template
    ordered = sorted(inst.notes, key=lambda n: (n.start, n.pitch))
    ticks = seconds_to_ticks(pm, [t for n in ordered for t in (n.start, n.end)]).reshape(-1, 2)
    steps = np.round((ticks - grid.start_tick) / grid.ticks_per_step).astype(np.int64)
    notes = []
    for n, (start, end) in zip(ordered, steps):
        if start < 0 or n.end <= n.start:
            continue
        notes.append({"pitch": int(n.pitch), "start": int(start), "length": int(max(1, end - start)),
                      "velocity": int(n.velocity)})
    _, tempi = pm.get_tempo_changes()
    meter = grid.midi_info(piece.n_steps).time_signature
    return {
        "tempo": round(float(grid.tempo), 3),
        "tempo_changes": int(len(tempi)),
        "meter": f"{meter[0]}/{meter[1]}",
        "pickup_steps": 0,
        "melody_program": int(inst.program),
        "melody_track": int(piece.sources[0][0]),
        "notes": notes,
    }


# --------------------------------------------------------------------------- result -> JSON
def result_to_json(piece, *, origin_tick: int, pickup_steps: int, seed: int, programs, noise_scale,
                   velocity: int) -> dict:
    """The generated piece (a :class:`deepaccomp.piece.Piece` of the model's layout) as JSON: the
    melody and each accompaniment track, with their notes in steps (from the editor's step 0, at
    ``origin_tick``) and in seconds (from the same point), plus the MIDI file the library's writer
    makes of it (``programs``, ``velocity``)."""
    pm = to_pretty_midi(piece, programs=programs, velocity=velocity)
    return take_to_json(pm, (MELODY_LABEL,) + piece.layout.accompaniment_names, origin_tick=origin_tick,
                        ticks_per_step=piece.grid.ticks_per_step, pickup_steps=pickup_steps, seed=seed,
                        programs=programs, noise_scale=noise_scale)


def take_to_json(pm: pretty_midi.PrettyMIDI, names, *, origin_tick: int, ticks_per_step: int, pickup_steps: int,
                 seed, programs, noise_scale) -> dict:
    """A take's MIDI file (the melody, then one instrument per accompaniment track, named ``names``) as
    the studio's JSON answer (:func:`result_to_json`)."""
    origin_time = pm.tick_to_time(int(origin_tick))
    meter = (pm.time_signature_changes[0].numerator, pm.time_signature_changes[0].denominator) \
        if pm.time_signature_changes else (4, 4)
    tracks, last = [], 0.0
    for name, inst, channel in zip(names, pm.instruments, midi_channels(pm)):
        ticks = seconds_to_ticks(pm, [t for n in inst.notes for t in (n.start, n.end)]).reshape(-1, 2)
        steps = (ticks - origin_tick) / ticks_per_step
        notes = []
        for n, (s, e) in zip(inst.notes, steps):
            notes.append({"pitch": int(n.pitch), "start": round(float(s), 3), "end": round(float(e), 3),
                          "time": round(n.start - origin_time, 4), "end_time": round(n.end - origin_time, 4),
                          "velocity": int(n.velocity)})
            last = max(last, n.end - origin_time)
        tracks.append({"name": name, "program": int(inst.program), "drums": bool(inst.is_drum),
                       "channel": channel, "notes": notes})
    _, tempi = pm.get_tempo_changes()
    data = to_midi_bytes(pm)
    return {
        "seed": seed,
        "programs": programs if programs is None or isinstance(programs, str) else list(programs),
        "noise_scale": noise_scale,
        "tempo": round(float(tempi[0]) if len(tempi) else 120.0, 3),
        "meter": f"{meter[0]}/{meter[1]}",
        "steps_per_bar": steps_per_bar(meter),
        "pickup_steps": pickup_steps,
        "duration": round(last, 4),
        "tracks": tracks,
        "midi_base64": base64.b64encode(data).decode("ascii"),
        "filename": f"deepaccomp-seed{seed}.mid" if seed is not None else "deepaccomp-edited.mid",
    }


# --------------------------------------------------------------------------- an edited take
def _take_instruments(pm: pretty_midi.PrettyMIDI, layout, name: str) -> tuple[int, list]:
    """Indices of a take's melody instrument and of each accompaniment track's (the last instrument named
    after it), found as :meth:`deepaccomp.Accompanist.generate` finds them in a kept result."""
    names = [inst.name.strip().lower() for inst in pm.instruments]
    taken = []
    for track in layout.accompaniment:
        found = [i for i, n in enumerate(names) if n == track.name.lower()]
        if not found:
            raise ConfigError(f"{name} has no instrument named {track.name!r}: send the midi_base64 of an "
                              "earlier answer of this model")
        taken.append(found[-1])
    rest = [i for i, inst in enumerate(pm.instruments) if i not in taken and not inst.is_drum and inst.notes]
    if not rest:
        raise ConfigError(f"{name} has no melody instrument beside its accompaniment tracks")
    return rest[0], taken


def _edited_notes(track: dict, k: int, first_tick: int, ticks_per_step: int, end_tick: int, counted: list) -> list:
    """The ``(tick on, tick off, pitch, velocity)`` of ``accompaniment[k]``'s notes, checked: each within
    the file and ending at most :data:`~deepaccomp.studio.limits.MAX_NOTE_STEPS` steps after the take's end
    (``end_tick``)."""
    notes = track.get("notes")
    where = f"accompaniment[{k}]"
    if not isinstance(notes, list):
        raise ConfigError(f"{where}.notes must be a list of {{pitch, start, length}} objects")
    counted[0] += len(notes)
    if counted[0] > limits.MAX_TAKE_NOTES:
        raise ConfigError(f"the edited accompaniment has more than {limits.MAX_TAKE_NOTES} notes "
                          "(limits.MAX_TAKE_NOTES); regenerate the take instead of editing it")
    lowest = -limits.MAX_NOTE_STEPS
    highest = limits.MAX_BARS * limits.STEPS_PER_BEAT * 4
    out = []
    for i, n in enumerate(notes):
        if not isinstance(n, dict) or set(n) - {"pitch", "start", "length", "velocity"}:
            raise ConfigError(f"{where}.notes[{i}] must be an object {{pitch, start, length[, velocity]}}, "
                              f"got {brief(repr(n))}")
        pitch = check_int(n.get("pitch"), f"{where}.notes[{i}].pitch", *limits.PITCH_RANGE)
        start = check_int(n.get("start"), f"{where}.notes[{i}].start", lowest, highest)
        length = check_int(n.get("length"), f"{where}.notes[{i}].length", 1, limits.MAX_NOTE_STEPS)
        velocity = check_int(n.get("velocity", 90), f"{where}.notes[{i}].velocity", *limits.VELOCITY_RANGE)
        on = first_tick + start * ticks_per_step
        if on < 0:
            raise ConfigError(f"{where}.notes[{i}] starts at step {start}, before the beginning of the file")
        if on + length * ticks_per_step > end_tick + limits.MAX_NOTE_STEPS * ticks_per_step:
            raise ConfigError(f"{where}.notes[{i}] ends more than {limits.MAX_NOTE_STEPS} steps after the take")
        out.append((on, on + length * ticks_per_step, pitch, velocity))
    return out


def edit_take(keep: bytes, accompaniment, layout, *, origin_tick: int, ticks_per_step: int,
              name: str = "keep_midi_base64") -> pretty_midi.PrettyMIDI:
    """A take (an earlier answer's MIDI file) with the notes of some accompaniment tracks replaced.

    Parameters
    ----------
    keep : bytes
        The take's MIDI file.
    accompaniment : list of dict
        ``[{"name": track, "notes": [{pitch, start, length[, velocity]}]}]``: the new notes of
        those tracks of ``layout`` (each at most once; the others are kept), in 16th-note steps from
        the editor's step 0 (the answer's coordinates).
    layout : deepaccomp.layout.Layout
    origin_tick, ticks_per_step : int
        Where the editor's step 0 is in the take, and the length of a step, in ticks.

    Returns
    -------
    pretty_midi.PrettyMIDI
        The melody instrument as it was, then each accompaniment track in layout order (the tempo map,
        time signatures, names and programs of the take).
    """
    upload = io.BytesIO(bytes(keep))
    upload.name = name
    pm = read_midi(upload)
    melody, taken = _take_instruments(pm, layout, name)
    names = list(layout.accompaniment_names)
    if not isinstance(accompaniment, list):
        raise ConfigError("accompaniment must be a list of {name, notes} objects, one per edited track")
    end_tick = int(seconds_to_ticks(pm, [pm.get_end_time()])[0])
    edits, counted = {}, [0]
    for k, track in enumerate(accompaniment):
        if not isinstance(track, dict) or set(track) != {"name", "notes"}:
            raise ConfigError(f"accompaniment[{k}] must be an object {{name, notes}}, got {brief(repr(track))}")
        if track["name"] not in names:
            raise ConfigError(f"accompaniment[{k}]: no track {brief(repr(track['name']))} in layout "
                              f"{layout.name!r}; its accompaniment tracks are {', '.join(names)}")
        if track["name"] in edits:
            raise ConfigError(f"accompaniment[{k}]: track {track['name']!r} is given twice")
        edits[track["name"]] = _edited_notes(track, k, origin_tick, ticks_per_step, end_tick, counted)
    last = max((off for notes in edits.values() for _, off, _, _ in notes), default=0)
    pm.tick_to_time(int(last))  # extends the tick table once; each lookup below is then O(1)
    for track_name, i in zip(names, taken):
        if track_name in edits:
            pm.instruments[i].notes = [pretty_midi.Note(velocity=v, pitch=p, start=pm.tick_to_time(int(on)),
                                                        end=pm.tick_to_time(int(off)))
                                       for on, off, p, v in sorted(edits[track_name])]
    pm.instruments = [pm.instruments[melody]] + [pm.instruments[i] for i in taken]
    return pm
