"""Bad or unusual input files give a clear error from the deepaccomp family (never a raw
traceback, never a hang) or the right roll. Every file is built here."""

import errno
import io
import os
import time
import zipfile

import mido
import numpy as np
import pretty_midi
import pytest

from conftest import SIMPLE, active, make_midi, meter, mido_bytes, tempo, to_bytes
from deepaccomp import io_utils, midi
from deepaccomp.errors import (
    ConfigError,
    DeepAccompError,
    InputFileError,
    InvalidMidiError,
    ModelFileError,
    NoMelodyError,
    OutputFileError,
    UnsupportedMeterError,
)

# ---------------------------------------------------------------------- input files


def test_not_midi_at_all(tmp_path):
    path = tmp_path / "notes.mid"
    path.write_text("C D E F G, this is a text file\n")
    with pytest.raises(InvalidMidiError, match="not a MIDI file"):
        midi.midi_to_roll(path)
    with pytest.raises(InvalidMidiError, match="not a MIDI file"):
        midi.read_midi(b"RIFF\x00\x00\x00\x00RMIDdata")  # RIFF-wrapped MIDI is not supported


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.mid"
    path.write_bytes(b"")
    with pytest.raises(InvalidMidiError, match="empty"):
        midi.midi_to_roll(path)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.5, 0.8, 0.97])
def test_truncated_midi(tmp_path, good_bytes, fraction):
    path = tmp_path / "cut.mid"
    path.write_bytes(good_bytes[: int(len(good_bytes) * fraction)])
    with pytest.raises(InvalidMidiError, match="damaged or truncated|not a MIDI"):
        midi.midi_to_roll(path)


def test_every_truncation_point_is_a_clear_error(good_bytes):
    for cut in range(len(good_bytes)):
        with pytest.raises(InvalidMidiError):
            midi.midi_to_roll(good_bytes[:cut])


@pytest.mark.parametrize("data", [
    # header claims 6 bytes, then a track chunk of nonsense
    b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff",
    # a note_on whose data bytes are above 127
    b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x08\x00\x90\xff\xff\x00\xff\x2f\x00",
    # header length field far too large
    b"MThd\xff\xff\xff\xff\x00\x00\x00\x01\x01\xe0",
    # ticks per beat 0 (pretty_midi divides by it)
    b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00MTrk\x00\x00\x00\x04\x00\xff\x2f\x00",
    # time signature with numerator 0
    b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x01\xe0MTrk\x00\x00\x00\x0c\x00\xff\x58\x04\x00\x02\x18\x08"
    b"\x00\xff\x2f\x00",
])
def test_corrupted_midi(data):
    with pytest.raises(InvalidMidiError):
        midi.midi_to_roll(data)


def test_corrupted_bytes_inside_a_good_file(good_bytes):
    data = bytearray(good_bytes)
    data[30:40] = b"\xff" * 10  # inside the first track
    with pytest.raises((InvalidMidiError, NoMelodyError)):
        midi.midi_to_roll(bytes(data))


def test_a_note_millions_of_ticks_away_is_refused_quickly():
    # resolution 1 tick per beat and a note ending 9 million ticks later: a roll of
    # 36M steps (gigabytes) and minutes in pretty_midi.get_downbeats before the fix
    data = mido_bytes([(60, 0, 9_000_000)], [meter(0, 4, 4)], resolution=1)
    t0 = time.perf_counter()
    with pytest.raises(InvalidMidiError, match="too long or damaged"):
        midi.midi_to_roll(data)
    assert time.perf_counter() - t0 < 10


def test_absurd_time_signature_does_not_hang():
    data = mido_bytes([(60, 0, 1), (62, 1, 2)], [meter(0, 255, 2**30)])
    t0 = time.perf_counter()
    try:
        roll, _ = midi.midi_to_roll(data)
    except InvalidMidiError:
        pass
    else:
        assert roll.shape[0] >= 8
    assert time.perf_counter() - t0 < 10


def test_midi_without_notes():
    data = mido_bytes([], [tempo(0, 100), meter(0, 4, 4)])
    with pytest.raises(NoMelodyError, match="no notes"):
        midi.midi_to_roll(data)


def test_only_drums():
    data = mido_bytes([(36, 0, 1), (38, 1, 2), (42, 2, 3)], [meter(0, 4, 4)], channel=9)
    with pytest.raises(NoMelodyError, match="drums"):
        midi.midi_to_roll(data)


def test_only_zero_length_notes():
    data = mido_bytes([(60, 0, 0), (62, 1, 1), (64, 2, 2)], [meter(0, 4, 4)])
    with pytest.raises(NoMelodyError):
        midi.midi_to_roll(data)


def test_melody_track_out_of_range():
    with pytest.raises(NoMelodyError, match="melody_track"):
        midi.midi_to_roll(make_midi(SIMPLE), melody_track=3)
    with pytest.raises(NoMelodyError):
        midi.midi_to_roll(make_midi(SIMPLE), melody_track=-1)


def test_melody_with_chords_is_reduced_to_its_top_line():
    chords = [(60, 0, 2), (64, 0, 2), (67, 0, 1), (69, 1, 2),  # C major triad, top voice moves
              (55, 2, 4), (59, 2, 4), (62, 2, 4), (65, 3, 4)]  # G7, a 4th voice joins on top
    bass = ("bass", 33, [(36, 0, 4)])
    roll, info = midi.midi_to_roll(make_midi([("melody", 0, chords), bass]))
    assert info.melody_index == 0
    assert roll[:, :, 0].sum(axis=1).max() == 1
    assert active(roll) == ({(s, 67) for s in range(4)} | {(s, 69) for s in range(4, 8)}
                            | {(s, 62) for s in range(8, 12)} | {(s, 65) for s in range(12, 16)})


