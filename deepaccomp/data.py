"""The JSB Chorales dataset from music21, user MIDI folders, and the tf.data pipeline.

Build rules (docs/representation.md):

* Source: the 371 Bach chorales inside music21 (``corpus.chorales.Iterator()``),
  no network. Parts are selected by name (the first part whose name holds
  the word Soprano, Alto, Tenor or Bass; four unnamed parts are taken in SATB
  order); a chorale without all four is skipped.
* Meter: only chorales entirely in 4/4 are kept (the grid is 16 steps per bar);
  the others are skipped and listed in the metadata with the reason.
* Grid: 16th notes; step 0 is the downbeat of the first bar (a pickup sits at
  the end of an otherwise empty bar 0).
* Key: each chorale is transposed by the smallest shift (-6..+5 semitones)
  that moves the key estimated from its **melody alone**
  (:func:`deepaccomp.metrics.estimate_key` on the soprano) to C major / A
  minor: exactly what the Accompanist does with a user's melody, so the model
  trains on the transpositions it will meet. (The melody-only estimate agrees
  with the four-voice estimate on 235 of the 327 chorales; normalising by the
  four-voice key instead left the model 0.02-0.04 lower in harmonic agreement
  on valid when fed melody-normalised input.) The four-voice key is kept in
  the metadata as ``key``: the piece's key for the in-scale metric.
* Split, by chorale and never by phrase: position ``i`` in
  ``Iterator()`` order is test if ``i % 10 == 0``, valid if ``i % 10 == 5``,
  train otherwise (259 / 33 / 35). Then by tune (:func:`clean_splits`): a train
  or valid piece with a test piece's four voices or tune (:func:`melody_line`,
  :func:`tune_similarity` >= :data:`TUNE_MATCH_THRESHOLD` = 0.5, the gap in the
  score distribution) is excluded (kept in the metadata as
  ``split == "excluded"``), and a valid piece with a train piece's tune moves
  to train: 49 excluded, 17 moved. Last, a train or valid piece whose four
  voices equal an earlier one's of its split is excluded (the corpus lists 13
  chorales twice or three times, and two harmonisations under two numbers):
  15 repeats, 216 / 12 / 35 left.
* Whole pieces are stored; phrases of ``phrase_bars`` bars are cut every
  ``hop_bars`` bars when a run starts (so phrase settings need no rebuild).

The built dataset is a compressed ``.npz`` in ``datasets/`` holding the
active cells of every piece, its metadata (JSON) and the reference metrics of
the train split. TensorFlow is imported only by :func:`make_tf_dataset`.
"""

from __future__ import annotations

import errno
import hashlib
import json
import multiprocessing
import os
import sys
import time
import zipfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from .config import FORMAT_LAYOUTS, SOURCE_FORMATS, check_choice
from .errors import (ConfigError, DatasetError, DeepAccompError, OutputFileError,
                     UnsupportedMeterError, brief, require)
from .io_utils import (FileTooLargeError, NotRegularFileError, atomic_path, open_regular, read_npy_data,
                       read_npy_header)
from .layout import DEFAULT_LAYOUT, get_layout, layout_ref, stored_layout
from .metrics import estimate_key, evaluate
from .midi import MAX_ROLL_STEPS, read_midi
from .piece import Piece, read_piece
from .representation import (
    to_model_range,
    N_MIDI_PITCHES,
    STEPS_PER_BAR,
    STEPS_PER_BEAT,
    PitchWindow,
    as_bool,
    crop_pitches,
    cut_phrases,
    get_window,
    restrike_gaps as restrike_gaps_of,
    run_starts,
    transpose_roll,
    transpose_tracks,
)

__all__ = ["DATASET_VERSION", "TUNE_MATCH_THRESHOLD", "tune_match_scores", "voices_key", "SPLITS", "PART_NAMES", "DEFAULT_DATASET_DIR",
           "MIDI_SUFFIXES", "split_of", "melody_line", "tune_similarity", "clean_splits", "Dataset",
           "chorale_ids", "SCORE_METERS", "score_to_roll", "score_onsets", "build_chorales", "reference_metrics", "folder_piece", "folder_piece_roll",
           "build_folder", "track_summary", "n_tracks_of", "FOLDER_METERS", "dataset_path", "prepare", "split_model_inputs",
           "make_tf_dataset", "MAX_WORKERS", "MAX_DATASET_BYTES", "MAX_DATASET_META_BYTES", "MAX_DATASET_ROLL_BYTES",
           "check_workers", "midi_files", "read_cells", "decode_piece", "SOURCE_FORMATS", "format_layout"]

DATASET_VERSION = 6
MAX_WORKERS = 32
"""Most build processes (``workers``, ``--workers``). Each is a Python interpreter with numpy and
pretty_midi and holds its files (about 50 MiB, a shard build's about 100 MiB): 32 stay within a few GiB,
and a build gains nothing from more processes than cores, which few machines have more of."""
MAX_DATASET_BYTES = 1024 ** 3
"""Most bytes the members of a dataset file (``.npz``, a shard) may hold decompressed, all together
(and most bytes of the file): about 89 million active cells, hundreds of times a real shard's.
Checked from the archive's declared sizes and the arrays' headers before anything is decompressed."""
MAX_DATASET_META_BYTES = 64 * 1024 ** 2
"""Most bytes of a dataset file's metadata (JSON): about 300,000 pieces' descriptions."""
MAX_DATASET_ROLL_BYTES = 2 * 1024 ** 3
"""Most bytes of decoded rolls :meth:`Dataset.load` allocates: a corpus larger than this
belongs in a shard folder (``prepare --shards``), whose pieces are decoded one at a time."""
TUNE_MATCH_THRESHOLD = 0.5
"""Two pieces share a tune when :func:`tune_similarity` is at least this in
either direction (see docs/representation.md for the score distribution that
puts it in the gap between same-tune and different-tune pairs)."""
SPLITS = ("train", "valid", "test")
PART_NAMES = {"soprano": 0, "alto": 1, "tenor": 2, "bass": 3}
DEFAULT_DATASET_DIR = "datasets"


def split_of(position: int) -> str:
    """Split of the chorale at ``position`` in ``corpus.chorales.Iterator()`` order."""
    if position % 10 == 0:
        return "test"
    if position % 10 == 5:
        return "valid"
    return "train"


def melody_line(roll) -> np.ndarray:
    """The tune of a piece: its melody's pitch at every beat, repeated pitches merged.

    Parameters
    ----------
    roll : array_like, shape (time, pitch, tracks)
        Boolean or model-range roll, full 128-pitch axis; track 0 is the melody.

    Returns
    -------
    ndarray of int, shape (n,)
        MIDI pitch of the highest melody note sounding at each beat onset (steps
        0, 4, 8, ...), silent beats left out, consecutive equal pitches merged.
        Sampling at beats drops passing notes and ornaments, which is where two
        harmonisations of one chorale tune differ most.
    """
    beats = as_bool(roll)[::STEPS_PER_BEAT, :, 0]
    sounding = beats.any(axis=1)
    top = beats.shape[1] - 1 - np.argmax(beats[:, ::-1], axis=1)
    pitches = top[sounding]
    return pitches[np.r_[True, pitches[1:] != pitches[:-1]]] if len(pitches) else pitches


