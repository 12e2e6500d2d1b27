"""deepaccomp.midi.to_midi_bytes: byte for byte what ``PrettyMIDI.write`` writes, on many files of every
kind the library writes and a few it leaves to ``PrettyMIDI.write``."""

from __future__ import annotations

import io

import numpy as np
import pretty_midi
import pytest

from deepaccomp import Accompanist
from deepaccomp.errors import InvalidMidiError
from deepaccomp.midi import _encode_midi, to_midi_bytes, write_midi


def written(pm: pretty_midi.PrettyMIDI) -> bytes:
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def random_midi(rng: np.random.Generator) -> pretty_midi.PrettyMIDI:
    """A file with what the library's files hold, drawn at random: tempi, meters, keys, named, drum and
    pitched instruments (more than 16 at times), notes sharing ticks and pitches, bends and controls."""
    pm = pretty_midi.PrettyMIDI(resolution=int(rng.choice([96, 220, 480, 960])),
                                initial_tempo=float(rng.uniform(40, 220)))
    for _ in range(rng.integers(0, 3)):
        pm.time_signature_changes.append(pretty_midi.TimeSignature(
            int(rng.integers(1, 13)), int(rng.choice([2, 4, 8, 16])), float(rng.choice([0.0, rng.uniform(0, 20)]))))
    for _ in range(rng.integers(0, 3)):
        pm.key_signature_changes.append(pretty_midi.KeySignature(int(rng.integers(0, 24)), float(rng.uniform(0, 20))))
    for n in range(int(rng.choice([1, 3, 5, 18]))):
        inst = pretty_midi.Instrument(program=int(rng.integers(0, 128)), is_drum=bool(rng.random() < 0.15),
                                      name=str(rng.choice(["", "melody", "alto", "Bässe ß", "piano"])))
        grid = float(rng.choice([0.0, 0.125, 0.25]))
        for _ in range(rng.integers(0, 60)):
            start = float(rng.uniform(0, 30))
            if grid:
                start = round(start / grid) * grid
            length = float(rng.choice([grid or 0.1, rng.uniform(0.01, 4)]))
            inst.notes.append(pretty_midi.Note(velocity=int(rng.integers(0, 128)), pitch=int(rng.integers(40, 44)),
                                               start=start, end=start + length))
        for _ in range(rng.integers(0, 4)):
            inst.pitch_bends.append(pretty_midi.PitchBend(int(rng.integers(-8192, 8192)), float(rng.uniform(0, 30))))
        for _ in range(rng.integers(0, 4)):
            inst.control_changes.append(pretty_midi.ControlChange(int(rng.integers(0, 128)), int(rng.integers(0, 128)),
                                                                  float(rng.uniform(0, 30))))
        pm.instruments.append(inst)
    if rng.random() < 0.5:  # read back: a tempo map of several tempi and a tick table of the file's length
        data = written(pm)
        pm = pretty_midi.PrettyMIDI(io.BytesIO(data))
        if pm.instruments:  # a note beyond the table
            pm.instruments[-1].notes.append(pretty_midi.Note(velocity=64, pitch=60, start=29.0, end=45.5))
    return pm


@pytest.mark.slow
def test_random_files_are_written_byte_for_byte_as_pretty_midi_writes_them():
    rng = np.random.default_rng(0)
    for i in range(100):
        pm = random_midi(rng)
        assert _encode_midi(pm) is not None, i  # the library's own encoder, not pretty_midi's
        assert to_midi_bytes(pm) == written(pm), i


def test_several_tempi_are_written_as_pretty_midi_writes_them():
    pm = pretty_midi.PrettyMIDI(resolution=220, initial_tempo=90.0)
    inst = pretty_midi.Instrument(0, name="piano")
    inst.notes = [pretty_midi.Note(80, 60 + i % 5, i * 0.37, i * 0.37 + 0.5) for i in range(40)]
    pm.instruments.append(inst)
    pm = pretty_midi.PrettyMIDI(io.BytesIO(written(pm)))
    pm._tick_scales = [(0, 60.0 / (90.0 * 220)), (880, 60.0 / (140.0 * 220)), (2000, 60.0 / (61.5 * 220))]
    pm._update_tick_to_time(3000)
    assert to_midi_bytes(pm) == written(pm)


def test_the_models_files_are_written_as_pretty_midi_writes_them():
    result = Accompanist().generate("deepaccomp/assets/examples/ode_to_joy_pickup.mid", seed=2)
    assert to_midi_bytes(result) == written(result)


def test_what_it_leaves_to_pretty_midi_is_written_by_pretty_midi():
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0, name="x"))
    pm.instruments[0].notes.append(pretty_midi.Note(90, 60, 0.0, 1.0))
    pm.lyrics.append(pretty_midi.Lyric("la", 0.5))
    assert _encode_midi(pm) is None and to_midi_bytes(pm) == written(pm)


@pytest.mark.parametrize("field, value", [("velocity", 128), ("pitch", -1), ("pitch", 300)])
def test_values_midi_cannot_hold_are_invalid_midi_errors(tmp_path, field, value):
    pm = pretty_midi.PrettyMIDI()
    pm.instruments.append(pretty_midi.Instrument(0))
    note = pretty_midi.Note(90, 60, 0.0, 1.0)
    setattr(note, field, value)
    pm.instruments[0].notes.append(note)
    with pytest.raises(InvalidMidiError, match="cannot be encoded"):
        to_midi_bytes(pm)
    with pytest.raises(InvalidMidiError, match=r"out\.mid: the MIDI data cannot be encoded"):
        write_midi(pm, tmp_path / "out.mid")
    assert not list(tmp_path.iterdir())
