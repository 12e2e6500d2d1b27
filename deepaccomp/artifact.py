"""The model file: a trained generator's weights and its config in one ``generator.npz``.

Format (``"deepaccomp-generator"``, version 1): a ``.npz`` archive holding the
generator's weights as float32 arrays ``w000``, ``w001``, ... in Keras
``get_weights`` order, and ``meta``, UTF-8 JSON with the format name, the
version, the full :class:`~deepaccomp.config.Config` (its track layout a preset's
name or, for a user's layout, the whole definition), the number of weights
and a sha256 digest over the config and every weight's shape and bytes. No
code and no pickle: loading never executes anything from the file. An
ensemble (``model.ensemble`` = k) stores its k generators' weights one after
the other, in the same numbering. The
digest detects damage, not tampering (anyone can recompute it), so a model
file is validated data: :func:`read` checks every size, the config's bounds
and every weight's shape before it reads the weights.

:func:`save` writes it (atomically), :func:`read` checks and returns
``(config, weights)`` without building a network, :func:`load` builds the
generator of the config and sets the weights, :func:`combine` joins model
files of separately trained generators into one ensemble.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from importlib import resources

import numpy as np

from .config import MAX_ENSEMBLE, MAX_GENERATOR_PARAMS, Config
from .errors import ConfigError, ModelFileError, brief
from .io_utils import atomic_write_bytes, read_npy_data, read_npy_header
from .layout import DEFAULT_LAYOUT, stored_layout

__all__ = ["FILE_NAME", "FORMAT", "MAX_FILE_BYTES", "MAX_MEMBERS", "MAX_META_BYTES", "MAX_DIRECTORY_BYTES", "save", "read", "load",
           "combine", "weights_digest", "shipped_model_path", "shipped_models",
           "model_path", "SHIPPED_MODELS", "DEFAULT_MODEL"]

FILE_NAME = "generator.npz"
"""The model file's name inside a run or model folder."""

FORMAT = "deepaccomp-generator"

MAX_META_BYTES = 1024 * 1024
"""Largest metadata (JSON) member of a model file: 1 MiB (the shipped model's is under 2 KiB)."""

MAX_MEMBERS = MAX_ENSEMBLE * 64 + 1
"""Most members of a model file's archive (257: a 6-level generator has 64 weights, an ensemble
of :data:`~deepaccomp.config.MAX_ENSEMBLE` of them 256, plus the metadata)."""

MAX_DIRECTORY_BYTES = MAX_MEMBERS * 1024
"""Largest central directory of a model file's archive: 1 KiB for each of :data:`MAX_MEMBERS` members
(263,168 bytes; an entry of ``np.savez`` is under 100). Bounds what ``zipfile`` reads before any member."""

MAX_FILE_BYTES = 4 * MAX_GENERATOR_PARAMS + 16 * 1024 * 1024
"""Largest model file, and largest total its members may declare decompressed: the largest
generator's float32 weights plus 16 MiB (144 MiB)."""


SHIPPED_MODELS = {"chorale": "default_model", "pop": "pop_model"}
"""The models shipped inside the package, by name: their folder under ``deepaccomp/assets``. A name
is what ``Accompanist(name)``, ``deepaccomp generate --model NAME`` and the studio's picker take."""

DEFAULT_MODEL = "chorale"
"""The shipped model used when none is named (Bach's four-part chorale)."""


def shipped_model_path(name: str = DEFAULT_MODEL) -> str:
    """Path of the generator shipped inside the package under ``name`` (without importing TensorFlow)."""
    if name not in SHIPPED_MODELS:
        raise ModelFileError(f"no shipped model is called {brief(repr(name))}; the shipped models are "
                             f"{list(SHIPPED_MODELS)}")
    return str(resources.files("deepaccomp") / "assets" / SHIPPED_MODELS[name] / FILE_NAME)


def shipped_models() -> list[str]:
    """The names of the shipped models whose file is installed, the default first."""
    return [name for name in SHIPPED_MODELS if os.path.isfile(shipped_model_path(name))]


