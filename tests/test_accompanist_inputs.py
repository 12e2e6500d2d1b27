"""Accompanist on hard or bad inputs and options: results or clear errors (tiny untrained model)."""

import io

import numpy as np
import pretty_midi
import pytest

from helpers import SIMPLE, make_midi, meter, mido_bytes, tempo
from deepaccomp import midi
from deepaccomp.errors import (
    ConfigError,
    DeepAccompError,
    InputFileError,
    InvalidMidiError,
    ModelFileError,
    NoMelodyError,
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


# ---------------------------------------------------------------------- every bad argument is a library error


@pytest.mark.parametrize("kwargs, err, match", [
    ({"seed": 1.5}, ConfigError, "seed must be an integer"),
    ({"seed": -1}, ConfigError, "seed must be an integer"),
    ({"seed": 2**32}, ConfigError, "seed must be an integer"),
    ({"programs": ["a", "b", "c"]}, ConfigError, "programs must be"),
    ({"programs": 123}, ConfigError, "programs must be"),
    ({"programs": [40.5, 41, 42]}, ConfigError, "programs must be"),
    ({"melody_track": "0"}, ConfigError, "melody_track must be an instrument index"),
    ({"noise_scale": 1e300}, ConfigError, "noise_scale"),
    ({"noise_scale": 1e30}, ConfigError, "noise_scale"),
])
def test_bad_arguments_are_config_errors(accompanist, kwargs, err, match):
    with pytest.raises(err, match=match):
        accompanist.generate(make_midi(SIMPLE), **kwargs)


def test_no_melody_at_all(accompanist):
    for call in (lambda: accompanist.generate([]), lambda: accompanist.accompany([]),
                 lambda: accompanist.forward.accompany([])):
        with pytest.raises(ConfigError, match="no melody given"):
            call()
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match="no melody given"):
        accompanist.generate_batch([])


@pytest.mark.parametrize("field, value", [("pitch", 200), ("end", float("inf")), ("start", float("nan"))])
def test_pretty_midi_with_impossible_notes(accompanist, field, value):
    pm = make_midi(SIMPLE)
    setattr(pm.instruments[0].notes[0], field, value)
    with pytest.raises(InvalidMidiError, match="note 0 has"):
        accompanist.generate(pm, seed=0)


@pytest.mark.parametrize("pitch", [127, 126, 0, 1])
def test_a_melody_at_the_edge_of_the_midi_range_is_accompanied(accompanist, pitch):
    # pitch 127: the key shift moved it past 127 and the octave shift divided by zero
    out = accompanist.generate(make_midi([("melody", 0, [(pitch, i, i + 1) for i in range(8)])]), seed=0)
    assert [n.pitch for n in out.instruments[0].notes] == [pitch] * 8
    assert len(out.instruments) == 4


def test_a_generator_with_non_finite_output_is_a_generation_error(tiny_model):
    from deepaccomp import artifact
    from deepaccomp.accompanist import Accompanist
    from deepaccomp.errors import GenerationError

    generator, config = artifact.load(tiny_model)
    weights = generator.get_weights()
    weights[-2] = np.full_like(weights[-2], np.nan)  # as a diverged training run leaves them
    generator.set_weights(weights)
    with pytest.raises(GenerationError, match="NaN or infinite"):
        Accompanist.from_generator(generator, config).generate(make_midi(SIMPLE), seed=0)


def test_roll_inputs_beyond_the_limits(accompanist):
    from deepaccomp.errors import InputTooLargeError, InvalidRollError
    from deepaccomp.generation import MAX_INPUT_STEPS

    with pytest.raises(InputTooLargeError, match="more than the limit"):
        accompanist.accompany([np.zeros((MAX_INPUT_STEPS + 1, 128, 1), bool)])
    with pytest.raises(InvalidRollError, match="at least one step"):
        accompanist.forward.accompany([np.zeros((0, 64, 1), bool)])


# ---------------------------------------------------------------------- long melodies and big batches, bounded


def test_a_long_melody_is_chunked_like_one_pass(accompanist, monkeypatch):
    from deepaccomp import generation

    rng = np.random.default_rng(0)
    melody = np.zeros((300, accompanist.config.window.size, 1), bool)
    melody[np.arange(300), rng.integers(20, 40, 300), 0] = True
    one_pass = accompanist.forward.accompany([melody], seed=3)[0]
    calls = []
    values = accompanist.forward.values
    monkeypatch.setattr(accompanist.forward, "values", lambda m, z: calls.append(m.shape) or values(m, z))
    monkeypatch.setattr(generation, "CHUNK_STEPS", 64)
    monkeypatch.setattr(generation, "CHUNK_CONTEXT", 32)  # beyond the tiny U-Net's receptive field
    chunked = accompanist.forward.accompany([melody], seed=3)[0]
    assert [c[1] for c in calls] == [96, 128, 128, 128, 76]  # 300 steps: 5 chunks with their context
    assert chunked.shape == one_pass.shape == (300, accompanist.config.window.size, 3)
    assert (chunked == one_pass).mean() > 0.999


def test_a_big_batch_is_split_into_bounded_calls(accompanist, monkeypatch):
    from deepaccomp import generation

    size = accompanist.config.window.size
    melodies = [np.eye(size, dtype=bool)[None, 10 + i % 5].repeat(n, 0)[..., None] for i, n in
                enumerate([40, 16, 70, 33, 16])]
    calls = []
    values = accompanist.forward.values
    monkeypatch.setattr(accompanist.forward, "values", lambda m, z: calls.append(m.shape) or values(m, z))
    monkeypatch.setattr(generation, "MAX_CALL_CELLS", 200 * size)
    monkeypatch.setattr(generation, "SPLIT_CALL_CELLS", 100 * size)
    out = accompanist.forward.accompany(melodies, seed=1)
    assert [o.shape[0] for o in out] == [40, 16, 70, 33, 16]
    assert all(n * t * size <= 100 * size for n, t, _, _ in calls) and len(calls) > 1
    calls.clear()
    accompanist.forward.accompany(melodies[:2], seed=1)  # 2 x 40 steps: within MAX_CALL_CELLS, one call
    assert [c[:2] for c in calls] == [(2, 40)]
