"""Shared test fixtures (the helpers they use are in helpers.py)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from helpers import BAND_MODEL, SIMPLE, TINY_MODEL, make_midi, random_generator_weights, to_bytes


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """Path of a tiny untrained generator exported with :func:`deepaccomp.artifact.save`."""
    import keras

    from deepaccomp import artifact, preset
    from deepaccomp.models import build_generator

    keras.utils.set_random_seed(0)  # the same untrained weights in every run
    cfg = preset("default").replace(model=TINY_MODEL, data={"phrase_bars": 1})
    path = tmp_path_factory.mktemp("model") / "generator.npz"
    artifact.save(build_generator(cfg), cfg, path)
    return path


@pytest.fixture(scope="module")
def good_bytes():
    """A small valid melody file's bytes."""
    return to_bytes(make_midi(SIMPLE))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="module")
def small():
    """The first 12 chorales of music21 (a few of each split), built in one process."""
    from deepaccomp import data

    return data.build_chorales(limit=12, workers=1, progress=False)


@pytest.fixture(scope="session")
def band_model(tmp_path_factory):
    """Path of a tiny untrained generator of the ``lpd5`` layout (melody; drums, piano, guitar, bass,
    strings), written without TensorFlow: seeded random float32 weights of the config's shapes, with
    batch norm scales near 1 and positive variances, so that every track gets notes."""
    from deepaccomp import artifact, preset

    cfg = preset("default").with_layout("lpd5").replace(model=BAND_MODEL)
    weights = random_generator_weights(cfg)
    path = tmp_path_factory.mktemp("band") / "lpd5-tiny" / artifact.FILE_NAME
    path.parent.mkdir()
    artifact._write(weights, cfg, path)
    return path


@pytest.fixture
def nan_critic(monkeypatch):
    """Training builds a critic whose score's bias is NaN: the critic loss is not finite at iteration 1
    (every setting stays within its bounds, which refuse the overflowing weights this once took)."""
    import deepaccomp.training
    from deepaccomp.models import build_critic

    def poisoned(cfg):
        critic = build_critic(cfg)
        layer = critic.get_layer("score")
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, np.full_like(bias, np.nan)])
        return critic

    monkeypatch.setattr(deepaccomp.training, "build_critic", poisoned)
