"""Corpora larger than memory: a MIDI folder built into fixed-size shards, streamed by ``tf.data``.

Layout of a shard folder (``deepaccomp prepare --source MIDI --shards OUT``):

* ``OUT/build.lock``: held while a build runs (its pid and host); a second
  build into the folder is refused, a lock whose process is gone is taken over;
* ``OUT/build.json``: the build's plan (source, settings, shard size, the
  digest of the sorted file list), written first;
* ``OUT/shard-NNNNN.npz``: ``shard_size`` consecutive files of the sorted
  list each (the last one fewer), converted by the same per-file function as
  :func:`deepaccomp.data.build_folder` and saved as a
  :class:`deepaccomp.data.Dataset` (active cells, metadata, skipped files, and
  a digest of its source files' names, sizes and modification times);
  written atomically, so a file on disk is a finished shard;
* ``OUT/shards.json``: the index, written last: per shard its file, its
  sha256 and the counts of files, pieces, skipped files and pieces per split,
  and the totals.

The build runs in worker processes (one shard per task), shows a progress bar
of files, and resumes: run again after an interruption and only the missing
shards are built, and those whose files changed (size or modification time)
or that are damaged (every kept shard is read and checked). Memory holds one
shard per process, whatever the corpus.

Everything a shard folder holds is data from outside: the index and the plan
are read bounded in size (:data:`MAX_INDEX_BYTES`) and checked in structure
and types; the index must agree with itself and, before anything is trained,
every shard with its sha256 and its counts (:func:`read_index`); a shard is
read bounded (:func:`deepaccomp.data.read_cells`) and decoded one piece at a
time.

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
import math
import multiprocessing
import os
import re
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from tqdm import tqdm

from . import data
from .errors import DatasetError, DeepAccompError, OutputFileError, brief
from .io_utils import FileTooLargeError, NotRegularFileError, PidLock, atomic_write_bytes, check_writable_dir, read_bounded
from .layout import DEFAULT_LAYOUT, get_layout, layout_ref, same_layout, stored_layout
from .representation import STEPS_PER_BAR, get_window

__all__ = ["INDEX_NAME", "PLAN_NAME", "LOCK_NAME", "SHARD_FORMAT", "DEFAULT_SHARD_SIZE", "EVAL_PIECES",
           "CYCLE_LENGTH", "MAX_INDEX_BYTES", "midi_paths", "is_shard_folder", "build_shards", "read_index",
           "verify_shards", "read_shard", "read_phrases", "read_eval_dataset"]

INDEX_NAME = "shards.json"
"""The index of a finished shard folder, written last."""
PLAN_NAME = "build.json"
"""The plan of a shard build (settings and file-list digest), written first."""
LOCK_NAME = "build.lock"
"""Held while a build writes into the folder: the pid and host of that build."""
SHARD_FORMAT = 2
"""Version of the shard folder layout (in ``build.json`` and ``shards.json``); 2 added the digests."""
DEFAULT_SHARD_SIZE = 256
"""MIDI files per shard."""
EVAL_PIECES = 32
"""Most valid pieces :func:`read_eval_dataset` keeps for the training monitor."""
CYCLE_LENGTH = 4
"""Shards read at the same time by :func:`read_phrases`."""
MAX_INDEX_BYTES = 32 * 1024 ** 2
"""Most bytes of ``shards.json`` or ``build.json`` read: an index of about 100,000 shards."""

_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_COUNTS = ("files", "pieces", "skipped", "steps")
_VERIFIED: dict = {}
"""Shards of this process already checked: (path, size, mtime, inode, index digest, entry) -> True."""


def midi_paths(folder) -> list[str]:
    """The MIDI files under ``folder`` (recursively), sorted: the order that decides shards and splits
    (:func:`deepaccomp.data.midi_files`, as for an in-memory folder build)."""
    return data.midi_files(folder)


def is_shard_folder(path) -> bool:
    """Whether ``path`` is a folder written by :func:`build_shards` (finished or not)."""
    path = os.fspath(path)
    return os.path.isdir(path) and (os.path.lexists(os.path.join(path, INDEX_NAME))
                                    or os.path.lexists(os.path.join(path, PLAN_NAME)))


def _shard_name(k: int) -> str:
    return f"shard-{k:05d}.npz"


def _sources_digest(source: str, paths: list) -> str:
    """sha256 of the relative path, size and modification time of each file: an edit changes it."""
    h = hashlib.sha256()
    for p in paths:
        try:
            st = os.stat(p)
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size = mtime = -1
        h.update(os.fsencode(os.path.relpath(p, source)) + f"\0{size}\0{mtime}\n".encode())
    return h.hexdigest()


def _plan(source: str, paths: list, key_normalize: bool, shard_size: int, layout) -> dict:
    names = b"\n".join(os.fsencode(os.path.relpath(p, source)) for p in paths)
    settings = {"format": SHARD_FORMAT, "dataset_version": data.DATASET_VERSION, "source": os.path.abspath(source),
                "key_normalize": key_normalize, "layout": layout, "shard_size": shard_size, "n_files": len(paths),
                "files": hashlib.sha1(names).hexdigest()}
    return dict(settings, digest=hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16])


def _convert(position: int, path: str, key_normalize: bool, layout):
    """The one call into the folder build's per-file conversion: ``(position, id, roll or None, meta)``."""
    return data._folder_one((position, path, key_normalize, data.split_of(position), layout))


