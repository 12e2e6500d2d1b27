"""Benchmark the sharded build and the streamed training input on a synthetic MIDI corpus.

    python scripts/bench_shards.py [--files 20000] [--work DIR] [--shard-size 256]
                                   [--workers 1 2] [--batches 400] [--steps build read] [--json out.json]

1. Writes ``--files`` small four-part MIDI files (4 bars of 4/4, voices named
   Soprano, Alto, Tenor, Bass, a random key and chord progression each) into
   ``WORK/corpus`` (kept and reused when it already holds that many files).
2. Builds the shards with each ``--workers`` count in a fresh process: build
   time, files/s, and the peak resident memory of the process tree (the
   builder and its worker processes, sampled every 0.2 s), with the peak of
   the first and of the last quarter of the build (equal = flat memory).
3. Streams the train split of the last build through ``shards.read_phrases``
   and ``data.make_tf_dataset`` (batch 128, shuffle buffer 10,000: the default
   preset's input) in a fresh process: examples/s and peak memory, again with
   the first- and last-quarter peaks, and the memory after each eighth of the
   batches.

Prints a Markdown table and the load average; writes JSON with ``--json``. Not
a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

CHORDS = [(0, 4, 7), (5, 9, 12), (7, 11, 14), (9, 12, 16), (2, 5, 9), (4, 7, 11)]
"""Triads over the scale degrees I, IV, V, vi, ii, iii (semitones above the tonic)."""


# ---------------------------------------------------------------------- corpus
def write_piece(path: str, rng) -> None:
    """Four bars of four voices: one chord per bar, the soprano moving in quarters, the others in halves."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    tonic = 60 + int(rng.integers(-6, 6))
    chords = [CHORDS[0]] + [CHORDS[int(i)] for i in rng.integers(0, len(CHORDS), 2)] + [CHORDS[2]]
    voices = {"Soprano": (12, 1), "Alto": (0, 2), "Tenor": (-12, 2), "Bass": (-24, 4)}
    for name, (octave, beats) in voices.items():
        inst = pretty_midi.Instrument(program=52, name=name)
        for bar, chord in enumerate(chords):
            for b in range(0, 4, beats):
                pitch = tonic + octave + chord[int(rng.integers(0, 3))]
                start = (bar * 4 + b) * 0.5
                inst.notes.append(pretty_midi.Note(80, pitch, start, start + beats * 0.5))
        pm.instruments.append(inst)
    pm.write(path)


def write_corpus(folder: str, n: int, seed: int = 0) -> float:
    """``n`` synthetic pieces in 100 sub-folders; returns the seconds taken (0 when reused)."""
    import numpy as np

    have = sum(len(f) for _, _, f in os.walk(folder)) if os.path.isdir(folder) else 0
    if have == n:
        return 0.0
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = os.path.join(folder, f"{i % 100:02d}")
        os.makedirs(sub, exist_ok=True)
        write_piece(os.path.join(sub, f"piece{i:06d}.mid"), rng)
    return time.perf_counter() - t0


# ---------------------------------------------------------------------- memory of a process tree
def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    except (OSError, StopIteration):
        return 0


def _tree(pid: int) -> list:
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


