"""The model file (deepaccomp.artifact): reads back, and every damaged, foreign or
hostile file is a ModelFileError; nothing is ever unpickled."""

import io
import os
import zipfile

import numpy as np
import pytest

from deepaccomp import artifact
from deepaccomp.errors import ModelFileError

from helpers import npz_members, rewrite

# ---------------------------------------------------------------------- model artifacts


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
    """The sha256 covers the weights and the config: an edited config is caught, by the
    architecture's shapes before the weights are read, else by the checksum."""
    import json

    arrays = npz_members(tiny_model)
    meta = json.loads(bytes(arrays["meta"]).decode())
    for section, key, value, match in (("model", "noise_channels", 3, "do not match the architecture"),
                                       ("generation", "decode_threshold", 0.5, "checksum")):
        edited = json.loads(json.dumps(meta))
        edited["config"][section][key] = value
        arrays["meta"] = np.frombuffer(json.dumps(edited).encode(), dtype=np.uint8)
        path = tmp_path / "generator.npz"
        np.savez(path, **arrays)
        with pytest.raises(ModelFileError, match=match):
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


# ---------------------------------------------------------------------- a model file is validated data


def test_an_enormous_network_in_the_config_is_refused_before_building(tmp_path, tiny_model, monkeypatch):
    def huge(config):
        config["model"].update(encoder_filters=[4096] * 4, decoder_filters=[4096] * 3, noise_channels=4096)

    path = rewrite(tiny_model, tmp_path / "generator.npz", config_edit=huge)
    from deepaccomp import models

    monkeypatch.setattr(models, "build_generator", lambda cfg: pytest.fail("the network was built"))
    with pytest.raises(ModelFileError, match="config is invalid .*must be <= 1024"):
        artifact.load(path)


def test_weight_headers_are_checked_before_the_weights_are_read(tmp_path, tiny_model, monkeypatch):
    needed = []

    def bigger(weights):
        needed.append(weights[0].shape)  # (4, 4, input channels, 4)
        return [np.zeros(weights[0].shape[:-1] + (4096,), np.float32)] + weights[1:]

    path = rewrite(tiny_model, tmp_path / "generator.npz", weights_edit=bigger)
    read_array = artifact._read_array

    def no_big_read(member, shape, *args):
        assert shape[-1] != 4096, "the oversized weight was read"
        return read_array(member, shape, *args)

    monkeypatch.setattr(artifact, "_read_array", no_big_read)
    kh, kw, channels, filters = needed[0]
    with pytest.raises(ModelFileError, match=rf"w000: float32 \({kh}, {kw}, {channels}, 4096\) in the file, "
                                             rf"float32 \({kh}, {kw}, {channels}, {filters}\)"):
        artifact.read(path)


def test_weights_of_another_dtype_or_count(tmp_path, tiny_model):
    path = rewrite(tiny_model, tmp_path / "a.npz", weights_edit=lambda w: [w[0].astype(np.float64)] + w[1:])
    with pytest.raises(ModelFileError, match="float64"):
        artifact.read(path)
    path = rewrite(tiny_model, tmp_path / "b.npz", weights_edit=lambda w: w[:-1])
    with pytest.raises(ModelFileError, match="weights in the file"):
        artifact.read(path)


def test_nan_or_infinite_weights_are_refused(tmp_path, tiny_model):
    def poison(value):
        def edit(weights):
            w = weights[2].copy()
            w.reshape(-1)[0] = value
            return weights[:2] + [w] + weights[3:]
        return edit

    for value in (np.nan, np.inf):
        path = rewrite(tiny_model, tmp_path / "generator.npz", weights_edit=poison(value))
        with pytest.raises(ModelFileError, match="w002 hold NaN or infinite values"):
            artifact.read(path)


def test_archive_size_members_and_metadata_bounds(tmp_path, tiny_model, monkeypatch):
    import json

    monkeypatch.setattr(artifact, "MAX_FILE_BYTES", 1000)
    with pytest.raises(ModelFileError, match="larger than any deepaccomp model"):
        artifact.read(tiny_model)
    monkeypatch.undo()

    arrays = npz_members(tiny_model)
    arrays.update({f"junk{i}": np.zeros(1) for i in range(300)})
    np.savez(tmp_path / "many.npz", **arrays)
    with pytest.raises(ModelFileError, match="holds 3.. members"):
        artifact.read(tmp_path / "many.npz")

    arrays = npz_members(tiny_model)
    np.savez_compressed(tmp_path / "padded.npz", junk=np.zeros(2**20, np.uint8), **arrays)
    assert (tmp_path / "padded.npz").stat().st_size < 2**19
    monkeypatch.setattr(artifact, "MAX_FILE_BYTES", 2**19)  # the file is small, its members are not
    with pytest.raises(ModelFileError, match="members decompress to 10"):
        artifact.read(tmp_path / "padded.npz")
    monkeypatch.undo()

    monkeypatch.setattr(artifact, "MAX_META_BYTES", 100)
    with pytest.raises(ModelFileError, match="at most 100 bytes of JSON"):
        artifact.read(tiny_model)
    monkeypatch.undo()

    arrays = npz_members(tiny_model)
    arrays["meta"] = np.frombuffer(("[" * 100_000 + "]" * 100_000).encode(), dtype=np.uint8)
    np.savez(tmp_path / "nested.npz", **arrays)
    with pytest.raises(ModelFileError, match="nested too deeply"):
        artifact.read(tmp_path / "nested.npz")
    json.loads("[]")


def test_a_weight_member_cut_short(tmp_path, tiny_model):
    import zipfile

    arrays = npz_members(tiny_model)
    path = tmp_path / "generator.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for name, array in arrays.items():
            buf = io.BytesIO()
            np.save(buf, array)
            data = buf.getvalue()
            zf.writestr(name + ".npy", data[:-8] if name == "w004" else data)
    with pytest.raises(ModelFileError, match="w004' is truncated"):
        artifact.read(path)


def test_a_model_path_that_is_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "generator.npz")
    with pytest.raises(ModelFileError, match="not a regular file"):
        artifact.read(tmp_path / "generator.npz")
    with pytest.raises(ModelFileError, match="not a regular file"):
        artifact.read(tmp_path)  # a folder whose generator.npz is a FIFO