def _entry(k: int, pieces: list, skipped: list, lengths) -> dict:
    """A shard's index entry, counted from its contents."""
    return {"shard": k, "file": _shard_name(k), "files": len(pieces) + len(skipped), "pieces": len(pieces),
            "skipped": len(skipped), "splits": {s: sum(p["split"] == s for p in pieces) for s in data.SPLITS},
            "steps": int(sum(int(n) for n in lengths))}


def _file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with data._open_regular(path) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _build_shard(job) -> dict:
    """Convert one shard's files and write it atomically; returns its index entry."""
    k, first, paths, key_normalize, layout, out, digest, sources = job
    rolls, pieces, skipped = [], [], []
    for position, path in enumerate(paths, start=first):
        _, _, roll, meta = _convert(position, path, key_normalize, layout)
        if roll is None:
            skipped.append(meta)
        else:
            rolls.append(roll)
            pieces.append(meta)
    info = {"shard": k, "digest": digest, "sources": sources, "key_normalize": key_normalize, "layout": layout,
            "track_summary": data.track_summary(rolls, stored_layout(layout))}
    path = os.path.join(out, _shard_name(k))
    data.Dataset(rolls, pieces, skipped, info).save(path)
    return dict(_entry(k, pieces, skipped, [r.shape[0] for r in rolls]), sources=sources, sha256=_file_sha256(path),
                tracks=info["track_summary"])


def _finished_entry(out: str, k: int, digest: str, sources: str) -> dict | None:
    """The index entry of shard ``k`` if a whole, undamaged shard of this build and of the files as they are
    now is on disk (read and checked in full), else ``None``: it is built again."""
    path = os.path.join(out, _shard_name(k))
    if not os.path.lexists(path):
        return None
    try:
        _, _, lengths, meta = data.read_cells(path)
        sha = _file_sha256(path)
    except DatasetError:
        return None  # damaged: built again
    info = meta["info"]
    if (info.get("digest") != digest or info.get("shard") != k or info.get("sources") != sources
            or not _valid_tracks(info.get("track_summary"))):
        return None
    return dict(_entry(k, meta["pieces"], meta["skipped"], lengths), sources=sources, sha256=sha,
                tracks=info.get("track_summary"))


def _read_json(path: str, what: str):
    """A JSON file of the shard folder, read bounded: a regular file of at most :data:`MAX_INDEX_BYTES`."""
    name = brief(path)
    try:
        raw = read_bounded(path, MAX_INDEX_BYTES)
    except OSError as exc:
        raise DatasetError(f"{name}: the {what} cannot be read ({data.os_reason(exc)})") from None
    except NotRegularFileError:
        raise DatasetError(f"{name}: the {what} is not a regular file (a folder, pipe, socket or device)") from None
    except FileTooLargeError:
        raise DatasetError(f"{name}: the {what} is over {MAX_INDEX_BYTES:,} bytes (shards.MAX_INDEX_BYTES); "
                           "not written by deepaccomp") from None
    try:
        return json.loads(raw.decode())
    except RecursionError:
        raise DatasetError(f"{name}: the {what} is nested too deeply; not written by deepaccomp") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{name}: the {what} is not readable JSON ({brief(str(exc))})") from None


