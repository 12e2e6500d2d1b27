"""The numpy forward pass (deepaccomp.inference) against hand-computed answers and against the Keras model."""

import os
import subprocess
import sys

import numpy as np
import pytest

from deepaccomp import artifact, inference, preset
from deepaccomp.generation import ForwardPass, draw_noise, model_input
from helpers import random_generator_weights

TOLERANCE = 3e-4
"""Largest difference allowed between the numpy and the Keras generator's tanh-range values (float32
sums in another order: about 1e-5 at most for the shipped model, up to 1e-4 for random preset weights)."""

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ---------------------------------------------------------------------- by hand

def test_conv2d_same_padding_stride_one_by_hand():
    x = np.array([[1, 2], [3, 4], [5, 6]], np.float32)[None, :, :, None]  # (1, 3, 2, 1)
    kernel = np.array([[1, 0], [0, 2]], np.float32)[:, :, None, None]  # (2, 2, 1, 1): w00=1, w11=2
    # "same" with k=2, stride 1: pad 0 before, 1 after on each axis; y[t, p] = x[t, p] + 2 x[t+1, p+1] + bias
    want = np.array([[1 + 2 * 4, 2], [3 + 2 * 6, 4], [5, 6]], np.float32) + 0.5
    got = inference.conv2d(x, kernel, np.array([0.5], np.float32), stride=1)
    np.testing.assert_array_equal(got[0, :, :, 0], want)


def test_conv2d_stride_two_by_hand():
    x = np.arange(1, 13, dtype=np.float32).reshape(1, 4, 3, 1)  # rows 1 2 3 / 4 5 6 / 7 8 9 / 10 11 12
    kernel = np.ones((3, 3, 1, 2), np.float32)
    kernel[..., 1] = 0
    kernel[1, 1, 0, 1] = 1  # second filter: the centre only
    # time: out 2, pad total (2-1)*2+3-4 = 1 -> 0 before, 1 after; pitch: out 2, pad (2-1)*2+3-3 = 2 -> 1 and 1
    got = inference.conv2d(x, kernel, np.zeros(2, np.float32), stride=2)
    assert got.shape == (1, 2, 2, 2)
    np.testing.assert_array_equal(got[0, :, :, 0], [[1 + 2 + 4 + 5 + 7 + 8, 2 + 3 + 5 + 6 + 8 + 9],
                                                   [7 + 8 + 10 + 11, 8 + 9 + 11 + 12]])
    np.testing.assert_array_equal(got[0, :, :, 1], [[4, 6], [10, 12]])  # the centre of each window


def test_upsample_and_octave_fold_by_hand():
    x = np.array([[1, 2]], np.float32)[None, :, :, None]
    np.testing.assert_array_equal(inference.upsample(x)[0, :, :, 0], [[1, 1, 2, 2], [1, 1, 2, 2]])
    melody = -np.ones((1, 2, 26, 1), np.float32)
    melody[0, 0, 13] = 1  # pitch 13 at step 0: pitch class 1 -> pitches 1, 13, 25
    fold = inference.octave_fold(melody)[0, :, :, 0]
    assert sorted(np.nonzero(fold[0] > 0)[0]) == [1, 13, 25]
    assert (fold[1] == -1).all()


def test_batch_norm_folds_into_one_scale_and_offset():
    gamma, beta, mean, var = (np.array(v, np.float32) for v in ([2.0], [1.0], [3.0], [4.0 - 1e-3]))
    scale, offset = inference._batch_norm(iter([gamma, beta, mean, var]))
    # (x - 3) / sqrt(4) * 2 + 1 = x - 2
    np.testing.assert_allclose(scale * 5.0 + offset, [3.0], rtol=1e-6)


def test_training_mode_and_wrong_weights_are_refused():
    cfg = _variants()["plain"]
    g = inference.NumpyGenerator(cfg, random_generator_weights(cfg))
    with pytest.raises(ValueError, match="inference mode"):
        g([np.zeros((1, 16, 64, 1)), np.zeros((1, 4, 16, 2))], training=True)
    with pytest.raises(ValueError, match="architecture"):
        inference.NumpyGenerator(cfg, random_generator_weights(cfg)[:-1])


# ---------------------------------------------------------------------- against Keras

def _variants():
    small = {"encoder_filters": [4, 8, 8], "decoder_filters": [8, 4], "noise_channels": 2, "critic_filters": [4]}
    base = preset("default").replace(model=small, data={"phrase_bars": 1})
    return {
        "plain": base.replace(model={"melody_octaves": False}),
        "octaves": base,
        "positions": base.replace(model={"position_channels": True}),
        "ensemble": base.replace(model={"ensemble": 3}),
        "ensemble_log_odds": base.replace(model={"ensemble": 2, "ensemble_mean": "log_odds"}),
        "kernel3": base.replace(model={"kernel_size": 3}),
        "melody_out_full_window": base.replace(model={"output_tracks": 4, "fixed_length": True},
                                               data={"pitch_window": "full"}),
    }


def _inputs(cfg, n=2, steps=32, seed=1):
    rng = np.random.default_rng(seed)
    melody = rng.random((n, steps, cfg.window.size, 1)) < 0.08
    return model_input(melody, cfg), draw_noise(cfg, rng, n, steps, 2.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(_variants()))
