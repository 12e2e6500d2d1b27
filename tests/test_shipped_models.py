"""The shipped models chosen by name: ``Accompanist(name)``, ``deepaccomp generate --model NAME``."""

import os
import subprocess

import pretty_midi
import pytest

from deepaccomp import Accompanist, artifact
from deepaccomp.errors import ModelFileError
from helpers import installed_command

EXAMPLE = os.path.join(os.path.dirname(artifact.shipped_model_path()), "..", "examples", "twinkle.mid")


def test_the_default_is_the_chorale_model():
    assert artifact.shipped_models()[0] == artifact.DEFAULT_MODEL == "chorale"
    assert artifact.model_path(None) == artifact.model_path("chorale") == artifact.shipped_model_path()
    assert Accompanist("chorale").model_path == Accompanist().model_path


def test_a_path_is_taken_as_it_is(tiny_model):
    assert artifact.model_path(tiny_model) == os.fspath(tiny_model)
    assert artifact.model_path("./chorale") == "./chorale"  # a folder of that name, not the shipped model


def test_an_unknown_name_is_a_path_and_a_missing_one_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no shipped model is called 'jazz'"):
        artifact.shipped_model_path("jazz")
    with pytest.raises(Exception) as info:
        Accompanist(str(tmp_path / "jazz"))
    assert "jazz" in str(info.value)


def test_a_shipped_model_not_installed_says_so(monkeypatch, tmp_path):
    monkeypatch.setitem(artifact.SHIPPED_MODELS, "nothing", "no_such_folder")
    assert "nothing" not in artifact.shipped_models()
    with pytest.raises(ModelFileError, match="shipped model 'nothing' is not installed"):
        Accompanist("nothing")


def run(*args):
    return subprocess.run([installed_command(), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_generate_takes_a_model_name(tmp_path):
    out = tmp_path / "out.mid"
    result = run("generate", EXAMPLE, "-o", str(out), "--model", "chorale", "--seed", "1")
    assert result.returncode == 0, result.stderr
    default = tmp_path / "default.mid"
    assert run("generate", EXAMPLE, "-o", str(default), "--seed", "1").returncode == 0
    assert out.read_bytes() == default.read_bytes()
    assert len(pretty_midi.PrettyMIDI(str(out)).instruments) == 4


def test_generate_names_a_missing_shipped_model_in_one_line(tmp_path, monkeypatch):
    result = run("generate", EXAMPLE, "-o", str(tmp_path / "o.mid"), "--model", "jazz")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "jazz" in result.stderr and not (tmp_path / "o.mid").exists()


def test_the_pop_model_is_shipped_and_plays_piano_and_bass(tmp_path):
    assert artifact.shipped_models() == ["chorale", "pop"]
    acc = Accompanist("pop")
    assert acc.layout.name == "pop" and acc.config.generation.estimate_pickup is False
    assert os.path.getsize(acc.model_path) <= 10 * 1024 * 1024  # issue 32: a model file of at most 10 MB
    song = acc.generate(EXAMPLE, seed=0)
    names = [inst.name for inst in song.instruments]
    assert names[1:] == ["piano", "bass"]
    piano, bass = song.instruments[1].notes, song.instruments[2].notes
    assert piano and bass and max(n.pitch for n in bass) < 60
    notes = lambda ns: [(n.pitch, n.start, n.end) for n in ns]  # noqa: E731
    assert notes(acc.generate(EXAMPLE, seed=0).instruments[1].notes) == notes(piano)  # same seed, same notes


@pytest.mark.slow
def test_generate_model_pop_through_the_installed_command(tmp_path):
    out = tmp_path / "pop.mid"
    result = run("generate", EXAMPLE, "-o", str(out), "--model", "pop", "--seed", "2")
    assert result.returncode == 0, result.stderr
    assert [i.name for i in pretty_midi.PrettyMIDI(str(out)).instruments][1:] == ["piano", "bass"]


def test_the_pop_model_accompanies_a_melody_with_an_odd_bar():
    beat = 0.6  # 4/4, then one bar of 2/4 (beats 8-9), then 4/4 again: a DAW's file with an irregular bar
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    inst = pretty_midi.Instrument(0, name="melody")
    for i, p in enumerate([64, 67, 69, 67, 64, 62, 60, 62, 64, 64, 67, 69, 72, 71, 69, 67, 64, 62, 60, 60]):
        inst.notes.append(pretty_midi.Note(90, p, i * beat, (i + 1) * beat))
    pm.instruments.append(inst)
    pm.time_signature_changes = [pretty_midi.TimeSignature(4, 4, 0.0), pretty_midi.TimeSignature(2, 4, 8 * beat),
                                 pretty_midi.TimeSignature(4, 4, 10 * beat)]
    out = Accompanist("pop").generate(pm, seed=0)
    assert [(t.numerator, t.denominator) for t in out.time_signature_changes] == [(4, 4), (2, 4), (4, 4)]
    piano = out.instruments[1].notes
    assert any(n.start >= 10 * beat for n in piano) and any(n.start < 8 * beat for n in piano)


def test_the_pop_preset_is_the_shipped_pop_models_recipe():
    from deepaccomp.config import Config, preset

    shipped = Config.load(os.path.join(os.path.dirname(artifact.shipped_model_path("pop")), "config.json")).to_dict()
    recipe = preset("pop").to_dict()
    for section in ("model", "generation"):
        assert shipped[section] == recipe[section], section
    assert {k: v for k, v in shipped["train"].items() if k != "keep_checkpoints"} == \
        {k: v for k, v in recipe["train"].items() if k != "keep_checkpoints"}
    assert {k: v for k, v in shipped["data"].items() if k != "source"} == \
        {k: v for k, v in recipe["data"].items() if k != "source"}
