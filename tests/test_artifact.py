"""The model file (deepaccomp.artifact): reads back, and every damaged, foreign or
hostile file is a ModelFileError; nothing is ever unpickled."""

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
from deepaccomp import artifact, io_utils, midi
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

# ---------------------------------------------------------------------- model artifacts

def npz_members(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_artifact_reads_back(tiny_model):
    cfg, weights = artifact.read(tiny_model)
    assert list(cfg.model.encoder_filters) == [4, 4] and weights
    assert artifact.read(tiny_model.parent)[0] == cfg  # a folder holding generator.npz


def test_missing_artifact(tmp_path):
    with pytest.raises(ModelFileError, match="not found"):
        artifact.read(tmp_path / "generator.npz")
    with pytest.raises(ModelFileError, match="not found"):
        artifact.read(tmp_path)  # a folder without generator.npz


@pytest.mark.parametrize("fraction", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_artifact(tmp_path, tiny_model, fraction):
    data = tiny_model.read_bytes()
    path = tmp_path / "generator.npz"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(ModelFileError, match="not a readable deepaccomp model"):
        artifact.read(path)


def test_flipped_byte_in_the_compressed_weights(tmp_path, tiny_model):
    data = bytearray(tiny_model.read_bytes())
    with zipfile.ZipFile(tiny_model) as zf:
        info = max((i for i in zf.infolist() if i.filename.startswith("w")), key=lambda i: i.compress_size)
    # local header: 30 bytes + name + extra field, then the compressed data
    name_len = int.from_bytes(data[info.header_offset + 26: info.header_offset + 28], "little")
    extra_len = int.from_bytes(data[info.header_offset + 28: info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0x55
    path = tmp_path / "generator.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError):
        artifact.read(path)


def test_changed_weight_fails_the_checksum(tmp_path, tiny_model):
    arrays = npz_members(tiny_model)
    w = arrays["w000"].copy()
    w.reshape(-1)[0] += 1.0  # a well-formed file whose weights were modified
    arrays["w000"] = w
    path = tmp_path / "generator.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="checksum"):
        artifact.read(path)


@pytest.mark.parametrize("content", [
    lambda: os.urandom(4096),
    lambda: b"PK\x03\x04" + os.urandom(200),  # looks like a zip
    lambda: b"\x93NUMPY" + os.urandom(200),    # looks like a .npy
    lambda: b"",
])
def test_random_non_npz_file(tmp_path, content):
    path = tmp_path / "generator.npz"
    path.write_bytes(content())
    with pytest.raises(ModelFileError):
        artifact.read(path)


def test_plain_npy_and_foreign_npz(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ModelFileError):
        artifact.read(tmp_path / "a.npy")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ModelFileError):
        artifact.read(tmp_path / "other.npz")


class _Payload:
    """Unpickling this object would create the marker folder."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.mark.parametrize("where", ["meta", "weights"])
def test_pickled_object_array_is_refused_and_never_run(tmp_path, tiny_model, where):
    import json

    marker = tmp_path / "PWNED"
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(str(marker))
    arrays = npz_members(tiny_model)
    if where == "meta":
        arrays["meta"] = evil
    else:
        meta = json.loads(bytes(arrays["meta"]).decode())
        arrays["w000"] = evil
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = tmp_path / "generator.npz"
    np.savez(path, **arrays)  # np.savez pickles object arrays
    with pytest.raises(ModelFileError):
        artifact.read(path)
    assert not marker.exists()


def test_config_edited_without_matching_weights(tmp_path, tiny_model):
    """The sha256 covers the weights and the config: an edited config is caught."""
    import json

    arrays = npz_members(tiny_model)
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["config"]["model"]["noise_channels"] = 3
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = tmp_path / "generator.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError, match="checksum"):
        artifact.load(path)


def test_artifact_with_malformed_config_is_a_model_file_error(tmp_path, tiny_model):
    import json

    arrays = npz_members(tiny_model)
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta["config"]["model"]["encoder_filters"] = 5
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path = tmp_path / "generator.npz"
    np.savez(path, **arrays)
    with pytest.raises(ModelFileError):
        artifact.read(path)
