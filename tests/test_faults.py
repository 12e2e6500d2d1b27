"""Training survives SIGKILL: resume from the last complete checkpoint with its exact state,
and finish exactly where an uninterrupted run finishes."""

import glob
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

RUN = textwrap.dedent("""
    import sys
    from deepaccomp import data, preset
    from deepaccomp.training import train
    ds = data.build_chorales(limit=12, workers=1, progress=False)
    cfg = preset("default").replace(
        model={"encoder_filters": [4, 8], "decoder_filters": [4], "noise_channels": 2,
               "critic_filters": [4, 8]},
        data={"phrase_bars": 1},
        train={"iterations": int(sys.argv[2]), "batch_size": 8, "critic_updates": 2,
               "eval_every": 1000, "checkpoint_every": 2, "n_eval_melodies": 2, "keep_checkpoints": 3})
    train(cfg, sys.argv[1], dataset=ds, progress=False, verbose=0)
""")


def run_training(logdir, iterations, **kw):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-c", RUN, str(logdir), str(iterations)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)


def latest_number(logdir):
    path = tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints"))
    return int(path.rsplit("-", 1)[1]) if path else None


def checkpoint_tensors(path):
    """The generator's variables as stored in a checkpoint file: Keras 3 layers are
    reached through the optimizer that tracks them (trainable) and the model (BN stats)."""
    reader = tf.train.load_checkpoint(path)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if k.startswith(("generator/", "g_optimizer/_trainable_variables/"))}


@pytest.mark.slow
@pytest.mark.parametrize("trial", [0, 1])
def test_sigkill_then_resume_from_last_complete_checkpoint(tmp_path, trial):
    logdir = str(tmp_path / "run")
    proc = run_training(logdir, 100000)
    deadline = time.time() + 240
    while latest_number(logdir) is None:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.time() < deadline, "no checkpoint written in time"
        time.sleep(0.2)
    time.sleep(random.Random(trial).uniform(0.0, 3.0))  # kill at a random point, maybe mid-save
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stopped_at = latest_number(logdir)
    ckpt = tf.train.latest_checkpoint(os.path.join(logdir, "checkpoints"))
    saved = checkpoint_tensors(ckpt)
    assert saved

    # a half-written newer checkpoint (files present, never registered) must not be loaded
    for f in glob.glob(ckpt + ".*"):
        with open(f, "rb") as src, open(f.replace(f"ckpt-{stopped_at}", "ckpt-99998"), "wb") as dst:
            dst.write(src.read()[: 100])

    # resume to exactly the saved iteration: the restored state is the checkpoint's, bit for bit
    from deepaccomp import data, preset
    from deepaccomp.training import train

    ds = data.build_chorales(limit=12, workers=1, progress=False)
    cfg = preset("default").replace(
        model={"encoder_filters": [4, 8], "decoder_filters": [4], "noise_channels": 2,
               "critic_filters": [4, 8]},
        data={"phrase_bars": 1},
        train={"iterations": stopped_at, "batch_size": 8, "critic_updates": 2, "eval_every": 1000,
               "checkpoint_every": 2, "n_eval_melodies": 2, "keep_checkpoints": 3})
    gan = train(cfg, logdir, dataset=ds, progress=False, verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == stopped_at
    # the killed run's lock was found stale and taken over; the kill is on record
    assert not os.path.exists(os.path.join(logdir, "train.lock"))
    with open(os.path.join(logdir, "timing.json")) as fh:
        assert json.load(fh)["killed"] == 1
    assert int(gan.critic_steps.numpy()) == 2 * stopped_at
    restored = sorted(np.asarray(w).tobytes() for w in gan.generator.weights)
    assert sorted(v.tobytes() for v in saved.values()) == restored

    # and the run goes on from there
    more = train(cfg.replace(train={"iterations": stopped_at + 4}), logdir, dataset=ds,
                 progress=False, verbose=0)
    assert int(more.g_optimizer.iterations.numpy()) == stopped_at + 4
    assert latest_number(logdir) == stopped_at + 4
    # ending bit for bit where a run that was never killed ends
    whole = train(cfg.replace(train={"iterations": stopped_at + 4}), str(tmp_path / "whole"),
                  dataset=ds, progress=False, verbose=0)
    for a, b in zip(whole.generator.weights + whole.critic.weights, more.generator.weights + more.critic.weights):
        assert np.array_equal(np.asarray(a), np.asarray(b)), a.path
