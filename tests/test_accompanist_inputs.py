"""Accompanist on hard or bad inputs and options: results or clear errors (tiny untrained model)."""

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
