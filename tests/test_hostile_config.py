"""Configs from outside: every setting's type and bound is checked before anything is allocated,
and a config that validates exports a model file its own loader accepts."""

import math
import os
import resource
import subprocess
import sys

import numpy as np
import pytest

from helpers import TINY_MODEL
from deepaccomp import Config, artifact, config, preset
from deepaccomp.errors import ConfigError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_text(tmp_path, text: str) -> Config:
    path = tmp_path / "config.json"
    path.write_text(text)
    return Config.load(path)


@pytest.mark.parametrize("setting, value", [
    ("iterations", "Infinity"), ("iterations", "NaN"), ("iterations", "-Infinity"),
    ("iterations", "9" * 5000), ("iterations", "-" + "9" * 5000), ("iterations", "1e400"),
    ("gp_weight", "Infinity"), ("gp_weight", "9" * 5000), ("generator_lr", "Infinity"), ("critic_lr", "0"),
    ("beta_1", "NaN"), ("beta_2", "-0.5"), ("beta_1", "1.0"), ("reconstruction_weight", "-1"),
    ("checkpoint_minutes", "9" * 400), ("batch_size", "1000000000"), ("shuffle_buffer", "1073741824"),
    ("critic_updates", "1000"), ("n_eval_melodies", "1000000"), ("keep_checkpoints", "1000000"),
])
def test_a_hostile_number_in_a_config_file_is_a_config_error_naming_it(tmp_path, setting, value):
    # before: OverflowError / ValueError for Infinity, NaN and 5,000 digits; non-finite rates accepted
    with pytest.raises(ConfigError, match=rf"train\.{setting}\b") as info:
        load_text(tmp_path, '{"train": {"%s": %s}}' % (setting, value))
    assert len(str(info.value)) < 400


def test_a_config_file_larger_than_the_limit_is_refused_unread(tmp_path):
    with pytest.raises(ConfigError, match="too large for a config file"):
        load_text(tmp_path, '{"preset": "' + "p" * config.MAX_CONFIG_BYTES + '"}')


@pytest.mark.parametrize("name", ["p" * 10_000_000, "p" * (config.MAX_PRESET_CHARS + 1), "", "two\nlines", 7])
def test_a_preset_name_beyond_its_bound_is_refused(name):
    d = preset("default").to_dict()
    d["preset"] = name
    with pytest.raises(ConfigError, match="preset must be a name") as info:
        Config.from_dict(d)
    assert len(str(info.value)) < 400


@pytest.mark.parametrize("source", ["s" * (config.MAX_SOURCE_CHARS + 1), "a\0b"])
def test_a_source_beyond_its_bound_is_refused(source):
    with pytest.raises(ConfigError, match="data.source"):
        preset("default").replace(data={"source": source})


def beyond(bound):
    """Values just outside ``bound`` on both sides, and the non-numbers it must refuse."""
    step = 1 if bound.whole else 0
    low = bound.low if bound.open_low else (bound.low - 1 if bound.whole else math.nextafter(bound.low, -math.inf))
    high = bound.high if bound.open_high else (bound.high + 1 if bound.whole else bound.high * 2)
    out = [low, high, math.nan, math.inf, "1", None, True, [1]]
    return out + ([bound.low + 0.5] if step else [])


@pytest.mark.parametrize("key", sorted(config.SETTING_BOUNDS))
def test_every_setting_is_refused_just_beyond_its_bound(key):
    section, name = key.split(".")
    for value in beyond(config.SETTING_BOUNDS[key]):
        with pytest.raises(ConfigError, match=key) as info:
            preset("default").replace(**{section: {name: value}})
        assert len(str(info.value)) < 400, str(info.value)


def test_the_batch_and_the_shuffle_buffer_are_bounded_by_their_cells():
    cfg = preset("deepcomposer")
    cells = cfg.phrase_steps * cfg.window.size
    t = cfg.train
    largest = config.MAX_BATCH_CELLS // (t.critic_updates * cells)
    assert cfg.replace(train={"batch_size": largest}).train.batch_size == largest
    with pytest.raises(ConfigError, match=f"batch_size of at most {largest}"):
        cfg.replace(train={"batch_size": largest + 1})
    tracks = len(cfg.track_layout.tracks)
    buffer = config.MAX_SHUFFLE_CELLS // (cells * tracks)
    assert cfg.replace(train={"shuffle_buffer": buffer}).train.shuffle_buffer == buffer
    with pytest.raises(ConfigError, match=f"shuffle_buffer of at most {buffer}"):
        cfg.replace(train={"shuffle_buffer": buffer + 1})


