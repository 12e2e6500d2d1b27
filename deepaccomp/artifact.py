"""The model file: a trained generator's weights and its config in one ``generator.npz``.

Format (``"deepaccomp-generator"``, version 1): a ``.npz`` archive holding the
generator's weights as float32 arrays ``w000``, ``w001``, ... in Keras
``get_weights`` order, and ``meta``, UTF-8 JSON with the format name, the
version, the full :class:`~deepaccomp.config.Config`, the number of weights
and a sha256 digest over the config and every weight's shape and bytes. No
code and no pickle: loading never executes anything from the file. The
digest detects damage, not tampering (anyone can recompute it).

:func:`save` writes it (atomically), :func:`read` checks and returns
``(config, weights)`` without building a network, :func:`load` builds the
generator of the config and sets the weights.
"""

from __future__ import annotations

import hashlib
import io
import json
import os

import numpy as np

from .config import Config
from .errors import ModelFileError
from .io_utils import atomic_write_bytes
from .models import build_generator

__all__ = ["FILE_NAME", "FORMAT", "save", "read", "load", "weights_digest"]

FILE_NAME = "generator.npz"
"""The model file's name inside a run or model folder."""

FORMAT = "deepaccomp-generator"


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
    weights = [np.asarray(w, dtype=np.float32) for w in generator.get_weights()]
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

    Raises :class:`~deepaccomp.errors.ModelFileError` for a missing,
    truncated, damaged or foreign file. Never unpickles.
    """
    path = _file(path)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: model file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            weights = [z[f"w{i:03d}"] for i in range(int(meta["n_weights"]))]
    except Exception as exc:
        reason = "not a .npz archive" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise ModelFileError(f"{path}: not a readable deepaccomp model ({reason})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a deepaccomp generator artifact")
    if weights_digest(weights, meta.get("config")) != meta.get("sha256"):
        raise ModelFileError(f"{path}: weights or config do not match the checksum (file damaged or modified)")
    try:
        config = Config.from_dict(meta["config"])
    except Exception as exc:  # a foreign or edited config: never a raw TypeError
        raise ModelFileError(f"{path}: its config is invalid ({exc})") from exc
    return config, weights


def load(path):
    """``(generator, config)`` from a model file: the config's generator with the file's weights."""
    config, weights = read(path)
    generator = build_generator(config)
    if [tuple(w.shape) for w in weights] != [tuple(w.shape) for w in generator.weights]:
        raise ModelFileError(f"{_file(path)}: weight shapes do not match the architecture in its config")
    generator.set_weights(weights)
    return generator, config
