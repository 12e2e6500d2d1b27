"""Shard folders from outside: damaged, crafted or raced shards, indexes and plans give one clear error.

A tiny shard folder is built once per module, then copied and damaged per
case. Everything that could hang (a FIFO) or allocate what a file claims runs
in its own process, bounded in time and measured in peak memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

from deepaccomp import data, shards
from deepaccomp.errors import ConfigError, DatasetError
from helpers import write_corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

WRAPPER = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
try:
    proc = subprocess.run(sys.argv[2:], capture_output=True, text=True, timeout=float(sys.argv[1]))
    rc, out, err = proc.returncode, proc.stdout, proc.stderr
except subprocess.TimeoutExpired as exc:
    rc, out, err = "timeout", "", str(exc.stderr)
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t, "stdout": out, "stderr": err,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def bounded(*args, timeout=60, cwd=None):
    """``python *args`` in a fresh process killed after ``timeout`` s: ``{rc, seconds, peak_mb, stdout, stderr}``."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out = subprocess.run([sys.executable, "-c", WRAPPER, str(timeout), sys.executable, *args], cwd=cwd, env=env,
                         capture_output=True, text=True, timeout=timeout + 60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def one_line_error(result, fragment, *, seconds=30, peak_mb=600):
    """Exit 1 with one line ``deepaccomp: error: ...fragment...``, in time and memory."""
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    assert result["rc"] == 1, result
    assert len(lines) == 1 and lines[0].startswith("deepaccomp: error: ") and fragment in lines[0], lines
    assert result["seconds"] < seconds and result["peak_mb"] < peak_mb, result


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def pristine(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "out"
    shards.build_shards(corpus, out, shard_size=3, workers=1, progress=False)
    return out


@pytest.fixture
def folder(pristine, tmp_path):
    """A fresh copy of the module's shard folder."""
    return shutil.copytree(pristine, tmp_path / "copy")


def index_of(folder):
    return json.loads((folder / shards.INDEX_NAME).read_text())


def write_index(folder, index):
    (folder / shards.INDEX_NAME).write_text(json.dumps(index))


def reseal(folder, k=0):
    """Record shard ``k``'s present sha256 in the index: a crafted shard the index vouches for."""
    index = index_of(folder)
    index["shards"][k]["sha256"] = hashlib.sha256((folder / shards._shard_name(k)).read_bytes()).hexdigest()
    write_index(folder, index)


def flip(path, at=None):
    raw = bytearray(path.read_bytes())
    at = len(raw) // 2 if at is None else at
    raw[at] ^= 0x40
    path.write_bytes(bytes(raw))


# ---------------------------------------------------------------------- damaged shards

def npz(path, **arrays):
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def crafted(folder, *, lengths=None, cells=None, layout="satb"):
    """Shard 0 rewritten: its own metadata kept, the given arrays replaced, its layout set."""
    cells0, offsets0, lengths0, meta = data.read_cells(folder / "shard-00000.npz")
    meta["info"]["layout"] = layout
    lengths = lengths0 if lengths is None else np.asarray(lengths, np.int64)
    cells = cells0 if cells is None else cells
    offsets = offsets0 if len(offsets0) == len(lengths) + 1 else np.zeros(len(lengths) + 1, np.int64)
    npz(folder / "shard-00000.npz", cells=cells, offsets=offsets, lengths=lengths,
        meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))