def tune_similarity(melody, others) -> np.ndarray:
    """How much of ``melody``'s tune each of ``others`` contains, transposition-invariant.

    The tunes are compared as interval sequences (semitones between successive
    pitches), so a transposed copy is identical. ``melody``'s intervals are
    aligned as a whole against the best-matching stretch of each other tune
    (free start and end in the other tune); a matching interval scores +1, a
    different one -1, an interval left out on either side -1. The score is
    divided by the number of intervals of ``melody``.

    Parameters
    ----------
    melody : array_like of int, shape (n,)
        Pitches of one tune in order (e.g. :func:`melody_line`).
    others : sequence of array_like of int
        The tunes to search, each a 1-D pitch sequence of any length.

    Returns
    -------
    ndarray, shape (len(others),)
        At most 1.0 (``melody`` found unchanged); unrelated chorale tunes stay
        below about 0.45 (docs/representation.md); nan when ``melody`` has
        fewer than two pitches.
    """
    a = np.diff(np.asarray(melody, dtype=np.int64))
    others = [np.diff(np.asarray(o, dtype=np.int64)) for o in others]
    if len(a) == 0 or not others:
        return np.full(len(others), np.nan)
    width = max(1, max(len(o) for o in others))
    b = np.full((len(others), width), np.iinfo(np.int64).min)  # padding never matches
    for k, o in enumerate(others):
        b[k, :len(o)] = o
    ramp = np.arange(width + 1)
    score = np.zeros((len(others), width + 1))  # row 0: nothing of `melody` aligned yet
    for i, interval in enumerate(a, start=1):
        best = np.empty_like(score)
        best[:, 0] = -i
        best[:, 1:] = np.maximum(score[:, :-1] + np.where(b == interval, 1.0, -1.0), score[:, 1:] - 1)
        # skipping intervals of the other tune costs 1 each; a running maximum of
        # best[j] + j, minus j, applies that to the whole row at once
        score = np.maximum.accumulate(best + ramp, axis=1) - ramp
    return score.max(axis=1) / len(a)


def tune_match_scores(tunes, others) -> np.ndarray:
    """How much two tunes share, for every pair: :func:`tune_similarity` taken both ways, the larger.

    Parameters
    ----------
    tunes, others : sequence of array_like of int
        Pitch sequences (e.g. :func:`melody_line`).

    Returns
    -------
    ndarray, shape (len(tunes), len(others))
        Entry ``[i, j]`` >= :data:`TUNE_MATCH_THRESHOLD` means the same tune
        (one contains most of the other); nan where neither has two pitches.
    """
    fwd = np.array([tune_similarity(t, others) for t in tunes]).reshape(len(tunes), len(others))
    back = np.array([tune_similarity(o, tunes) for o in others]).reshape(len(others), len(tunes))
    return np.fmax(fwd, back.T)


def voices_key(roll) -> tuple:
    """A hashable key of a roll's notes, ``(time, pitch, tracks)``: two rolls have the same key when
    every voice is the same (the same harmonisation twice)."""
    roll = np.ascontiguousarray(roll, dtype=bool)
    return roll.shape, roll.tobytes()


def _pair_scores(lines, rows, cols) -> np.ndarray:
    """``(len(rows), len(cols))``: :func:`tune_match_scores` of the pieces at those positions (nan with itself)."""
    scores = tune_match_scores([lines[r] for r in rows], [lines[c] for c in cols])
    scores[np.asarray(rows)[:, None] == np.asarray(cols)[None, :]] = np.nan
    return scores


def _closest(rolls, lines, queries, pool):
    """``{query: (pool index, score, kind)}``: each query's closest piece in ``pool``.

    Exact duplicates (four voices equal) score 1.0 and come first.
    """
    if not queries or not pool:
        return {}
    scores = _pair_scores(lines, queries, pool)
    keys = {j: voices_key(rolls[j]) for j in set(pool) | set(queries)}
    out = {}
    for qi, q in enumerate(queries):
        dup = next((j for j in pool if j != q and keys[j] == keys[q]), None)
        if dup is not None:
            out[q] = (dup, 1.0, "duplicate")
        elif np.isfinite(scores[qi]).any():
            k = int(np.nanargmax(scores[qi]))
            out[q] = (pool[k], float(scores[qi, k]), "tune")
    return out


def _mark(piece, other, score, kind, split):
    piece.update({"original_split": piece["split"], "split": split, "same_tune_as": other["id"],
                  "tune_similarity": round(score, 4), "match": kind})


def clean_splits(rolls, pieces, threshold: float = TUNE_MATCH_THRESHOLD) -> dict:
    """Keep every test tune out of train and valid, and every train tune out of valid.

    Changes ``pieces`` in place. A train or valid piece whose four voices equal
    a test piece's, or whose tune matches one (:func:`tune_similarity` of the
    :func:`melody_line` s, the larger of both directions, ``>= threshold``),
    gets ``split = "excluded"``. Then a valid piece whose tune matches a train
    piece's moves to train, repeated until no valid tune is in train: train
    keeps every piece it had (it is what the model learns from) and valid
    becomes as tune-disjoint from train as test is. Last, a train or valid
    piece whose four voices equal an earlier piece's of its split (the corpus
    lists some chorales twice) is excluded, so that no harmonisation is
    learned twice. All of these record ``original_split``, ``same_tune_as``
    (id of the matched piece), ``tune_similarity`` and ``match``
    (``"duplicate"`` or ``"tune"``).

    Returns
    -------
    dict
        ``threshold``, ``splits_before``, ``excluded`` (against test),
        ``moved_valid_to_train`` and ``repeats_excluded`` (counts), and ``closest_scores``: the best
        score of each train/valid piece against the test split and of each
        valid piece against train (before any move), the distribution that
        justifies the threshold.
    """
    lines = [melody_line(r) for r in rolls]
    by = {s: [i for i, p in enumerate(pieces) if p["split"] == s] for s in SPLITS}
    report = {"threshold": threshold, "splits_before": {s: len(v) for s, v in by.items()}}
    vs_test = _closest(rolls, lines, by["train"] + by["valid"], by["test"])
    vs_train = _closest(rolls, lines, by["valid"], by["train"])
    report["closest_scores"] = {
        "train_valid_vs_test": sorted(round(v[1], 4) for v in vs_test.values()),
        "valid_vs_train": sorted(round(v[1], 4) for v in vs_train.values())}
    for q, (j, score, kind) in vs_test.items():
        if kind == "duplicate" or score >= threshold:
            _mark(pieces[q], pieces[j], score, kind, "excluded")
    report["excluded"] = sum(p["split"] == "excluded" for p in pieces)
    moved = 0
    while True:
        valid = [i for i, p in enumerate(pieces) if p["split"] == "valid"]
        train = [i for i, p in enumerate(pieces) if p["split"] == "train"]
        hits = {q: m for q, m in _closest(rolls, lines, valid, train).items()
                if m[2] == "duplicate" or m[1] >= threshold}
        if not hits:
            break
        for q, (j, score, kind) in hits.items():
            _mark(pieces[q], pieces[j], score, kind, "train")
        moved += len(hits)
    report["moved_valid_to_train"] = moved
    report["repeats_excluded"] = _exclude_repeats(rolls, pieces, ("train", "valid"))
    return report


