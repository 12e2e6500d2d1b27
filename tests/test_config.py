import json

import pytest

from deepaccomp import Config, preset
from deepaccomp.errors import ConfigError


def test_presets_validate_and_round_trip(tmp_path):
    for name in ("default", "deepcomposer"):
        cfg = preset(name)
        path = tmp_path / f"{name}.json"
        cfg.save(path)
        assert Config.load(path) == cfg


def test_deepcomposer_preset_is_the_lab():
    c = preset("deepcomposer")
    assert c.data.pitch_window == "full" and c.phrase_steps == 32
    assert c.model.encoder_filters == (64, 128, 256, 512) and c.model.noise_channels == 512
    t = c.train
    assert (t.generator_lr, t.beta_1, t.beta_2, t.batch_size, t.critic_updates, t.gp_weight,
            t.iterations, t.reconstruction_weight) == (1e-3, 0.5, 0.9, 64, 5, 10.0, 1000, 0.0)


def test_replace_and_bad_values(tmp_path):
    c = preset("default").replace(train={"critic_updates": 3})
    assert c.train.critic_updates == 3
    with pytest.raises(ConfigError, match="critic_updates"):
        preset("default").replace(train={"critic_updates": 0})
    with pytest.raises(ConfigError, match="unknown settings"):
        preset("default").replace(train={"critic_ratio": 3})
    with pytest.raises(ConfigError, match="number"):
        preset("default").replace(train={"gp_weight": "ten"})
    for scale in (0.0, -2.0, float("nan")):
        with pytest.raises(ConfigError, match="noise_scale"):
            preset("default").replace(generation={"noise_scale": scale})
    with pytest.raises(ConfigError, match="divisible"):
        preset("default").replace(model={"encoder_filters": [8] * 6, "decoder_filters": [8] * 5})
    with pytest.raises(ConfigError):
        preset("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ConfigError, match="JSON"):
        Config.load(bad)
    bad.write_text(json.dumps({"train": {"batch_size": 2.5}}))
    with pytest.raises(ConfigError, match="integer"):
        Config.load(bad)


def test_legacy_generation_settings_in_train_are_read():
    # configs (and model files) written by 0.1 kept decoding and noise settings under "train"
    d = preset("default").to_dict()
    gen = d.pop("generation")
    d["train"].update({"decode": gen["decode"], "decode_threshold": -0.25, "noise_scale": 3.0})
    cfg = Config.from_dict(d)
    assert (cfg.generation.decode, cfg.generation.decode_threshold, cfg.generation.noise_scale) == ("voice", -0.25, 3.0)
    d["generation"] = {"noise_scale": 2.0}
    with pytest.raises(ConfigError, match="both"):
        Config.from_dict(d)


def test_derived_sizes_of_the_default_preset():
    cfg = preset("default")
    assert (cfg.window.lowest, cfg.window.size) == (28, 64)
    assert (cfg.levels, cfg.time_unit, cfg.phrase_steps, cfg.model_steps) == (4, 16, 32, None)
    assert cfg.noise_shape(48) == (3, 4, 16)
    assert preset("deepcomposer").model_steps == 32