def _make_out(out: str) -> None:
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"{brief(out)}: cannot create the shard folder ({data.os_reason(exc)})") from exc
    check_writable_dir(out)


def _check_out(out: str, plan: dict, force: bool) -> None:
    """Refuse (or with ``force`` clear) a folder holding another build; write the plan."""
    plan_path = os.path.join(out, PLAN_NAME)
    why = None
    if os.path.lexists(plan_path):
        try:
            old = _read_json(plan_path, "build plan")
        except DatasetError as exc:
            why = f"its {PLAN_NAME} is unusable ({exc})"
        else:
            changed = [k for k in ("format", "dataset_version", "source", "key_normalize", "layout", "shard_size",
                                   "n_files", "files") if not isinstance(old, dict) or old.get(k) != plan[k]]
            if not isinstance(old, dict) or old.get("digest") != plan["digest"]:
                why = f"holds shards of another build (other files or settings: {', '.join(changed) or 'digest'})"
    elif any(n.startswith("shard-") or n == INDEX_NAME for n in os.listdir(out)):
        why = f"holds shards but no {PLAN_NAME} (deleted?), so their build cannot be told"
    if why and not force:
        raise DatasetError(f"{brief(out)} {why}; use another folder, or --force to replace them")
    if why:
        for name in os.listdir(out):
            if name.startswith("shard-") or name in (INDEX_NAME, PLAN_NAME):
                try:
                    os.remove(os.path.join(out, name))
                except OSError as exc:
                    raise OutputFileError(f"{brief(os.path.join(out, name))}: cannot be removed "
                                          f"({data.os_reason(exc)})") from exc
    for name in os.listdir(out):  # the temporary file of a shard whose writer was killed
        if name.startswith(".tmp-") and name.endswith(".npz"):
            os.remove(os.path.join(out, name))
    atomic_write_bytes(plan_path, json.dumps(plan, indent=2).encode())


def build_shards(source, out, *, key_normalize: bool = True, shard_size: int = DEFAULT_SHARD_SIZE,
                 workers: int | None = None, progress: bool = True, force: bool = False,
                 layout=DEFAULT_LAYOUT) -> dict:
    """Build (or finish building) the shard folder ``out`` from the MIDI files under ``source``.

    Parameters
    ----------
    source : str or os.PathLike
        A folder of four-part MIDI files, searched recursively (the rules of
        :func:`deepaccomp.data.folder_piece_roll`).
    out : str or os.PathLike
        The shard folder. Shards already there from the same build (same
        files, settings and shard size) are kept: an interrupted build
        continues where it stopped. A kept shard is read and checked in
        full; a damaged one, or one whose files changed since (size or
        modification time), is built again.
    key_normalize : bool
        Transpose each piece to C major / A minor by its melody's key.
    shard_size : int
        Files per shard (the last shard holds the rest).
    workers : int, optional
        Processes, 1..:data:`deepaccomp.data.MAX_WORKERS` (default: up to 2);
        each builds whole shards. One where worker processes cannot start (a
        program piped to ``python -``).
    progress : bool
        Show a progress bar of the files.
    force : bool
        Replace the shards of another build found in ``out``.
    layout : str, dict or Layout
        A preset name, a layout file's path, a dict or a layout
        (:func:`deepaccomp.layout.get_layout`); the index and every shard
        store it (a user layout's whole definition).

    Returns
    -------
    dict
        The index (also written to ``out/shards.json``): ``shards`` (file,
        sha256, files, pieces, skipped, splits, steps of each), the totals
        ``files``, ``pieces``, ``skipped``, ``splits``, ``track_summary`` (in
        how many pieces and bars each track sounds), and the build settings,
        ``digest`` and ``build_seconds`` (of this call).

    Raises
    ------
    DatasetError
        ``source`` is not a folder with MIDI files, ``out`` holds another
        build (without ``force``) or another build is writing into it now
        (``out/build.lock``), or no file was usable.
    ConfigError
        ``workers`` outside 1..:data:`deepaccomp.data.MAX_WORKERS`.
    OutputFileError
        ``out`` cannot be created or written.
    """
    if isinstance(shard_size, bool) or not isinstance(shard_size, int) or shard_size < 1:
        raise DatasetError(f"shard_size must be a whole number >= 1, got {brief(shard_size)}")
    workers = data.check_workers(workers) or min(2, os.cpu_count() or 1)
    source, out = os.fspath(source), os.fspath(out)
    t0 = time.perf_counter()
    paths = midi_paths(source)
    if os.path.realpath(out) == os.path.realpath(source):
        raise DatasetError(f"{brief(out)}: the shard folder must not be the MIDI folder itself")
    layout = layout_ref(get_layout(layout))
    plan = _plan(source, paths, key_normalize, shard_size, layout)
    _make_out(out)
    with PidLock(os.path.join(out, LOCK_NAME), DatasetError, "another shard build",
                 "wait for it to finish, or build into another folder", subject=out):
        _check_out(out, plan, force)
        return _build_locked(source, out, paths, plan, workers, progress, t0)