def _exclude_repeats(rolls, pieces, splits) -> int:
    """Exclude every piece of ``splits`` whose four voices equal an earlier piece's of the same split; the count.

    The corpus lists some chorales twice (and a few harmonisations under two
    numbers): without this, train would learn those twice as often as the rest.
    """
    count = 0
    for split in splits:
        first = {}
        for i, piece in enumerate(pieces):
            if piece["split"] != split:
                continue
            key = voices_key(rolls[i])
            if key in first:
                _mark(piece, pieces[first[key]], 1.0, "duplicate", "excluded")
                count += 1
            else:
                first[key] = i
    return count


def n_tracks_of(info: dict) -> int:
    """Tracks of every roll of a build whose ``info`` is given: its layout's (``satb`` when none is named;
    a preset's name or a whole definition, :func:`deepaccomp.layout.stored_layout`)."""
    return len(stored_layout(info.get("layout", DEFAULT_LAYOUT)).tracks)


@dataclass
class Dataset:
    """Whole pieces as rolls ``(time, 128, tracks)`` (bool, key-normalised; the tracks of
    ``info["layout"]``, SATB for the chorales, melody first).

    Attributes
    ----------
    rolls : list of np.ndarray
        One roll per kept piece, full 128-pitch axis, time a multiple of 16.
    pieces : list of dict
        Metadata per kept piece: ``id``, ``title``, ``position``, ``split``
        (train, valid, test or excluded), ``key`` (original), ``shift``
        (semitones applied); a piece moved or excluded by :func:`clean_splits`
        also has ``original_split``, ``same_tune_as``, ``tune_similarity`` and
        ``match``.
    skipped : list of dict
        Pieces not used, with ``id`` and ``reason``.
    info : dict
        Build settings, ``pitch_min``/``pitch_max`` after normalisation,
        reference metrics of the train split.
    onsets : list of np.ndarray or None
        Per roll, where notes start (bool, the roll's shape): a note struck again
        while the same pitch sounds keeps its own onset. ``None`` (every build but
        POP909's, and files written before onsets were stored): the start of every
        run of each roll (:meth:`piece_onsets`).
    """

    rolls: list
    pieces: list
    skipped: list = field(default_factory=list)
    info: dict = field(default_factory=dict)
    onsets: list | None = None

    def piece_onsets(self, i: int) -> np.ndarray:
        """The onsets of roll ``i``: stored ones, else the start of every run (a boolean roll's notes)."""
        if self.onsets is None:
            return run_starts(self.rolls[i])
        return self.onsets[i]

    def indices(self, split: str) -> list[int]:
        """Positions in ``rolls``/``pieces`` of the pieces of ``split`` (train, valid or test)."""
        if split not in SPLITS:
            raise DatasetError(f"unknown split {split!r}; use one of {SPLITS}")
        return [i for i, p in enumerate(self.pieces) if p["split"] == split]

    def split_rolls(self, split: str, window: PitchWindow | str | None = None,
                    restrike_gaps: bool = False) -> list[np.ndarray]:
        """Whole pieces of a split, optionally cropped to a pitch window; with ``restrike_gaps``, every
        re-struck note parted from the one before by a silent step
        (:func:`deepaccomp.representation.restrike_gaps`, ``data.restrike_gaps``)."""
        if restrike_gaps:
            rolls = [restrike_gaps_of(self.rolls[i], self.piece_onsets(i)) for i in self.indices(split)]
        else:
            rolls = [self.rolls[i] for i in self.indices(split)]
        if window is not None:
            w = get_window(window)
            rolls = [crop_pitches(r, w) for r in rolls]
        return rolls

    def phrases(self, split: str, *, window="compact", phrase_bars: int = 2,
                hop_bars: int = 1, restrike_gaps: bool = False) -> np.ndarray:
        """All phrases of a split: ``(n, phrase_bars * 16, window.size, tracks)`` bool.

        Phrases whose melody is silent throughout are dropped; ``restrike_gaps`` as :meth:`split_rolls`.
        """
        w = get_window(window)
        steps, hop = phrase_bars * STEPS_PER_BAR, hop_bars * STEPS_PER_BAR
        rolls = self.split_rolls(split, restrike_gaps=restrike_gaps)
        chunks = [cut_phrases(crop_pitches(r, w), steps, hop) for r in rolls]
        chunks = [c for c in chunks if len(c)]
        if not chunks:
            return np.zeros((0, steps, w.size, self.n_tracks), dtype=bool)
        out = np.concatenate(chunks)
        return out[out[..., 0].any(axis=(1, 2))]

    @property
    def layout(self) -> str | dict:
        """The track layout of the rolls as stored (:func:`deepaccomp.layout.layout_ref`): a preset's name
        (datasets built before layouts: ``"satb"``) or a user layout's whole definition; any function
        taking a layout takes it."""
        return self.info.get("layout", DEFAULT_LAYOUT)

    @property
    def track_layout(self):
        """The :class:`~deepaccomp.layout.Layout` of the rolls."""
        return stored_layout(self.layout)

    @property
    def n_tracks(self) -> int:
        """Tracks of every roll: the melody and the layout's accompaniment tracks."""
        return n_tracks_of(self.info)

    # ------------------------------------------------------------------ save/load
    def save(self, path) -> None:
        """Write a compressed ``.npz`` atomically."""
        cells, offsets, lengths = _encode(self.rolls)
        meta = {"pieces": self.pieces, "skipped": self.skipped, "info": self.info,
                "version": DATASET_VERSION}
        extra = {}
        if self.onsets is not None:  # only the onsets inside runs (re-struck notes): the rest are run starts
            extra["restrikes"], extra["restrike_offsets"], _ = _encode(
                [o & ~run_starts(r) for r, o in zip(self.rolls, self.onsets)])
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, cells=cells, offsets=offsets, lengths=lengths,
                                    meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8), **extra)

    @classmethod
    def load(cls, path) -> "Dataset":
        """Read a dataset written by :meth:`save`; :class:`DatasetError` if damaged or of another version.

        The file is data from outside: everything :func:`read_cells` checks is checked, and the decoded
        rolls are bounded by :data:`MAX_DATASET_ROLL_BYTES` before they are allocated.
        """
        cells, offsets, lengths, meta, restrikes = read_cells(path, with_onsets=True)
        n_tracks = n_tracks_of(meta["info"])
        size = int(lengths.sum()) * N_MIDI_PITCHES * n_tracks
        if size > MAX_DATASET_ROLL_BYTES:
            raise DatasetError(f"{brief(os.fspath(path))}: its rolls would take {size:,} bytes decoded, more than "
                               f"{MAX_DATASET_ROLL_BYTES:,} (data.MAX_DATASET_ROLL_BYTES); build a corpus this "
                               "large as shards (`deepaccomp prepare --source FOLDER --shards OUT`)")
        rolls = [decode_piece(cells, offsets, lengths, i, n_tracks) for i in range(len(lengths))]
        onsets = None
        if restrikes is not None:
            onsets = [run_starts(r) | (decode_piece(restrikes[0], restrikes[1], lengths, i, n_tracks) & r)
                      for i, r in enumerate(rolls)]
        return cls(rolls, meta["pieces"], meta["skipped"], meta["info"], onsets)


