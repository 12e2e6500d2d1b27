"""The chorale reproduction script's own logic (scripts/train_default_model.py): which ablation rows it measures."""

from helpers import script_module

CHOSEN = {"decode": "notes", "note_score": "log_odds", "decode_threshold": -0.75, "noise_scale": 3.0,
          "sing_with_melody": True, "order_voices": True, "onset_cost": 1.0, "parallel_cost": 20.0, "leap_cost": 1.0,
          "lowest_min_steps": 2, "interval_cost": 0.0, "balance_cost": 0.0, "lowest_onset_factor": 1.0,
          "dissonance_cost": 8.0, "bare_cost": 0.0, "restrike": True, "restrike_threshold": 1.0,
          "lowest_restrike_shift": 0.0}


def rows(**chosen):
    search = {"chosen": {**CHOSEN, **chosen}, "voice_decoding": {"decode": "voice", "decode_threshold": -0.75}}
    return script_module("train_default_model").ablation_settings(search)


def test_a_rule_the_search_left_off_gets_no_ablation_row():
    labels = [label for label, _ in rows()]
    assert len(labels) == 8 and not any("moves made" in label for label in labels)  # 9 steps, the moves' one off
    assert labels[-1].endswith("(the shipped decoding)")
    assert len(rows(leap_cost=0.0, lowest_min_steps=1, dissonance_cost=0.0)) == 6


def test_the_bass_onset_factor_alone_keeps_the_interval_row_and_reaches_the_later_rows():
    found = dict(rows(lowest_onset_factor=0.25))
    interval = next(g for label, g in found.items() if "moves made" in label)
    assert interval["lowest_onset_factor"] == 0.25 and interval["interval_cost"] == 0.0
    assert "lowest_onset_factor" not in next(g for label, g in found.items() if "bass notes of two" in label)
    assert list(found.values())[-1] == {"decode": "notes", **{k: v for k, v in CHOSEN.items() if k not in (
        "decode", "lowest_restrike_shift")}, "lowest_onset_factor": 0.25}  # the bass's shift left off: no row


def test_the_balance_cost_row_carries_the_models_own_moves():
    own = list(range(50))
    found = dict(rows(balance_cost=2.0, own_moves=own))
    moves = next(g for label, g in found.items() if "moves made" in label)
    assert moves["balance_cost"] == 2.0 and moves["own_moves"] == own
    assert "own_moves" not in next(g for label, g in found.items() if "bass notes of two" in label)
    assert list(found.values())[-1]["own_moves"] == own


def test_the_bass_restrike_shift_gets_the_last_row_and_bare_beats_their_own():
    found = dict(rows(bare_cost=8.0, lowest_restrike_shift=-6.0))
    labels = list(found)
    assert len(labels) == 10 and "bass's own re-strike" in labels[-1] and "bare beats" in labels[-3]
    assert found[labels[-3]]["bare_cost"] == 8.0 and "restrike" not in found[labels[-3]]
    assert "lowest_restrike_shift" not in found[labels[-2]] and found[labels[-1]]["lowest_restrike_shift"] == -6.0


def test_the_cost_of_moving_with_the_melody_gets_its_row_after_the_bare_beats():
    found = dict(rows(bare_cost=8.0, similar_cost=2.0))
    labels = list(found)
    i = next(i for i, label in enumerate(labels) if "moving with the melody" in label)
    assert "bare beats" in labels[i - 1] and "re-struck" in labels[i + 1]
    assert found[labels[i]]["similar_cost"] == 2.0 and "restrike" not in found[labels[i]]
    assert "similar_cost" not in found[labels[i - 1]] and found[labels[-1]]["similar_cost"] == 2.0
    assert len(rows(bare_cost=8.0)) == len(labels) - 1  # left at 0 by the search: no row


def test_the_vertical_cost_row_carries_the_models_own_intervals_between_voices():
    own = list(range(72))
    found = dict(rows(similar_cost=2.0, vertical_cost=3.0, own_verticals=own))
    labels = list(found)
    i = next(i for i, label in enumerate(labels) if "intervals between voices" in label)
    assert "moving with the melody" in labels[i - 1] and "re-struck" in labels[i + 1]
    assert found[labels[i]]["vertical_cost"] == 3.0 and found[labels[i]]["own_verticals"] == own
    assert "own_verticals" not in found[labels[i - 1]] and found[labels[-1]]["own_verticals"] == own
    assert len(rows(similar_cost=2.0)) == len(labels) - 1


def test_the_bass_balance_weight_gets_its_row_after_the_vertical_cost():
    found = dict(rows(balance_cost=2.0, own_moves=list(range(50)), lowest_balance_factor=2.0))
    labels = list(found)
    i = next(i for i, label in enumerate(labels) if "own balance weight" in label)
    assert "re-struck" in labels[i + 1] and found[labels[i]]["lowest_balance_factor"] == 2.0
    assert "lowest_balance_factor" not in found[labels[i - 1]] and found[labels[-1]]["lowest_balance_factor"] == 2.0
    assert len(rows(balance_cost=2.0, own_moves=list(range(50)))) == len(labels) - 1
