"""A newcomer's first hour: bare ``deepaccomp``, ``--version``, a cached ``prepare``,
a quiet Python API, errors before the TensorBoard hint, Ctrl-C as one line."""

import json
import os
import subprocess
import sys

import pytest

from helpers import default_sigint, installed_command, make_midi
from deepaccomp import __version__
from deepaccomp.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"model": {"encoder_filters": [4, 8], "decoder_filters": [4], "noise_channels": 2,
                  "critic_filters": [4, 8]},
        "data": {"phrase_bars": 1},
        "train": {"iterations": 2, "batch_size": 8, "critic_updates": 2, "eval_every": 2,
                  "checkpoint_every": 2, "n_eval_melodies": 2}}


def clean_env(**extra):
    """The environment of a user's shell: no TF_CPP_MIN_LOG_LEVEL set by the tests; this checkout first."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def test_bare_command_prints_the_help(capsys):
    assert main([]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("usage: deepaccomp") and "prepare" in out and "generate" in out and "train" in out
    assert err == ""


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"deepaccomp {__version__}"



def satb_folder(folder):
    """Three short SATB pieces of three different tunes (a tune in both splits would be left out of train)."""
    folder.mkdir()
    for k in range(3):
        satb = [(name, 52, [(p + (i * (k + 2)) % 7, i, i + 1) for i in range(32)])
                for name, p in (("Soprano", 72), ("Alto", 65), ("Tenor", 57), ("Bass", 45))]
        make_midi(satb).write(str(folder / f"piece{k}.mid"))
    return folder


def test_a_cached_prepare_says_it_used_the_cache(tmp_path, capsys):
    src = satb_folder(tmp_path / "src")
    args = ["prepare", "--source", str(src), "--dataset-dir", str(tmp_path / "ds"), "--workers", "1"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert "built in" in first and "reused" not in first
    assert main(args) == 0
    second = capsys.readouterr().out
    assert "the cached build, reused" in second and "built in" not in second
    assert main(args + ["--force"]) == 0
    assert "built in" in capsys.readouterr().out


def test_score_table_shows_a_silent_voice_as_a_dash_not_nan():
    import numpy as np

    from deepaccomp.evaluation import score_table

    generated = {"harmonic_agreement": np.array([0.5, np.nan, 0.25]), "n_pieces": 2, "seed_difference": 0.1}
    bach = {"harmonic_agreement": np.ones(3), "n_pieces": 2}
    table = score_table({"generated": generated, "Bach": bach})
    assert "nan" not in table.lower()
    assert "0.500       -   0.250" in table and "no value" in table


def test_project_path_is_the_checkout_not_the_current_folder(tmp_path, monkeypatch):
    from deepaccomp.io_utils import project_path

    monkeypatch.chdir(tmp_path)
    assert project_path("datasets") == os.path.join(ROOT, "datasets")


@pytest.mark.slow
def test_the_python_api_prints_no_tensorflow_start_up_noise(tmp_path):
    script = ("import deepaccomp\n"
              "from deepaccomp import Accompanist\n"
              "acc = Accompanist()\n"
              f"acc.generate({os.path.join(ROOT, 'deepaccomp', 'assets', 'examples', 'twinkle.mid')!r}, seed=0)\n"
              "print('OK')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env=clean_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "OK"
    assert proc.stderr == "", proc.stderr[:2000]


def test_train_errors_come_before_any_tensorboard_hint(tmp_path, capsys):
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    ckpts = tmp_path / "run" / "checkpoints"
    ckpts.mkdir(parents=True)
    (ckpts / "checkpoint").write_bytes(b"\x00garbage")
    rc = main(["train", "--config", str(cfg), "--logdir", str(tmp_path / "run"),
               "--dataset-dir", str(tmp_path / "ds")])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "tensorboard" not in out + err
    assert [line for line in err.splitlines() if line.strip()] == [err.strip()]
    assert err.startswith("deepaccomp: error: ") and "checkpoint index is unreadable" in err


def test_ctrl_c_during_training_is_one_line_and_exit_130(tmp_path, monkeypatch, capsys):
    import deepaccomp.training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt("SIGINT at iteration 7: checkpoint saved in x; run the same command again to resume")

    monkeypatch.setattr(deepaccomp.training, "train", interrupted)
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps(TINY))
    rc = main(["train", "--config", str(cfg), "--logdir", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert rc == 130
    assert err.strip() == ("deepaccomp: interrupted by SIGINT at iteration 7: checkpoint saved in x; "
                           "run the same command again to resume")


@pytest.mark.slow
def test_sigint_saves_exits_130_and_a_second_run_is_refused_meanwhile(tmp_path, capsys):
    import signal
    import time

    src = satb_folder(tmp_path / "src")
    cfg = tmp_path / "tiny.json"
    cfg.write_text(json.dumps({**TINY, "data": {"phrase_bars": 1, "source": str(src)}}))
    logdir = tmp_path / "run"
    args = ["train", "--config", str(cfg), "--logdir", str(logdir), "--dataset-dir", str(tmp_path / "ds"),
            "--iterations", "100000", "--eval-every", "1000", "--no-progress"]
    # the installed command, as a user runs it: its entry point has a Ctrl-C handler of its own
    proc = subprocess.Popen([installed_command(), *args], cwd=tmp_path, env=clean_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    try:
        deadline = time.time() + 240
        while not list((logdir / "checkpoints").glob("ckpt-*.index")):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.time() < deadline, "no checkpoint in time"
            time.sleep(0.2)
        assert main(args) == 1  # the logdir is locked by the running process
        err = capsys.readouterr().err
        assert f"in use by another training run (pid {proc.pid}" in err and "tensorboard" not in err
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert "oneDNN" not in err and "cuda" not in err.lower()  # no TensorFlow start-up chatter
    last = err.strip().splitlines()[-1]
    assert last.startswith("deepaccomp: interrupted by SIGINT at iteration ") and "checkpoint saved" in last
    stopped = int(last.split("iteration ")[1].split(":")[0])
    assert (logdir / "checkpoints" / f"ckpt-{stopped}.index").exists()
    assert json.loads((logdir / "timing.json").read_text())["interrupted"] == 1
    assert not (logdir / "train.lock").exists()