_DATASET_ARRAYS = {"cells": (np.int32, 2), "offsets": (np.int64, 1), "lengths": (np.int64, 1), "meta": (np.uint8, 1)}
"""The members of a dataset file: dtype and number of dimensions of each array."""

_ONSET_ARRAYS = {"restrikes": (np.int32, 2), "restrike_offsets": (np.int64, 1)}
"""The optional members of a dataset file that stores onsets (:attr:`Dataset.onsets`): the cells of the
onsets that are no run's start (re-struck notes), as ``cells`` and ``offsets``. A file without them (every
file written before) reads with the onsets at the runs' starts."""


def read_cells(path, *, with_cells: bool = True, with_onsets: bool = False) -> tuple:
    """The validated contents of a dataset file, rolls not decoded: ``(cells, offsets, lengths, meta)``.

    Before anything is decompressed: a regular file (a FIFO is refused, never
    waited on), at most :data:`MAX_DATASET_BYTES` on disk and declared
    decompressed, exactly the four members :meth:`Dataset.save` writes, each
    ``.npy`` header of the dtype and dimensions expected, the metadata at
    most :data:`MAX_DATASET_META_BYTES`. Then every member is read to its end
    (the archive's checksums catch damage), the metadata's structure and
    version are checked, and every cell must lie inside its piece (at most
    :data:`~deepaccomp.midi.MAX_ROLL_STEPS` steps), pitch and track.
    ``with_cells=False`` skips the cells (the largest member): ``cells`` is then ``None``.
    ``with_onsets=True`` adds a fifth element: ``(restrikes, restrike_offsets)``, the
    stored onsets inside runs (checked like the cells), or ``None`` for a file without them.

    Raises
    ------
    DatasetError
        Missing, not a regular file, oversized, damaged, of another version or not a dataset file.
    """
    path = os.fspath(path)
    name = brief(path)
    try:
        with _open_regular(path) as fh, zipfile.ZipFile(fh) as zf:
            arrays = _dataset_members(zf, name, with_cells)
    except DatasetError:
        raise
    except Exception as exc:  # zipfile, zlib, numpy headers, JSON: one kind of report
        raise DatasetError(f"{name}: not a readable deepaccomp dataset ({type(exc).__name__}: {brief(str(exc))}); "
                           "delete it and run `deepaccomp prepare` again") from exc
    meta = _dataset_meta(arrays["meta"], name)
    _check_cells(arrays.get("cells"), arrays["offsets"], arrays["lengths"], meta, name)
    out = arrays.get("cells"), arrays["offsets"], arrays["lengths"], meta
    if not with_onsets:
        return out
    if "restrikes" not in arrays:
        return out + (None,)
    _check_cells(arrays["restrikes"], arrays["restrike_offsets"], arrays["lengths"], meta, name)
    return out + ((arrays["restrikes"], arrays["restrike_offsets"]),)


def _open_regular(path: str):
    """``path`` opened for reading if it is a regular file of at most :data:`MAX_DATASET_BYTES`."""
    try:
        return open_regular(path, MAX_DATASET_BYTES)
    except FileNotFoundError:
        raise DatasetError(f"{brief(path)}: dataset file not found; run `deepaccomp prepare`") from None
    except OSError as exc:
        raise DatasetError(f"{brief(path)}: cannot be read ({os_reason(exc)})") from None
    except NotRegularFileError:
        what = "not a regular file (a folder, pipe, socket or device)"
    except FileTooLargeError as exc:
        what = f"{exc.size:,} bytes, more than {MAX_DATASET_BYTES:,} (data.MAX_DATASET_BYTES)"
    raise DatasetError(f"{brief(path)}: {what}; not a deepaccomp dataset file")


def os_reason(exc: OSError) -> str:
    """An OS error in words, a symbolic link loop named as one."""
    if exc.errno == errno.ELOOP:
        return "a symbolic link loop"
    return exc.strerror or str(exc)


def _dataset_members(zf, name: str, with_cells: bool) -> dict:
    """The arrays of a dataset archive, headers checked before their data is read."""
    infos = zf.infolist()
    names = sorted(i.filename for i in infos)
    base = sorted(f"{k}.npy" for k in _DATASET_ARRAYS)
    if names not in (base, sorted(base + [f"{k}.npy" for k in _ONSET_ARRAYS])):
        raise DatasetError(f"{name}: not a deepaccomp dataset (members {brief(names)})")
    declared = sum(i.file_size for i in infos)
    if declared > MAX_DATASET_BYTES:
        raise DatasetError(f"{name}: its members decompress to {declared:,} bytes, more than "
                           f"{MAX_DATASET_BYTES:,} (data.MAX_DATASET_BYTES); not a deepaccomp dataset")
    keys = [k for k in {**_DATASET_ARRAYS, **_ONSET_ARRAYS} if f"{k}.npy" in names]
    return {key: _read_member(zf, key, name) for key in keys if with_cells or key in ("offsets", "lengths", "meta")}


def _read_member(zf, key: str, name: str) -> np.ndarray:
    """One ``.npy`` member: its header checked, exactly its bytes read, then its end (and checksum)."""
    dtype, ndim = {**_DATASET_ARRAYS, **_ONSET_ARRAYS}[key]
    with zf.open(key + ".npy") as member:
        try:
            shape, fortran, got = read_npy_header(member)
        except ValueError as exc:
            raise DatasetError(f"{name}: not a deepaccomp dataset (array {key!r} of {exc})") from None
        limit = MAX_DATASET_META_BYTES if key == "meta" else MAX_DATASET_BYTES
        if (got != dtype or len(shape) != ndim or fortran or (key in ("cells", "restrikes") and shape[1] != 3)
                or int(np.prod(shape, dtype=object)) * got.itemsize > limit):
            raise DatasetError(f"{name}: not a deepaccomp dataset (array {key!r}: {got} {shape})")
        out = read_npy_data(member, shape, dtype)
        if out is None:
            raise DatasetError(f"{name}: not a readable deepaccomp dataset (array {key!r} is truncated); "
                               "delete it and run `deepaccomp prepare` again")
        if member.read(1):  # reaching the end also checks the member's CRC
            raise DatasetError(f"{name}: not a deepaccomp dataset (array {key!r} has data past its shape)")
    return out