class TreeMemory:
    """Samples the resident memory (MiB) of this process and its descendants in a thread."""

    def __init__(self, every: float = 0.2):
        self.every, self.samples, self._stop = every, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        t0 = time.monotonic()
        while not self._stop.is_set():
            total = sum(_rss_kib(p) for p in _tree(os.getpid()))
            self.samples.append((time.monotonic() - t0, total / 1024))
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        """Peak MiB overall and in the first and last quarter of the samples."""
        values = [v for _, v in self.samples] or [0.0]
        q = max(1, len(values) // 4)
        return {"peak_mib": round(max(values)), "first_quarter_peak_mib": round(max(values[:q])),
                "last_quarter_peak_mib": round(max(values[-q:]))}


# ---------------------------------------------------------------------- measured in a fresh process
def child_build(corpus: str, out: str, workers: int, shard_size: int) -> dict:
    from deepaccomp import shards

    with TreeMemory() as mem:
        t0 = time.perf_counter()
        index = shards.build_shards(corpus, out, workers=workers, shard_size=shard_size, progress=False, force=True)
        seconds = time.perf_counter() - t0
    return {"workers": workers, "seconds": round(seconds, 1), "files_per_s": round(index["files"] / seconds, 1),
            "pieces": index["pieces"], "skipped": index["skipped"], "shards": len(index["shards"]),
            **mem.summary()}


def child_read(out: str, batches: int) -> dict:
    from deepaccomp import shards
    from deepaccomp.data import make_tf_dataset

    with TreeMemory() as mem:
        stream = shards.read_phrases(out, "train", seed=0)
        ds = make_tf_dataset(stream, 128, seed=0, shuffle_buffer=10000)
        it = iter(ds)
        next(it)  # the shuffle buffer's first fill is not delivery
        t0, series = time.perf_counter(), []
        for i in range(1, batches + 1):
            next(it)
            if i % max(1, batches // 8) == 0:  # memory after each eighth of the batches
                series.append((i * 128, round(mem.samples[-1][1]) if mem.samples else None))
        seconds = time.perf_counter() - t0
    return {"batches": batches, "examples_per_s": round(batches * 128 / seconds), **mem.summary(),
            "mib_after_examples": series}


def in_child(kind: str, *args) -> dict:
    code = (f"import json, sys; sys.path.insert(0, {ROOT!r}); sys.path.insert(0, {os.path.dirname(__file__)!r}); "
            f"import bench_shards as b; print(json.dumps(b.child_{kind}(*{list(args)!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--work", default=None, help="folder for the corpus and shards (default: a temporary one)")
    p.add_argument("--shard-size", type=int, default=256)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--batches", type=int, default=400, help="batches of 128 read to time the input")
    p.add_argument("--steps", nargs="+", choices=("build", "read"), default=["build", "read"],
                   help="what to measure (read alone streams the shards an earlier build left in --work)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    work = args.work or tempfile.mkdtemp(prefix="bench-shards-")
    corpus, result = os.path.join(work, "corpus"), {"files": args.files, "load_before": os.getloadavg()}
    result["corpus_seconds"] = round(write_corpus(corpus, args.files), 1)
    print(f"corpus: {args.files} files in {corpus} ({result['corpus_seconds']} s)", flush=True)
    result["build"] = []
    for workers in args.workers if "build" in args.steps else []:
        row = in_child("build", corpus, os.path.join(work, f"shards-{workers}"), workers, args.shard_size)
        result["build"].append(row)
        print("build", json.dumps(row), flush=True)
    if "read" in args.steps:
        result["read"] = in_child("read", os.path.join(work, f"shards-{args.workers[-1]}"), args.batches)
        print("read", json.dumps(result["read"]), flush=True)
    result["load_after"] = os.getloadavg()
    print(f"\n{args.files} files, load average {result['load_before'][0]:.1f} before, "
          f"{result['load_after'][0]:.1f} after\n")
    print("| step | processes | time (s) | files/s or examples/s | peak RSS (MiB) | first / last quarter peak |")
    print("|---|---|---|---|---|---|")
    for row in result["build"]:
        print(f"| build | {row['workers']} | {row['seconds']} | {row['files_per_s']} files/s | {row['peak_mib']} | "
              f"{row['first_quarter_peak_mib']} / {row['last_quarter_peak_mib']} |")
    r = result.get("read")
    if r:
        print(f"| training input | 1 | - | {r['examples_per_s']} examples/s | {r['peak_mib']} | "
              f"{r['first_quarter_peak_mib']} / {r['last_quarter_peak_mib']} |")
        print("\nMiB after examples read:", ", ".join(f"{n:,}: {m}" for n, m in r["mib_after_examples"]))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
