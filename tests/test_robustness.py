"""Bad inputs give a clear error from the deepaccomp family: never a raw traceback
from mido / pretty_midi / numpy / TensorFlow, never a hang, never a partial file.

Every file is built here (pretty_midi, mido or raw bytes); the model tests use a
tiny untrained generator exported to ``tmp_path``, not the shipped model.
"""

import errno
import io
import os
import time
import zipfile

import mido
import numpy as np
import pretty_midi
import pytest

from conftest import make_midi
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

# ---------------------------------------------------------------------- helpers


def to_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def mido_bytes(notes, meta=(), *, resolution=480, channel=0) -> bytes:
    """A type-1 file: a meta track (``meta`` = [(beat, MetaMessage)]) and one note track.

    ``notes`` = [(pitch, start_beat, end_beat)].
    """
    mid = mido.MidiFile(ticks_per_beat=resolution)
    for events in (
        [(int(round(b * resolution)), 0, m) for b, m in meta],
        [(int(round(b0 * resolution)), 1, mido.Message("note_on", note=p, velocity=80, channel=channel))
         for p, b0, _ in notes]
        + [(int(round(b1 * resolution)), 0, mido.Message("note_off", note=p, velocity=0, channel=channel))
           for p, _, b1 in notes],
    ):
        track = mido.MidiTrack()
        now = 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def tempo(beat, bpm):
    return (beat, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))


def meter(beat, num, den):
    return (beat, mido.MetaMessage("time_signature", numerator=num, denominator=den))


def active(roll):
    t, p = np.nonzero(roll[:, :, 0])
    return set(zip(t.tolist(), p.tolist()))


SIMPLE = [("melody", 0, [(60 + i % 5, i, i + 1) for i in range(8)])]


@pytest.fixture(scope="module")
def good_bytes():
    return to_bytes(make_midi(SIMPLE))


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


# ---------------------------------------------------------------------- output files


def small_pm():
    return midi.roll_to_midi(np.ones((4, 2, 1), bool), lowest_pitch=60)


def test_output_folder_missing_creates_nothing(tmp_path):
    target = tmp_path / "nope" / "out.mid"
    with pytest.raises(OutputFileError, match="does not exist"):
        midi.write_midi(small_pm(), target)
    assert list(tmp_path.iterdir()) == []


def test_writing_over_a_directory(tmp_path):
    folder = tmp_path / "out.mid"
    folder.mkdir()
    with pytest.raises(OutputFileError, match="is a directory"):
        midi.write_midi(small_pm(), folder)
    assert folder.is_dir() and list(folder.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["out.mid"]


def test_output_inside_a_file(tmp_path):
    (tmp_path / "melody.mid").write_bytes(b"x")
    with pytest.raises(OutputFileError, match="is a file, not a folder"):
        midi.write_midi(small_pm(), tmp_path / "melody.mid" / "out.mid")
    assert [p.name for p in tmp_path.iterdir()] == ["melody.mid"]


def test_empty_output_name():
    with pytest.raises(OutputFileError, match="no output file name"):
        midi.write_midi(small_pm(), "")


def test_long_valid_file_name_is_written(tmp_path):
    path = tmp_path / ("x" * 240 + ".mid")  # the temporary name must stay below NAME_MAX too
    midi.write_midi(small_pm(), path)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


@pytest.mark.parametrize("where", ["os.replace", "os.fsync"])
def test_disk_full_leaves_no_partial_or_temporary_file(tmp_path, monkeypatch, where):
    target = tmp_path / "out.mid"
    target.write_bytes(b"previous content")

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io_utils.os, where.split(".")[1], no_space)
    with pytest.raises(OutputFileError, match="no space left"):
        midi.write_midi(small_pm(), target)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["out.mid"]
    assert target.read_bytes() == b"previous content"


