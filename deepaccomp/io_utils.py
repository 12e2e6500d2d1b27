"""Small file helpers: atomic writes with clear errors (no partial output files)."""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager

from .errors import OutputFileError


def check_writable_dir(folder: str) -> None:
    """Raise :class:`OutputFileError` unless ``folder`` exists and can be written."""
    folder = folder or "."
    if not os.path.isdir(folder):
        raise OutputFileError(f"{folder}: the output folder does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputFileError(f"{folder}: the output folder is not writable")


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any error the temporary file is removed and ``path`` is left untouched.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    check_writable_dir(folder)
    if os.path.isdir(path):
        raise OutputFileError(f"{path}: is a directory, give a file name")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=os.path.basename(path), dir=folder)
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except OSError as exc:
        _remove(tmp)
        if exc.errno == errno.ENOSPC:
            raise OutputFileError(f"{path}: no space left on device") from exc
        if isinstance(exc, OutputFileError):
            raise
        raise OutputFileError(f"{path}: cannot be written ({exc.strerror or exc})") from exc
    except BaseException:
        _remove(tmp)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass
