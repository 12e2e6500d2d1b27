"""Bad or unusual input files give a clear error from the deepaccomp family (never a raw
traceback, never a hang) or the right roll. Every file is built here."""

import errno
import io
import os
import time

import mido
import numpy as np
import pretty_midi
import pytest

from helpers import SIMPLE, active, make_midi, meter, mido_bytes, tempo, to_bytes
from deepaccomp import midi
from deepaccomp.errors import (
    ConfigError,
    InputFileError,
    InputTooLargeError,
    InvalidMidiError,
    NoMelodyError,
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


@pytest.mark.slow
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


# ---------------------------------------------------------------------- limits, before allocating


def test_a_note_two_hours_after_the_first_is_refused_before_the_roll_is_built(monkeypatch):
    # 51 bytes: a note at 0 and one two hours later at 240 bpm (115,200 steps)
    data = mido_bytes([(60, 0, 1), (62, 28_800, 28_801)], [tempo(0, 240)], resolution=1)
    assert len(data) < 64
    built = []
    monkeypatch.setattr(midi.np, "cumsum", lambda *a, **k: built.append(a) or np.cumsum(*a, **k))
    t0 = time.perf_counter()
    with pytest.raises(InputTooLargeError, match="too long or damaged"):
        midi.midi_to_roll(data)
    assert time.perf_counter() - t0 < 10 and not built


@pytest.mark.parametrize("num, den, steps_per_bar", [(4, 4, 16), (3, 4, 12), (6, 4, 24), (2, 2, 16)])
def test_the_melody_limit_is_in_bars_of_its_meter(num, den, steps_per_bar):
    beats_per_bar = num * 4 / den
    bars = midi.MAX_MELODY_BARS
    last = (bars - 1) * beats_per_bar  # a note on the downbeat of the last bar allowed
    roll, _ = midi.midi_to_roll(mido_bytes([(60, 0, 1), (62, last, last + beats_per_bar)], [meter(0, num, den)]))
    assert roll.shape[0] == bars * steps_per_bar == midi.max_melody_steps(steps_per_bar)
    with pytest.raises(InputTooLargeError, match=f"more than {bars * steps_per_bar}"):
        midi.midi_to_roll(mido_bytes([(60, 0, 1), (62, last + beats_per_bar, last + 2 * beats_per_bar)],
                                     [meter(0, num, den)]))


def test_max_melody_steps_is_capped_for_long_or_odd_bars():
    assert midi.max_melody_steps(16) == 512 * 16
    assert midi.max_melody_steps(255 * 16) == midi.MAX_ROLL_STEPS == 512 * 24
    assert midi.max_melody_steps(float("nan")) == midi.max_melody_steps(0) == 512


def test_too_many_midi_events_are_refused_before_parsing(monkeypatch):
    notes = [(60 + i % 5, i, i + 1) for i in range(50)]
    data = mido_bytes(notes, [tempo(0, 90), meter(0, 3, 4)])
    tracks = mido.MidiFile(file=io.BytesIO(data)).tracks
    events = sum(len(t) for t in tracks) + len(tracks)  # each track chunk counts as one
    monkeypatch.setattr(midi, "MAX_MIDI_EVENTS", events)
    midi.read_midi(data)  # exactly at the limit
    monkeypatch.setattr(midi, "MAX_MIDI_EVENTS", events - 1)
    parsed = []

    class Recording(pretty_midi.PrettyMIDI):
        def __init__(self, *args, **kwargs):
            parsed.append(args)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(midi.pretty_midi, "PrettyMIDI", Recording)
    with pytest.raises(InputTooLargeError, match="MIDI events"):
        midi.read_midi(data)
    assert not parsed


def test_a_dense_file_is_refused_quickly():
    # 10 MB of notes (3.3M events): minutes and gigabytes in the parser before the event count
    track = bytearray()
    block = bytes([0, 0x90, 40, 80]) + b"".join(bytes([0, p, 80]) for p in range(41, 80)) + \
        bytes([0x60, 40, 0]) + b"".join(bytes([0, p, 0]) for p in range(41, 80))
    while len(track) < 10_000_000:
        track += block
    data = (b"MThd" + (6).to_bytes(4, "big") + b"\x00\x00\x00\x01\x01\xe0"
            + b"MTrk" + len(track).to_bytes(4, "big") + bytes(track))
    t0 = time.perf_counter()
    with pytest.raises(InputTooLargeError, match="MIDI events"):
        midi.read_midi(data)
    assert time.perf_counter() - t0 < 10


def test_too_many_melody_notes(monkeypatch):
    monkeypatch.setattr(midi, "MAX_MELODY_NOTES", 7)
    midi.midi_to_roll(make_midi([("melody", 0, [(60, i, i + 1) for i in range(7)])]))
    with pytest.raises(InputTooLargeError, match="8 notes"):
        midi.midi_to_roll(make_midi(SIMPLE))


def test_smpte_timing_is_named():
    data = bytearray(mido_bytes([(60, 0, 1), (62, 1, 2)], [meter(0, 4, 4)]))
    data[12:14] = bytes([0xE7, 40])  # -25 frames per second, 40 ticks per frame
    with pytest.raises(InvalidMidiError, match="SMPTE timing .* not supported"):
        midi.midi_to_roll(bytes(data))


@pytest.mark.parametrize("field, value, match", [
    ("pitch", 200, "pitch 200"), ("pitch", -5, "pitch -5"), ("pitch", 60.5, "pitch 60.5"),
    ("end", float("inf"), "end time inf"), ("start", float("nan"), "start time nan"),
    ("start", -1.0, "start time -1.0"),
])
def test_a_pretty_midi_object_with_impossible_notes(field, value, match):
    pm = make_midi(SIMPLE)
    setattr(pm.instruments[0].notes[3], field, value)
    with pytest.raises(InvalidMidiError, match=f"note 3 has {match}"):
        midi.midi_to_roll(pm)


def test_melody_track_of_the_wrong_type():
    with pytest.raises(ConfigError, match="melody_track must be an instrument index"):
        midi.midi_to_roll(make_midi(SIMPLE), melody_track="0")
    with pytest.raises(ConfigError):
        midi.midi_to_roll(make_midi(SIMPLE), melody_track=True)


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "melody.mid"
    os.mkfifo(fifo)
    t0 = time.perf_counter()
    with pytest.raises(InputFileError, match="not a regular file"):
        midi.read_midi(fifo)
    assert time.perf_counter() - t0 < 5


def test_a_million_empty_tracks_are_refused_before_parsing():
    data = b"MThd" + (6).to_bytes(4, "big") + b"\x00\x01\xff\xff\x01\xe0" + b"MTrk\x00\x00\x00\x00" * 1_000_000
    t0 = time.perf_counter()
    with pytest.raises(InputTooLargeError, match="MIDI events"):
        midi.read_midi(data)
    assert time.perf_counter() - t0 < 10


# ---------------------------------------------------------------------- text mode and long names
def test_a_real_midi_file_opened_in_text_mode_is_an_invalid_midi_error(tmp_path, good_bytes):
    # a real file's bytes are not UTF-8 (0xE0 of its 480 ticks per beat): before, reading it
    # in text mode raised a raw UnicodeDecodeError from read_midi and midi_to_roll alike
    path = tmp_path / "good.mid"
    path.write_bytes(good_bytes)
    for read in (midi.read_midi, midi.midi_to_roll):
        with open(path) as fh, pytest.raises(InvalidMidiError, match="opened in text mode.*'rb'"):
            read(fh)


def test_a_text_mode_file_object_decoding_as_it_reads_is_an_invalid_midi_error(good_bytes):
    class Decoding(io.RawIOBase):  # not a TextIOBase, but decodes what it reads, as a wrapper might
        name = "wrapped.mid"

        def read(self, n=-1):
            return good_bytes.decode("utf-8")

    with pytest.raises(InvalidMidiError, match="wrapped.mid: opened in text mode"):
        midi.read_midi(Decoding())


def test_a_50_mb_path_is_not_echoed_whole(tmp_path):
    name = "x" * 50_000_000
    with pytest.raises(InputFileError) as info:
        midi.read_midi(name)
    assert len(str(info.value)) < 400 and "more characters" in str(info.value)
    path = tmp_path / "named.mid"
    path.write_bytes(b"RIFF" + bytes(100))

    class Named(io.BytesIO):
        pass

    named = Named(path.read_bytes())
    named.name = "y" * 10_000_000
    with pytest.raises(InvalidMidiError) as info:
        midi.read_midi(named)
    assert len(str(info.value)) < 400


def test_a_10_mb_track_name_is_not_echoed_whole():
    pm = make_midi([("melody", 0, [])])
    pm.instruments[0].name = "n" * 10_000_000
    with pytest.raises(NoMelodyError) as info:
        midi.midi_to_roll(pm, melody_track=0)
    assert len(str(info.value)) < 400


@pytest.mark.slow
def test_accompanist_generate_refuses_a_text_mode_file(tmp_path, good_bytes, tiny_model):
    from deepaccomp import Accompanist

    path = tmp_path / "good.mid"
    path.write_bytes(good_bytes)
    with open(path) as fh, pytest.raises(InvalidMidiError, match="opened in text mode"):
        Accompanist.load(tiny_model).generate(fh, seed=0)


@pytest.mark.slow
def test_a_huge_velocity_is_not_echoed_whole(tiny_model, good_bytes):
    from deepaccomp import Accompanist

    with pytest.raises(ConfigError, match="velocity") as info:
        Accompanist.load(tiny_model).generate(good_bytes, seed=0, velocity="v" * 10_000_000)
    assert len(str(info.value)) < 400


def test_read_bounded_refuses_what_is_not_a_small_regular_file(tmp_path):
    """The one bounded reader of small files from outside (layout, shard index and plan, POP909 text
    files, lock files): a FIFO is refused without waiting, a folder, an oversized file and a missing one too."""
    from deepaccomp.io_utils import FileTooLargeError, NotRegularFileError, read_bounded

    (tmp_path / "ok").write_bytes(b"12345")
    assert read_bounded(tmp_path / "ok", 5) == b"12345"
    with pytest.raises(FileTooLargeError):
        read_bounded(tmp_path / "ok", 4)
    os.mkfifo(tmp_path / "fifo")  # nobody writes to it: a blocking open would wait for ever
    for odd in ("fifo", ""):
        with pytest.raises(NotRegularFileError):
            read_bounded(tmp_path / odd, 5)
    with pytest.raises(FileNotFoundError):
        read_bounded(tmp_path / "missing", 5)