def _dataset_meta(raw: np.ndarray, name: str) -> dict:
    """The metadata JSON, its structure checked."""
    try:
        meta = json.loads(raw.tobytes().decode())
    except RecursionError:
        raise DatasetError(f"{name}: not a deepaccomp dataset (metadata nested too deeply)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{name}: not a deepaccomp dataset (metadata: {brief(str(exc))})") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{name}: not a deepaccomp dataset (metadata is not an object)")
    if meta.get("version") != DATASET_VERSION:
        raise DatasetError(f"{name}: dataset version {brief(meta.get('version'))} != {DATASET_VERSION}; rebuild it")
    pieces, skipped, info = meta.get("pieces"), meta.get("skipped"), meta.get("info")
    if not (isinstance(pieces, list) and isinstance(skipped, list) and isinstance(info, dict)
            and all(isinstance(p, dict) and isinstance(p.get("split"), str) for p in pieces)
            and all(isinstance(p, dict) for p in skipped)):
        raise DatasetError(f"{name}: not a deepaccomp dataset (metadata without its pieces, skipped files or info)")
    try:
        n_tracks_of(info)
    except (DeepAccompError, TypeError, AttributeError):
        raise DatasetError(f"{name}: not a deepaccomp dataset (unknown layout "
                           f"{brief(info.get('layout'))})") from None
    return meta


def _check_cells(cells, offsets, lengths, meta: dict, name: str) -> None:
    """Every piece at most MAX_ROLL_STEPS long, one per metadata entry; every cell inside its piece."""
    bad = None
    if len(lengths) != len(meta["pieces"]) or len(offsets) != len(lengths) + 1:
        bad = f"{len(lengths)} rolls, {len(meta['pieces'])} pieces described"
    elif len(lengths) and (lengths.min() < 0 or lengths.max() > MAX_ROLL_STEPS):
        bad = f"a roll of {int(lengths.min() if lengths.min() < 0 else lengths.max())} steps (0..{MAX_ROLL_STEPS})"
    elif offsets[0] != 0 or np.any(np.diff(offsets) < 0):
        bad = "cell offsets out of order"
    elif cells is not None:
        ends = np.repeat(lengths, np.diff(offsets)) if offsets[-1] == len(cells) else None
        limits = (N_MIDI_PITCHES, n_tracks_of(meta["info"]))
        if ends is None or (len(cells) and (cells.min() < 0 or np.any(cells[:, 0] >= ends)
                                           or cells[:, 1].max() >= limits[0] or cells[:, 2].max() >= limits[1])):
            bad = "cells outside their rolls"
    if bad:
        raise DatasetError(f"{name}: not a deepaccomp dataset ({bad})")


def decode_piece(cells, offsets, lengths, i: int, n_tracks: int) -> np.ndarray:
    """The roll ``(time, 128, n_tracks)`` of piece ``i`` from :func:`read_cells`'s arrays."""
    c = cells[offsets[i]: offsets[i + 1]]
    r = np.zeros((int(lengths[i]), N_MIDI_PITCHES, n_tracks), dtype=bool)
    r[c[:, 0], c[:, 1], c[:, 2]] = True
    return r


def _encode(rolls):
    cells, offsets, lengths = [], [0], []
    for r in rolls:
        t, p, k = np.nonzero(r)
        cells.append(np.stack([t, p, k], axis=1).astype(np.int32))
        offsets.append(offsets[-1] + len(t))
        lengths.append(r.shape[0])
    cells = np.concatenate(cells) if cells else np.zeros((0, 3), np.int32)
    return cells, np.array(offsets, np.int64), np.array(lengths, np.int64)


# ---------------------------------------------------------------------- chorales
def chorale_ids() -> list[str]:
    """music21 corpus paths of the chorales in ``Iterator()`` order."""
    corpus = require("music21.corpus", "building the chorale dataset")

    return list(corpus.chorales.Iterator(returnType="filename"))


SCORE_METERS = {"4/4": STEPS_PER_BAR, "3/4": 3 * STEPS_PER_BEAT}
"""Meters :func:`score_to_roll` reads, and their bar length in steps."""


def score_to_roll(score, meter: str = "4/4") -> tuple[np.ndarray, str | None]:
    """A music21 score -> ``(roll (time, 128, 4), None)`` or ``(None, reason)``.

    Parts are chosen by name (the first part whose name contains the word
    soprano/alto/tenor/bass; an unnamed four-part score is taken in order);
    step 0 is the first downbeat (pickups padded). ``meter`` (a key of
    :data:`SCORE_METERS`) is the only time signature accepted; the roll ends
    on a bar line of that meter. The dataset reads 4/4 only; the 3/4 chorales
    are read for :func:`deepaccomp.evaluation.three_four_chorales`.
    """
    if meter not in SCORE_METERS:
        raise DatasetError(f"meter {meter!r} is not one of {sorted(SCORE_METERS)}")
    parts = {}
    for part in score.parts:
        name = (part.partName or "").strip().lower()
        words = name.replace("_", " ").split()
        voice = next((PART_NAMES[w] for w in words if w in PART_NAMES), None)
        if voice is not None and voice not in parts:
            parts[voice] = part
    if not parts and len(score.parts) == 4:  # unnamed four-part score: SATB by order
        parts = dict(enumerate(score.parts))
    if len(parts) != 4:
        return None, f"parts {[p.partName for p in score.parts]} lack one of S/A/T/B"
    sigs = {ts.ratioString for ts in score.recurse().getElementsByClass("TimeSignature")}
    if sigs != {meter}:
        return None, f"time signature {sorted(sigs) or 'missing'} is not {meter}"
    first = parts[0].getElementsByClass("Measure")
    if not first:
        return None, "no measures"
    m_first = first[0]
    pickup = float(m_first.paddingLeft or 0.0) if m_first.number == 0 else 0.0
    start = float(m_first.offset) - pickup  # quarter length of step 0
    notes = []
    for k, part in parts.items():
        for n in part.flatten().notes:
            on = round((float(n.offset) - start) * STEPS_PER_BEAT)
            off = round((float(n.offset + n.quarterLength) - start) * STEPS_PER_BEAT)
            for p in n.pitches:
                notes.append((on, max(off, on + 1), int(p.midi), k))
    if not notes:
        return None, "no notes"
    length = max(n[1] for n in notes)
    length += (-length) % SCORE_METERS[meter]
    roll = np.zeros((length, N_MIDI_PITCHES, 4), dtype=bool)
    for on, off, p, k in notes:
        if 0 <= p < N_MIDI_PITCHES and on >= 0:
            roll[on:off, p, k] = True
    return roll, None


def _normalising_shift(roll, key_normalize: bool):
    """``(key of all four voices, shift)``: the shift moves the key estimated from the
    **melody alone** to C major / A minor, exactly as the Accompanist does with a
    user's melody, so training and generation see the same transposition."""
    key = estimate_key(roll)
    if not key_normalize:
        return key, 0
    return key, estimate_key(roll[..., :1]).shift_to_c()


