"""Small file helpers: atomic writes with clear errors (no partial output files), lock files, and
bounded reading of ``.npy`` members (model and dataset archives read the same way)."""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import tempfile
import time
from contextlib import contextmanager

import numpy as np

from .errors import OutputFileError, brief


__all__ = [
    "check_writable_dir",
    "check_output_path",
    "check_not_inputs",
    "atomic_path",
    "atomic_write_bytes",
    "project_path",
    "process_alive",
    "PidLock",
    "read_npy_header",
    "read_npy_data",
    "open_regular",
    "read_bounded",
    "NotRegularFileError",
    "FileTooLargeError",
]

_NPY_HEADERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def read_npy_header(member) -> tuple:
    """``(shape, fortran_order, dtype)`` from the header of an open ``.npy`` member, nothing more read.

    Raises ``ValueError`` for a version other than 1.0 and 2.0 (callers turn it into their own error).
    """
    version = np.lib.format.read_magic(member)
    if version not in _NPY_HEADERS:
        raise ValueError(f".npy version {version}")
    shape, fortran, dtype = _NPY_HEADERS[version](member)
    return tuple(shape), fortran, dtype


def read_npy_data(member, shape, dtype, fortran: bool = False):
    """Exactly the bytes of an array of ``shape`` and ``dtype`` from ``member`` (after its header), never
    more; ``None`` if the member ends first (truncated)."""
    out = np.empty(shape[::-1] if fortran else shape, dtype=dtype)
    buf, done = memoryview(out.reshape(-1).view(np.uint8)), 0
    while done < len(buf):
        n = member.readinto(buf[done:])
        if not n:
            return None
        done += n
    return out.T if fortran else out

