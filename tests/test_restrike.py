"""Re-struck notes (issue 35): Bach's note starts in the chorale dataset, the decoding's re-strikes and the
onsets they give the written MIDI, through the public API."""

import numpy as np
import pytest

import subprocess

import pretty_midi
from helpers import SIMPLE, installed_command, make_midi, to_bytes

from deepaccomp import Accompanist, preset
from deepaccomp.artifact import model_path
from deepaccomp.data import Dataset
from deepaccomp.decoding import RESTRIKE_GRID
from deepaccomp.representation import run_starts


def restruck(onsets, roll):
    """Onsets that are no run's start: re-struck notes."""
    return onsets & ~run_starts(roll)


def test_the_chorale_dataset_stores_bachs_re_struck_notes_and_reads_them_back(small, tmp_path):
    assert small.onsets is not None and len(small.onsets) == len(small.rolls)
    again = [restruck(o, r) for o, r in zip(small.onsets, small.rolls)]
    assert all((o <= r).all() and (run_starts(r) <= o).all() for o, r in zip(small.onsets, small.rolls))
    n = sum(int(a[..., 1:].sum()) for a in again)
    assert n > 50  # twelve chorales: Bach repeats notes in the lower voices often
    steps = np.concatenate([np.nonzero(a[..., 1:])[0] for a in again])
    assert (steps % RESTRIKE_GRID == 0).all()  # every one on an eighth-note position
    small.save(tmp_path / "d.npz")
    back = Dataset.load(tmp_path / "d.npz")
    assert all((a == b).all() for a, b in zip(back.onsets, small.onsets))
    gapped = small.split_rolls("train", restrike_gaps=True)
    plain = small.split_rolls("train")
    assert sum(int(run_starts(g).sum()) for g in gapped) > sum(int(run_starts(p).sum()) for p in plain)


@pytest.fixture(scope="module")
def acc(tiny_model):
    return Accompanist(tiny_model)


@pytest.fixture(scope="module")
def melody():
    return to_bytes(make_midi(SIMPLE))


def test_restrike_changes_onsets_only_and_puts_them_on_eighths(acc, melody):
    plain = acc.generate_piece(melody, seed=3, decoding={"restrike": False})
    assert not restruck(plain.onsets, plain.roll).any()  # without it, a held pitch is one note
    struck = acc.generate_piece(melody, seed=3, decoding={"restrike": True, "restrike_threshold": 50.0})
    extra = restruck(struck.onsets, struck.roll)
    assert extra[..., 1:].any()  # an untrained generator's scores dip below 50 somewhere
    assert (struck.roll == plain.roll).all()  # the notes sound where they did: the gaps are read back
    assert ((np.nonzero(extra)[0] + plain.grid.bars.offset) % RESTRIKE_GRID == 0).all()  # offset: to a downbeat
    n_plain = sum(len(i.notes) for i in acc.generate(melody, seed=3, decoding={"restrike": False}).instruments)
    n_struck = sum(len(i.notes) for i in acc.generate(
        melody, seed=3, decoding={"restrike": True, "restrike_threshold": 50.0}).instruments)
    assert n_struck == n_plain + int(extra.sum())


def test_accompany_gives_the_onsets_it_decodes(acc):
    melody = np.zeros((64, 128, 1), bool)
    melody[:, 67] = True
    dec = {"restrike": True, "restrike_threshold": 50.0}
    (roll, onsets), = acc.accompany([melody], seed=1, decoding=dec, with_onsets=True)
    assert (roll == acc.accompany([melody], seed=1, decoding=dec)[0]).all()
    assert (roll == acc.accompany([melody], seed=1, decoding={"restrike": False})[0]).all()
    assert restruck(onsets, roll).any() and (onsets <= roll).all()


def test_the_new_settings_stay_out_of_configs_that_do_not_use_them_and_the_default_preset_uses_them():
    new = ("restrike", "restrike_threshold", "dissonance_cost", "interval_cost", "lowest_onset_factor", "balance_cost",
           "own_moves")
    written = preset("pop").to_dict()["generation"]
    assert not any(k in written for k in new)
    default = preset("default")
    assert default.data.restrike_gaps and default.generation.restrike and default.generation.dissonance_cost > 0
    assert default.generation.interval_cost == 0.0 and default.generation.restrike_threshold > 0
    # defaults left out; the preset cannot hold a model's own moves
    assert [k in default.to_dict()["generation"] for k in new] == [True, True, True, False, True, True, False]
    assert "interval_cost" in default.replace(generation={"interval_cost": 0.5}).to_dict()["generation"]


@pytest.mark.slow
def test_the_installed_command_re_strikes_with_the_shipped_model_and_can_be_told_not_to(tmp_path):
    example = model_path("chorale").replace("default_model/generator.npz", "examples/twinkle.mid")
    counts = {}
    for flag in ("--restrike", "--no-restrike"):
        out = tmp_path / f"{flag}.mid"
        done = subprocess.run([installed_command(), "generate", example, "-o", str(out), "--seed", "1", flag],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        pm = pretty_midi.PrettyMIDI(str(out))
        counts[flag] = sum(len(i.notes) for i in pm.instruments[1:])
        ends = {(i.name, n.pitch, round(n.end, 4)) for i in pm.instruments[1:] for n in i.notes}
        starts = {(i.name, n.pitch, round(n.start, 4)) for i in pm.instruments[1:] for n in i.notes}
        counts[flag + " joined"] = len(ends & starts)  # a note ending where the same pitch starts again
    assert counts["--restrike"] > counts["--no-restrike"]
    assert counts["--restrike joined"] > 0 and counts["--no-restrike joined"] == 0