DAMAGE = {
    "truncated": lambda f: (f / "shard-00000.npz").write_bytes((f / "shard-00000.npz").read_bytes()[:300]),
    "random bytes": lambda f: (f / "shard-00000.npz").write_bytes(os.urandom(2000)),
    "bit flipped": lambda f: flip(f / "shard-00000.npz"),
    "layout differs": lambda f: crafted(f, layout="lpd5"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_a_damaged_shard_is_refused_before_anything_streams(folder, kind):
    DAMAGE[kind](folder)
    with pytest.raises(DatasetError, match="shard-00000.npz: the shard does not match its sha256"):
        shards.read_phrases(folder, "train", phrase_bars=1)


@pytest.mark.parametrize("kind", ["bit flipped", "layout differs"])
def test_a_damaged_shard_the_index_vouches_for_is_still_refused(folder, kind):
    DAMAGE[kind](folder)
    reseal(folder)
    with pytest.raises(DatasetError, match="shard-00000.npz: (not a readable|shards.json disagrees)"):
        shards.read_index(folder)


def test_a_crafted_shard_claiming_huge_rolls_is_refused_at_once(folder):
    # 1 KB on disk; its roll would be 10^9 steps (3.5 GB and more when decoded)
    crafted(folder, lengths=[10 ** 9, 16, 16])
    reseal(folder)
    assert (folder / "shard-00000.npz").stat().st_size < 4096
    for read in (shards.read_index, lambda f: shards.read_shard(f, "shard-00000.npz")):
        with pytest.raises(DatasetError, match=r"a roll of 1000000000 steps \(0..12288\)"):
            read(folder)


def test_a_compressed_size_bomb_is_refused_from_its_declared_sizes(folder, tmp_path):
    bomb = folder / "shard-00000.npz"
    big = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.int32))
    big["shape"] = (400_000_000, 3)  # 4.8 GB of cells declared by a header of a few bytes
    with open(tmp_path / "cells.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, big)
    cells0, offsets0, lengths0, meta = data.read_cells(bomb)
    npz(bomb, offsets=offsets0, lengths=lengths0, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    import zipfile

    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf:
        zf.write(tmp_path / "cells.npy", "cells.npy")
    reseal(folder)
    t0 = time.perf_counter()
    with pytest.raises(DatasetError, match="array 'cells'"):
        shards.read_shard(folder, "shard-00000.npz")
    assert time.perf_counter() - t0 < 0.5


@pytest.mark.slow
def test_a_real_compressed_bomb_is_refused_in_under_a_second_with_bounded_memory(tmp_path):
    import zipfile

    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:  # 1.2 GB of zeros, about 1 MB on disk
        with zf.open("cells.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, {"descr": "<i4", "fortran_order": False,
                                                           "shape": (100_000_000, 3)})
            block = bytes(1 << 24)
            for _ in range(72):
                member.write(block)
        for name in ("offsets", "lengths", "meta"):
            zf.writestr(f"{name}.npy", b"")
    assert path.stat().st_size < 8 << 20
    result = bounded("-c", "import sys, time; from deepaccomp import data\nt = time.perf_counter()\n"
                     "try:\n    data.Dataset.load(sys.argv[1])\nexcept Exception as e:\n"
                     "    print(type(e).__name__, round(time.perf_counter() - t, 3), e)", str(path))
    kind, seconds, message = result["stdout"].split(" ", 2)
    assert kind == "DatasetError" and "decompress to" in message and float(seconds) < 0.5, result
    assert result["peak_mb"] < 300, result


def test_a_shard_that_is_a_fifo_is_refused_without_waiting(folder):
    os.remove(folder / "shard-00001.npz")
    os.mkfifo(folder / "shard-00001.npz")
    result = bounded("-c", "import sys; from deepaccomp import shards\ntry:\n    shards.read_index(sys.argv[1])\n"
                     "except Exception as e:\n    print(type(e).__name__, e)", str(folder), timeout=30)
    assert result["rc"] == 0 and result["stdout"].startswith("DatasetError") and "not a regular file" in \
        result["stdout"], result


# ---------------------------------------------------------------------- index and plan

def set_counts(index, pieces):
    index["shards"][0]["pieces"] = pieces
    index["pieces"] = sum(e["pieces"] for e in index["shards"])


INDEX_EDITS = {
    "999 pieces claimed": (lambda i: set_counts(i, 999), "its counts do not add up"),
    "negative count": (lambda i: set_counts(i, -1), "counts, splits or sha256 missing or of the wrong type"),
    "a list": (lambda i: [i], "not a JSON object"),
    "no shards key": (lambda i: i.update(shards=None), "shards missing or of the wrong type"),
    "shards a string": (lambda i: i.update(shards="x"), "shards missing or of the wrong type"),
    "entry not an object": (lambda i: i["shards"].__setitem__(0, 7), "entry 0 is not shard 0's"),
    "a shard left out": (lambda i: i["shards"].__delitem__(-1), "shards listed for 12 files"),
    "totals off": (lambda i: i.update(pieces=i["pieces"] + 1), "totals are not the sums"),
    "sha256 not hex": (lambda i: i["shards"][0].update(sha256="zz"), "sha256 missing"),
}


def edited(index, edit):
    out = edit(index)
    return index if out is None else out


@pytest.mark.parametrize("case", sorted(INDEX_EDITS))
def test_an_index_that_disagrees_with_itself_is_refused(folder, case):
    edit, fragment = INDEX_EDITS[case]
    write_index(folder, edited(index_of(folder), edit))
    with pytest.raises(DatasetError, match="not a valid shard index") as info:
        shards.read_index(folder)
    assert fragment in str(info.value)


def test_counts_edited_consistently_are_checked_against_the_shards(folder):
    index = index_of(folder)
    entry = next(e for e in index["shards"] if e["skipped"] and e["pieces"])  # a skipped file said to be a piece
    split = next(s for s, n in entry["splits"].items() if n)
    entry["splits"][split] += 1
    entry["pieces"] += 1
    entry["skipped"] -= 1
    index["pieces"] += 1
    index["skipped"] -= 1
    index["splits"][split] += 1
    write_index(folder, index)
    with pytest.raises(DatasetError, match="shards.json disagrees with the shard \\(pieces: "):
        shards.read_index(folder)


def test_an_unknown_layout_names_the_real_layouts(folder):
    index = index_of(folder)
    index["layout"] = "jazz"
    write_index(folder, index)
    with pytest.raises(DatasetError, match="unknown layout 'jazz': a stored layout is a preset's name \\(lpd5, pop, satb") \
            as info:
        shards.read_index(folder, layout="satb")
    assert "--layout jazz" not in str(info.value)


def test_a_nested_oversized_or_looping_index_is_refused(folder):
    path = folder / shards.INDEX_NAME
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DatasetError, match="nested too deeply"):
        shards.read_index(folder)
    path.write_bytes(b" " * (shards.MAX_INDEX_BYTES + 1))
    with pytest.raises(DatasetError, match="over 33,554,432 bytes"):
        shards.read_index(folder)
    os.remove(path)
    os.symlink(shards.INDEX_NAME, path)
    with pytest.raises(DatasetError, match="a symbolic link loop"):
        shards.read_index(folder)


