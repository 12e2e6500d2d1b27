"""scripts/pop_chord_ceiling.py: the melody-only chord predictor that bounds the pop model's chord accuracy."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "tests", "data", "pop909")


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("pop_chord_ceiling",
                                                  os.path.join(ROOT, "scripts", "pop_chord_ceiling.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_features_rotate_to_the_tonic_normalise_and_window_the_beats(script):
    chroma = np.zeros((3, 12))
    chroma[0, 2] = 3.0          # beat 0: D only
    chroma[1, [4, 7]] = [1, 3]  # beat 1: E a quarter, G three quarters
    x = script.features(chroma, tonic=2, minor=True, context=1)
    assert x.shape == (3, 3 * 12 + 4 + 1)
    # beat 1's window: beat 0 (D = degree 0), beat 1 (E = 2, G = 5), beat 2 (silent)
    expected = np.zeros(36)
    expected[0] = 1.0
    expected[12 + 2], expected[12 + 5] = 0.25, 0.75
    assert np.allclose(x[1, :36], expected)
    assert np.allclose(x[0, :12], 0) and np.allclose(x[2, 24:36], 0)  # zeros past the ends
    assert x[1, 36:40].tolist() == [0, 1, 0, 0] and x[3 - 1, 36:40].tolist() == [0, 0, 1, 0]
    assert np.all(x[:, -1] == 1.0)


def test_relative_chords_count_the_root_from_the_tonic(script):
    # C major (0), A minor (2 * 9 + 1 = 19), B major (22), none; tonic D (2)
    assert script.relative_chords(np.array([0, 19, 22, -1]), 2).tolist() == [20, 15, 18, -1]


def test_softmax_regression_learns_a_separable_mapping(script):
    rng = np.random.default_rng(1)
    y = rng.integers(0, 24, 600)
    x = np.eye(24)[y] + rng.normal(0, 0.1, (600, 24))
    model = script.fit_softmax(x, y, steps=200)
    assert script.accuracy(model, x, y) == 1.0
    assert script.accuracy(model, x[:0], y[:0]) is None


def test_the_script_fits_on_real_songs_and_writes_its_figures(script, tmp_path):
    out = tmp_path / "ceiling.json"
    assert script.main(["--source", REAL, "--key", "annotated", "--context", "2", "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["train_beats"] > 200
    assert result["valid_beats"] == result["test_beats"] == 0  # all five songs are train songs
    assert 0.2 < result["train_accuracy"] <= 1.0 and result["test_accuracy"] is None
