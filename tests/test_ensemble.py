"""Ensembles (model.ensemble): separately trained generators joined by artifact.combine,
their outputs averaged (their values, or their log-odds: model.ensemble_mean); the file format,
the checks, the CLI and training's refusal."""

import numpy as np
import pytest

from deepaccomp import artifact, preset
from deepaccomp.accompanist import Accompanist
from deepaccomp.cli import main
from deepaccomp.errors import ConfigError, ModelFileError
from deepaccomp.inference import NumpyGenerator, mean_log_odds

from helpers import TINY_MODEL, rewrite, tiny


def _tiny_config(**model):
    return preset("default").replace(model={**TINY_MODEL, **model}, data={"phrase_bars": 1})


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    """Two tiny untrained generators with different weights (different seeds), saved."""
    import keras

    from deepaccomp.models import build_generator

    cfg = _tiny_config()
    paths = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        path = tmp_path_factory.mktemp(f"member{seed}") / "generator.npz"
        artifact.save(build_generator(cfg), cfg.replace(train={"seed": seed}), path)
        paths.append(path)
    return paths


def _values(model_path, x, noise):
    generator, _ = artifact.load(model_path)
    return np.asarray(generator([x, noise], training=False))


def test_an_ensemble_outputs_the_mean_of_its_generators(two_models, tmp_path):
    out = tmp_path / "ensemble.npz"
    cfg = artifact.combine(two_models, out, ensemble_mean="value")
    assert cfg.model.ensemble == 2 and cfg.train.seed == 1  # the first file's config
    rng = np.random.default_rng(0)
    x = (rng.random((2, 16, cfg.window.size, 1)) > 0.9).astype(np.float32)
    noise = rng.standard_normal((2,) + cfg.noise_shape(16)).astype(np.float32)
    a, b = (_values(p, x, noise) for p in two_models)
    assert np.abs(a - b).max() > 0.1  # the members differ, so the mean is not either of them
    np.testing.assert_allclose(_values(out, x, noise), (a + b) / 2, atol=1e-6)
    read_cfg, weights = artifact.read(out)
    assert read_cfg == cfg and len(weights) == 2 * len(artifact.read(two_models[0])[1])


def test_mean_log_odds_by_hand():
    # last activations a (value tanh(a), log-odds 2a): values 0.8 and 0 are probabilities 0.9 and 0.5 (odds 9
    # and 1); the geometric mean of the odds is 3, p = 0.75, value 0.5. 0.6 against -0.6 is even odds.
    # Activations past the limit are clipped, so that +50 against -50 is still 0 and +50 against 0 is the
    # value whose probability is the clipped 1 - 1e-6, halfway in log-odds
    a = np.float32([np.arctanh(0.8), np.arctanh(0.6), 50.0, 50.0, -0.2])
    b = np.float32([0.0, -np.arctanh(0.6), -50.0, 0.0, -0.2])
    half = np.tanh(np.arctanh(1 - 2e-6) / 2)
    np.testing.assert_allclose(mean_log_odds([a, b]), [0.5, 0.0, 0.0, half, np.tanh(-0.2)], atol=1e-6)
    # one member all but ruling a note out keeps it out, where the mean value would not
    out = mean_log_odds([np.float32([np.arctanh(0.9)]), np.float32([np.arctanh(0.9)]), np.float32([-8.0])])
    assert out[0] < -0.5 and (0.9 + 0.9 - np.tanh(8.0)) / 3 > 0.25
    assert mean_log_odds([a, b]).dtype == np.float32


def test_the_keras_layer_joins_as_the_numpy_function_does():
    from deepaccomp.models import LogOddsMean

    rng = np.random.default_rng(3)
    activations = [rng.normal(0, 4, (2, 8, 5, 3)).astype(np.float32) for _ in range(3)]
    activations[0][0, 0, 0, 0], activations[1][0, 0, 0, 0] = 40.0, -40.0  # past the limit: clipped alike
    got = np.asarray(LogOddsMean()(activations))
    assert np.abs(got - mean_log_odds(activations)).max() < 1e-6


def test_a_log_odds_ensemble_outputs_the_mean_of_its_generators_log_odds(two_models, tmp_path):
    out = tmp_path / "ensemble.npz"
    cfg = artifact.combine(two_models, out, ensemble_mean="log_odds")
    assert cfg.model.ensemble_mean == "log_odds" and artifact.read(out)[0] == cfg
    rng = np.random.default_rng(0)
    x = (rng.random((2, 16, cfg.window.size, 1)) > 0.9).astype(np.float32)
    noise = rng.standard_normal((2,) + cfg.noise_shape(16)).astype(np.float32)
    a, b = (_values(p, x, noise) for p in two_models)
    want = np.tanh((np.arctanh(a.astype(np.float64)) + np.arctanh(b.astype(np.float64))) / 2)
    keras_values = _values(out, x, noise)
    numpy_values = NumpyGenerator(cfg, artifact.read(out)[1])([x, noise])
    assert np.abs(keras_values - want).max() < 1e-5 and np.abs(numpy_values - want).max() < 1e-5
    assert np.abs(want - (a + b) / 2).max() > 1e-3  # not the mean value
    # the mean is the ensemble's, not its members': given, or else the first file's
    assert artifact.combine([out, two_models[0]], tmp_path / "three.npz", ensemble_mean="value").model.ensemble_mean \
        == "value"
    assert artifact.combine([out, two_models[0]], tmp_path / "three.npz").model.ensemble_mean == "log_odds"
    plain = artifact.combine(two_models, tmp_path / "plain.npz", ensemble_mean="value")
    assert artifact.combine([tmp_path / "plain.npz", out], tmp_path / "four.npz").model.ensemble_mean \
        == plain.model.ensemble_mean == "value"
    with pytest.raises(ConfigError, match=r"model.ensemble_mean must be one of \['value', 'log_odds'\]"):
        artifact.combine(two_models, tmp_path / "bad.npz", ensemble_mean="median")
    assert not (tmp_path / "bad.npz").exists()


