"""Corpora larger than memory: a MIDI folder built into fixed-size shards, streamed by ``tf.data``.

Layout of a shard folder (``deepaccomp prepare --source MIDI --shards OUT``):

* ``OUT/build.json``: the build's plan (source, settings, shard size, the
  digest of the sorted file list), written first;
* ``OUT/shard-NNNNN.npz``: ``shard_size`` consecutive files of the sorted
  list each (the last one fewer), converted by the same per-file function as
  :func:`deepaccomp.data.build_folder` and saved as a
  :class:`deepaccomp.data.Dataset` (active cells, metadata, skipped files);
  written atomically, so a file on disk is a finished shard;
* ``OUT/shards.json``: the index, written last: per shard its file and the
  counts of files, pieces, skipped files and pieces per split, and the totals.

The build runs in worker processes (one shard per task), shows a progress bar
of files, and resumes: run again after an interruption and only the missing
shards are built. Memory holds one shard per process, whatever the corpus.

Splits follow :func:`deepaccomp.data.split_of` over the sorted file list, as
for an in-memory folder build, without :func:`deepaccomp.data.clean_splits`
(its comparison of every tune with every other grows with the square of the
corpus); no reference metrics are computed.

:func:`read_phrases` streams the phrases of a split: shard order shuffled per
epoch with the seed, shards read a few at a time (``interleave``), one piece
decoded at a time, then the shuffle buffer and prefetch of
:func:`deepaccomp.data.make_tf_dataset`. For one seed the order is fixed, so a
resumed run sees the batches an uninterrupted one would. TensorFlow is
imported only by the readers.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

import numpy as np
from tqdm import tqdm

from . import data
from .errors import DatasetError, OutputFileError
from .io_utils import atomic_write_bytes, check_writable_dir
from .layout import DEFAULT_LAYOUT, get_layout
from .representation import STEPS_PER_BAR, get_window

__all__ = ["INDEX_NAME", "PLAN_NAME", "SHARD_FORMAT", "DEFAULT_SHARD_SIZE", "EVAL_PIECES", "CYCLE_LENGTH",
           "midi_paths", "is_shard_folder", "build_shards", "read_index", "read_shard", "read_phrases",
           "read_eval_dataset"]

INDEX_NAME = "shards.json"
"""The index of a finished shard folder, written last."""
PLAN_NAME = "build.json"
"""The plan of a shard build (settings and file-list digest), written first."""
SHARD_FORMAT = 1
"""Version of the shard folder layout (in ``build.json`` and ``shards.json``)."""
DEFAULT_SHARD_SIZE = 256
"""MIDI files per shard."""
EVAL_PIECES = 32
"""Most valid pieces :func:`read_eval_dataset` keeps for the training monitor."""
CYCLE_LENGTH = 4
"""Shards read at the same time by :func:`read_phrases`."""


def midi_paths(folder) -> list[str]:
    """The MIDI files under ``folder`` (recursively), sorted: the order that decides shards and splits."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise DatasetError(f"{folder}: not a folder of MIDI files")
    paths = sorted(os.path.join(root, f) for root, _, files in os.walk(folder)
                   for f in files if f.lower().endswith(data.MIDI_SUFFIXES))
    if not paths:
        raise DatasetError(f"{folder}: no .mid/.midi files found")
    return paths


def is_shard_folder(path) -> bool:
    """Whether ``path`` is a folder written by :func:`build_shards` (finished or not)."""
    path = os.fspath(path)
    return os.path.isdir(path) and (os.path.exists(os.path.join(path, INDEX_NAME))
                                    or os.path.exists(os.path.join(path, PLAN_NAME)))


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}.npz"


def _plan(source: str, paths: list, key_normalize: bool, shard_size: int, layout: str) -> dict:
    listing = hashlib.sha1("\n".join(os.path.relpath(p, source) for p in paths).encode()).hexdigest()
    settings = {"format": SHARD_FORMAT, "dataset_version": data.DATASET_VERSION, "source": os.path.abspath(source),
                "key_normalize": key_normalize, "layout": layout, "shard_size": shard_size, "n_files": len(paths), "files": listing}
    return dict(settings, digest=hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16])


def _convert(position: int, path: str, key_normalize: bool, layout: str):
    """The one call into the folder build's per-file conversion: ``(position, id, roll or None, meta)``."""
    return data._folder_one((position, path, key_normalize, data.split_of(position), layout))