def at_every_bound() -> Config:
    """The tiny model with every free string at its longest and every training number at its bound."""
    cfg = preset("default").replace(model=TINY_MODEL, data={"phrase_bars": 1})
    cells = cfg.phrase_steps * cfg.window.size
    critic = config.MAX_CRITIC_UPDATES
    d = cfg.to_dict()
    d["preset"] = "P" * config.MAX_PRESET_CHARS
    d["data"]["source"] = "/" + "\U0001F3B5" * (config.MAX_SOURCE_CHARS - 1)  # 4 bytes each in UTF-8
    d["train"].update(
        iterations=config.MAX_TRAIN_INTEGER, eval_every=config.MAX_TRAIN_INTEGER,
        checkpoint_every=config.MAX_TRAIN_INTEGER, critic_updates=critic,
        batch_size=config.MAX_BATCH_CELLS // (critic * cells),
        shuffle_buffer=config.MAX_SHUFFLE_CELLS // (cells * len(cfg.track_layout.tracks)),
        keep_checkpoints=config.MAX_KEEP_CHECKPOINTS, n_eval_melodies=config.MAX_EVAL_MELODIES,
        generator_lr=config.MAX_LEARNING_RATE, critic_lr=config.MAX_LEARNING_RATE,
        gp_weight=config.MAX_LOSS_WEIGHT, reconstruction_weight=config.MAX_LOSS_WEIGHT,
        pitch_weight=config.MAX_LOSS_WEIGHT, diversity_weight=config.MAX_LOSS_WEIGHT,
        beta_1=math.nextafter(1.0, 0.0), beta_2=math.nextafter(1.0, 0.0), average_decay=math.nextafter(1.0, 0.0),
        checkpoint_minutes=config.MAX_CHECKPOINT_MINUTES, seed=config.SEED_LIMIT - 1, transpose_range=12)
    d["generation"].update(onset_cost=config.MAX_DECODE_COST, parallel_cost=config.MAX_DECODE_COST,
                           leap_cost=config.MAX_DECODE_COST, noise_scale=config.MAX_NOISE_SCALE)
    return Config.from_dict(d)


class Untrained:
    """Stands in for a generator: zero weights of the config's shapes (no network is built)."""

    def __init__(self, cfg):
        self.cfg = cfg

    def get_weights(self):
        return [np.zeros(shape, np.float32) for shape in self.cfg.generator_weight_shapes()]


def test_a_config_at_every_bound_exports_a_model_its_loader_accepts(tmp_path):
    # before: a 10 MB preset name trained, and the exported model was then refused (metadata over 1 MiB)
    cfg = at_every_bound()
    path = tmp_path / "generator.npz"
    artifact.save(Untrained(cfg), cfg, path)
    assert artifact.read(path)[0] == cfg
    cfg.save(tmp_path / "config.json")
    assert Config.load(tmp_path / "config.json") == cfg
    assert os.path.getsize(tmp_path / "config.json") < config.MAX_CONFIG_BYTES // 16


def limited(memory_bytes):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    return apply


@pytest.mark.slow
@pytest.mark.parametrize("flags, setting", [
    (["--batch-size", "1000000000"], "train.batch_size"),        # before: 3 GB in 16-19 s
    (["--shuffle-buffer", str(2**30)], "train.shuffle_buffer"),  # before: a segmentation fault on shards
    (["--shuffle-buffer", str(2**28)], "train.shuffle_buffer"),  # before: 3 GB
    (["--iterations", "9" * 5000], "train.iterations"),
    (["--gp-weight", "inf"], "train.gp_weight"),
    (["--beta-1", "nan"], "train.beta_1"),
])
def test_the_train_command_refuses_hostile_settings_at_once_in_bounded_memory(tmp_path, flags, setting):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore",
               PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    proc = subprocess.run([sys.executable, "-m", "deepaccomp", "train", "--logdir", str(tmp_path / "run"), *flags],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
                          preexec_fn=limited(2 * 1024**3))
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("deepaccomp: error: ") and setting in lines[0], lines
    assert not (tmp_path / "run").exists()