def test_a_plan_deleted_nested_or_looping_is_reported_as_such(corpus, folder):
    build = lambda: shards.build_shards(corpus, folder, shard_size=3, workers=1, progress=False)  # noqa: E731
    os.remove(folder / shards.PLAN_NAME)
    with pytest.raises(DatasetError, match="holds shards but no build.json \\(deleted\\?\\)") as info:
        build()
    assert "another build" not in str(info.value)
    (folder / shards.PLAN_NAME).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DatasetError, match="its build.json is unusable .*nested too deeply"):
        build()
    os.remove(folder / shards.PLAN_NAME)
    os.symlink(shards.PLAN_NAME, folder / shards.PLAN_NAME)
    with pytest.raises(DatasetError, match="symbolic link loop"):
        build()
    index = shards.build_shards(corpus, folder, shard_size=3, workers=1, progress=False, force=True)
    assert shards.read_index(folder)["digest"] == index["digest"]


@pytest.mark.slow
@pytest.mark.parametrize("name", [shards.INDEX_NAME, shards.PLAN_NAME])
def test_a_fifo_as_index_or_plan_is_refused_without_waiting(corpus, folder, name):
    os.remove(folder / name)
    os.mkfifo(folder / name)
    code = ("import sys; from deepaccomp import shards\ntry:\n"
            "    shards.read_index(sys.argv[1]) if sys.argv[3] == 'shards.json' else "
            "shards.build_shards(sys.argv[2], sys.argv[1], shard_size=3, workers=1, progress=False)\n"
            "except Exception as e:\n    print(type(e).__name__, e)")
    result = bounded("-c", code, str(folder), str(corpus), name, timeout=30)
    assert result["rc"] == 0 and result["stdout"].startswith("DatasetError"), result
    assert "not a regular file" in result["stdout"], result


# ---------------------------------------------------------------------- resuming

def test_resuming_rebuilds_a_damaged_shard_and_keeps_the_others(corpus, folder):
    before = {n: os.stat(folder / n).st_mtime_ns for n in ("shard-00000.npz", "shard-00002.npz")}
    flip(folder / "shard-00001.npz")
    os.remove(folder / shards.INDEX_NAME)
    index = shards.build_shards(corpus, folder, shard_size=3, workers=1, progress=False)
    assert {n: os.stat(folder / n).st_mtime_ns for n in before} == before
    assert len(shards.read_shard(folder, "shard-00001.npz").pieces) == index["shards"][1]["pieces"]  # rebuilt
    assert shards.read_index(folder)["shards"] == index["shards"]  # every sha256 verified


def test_an_edited_midi_file_rebuilds_its_shard(corpus, tmp_path):
    source = shutil.copytree(corpus, tmp_path / "src")
    out = tmp_path / "out"
    first = shards.build_shards(source, out, shard_size=3, workers=1, progress=False)
    paths = shards.midi_paths(source)
    victim = paths[4]  # in shard 1
    raw = open(victim, "rb").read()
    with open(paths[5], "rb") as fh:
        other = fh.read()
    with open(victim, "wb") as fh:  # the same name, another piece
        fh.write(other)
    os.utime(victim, ns=(time.time_ns(), os.stat(victim).st_mtime_ns + 10 ** 9))
    kept = os.stat(out / "shard-00000.npz").st_mtime_ns
    again = shards.build_shards(source, out, shard_size=3, workers=1, progress=False)
    assert os.stat(out / "shard-00000.npz").st_mtime_ns == kept and raw != other
    assert again["shards"][1]["sha256"] != first["shards"][1]["sha256"]
    assert again["shards"][0] == first["shards"][0]


# ---------------------------------------------------------------------- the build lock

