"""Training never silently throws work away: a damaged checkpoint index, a second run on
the same logdir, SIGINT/SIGTERM, wall-time checkpoints, leftovers of a kill, a failed start."""

import errno
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from helpers import tiny as shared_tiny

tf = pytest.importorskip("tensorflow")

from deepaccomp.errors import CheckpointError, DatasetError, TrainingError  # noqa: E402
from deepaccomp.training import LOCK_NAME, train  # noqa: E402

def tiny(**train_overrides):
    return shared_tiny(**{"critic_updates": 2, "n_eval_melodies": 2, **train_overrides})


@pytest.fixture(scope="module")
def finished(small, tmp_path_factory):
    """A finished 4-iteration run (checkpoints 2 and 4), trained once for the module."""
    logdir = tmp_path_factory.mktemp("finished") / "run"
    gan = train(tiny(), str(logdir), dataset=small, progress=False, verbose=0)
    return logdir, [w.copy() for w in weights(gan)]


@pytest.fixture
def done(finished, tmp_path):
    """A copy of the finished run in this test's own folder."""
    shutil.copytree(finished[0], tmp_path / "run")
    return tmp_path / "run"


def run(cfg, logdir, small, **kw):
    kw.setdefault("verbose", 0)
    return train(cfg, str(logdir), dataset=small, progress=False, **kw)


def weights(gan):
    return gan.generator.get_weights() + gan.critic.get_weights()


def snapshot(folder):
    """``{relative path: bytes}`` of every file under ``folder``."""
    out = {}
    for root, _, files in os.walk(folder):
        for f in files:
            path = os.path.join(root, f)
            with open(path, "rb") as fh:
                out[os.path.relpath(path, folder)] = fh.read()
    return out


def numbers(logdir):
    return sorted(int(p.rsplit("-", 1)[1].split(".")[0])
                  for p in glob.glob(os.path.join(str(logdir), "checkpoints", "ckpt-*.index")))


def timing(logdir):
    with open(os.path.join(str(logdir), "timing.json")) as fh:
        return json.load(fh)


# ---------------------------------------------------------------------- the checkpoint index
@pytest.mark.slow  # trains a model (the finished fixture)
@pytest.mark.parametrize("content", [b"\x00\xff garbage {{{", b"", b'model_checkpoint_path: "ckpt-77"\n'])
def test_a_damaged_checkpoint_index_stops_and_touches_nothing(small, done, content):
    state = done / "checkpoints" / "checkpoint"
    state.write_bytes(content)
    before = snapshot(done)
    with pytest.raises(CheckpointError) as err:
        run(tiny(iterations=6), done, small)
    message = str(err.value)
    assert str(state) in message and "ckpt-2, ckpt-4" in message and 'model_checkpoint_path: "ckpt-4"' in message
    assert "\n" not in message
    assert snapshot(done) == before  # no restart from zero, nothing overwritten
    # the recovery the message gives works: the run is back at iteration 4
    state.write_text('model_checkpoint_path: "ckpt-4"\n')
    assert int(run(tiny(), done, small).g_optimizer.iterations.numpy()) == 4


@pytest.mark.slow  # trains a model (the finished fixture)
def test_checkpoints_without_their_index_are_not_overwritten(small, done):
    os.remove(done / "checkpoints" / "checkpoint")
    before = snapshot(done)
    with pytest.raises(CheckpointError, match="is missing"):
        run(tiny(), done, small)
    assert snapshot(done) == before


# ---------------------------------------------------------------------- the logdir lock
def write_lock(logdir, pid, host=None, **info):
    os.makedirs(logdir, exist_ok=True)
    with open(os.path.join(str(logdir), LOCK_NAME), "w") as fh:
        json.dump({"pid": pid, "host": host or socket.gethostname(), "started": time.time(), **info}, fh)


@pytest.mark.slow  # trains a model (the finished fixture)
def test_a_second_run_on_a_locked_logdir_is_refused(small, done):
    before = snapshot(done)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        write_lock(done, alive.pid)
        with pytest.raises(TrainingError, match=f"in use by another training run \\(pid {alive.pid}"):
            run(tiny(iterations=6), done, small)
    finally:
        alive.kill()
        alive.wait()
    write_lock(done, 1, host="another-machine")  # cannot be checked from here: refused too
    with pytest.raises(TrainingError, match="another-machine"):
        run(tiny(iterations=6), done, small)
    os.remove(done / LOCK_NAME)
    assert snapshot(done) == before