def _build_shard(job) -> dict:
    """Convert one shard's files and write it atomically; returns its index entry."""
    k, first, paths, key_normalize, layout, out, digest = job
    rolls, pieces, skipped = [], [], []
    for position, path in enumerate(paths, start=first):
        _, _, roll, meta = _convert(position, path, key_normalize, layout)
        if roll is None:
            skipped.append(meta)
        else:
            rolls.append(roll)
            pieces.append(meta)
    entry = {"shard": k, "file": _shard_name(k), "files": len(paths), "pieces": len(pieces), "skipped": len(skipped),
             "splits": {s: sum(p["split"] == s for p in pieces) for s in data.SPLITS},
             "steps": int(sum(r.shape[0] for r in rolls))}
    info = {"shard": k, "digest": digest, "entry": entry, "key_normalize": key_normalize, "layout": layout}
    data.Dataset(rolls, pieces, skipped, info).save(os.path.join(out, entry["file"]))
    return entry


def _finished_entry(out: str, k: int, digest: str) -> dict | None:
    """The index entry of shard ``k`` if a complete shard of this build is on disk, else ``None``."""
    path = os.path.join(out, _shard_name(k))
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            info = json.loads(bytes(z["meta"]).decode())["info"]
    except Exception:
        return None  # damaged: built again
    return info["entry"] if info.get("digest") == digest and info.get("shard") == k else None


def _check_out(out: str, plan: dict, force: bool) -> None:
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"{out}: cannot create the shard folder ({exc.strerror or exc})") from exc
    check_writable_dir(out)
    plan_path = os.path.join(out, PLAN_NAME)
    old = None
    if os.path.exists(plan_path):
        try:
            with open(plan_path, encoding="utf-8") as fh:
                old = json.load(fh)
        except (OSError, ValueError, UnicodeDecodeError):
            old = {}
    elif any(n.startswith("shard-") for n in os.listdir(out)):
        old = {}
    if old is not None and (force or old.get("digest") != plan["digest"]):
        if not force:
            raise DatasetError(
                f"{out} holds shards of another build (other files or settings); "
                "use another folder, or --force to replace them")
        for name in os.listdir(out):
            if name.startswith("shard-") or name in (INDEX_NAME, PLAN_NAME):
                os.remove(os.path.join(out, name))
    for name in os.listdir(out):  # the temporary file of a shard whose writer was killed
        if name.startswith(".tmp-") and name.endswith(".npz"):
            os.remove(os.path.join(out, name))
    atomic_write_bytes(plan_path, json.dumps(plan, indent=2).encode())