def model_path(model=None) -> str:
    """The model file ``model`` names: ``None`` is the default shipped model, a name of
    :data:`SHIPPED_MODELS` that shipped model (a name wins over a folder of the same name in the
    working directory: write ``./pop`` for that), anything else a path, returned as it is."""
    if model is None:
        return shipped_model_path()
    if isinstance(model, str) and model in SHIPPED_MODELS:
        path = shipped_model_path(model)
        if not os.path.isfile(path):
            raise ModelFileError(f"the shipped model {model!r} is not installed ({brief(path)} is missing); "
                                 "reinstall deepaccomp")
        return path
    return os.fspath(model)


def weights_digest(weights, config: dict | None) -> str:
    """sha256 over the config (canonical JSON) and every weight's shape and float32 bytes."""
    h = hashlib.sha256()
    h.update(json.dumps(config, sort_keys=True).encode())
    for w in weights:
        h.update(str(w.shape).encode())
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()


def save(generator, config: Config, path) -> None:
    """Write ``generator``'s weights (as float32) and ``config`` to ``path``, atomically."""
    _write(generator.get_weights(), config, path)


def combine(paths, out, generation: dict | None = None, ensemble_mean: str | None = None) -> Config:
    """Join the model files ``paths`` (separately trained generators) into one ensemble at ``out``.

    The generators must share their architecture and layout (their training
    settings, e.g. the seed, may differ; ``model.ensemble_mean`` is the ensemble's,
    not theirs); an ensemble among them counts as its generators. The new model
    averages their outputs (``model.ensemble`` = the total) by ``ensemble_mean``
    (:data:`~deepaccomp.config.ENSEMBLE_MEANS`; ``None``: the first file's); its
    config is the first file's, with ``generation`` settings replaced where given.
    Pure numpy: no network is built.

    Returns
    -------
    Config
        The ensemble's config, as written.

    Raises
    ------
    ModelFileError
        A file that :func:`read` refuses.
    ConfigError
        Fewer than two files, architectures or layouts that differ, or more
        than :data:`~deepaccomp.config.MAX_ENSEMBLE` generators in all.
    """
    paths = list(paths)
    if len(paths) < 2:
        raise ConfigError(f"an ensemble needs at least two model files, got {len(paths)}")
    models = [read(p) for p in paths]
    first = models[0][0]

    def shape_of(cfg):
        return {**cfg.to_dict()["model"], "ensemble": 1, "ensemble_mean": None}, cfg.to_dict()["data"]

    for p, (cfg, _) in zip(paths[1:], models[1:]):
        if shape_of(cfg) != shape_of(first):
            raise ConfigError(f"{brief(p)}: its model or data settings differ from {brief(paths[0])}'s; an ensemble "
                              "averages generators of one architecture and layout")
    total = sum(cfg.model.ensemble for cfg, _ in models)
    if total > MAX_ENSEMBLE:
        raise ConfigError(f"{total} generators in all; an ensemble holds at most {MAX_ENSEMBLE}")
    model = {"ensemble": total, **({"ensemble_mean": ensemble_mean} if ensemble_mean is not None else {})}
    config = first.replace(model=model, **({"generation": generation} if generation else {}))
    config.validate()
    _write([w for _, weights in models for w in weights], config, out)
    return config


