"""Multi-worker training for real: two processes on 127.0.0.1 joined by ``TF_CONFIG``.

Each test starts two workers (``tf.distribute.MultiWorkerMirroredStrategy``
over gRPC on two free local ports), waits for them with a hard deadline and
kills them if it passes, so a hung collective fails the test instead of
hanging it. The workers train a tiny config: through the Python API on 12
chorales saved where ``prepare`` finds its cache, and through the command line on
a shard folder of 20 small pieces. The fast tests at the end check the settings
and messages without starting a cluster.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import SIMPLE, make_midi, tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEADLINE = 420.0
"""Seconds one phase of a test (start to finish of both workers) may take before they are killed."""

WORKER = """
import sys
import numpy as np
from deepaccomp import Config, train
gan = train(Config.load(sys.argv[1]), sys.argv[2], dataset_dir=sys.argv[3], progress=False)
np.savez(sys.argv[4], *gan.generator.get_weights(), *gan.critic.get_weights(), *gan.exported_generator.get_weights())
"""
"""A worker through the Python API: trains, then writes every weight it ends with (and the weight average it exports)."""


def free_ports(n: int = 2) -> list:
    """``n`` distinct ports that were free a moment ago (bound to port 0 together, then released)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def tf_config(ports, index: int) -> str:
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                       "task": {"type": "worker", "index": index}})


@pytest.fixture(scope="module")
def cluster_files(small, tmp_path_factory):
    """``datasets/``: the 12 chorales as ``prepare``'s cache; ``shards/``: 20 two-bar four-part pieces as shards."""
    from deepaccomp import data, shards

    root = tmp_path_factory.mktemp("cluster")
    (root / "datasets").mkdir()
    small.save(data.dataset_path("chorales", dataset_dir=str(root / "datasets")))
    (root / "midi").mkdir()
    for i in range(20):
        satb = [(name, 52, [(p + (i * k) % 7, k, k + 1) for k in range(8)])
                for name, p in (("Soprano", 72), ("Alto", 65), ("Tenor", 57), ("Bass", 45))]
        make_midi(satb).write(str(root / "midi" / f"piece{i:02d}.mid"))
    shards.build_shards(root / "midi", root / "shards", shard_size=6, workers=1, progress=False)
    return root


