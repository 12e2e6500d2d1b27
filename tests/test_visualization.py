"""deepaccomp.visualization: headless figures, no pyplot state, atomic saving."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pretty_midi  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection, PolyCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from deepaccomp import visualization as viz  # noqa: E402
from deepaccomp.errors import ConfigError, InvalidRollError, OutputFileError  # noqa: E402
from deepaccomp.piece import read_piece  # noqa: E402
from deepaccomp.representation import COMPACT_WINDOW, to_model_range, note_runs  # noqa: E402
from helpers import band_midi  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    before = set(plt.get_fignums())
    yield
    leaked = set(plt.get_fignums()) - before
    for num in leaked:
        plt.close(num)
    assert not leaked, "a pyplot figure leaked"


def satb_roll(n_steps=32, lowest=0, n_pitches=128):
    """Soprano C5 held 8 steps then D5; alto E4; tenor G3; bass C3 (whole roll)."""
    roll = np.zeros((n_steps, n_pitches, 4), bool)
    roll[0:8, 72 - lowest, 0] = True
    roll[8:16, 74 - lowest, 0] = True
    roll[:, 64 - lowest, 1] = True
    roll[:, 55 - lowest, 2] = True
    roll[:, 48 - lowest, 3] = True
    return roll


def note_collections(ax):
    return [c for c in ax.collections if isinstance(c, PolyCollection)]


def bar_lines(ax):
    return [c for c in ax.collections if isinstance(c, LineCollection)]


def test_plot_roll_structure():
    fig = viz.plot_roll(satb_roll(), title="chorale")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    notes = note_collections(ax)
    assert [c.get_label() for c in notes] == ["soprano", "alto", "tenor", "bass"]
    assert [len(c.get_paths()) for c in notes] == [2, 1, 1, 1]
    assert len({tuple(np.round(c.get_facecolor()[0], 3)) for c in notes}) == 4  # one colour per track
    assert len(bar_lines(ax)) == 1
    assert len(bar_lines(ax)[0].get_segments()) == 3  # bars start at 0, 16, 32
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["soprano", "alto", "tenor", "bass"]
    assert ax.get_title() == "chorale"
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "C3" in labels and "C4" in labels and "C5" in labels  # MIDI 48, 60, 72
    assert all(label.startswith("C") for label in labels)
    lo, hi = ax.get_ylim()
    assert lo <= 48 and hi >= 74 and hi - lo < 40  # zoomed on the active range
    assert ax.get_xlim() == (0.0, 32.0)


def test_plot_roll_note_geometry():
    roll = np.zeros((16, 128, 1), bool)
    roll[4:10, 60, 0] = True
    fig = viz.plot_roll(roll, track_names=["melody"])
    (path,) = note_collections(fig.axes[0])[0].get_paths()
    xs, ys = path.vertices[:, 0], path.vertices[:, 1]
    assert xs.min() == 4 and xs.max() == 10
    assert 59.5 < ys.min() < 60 < ys.max() < 60.5


def test_plot_roll_model_range_and_window():
    roll = satb_roll(lowest=COMPACT_WINDOW.lowest, n_pitches=COMPACT_WINDOW.size)
    fig_bool = viz.plot_roll(roll, lowest_pitch=COMPACT_WINDOW.lowest)
    fig_float = viz.plot_roll(to_model_range(roll), lowest_pitch=COMPACT_WINDOW.lowest)
    for fig in (fig_bool, fig_float):
        notes = note_collections(fig.axes[0])
        assert [len(c.get_paths()) for c in notes] == [2, 1, 1, 1]
        ys = notes[3].get_paths()[0].vertices[:, 1]
        assert 47.5 < ys.min() < 48 < ys.max() < 48.5  # the bass is MIDI 48 wherever the window starts
        assert "C4" in [t.get_text() for t in fig.axes[0].get_yticklabels()]


def test_plot_roll_shapes_and_names():
    fig = viz.plot_roll(np.zeros((16, 128), bool), track_names=())
    assert [c.get_label() for c in note_collections(fig.axes[0])] == ["track 0"]
    fig = viz.plot_roll(np.zeros((12, 128, 2), bool), steps_per_bar=12, track_names=["a"])
    ax = fig.axes[0]
    assert [c.get_label() for c in note_collections(ax)] == ["a", "track 1"]
    assert [len(c.get_paths()) for c in note_collections(ax)] == [0, 0]
    assert len(bar_lines(ax)[0].get_segments()) == 2
    with pytest.raises(InvalidRollError):
        viz.plot_roll(np.zeros(16, bool))
    with pytest.raises(ConfigError):
        viz.plot_roll(satb_roll(), steps_per_bar=0)


def test_plot_roll_on_given_axis():
    fig = Figure()
    ax = fig.add_subplot()
    assert viz.plot_roll(satb_roll(), ax=ax) is fig
    assert len(fig.axes) == 1 and len(note_collections(ax)) == 4


def test_plot_comparison():
    real = satb_roll()
    fake = to_model_range(satb_roll())
    fake[:, :, 1] = -1.0  # the alto rests
    fig = viz.plot_comparison(real, fake, title="iteration 10")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    top, bottom = fig.axes
    assert top.get_title() == "real" and bottom.get_title() == "generated"
    assert [len(c.get_paths()) for c in note_collections(top)] == [2, 1, 1, 1]
    assert [len(c.get_paths()) for c in note_collections(bottom)] == [2, 0, 1, 1]
    assert top.get_ylim() == bottom.get_ylim()
    assert fig.get_suptitle() == "iteration 10"
    windowed = viz.plot_comparison(
        satb_roll(lowest=28, n_pitches=64), satb_roll(lowest=28, n_pitches=64), lowest_pitch=28
    )
    assert len(windowed.axes) == 2
    with pytest.raises(InvalidRollError):
        viz.plot_comparison(satb_roll(), satb_roll(lowest=28, n_pitches=64))


def test_beat_lines_and_the_lower_panels_own_track_names():
    fig = viz.plot_roll(satb_roll(), steps_per_beat=4)
    bars, beats = bar_lines(fig.axes[0])
    assert len(bars.get_segments()) == 3 and len(beats.get_segments()) == 6  # beats 4..28 but 16
    assert sorted(seg[0][0] for seg in beats.get_segments()) == [4, 8, 12, 20, 24, 28]
    fig = viz.plot_comparison(satb_roll()[..., :3], satb_roll()[..., :2], steps_per_beat=4,
                              track_names=["melody", "piano", "bass"], generated_track_names=["melody", "ours"])
    top, bottom = fig.axes
    assert [c.get_label() for c in note_collections(top)] == ["melody", "piano", "bass"]
    assert [c.get_label() for c in note_collections(bottom)] == ["melody", "ours"]
    assert all(len(bar_lines(ax)) == 2 for ax in fig.axes)
    with pytest.raises(ConfigError, match="steps_per_beat"):
        viz.plot_roll(satb_roll(), steps_per_beat=0)


def test_plot_midi(tmp_path):
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(3, 4, 0.0))
    for name, pitch in (("Soprano", 72), ("", 60)):
        inst = pretty_midi.Instrument(program=52, name=name)
        inst.notes.append(pretty_midi.Note(80, pitch, 0.0, 3.6))  # two 3/4 bars
        pm.instruments.append(inst)
    path = tmp_path / "in.mid"
    pm.write(str(path))
    fig = viz.plot_midi(str(path))
    ax = fig.axes[0]
    assert [c.get_label() for c in note_collections(ax)] == ["Soprano", "alto"]
    assert len(bar_lines(ax)[0].get_segments()) == 3  # 24 steps, bars of 12


def test_plot_midi_of_a_layout_draws_the_piece_with_its_tracks(tmp_path):
    path = tmp_path / "band.mid"
    band_midi(0, bars=2, parts=("melody", "drums", "piano", "bass")).write(str(path))
    ax = viz.plot_midi(str(path), layout="lpd5").axes[0]
    assert [c.get_label() for c in note_collections(ax)][:4] == ["melody", "drums", "piano", "guitar"]
    assert len(bar_lines(ax)[0].get_segments()) == 3  # 32 steps, bars of 16
    piece = read_piece(str(path), "lpd5", tracks="all", align=False)
    drawn = viz.plot_piece(piece).axes[0]
    assert [len(c.get_paths()) for c in note_collections(drawn)] == [len(c.get_paths()) for c in note_collections(ax)]
    assert len(note_collections(ax)[1].get_paths()) == len(note_runs(piece.roll[..., 1])[0])  # drums: the hits


def test_png_bytes():
    fig = viz.plot_roll(satb_roll())
    data = viz.figure_to_png_bytes(fig)
    assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert viz.figure_to_png_bytes(viz.plot_comparison(satb_roll(), satb_roll())).startswith(PNG_SIGNATURE)


def test_save_figure(tmp_path):
    fig = viz.plot_roll(satb_roll())
    out = tmp_path / "roll.png"
    viz.save_figure(fig, out)
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    viz.save_figure(fig, str(tmp_path / "roll.svg"))
    assert b"<svg" in (tmp_path / "roll.svg").read_bytes()[:500]
    viz.save_figure(fig, tmp_path / "noext")
    assert (tmp_path / "noext").read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(os.listdir(tmp_path)) == ["noext", "roll.png", "roll.svg"]  # no temporary files left


def test_save_figure_errors_leave_nothing(tmp_path):
    fig = viz.plot_roll(satb_roll())
    with pytest.raises(OutputFileError):
        viz.save_figure(fig, tmp_path / "missing" / "roll.png")
    with pytest.raises(ConfigError):
        viz.save_figure(fig, tmp_path / "roll.xyz")
    out = tmp_path / "keep.png"
    out.write_bytes(b"old")

    def broken_savefig(*args, **kwargs):
        raise RuntimeError("renderer crashed")

    fig.savefig = broken_savefig
    with pytest.raises(RuntimeError):
        viz.save_figure(fig, out)
    assert out.read_bytes() == b"old"
    assert sorted(os.listdir(tmp_path)) == ["keep.png"]


@pytest.mark.slow
def test_module_does_not_import_pyplot():
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "import deepaccomp.visualization as v\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'\n"
        "v.figure_to_png_bytes(v.plot_roll(np.zeros((16, 128, 4), bool)))\n"
        "assert 'matplotlib.pyplot' not in sys.modules, 'pyplot imported'\n"
    )
    env = dict(os.environ, MPLBACKEND="")
    env.pop("MPLBACKEND")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