@pytest.mark.slow
def test_a_stale_lock_is_taken_over_and_its_killed_run_recorded(small, tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_lock(tmp_path, dead.pid, start_iteration=0, iteration=3, seconds=12.5)
    gan = run(tiny(), tmp_path, small, verbose=1)
    assert int(gan.g_optimizer.iterations.numpy()) == 4
    err = capsys.readouterr().err
    assert f"took over the stale lock {tmp_path / LOCK_NAME}" in err and f"process {dead.pid} is gone" in err
    t = timing(tmp_path)
    assert t["killed"] == 1 and t["finished"] == 1 and t["invocations"] == 2
    assert t["iterations"] == 3 + 4 and t["training_seconds"] >= 12.5
    assert not (tmp_path / LOCK_NAME).exists()  # released at the end


@pytest.mark.slow
def test_the_lock_is_released_after_an_error(small, tmp_path, nan_critic):
    with pytest.raises(TrainingError, match="non-finite"):
        run(tiny(), tmp_path, small)
    assert not (tmp_path / LOCK_NAME).exists()
    assert timing(tmp_path)["failed"] == 1
    assert not numbers(tmp_path)  # no checkpoint of a broken state


# ---------------------------------------------------------------------- signals and wall time
def signal_after_first_checkpoint(logdir, signum):
    def send():
        deadline = time.time() + 120
        while not numbers(logdir) and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize("signum, raised", [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)])
def test_a_signal_saves_a_checkpoint_and_the_run_resumes_bit_for_bit(small, tmp_path, signum, raised):
    logdir = tmp_path / "stopped"
    thread = signal_after_first_checkpoint(logdir, signum)
    with pytest.raises(raised) as err:
        run(tiny(iterations=100000, eval_every=1000), logdir, small)
    thread.join()
    stopped = numbers(logdir)[-1]
    assert stopped >= 2
    if raised is SystemExit:
        assert err.value.code == 128 + signal.SIGTERM
    else:
        assert f"SIGINT at iteration {stopped}: checkpoint saved" in str(err.value)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert not (logdir / LOCK_NAME).exists()
    assert timing(logdir)["interrupted"] == 1
    # resumed to two iterations further, it ends where a run never stopped ends
    end = stopped + 3
    resumed = run(tiny(iterations=end, eval_every=1000), logdir, small)
    whole = run(tiny(iterations=end, eval_every=1000), tmp_path / "whole", small)
    assert all(np.array_equal(a, b) for a, b in zip(weights(whole), weights(resumed)))


@pytest.mark.slow
def test_wall_time_checkpoints_change_nothing_in_the_run(small, tmp_path):
    often = tiny(iterations=3, checkpoint_every=100, checkpoint_minutes=1e-9)  # a save after every iteration
    run(often, tmp_path / "often", small)
    assert numbers(tmp_path / "often") == [1, 2, 3]
    resumed = run(tiny(iterations=5, checkpoint_every=100, checkpoint_minutes=1e-9), tmp_path / "often", small)
    whole = run(tiny(iterations=5, checkpoint_every=100), tmp_path / "whole", small)
    assert numbers(tmp_path / "whole") == [5]
    assert all(np.array_equal(a, b) for a, b in zip(weights(whole), weights(resumed)))


def test_checkpoint_minutes_is_validated():
    from deepaccomp.errors import ConfigError

    for bad in (0, -1, float("inf"), float("nan")):
        with pytest.raises(ConfigError, match="checkpoint_minutes"):
            tiny(checkpoint_minutes=bad)


# ---------------------------------------------------------------------- leftovers and restarts
@pytest.mark.slow  # trains a model (the finished fixture)
def test_temp_folders_of_a_killed_save_are_removed(small, done):
    (done / "checkpoints" / "ckpt-5_temp").mkdir()
    (done / "checkpoints" / "ckpt-6_temp").mkdir()
    (done / "checkpoints" / "ckpt-6_temp" / "part-00000-of-00001.index").write_bytes(b"x")
    run(tiny(), done, small)
    assert not glob.glob(str(done / "checkpoints" / "*_temp"))
    assert numbers(done) == [2, 4]


@pytest.mark.slow
def test_a_failed_start_leaves_no_config_that_blocks_the_corrected_one(small, tmp_path):
    with pytest.raises(DatasetError):
        train(tiny().replace(data={"source": str(tmp_path / "no-such-folder")}), str(tmp_path / "run"),
              progress=False, verbose=0, dataset_dir=str(tmp_path / "ds"))
    assert not (tmp_path / "run" / "config.json").exists()
    assert not (tmp_path / "run" / LOCK_NAME).exists()
    corrected = tiny(iterations=2).replace(model={"noise_channels": 3})
    gan = run(corrected, tmp_path / "run", small)
    assert int(gan.g_optimizer.iterations.numpy()) == 2