def _build_one(args):
    position, cid, key_normalize = args
    corpus = require("music21.corpus", "building the chorale dataset")

    try:
        score = corpus.parse(cid)
        roll, reason = score_to_roll(score)
        if roll is None:
            return position, cid, None, {"id": cid, "position": position, "reason": reason}
        title = (score.metadata.title if score.metadata is not None else None) or cid
        onsets = score_onsets(score, roll)  # changes the score: read last
        key, shift = _normalising_shift(roll, key_normalize)
        roll, onsets = transpose_roll(roll, shift), transpose_roll(onsets, shift)
        meta = {"id": cid, "title": title, "position": position, "split": split_of(position),
                "key": key.name, "melody_key": estimate_key(roll[..., :1]).name, "shift": int(shift)}
        return position, cid, roll, meta, onsets
    except DeepAccompError as exc:
        return position, cid, None, {"id": cid, "position": position, "reason": str(exc)}, None
    except Exception as exc:  # a damaged corpus file must not abort the whole build
        return position, cid, None, {"id": cid, "position": position,
                                     "reason": f"{type(exc).__name__}: {exc}"}, None


def score_onsets(score, roll) -> np.ndarray:
    """The note starts of a chorale's music21 score on the grid of its roll: Bach's re-struck notes.

    :func:`score_to_roll` reads a note struck again as one held note. Here each
    note of ``score`` that is not the continuation of a tie is cut to one 16th
    (a tied continuation is removed) and read with :func:`score_to_roll`, so its
    cells are the onsets. The score is changed in place.

    Parameters
    ----------
    score : music21.stream.Score
        The chorale as :func:`score_to_roll` reads it.
    roll : np.ndarray of bool, shape (time, 128, 4)
        Its roll in the same key (``score_to_roll(score)``).

    Returns
    -------
    np.ndarray of bool, the roll's shape
        Onsets inside the roll (every run's start among them).
    """
    for note in list(score.recurse().notes):
        if note.tie is not None and note.tie.type in ("stop", "continue"):
            note.activeSite.remove(note)
        else:
            note.quarterLength = 1.0 / STEPS_PER_BEAT
    starts, reason = score_to_roll(score)
    if starts is None:
        raise DatasetError(f"the score's onsets cannot be read: {reason}")
    out = np.zeros(roll.shape, bool)
    n = min(len(starts), len(roll))
    out[:n] = starts[:n]
    roll = as_bool(roll)
    return (out & roll) | run_starts(roll)


def build_chorales(*, key_normalize: bool = True, workers: int | None = None,
                   progress: bool = True, limit: int | None = None) -> Dataset:
    """Build the chorale dataset from music21 (uses ``workers`` processes; one where worker
    processes cannot start, as for a program piped to ``python -``)."""
    ids = chorale_ids()
    if limit is not None:
        ids = ids[:limit]
    workers = check_workers(workers) or min(2, os.cpu_count() or 1)
    jobs = [(i, cid, key_normalize) for i, cid in enumerate(ids)]
    results = _run_jobs(_build_one, jobs, workers, progress, "chorales")
    ds = _assemble([r[:4] for r in results], {"source": "chorales", "key_normalize": key_normalize})
    ds.onsets = [r[4] for r in results if r[2] is not None]
    return ds


def _run_jobs(fn, jobs, workers, progress, desc):
    bar = tqdm(total=len(jobs), desc=f"building {desc}", unit="piece", disable=not progress,
               file=sys.stderr)
    results = []
    if workers > 1 and len(jobs) > 1 and _can_spawn():
        # "spawn", never fork: a process that has TensorFlow's (or any) threads running can fork
        # children that hold a copied, locked mutex forever (seen as a hung build inside pytest)
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for r in pool.map(fn, jobs, chunksize=4):
                results.append(r)
                bar.update()
    else:
        for job in jobs:
            results.append(fn(job))
            bar.update()
    bar.close()
    return sorted(results, key=lambda r: r[0])


def check_workers(workers):
    """``workers`` if it is ``None`` or a whole number 1..:data:`MAX_WORKERS`; else :class:`ConfigError`."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"workers (--workers) must be a whole number 1..{MAX_WORKERS} (data.MAX_WORKERS), got "
                          f"{brief(workers)}; each is a process holding its own files, and a build gains nothing "
                          "from more processes than cores")
    return workers


def _can_spawn() -> bool:
    """Whether "spawn" children can start: each re-imports the parent's main script,
    which fails when that script has no file (a program piped to ``python -``)."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    return main_file is None or os.path.exists(main_file)


def _assemble(results, settings: dict, clean_tunes: bool = True) -> Dataset:
    rolls, pieces, skipped = [], [], []
    for _, _, roll, meta in results:
        if roll is None:
            skipped.append(meta)
        else:
            rolls.append(roll)
            pieces.append(meta)
    if not rolls:
        raise DatasetError("no usable piece: " + "; ".join(f"{s['id']}: {s['reason']}" for s in skipped[:5]))
    cleaning = clean_splits(rolls, pieces) if clean_tunes else None
    layout = stored_layout(settings.get("layout", DEFAULT_LAYOUT))
    pitched = ~layout.drum_mask
    active = [np.nonzero(r[..., pitched].any(axis=(0, 2)))[0] for r in rolls]
    info = dict(settings)
    info.update({
        "n_pieces": len(rolls), "n_skipped": len(skipped),
        "pitch_min": int(min(a.min() for a in active)),
        "pitch_max": int(max(a.max() for a in active)),
        "steps_per_beat": STEPS_PER_BEAT, "steps_per_bar": STEPS_PER_BAR,
        "tracks": list(layout.track_names),
        "splits": {s: sum(p["split"] == s for p in pieces) for s in SPLITS},
        "split_cleaning": cleaning,
    })
    if "layout" in settings:
        info["track_summary"] = track_summary(rolls, layout)
    ds = Dataset(rolls, pieces, skipped, info)
    ds.info["reference_metrics"] = reference_metrics(ds, "train")
    return ds


def reference_metrics(ds: Dataset, split: str = "train") -> dict:
    """Every metric of :func:`deepaccomp.metrics.evaluate` on whole pieces of a split.

    Values are per track (the dataset's layout, melody first) as lists; in-scale
    ratio in C major (the data is key-normalised); ``out_of_range`` against the
    layout's track windows, and ``drum_pattern_rate`` for a layout with drums
    (:attr:`deepaccomp.layout.Layout.metric_options`). The pieces are pooled end to end
    (time is a multiple of 16: bars never cross pieces); a track counts only the pieces
    that have it, and a track no piece has is nan (absent, docs/metrics.md).
    """
    rolls = ds.split_rolls(split)
    if not rolls:
        return {}
    values = evaluate(list(rolls), key="C major", **ds.track_layout.metric_options)
    return {k: np.asarray(v, dtype=float).round(4).tolist() for k, v in values.items()}


# ---------------------------------------------------------------------- user folders
MIDI_SUFFIXES = (".mid", ".midi", ".kar")


