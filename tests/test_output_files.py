"""Output files: clear errors, never a partial or temporary file left behind."""

import errno
import os

import numpy as np
import pytest

from deepaccomp import io_utils, midi
from deepaccomp.errors import (
    ConfigError,
    InvalidMidiError,
    OutputFileError,
)

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


@pytest.mark.slow
def test_an_output_path_of_50_mb_is_echoed_cut(tmp_path):
    from deepaccomp.errors import ECHO_LIMIT, OutputFileError
    from deepaccomp.io_utils import check_output_path

    path = str(tmp_path / ("x" * 50_000_000)) + "/out.mid"  # a folder name of 50 MB
    with pytest.raises(OutputFileError) as exc:
        check_output_path(path)
    assert len(str(exc.value)) < ECHO_LIMIT + 200 and "more characters" in str(exc.value)