def test_matches_the_keras_generator(name):
    from deepaccomp.models import build_generator

    cfg = _variants()[name]
    weights = random_generator_weights(cfg)
    keras_model = build_generator(cfg)
    keras_model.set_weights(weights)
    steps = cfg.model_steps or 48  # a length that is not a power of two
    x, z = _inputs(cfg, steps=steps)
    want = np.asarray(keras_model([x, z], training=False))
    got = inference.NumpyGenerator(cfg, weights)([x, z])
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.abs(got - want).max() < TOLERANCE
    assert np.abs(want).max() > 0.5  # the comparison is not of near-zero outputs


@pytest.mark.slow
def test_matches_the_keras_generator_for_every_preset():
    from deepaccomp.config import PRESETS
    from deepaccomp.models import build_generator

    for name in PRESETS:
        cfg = preset(name)
        weights = random_generator_weights(cfg)
        keras_model = build_generator(cfg)
        keras_model.set_weights(weights)
        x, z = _inputs(cfg, n=1, steps=cfg.model_steps or 64)
        want = np.asarray(keras_model([x, z], training=False))
        got = inference.NumpyGenerator(cfg, weights)([x, z])
        assert np.abs(got - want).max() < TOLERANCE, name


@pytest.mark.slow
def test_the_shipped_model_matches_keras_on_real_and_random_melodies():
    from deepaccomp.generation import to_model_space
    from deepaccomp.midi import midi_to_roll
    from deepaccomp.piece import Piece

    keras_model, cfg = artifact.load(artifact.shipped_model_path())
    numpy_model, same = inference.load(artifact.shipped_model_path())
    assert same == cfg
    roll, _ = midi_to_roll(os.path.join(ROOT, "deepaccomp", "assets", "examples", "twinkle.mid"))
    real = to_model_space(Piece.from_roll(roll), cfg).roll
    steps = real.shape[0] + (-real.shape[0]) % cfg.time_unit
    real = np.pad(real, ((0, steps - real.shape[0]), (0, 0), (0, 0)))[None]
    rng = np.random.default_rng(3)
    random = rng.random((2, 64, cfg.window.size, 1)) < 0.05
    for melody in (real, random):
        x = model_input(melody, cfg)
        z = draw_noise(cfg, rng, len(melody), melody.shape[1], cfg.generation.noise_scale)
        want = np.asarray(keras_model([x, z], training=False))
        got = numpy_model([x, z])
        assert np.abs(got - want).max() < TOLERANCE
        # and the decoded notes are the same
        np.testing.assert_array_equal(ForwardPass(numpy_model, cfg)(melody, z), ForwardPass(keras_model, cfg)(melody, z))


# ---------------------------------------------------------------------- generation without TensorFlow

BLOCK_TF = ("import sys\n"
            "for name in ('tensorflow', 'keras', 'music21'):\n"
            "    sys.modules[name] = None  # as if the light install left them out: importing them fails\n")


def _run_python(code, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = ROOT
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.slow
def test_generate_and_the_command_leave_tensorflow_out(tmp_path):
    example = os.path.join(ROOT, "deepaccomp", "assets", "examples", "twinkle.mid")
    code = ("import sys\n"
            "from deepaccomp import Accompanist\n"
            f"Accompanist().generate({example!r}, seed=1).write('api.mid')\n"
            "from deepaccomp.__main__ import run\n"
            f"assert run(['generate', {example!r}, '-o', 'cli.mid', '--seed', '1']) == 0\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'music21') if m in sys.modules))\n")
    proc = _run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "api.mid").read_bytes() == (tmp_path / "cli.mid").read_bytes()
    # and without them installed at all, the same file comes out
    proc = _run_python(BLOCK_TF + code.replace("api.mid", "api2.mid"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "api2.mid").read_bytes() == (tmp_path / "api.mid").read_bytes()


@pytest.mark.slow
def test_the_pop_model_generates_without_tensorflow(tmp_path):
    example = os.path.join(ROOT, "deepaccomp", "assets", "examples", "twinkle.mid")
    code = BLOCK_TF + (
        "from deepaccomp.__main__ import run\n"
        f"assert run(['generate', {example!r}, '-o', 'pop.mid', '--seed', '1', '--model', 'pop']) == 0\n")
    proc = _run_python(code, tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "pop.mid").stat().st_size > 0


@pytest.mark.slow
def test_training_without_tensorflow_says_what_to_install_in_one_line(tmp_path):
    code = BLOCK_TF + ("from deepaccomp.__main__ import run\n"
                       "sys.exit(run(['train', '--preset', 'default', '--logdir', 'run', '--iterations', '1']))\n")
    proc = _run_python(code, tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("deepaccomp: error: training"), proc.stderr
    assert 'pip install "deepaccomp[train]"' in lines[0]


@pytest.mark.slow
def test_preparing_the_chorales_without_music21_says_what_to_install(tmp_path):
    code = BLOCK_TF + ("from deepaccomp.__main__ import run\n"
                       "sys.exit(run(['prepare', '--dataset-dir', 'ds']))\n")
    proc = _run_python(code, tmp_path)
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs music21" in lines[0] and 'pip install "deepaccomp[train]"' in lines[0], lines


@pytest.mark.slow
def test_a_loaded_model_saves_back_to_the_same_weights(tmp_path):
    from deepaccomp import artifact
    from deepaccomp.inference import load

    generator, config = load(artifact.shipped_model_path())
    path = tmp_path / "again.npz"
    artifact.save(generator, config.replace(generation={"noise_scale": 2.0}), path)
    cfg, weights = artifact.read(path)
    assert cfg.generation.noise_scale == 2.0
    _, original = artifact.read(artifact.shipped_model_path())
    assert len(weights) == len(original) and all((a == b).all() for a, b in zip(weights, original))
