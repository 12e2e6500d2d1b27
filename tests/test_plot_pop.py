"""scripts/plot_pop_song.py: a POP909 song's real piano above a model's accompaniment, through the user path.

Runs on tests/data/pop909 with a tiny untrained model of the ``pop`` layout (its notes are noise; the
test checks the path and the picture's structure, not the music).
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
from matplotlib.collections import PolyCollection

from deepaccomp import artifact, preset
from deepaccomp.errors import DatasetError
from deepaccomp.pop_evaluation import model_accompany, pop_song, read_accompaniment
from helpers import TINY_MODEL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "tests", "data", "pop909")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_script():
    spec = importlib.util.spec_from_file_location("plot_pop_song", os.path.join(ROOT, "scripts", "plot_pop_song.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture(scope="module")
def tiny_pop_model(tmp_path_factory):
    """A tiny untrained generator of the pop preset (melody, piano, bass)."""
    import keras

    from deepaccomp.models import build_generator

    keras.utils.set_random_seed(0)
    cfg = preset("pop").replace(model=TINY_MODEL)
    path = tmp_path_factory.mktemp("pop_model") / "generator.npz"
    artifact.save(build_generator(cfg), cfg, path)
    return str(path)


def labels(ax):
    return [c.get_label() for c in ax.collections if isinstance(c, PolyCollection)]


@pytest.mark.slow
def test_the_script_draws_real_piano_above_the_models_accompaniment(script, tiny_pop_model, tmp_path, capsys):
    out = tmp_path / "pop_song.png"
    assert script.main(["--source", REAL, "--song", "023", "--stretch", "3", "--bars", "4", "--model",
                        tiny_pop_model, "--seed", "1", "-o", str(out)]) == 0, capsys.readouterr().err
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    fig = script.plot_pop_song(REAL, "23", stretch=3, bars=4, model=tiny_pop_model, seed=1)
    top, bottom = fig.axes
    assert labels(top) == ["melody", "piano", "bass"] and labels(bottom) == ["melody", "piano", "bass"]
    assert top.get_xlim() == bottom.get_xlim() == (0.0, 64.0)  # 4 bars of 16 steps
    assert "song 023, stretch 3: bars 1-4 of 24" in fig.get_suptitle() and "seed 1" in fig.get_suptitle()
    assert "real piano" in top.get_title() and "deepaccomp" in bottom.get_title()


def test_the_drawn_tracks_are_what_the_evaluation_reads_back(script, tiny_pop_model, tmp_path):
    """Each instrument read back on its own: together they are the evaluation's pooled accompaniment."""
    stretch = script.choose_stretch(pop_song(REAL, "098"), None, 8)
    path = tmp_path / "melody.mid"
    stretch.midi.write(str(path))
    result = model_accompany(tiny_pop_model)(str(path), 0)
    n = stretch.bars * 16
    names, tracks = script.accompaniment_tracks(result, n)
    assert names == ["piano", "bass"] and tracks.shape == (n, 128, 2)
    assert np.array_equal(tracks.any(axis=-1), read_accompaniment(result, n)[0])


def test_choose_stretch_takes_the_first_long_enough_else_the_longest(script):
    song = pop_song(REAL, "023")  # measured bars per stretch: 1, 6, 4, 24, 13
    assert script.choose_stretch(song, None, 8).index == 3
    assert script.choose_stretch(song, None, 5).index == 1
    assert script.choose_stretch(song, None, 30).index == 3
    assert script.choose_stretch(song, 4, 8).index == 4


@pytest.mark.parametrize("args, message", [
    (["--song", "176"], "song 176 has nothing to draw: triple meter"),
    (["--song", "023", "--stretch", "9"], "song 023 has no stretch 9 with a melody; its stretches are [0, 1, 2, 3, 4]"),
    (["--song", "010"], "holds no song '010'; its songs are 023 to 806"),
    (["--song", "023", "--bars", "0"], "--bars must be a positive number of bars"),
    (["--song", "023", "-o", "picture.xyz"], "cannot write .xyz images"),
])
def test_the_script_refuses_with_one_line(script, tiny_pop_model, tmp_path, capsys, args, message):
    argv = ["--source", REAL, "--model", tiny_pop_model, "-o", str(tmp_path / "out.png"), *args]  # a later -o wins
    assert script.main(argv) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_pop_song_names_a_song_by_its_number_and_refuses_a_missing_one():
    assert pop_song(REAL, "98").name == "098" and len(pop_song(REAL, "98").stretches) == 1
    with pytest.raises(DatasetError, match="holds no song 'x'"):
        pop_song(REAL, "x")