def test_an_ensemble_accompanies_through_the_user_path(two_models, tmp_path):
    out = tmp_path / "ensemble.npz"
    artifact.combine(two_models, out)
    melody = np.zeros((32, 128, 1), dtype=bool)
    melody[:, 67, 0] = True
    acc = Accompanist.load(out)
    [first] = acc.accompany([melody], seed=3)
    assert first.shape == (32, 128, 3)
    np.testing.assert_array_equal(first, acc.accompany([melody], seed=3)[0])


def test_combine_flattens_ensembles_and_sets_the_generation(two_models, tmp_path):
    pair = tmp_path / "pair.npz"
    artifact.combine(two_models, pair, generation={"noise_scale": 1.5})
    three = artifact.combine([pair, two_models[0]], tmp_path / "three.npz")
    assert three.model.ensemble == 3 and three.generation.noise_scale == 1.5
    assert len(artifact.read(tmp_path / "three.npz")[1]) == 3 * len(artifact.read(two_models[0])[1])


def test_combine_refuses_what_cannot_be_averaged(two_models, tmp_path):
    import keras

    from deepaccomp.models import build_generator

    with pytest.raises(ConfigError, match="at least two"):
        artifact.combine(two_models[:1], tmp_path / "one.npz")
    other = _tiny_config(noise_channels=TINY_MODEL["noise_channels"] + 1)
    keras.utils.set_random_seed(0)
    artifact.save(build_generator(other), other, tmp_path / "other.npz")
    with pytest.raises(ConfigError, match="model or data settings differ"):
        artifact.combine([two_models[0], tmp_path / "other.npz"], tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="at most 4"):
        artifact.combine(two_models * 2 + two_models[:1], tmp_path / "five.npz")
    with pytest.raises(ModelFileError, match="not found"):
        artifact.combine([two_models[0], tmp_path / "missing.npz"], tmp_path / "bad.npz")
    assert not (tmp_path / "bad.npz").exists() and not (tmp_path / "five.npz").exists()


def test_an_ensemble_file_with_one_generator_too_few_is_refused(two_models, tmp_path):
    """The config says two generators; the file holds one generator's weights."""
    out = tmp_path / "ensemble.npz"
    artifact.combine(two_models, out)
    rewrite(out, tmp_path / "cut.npz", weights_edit=lambda w: w[: len(w) // 2])
    with pytest.raises(ModelFileError, match="weight shapes do not match"):
        artifact.read(tmp_path / "cut.npz")


@pytest.mark.parametrize("value", [0, 5, 1.5, True, "2"])
def test_the_ensemble_size_is_bounded(value):
    with pytest.raises(ConfigError, match="model.ensemble"):
        _tiny_config(ensemble=value).validate()


def test_training_an_ensemble_config_is_refused_with_the_way_to_make_one(tmp_path):
    from deepaccomp.training import train

    cfg = tiny().replace(model={"ensemble": 2})
    with pytest.raises(ConfigError, match="deepaccomp combine"):
        train(cfg, tmp_path / "run", progress=False, verbose=0)
    assert not (tmp_path / "run").exists()


def test_cli_combine(two_models, tmp_path, capsys):
    out = tmp_path / "ensemble.npz"
    assert main(["combine", str(two_models[0]), str(two_models[1]), "-o", str(out)]) == 0
    assert "an ensemble of 2 generators" in capsys.readouterr().out
    assert artifact.read(out)[0].model.ensemble == 2
    log_odds = tmp_path / "log_odds.npz"
    assert main(["combine", str(two_models[0]), str(two_models[1]), "-o", str(log_odds), "--mean", "log_odds"]) == 0
    assert artifact.read(log_odds)[0].model.ensemble_mean == "log_odds"
    capsys.readouterr()
    assert main(["combine", str(two_models[0]), "-o", str(tmp_path / "x.npz")]) == 1
    assert "at least two model files" in capsys.readouterr().err
    assert main(["combine", str(two_models[0]), str(two_models[1]), "-o", str(two_models[0])]) == 1
    assert not (tmp_path / "x.npz").exists()