def test_a_second_build_into_a_folder_in_use_is_refused_naming_the_holder(corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (out / shards.LOCK_NAME).write_text(json.dumps({"pid": holder.pid, "host": os.uname().nodename,
                                                        "started": time.time()}))
        with pytest.raises(DatasetError, match=f"in use by another shard build \\(pid {holder.pid} on "):
            shards.build_shards(corpus, out, shard_size=3, workers=1, progress=False)
        assert not (out / shards.PLAN_NAME).exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale, taken over, and released after the build
    shards.build_shards(corpus, out, shard_size=3, workers=1, progress=False)
    assert not (out / shards.LOCK_NAME).exists()
    shards.read_index(out)


@pytest.mark.slow
def test_two_builds_started_together_never_mix(corpus, tmp_path):
    out = tmp_path / "out"
    code = ("import sys, time\nfrom deepaccomp import shards\nwhile time.time() < float(sys.argv[3]): pass\n"
            "try:\n    shards.build_shards(sys.argv[1], sys.argv[2], shard_size=int(sys.argv[4]), workers=1, "
            "progress=False)\n    print('built')\nexcept Exception as e:\n    print(type(e).__name__, e)")
    env = dict(os.environ, PYTHONPATH=ROOT)
    for trial in range(2):
        start = str(time.time() + 6)
        procs = [subprocess.Popen([sys.executable, "-c", code, str(corpus), str(out), start, str(size)],
                                  stdout=subprocess.PIPE, text=True, env=env) for size in (3, 4)]
        said = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
        built = [s for s in said if s == "built"]
        refused = [s for s in said if s.startswith("DatasetError")]
        assert len(built) + len(refused) == 2 and built, said
        assert all("another shard build" in s or "another build" in s for s in refused), said
        index = shards.read_index(out)  # every shard matches the index of the build that finished
        assert len(index["shards"]) == (4 if index["shard_size"] == 3 else 3)
        shutil.rmtree(out)


# ---------------------------------------------------------------------- workers, names, links

def test_workers_are_capped_before_anything_starts(corpus, tmp_path, capsys):
    from deepaccomp.cli import main

    for build in (lambda w: shards.build_shards(corpus, tmp_path / "o", workers=w, progress=False),
                  lambda w: data.build_folder(corpus, workers=w, progress=False)):
        with pytest.raises(ConfigError, match=f"1..{data.MAX_WORKERS}"):
            build(data.MAX_WORKERS + 1)
        with pytest.raises(ConfigError, match="1..32"):
            build(0)
    assert not (tmp_path / "o").exists()
    for extra in ([], ["--shards", str(tmp_path / "o")]):
        assert main(["prepare", "--source", str(corpus), "--workers", "1000", *extra]) == 1
        assert "must be a whole number 1..32" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_odd_names_and_links_give_the_same_pieces_in_both_builds(corpus, tmp_path):
    source = shutil.copytree(corpus, tmp_path / "src")
    os.rename(source / "a" / "piece01.mid", os.path.join(os.fsencode(source / "a"), b"\xff\xfe.mid"))
    os.symlink("loop.mid", source / "loop.mid")
    memory = data.build_folder(source, workers=1, progress=False, clean_tunes=False)
    index = shards.build_shards(source, tmp_path / "out", shard_size=3, workers=1, progress=False)
    ds = [shards.read_shard(tmp_path / "out", e) for e in index["shards"]]
    assert sorted(p["id"] for d in ds for p in d.pieces) == sorted(p["id"] for p in memory.pieces)
    assert any("\udcff" in p["id"] for p in memory.pieces)
    reasons = {s["id"]: s["reason"] for d in ds for s in d.skipped}
    assert reasons == {s["id"]: s["reason"] for s in memory.skipped}
    assert reasons[str(source / "loop.mid")] == "cannot be read (a symbolic link loop)"
    os.symlink("src2", tmp_path / "src2")
    with pytest.raises(DatasetError, match="src2: not a folder of MIDI files \\(a symbolic link loop\\)"):
        shards.build_shards(tmp_path / "src2", tmp_path / "o2")


def test_echoed_paths_are_bounded(tmp_path):
    long = tmp_path / ("x" * 200) / ("y" * 200) / ("z" * 200)
    with pytest.raises(DatasetError) as info:
        shards.read_index(long)
    assert len(str(info.value)) < 700


# ---------------------------------------------------------------------- training on a damaged folder

@pytest.mark.slow
@pytest.mark.parametrize("kind", ["truncated", "bit flipped"])
def test_training_on_a_damaged_folder_says_so_in_one_line(folder, kind, tmp_path):
    DAMAGE[kind](folder)
    result = bounded("-m", "deepaccomp", "train", "--source", str(folder), "--logdir", str(tmp_path / "run"),
                     "--iterations", "2", "--batch-size", "2", timeout=240, cwd=tmp_path)
    one_line_error(result, "shard-00000.npz: the shard does not match its sha256", seconds=240, peak_mb=3000)