def start(args, ports, index, log):
    env = dict(os.environ, TF_CONFIG=tf_config(ports, index), TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, *args], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def wait_all(procs, deadline: float = DEADLINE) -> list:
    """Return codes of ``procs``; kills every one of them and fails once ``deadline`` seconds have passed."""
    end = time.monotonic() + deadline
    try:
        for p in procs:
            p.wait(timeout=max(1.0, end - time.monotonic()))
    except subprocess.TimeoutExpired:
        pytest.fail(f"the workers did not finish within {deadline:.0f} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return [p.returncode for p in procs]


def text(path) -> str:
    return path.read_text(errors="replace")


@pytest.mark.slow
def test_two_workers_train_the_same_weights_and_the_chief_exports(cluster_files, tmp_path):
    from deepaccomp import Accompanist

    cfg_path, logdir = tmp_path / "config.json", tmp_path / "run"
    tiny(iterations=4, eval_every=2, checkpoint_every=2, distribute="multi-worker").save(cfg_path)
    ports, procs, logs = free_ports(), [], []
    for i in range(2):
        logs.append(tmp_path / f"worker{i}.log")
        procs.append(start(["-c", WORKER, str(cfg_path), str(logdir), str(cluster_files / "datasets"),
                            str(tmp_path / f"weights{i}.npz")], ports, i, logs[-1].open("w")))
    codes = wait_all(procs)
    assert codes == [0, 0], "\n\n".join(text(p)[-3000:] for p in logs)

    with np.load(tmp_path / "weights0.npz") as a, np.load(tmp_path / "weights1.npz") as b:
        assert len(a.files) == len(b.files) > 10
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    timing = json.loads((logdir / "timing.json").read_text())
    assert (timing["iterations"], timing["finished"]) == (4, 1)
    assert (logdir / "checkpoints" / "ckpt-4.index").exists() and (logdir / "samples").is_dir()
    assert not (logdir / "train.lock").exists()
    scratch = re.search(r"writing to (\S+) \(deleted at the end\)", text(logs[1])).group(1)
    assert not os.path.exists(scratch)  # the other worker's checkpoints and logs are gone
    assert "on 2 replicas" in text(logs[0])

    acc = Accompanist.load(logdir)
    song = acc.generate(make_midi(SIMPLE), seed=0)
    assert len(song.instruments) == 4 and song.instruments[0].notes


@pytest.mark.slow
def test_a_killed_worker_restarts_and_the_job_completes_from_the_checkpoint(cluster_files, tmp_path):
    cfg_path, logdir = tmp_path / "config.json", tmp_path / "run"
    tiny(iterations=12, eval_every=12, checkpoint_every=2).save(cfg_path)
    # the command line, reading shards
    command = ["-m", "deepaccomp", "train", "--config", str(cfg_path), "--logdir", str(logdir),
               "--source", str(cluster_files / "shards"), "--no-progress", "--distribute", "multi-worker"]

    ports, logs = free_ports(), [tmp_path / "first0.log", tmp_path / "first1.log"]
    procs = [start(command, ports, i, logs[i].open("w")) for i in range(2)]
    ckpt = logdir / "checkpoints"
    end = time.monotonic() + DEADLINE
    while not (ckpt / "ckpt-4.index").exists():
        if time.monotonic() > end or any(p.poll() is not None for p in procs):
            wait_all(procs, 1)
            pytest.fail("no checkpoint of iteration 4 appeared:\n" + "\n\n".join(text(p)[-3000:] for p in logs))
        time.sleep(0.2)
    procs[1].send_signal(signal.SIGKILL)  # worker 1 dies mid-run
    procs[1].wait()
    # the chief cannot go on without it: its heartbeat check aborts the collectives, and it stops with one line
    assert wait_all(procs[:1], 180) == [1]
    said = text(logs[0])
    assert "deepaccomp: error: the multi-worker run stopped:" in said and "start every worker again" in said
    assert "Traceback" not in said
    killed_at = max(int(m) for m in re.findall(r"ckpt-(\d+)\.index", " ".join(os.listdir(ckpt))))
    assert 4 <= killed_at < 12

    ports, logs = free_ports(), [tmp_path / "again0.log", tmp_path / "again1.log"]
    codes = wait_all([start(command, ports, i, logs[i].open("w")) for i in range(2)])
    assert codes == [0, 0], "\n\n".join(text(p)[-3000:] for p in logs)
    assert f"from iteration {killed_at} to 12 (16 train pieces streamed from 4 shards" in text(logs[0])
    assert (ckpt / "ckpt-12.index").exists() and (logdir / "generator.npz").exists()
    timing = json.loads((logdir / "timing.json").read_text())
    assert timing["finished"] == 1 and timing["invocations"] == 2


@pytest.mark.parametrize("value, fragment", [
    (None, "needs the TF_CONFIG environment variable"),
    ("{not json", "not valid JSON"),
    ('{"cluster": {"worker": []}, "task": {"type": "worker", "index": 0}}', "cluster.worker"),
    ('{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", "index": 0}}', "'host:port'"),
    ('{"cluster": {"ps": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "cluster.ps"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "is not in its cluster"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "is not in its cluster"),
    ('{"cluster": {"worker": ["a:1"]}}', "a 'task' object"),
])
def test_a_bad_tf_config_is_a_config_error(monkeypatch, value, fragment):
    from deepaccomp.errors import ConfigError
    from deepaccomp.training import make_strategy, read_tf_config

    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        read_tf_config()
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        make_strategy("multi-worker")


def test_a_good_tf_config_is_read(monkeypatch):
    from deepaccomp.training import read_tf_config

    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["c:1"], "worker": ["a:2", "[::1]:3"]},
                                                "task": {"type": "worker", "index": 1}}))
    assert read_tf_config()["task"] == {"type": "worker", "index": 1}


def test_the_distribute_setting_is_checked_and_is_a_train_flag():
    from deepaccomp.cli import build_train_config, make_parser
    from deepaccomp.errors import ConfigError

    with pytest.raises(ConfigError, match="train.distribute must be one of"):
        tiny(distribute="everywhere")
    args = make_parser().parse_args(["train", "--distribute", "multi-worker", "--source", "shards/x"])
    cfg = build_train_config(args)
    assert (cfg.train.distribute, cfg.data.source) == ("multi-worker", "shards/x")


def test_a_batch_that_does_not_divide_by_the_replicas_stops_the_start(small, tmp_path):
    import types

    from deepaccomp import train
    from deepaccomp.errors import TrainingError

    three = types.SimpleNamespace(num_replicas_in_sync=3, extended=types.SimpleNamespace(should_checkpoint=True))
    with pytest.raises(TrainingError, match=r"batch_size 8 .* by the 3 replicas .*use a multiple of 3"):
        train(tiny(batch_size=8), tmp_path, dataset=small, strategy=three, verbose=0)
    assert not os.path.exists(tmp_path / "config.json") and not os.path.exists(tmp_path / "train.lock")
