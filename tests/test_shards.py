"""Sharded builds of MIDI folders: the same pieces as the in-memory build, resumable, streamed by tf.data."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from helpers import tiny, write_corpus
from deepaccomp import data, shards
from deepaccomp.errors import DatasetError


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module")
def built(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "out"
    return out, shards.build_shards(corpus, out, shard_size=3, workers=1, progress=False)


def all_pieces(out, index):
    ds = [shards.read_shard(out, e) for e in index["shards"]]
    return {p["id"]: (p, r) for d in ds for p, r in zip(d.pieces, d.rolls)}, [s for d in ds for s in d.skipped]


def test_shards_hold_the_folder_builds_pieces_and_splits(corpus, built):
    out, index = built
    paths = shards.midi_paths(corpus)
    assert len(paths) == 12 and index["files"] == 12
    assert [e["files"] for e in index["shards"]] == [3, 3, 3, 3]
    assert (index["pieces"], index["skipped"]) == (10, 2)
    pieces, skipped = all_pieces(out, index)
    assert {s["id"].rsplit("/", 1)[-1] for s in skipped} == {"waltz.mid", "broken.mid"}
    reference = data.build_folder(corpus, workers=1, progress=False)
    assert len(reference.rolls) == len(pieces) == 10
    for meta, roll in zip(reference.pieces, reference.rolls):
        mine, mine_roll = pieces[meta["id"]]
        assert np.array_equal(roll, mine_roll) and mine["shift"] == meta["shift"]
        assert mine["split"] == data.split_of(paths.index(meta["id"]))  # the sorted list's rule, no tune cleaning
    assert index["splits"] == {s: sum(p["split"] == s for p, _ in pieces.values()) for s in data.SPLITS}
    assert json.loads((out / shards.INDEX_NAME).read_text())["digest"] == index["digest"]


def test_an_interrupted_build_continues_with_the_shards_it_has(corpus, tmp_path):
    out = tmp_path / "out"
    first = shards.build_shards(corpus, out, shard_size=3, workers=1, progress=False)
    kept = {n: os.stat(out / n).st_mtime_ns for n in ("shard-00000.npz", "shard-00002.npz")}
    # as if killed while writing shard 1 and before shard 3 and the index: a temporary file, two shards missing
    os.remove(out / "shard-00001.npz")
    os.remove(out / "shard-00003.npz")
    os.remove(out / shards.INDEX_NAME)
    (out / ".tmp-k1x2-shard-00001.npz").write_bytes(b"half a shard")
    assert shards.is_shard_folder(out)
    with pytest.raises(DatasetError, match="unfinished build"):
        shards.read_index(out)
    again = shards.build_shards(corpus, out, shard_size=3, workers=1, progress=False)
    assert {n: os.stat(out / n).st_mtime_ns for n in kept} == kept  # not rebuilt
    strip = lambda index: {k: v for k, v in index.items() if k != "build_seconds"}  # noqa: E731
    assert strip(again) == strip(first)
    assert sorted(os.listdir(out)) == [shards.PLAN_NAME, *[f"shard-0000{k}.npz" for k in range(4)], shards.INDEX_NAME]


@pytest.mark.slow
def test_two_processes_build_the_same_shards(corpus, built, tmp_path):
    out, index = built
    parallel = shards.build_shards(corpus, tmp_path / "p", shard_size=3, workers=2, progress=False)
    assert parallel["shards"] == index["shards"] and parallel["digest"] == index["digest"]
    a, _ = all_pieces(out, index)
    b, _ = all_pieces(tmp_path / "p", parallel)
    assert a.keys() == b.keys() and all(np.array_equal(a[k][1], b[k][1]) for k in a)


def test_parallel_build_from_a_script_without_a_file(corpus, built, tmp_path):
    # as data.build_chorales: a program piped to `python -` cannot start "spawn" workers
    _, index = built
    program = ("import sys\nfrom deepaccomp import shards\n"
               "index = shards.build_shards(sys.argv[1], sys.argv[2], shard_size=3, workers=2, progress=False)\n"
               "print(index['pieces'])\n")
    out = subprocess.run([sys.executable, "-", str(corpus), str(tmp_path / "p")], input=program,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == str(index["pieces"])


def test_another_build_in_the_folder_is_refused_unless_forced(corpus, tmp_path):
    out = tmp_path / "out"
    shards.build_shards(corpus, out, shard_size=3, workers=1, progress=False)
    with pytest.raises(DatasetError, match="another build"):
        shards.build_shards(corpus, out, shard_size=4, workers=1, progress=False)
    index = shards.build_shards(corpus, out, shard_size=4, workers=1, progress=False, force=True)
    assert len(index["shards"]) == 3 and len([n for n in os.listdir(out) if n.startswith("shard-")]) == 3


def test_bad_inputs_give_clear_errors(corpus, built, tmp_path):
    out, _ = built
    with pytest.raises(DatasetError, match="not a folder"):
        shards.build_shards(tmp_path / "missing", tmp_path / "o")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no .mid"):
        shards.build_shards(tmp_path / "empty", tmp_path / "o")
    with pytest.raises(DatasetError, match="shard_size"):
        shards.build_shards(corpus, tmp_path / "o", shard_size=0)
    with pytest.raises(DatasetError, match="not a shard folder"):
        shards.read_index(corpus)
    with pytest.raises(DatasetError, match="key_normalize"):
        shards.read_index(out, key_normalize=False)
    with pytest.raises(DatasetError, match="unknown split"):
        shards.read_phrases(out, "everything")
    with pytest.raises(DatasetError, match="no train piece is 4 bars long"):  # the pieces have 2
        shards.read_phrases(out, "train", phrase_bars=4)
    bad = write_corpus(tmp_path / "bad", 0)  # only unusable files
    with pytest.raises(DatasetError, match="no usable piece"):
        shards.build_shards(bad, tmp_path / "o2", progress=False)


def stream(out, seed):
    return [x.numpy() for x in shards.read_phrases(out, "train", phrase_bars=1, seed=seed)]


@pytest.mark.slow
def test_the_stream_holds_every_train_phrase_in_an_order_fixed_by_the_seed(built):
    out, index = built
    pieces, _ = all_pieces(out, index)
    train = data.Dataset([r for _, r in pieces.values()], [p for p, _ in pieces.values()])
    expected = sorted(p.tobytes() for p in train.phrases("train", phrase_bars=1))
    first, again, other = stream(out, 0), stream(out, 0), stream(out, 1)
    assert len(expected) == len(first) > 8
    assert sorted(p.tobytes() for p in first) == expected
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


@pytest.mark.slow
def test_skipping_batches_of_the_stream_resumes_it(built):
    import tensorflow as tf

    out, _ = built

    def batches(skip, n):
        tf.random.set_seed(0)
        phrases = shards.read_phrases(out, "train", phrase_bars=1, seed=2)
        ds = data.make_tf_dataset(phrases, 4, seed=2, shuffle_buffer=16, skip_batches=skip)
        return [m.numpy() for m, _ in ds.take(n)]

    full, rest = batches(0, 6), batches(3, 3)
    assert all(np.array_equal(a, b) for a, b in zip(full[3:], rest))
    assert full[0].shape == (4, 16, 64, 1)


def test_the_monitor_gets_a_few_valid_pieces(built):
    out, index = built
    ds = shards.read_eval_dataset(out, n_melodies=1)
    assert len(ds.rolls) == 1 and ds.pieces[0]["split"] == ("valid" if index["splits"]["valid"] else "train")


@pytest.mark.slow
def test_training_reads_a_shard_folder(built, tmp_path):
    from deepaccomp import Accompanist, train

    out, _ = built
    cfg = tiny(iterations=2, batch_size=2, critic_updates=1, eval_every=2, checkpoint_every=2)
    gan = train(cfg.replace(data={"source": str(out)}), tmp_path, progress=False, verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == 2
    assert Accompanist.load(tmp_path).config.data.source == str(out)
    with pytest.raises(DatasetError, match="key_normalize"):
        train(cfg.replace(data={"source": str(out), "key_normalize": False}), tmp_path / "b", verbose=0)


def test_the_prepare_command_builds_shards_and_says_how_to_train(corpus, tmp_path, capsys):
    from deepaccomp.cli import main

    out = tmp_path / "out"
    assert main(["prepare", "--source", str(corpus), "--shards", str(out), "--shard-size", "5",
                 "--workers", "1"]) == 0
    said = capsys.readouterr().out
    assert f"shards: 3 in {out} (12 files: 10 pieces" in said and f"--source {out}" in said
    assert shards.read_index(out)["shard_size"] == 5
    assert main(["prepare", "--shards", str(tmp_path / "x")]) == 1  # the chorales need no shards
    assert main(["prepare", "--source", str(corpus), "--shard-size", "5"]) == 1  # without --shards
    assert main(["prepare", "--source", str(corpus), "--shards", str(out), "--shard-size", "4"]) == 1
    errors = capsys.readouterr().err
    assert "--shards builds a folder of MIDI files" in errors and "goes with --shards" in errors
    assert "another build" in errors and not os.path.exists(tmp_path / "x")