def _write(weights, config: Config, path) -> None:
    weights = [np.asarray(w, dtype=np.float32) for w in weights]
    meta = {"format": FORMAT, "version": 1, "config": config.to_dict(),
            "n_weights": len(weights), "sha256": weights_digest(weights, config.to_dict())}
    arrays = {f"w{i:03d}": w for i, w in enumerate(weights)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _file(path) -> str:
    path = os.fspath(path)
    return os.path.join(path, FILE_NAME) if os.path.isdir(path) else path


def read(path) -> tuple[Config, list]:
    """Read and verify a model file (or a folder holding ``generator.npz``): ``(config, weights)``.

    A model file is validated data, wherever it comes from. Before anything
    is decompressed beyond the array headers: the file size
    (:data:`MAX_FILE_BYTES`), the number of archive members
    (:data:`MAX_MEMBERS`), their declared decompressed total
    (:data:`MAX_FILE_BYTES`) and the metadata size (:data:`MAX_META_BYTES`);
    then the config against its documented bounds
    (:meth:`~deepaccomp.config.Config.validate`: levels, filters, noise
    channels, kernel, at most :data:`~deepaccomp.config.MAX_GENERATOR_PARAMS`
    parameters) and every weight's ``.npy`` header (float32, the shape the
    config's architecture needs, :meth:`~deepaccomp.config.Config.generator_weight_shapes`).
    Only then are the weights read, their checksum verified (it detects
    damage, not tampering: anyone can recompute it) and their values checked
    to be finite. Never unpickles: the arrays are read from their headers and
    bytes, not with ``np.load``.

    Raises
    ------
    ModelFileError
        A missing, truncated, damaged, foreign or oversized file, a config
        beyond the bounds, weights of the wrong shape or dtype, a checksum
        mismatch, or NaN/infinite weights.
    """
    path = _file(path)
    name = brief(path)  # how messages show it
    if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block, a device never end
        raise ModelFileError(f"{name}: not a regular file (a pipe, socket or device); give a model file")
    if not os.path.isfile(path):
        raise ModelFileError(f"{name}: model file not found")
    size = os.path.getsize(path)
    if size > MAX_FILE_BYTES:
        raise ModelFileError(f"{name}: {size} bytes, larger than any deepaccomp model (limit {MAX_FILE_BYTES})")
    try:
        with open(path, "rb") as fh:
            _check_member_count(fh, name)
            with zipfile.ZipFile(fh) as zf:
                _check_member_sizes(zf, name)
                meta = _read_meta(zf, name)
                config = _config(meta, name)
                weights = _read_weights(zf, name, config, meta)
    except ModelFileError:
        raise
    except Exception as exc:  # zipfile, numpy headers, truncated data: report one kind
        raise ModelFileError(f"{name}: not a readable deepaccomp model "
                             f"({type(exc).__name__}: {brief(str(exc))})") from exc
    if weights_digest(weights, meta.get("config")) != meta.get("sha256"):
        raise ModelFileError(f"{name}: weights or config do not match the checksum (file damaged or modified)")
    bad = [f"w{i:03d}" for i, w in enumerate(weights) if not np.isfinite(w).all()]
    if bad:
        raise ModelFileError(f"{name}: weights {', '.join(bad[:5])} hold NaN or infinite values; "
                             "the model is unusable (a diverged training run or a damaged export)")
    return config, weights


def _check_member_count(fh, path: str) -> None:
    """Refuse an archive whose end record announces more than :data:`MAX_MEMBERS` members, or a
    central directory larger than that many members' entries (:data:`MAX_DIRECTORY_BYTES`).

    Read from the zip's end-of-central-directory record before ``zipfile``
    builds an object per member (it reads every entry of the directory, whatever
    count the record states). A zip64 archive (more than 65,534 members, or
    gigabytes) states its true count in its zip64 record, which is read too.
    """
    fh.seek(0, os.SEEK_END)
    size = fh.tell()
    fh.seek(max(0, size - (22 + 65535)))
    tail = fh.read()
    fh.seek(0)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 16 > len(tail):
        return  # not a zip: zipfile says so
    members = int.from_bytes(tail[end + 10: end + 12], "little")
    directory = int.from_bytes(tail[end + 12: end + 16], "little")
    if members == 0xFFFF or directory == 0xFFFFFFFF:
        members, directory = _zip64_counts(fh, tail, end, members, directory)
    if members is None or members > MAX_MEMBERS:
        held = "more than 65,534" if members is None else f"{members:,}"
        raise ModelFileError(f"{path}: the archive holds {held} members; a deepaccomp model holds at "
                             f"most {MAX_MEMBERS}")
    if directory > MAX_DIRECTORY_BYTES:
        raise ModelFileError(f"{path}: the archive's directory is {directory:,} bytes, more than the "
                             f"{MAX_DIRECTORY_BYTES:,} of any deepaccomp model (the file is damaged or not a model)")


def _zip64_counts(fh, tail: bytes, end: int, members: int, directory: int):
    """``(members, directory bytes)`` from the zip64 end record the locator before ``tail[end]`` points
    to; ``members`` is ``None`` where it cannot be read (a damaged or foreign record)."""
    locator = tail[end - 20: end] if end >= 20 else b""
    if not locator.startswith(b"PK\x06\x07"):
        return (None if members == 0xFFFF else members), directory
    fh.seek(int.from_bytes(locator[8:16], "little"))
    record = fh.read(56)
    fh.seek(0)
    if len(record) < 56 or not record.startswith(b"PK\x06\x06"):
        return (None if members == 0xFFFF else members), directory
    return int.from_bytes(record[32:40], "little"), int.from_bytes(record[40:48], "little")


def _check_member_sizes(zf, path: str) -> None:
    """Refuse an archive whose members declare more than :data:`MAX_FILE_BYTES` decompressed in all.

    Declared sizes can lie; :func:`_read_array` reads no more than each
    header's shape needs whatever they say.
    """
    total = sum(info.file_size for info in zf.infolist())
    if total > MAX_FILE_BYTES:
        raise ModelFileError(f"{path}: its members decompress to {total} bytes, more than any deepaccomp "
                             f"model (limit {MAX_FILE_BYTES})")


def _array_header(zf, name: str, path: str):
    """``(open member, shape, dtype)`` of ``name.npy``, from its header alone."""
    try:
        member = zf.open(name + ".npy")
    except KeyError:
        raise ModelFileError(f"{path}: not a deepaccomp generator artifact (no {name!r} array)") from None
    try:
        shape, fortran, dtype = read_npy_header(member)
    except ValueError as exc:
        raise ModelFileError(f"{path}: array {name!r} has an unsupported {exc}") from None
    return member, shape, dtype, fortran


def _read_array(member, shape, dtype, fortran, path: str, name: str) -> np.ndarray:
    """Exactly the bytes of an array of ``shape`` and ``dtype``: never more is decompressed."""
    out = read_npy_data(member, shape, dtype, fortran)
    if out is None:
        raise ModelFileError(f"{path}: not a readable deepaccomp model (array {name!r} is truncated)")
    return out


def _read_meta(zf, path: str) -> dict:
    member, shape, dtype, fortran = _array_header(zf, "meta", path)
    if dtype != np.uint8 or len(shape) != 1 or shape[0] > MAX_META_BYTES:
        raise ModelFileError(f"{path}: not a deepaccomp generator artifact (metadata of dtype {dtype}, "
                             f"shape {shape}; at most {MAX_META_BYTES} bytes of JSON)")
    text = _read_array(member, shape, dtype, fortran, path, "meta").tobytes()
    try:
        meta = json.loads(text.decode())
    except RecursionError:
        raise ModelFileError(f"{path}: not a deepaccomp generator artifact (metadata nested too deeply)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a deepaccomp generator artifact")
    return meta


def _config(meta: dict, path: str) -> Config:
    """The file's config, checked; its layout must be stored whole or as a preset's name (a model file
    never names a layout file: it carries its layout, so loading reads nothing else)."""
    try:
        data = meta["config"].get("data") if isinstance(meta["config"], dict) else None
        stored_layout(data.get("layout", DEFAULT_LAYOUT) if isinstance(data, dict) else DEFAULT_LAYOUT)
        return Config.from_dict(meta["config"])
    except Exception as exc:  # a foreign or edited config: never a raw TypeError
        raise ModelFileError(f"{path}: its config is invalid ({brief(str(exc), 1000)})") from exc


def _read_weights(zf, path: str, config: Config, meta: dict) -> list:
    """The weights, each header checked against the config's architecture before its data is read."""
    expected = config.generator_weight_shapes()
    if meta.get("n_weights") != len(expected):
        raise ModelFileError(f"{path}: weight shapes do not match the architecture in its config "
                             f"({meta.get('n_weights')!r} weights in the file, {len(expected)} needed)")
    headers = []
    for i, want in enumerate(expected):
        name = f"w{i:03d}"
        member, shape, dtype, fortran = _array_header(zf, name, path)
        if shape != want or dtype != np.float32:
            raise ModelFileError(f"{path}: weight shapes do not match the architecture in its config "
                                 f"({name}: {dtype} {shape} in the file, float32 {want} needed)")
        headers.append((member, shape, dtype, fortran, name))
    return [_read_array(member, shape, dtype, fortran, path, name)
            for member, shape, dtype, fortran, name in headers]


def load(path):
    """``(generator, config)`` from a model file: the config's generator with the file's weights.

    Everything :func:`read` checks is checked before the network is built.
    """
    from .models import build_generator  # TensorFlow only here: read and combine stay numpy

    config, weights = read(path)
    generator = build_generator(config)
    generator.set_weights(weights)
    return generator, config