@pytest.mark.slow
def test_a_stale_config_without_checkpoints_is_replaced(small, tmp_path):
    tiny().replace(model={"noise_channels": 5}).save(str(tmp_path / "config.json"))
    run(tiny(iterations=2), tmp_path, small)
    from deepaccomp.config import Config

    assert Config.load(str(tmp_path / "config.json")) == tiny(iterations=2)


@pytest.mark.slow  # trains a model (the finished fixture)
def test_a_finished_run_says_so_and_is_not_trained_again(small, finished, done, capsys):
    before = snapshot(done / "checkpoints")
    again = run(tiny(), done, small, verbose=1)
    err = capsys.readouterr().err
    assert "already trained to iteration 4" in err and "nothing to do" in err and "tensorboard" not in err
    assert all(np.array_equal(a, b) for a, b in zip(finished[1], weights(again)))
    assert snapshot(done / "checkpoints") == before


@pytest.mark.slow
def test_every_run_ends_with_an_evaluation(small, tmp_path):
    run(tiny(iterations=3, eval_every=2, checkpoint_every=2), tmp_path, small)
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "samples" / "*.mid"))) == [
        "iter_000000.mid", "iter_000002.mid", "iter_000003.mid"]


@pytest.mark.slow
def test_progress_counts_the_iterations_asked_for_and_estimates_the_time(small, tmp_path, capsys):
    train(tiny(iterations=13, eval_every=100, checkpoint_every=100), str(tmp_path), dataset=small,
          progress=True, verbose=1)
    err = capsys.readouterr().err
    assert "13/13" in err and "s per iteration here" in err and "iterations left take about" in err
    assert "Epoch" not in err and "/100" not in err  # no per-checkpoint-block Keras bar
    assert err.index("tensorboard --logdir") < err.index("13/13")


# ---------------------------------------------------------------------- fewer iterations, a full disk
@pytest.mark.slow  # trains a model (the finished fixture)
def test_resuming_with_fewer_iterations_keeps_the_model_stamped_with_the_true_count(small, finished, done, capsys):
    # before: generator.npz was rewritten stamped with the 2 iterations asked, holding the weights of 4
    from deepaccomp import artifact

    again = run(tiny(iterations=2), done, small, verbose=1)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already trained to iteration 4 (asked: 2)" in err[0] and "Model (iteration 4)" in err[0]
    cfg, exported = artifact.read(done / "generator.npz")
    assert cfg.train.iterations == 4 and numbers(done) == [2, 4]
    assert all(np.array_equal(a, b) for a, b in zip(exported, again.exported_generator.get_weights()))


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.slow  # trains a model (the finished fixture)
def test_a_full_disk_at_the_export_names_the_last_good_checkpoint(small, done, monkeypatch):
    from deepaccomp import artifact
    from deepaccomp.errors import OutputFileError

    monkeypatch.setattr(artifact, "atomic_write_bytes", disk_full)
    with pytest.raises(OutputFileError, match=r"disk is full.*last good checkpoint is at iteration 4"):
        run(tiny(), done, small)


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_is_an_output_file_error_and_the_run_resumes(small, tmp_path, monkeypatch):
    # before: TensorFlow's ResourceExhaustedError came through raw
    from deepaccomp.errors import OutputFileError

    real_save = tf.train.CheckpointManager.save

    def fills_up(self, *args, **kwargs):
        if self.latest_checkpoint is None:
            return real_save(self, *args, **kwargs)
        os.makedirs(os.path.join(self.directory, "ckpt-4_temp"))  # what a save cut short leaves
        raise tf.errors.ResourceExhaustedError(None, None, "ckpt-4_temp/part-00000; No space left on device")

    monkeypatch.setattr(tf.train.CheckpointManager, "save", fills_up)
    with pytest.raises(OutputFileError, match=r"disk is full.*last good checkpoint is at iteration 2") as info:
        run(tiny(), tmp_path, small)
    assert len(str(info.value).splitlines()) == 1 and not (tmp_path / "checkpoints" / "ckpt-4_temp").exists()
    monkeypatch.setattr(tf.train.CheckpointManager, "save", real_save)
    run(tiny(), tmp_path, small)
    assert numbers(tmp_path) == [2, 4]