def _build_locked(source, out, paths, plan, workers, progress, t0) -> dict:
    size, key_normalize, layout = plan["shard_size"], plan["key_normalize"], plan["layout"]
    parts = [paths[first:first + size] for first in range(0, len(paths), size)]
    sources = [_sources_digest(source, part) for part in parts]
    entries = {k: _finished_entry(out, k, plan["digest"], sources[k]) for k in range(len(parts))}
    jobs = [(k, k * size, part, key_normalize, layout, out, plan["digest"], sources[k])
            for k, part in enumerate(parts) if entries[k] is None]
    done_files = sum(e["files"] for e in entries.values() if e)
    bar = tqdm(total=len(paths), initial=done_files, desc="building shards", unit="file",
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    try:
        for entry in _run(jobs, workers):
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


def _totals(entries: list) -> dict:
    return {"files": sum(e["files"] for e in entries), "pieces": sum(e["pieces"] for e in entries),
            "skipped": sum(e["skipped"] for e in entries),
            "splits": {s: sum(e["splits"][s] for e in entries) for s in data.SPLITS}}


def _write_index(out: str, plan: dict, entries: list, seconds: float) -> dict:
    totals = _totals(entries)
    if totals["pieces"] == 0:
        raise DatasetError(f"{brief(plan['source'])}: no usable piece in {totals['files']} files "
                           f"(see the skipped files with deepaccomp.shards.read_shard)")
    index = {**plan, **totals, "track_summary": _track_totals(entries), "shards": entries,
             "build_seconds": round(seconds, 2)}
    atomic_write_bytes(os.path.join(out, INDEX_NAME), json.dumps(index, indent=1).encode())
    return index


def _valid_tracks(tracks) -> bool:
    """Whether ``tracks`` is a track summary: ``{name: {"pieces": n, "bars": n}}`` of whole numbers."""
    return isinstance(tracks, dict) and all(
        isinstance(c, dict) and set(c) == {"pieces", "bars"} and all(_whole(v) for v in c.values())
        for c in tracks.values())


def _track_totals(entries: list) -> dict:
    """``{track: {"pieces", "bars"}}`` summed over the shards (:func:`deepaccomp.data.track_summary` of each)."""
    out = {}
    for e in entries:
        for name, counts in (e.get("tracks") or {}).items():
            total = out.setdefault(name, {"pieces": 0, "bars": 0})
            total["pieces"] += counts["pieces"]
            total["bars"] += counts["bars"]
    return out


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_index(index, path: str) -> dict:
    """The index's structure and types, and its agreement with itself: the shards its plan needs, each
    entry's counts adding up, the totals the sums of the entries."""
    def bad(what):
        return DatasetError(f"{brief(path)}: not a valid shard index ({what}); build the shards again")

    if not isinstance(index, dict):
        raise bad("not a JSON object")
    if index.get("format") != SHARD_FORMAT or index.get("dataset_version") != data.DATASET_VERSION:
        raise DatasetError(f"{brief(path)}: shards of another format; build them again with --force")
    try:
        stored_layout(index.get("layout"))
    except DeepAccompError as exc:
        raise bad(f"its layout: {exc}") from None
    types = {"source": str, "key_normalize": bool, "digest": str, "files": int, "pieces": int, "skipped": int,
             "n_files": int, "shard_size": int, "shards": list, "splits": dict}
    wrong = [k for k, t in types.items() if not isinstance(index.get(k), t) or (t is int and not _whole(index[k]))]
    if wrong or index["shard_size"] < 1:
        raise bad(f"{', '.join(wrong) or 'shard_size'} missing or of the wrong type")
    shards, size = index["shards"], index["shard_size"]
    if len(shards) != math.ceil(index["n_files"] / size):
        raise bad(f"{len(shards)} shards listed for {index['n_files']} files of {size} per shard")
    for k, e in enumerate(shards):
        _check_entry(e, k, min(size, index["n_files"] - k * size), bad)
    totals = _totals(shards)
    if any(index[key] != value for key, value in totals.items()) or index["files"] != index["n_files"]:
        raise bad("its totals are not the sums of its shards")
    return index


def _check_entry(e, k: int, files: int, bad) -> None:
    if not isinstance(e, dict) or e.get("shard") != k or e.get("file") != _shard_name(k):
        raise bad(f"entry {k} is not shard {k}'s")
    splits = e.get("splits")
    ok = (all(_whole(e.get(c)) for c in _COUNTS) and isinstance(splits, dict) and set(splits) == set(data.SPLITS)
          and all(_whole(v) for v in splits.values()) and isinstance(e.get("sha256"), str)
          and _SHA256.match(e["sha256"]))
    if not ok:
        raise bad(f"entry {k}: counts, splits or sha256 missing or of the wrong type")
    if e["files"] != files or e["pieces"] + e["skipped"] != files or sum(splits.values()) != e["pieces"]:
        raise bad(f"entry {k}: its counts do not add up ({files} files in the shard)")


def verify_shards(folder, index: dict) -> None:
    """Check every shard of a checked index against it: its sha256, then the shard read in full and checked
    (:func:`deepaccomp.data.read_cells`: bounded, checksums, every cell inside its roll; rolls not decoded)
    and its counts, layout and build as the shard itself gives them. Each shard is read once per process
    while its size and modification time stay the same.

    Raises
    ------
    DatasetError
        A shard missing, not a regular file, damaged or modified (its sha256), or disagreeing with the index.
    """
    folder = os.fspath(folder)
    for e in index["shards"]:
        path = os.path.join(folder, e["file"])
        try:
            st = os.stat(path)
        except OSError as exc:
            raise DatasetError(f"{brief(path)}: a shard listed in {INDEX_NAME} cannot be read "
                               f"({data.os_reason(exc)}); build the shards again") from None
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino, index["digest"],
               json.dumps(e, sort_keys=True))
        if key not in _VERIFIED:
            _verify_shard(path, e, index)
            _VERIFIED[key] = True