FOLDER_METERS = {(4, 4): STEPS_PER_BEAT, (2, 2): STEPS_PER_BEAT, (4, 2): STEPS_PER_BEAT // 2}
"""Meters a training file may have, with the grid steps per quarter note that make one of its bars
a 16-step bar: 4/4 as is, 2/2 (the same bar) as is, 4/2 (the alla-breve bar of Renaissance
music) with its note values halved, so that its half-note beat becomes the grid's quarter.
Any other meter is skipped with the reason."""


def _folder_one(args):
    """One file of a folder build: ``args = (position, path, key_normalize, split[, layout])`` ->
    ``(position, path, roll or None, metadata or skip reason)``; the layout is stored form
    (:func:`deepaccomp.layout.layout_ref`, satb when left out). The one per-file conversion of
    :func:`build_folder` and of the shard build (:mod:`deepaccomp.shards`)."""
    position, path, key_normalize, split, *rest = args
    layout = stored_layout(rest[0] if rest else DEFAULT_LAYOUT)
    try:
        os.stat(path)
    except OSError as exc:  # a dangling link or a link loop: say which
        return position, path, None, {"id": path, "position": position, "reason": f"cannot be read ({os_reason(exc)})"}
    try:
        roll = folder_piece(path, layout=layout).roll  # the build keeps run starts as onsets (Dataset.onsets None)
        key, shift = _normalising_shift(roll, key_normalize)
        roll = transpose_tracks(roll, shift, layout.drum_mask)
        meta = {"id": path, "title": os.path.basename(path), "position": position,
                "split": split, "key": key.name, "shift": int(shift)}
        return position, path, roll, meta
    except DeepAccompError as exc:
        return position, path, None, {"id": path, "position": position, "reason": str(exc)}
    except Exception as exc:
        return position, path, None, {"id": path, "position": position,
                                      "reason": f"{type(exc).__name__}: {exc}"}


def folder_piece(path, *, layout=DEFAULT_LAYOUT) -> Piece:
    """A user's MIDI file -> :class:`~deepaccomp.piece.Piece` of ``layout`` (every track, melody first;
    ``read_piece(tracks="all")``), its length padded to whole 16-step bars.

    Instruments are chosen by :func:`deepaccomp.layout.select_instruments`
    (for ``satb``: by name soprano/alto/tenor/bass or melody/lead, else the
    four busiest pitched instruments by mean pitch, highest = soprano);
    several instruments of one track are merged. Drum tracks hold one-step
    hits at the note onsets. A track the file does not give is kept empty
    when the layout says it is optional (``Track.required`` False). The meter
    must be one of :data:`FOLDER_METERS` throughout (checked before the tracks).

    Raises
    ------
    UnsupportedMeterError
        Another meter, or several.
    NoMelodyError
        A required track of the layout that the file does not give (named, with its rule).
    """
    layout = get_layout(layout)
    pm = read_midi(path)
    sigs = {(t.numerator, t.denominator) for t in pm.time_signature_changes} or {(4, 4)}
    if len(sigs) != 1 or not sigs <= set(FOLDER_METERS):
        raise UnsupportedMeterError(f"time signatures {sorted(sigs)}: only one of "
                                    f"{sorted(f'{n}/{d}' for n, d in FOLDER_METERS)} throughout is used for training")
    piece = read_piece(pm, layout, tracks="all", align=False, steps_per_beat=FOLDER_METERS[sigs.pop()])
    pad = ((0, (-piece.n_steps) % STEPS_PER_BAR), (0, 0), (0, 0))
    return piece.replace(roll=np.pad(piece.roll, pad), onsets=np.pad(piece.onsets, pad))


def folder_piece_roll(path, *, layout=DEFAULT_LAYOUT) -> np.ndarray:
    """The roll ``(time, 128, 1 + N)`` of :func:`folder_piece` (what a folder build stores)."""
    return folder_piece(path, layout=layout).roll


def track_summary(rolls, layout) -> dict:
    """``{track: {"pieces": n, "bars": n}}``: in how many pieces and bars (16 steps) each track sounds."""
    out = {}
    for k, name in enumerate(get_layout(layout).track_names):
        bars = [r[..., k].reshape(-1, STEPS_PER_BAR, r.shape[1]).any(axis=(1, 2)) for r in rolls]
        out[name] = {"pieces": int(sum(b.any() for b in bars)), "bars": int(sum(b.sum() for b in bars))}
    return out


def midi_files(folder) -> list[str]:
    """The MIDI files under ``folder`` (recursively), sorted: the order that decides a folder build's splits
    (and a shard build's shards). A name that is not valid UTF-8 is kept (as Python's file-system encoding
    gives it); a link that cannot be followed is kept and skipped by the build with its reason.

    Raises
    ------
    DatasetError
        ``folder`` is not a folder (a symbolic link loop is named as one), or holds no MIDI file.
    """
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        try:
            os.stat(folder)
            why = "not a folder of MIDI files"
        except OSError as exc:
            why = f"not a folder of MIDI files ({os_reason(exc)})"
        raise DatasetError(f"{brief(folder)}: {why}")
    paths = sorted(os.path.join(root, f) for root, _, files in os.walk(folder)
                   for f in files if f.lower().endswith(MIDI_SUFFIXES))
    if not paths:
        raise DatasetError(f"{brief(folder)}: no .mid/.midi files found")
    return paths


def build_folder(folder, *, layout=DEFAULT_LAYOUT, key_normalize: bool = True, workers: int | None = None,
                 progress: bool = True, clean_tunes: bool = True) -> Dataset:
    """Build a dataset of ``layout`` from a folder of multi-track MIDI files (recursively).

    Files that cannot be used (a required track of the layout missing, another
    meter, a damaged file) are skipped and listed with the reason in
    ``Dataset.skipped``; the build never aborts for one bad file.
    ``info["track_summary"]`` counts the pieces and bars of every track. The
    split uses the same rule as the chorales over the sorted file list, then
    :func:`clean_splits` unless ``clean_tunes`` is False (its tune comparison
    grows with the square of the number of pieces and with their length: hours
    for hundreds of long pieces; ``info["split_cleaning"]`` is then ``None``).
    """
    layout = get_layout(layout)
    workers = check_workers(workers) or min(2, os.cpu_count() or 1)
    folder = os.fspath(folder)
    paths = midi_files(folder)
    ref = layout_ref(layout)
    jobs = [(i, p, key_normalize, split_of(i), ref) for i, p in enumerate(paths)]
    results = _run_jobs(_folder_one, jobs, workers, progress, "MIDI files")
    return _assemble(results, {"source": folder, "key_normalize": key_normalize, "layout": ref}, clean_tunes)


# ---------------------------------------------------------------------- cache
def format_layout(source_format: str = "midi", layout=None):
    """The :class:`~deepaccomp.layout.Layout` a build of ``source_format`` (:data:`SOURCE_FORMATS`) gives:
    ``layout``, else the format's (:data:`~deepaccomp.config.FORMAT_LAYOUTS`: ``pop`` for POP909) or
    ``satb``; :class:`ConfigError` for an unknown format."""
    check_choice(source_format, "format (--format)", SOURCE_FORMATS)
    if layout is None:
        layout = FORMAT_LAYOUTS.get(source_format, DEFAULT_LAYOUT)
    return get_layout(layout)


def dataset_path(source: str = "chorales", *, key_normalize: bool = True,
                 dataset_dir: str = DEFAULT_DATASET_DIR, layout=DEFAULT_LAYOUT, source_format: str = "midi") -> str:
    """Cache file for a build: the name carries a hash of the build settings (the layout among them: a
    preset's name, a user layout's whole definition; except for ``satb`` whose builds keep the names
    they always had; the format when it is not ``midi``)."""
    settings = {"source": os.path.abspath(source) if source != "chorales" else source,
                "key_normalize": key_normalize, "version": DATASET_VERSION}
    if source_format != "midi":
        settings["format"] = source_format
    layout = format_layout(source_format, layout)
    name = layout.name
    if layout_ref(layout) != DEFAULT_LAYOUT:
        settings["layout"] = layout_ref(layout)
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    stem = "jsb_chorales" if source == "chorales" else os.path.basename(os.path.normpath(source))
    if layout_ref(layout) != DEFAULT_LAYOUT:
        stem += f"-{name}"
    return os.path.join(dataset_dir, f"{stem}-{digest}.npz")


def prepare(source: str = "chorales", *, key_normalize: bool = True,
            dataset_dir: str = DEFAULT_DATASET_DIR, force: bool = False,
            progress: bool = True, workers: int | None = None,
            layout=None, source_format: str = "midi") -> tuple[Dataset, str]:
    """Build (or reuse the cached build of) a dataset of ``layout``; returns ``(dataset, path)``.

    ``layout``: a preset name, a layout file's path, a dict or a
    :class:`~deepaccomp.layout.Layout` (:func:`deepaccomp.layout.get_layout`); default
    :func:`format_layout`'s. The chorales give the ``satb`` layout only; a folder of MIDI files
    gives any layout; ``source_format="pop909"`` (:data:`SOURCE_FORMATS`) reads a POP909 folder
    into the ``pop`` layout (:func:`deepaccomp.pop909.build_pop909`, docs/pop909.md).
    """
    layout = format_layout(source_format, layout)
    if source == "chorales" and source_format != "midi":
        raise DatasetError(f"--format {source_format} reads a folder: give it as --source FOLDER")
    if source == "chorales" and layout_ref(layout) != DEFAULT_LAYOUT:
        raise DatasetError(f"the chorales are four voices (layout 'satb'); layout {layout.name!r} needs a folder "
                           "of MIDI files (--source FOLDER)")
    path = dataset_path(source, key_normalize=key_normalize, dataset_dir=dataset_dir, layout=layout,
                        source_format=source_format)
    if os.path.exists(path) and not force:
        try:
            return Dataset.load(path), path
        except DatasetError:
            pass  # damaged cache: rebuild it
    if source != "chorales" and not os.path.isdir(source):
        raise DatasetError(f"{source}: not a folder of MIDI files (or use source='chorales')")
    try:
        os.makedirs(dataset_dir, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"{dataset_dir}: cannot create the dataset folder ({exc.strerror or exc})") from exc
    t0 = time.perf_counter()
    if source == "chorales":
        ds = build_chorales(key_normalize=key_normalize, progress=progress, workers=workers)
    elif source_format == "pop909":
        from .pop909 import build_pop909  # here: deepaccomp.pop909 builds on this module

        ds = build_pop909(source, layout=layout, key_normalize=key_normalize, progress=progress, workers=workers)
    else:
        ds = build_folder(source, layout=layout, key_normalize=key_normalize, progress=progress, workers=workers)
    ds.info["build_seconds"] = round(time.perf_counter() - t0, 2)
    ds.save(path)
    return ds, path


# ---------------------------------------------------------------------- tf.data
def split_model_inputs(phrases: np.ndarray):
    """Bool phrases ``(n, time, pitch, 1 + N)`` -> ``(melody (n,t,p,1), accomp (n,t,p,N))`` in [-1, 1]."""
    x = to_model_range(phrases)
    return x[..., :1], x[..., 1:]


def make_tf_dataset(phrases: np.ndarray, batch_size: int, *, shuffle: bool = True,
                    repeat: bool = True, seed: int = 0, melody_only: bool = False,
                    shuffle_buffer: int = 10000, drop_remainder: bool = True,
                    skip_batches: int = 0, positions: np.ndarray | None = None, transpose_range: int = 0):
    """A ``tf.data.Dataset`` of model-range batches from bool phrases ``(n, time, pitch, 4)``
    (an array, or a ``tf.data.Dataset`` of single phrases streamed from shards: :mod:`deepaccomp.shards`).

    Yields ``(melody, accompaniment)`` of shapes ``(batch, time, pitch, 1)`` and
    ``(batch, time, pitch, 3)`` (float32, -1/+1), or only the melody when
    ``melody_only``. Shuffles (per epoch), repeats, batches and prefetches.
    ``skip_batches`` drops that many batches first (resuming a run where it stopped).
    ``positions``, float32 ``(time, pitch, k)``, is appended to every melody's
    channels (:func:`deepaccomp.generation.model_input_planes`; phrases start on a downbeat).
    ``transpose_range`` > 0 moves every phrase by its own whole number of
    semitones in ``[-transpose_range, transpose_range]`` (all tracks together;
    notes moved out of the pitch window are dropped), drawn from ``seed`` and the
    batch's position in the stream, so ``skip_batches`` resumes the same phrases.
    """
    from ._tf import tf

    streamed = isinstance(phrases, tf.data.Dataset)
    if not streamed and len(phrases) == 0:
        raise DatasetError("no phrases to feed: the split is empty")
    ds = phrases if streamed else tf.data.Dataset.from_tensor_slices(phrases)
    if shuffle:
        size = shuffle_buffer if streamed else min(shuffle_buffer, len(phrases))
        ds = ds.shuffle(size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if transpose_range:
        ds = ds.enumerate()  # before the skip: a batch's shifts depend on its place in the whole stream
    if skip_batches:
        ds = ds.skip(skip_batches)

    planes = None if positions is None else tf.constant(positions, dtype=tf.float32)

    def transposed(index, b):
        r = transpose_range
        shifts = tf.random.stateless_uniform(tf.shape(b)[:1], seed=tf.stack([tf.cast(seed, tf.int64), index]),
                                             minval=-r, maxval=r + 1, dtype=tf.int32)
        padded = tf.pad(b, [[0, 0], [0, 0], [r, r], [0, 0]])
        source = r + tf.range(tf.shape(b)[2])[None, :] - shifts[:, None]  # (batch, pitch): where each pitch comes from
        return tf.gather(padded, source, axis=2, batch_dims=1)

    def to_model(*element):
        b = transposed(*element) if transpose_range else element[0]
        x = tf.where(b, 1.0, -1.0)
        melody = x[..., :1]
        if planes is not None:
            melody = tf.concat([melody, tf.broadcast_to(planes, tf.concat([tf.shape(b)[:1], tf.shape(planes)], 0))], -1)
        return melody if melody_only else (melody, x[..., 1:])

    return ds.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
