"""TensorFlow and Keras, imported once without their C++ start-up chatter.

TensorFlow prints oneDNN notices and CUDA probes on import, before it reads
``TF_CPP_MIN_LOG_LEVEL``; so stderr's file descriptor points at /dev/null for
the duration of the import. Every deepaccomp module that needs TensorFlow
imports it from here (``from ._tf import keras, tf``). Set
``TF_CPP_MIN_LOG_LEVEL=0`` to see the chatter. Generating needs neither (see
:mod:`deepaccomp.inference`); without them, the install's ``train`` extra is
named in a :class:`~deepaccomp.errors.MissingDependencyError`.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .errors import require

__all__ = ["keras", "tf", "stderr_silenced"]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def stderr_silenced(enabled: bool = True):
    """Point file descriptor 2 at /dev/null inside the block (C++ logs included); no-op without a real stderr."""
    try:
        fd = sys.stderr.fileno() if enabled else None
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured by a notebook)
        fd = None
    if fd is None:
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(fd), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    try:
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


with stderr_silenced(os.environ.get("TF_CPP_MIN_LOG_LEVEL") != "0" and "tensorflow" not in sys.modules):
    keras = require("keras", "training (and building a Keras model)")
    tf = require("tensorflow", "training (and building a Keras model)")