def _verify_shard(path: str, e: dict, index: dict) -> None:
    advice = (f"build the shards again (`deepaccomp prepare --source SOURCE --shards {brief(os.path.dirname(path))}` "
              "rebuilds the damaged ones)")
    if _file_sha256(path) != e["sha256"]:
        raise DatasetError(f"{brief(path)}: the shard does not match its sha256 in {INDEX_NAME} "
                           f"(damaged or modified); {advice}")
    _, _, lengths, meta = data.read_cells(path)  # every member to its end: checksums and cells checked
    info = meta["info"]
    found = _entry(e["shard"], meta["pieces"], meta["skipped"], lengths)
    differ = [k for k in (*_COUNTS, "splits") if found[k] != e[k]]
    differ += [k for k in ("layout", "key_normalize", "digest") if info.get(k) != index[k]]
    if not differ and info.get("track_summary") != e.get("tracks"):
        differ = ["tracks"]
    if differ:
        k = differ[0]
        raise DatasetError(f"{brief(path)}: {INDEX_NAME} disagrees with the shard ({k}: "
                           f"{brief(index[k] if k in index and k not in e else e.get(k))} in the index, "
                           f"{brief(found.get(k, info.get(k)))} in the shard); {advice}")


def read_index(folder, *, key_normalize: bool | None = None, layout=None,
               verify: bool = True) -> dict:
    """The index of a finished shard folder (see :func:`build_shards`), checked.

    The index is read bounded (:data:`MAX_INDEX_BYTES`, a regular file) and
    its structure, types, layout and totals checked; with ``verify`` (the
    default) every shard is then checked against it (:func:`verify_shards`:
    reads every shard file once per process).

    Raises
    ------
    DatasetError
        No index (the build is unfinished or this is no shard folder), an
        index that is unreadable, malformed or of another format, a shard
        missing, damaged or disagreeing with the index, or ``key_normalize``
        or ``layout`` given and different from the build's.
    """
    folder = os.fspath(folder)
    path = os.path.join(folder, INDEX_NAME)
    if not os.path.lexists(path):
        what = "an unfinished build" if os.path.lexists(os.path.join(folder, PLAN_NAME)) else "not a shard folder"
        raise DatasetError(f"{brief(folder)}: {what} (no {INDEX_NAME}); run `deepaccomp prepare --source MIDI_FOLDER "
                           f"--shards {brief(folder)}` (again) to finish it")
    index = _check_index(_read_json(path, "shard index"), path)
    if key_normalize is not None and index["key_normalize"] != key_normalize:
        raise DatasetError(f"{brief(folder)} was built with key_normalize={index['key_normalize']}, the config asks "
                           f"for {key_normalize}; change data.key_normalize or build the shards again")
    built = stored_layout(index["layout"])
    if layout is not None and not same_layout(built, layout):
        asked = get_layout(layout).name
        raise DatasetError(f"{brief(folder)} holds layout {built.name!r}, the config asks for {asked!r} (another "
                           f"definition); train with the layout of the build or build the shards again with "
                           f"--layout {asked}")
    if verify:
        verify_shards(folder, index)
    return index