def build_shards(source, out, *, key_normalize: bool = True, shard_size: int = DEFAULT_SHARD_SIZE,
                 workers: int | None = None, progress: bool = True, force: bool = False,
                 layout: str = DEFAULT_LAYOUT) -> dict:
    """Build (or finish building) the shard folder ``out`` from the MIDI files under ``source``.

    Parameters
    ----------
    source : str or os.PathLike
        A folder of four-part MIDI files, searched recursively (the rules of
        :func:`deepaccomp.data.folder_piece_roll`).
    out : str or os.PathLike
        The shard folder. Shards already there from the same build (same
        files, settings and shard size) are kept: an interrupted build
        continues where it stopped.
    key_normalize : bool
        Transpose each piece to C major / A minor by its melody's key.
    shard_size : int
        Files per shard (the last shard holds the rest).
    workers : int, optional
        Processes (default: up to 2); each builds whole shards. One where worker
        processes cannot start (a program piped to ``python -``).
    progress : bool
        Show a progress bar of the files.
    force : bool
        Replace the shards of another build found in ``out``.

    Returns
    -------
    dict
        The index (also written to ``out/shards.json``): ``shards`` (file,
        files, pieces, skipped, splits, steps of each), the totals ``pieces``,
        ``skipped``, ``splits``, and the build settings, ``digest`` and
        ``build_seconds`` (of this call).

    Raises
    ------
    DatasetError
        ``source`` is not a folder with MIDI files, ``out`` holds another
        build (without ``force``), or no file was usable.
    OutputFileError
        ``out`` cannot be created or written.
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise DatasetError(f"shard_size must be a whole number >= 1, got {shard_size!r}")
    source, out = os.fspath(source), os.fspath(out)
    t0 = time.perf_counter()
    paths = midi_paths(source)
    if os.path.realpath(out) == os.path.realpath(source):
        raise DatasetError(f"{out}: the shard folder must not be the MIDI folder itself")
    layout = get_layout(layout).name
    plan = _plan(source, paths, key_normalize, shard_size, layout)
    _check_out(out, plan, force)
    starts = range(0, len(paths), shard_size)
    entries = {k: _finished_entry(out, k, plan["digest"]) for k in range(len(starts))}
    jobs = [(k, first, paths[first:first + shard_size], key_normalize, layout, out, plan["digest"])
            for k, first in enumerate(starts) if entries[k] is None]
    done_files = sum(e["files"] for e in entries.values() if e)
    bar = tqdm(total=len(paths), initial=done_files, desc="building shards", unit="file",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for entry in _run(jobs, workers or min(2, os.cpu_count() or 1)):
            entries[entry["shard"]] = entry
            bar.update(entry["files"])
    finally:
        bar.close()
    return _write_index(out, plan, [entries[k] for k in sorted(entries)], time.perf_counter() - t0)


def _run(jobs, workers):
    """Yield each shard's index entry as its task finishes (in worker processes when ``workers > 1``)."""
    if workers <= 1 or len(jobs) <= 1 or not data._can_spawn():
        for job in jobs:
            yield _build_shard(job)
        return
    # "spawn", never fork (as data._run_jobs); at most two tasks queued per process keeps memory flat
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    pending, queue = set(), list(reversed(jobs))
    try:
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                pending.add(pool.submit(_build_shard, queue.pop()))
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _write_index(out: str, plan: dict, entries: list, seconds: float) -> dict:
    totals = {"files": sum(e["files"] for e in entries), "pieces": sum(e["pieces"] for e in entries),
              "skipped": sum(e["skipped"] for e in entries),
              "splits": {s: sum(e["splits"][s] for e in entries) for s in data.SPLITS}}
    if totals["pieces"] == 0:
        raise DatasetError(f"{plan['source']}: no usable piece in {totals['files']} files "
                           f"(see the skipped files with deepaccomp.shards.read_shard)")
    index = {**plan, **totals, "shards": entries, "build_seconds": round(seconds, 2)}
    atomic_write_bytes(os.path.join(out, INDEX_NAME), json.dumps(index, indent=1).encode())
    return index


