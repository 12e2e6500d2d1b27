"""Small file helpers: atomic writes with clear errors (no partial output files)."""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import contextmanager

from .errors import OutputFileError


__all__ = [
    "check_writable_dir",
    "check_output_path",
    "check_not_inputs",
    "atomic_path",
    "atomic_write_bytes",
    "project_path",
]

def check_writable_dir(folder: str) -> None:
    """Raise :class:`OutputFileError` unless ``folder`` exists and can be written."""
    folder = folder or "."
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise OutputFileError(f"{folder}: is a file, not a folder; cannot write inside it")
        raise OutputFileError(f"{folder}: the output folder does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputFileError(f"{folder}: the output folder is not writable")


def check_output_path(path) -> str:
    """Check early that ``path`` can be created as a file; return it as a ``str``.

    Raises :class:`OutputFileError` if the name is empty, names a directory
    or another non-regular file (a device, a pipe), or its folder does not
    exist or does not accept a new file: not writable, a read-only or a
    virtual file system such as ``/proc`` or ``/sys`` (an empty probe file is
    created and removed to find out). Nothing is left behind.
    """
    path = os.fspath(path)
    if not path:
        raise OutputFileError("no output file name given")
    if os.path.isdir(path):
        raise OutputFileError(f"{path}: is a directory, give a file name")
    if path.endswith(("/", os.sep)):
        raise OutputFileError(f"{path}: ends with a path separator, give a file name")
    if os.path.exists(path) and not os.path.isfile(path):
        raise OutputFileError(f"{path}: not a regular file (a device, pipe or socket); give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    check_writable_dir(folder)
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=folder)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the folder exists but takes no new file: /proc
            raise OutputFileError(f"{path}: files cannot be created in {folder} (a virtual file system "
                                  "such as /proc?); choose another folder") from exc
        raise _output_error(path, exc) from exc
    os.close(fd)
    _remove(probe)
    return path


def check_not_inputs(path, inputs) -> None:
    """Refuse an output ``path`` that is one of ``inputs``: the same file, also through another path or a link.

    Raises
    ------
    OutputFileError
        Writing ``path`` would replace an input (or two outputs are one file).
    """
    path = os.fspath(path)
    for other in inputs:
        if other is None:
            continue
        other = os.fspath(other)
        same = os.path.realpath(path) == os.path.realpath(other)
        if not same and os.path.exists(path) and os.path.exists(other):
            same = os.path.samefile(path, other)  # hard links
        if same:
            raise OutputFileError(f"{path}: is the same file as {other}; writing it would replace it, "
                                  "choose another output name")


def _output_error(path: str, exc: OSError) -> OutputFileError:
    if exc.errno == errno.ENOSPC:
        return OutputFileError(f"{path}: no space left on device")
    if exc.errno == errno.EROFS:
        return OutputFileError(f"{path}: the file system is read-only")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputFileError(f"{path}: permission denied; check the folder's write permission")
    return OutputFileError(f"{path}: cannot be written ({exc.strerror or exc})")


@contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it onto ``path``.

    On any error the temporary file is removed and ``path`` is left untouched.
    """
    path = check_output_path(path)
    folder = os.path.dirname(os.path.abspath(path))
    try:
        # the suffix keeps the extension; cut so that a long valid name stays valid with the prefix
        suffix = "-" + os.path.basename(path)[-64:]
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
        os.close(fd)
    except OSError as exc:  # read-only file system, disk full, name too long...
        raise _output_error(path, exc) from exc
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except OutputFileError:
        _remove(tmp)
        raise
    except OSError as exc:
        _remove(tmp)
        raise _output_error(path, exc) from exc
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


def project_path(*parts: str) -> str:
    """A path in the deepaccomp project folder, whatever the current directory.

    Parameters
    ----------
    *parts : str
        Path components, e.g. ``"datasets"`` or ``"runs", "notebooks"``.

    Returns
    -------
    str
        ``<checkout>/<parts>`` when deepaccomp is imported from a source
        checkout (the folder holding ``setup.cfg`` next to the package), else
        ``~/.cache/deepaccomp/<parts>`` (``$XDG_CACHE_HOME`` if set). A
        notebook started in ``notebooks/`` thus writes into the project's
        ``datasets/`` and ``runs/``, never beside itself.
    """
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if not os.path.isfile(os.path.join(root, "setup.cfg")):
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(cache, "deepaccomp")
    return os.path.join(root, *parts)