def read_shard(folder, entry) -> data.Dataset:
    """One shard (an entry of the index, or its file name) as a :class:`deepaccomp.data.Dataset`
    (read bounded: :meth:`deepaccomp.data.Dataset.load`)."""
    name = entry["file"] if isinstance(entry, dict) else entry
    return data.Dataset.load(os.path.join(os.fspath(folder), name))


def _split_pieces(path: str, split: str):
    """``(cells, offsets, lengths, tracks, positions, pieces)``: a shard read bounded, where its ``split``
    pieces are, and the metadata of its pieces."""
    cells, offsets, lengths, meta = data.read_cells(path)
    positions = [i for i, p in enumerate(meta["pieces"]) if p["split"] == split]
    return cells, offsets, lengths, data.n_tracks_of(meta["info"]), positions, meta["pieces"]


def _piece_phrases(folder, split, window, phrase_bars, hop_bars):
    """A generator function for one shard file: the phrases of each piece of ``split``, one piece decoded
    at a time."""
    def pieces(name):
        path = os.path.join(folder, name.decode() if isinstance(name, bytes) else name)
        cells, offsets, lengths, tracks, positions, _ = _split_pieces(path, split)
        for i in positions:
            roll = data.decode_piece(cells, offsets, lengths, i, tracks)
            one = data.Dataset([roll], [{"split": split}], [], {})
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
    Every shard is checked against the index first (:func:`read_index`), so
    a damaged shard is a :class:`DatasetError` here, before anything streams.
    Memory: ``cycle_length`` shards' cells and one decoded piece each, whatever the corpus.

    Raises
    ------
    DatasetError
        Not a finished shard folder, a damaged shard or index, an unknown
        split, or no whole phrase in the split (its pieces are all shorter
        than ``phrase_bars``).
    """
    from ._tf import tf

    folder = os.fspath(folder)
    index = read_index(folder)
    if split not in data.SPLITS:
        raise DatasetError(f"unknown split {brief(split)}; use one of {data.SPLITS}")
    names = [e["file"] for e in index["shards"] if e["splits"][split]]
    if not names:
        raise DatasetError(f"{brief(folder)}: no piece in the {split} split; no phrases to feed")
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
        raise DatasetError(f"{brief(folder)}: no {split} piece is {phrase_bars} bars long or longer; no phrases to "
                           "feed (use shorter phrases, data.phrase_bars)")
    return stream


def read_eval_dataset(folder, n_melodies: int = 10) -> data.Dataset:
    """A small in-memory :class:`deepaccomp.data.Dataset` for the training monitor: valid pieces of the first
    shards (train pieces where there is no valid one), enough for ``n_melodies`` phrases and at most
    :data:`EVAL_PIECES`; only those pieces are decoded."""
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
        cells, offsets, lengths, tracks, positions, metas = _split_pieces(os.path.join(folder, entry["file"]), split)
        for i in positions[:want - len(rolls)]:
            rolls.append(data.decode_piece(cells, offsets, lengths, i, tracks))
            pieces.append(metas[i])
    return data.Dataset(rolls, pieces, [], {"source": folder, "shards": True, "layout": index["layout"]})