def check_writable_dir(folder: str) -> None:
    """Raise :class:`OutputFileError` unless ``folder`` exists and can be written."""
    folder = folder or "."
    if not os.path.isdir(folder):
        if os.path.exists(folder):
            raise OutputFileError(f"{brief(folder)}: is a file, not a folder; cannot write inside it")
        raise OutputFileError(f"{brief(folder)}: the output folder does not exist; create it first")
    if not os.access(folder, os.W_OK):
        raise OutputFileError(f"{brief(folder)}: the output folder is not writable")


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
        raise OutputFileError(f"{brief(path)}: is a directory, give a file name")
    if path.endswith(("/", os.sep)):
        raise OutputFileError(f"{brief(path)}: ends with a path separator, give a file name")
    if os.path.exists(path) and not os.path.isfile(path):
        raise OutputFileError(f"{brief(path)}: not a regular file (a device, pipe or socket); give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    check_writable_dir(folder)
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe-", dir=folder)
    except OSError as exc:
        if exc.errno == errno.ENOENT:  # the folder exists but takes no new file: /proc
            raise OutputFileError(f"{brief(path)}: files cannot be created in {brief(folder)} (a virtual file system "
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
            raise OutputFileError(f"{brief(path)}: is the same file as {brief(other)}; writing it would replace it, "
                                  "choose another output name")


def _output_error(path: str, exc: OSError) -> OutputFileError:
    if exc.errno == errno.ENOSPC:
        return OutputFileError(f"{brief(path)}: no space left on device")
    if exc.errno == errno.EROFS:
        return OutputFileError(f"{brief(path)}: the file system is read-only")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return OutputFileError(f"{brief(path)}: permission denied; check the folder's write permission")
    return OutputFileError(f"{brief(path)}: cannot be written ({exc.strerror or exc})")


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


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine exists (another user's counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process, or a pid this system cannot hold
    return True


class NotRegularFileError(ValueError):
    """:func:`read_bounded` found a folder, pipe, socket or device where a file should be."""


class FileTooLargeError(ValueError):
    """:func:`open_regular` or :func:`read_bounded` found a file of more than its limit of bytes
    (``size``: its size where known, else ``None``)."""

    def __init__(self, path, size: int | None = None):
        super().__init__(path)
        self.size = size


def open_regular(path, limit: int):
    """``path`` opened for binary reading if it is a regular file of at most ``limit`` bytes: opened
    without blocking (a FIFO opens at once and is then refused, never waited on), then checked.

    Raises
    ------
    OSError
        As ``os.open`` raises it (``FileNotFoundError``, a symbolic link loop, permissions...).
    NotRegularFileError
        A folder, pipe, socket or device.
    FileTooLargeError
        More than ``limit`` bytes on disk.

    Callers turn these into their own error of the deepaccomp family, with their own words.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:  # checked before fdopen, which refuses a folder
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFileError(os.fspath(path))
        raise FileTooLargeError(os.fspath(path), info.st_size)
    return os.fdopen(fd, "rb")


def read_bounded(path, limit: int) -> bytes:
    """The bytes of a small file read from outside: :func:`open_regular`, then at most ``limit`` bytes
    read (a file that grows meanwhile is refused too). Raises as :func:`open_regular`."""
    with open_regular(path, limit) as fh:
        raw = fh.read(limit + 1)
    if len(raw) > limit:
        raise FileTooLargeError(os.fspath(path))
    return raw


class PidLock:
    """A lock file holding its owner's pid, host and start time, created with ``O_EXCL``.

    A lock whose process is gone (this host, a dead pid; or a file that stays
    unreadable for :attr:`UNREADABLE_SECONDS`) is stale and taken over; a live
    one raises ``error(message)``. Used as a context manager; the file is
    removed on exit if this process still holds it.

    Parameters
    ----------
    path : str
        The lock file.
    error : type
        The exception raised when another process holds the lock.
    what : str
        The holder, as the message names it ("another shard build").
    advice : str
        What to do, appended to the message.
    subject : str, optional
        What the lock guards, as the message names it (default: the lock file).

    Subclasses may add to :attr:`info` (it is what the file holds) and react to
    a stale lock in :meth:`took_over`.
    """

    UNREADABLE_SECONDS = 60.0
    MAX_BYTES = 4096

    def __init__(self, path, error, what: str, advice: str, subject: str | None = None):
        self.path, self.error, self.what, self.advice = os.fspath(path), error, what, advice
        self.subject = brief(subject if subject is not None else self.path)
        self.info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}
        self.held = False

    def __enter__(self):
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                self._take_over_if_stale()
                continue
            except OSError as exc:
                raise _output_error(self.path, exc) from exc
            with os.fdopen(fd, "w") as fh:
                json.dump(self.info, fh)
            self.held = True
            return self
        raise self.error(f"{brief(self.path)}: cannot take the lock; {self.what} keeps taking it")

    def read(self):
        """The lock's contents: a dict, ``{}`` if there is no lock, ``None`` if unreadable."""
        try:
            raw = read_bounded(self.path, self.MAX_BYTES)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return None
        try:
            info = json.loads(raw.decode())
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        ok = isinstance(info, dict) and isinstance(info.get("pid"), int) and isinstance(info.get("host"), str)
        return info if ok else None

    def _take_over_if_stale(self) -> None:
        info = self.read()
        if info == {}:
            return  # released meanwhile: try again
        if info is None:
            try:
                age = time.time() - os.lstat(self.path).st_mtime
            except OSError:
                return
            if age < self.UNREADABLE_SECONDS:
                raise self.error(f"{self.subject} is being locked by {self.what} right now; {self.advice}")
            why = "it is unreadable"
        elif info["host"] != self.info["host"] or process_alive(info["pid"]):
            raise self.error(f"{self.subject} is in use by {self.what} (pid {info['pid']} on "
                             f"{brief(info['host'], 80)}); {self.advice} (if none runs any more, delete "
                             f"{brief(self.path)})")
        else:
            why = f"its process {info['pid']} is gone"
        stale = f"{self.path}.stale-{os.getpid()}"
        try:
            os.replace(self.path, stale)  # atomic: of two processes taking over, one gets the file
        except FileNotFoundError:
            return
        _remove(stale)
        self.took_over(info, why)

    def took_over(self, info, why: str) -> None:
        """Called after a stale lock was removed: ``info`` is what it held (``None`` if unreadable),
        ``why`` the reason in words. Nothing by default."""

    def __exit__(self, *exc):
        if self.held:
            info = self.read()
            if info and info.get("pid") == os.getpid():
                _remove(self.path)
            self.held = False
        return False
