"""monitoring.read_scalars: a run's TensorBoard scalars read back into a dict."""

import pytest

tf = pytest.importorskip("tensorflow")

from deepaccomp.errors import InputFileError  # noqa: E402
from deepaccomp.monitoring import read_scalars  # noqa: E402


def write(folder, points, text=None):
    writer = tf.summary.create_file_writer(str(folder))
    with writer.as_default():
        for tag, step, value in points:
            tf.summary.scalar(tag, value, step=step)
        if text is not None:
            tf.summary.text("config", text, step=0)
    writer.flush()
    writer.close()


def test_reads_every_point_of_every_scalar_sorted_by_step(tmp_path):
    # 30 points: more than TensorBoard's default reservoir of 10 tensors per tag
    points = [("losses/critic", s, float(s) / 2) for s in range(29, -1, -1)]
    points += [("metrics/alto/in_scale_ratio", s, 0.25) for s in (0, 50)]
    write(tmp_path / "train", points, text="not a scalar")
    write(tmp_path / "reference", [("metrics/alto/in_scale_ratio", 0, 0.9)])

    got = read_scalars(tmp_path)
    assert set(got) == {"losses/critic", "metrics/alto/in_scale_ratio"}  # the text is left out
    assert got["losses/critic"] == [(s, s / 2) for s in range(30)]
    assert got["metrics/alto/in_scale_ratio"] == [(0, 0.25), (50, 0.25)]
    assert all(isinstance(s, int) and isinstance(v, float) for s, v in got["losses/critic"])
    assert read_scalars(tmp_path, "reference") == {"metrics/alto/in_scale_ratio": [(0, pytest.approx(0.9))]}
    assert read_scalars(tmp_path / "reference", run=None) == read_scalars(tmp_path, "reference")


def test_a_step_logged_again_after_a_resume_keeps_the_later_value(tmp_path):
    write(tmp_path / "train", [("losses/critic", s, 1.0) for s in (1, 10, 20)])
    write(tmp_path / "train", [("losses/critic", s, 2.0) for s in (20, 30)])  # resumed run
    assert read_scalars(tmp_path)["losses/critic"] == [(1, 1.0), (10, 1.0), (20, 2.0), (30, 2.0)]


def test_a_missing_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="no such run folder"):
        read_scalars(tmp_path / "nothing")
    with pytest.raises(InputFileError):
        read_scalars(tmp_path, "reference")
