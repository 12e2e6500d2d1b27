"""The studio's requests in worker processes: one queue, ``processes`` workers, each with its own models.

With worker processes (``deepaccomp studio`` starts one per CPU; ``--workers``) the
whole work of a request, reading its melody, the generator, the decoding and
writing its answer (the MIDI file and the JSON), runs in one of the workers, and
the server's own process only answers HTTP. In one process those steps take turns
on Python's lock, so two cores served about 24 requests a second; in two workers
they run side by side (docs/performance.md has the figures). Requests wait in one
queue and are served first come, first served, so a request waits about
(requests ahead of it) / throughput.

Each worker holds its own copy of the studio's models: the one given at start is
loaded when the worker starts, the other shipped models on their first request
(from their files, the same files the server reads, so answers are byte-identical
to those the server's process would give). A model given in memory, without a
file, is copied to each worker once, when it starts. Workers ignore Ctrl+C (the
server stops them when it stops) and stop when the server's process ends, however it ends; a worker that dies (killed, out of memory)
fails the requests it held with :class:`WorkerLostError` and new workers take the
next requests.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from concurrent.futures.process import BrokenProcessPool

from ..accompanist import Accompanist
from ..errors import ConfigError, DeepAccompError, brief

__all__ = ["WorkerLostError", "WorkerPool", "check_workers", "default_workers", "MAX_WORKERS"]

MAX_WORKERS = 16
"""Most worker processes a studio starts (each holds its models: about 80 MB with the chorale model)."""


class WorkerLostError(DeepAccompError):
    """A worker process stopped (killed, or out of memory) while it held a request."""


def check_workers(workers, name: str = "workers") -> int:
    """``workers`` if it is a whole number of worker processes, 0 to :data:`MAX_WORKERS`, else a
    :class:`~deepaccomp.errors.ConfigError` naming ``name`` (the argument or the command's flag)."""
    if not isinstance(workers, int) or isinstance(workers, bool) or not 0 <= workers <= MAX_WORKERS:
        raise ConfigError(f"{name} must be an integer 0..{MAX_WORKERS}, got {brief(repr(workers))}")
    return workers


def default_workers() -> int:
    """One worker per CPU this process may use, at most :data:`MAX_WORKERS`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, MAX_WORKERS))


class WorkerPool:
    """``processes`` worker processes that run ``fn(model, *args)`` for a model named by the caller.

    Parameters
    ----------
    processes : int
        Worker processes, 1 to :data:`MAX_WORKERS`.
    models : dict
        ``{name: model file path or loaded Accompanist}``, every model a request may name.
    warm : str, optional
        The model each worker loads when it starts (the others load on their first request).
    """

    def __init__(self, processes: int, models: dict, warm: str | None = None):
        if not 1 <= processes <= MAX_WORKERS:
            raise ValueError(f"processes must be 1..{MAX_WORKERS}, got {processes}")
        self.processes, self.models, self.warm = processes, dict(models), warm
        self.lock = threading.Lock()
        self.executor = self._start()

    def _start(self) -> concurrent.futures.ProcessPoolExecutor:
        executor = concurrent.futures.ProcessPoolExecutor(
            self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
            initargs=(self.models, self.warm))
        for _ in range(self.processes):  # start every worker now, not at the first requests
            executor.submit(os.getpid)
        return executor

    def submit(self, name: str, fn, *args) -> concurrent.futures.Future:
        """``fn(model, *args)`` in a worker, ``model`` the worker's copy of model ``name``; ``fn`` and
        ``args`` must pickle (a module-level function). A lost worker's future raises
        :class:`WorkerLostError`."""
        executor = self.executor
        try:
            future = executor.submit(_run, name, fn, args)
        except BrokenProcessPool:
            self._restart(executor)
            future = self.executor.submit(_run, name, fn, args)
        out = concurrent.futures.Future()

        def done(f):
            if f.cancelled():  # queued when the studio closed
                out.cancel()
                return
            exc = f.exception()
            if isinstance(exc, BrokenProcessPool):
                self._restart(executor)
                exc = WorkerLostError("a worker process of the studio stopped while it held this request "
                                      "(killed, or out of memory?); new workers take the next requests: "
                                      "try again")
            if exc is not None:
                out.set_exception(exc)
            else:
                out.set_result(f.result())

        future.add_done_callback(done)
        return out

    def _restart(self, broken):
        """New workers in place of ``broken``'s (once, whoever notices first)."""
        with self.lock:
            if self.executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self.executor = self._start()

    def close(self):
        """Stops the workers once they finish what they hold; queued requests are cancelled."""
        self.executor.shutdown(wait=False, cancel_futures=True)


_SOURCES: dict = {}
_MODELS: dict = {}


def _start_worker(models: dict, warm):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C stops the server, which stops its workers
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    _SOURCES.update(models)
    if warm is not None:
        try:
            _model(warm)
        except Exception:  # noqa: BLE001 - the first request that needs it gets the error, in words
            pass


def _exit_with_parent():
    """A server killed outright (``kill -9``, out of memory) cannot stop its workers: they stop themselves."""
    multiprocessing.connection.wait([multiprocessing.parent_process().sentinel])
    os._exit(0)


def _model(name: str) -> Accompanist:
    if name not in _MODELS:
        source = _SOURCES[name]
        _MODELS[name] = source if isinstance(source, Accompanist) else Accompanist(source)
    return _MODELS[name]


def _run(name: str, fn, args):
    return fn(_model(name), *args)
