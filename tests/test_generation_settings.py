"""Generation settings at inference time: one validated home (``GenerationConfig.replace`` /
``with_overrides``), the model's values as defaults, per-call overrides through the Python API,
``deepaccomp generate`` and the studio, each setting checked once with one range."""

from __future__ import annotations

import io
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

import deepaccomp
from deepaccomp import Accompanist, generation
from deepaccomp.cli import build_train_config, main, make_parser
from deepaccomp.config import COUNT_SETTINGS, MAX_NOISE_SCALE, Config, GenerationConfig, preset
from deepaccomp.errors import ConfigError
from deepaccomp.evaluation import evaluate_baseline_pieces, evaluate_pieces
from deepaccomp.generation import ForwardPass
from deepaccomp.metrics import estimate_key

EXAMPLE = Path(deepaccomp.__file__).parent / "assets" / "examples" / "twinkle.mid"

BAD_NOISE_SCALES = [0, -1.0, float("nan"), float("inf"), MAX_NOISE_SCALE + 1, 1e300]
"""Noise scales outside the one bound (0, MAX_NOISE_SCALE]: every place must refuse them alike."""


@pytest.fixture(scope="module")
def acc():
    return Accompanist()


@pytest.fixture(scope="module")
def melody_bytes():
    return EXAMPLE.read_bytes()


def midi_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def note_starts(pm: pretty_midi.PrettyMIDI) -> int:
    """Notes started by the accompaniment instruments (every instrument after the melody)."""
    return sum(len(inst.notes) for inst in pm.instruments[1:])


def the_message(value) -> str:
    """The one message of an out-of-range noise scale: the config's own."""
    with pytest.raises(ConfigError) as info:
        GenerationConfig().replace(noise_scale=value)
    return str(info.value)


# ---------------------------------------------------------------------- one home


def test_replace_is_a_validated_copy_and_keeps_the_rest():
    shipped = preset("default").generation
    before = shipped.onset_cost
    changed = shipped.replace(onset_cost=3, noise_scale=None)
    assert changed.onset_cost == 3.0 and isinstance(changed.onset_cost, float) and before != 3.0
    assert asdict(changed) == {**asdict(shipped), "onset_cost": 3.0}
    assert shipped.onset_cost == before  # the original is unchanged


def test_leaving_the_notes_decoding_resets_its_own_settings():
    shipped = preset("default").generation
    plain = shipped.replace(decode="threshold", decode_threshold=0.0)
    assert asdict(plain) == {**asdict(GenerationConfig()), "noise_scale": shipped.noise_scale}
    with pytest.raises(ConfigError, match="leap_cost.*decode='notes' only"):
        shipped.replace(decode="voice", leap_cost=1.0)  # a notes-only setting given explicitly