def read_index(folder, *, key_normalize: bool | None = None, layout: str | None = None) -> dict:
    """The index of a finished shard folder (see :func:`build_shards`).

    Raises
    ------
    DatasetError
        No index (the build is unfinished or this is no shard folder), an
        index of another format, a missing shard, or ``key_normalize`` given
        and different from the build's, or ``layout`` given and different from the build's.
    """
    folder = os.fspath(folder)
    path = os.path.join(folder, INDEX_NAME)
    if not os.path.exists(path):
        what = "an unfinished build" if os.path.exists(os.path.join(folder, PLAN_NAME)) else "not a shard folder"
        raise DatasetError(f"{folder}: {what} (no {INDEX_NAME}); run `deepaccomp prepare --source MIDI_FOLDER "
                           f"--shards {folder}` (again) to finish it")
    try:
        with open(path, encoding="utf-8") as fh:
            index = json.load(fh)
        entries = [e["file"] for e in index["shards"]]
    except (OSError, ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: not a readable shard index ({exc}); build the shards again") from exc
    if index.get("format") != SHARD_FORMAT or index.get("dataset_version") != data.DATASET_VERSION:
        raise DatasetError(f"{path}: shards of another format; build them again with --force")
    missing = [f for f in entries if not os.path.exists(os.path.join(folder, f))]
    if missing:
        raise DatasetError(f"{folder}: {len(missing)} shards listed in {INDEX_NAME} are missing "
                           f"({missing[0]}...); build them again")
    if key_normalize is not None and index["key_normalize"] != key_normalize:
        raise DatasetError(f"{folder} was built with key_normalize={index['key_normalize']}, the config asks "
                           f"for {key_normalize}; change data.key_normalize or build the shards again")
    built = index.get("layout", DEFAULT_LAYOUT)
    if layout is not None and built != layout:
        raise DatasetError(f"{folder} holds layout {built!r}, the config asks for {layout!r}; train with "
                           f"--layout {built} or build the shards again with --layout {layout}")
    return index


def read_shard(folder, entry) -> data.Dataset:
    """One shard (an entry of the index, or its file name) as a :class:`deepaccomp.data.Dataset`."""
    name = entry["file"] if isinstance(entry, dict) else entry
    return data.Dataset.load(os.path.join(os.fspath(folder), name))


def _piece_phrases(folder, split, window, phrase_bars, hop_bars):
    """A generator function for one shard file: the phrases of each piece of ``split``, one piece at a time."""
    def pieces(name):
        ds = read_shard(folder, name.decode() if isinstance(name, bytes) else name)
        for i in ds.indices(split):
            one = data.Dataset([ds.rolls[i]], [ds.pieces[i]], [], ds.info)
            phrases = one.phrases(split, window=window, phrase_bars=phrase_bars, hop_bars=hop_bars)
            if len(phrases):
                yield phrases
    return pieces


def read_phrases(folder, split: str = "train", *, window="compact", phrase_bars: int = 2, hop_bars: int = 1,
                 seed: int = 0, cycle_length: int = CYCLE_LENGTH):
    """The phrases of ``split`` streamed from a shard folder: a ``tf.data.Dataset`` of bool
    ``(phrase_bars * 16, window.size, tracks)`` (the tracks of the build's layout), one epoch (feed it to :func:`deepaccomp.data.make_tf_dataset`).

    Shard order is shuffled with ``seed`` (again each epoch); ``cycle_length``
    shards are read at once and their pieces interleaved, in a fixed order.
    Phrases are cut as :meth:`deepaccomp.data.Dataset.phrases` cuts them.
    Memory: ``cycle_length`` decoded shards at most, whatever the corpus.

    Raises
    ------
    DatasetError
        Not a finished shard folder, an unknown split, or no whole phrase in
        the split (its pieces are all shorter than ``phrase_bars``).
    """
    from ._tf import tf

    folder = os.fspath(folder)
    index = read_index(folder)
    if split not in data.SPLITS:
        raise DatasetError(f"unknown split {split!r}; use one of {data.SPLITS}")
    names = [e["file"] for e in index["shards"] if e["splits"][split]]
    if not names:
        raise DatasetError(f"{folder}: no piece in the {split} split; no phrases to feed")
    steps, size = phrase_bars * STEPS_PER_BAR, get_window(window).size
    spec = tf.TensorSpec((None, steps, size, data.n_tracks_of(index)), tf.bool)
    pieces = _piece_phrases(folder, split, window, phrase_bars, hop_bars)
    files = tf.data.Dataset.from_tensor_slices(names).shuffle(len(names), seed=seed, reshuffle_each_iteration=True)
    stream = files.interleave(
        lambda name: tf.data.Dataset.from_generator(pieces, output_signature=spec, args=(name,)),
        cycle_length=min(cycle_length, len(names)), block_length=1,
        num_parallel_calls=min(cycle_length, len(names)), deterministic=True)
    options = tf.data.Options()
    # every worker of a multi-worker run reads the same stream and keeps its part of each global batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    stream = stream.unbatch().with_options(options)
    if not any(True for _ in stream.take(1)):  # else an endless repeat() would never yield a batch
        raise DatasetError(f"{folder}: no {split} piece is {phrase_bars} bars long or longer; no phrases to feed "
                           "(use shorter phrases, data.phrase_bars)")
    return stream


def read_eval_dataset(folder, n_melodies: int = 10) -> data.Dataset:
    """A small in-memory :class:`deepaccomp.data.Dataset` for the training monitor: valid pieces of the first
    shards (train pieces where there is no valid one), enough for ``n_melodies`` phrases and at most
    :data:`EVAL_PIECES`."""
    folder = os.fspath(folder)
    index = read_index(folder)
    split = "valid" if index["splits"]["valid"] else "train"
    want = min(EVAL_PIECES, max(n_melodies, 1))
    rolls, pieces = [], []
    for entry in index["shards"]:
        if len(rolls) >= want:
            break
        if not entry["splits"][split]:
            continue
        ds = read_shard(folder, entry)
        for i in ds.indices(split)[:want - len(rolls)]:
            rolls.append(ds.rolls[i])
            pieces.append(ds.pieces[i])
    return data.Dataset(rolls, pieces, [], {"source": folder, "shards": True})