def test_temporary_file_cannot_be_created(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(io_utils.tempfile, "mkstemp", read_only)
    with pytest.raises(OutputFileError, match="read-only"):
        io_utils.atomic_write_bytes(tmp_path / "out.bin", b"data")
    assert list(tmp_path.iterdir()) == []


def test_any_error_while_writing_removes_the_temporary_file(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with io_utils.atomic_path(tmp_path / "out.bin") as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_unencodable_midi_is_a_clear_error_and_writes_nothing(tmp_path):
    pm = small_pm()
    pm.instruments[0].notes[0].velocity = 300
    with pytest.raises(InvalidMidiError, match="cannot be encoded"):
        midi.write_midi(pm, tmp_path / "out.mid")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConfigError, match="velocity"):
        midi.roll_to_midi(np.ones((4, 2, 1), bool), lowest_pitch=60, velocity=0)


def test_failed_write_keeps_the_old_file_and_a_good_write_replaces_it(tmp_path):
    target = tmp_path / "out.mid"
    midi.write_midi(small_pm(), target)
    before = target.read_bytes()
    pm = small_pm()
    pm.instruments[0].notes[0].pitch = 200
    with pytest.raises(InvalidMidiError):
        midi.write_midi(pm, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.mid"]


# ---------------------------------------------------------------------- model artifacts

TINY = {"encoder_filters": [4, 4], "decoder_filters": [4], "noise_channels": 2, "critic_filters": [4, 4]}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from deepaccomp import preset
    from deepaccomp.models import build_generator
    from deepaccomp.training import export_generator

    cfg = preset("default").replace(model=TINY, data={"phrase_bars": 1})
    path = tmp_path_factory.mktemp("model") / "generator.npz"
    export_generator(build_generator(cfg), cfg, path)
    return path


def npz_members(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_artifact_reads_back(tiny_model):
    from deepaccomp.training import read_artifact

    cfg, weights = read_artifact(tiny_model)
    assert list(cfg.model.encoder_filters) == [4, 4] and weights
    assert read_artifact(tiny_model.parent)[0] == cfg  # a folder holding generator.npz


def test_missing_artifact(tmp_path):
    from deepaccomp.training import read_artifact

    with pytest.raises(ModelFileError, match="not found"):
        read_artifact(tmp_path / "generator.npz")
    with pytest.raises(ModelFileError, match="not found"):
        read_artifact(tmp_path)  # a folder without generator.npz


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_artifact(tmp_path, tiny_model, fraction):
    from deepaccomp.training import read_artifact

    data = tiny_model.read_bytes()
    path = tmp_path / "generator.npz"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError, match="not a readable deepaccomp model"):
        read_artifact(path)


def test_flipped_byte_in_the_compressed_weights(tmp_path, tiny_model):
    from deepaccomp.training import read_artifact

    data = bytearray(tiny_model.read_bytes())
    with zipfile.ZipFile(tiny_model) as zf:
        info = max((i for i in zf.infolist() if i.filename.startswith("w")), key=lambda i: i.compress_size)
    # local header: 30 bytes + name + extra field, then the compressed data
    name_len = int.from_bytes(data[info.header_offset + 26: info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0x55
    path = tmp_path / "generator.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        read_artifact(path)


def test_changed_weight_fails_the_checksum(tmp_path, tiny_model):
    from deepaccomp.training import read_artifact

    arrays = npz_members(tiny_model)
    w = arrays["w000"].copy()
    w.reshape(-1)[0] += 1.0  # a well-formed file whose weights were modified
    arrays["w000"] = w
    path = tmp_path / "generator.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="checksum"):
        read_artifact(path)


@pytest.mark.parametrize("content", [
    lambda: os.urandom(4096),
    lambda: b"PK\x03\x04" + os.urandom(200),  # looks like a zip
    lambda: b"\x93NUMPY" + os.urandom(200),    # looks like a .npy
    lambda: b"",
])
def test_random_non_npz_file(tmp_path, content):
    from deepaccomp.training import read_artifact

    path = tmp_path / "generator.npz"
    path.write_bytes(content())
    with pytest.raises(ModelFileError):
        read_artifact(path)


def test_plain_npy_and_foreign_npz(tmp_path):
    from deepaccomp.training import read_artifact

    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ModelFileError):
        read_artifact(tmp_path / "a.npy")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ModelFileError):
        read_artifact(tmp_path / "other.npz")


class _Payload:
    """Unpickling this object would create the marker folder."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("where", ["meta", "weights"])
def test_pickled_object_array_is_refused_and_never_run(tmp_path, tiny_model, where):
    import json

    from deepaccomp.training import read_artifact

    marker = tmp_path / "PWNED"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(str(marker))
    arrays = npz_members(tiny_model)
    if where == "meta":
        arrays["meta"] = evil
    else:
        meta = json.loads(bytes(arrays["meta"]).decode())
        arrays["w000"] = evil
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = tmp_path / "generator.npz"
    np.savez(path, **arrays)  # np.savez pickles object arrays
    with pytest.raises(ModelFileError):
        read_artifact(path)
    assert not marker.exists()


def test_config_edited_without_matching_weights(tmp_path, tiny_model):
    """The sha256 covers the weights and the config: an edited config is caught."""
    import json

    from deepaccomp.training import load_generator

    arrays = npz_members(tiny_model)
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["config"]["model"]["noise_channels"] = 3
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = tmp_path / "generator.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="checksum"):
        load_generator(path)


def test_artifact_with_malformed_config_is_a_model_file_error(tmp_path, tiny_model):
    import json

    from deepaccomp.training import read_artifact

    arrays = npz_members(tiny_model)
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["config"]["model"]["encoder_filters"] = 5
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = tmp_path / "generator.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError):
        read_artifact(path)


# ---------------------------------------------------------------------- Accompanist


@pytest.fixture(scope="module")
def accompanist(tiny_model):
    from deepaccomp.accompanist import Accompanist

    return Accompanist.load(tiny_model)


def test_accompanist_load_of_a_damaged_model(tmp_path):
    from deepaccomp.accompanist import Accompanist

    path = tmp_path / "generator.npz"
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelFileError):
        Accompanist.load(path)
    with pytest.raises(ModelFileError, match="not found"):
        Accompanist.load(tmp_path / "missing.npz")


def test_accompanist_works_on_a_hard_but_valid_melody(accompanist, tmp_path):
    meta = [tempo(0, 400), meter(0, 4, 4), tempo(4, 20), meter(8, 3, 4)]
    chords = [(72, 1, 2), (76, 1, 2), (74, 2, 3), (71, 3, 5), (67, 3, 5), (72, 5, 11)]
    out = accompanist.generate(mido_bytes(chords, meta), seed=1)
    assert [i.name for i in out.instruments][1:] == ["alto", "tenor", "bass"]
    assert [(n.pitch, n.start) for n in out.instruments[0].notes] == [
        (n.pitch, n.start) for n in pretty_midi.PrettyMIDI(io.BytesIO(mido_bytes(chords, meta))).instruments[0].notes]
    midi.write_midi(out, tmp_path / "out.mid")
    assert midi.read_midi(tmp_path / "out.mid").get_tempo_changes()[1].tolist() == pytest.approx([400, 20])


@pytest.mark.parametrize("make, err, match", [
    (lambda tmp: b"not a midi file", InvalidMidiError, "not a MIDI file"),
    (lambda tmp: b"", InvalidMidiError, "empty"),
    (lambda tmp: tmp / "missing.mid", InputFileError, "no such file"),
    (lambda tmp: tmp, InputFileError, "directory"),
    (lambda tmp: mido_bytes([(36, 0, 1)], [meter(0, 4, 4)], channel=9), NoMelodyError, "drums"),
    (lambda tmp: mido_bytes([], [meter(0, 4, 4)]), NoMelodyError, "no notes"),
    (lambda tmp: mido_bytes([(60, b, b + 1) for b in range(10)], [meter(0, 5, 4)]),
     UnsupportedMeterError, "5/4"),
    (lambda tmp: mido_bytes([(60, b / 2, b / 2 + 0.5) for b in range(14)], [meter(0, 7, 8)]),
     UnsupportedMeterError, "7/8"),
    (lambda tmp: mido_bytes([(60, b, b + 1) for b in range(12)], [meter(0, 4, 4), meter(4, 5, 4)]),
     UnsupportedMeterError, "5/4"),
])
def test_accompanist_bad_inputs(accompanist, tmp_path, make, err, match):
    with pytest.raises(err, match=match):
        accompanist.generate(make(tmp_path), seed=0)


def test_accompanist_bad_options(accompanist):
    melody = make_midi(SIMPLE)
    with pytest.raises(NoMelodyError):
        accompanist.generate(melody, melody_track=5)
    with pytest.raises(ConfigError):
        accompanist.generate(melody, programs="kazoo")
    with pytest.raises(ConfigError):
        accompanist.generate(melody, programs=[1, 2])


def test_accompanist_rejects_a_bad_velocity(accompanist):
    with pytest.raises(DeepAccompError):
        accompanist.generate(make_midi(SIMPLE), velocity=300)
