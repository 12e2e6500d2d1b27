"""The studio's generations in batches: requests that wait together share one generator call.

Each request runs :meth:`deepaccomp.Accompanist.generate_piece` in a worker
thread of its own (reading its melody, drawing its noise from its own seed,
writing its answer), but the model's part of it, the generator and the notes
decoding (:meth:`deepaccomp.generation.ForwardPass.__call__`), is handed to
:data:`BATCH_THREADS` batch threads: the calls that arrived while the threads were busy go through
the model together (at most :data:`MAX_BATCH_CALLS` at a time), as one batch of the generator and
one batched decoding, while the other thread runs the next batch. Only
compatible calls are batched: the same input and noise shapes, bar length,
decoding settings (the noise scale is already in the noise) and whether
notes are kept. Every row of the generator and of the decoding is computed
on its own, so a request's answer is byte-identical to the one it gets when
served alone. A batch that fails is run again one request at a time, so that
a request's error is its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import queue
import threading
from concurrent.futures import Future

import numpy as np

from ..generation import ForwardPass
from ..representation import STEPS_PER_BAR

__all__ = ["BATCH_WORKERS", "MAX_BATCH_CELLS", "Batcher"]

BATCH_WORKERS = 32
"""Worker threads of a studio model: at most this many requests are prepared at once (and so at most
this many share a batch); the others wait for a thread (the studio's own limit on waiting requests,
:data:`~deepaccomp.studio.limits.MAX_PENDING`, still applies)."""

BATCH_THREADS = 2
"""Batch threads of a studio model: while one batch's numpy arithmetic runs (it releases Python's
lock), the other's Python-level work (the notes decoding's loops) can use the second core."""

MAX_BATCH_CALLS = 4
"""Most requests one batch thread takes at a time: batching saves no arithmetic here (the numpy
convolutions cost the same per melody in a batch), so small batches shared by the threads keep the
waiting of the last request short."""

MAX_BATCH_CELLS = 2**18
"""Most time x pitch cells (requests x steps x window pitches) in one batched generator call: 18
requests of the bundled 13-bar example; larger batches are cut, a larger single request goes alone
as before. Bounds the memory a batch adds (about 1 KB a cell)."""


class Batcher:
    """One model shared by many request threads: ``accompanist``'s forward pass queues its model calls
    here, and :data:`BATCH_THREADS` batch threads run them in batches.

    Parameters
    ----------
    accompanist : deepaccomp.Accompanist
        The loaded model, the studio's: its ``forward`` becomes the queued one (same generator, config
        and results), so every call of its methods, from any thread, goes through the batches; after
        :meth:`close` the calls run one by one.
    threads : int
        Batch threads (default :data:`BATCH_THREADS`).
    max_calls : int
        Most calls a batch thread takes at a time (default :data:`MAX_BATCH_CALLS`).
    """

    def __init__(self, accompanist, threads: int = BATCH_THREADS, max_calls: int = MAX_BATCH_CALLS):
        self.threads, self.max_calls = threads, max_calls
        self.forward = accompanist.forward
        self.accompanist = accompanist
        accompanist.forward = _QueuedForward(self)
        self.lock = threading.Lock()  # guards the counters; the model itself is read-only (thread-safe)
        self._slots = threading.Semaphore(threads)  # model calls at once (see paused)
        self.queued = 0  # calls queued
        self.runs = 0  # batches run
        self.largest = 0  # the most calls one batch held
        self._queue = queue.Queue()
        self._threads = []
        self._closed = False
        self._start = threading.Lock()

    def __call__(self, melody, noise, settings, steps_per_bar=STEPS_PER_BAR, fixed=None) -> np.ndarray:
        """:meth:`ForwardPass.__call__` of one request, run in the next batch; its result or its error."""
        call = ((melody, noise, settings, steps_per_bar, fixed), Future())
        with self._start:
            queued = not self._closed
            if queued:
                if not self._threads:
                    self._threads = [threading.Thread(target=self._serve, name=f"deepaccomp-batch-{i}", daemon=True)
                                     for i in range(self.threads)]
                    for thread in self._threads:
                        thread.start()
                self._queue.put(call)
                self.queued += 1
        if not queued:  # closed: no batch thread any more, the call runs on its own
            self._run([call])
        return call[1].result()

    @contextlib.contextmanager
    def paused(self):
        """Hold the model: no batch starts until the block ends (the calls queue meanwhile)."""
        for _ in range(self.threads):
            self._slots.acquire()
        try:
            yield self
        finally:
            for _ in range(self.threads):
                self._slots.release()

    def close(self):
        """Ends the batch thread once the queued calls are served; later calls run one by one."""
        with self._start:
            self._closed = True
            for _ in range(self.threads):
                self._queue.put(None)

    def _serve(self):
        while True:
            first = self._queue.get()
            if first is None:
                return
            calls = [first]
            while len(calls) < self.max_calls:  # what arrived while the last batch ran, up to a bound
                try:
                    calls.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stops = sum(c is None for c in calls)
            for _ in range(stops - 1):  # another batch thread's end: handed back to it
                self._queue.put(None)
            for batch in _batches([c for c in calls if c is not None]):
                self._run(batch)
            if stops:
                return

    def _run(self, batch):
        """One batch through the model, each result to its caller; a failed batch again call by call."""
        args = [a for a, _ in batch]
        with self.lock:
            self.runs += 1
            self.largest = max(self.largest, len(batch))
        try:
            with self._slots:
                values = self._call(args)
        except Exception as exc:  # noqa: BLE001 - handed to the callers, whose error it is
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for call in batch:
                self._run([call])
            return
        for (_, done), value in zip(batch, values):
            done.set_result(value)

    def _call(self, args) -> list:
        melody, noise, settings, steps_per_bar, fixed = args[0]
        if len(args) == 1:
            return [ForwardPass.__call__(self.forward, melody, noise, settings, steps_per_bar, fixed)]
        sizes = np.cumsum([a[0].shape[0] for a in args])[:-1]
        out = ForwardPass.__call__(self.forward, np.concatenate([a[0] for a in args]),
                                   np.concatenate([a[1] for a in args]), settings, steps_per_bar,
                                   None if fixed is None else np.concatenate([a[4] for a in args]))
        return np.split(out, sizes)


class _QueuedForward(ForwardPass):
    """The batcher's forward pass: as the model's, its model calls queued to :class:`Batcher`."""

    def __init__(self, batcher: Batcher):
        super().__init__(batcher.forward.generator, batcher.forward.config)
        self.batcher = batcher

    def __call__(self, melody, noise, settings=None, steps_per_bar=STEPS_PER_BAR, fixed=None) -> np.ndarray:
        return self.batcher(melody, noise, settings or self.config.generation, steps_per_bar, fixed)


def _key(args) -> tuple:
    """What calls must share to be batched: shapes, bar length, decoding settings, kept notes or not."""
    melody, noise, settings, steps_per_bar, fixed = args
    decoding = tuple((f.name, getattr(settings, f.name)) for f in dataclasses.fields(settings)
                     if f.name != "noise_scale")  # the noise scale is in the noise already
    return melody.shape[1:], noise.shape[1:], melody.dtype, steps_per_bar, decoding, fixed is None


def _batches(calls) -> list:
    """``calls`` grouped by :func:`_key` in the order of their first call, each group cut at
    :data:`MAX_BATCH_CELLS`."""
    groups = {}
    for call in calls:
        groups.setdefault(_key(call[0]), []).append(call)
    out = []
    for group in groups.values():
        batch, cells = [], 0
        for call in group:
            size = int(np.prod(call[0][0].shape[:3]))
            if batch and cells + size > MAX_BATCH_CELLS:
                out.append(batch)
                batch, cells = [], 0
            batch.append(call)
            cells += size
        out.append(batch)
    return out