@pytest.mark.parametrize("decoding, fragment", [
    ({"onset_cost": -1}, "generation.onset_cost must be a finite number >= 0"),
    ({"leap_cost": float("inf")}, "generation.leap_cost"),
    ({"lowest_min_steps": 0}, "generation.lowest_min_steps must be an integer 1..16"),
    ({"lowest_min_steps": 2.5}, "generation.lowest_min_steps"),
    ({"decode": "greedy"}, "generation.decode must be one of"),
    ({"note_score": 1}, "generation.note_score"),
    ({"sing_with_melody": "yes"}, "generation.sing_with_melody must be true or false"),
    ({"decode_threshold": 1.0}, "generation.decode_threshold"),
    ({"noise_scale": "2"}, "generation.noise_scale"),
    ({"onset_cots": 1.0}, "unknown generation settings ['onset_cots']"),
    ("notes", "decoding must be a dict of generation settings"),
    ([("onset_cost", 1.0)], "decoding must be a dict of generation settings"),
])
def test_bad_overrides_are_config_errors_naming_the_setting_before_any_midi_is_read(acc, decoding, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        acc.generate(b"not a MIDI file", seed=0, decoding=decoding)
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        acc.accompany([np.zeros((16, 128, 1), bool)], seed=0, decoding=decoding)


def test_a_setting_given_twice_is_refused(acc, melody_bytes):
    with pytest.raises(ConfigError, match=r"\['noise_scale'\] given both"):
        acc.generate(melody_bytes, seed=0, noise_scale=2.0, decoding={"noise_scale": 3.0})


@pytest.mark.slow
def test_every_place_refuses_the_same_noise_scales_with_the_same_message(acc, melody_bytes, tmp_path, capsys):
    """The Python API (generate, accompany, the forward pass, the evaluation, config files), the
    command line (generate and train) and the studio's two routes: one bound, one message."""
    melody_file = tmp_path / "melody.mid"
    melody_file.write_bytes(melody_bytes)
    client = _studio_client(acc)
    for value in BAD_NOISE_SCALES:
        expected = the_message(value)
        assert f"> 0 and <= {MAX_NOISE_SCALE:g}" in expected
        messages = {}
        for place, call in {
            "generate": lambda: acc.generate(melody_bytes, seed=0, noise_scale=value),
            "generate decoding": lambda: acc.generate(melody_bytes, seed=0, decoding={"noise_scale": value}),
            "accompany": lambda: acc.accompany([np.zeros((16, 128, 1), bool)], noise_scale=value),
            "forward pass": lambda: acc.forward.accompany([np.zeros((16, 64, 1), bool)], noise_scale=value),
            "evaluation": lambda: evaluate_baseline_pieces("bach", [_bach_piece()], decoding={"noise_scale": value}),
            "config file": lambda: Config.from_dict({"generation": {"noise_scale": value}}),
            "config replace": lambda: preset("default").replace(generation={"noise_scale": value}),
            "train flags": lambda: build_train_config(make_parser().parse_args(["train", "--noise-scale", str(value)])),
        }.items():
            with pytest.raises(ConfigError) as info:
                call()
            messages[place] = str(info.value)
        rc = main(["generate", str(melody_file), "-o", str(tmp_path / "out.mid"), "--noise-scale", str(value)])
        assert rc == 1
        messages["deepaccomp generate"] = capsys.readouterr().err.strip().removeprefix("deepaccomp: error: ")
        if client is not None:
            r = client.post("/api/generate/midi", params={"noise_scale": str(value)}, content=melody_bytes)
            assert r.status_code == 400, r.text
            messages["studio midi"] = r.json()["error"]["message"]
            if np.isfinite(value):  # JSON has no NaN or infinity
                r = client.post("/api/generate", json={"notes": [{"pitch": 60, "start": 0, "length": 4}],
                                                       "noise_scale": value})
                assert r.status_code == 400, r.text
                messages["studio json"] = r.json()["error"]["message"]
        assert messages == {place: expected for place in messages}, value
    assert not (tmp_path / "out.mid").exists()


def _studio_client(acc):
    """The studio's test client on the shipped model, or ``None`` without the studio extra."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from fastapi.testclient import TestClient
        import httpx  # noqa: F401
    except ImportError:
        return None
    from deepaccomp.studio import create_app

    return TestClient(create_app(accompanist=acc), base_url="http://127.0.0.1")


def _bach_piece():
    """A one-bar piece: melody C5 and a C major triad below it, with its key."""
    roll = np.zeros((16, 128, 4), bool)
    for track, pitch in enumerate((72, 67, 64, 48)):
        roll[:, pitch, track] = True
    return roll, estimate_key(roll[..., :1])


def test_the_studio_noise_scale_is_the_library_bound():
    limits = pytest.importorskip("deepaccomp.studio.limits")
    from deepaccomp.config import SETTING_BOUNDS

    assert limits.NOISE_SCALE is SETTING_BOUNDS["generation.noise_scale"]
    assert limits.as_dict()["noise_scale_range"] == [0.0, MAX_NOISE_SCALE]


# ---------------------------------------------------------------------- overrides reach the decoder


def test_defaults_are_the_models_and_reproduce_its_output_byte_for_byte(acc, melody_bytes):
    plain = midi_bytes(acc.generate(melody_bytes, seed=1))
    model = acc.config.generation
    for decoding in ({}, {"onset_cost": None}, asdict(model), model,
                     GenerationConfig(**asdict(model))):
        assert midi_bytes(acc.generate(melody_bytes, seed=1, decoding=decoding)) == plain
    assert midi_bytes(acc.generate(melody_bytes, seed=1, noise_scale=model.noise_scale)) == plain


def test_a_higher_onset_cost_gives_fewer_note_starts(acc, melody_bytes):
    """Same seed and noise: paying more for each note start (the model's 0.25) gives fewer, longer notes."""
    starts = [note_starts(acc.generate(melody_bytes, seed=0, decoding={"onset_cost": cost}))
              for cost in (0.0, acc.config.generation.onset_cost, 2.0, 8.0)]
    assert starts == sorted(starts, reverse=True) and starts[-1] < starts[1] < starts[0], starts


def test_noise_scale_by_keyword_and_in_decoding_are_the_same(acc, melody_bytes):
    a = midi_bytes(acc.generate(melody_bytes, seed=2, noise_scale=0.5))
    b = midi_bytes(acc.generate(melody_bytes, seed=2, decoding={"noise_scale": 0.5}))
    assert a == b != midi_bytes(acc.generate(melody_bytes, seed=2))


def fake_forward(value: float) -> ForwardPass:
    """A forward pass of the default preset whose generator outputs ``value`` at window pitch 30 of every
    track and step, -1 elsewhere: what each decoding makes of it is known by hand."""
    cfg = preset("default")

    def generator(inputs, training=False):
        melody = inputs[0]
        out = np.full(melody.shape[:3] + (3,), -1.0, np.float32)
        out[:, :, 30, :] = value
        return out
    return ForwardPass(generator, cfg)


def test_threshold_override_decides_by_hand():
    forward = fake_forward(0.3)
    melody = np.zeros((32, 64, 1), bool)
    melody[:, 40, 0] = True
    low = forward.accompany([melody], seed=0, decoding={"decode": "threshold", "decode_threshold": 0.0})[0]
    high = forward.accompany([melody], seed=0, decoding={"decode": "threshold", "decode_threshold": 0.5})[0]
    expected = np.zeros((32, 64, 3), bool)
    expected[:, 30, :] = True  # 0.3 > 0.0: every step of pitch 30 sounds in every track
    assert np.array_equal(low, expected)
    assert not high.any()  # 0.3 < 0.5: nothing sounds


@pytest.fixture
def seen(monkeypatch):
    """The generation settings every decoding of the forward pass receives, in call order."""
    settings_seen = []
    original = generation.decode

    def spy(values, settings, *args, **kw):
        settings_seen.append(settings)
        return original(values, settings, *args, **kw)
    monkeypatch.setattr(generation, "decode", spy)
    return settings_seen


def test_evaluation_passes_the_settings_on(acc, seen):
    piece = np.zeros((32, 128, 4), bool)
    piece[:, 72, 0] = True
    evaluate_pieces(acc, [(piece, estimate_key(piece[..., :1]))], seeds=(0,), decoding={"onset_cost": 3.0})
    assert seen == [acc.config.generation.replace(onset_cost=3.0)]


# ---------------------------------------------------------------------- the command line


def test_generate_has_a_flag_for_every_generation_setting_defaulting_to_the_models(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    names = [n for n in asdict(GenerationConfig()) if f"generation.{n}" not in COUNT_SETTINGS]  # model data
    assert "--own-moves" not in text
    for name in names:
        assert f"--{name.replace('_', '-')}" in text and f"generation.{name}:" in text
    assert text.count("(default: the model's)") == len(names)
    args = make_parser().parse_args(["generate", "m.mid", "-o", "o.mid"])
    assert all(getattr(args, name) is None for name in names)  # None: the model's own


def test_generate_flags_reach_the_decoder(acc, tmp_path, melody_bytes, seen, capsys):
    melody = tmp_path / "melody.mid"
    melody.write_bytes(melody_bytes)
    out = tmp_path / "out.mid"
    rc = main(["generate", str(melody), "-o", str(out), "--seed", "3", "--onset-cost", "4", "--no-order-voices",
               "--lowest-min-steps", "3", "--noise-scale", "1.5", "--decode-threshold", "-0.25"])
    assert rc == 0, capsys.readouterr().err
    expected = acc.config.generation.replace(onset_cost=4.0, order_voices=False, lowest_min_steps=3,
                                             noise_scale=1.5, decode_threshold=-0.25)
    assert seen == [expected]
    same = acc.generate(melody_bytes, seed=3, decoding={"onset_cost": 4, "order_voices": False,
                                                        "lowest_min_steps": 3, "noise_scale": 1.5,
                                                        "decode_threshold": -0.25})
    assert out.read_bytes() == midi_bytes(same)


def test_generate_can_leave_the_notes_decoding(tmp_path, melody_bytes, capsys):
    melody = tmp_path / "melody.mid"
    melody.write_bytes(melody_bytes)
    rc = main(["generate", str(melody), "-o", str(tmp_path / "out.mid"), "--decode", "voice"])
    assert rc == 0, capsys.readouterr().err
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "out.mid"))
    assert note_starts(pm) > 0