@pytest.mark.parametrize("bpm", [20, 400])
def test_extreme_tempi_put_notes_on_the_right_steps(bpm):
    notes = [(60, 0, 1), (62, 1, 1.5), (64, 2.25, 2.5), (65, 3, 4)]
    roll, info = midi.midi_to_roll(mido_bytes(notes, [tempo(0, bpm), meter(0, 4, 4)]))
    assert active(roll) == ({(s, 60) for s in range(4)} | {(4, 62), (5, 62)} | {(9, 64)}
                            | {(s, 65) for s in range(12, 16)})
    assert info.tempo == pytest.approx(bpm, rel=1e-3)
    times = info.step_times()
    assert times[4] == pytest.approx(60.0 / bpm, rel=1e-3)
    assert times[16] == pytest.approx(4 * 60.0 / bpm, rel=1e-3)


def test_tempo_and_meter_changes_mid_piece():
    meta = [tempo(0, 120), meter(0, 4, 4), tempo(4, 60), meter(8, 3, 4), tempo(11, 90)]
    notes = [(60 + b % 7, b, b + 1) for b in range(17)]
    roll, info = midi.midi_to_roll(mido_bytes(notes, meta))
    assert active(roll) == {(4 * b + s, 60 + b % 7) for b in range(17) for s in range(4)}
    assert info.time_signature == (4, 4)
    assert info.time_signature_at(8 * 4 - 1) == (4, 4) and info.time_signature_at(8 * 4) == (3, 4)
    assert info.time_signatures == [(3, 4), (4, 4)]
    times = info.step_times()
    assert times[4 * 4] == pytest.approx(2.0)          # 4 beats at 120
    assert times[8 * 4] == pytest.approx(6.0)          # + 4 beats at 60
    assert times[11 * 4] == pytest.approx(9.0)        # + 3 beats at 60
    assert times[12 * 4] == pytest.approx(9.0 + 60 / 90)


def test_first_note_after_a_meter_change_starts_at_the_right_downbeat():
    # 4/4 bar (beats 0-4), then 3/4 bars at beats 4, 7, 10: the first note (beat 8)
    # lies in the bar starting at beat 7, so step 0 is beat 7
    meta = [tempo(0, 120), meter(0, 4, 4), meter(4, 3, 4)]
    data = mido_bytes([(67, 8, 9), (69, 9, 10)], meta)
    roll, info = midi.midi_to_roll(data)
    assert active(roll) == {(s, 67) for s in range(4, 8)} | {(s, 69) for s in range(8, 12)}
    assert info.start_tick == 7 * 480
    pm = pretty_midi.PrettyMIDI(io.BytesIO(data))  # agrees with pretty_midi's downbeats
    downbeats = [pm.time_to_tick(t) for t in pm.get_downbeats()]
    assert max(d for d in downbeats if d <= 8 * 480) == info.start_tick


def test_ten_minute_melody_is_quick():
    n = 10 * 120 * 4  # 10 minutes of 16th notes at 120 bpm
    notes = [(60 + (i % 2) * 2, i / 4, (i + 1) / 4) for i in range(n)]
    data = to_bytes(make_midi([("melody", 0, notes)]))
    t0 = time.perf_counter()
    roll, info = midi.midi_to_roll(data)
    elapsed = time.perf_counter() - t0
    assert roll.shape == (n, 128, 1)
    assert (roll[:, :, 0].sum(axis=1) == 1).all()
    assert info.step_times()[-1] == pytest.approx(600.0)
    assert elapsed < 5, f"midi_to_roll took {elapsed:.1f} s"


def test_paths_that_cannot_be_read(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        midi.read_midi(tmp_path / "missing.mid")
    with pytest.raises(InputFileError, match="no such file"):
        midi.read_midi(str(tmp_path / "no-folder" / "missing.mid"))
    with pytest.raises(InputFileError, match="is a directory"):
        midi.read_midi(tmp_path)


def test_file_without_read_permission(tmp_path, good_bytes):
    path = tmp_path / "secret.mid"
    path.write_bytes(good_bytes)
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as root: a chmod 0 file is still readable")
        with pytest.raises(InputFileError, match="permission denied"):
            midi.read_midi(path)
    finally:
        path.chmod(0o644)


def test_file_objects_and_unsupported_sources(tmp_path, good_bytes):
    path = tmp_path / "good.mid"
    path.write_bytes(good_bytes)
    with open(path, "rb") as fh:
        assert midi.read_midi(fh).instruments
    with open(path, encoding="latin-1") as fh, pytest.raises(InvalidMidiError, match="text mode"):
        midi.read_midi(fh)

    class Broken(io.RawIOBase):
        name = "broken-stream"

        def read(self, n=-1):
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(InputFileError, match="broken-stream"):
        midi.read_midi(Broken())
    with pytest.raises(InvalidMidiError, match="cannot read MIDI from a int"):
        midi.read_midi(42)


def test_too_large_file_is_refused_without_reading_it_all(tmp_path, monkeypatch, good_bytes):
    monkeypatch.setattr(midi, "MAX_MIDI_BYTES", 64)
    path = tmp_path / "big.mid"
    path.write_bytes(good_bytes + b"\0" * 100)
    with pytest.raises(InvalidMidiError, match="too large"):
        midi.read_midi(path)
    with pytest.raises(InvalidMidiError, match="too large"):
        midi.read_midi(io.BytesIO(path.read_bytes()))
