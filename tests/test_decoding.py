"""The decodings of deepaccomp.decoding, against hand-computed answers on tiny asymmetric inputs."""

import json

import numpy as np
import pytest

from deepaccomp import preset
from deepaccomp.cli import make_parser
from deepaccomp.config import Config, GenerationConfig
from deepaccomp.decoding import (BACH_MOVES, BACH_VERTICALS, FREE, RATIO_CLIP, balance_costs, decode, decode_notes,
                                 interval_costs, log_odds, mark_restrikes, vertical_costs)
from deepaccomp.errors import ConfigError


def line_of(roll, voice=0):
    """Pitch index per step of one voice of a (time, pitch, voices) roll, -1 where silent."""
    r = roll[:, :, voice]
    return np.where(r.any(axis=1), r.argmax(axis=1), -1).tolist()


def one_voice(*rows):
    """values (time, pitch, 1) from per-pitch rows."""
    return np.array(rows, dtype=float).T[:, :, None]


def test_onset_cost_zero_follows_the_best_pitch_of_every_step():
    values = one_voice([0.5, 0.1, 0.5, 0.2], [0.1, 0.5, 0.1, 0.5])
    assert line_of(decode_notes(values)) == [0, 1, 0, 1]


def test_onset_cost_holds_the_line_with_the_best_total():
    # hold pitch 0: 1.3 - 0.5 = 0.8; hold pitch 1: 1.2 - 0.5 = 0.7; 0,0,1,1: 1.2 - 1.0; alternate: 1.8 - 2.0
    values = one_voice([0.5, 0.1, 0.5, 0.2], [0.1, 0.5, 0.1, 0.5])
    assert line_of(decode_notes(values, onset_cost=0.5)) == [0, 0, 0, 0]
    # a cost of 0.3 keeps two notes: 0,0 then 1,1 scores 0.6 + 0.6 - 0.6 = 0.6 < 0.8 - no: 1.3 - 0.3 = 1.0 wins
    assert line_of(decode_notes(values, onset_cost=0.3)) == [0, 0, 0, 0]
    # but a tiny cost still splits: 0,1,0,1 scores 2.0 - 0.4 = 1.6 > 1.3 - 0.1
    assert line_of(decode_notes(values, onset_cost=0.1)) == [0, 1, 0, 1]


def test_rests_where_every_value_is_below_the_threshold_unless_the_melody_sounds():
    values = one_voice([-0.5, 0.4, -0.5], [-0.2, 0.1, -0.9])
    assert line_of(decode_notes(values)) == [-1, 0, -1]
    melody = np.zeros((3, 2, 1), bool)
    melody[:, 1, 0] = True  # the melody sounds throughout
    assert line_of(decode_notes(values, melody=melody, sing_with_melody=True)) == [1, 0, 0]
    # the threshold moves the bar: at 0.2, step 1 sounds still; at 0.5 it rests
    assert line_of(decode_notes(values, threshold=0.5)) == [-1, -1, -1]


def test_order_voices_keeps_the_tenor_at_or_above_the_bass():
    # voices (alto, tenor, bass) over pitches 0..3; the tenor prefers pitch 0, the bass pitch 2
    values = np.full((2, 4, 3), -1.0)
    values[:, 3, 0] = 0.9  # alto at 3
    values[:, 0, 1], values[:, 2, 1] = 0.9, 0.2  # tenor best 0, second 2
    values[:, 2, 2] = 0.8  # bass at 2
    free = decode_notes(values)
    assert [line_of(free, v) for v in range(3)] == [[3, 3], [0, 0], [2, 2]]
    ordered = decode_notes(values, order_voices=True)
    assert [line_of(ordered, v) for v in range(3)] == [[3, 3], [2, 2], [2, 2]]
    # and the alto stays at or below the melody while it sounds (step 0 only)
    melody = np.zeros((2, 4, 1), bool)
    melody[0, 2, 0] = True
    under = decode_notes(values, order_voices=True, melody=melody)
    assert [line_of(under, v) for v in range(3)] == [[-1, 3], [2, 2], [2, 2]]  # only pitch 2 fits, rated -1
    singing = decode_notes(values, order_voices=True, melody=melody, sing_with_melody=True)
    assert [line_of(singing, v) for v in range(3)] == [[2, 3], [2, 2], [2, 2]]


def test_parallel_cost_avoids_parallel_octaves_with_the_melody():
    # melody: pitch 12 for beat 1 (steps 0-3), pitch 14 for beat 2 (steps 4-7); one voice over 15 pitches
    melody = np.zeros((8, 15, 1), bool)
    melody[:4, 12, 0] = True
    melody[4:, 14, 0] = True
    values = np.full((8, 15, 1), -1.0)
    values[:4, 0, 0] = 0.5  # C an octave below the melody
    values[4:, 2, 0] = 0.6  # then D an octave below: parallel octaves
    values[4:, 5, 0] = 0.5  # F: the alternative
    assert line_of(decode_notes(values, melody=melody, onset_cost=0.4)) == [0] * 4 + [2] * 4
    # D costs 0.5 more at the beat: F (4 x 0.5) beats D (4 x 0.6 - 0.5); the check is at beats only,
    # so without an onset cost the line could step to D just after the beat
    fixed = decode_notes(values, melody=melody, onset_cost=0.4, parallel_cost=0.5)
    assert line_of(fixed) == [0] * 4 + [5] * 4


def test_leap_cost_prefers_the_nearer_pitch_when_the_leap_costs_more_than_it_gains():
    # two steps at pitch 0 (0.9), then pitch 10 (0.9, a leap of 10) or pitch 1 (0.5, a step)
    values = np.full((4, 12, 1), -1.0)
    values[:2, 0, 0] = 0.9
    values[2:, 10, 0] = 0.9
    values[2:, 1, 0] = 0.5
    # onset cost 0.1 per note: 0,0,10,10 scores 3.6 - 0.2 = 3.4, 0,0,1,1 2.8 - 0.2 = 2.6,
    # 0,0,1,10 3.2 - 0.3 = 2.9 (1 -> 10 is a leap of 9 too)
    assert line_of(decode_notes(values, onset_cost=0.1)) == [0, 0, 10, 10]
    assert line_of(decode_notes(values, onset_cost=0.1, leap_cost=0.5)) == [0, 0, 10, 10]  # 3.4 - 0.5 = 2.9
    assert line_of(decode_notes(values, onset_cost=0.1, leap_cost=1.0)) == [0, 0, 1, 1]    # 3.4 - 1.0 = 2.4
    # a move of 7 semitones is no leap: pitch 7 instead of 10 is not charged
    near = values.copy()
    near[2:, 7, 0], near[2:, 10, 0] = 0.9, -1.0
    assert line_of(decode_notes(near, onset_cost=0.1, leap_cost=1.0)) == [0, 0, 7, 7]
    # over a rest the line forgets its pitch: no leap is charged
    rest = values.copy()
    rest[2, :, 0] = -1.0
    assert line_of(decode_notes(rest, onset_cost=0.1, leap_cost=1.0)) == [0, 0, -1, 10]


def test_leap_cost_at_beat_onsets_with_the_parallel_rule():
    melody = np.zeros((8, 15, 1), bool)
    melody[:, 14, 0] = True
    values = np.full((8, 15, 1), -1.0)
    values[:4, 0, 0] = 0.9
    values[4:, 9, 0] = 0.9   # a leap of 9 at the second beat
    values[4:, 4, 0] = 0.6   # a third
    args = dict(melody=melody, onset_cost=0.1, parallel_cost=1.0)
    assert line_of(decode_notes(values, **args)) == [0] * 4 + [9] * 4
    # the beat onset takes the third (no leap), held for half a beat; 4 -> 9 after it is a fourth, no leap
    assert line_of(decode_notes(values, **args, leap_cost=2.0)) == [0] * 4 + [4, 4, 9, 9]
    assert decode_notes(values, **args, leap_cost=0.0).tolist() == decode_notes(values, **args).tolist()


def test_lowest_min_steps_leaves_no_short_note_in_the_lowest_voice_only():
    # pitch 0 for two steps, pitch 5 for one step, pitch 0 again (0.9 each; -1 elsewhere)
    pattern = np.full((4, 8), -1.0)
    pattern[[0, 1, 3], 0] = 0.9
    pattern[2, 5] = 0.9
    # onset cost 0.1: 0,0,5,0 scores 3.6 - 0.3 = 3.3; 0,0,rest,0 2.7 - 0.2 = 2.5; 0,0,5,5 1.7 - 0.2 = 1.5
    assert line_of(decode_notes(pattern[:, :, None], onset_cost=0.1)) == [0, 0, 5, 0]
    assert line_of(decode_notes(pattern[:, :, None], onset_cost=0.1, lowest_min_steps=2)) == [0, 0, -1, 0]
    both = decode_notes(np.stack([pattern, pattern], axis=-1), onset_cost=0.1, lowest_min_steps=2)
    assert line_of(both, 0) == [0, 0, 5, 0] and line_of(both, 1) == [0, 0, -1, 0]  # only the lowest voice


def test_lowest_min_steps_holds_on_random_values_with_every_rule():
    from deepaccomp.representation import note_runs

    rng = np.random.default_rng(1)
    values = rng.uniform(-1, 1, (2, 48, 20, 3))
    melody = np.zeros((2, 48, 20, 1), bool)
    melody[:, :, 19, 0] = True
    for k in (2, 3):
        out = decode_notes(values, onset_cost=0.1, melody=melody, sing_with_melody=True, order_voices=True,
                           parallel_cost=1.0, leap_cost=0.5, lowest_min_steps=k)
        assert out.sum(axis=2).max() <= 1
        for piece in out:
            _, starts, lengths = note_runs(piece[..., 2])
            assert all(n >= k for s, n in zip(starts, lengths) if s + n < 48)  # a note cut by the end may be short
            assert piece[..., 2].any(axis=1).all()  # sings under the melody throughout
        short = [n for piece in out for n in note_runs(piece[..., 1])[2]]
        assert min(short) == 1  # the upper voices keep their one-step notes


def test_batch_and_single_give_the_same_and_voices_sing_one_pitch():
    rng = np.random.default_rng(0)
    values = rng.uniform(-1, 1, (2, 12, 6, 3))
    batch = decode_notes(values, onset_cost=0.4)
    assert batch.shape == values.shape and batch.sum(axis=2).max() <= 1
    assert np.array_equal(batch[1], decode_notes(values[1], onset_cost=0.4))


def test_decode_dispatches_on_the_config_and_checks_it():
    settings = GenerationConfig(decode="notes", onset_cost=0.5)
    values = one_voice([0.5, 0.1, 0.5, 0.2], [0.1, 0.5, 0.1, 0.5])
    assert line_of(decode(values[None], settings)[0]) == [0, 0, 0, 0]
    with pytest.raises(ConfigError, match="notes"):
        preset("default").replace(generation={"decode": "voice", "onset_cost": 1.0})
    with pytest.raises(ConfigError, match="onset_cost"):
        preset("default").replace(generation={"decode": "notes", "onset_cost": -1.0})
    with pytest.raises(ConfigError, match="leap_cost"):
        preset("default").replace(generation={"leap_cost": -1.0})
    with pytest.raises(ConfigError, match="leap_cost"):
        preset("default").replace(generation={"leap_cost": float("nan")})
    for bad in (0, 17, 1.5, True):
        with pytest.raises(ConfigError, match="lowest_min_steps"):
            preset("default").replace(generation={"lowest_min_steps": bad})
    with pytest.raises(ConfigError, match="notes"):
        preset("default").replace(generation={"decode": "voice", "onset_cost": 0.0, "parallel_cost": 0.0,
                                              "sing_with_melody": False, "order_voices": False,
                                              "note_score": "value", "leap_cost": 1.0})
    with pytest.raises(ConfigError, match="melody"):
        decode_notes(values, sing_with_melody=True)


def test_log_odds_score_keeps_the_models_ranking_where_it_is_unsure():
    # pitch 0 is sure at step 0 (0.98) and unsure at step 1 (-0.9); pitch 1 is 0.0 at step 1.
    # value - threshold: moving to pitch 1 gains 0.99 - 0.09 = 0.90 < onset 1.5, so the note is held;
    # log-odds: p = 0.05 vs 0.5 is 0 - logit(0.05) = 2.944 > 1.5 more, so pitch 1 starts.
    values = one_voice([0.98, -0.9], [-0.98, 0.0])
    assert line_of(decode_notes(values, threshold=-0.99, onset_cost=1.5)) == [0, 0]
    assert line_of(decode_notes(values, threshold=-0.99, onset_cost=1.5, score="log_odds")) == [0, 1]
    # by hand: logit((0.98 + 1) / 2) = log(0.99 / 0.01)
    assert log_odds(0.98) == pytest.approx(np.log(99.0))
    assert log_odds(-1.0) == pytest.approx(np.log(1e-6 / (1 - 1e-6)))
    settings = GenerationConfig(decode="notes", note_score="log_odds", decode_threshold=-0.99, onset_cost=1.5)
    assert line_of(decode(values[None], settings)[0]) == [0, 1]
    with pytest.raises(ConfigError, match="note_score"):
        preset("default").replace(generation={"decode": "voice", "note_score": "log_odds"})
    with pytest.raises(ConfigError, match="note_score"):
        preset("default").replace(generation={"note_score": "probability"})


def test_beat_states_in_blocks_equal_beat_by_beat(monkeypatch):
    """The parallel-perfect costs are computed for BEATS_PER_BLOCK beats at once; any block size gives
    the same lines (here 1, 7 and the default, over 150 beats with two other voices)."""
    from deepaccomp import decoding

    rng = np.random.default_rng(5)
    values = np.tanh(rng.normal(0, 1.5, (2, 600, 40, 3)))
    melody = np.zeros((2, 600, 40, 1), bool)
    melody[:, np.arange(600), rng.integers(25, 39, 600), 0] = True
    kw = dict(onset_cost=0.3, score="log_odds", melody=melody, order_voices=True, parallel_cost=5.0,
              leap_cost=2.0, lowest_min_steps=2)
    want = decoding.decode_notes(values, **kw)
    for block in (1, 7):
        monkeypatch.setattr(decoding, "BEATS_PER_BLOCK", block)
        np.testing.assert_array_equal(decoding.decode_notes(values, **kw), want)


@pytest.mark.parametrize("seed", range(4))
def test_a_batch_decodes_each_item_as_alone_with_every_rule_and_kept_states(seed):
    """The decoding's passes run over the whole batch at once; each item's lines are the ones it gets
    alone, with every structural cost and with kept states (FREE elsewhere), ties included."""
    rng = np.random.default_rng(seed)
    batch, steps, pitches, voices = 4, 37, 14, 3
    values = np.tanh(2 * rng.standard_normal((batch, steps, pitches, voices)))
    values[::2] = np.round(values[::2], 1)  # exact ties
    top = rng.integers(-1, pitches, size=(batch, steps))
    melody = (np.arange(pitches) == top[..., None])[..., None]
    fixed = np.where(rng.random((batch, steps, voices)) < 0.6, FREE,
                     rng.integers(-1, pitches, size=(batch, steps, voices)))
    kw = dict(threshold=-0.5, onset_cost=0.25, score="log_odds", melody=melody, sing_with_melody=True,
              order_voices=True, parallel_cost=20.0, leap_cost=2.0, lowest_min_steps=2, steps_per_beat=4)
    for kept in (None, fixed):
        together = decode_notes(values, **kw, fixed=kept)
        for b in range(batch):
            alone = decode_notes(values[b], **{**kw, "melody": melody[b]},
                                          fixed=None if kept is None else kept[b])
            np.testing.assert_array_equal(together[b], alone)


def test_mark_restrikes_clears_the_lowest_step_of_a_dip_before_an_eighth():
    # one voice on pitch 1 for 10 steps; re-strikes may start on even steps only (eighths), so only odd steps clear
    roll = np.zeros((10, 3, 1), bool)
    roll[:, 1, 0] = True
    scores = np.ones(roll.shape)
    scores[[2, 3, 7, 8], 1, 0] = [-5.0, -1.0, -2.0, -5.0]  # 2 and 8: lower, but a re-strike there would be a 16th
    out = mark_restrikes(roll, scores, threshold=0.0)
    assert line_of(out) == [1, 1, 1, -1, 1, 1, 1, -1, 1, 1]
    assert mark_restrikes(roll, scores, threshold=-1.0).sum() == 9  # "below": 3, at the threshold, is no dip
    scores[:, 1, 0] = 1.0
    scores[[3, 5], 1, 0] = [-1.0, -3.0]  # a dip over two eighths: its lowest
    assert line_of(mark_restrikes(roll, scores, threshold=0.0)) == [1, 1, 1, 1, 1, -1, 1, 1, 1, 1]
    scores[3, 1, 0] = -3.0  # a flat one: its last, right before the note struck again
    assert line_of(mark_restrikes(roll, scores, threshold=0.0)) == [1, 1, 1, 1, 1, -1, 1, 1, 1, 1]
    scores[[5, 9], 1, 0] = [1.0, -4.0]  # 9: no step after it
    assert line_of(mark_restrikes(roll, scores, threshold=0.0)) == [1, 1, 1, -1, 1, 1, 1, 1, 1, 1]


def test_the_lowest_voice_reads_re_strikes_below_its_own_threshold():
    # two voices (highest first) holding one pitch each, the same dip of -1 (log-odds) before step 4
    values = np.full((8, 4, 2), -0.9)
    values[:, 2, 0] = values[:, 0, 1] = 0.9
    values[3, 2, 0] = values[3, 0, 1] = 2 / (1 + np.e) - 1  # log_odds(value) = -1
    settings = GenerationConfig(decode="notes", note_score="log_odds", onset_cost=1.0, restrike=True)
    both = decode(values[None], settings)[0]
    assert line_of(both, 0) == [2, 2, 2, -1, 2, 2, 2, 2] and line_of(both, 1) == [0, 0, 0, -1, 0, 0, 0, 0]
    shifted = decode(values[None], settings.replace(lowest_restrike_shift=-1.0))[0]  # the bass below -1: none
    assert line_of(shifted, 0) == line_of(both, 0) and line_of(shifted, 1) == [0] * 8
    up = decode(values[None], settings.replace(restrike_threshold=-1.0, lowest_restrike_shift=0.5))[0]
    assert line_of(up, 0) == [2] * 8 and line_of(up, 1) == line_of(both, 1)  # the upper below -1, the bass -0.5
    held = decode(values[None], settings.replace(restrike=False))[0]
    scores = log_odds(values)
    assert (mark_restrikes(held, scores, [0.0, -2.0]) == shifted).all()  # one threshold per voice
    with pytest.raises(ConfigError, match="lowest_restrike_shift"):
        GenerationConfig(decode="voice", lowest_restrike_shift=-1.0).validate()


def test_mark_restrikes_needs_the_pitch_on_both_sides_and_spares_kept_steps():
    roll = np.zeros((6, 4, 1), bool)
    roll[0, 2], roll[1:6, 1] = True, True  # pitch 2 at step 0, then pitch 1 from step 1
    scores = np.ones(roll.shape)
    scores[[1, 3]] = -5.0
    out = mark_restrikes(roll, scores, threshold=0.0)
    assert line_of(out) == [2, 1, 1, -1, 1, 1]  # 1: the note's first step, nothing before it to strike again
    fixed = np.full((6, 1), FREE)
    fixed[3] = 1
    assert line_of(mark_restrikes(roll, scores, 0.0, fixed)) == [2, 1, 1, 1, 1, 1]  # a kept step is spared


def test_restrike_decoding_adds_gaps_only_where_the_model_dips_and_is_notes_only():
    values = np.full((8, 3, 1), -0.9)
    values[:, 0, 0] = 0.9
    values[3, 0, 0] = -0.95  # the model's silent step before a re-strike
    melody = np.zeros((8, 3, 1), bool)
    melody[:, 2, 0] = True
    settings = GenerationConfig(decode="notes", note_score="log_odds", onset_cost=1.0, sing_with_melody=True)
    held = decode(values[None], settings, melody[None])[0]
    assert line_of(held) == [0] * 8  # the voice sings on through the dip
    marked = decode(values[None], settings.replace(restrike=True), melody[None])[0]
    assert line_of(marked) == [0, 0, 0, -1, 0, 0, 0, 0]
    assert (decode(values[None], settings.replace(restrike=True, restrike_threshold=-50.0), melody[None])[0]
            == held).all()
    with pytest.raises(ConfigError, match="restrike"):
        GenerationConfig(decode="voice", restrike=True).validate()


def test_dissonance_cost_moves_an_upper_voice_off_a_seventh_or_second_above_the_bass():
    # pitch indices 0..13; the bass sits on 0; the upper voice prefers 10 (a minor seventh above) a little over 7
    values = np.full((4, 14, 2), -0.9)
    values[:, 0, 1] = 0.9
    values[:, 10, 0], values[:, 7, 0], values[:, 11, 0], values[:, 13, 0] = 0.6, 0.5, 0.55, 0.58
    settings = GenerationConfig(decode="notes", note_score="log_odds", order_voices=True)
    assert line_of(decode(values[None], settings)[0], 0) == [10] * 4
    moved = decode(values[None], settings.replace(dissonance_cost=1.0))
    assert line_of(moved[0], 0) == [7] * 4 and line_of(moved[0], 1) == [0] * 4  # 11 and 13 (a ninth) cost too
    assert line_of(decode(values[None], settings.replace(dissonance_cost=0.05))[0], 0) == [10] * 4
    free = settings.replace(order_voices=False, dissonance_cost=1.0)  # the bass is not decoded first: no cost
    assert (decode(values[None], free) == decode(values[None], settings.replace(order_voices=False))).all()
    with pytest.raises(ConfigError, match="dissonance_cost"):
        GenerationConfig(decode="voice", dissonance_cost=1.0).validate()


def test_interval_cost_prefers_the_move_bach_makes_more_often():
    # one voice (so the lowest: the bass's table): pitch 0 for two steps, then pitch 4 (a major third up)
    # scores a little more than pitch 2 (a tone)
    values = np.full((4, 6, 1), -0.9)
    values[:2, 0, 0] = 0.9
    values[2:, 4, 0], values[2:, 2, 0] = 0.62, 0.6
    settings = GenerationConfig(decode="notes", note_score="log_odds")
    assert line_of(decode(values[None], settings)[0]) == [0, 0, 4, 4]
    costs = interval_costs("bass")  # Bach's basses: a tone up 2,527 times (his commonest move), a major third 89
    assert costs[12 + 2] == 0.0 and costs[12 + 4] == pytest.approx(-np.log(90 / 2528))
    # a tone, then another (free) rather than the third (3.3): the walking bass
    assert line_of(decode(values[None], settings.replace(interval_cost=1.0))[0]) == [0, 0, 2, 4]
    gain = log_odds(0.62) - log_odds(0.6)  # what pitch 4 wins over pitch 2 at one step
    small = 0.5 * gain / costs[12 + 4]  # too small to pay for the third
    assert line_of(decode(values[None], settings.replace(interval_cost=small))[0]) == [0, 0, 4, 4]
    upper = interval_costs("upper")  # the alto's and tenor's: a tone up 4,200 of 5,154 for the commonest
    assert upper[12 + 2] == pytest.approx(-np.log(4201 / 5155))
    with pytest.raises(ConfigError, match="no interval table"):
        interval_costs("soprano")


def test_balance_cost_charges_the_moves_the_model_makes_more_often_than_bach():
    # the values of the test above; a model whose basses move as Bach's but a major third up ten times as often
    values = np.full((4, 6, 1), -0.9)
    values[:2, 0, 0] = 0.9
    values[2:, 4, 0], values[2:, 2, 0] = 0.62, 0.6
    own = list(BACH_MOVES["bass"])
    own[12 + 4] *= 10  # 891 of 13,395 moves (each count plus one); Bach's 90 of 12,594
    costs = balance_costs("bass", own)
    assert costs[12 + 4] == pytest.approx(np.log(891 / 13395) - np.log(90 / 12594))  # 2.23: charged
    assert costs[12 + 2] == pytest.approx(np.log(2528 / 13395) - np.log(2528 / 12594))  # -0.06: rewarded
    settings = GenerationConfig(decode="notes", note_score="log_odds", onset_cost=1.5, balance_cost=1.0)
    plain = decode(values[None], settings.replace(balance_cost=0.0))
    assert line_of(plain[0]) == [0, 0, 4, 4] and (decode(values[None], settings) == plain).all()  # no own moves
    bach = list(BACH_MOVES["bass"])  # a bass that moves as his: no move costs anything
    assert not balance_costs("bass", bach).any()
    assert (decode(values[None], settings.replace(own_moves=tuple(own + bach))) == plain).all()  # upper 25 first
    mine = settings.replace(own_moves=tuple(bach + own))
    assert line_of(decode(values[None], mine)[0]) == [0, 0, 2, 2]  # the third it overdoes costs more than it wins
    assert (decode_notes(values, score="log_odds", onset_cost=1.5, balance_cost=1.0, own_moves={"bass": own})
            == decode(values[None], mine)[0]).all()
    often = [0] * 25
    often[12 - 11] = 10**6  # a major seventh down: 6 of Bach's bass moves
    clipped = balance_costs("bass", often)
    assert clipped[12 - 11] == RATIO_CLIP and clipped[12 + 4] == -RATIO_CLIP
    with pytest.raises(ConfigError, match="25 numbers"):
        balance_costs("bass", own[:-1])


def test_own_moves_is_a_table_of_counts_kept_in_the_model_file_and_no_option(capsys):
    table = tuple(range(50))
    settings = GenerationConfig(decode="notes", own_moves=table)
    settings.validate()
    config = Config(generation=settings)
    again = Config.from_dict(json.loads(config.to_json()))
    assert again.generation.own_moves == table
    assert "own_moves" not in Config().to_dict()["generation"]  # left out when empty
    for bad in (tuple(range(49)), (-1,) + table[1:], (True,) + table[1:], (0.5,) + table[1:]):
        with pytest.raises(ConfigError, match="generation.own_moves must be empty or 50 whole numbers"):
            GenerationConfig(decode="notes", own_moves=bad).validate()
    with pytest.raises(ConfigError, match="own_moves"):
        GenerationConfig(decode="voice", own_moves=table).validate()
    assert settings.replace(decode="voice").own_moves == ()
    for command in ("generate", "train"):
        with pytest.raises(SystemExit):
            make_parser().parse_args([command, "--help"])
        shown = capsys.readouterr().out
        assert "--balance-cost" in shown and "--own-moves" not in shown


def test_lowest_onset_factor_lets_the_bass_alone_move_more():
    # two voices, the same values in each, by step: pitch 0 scores 0.5, 0.1, 0.5, 0.1 and pitch 1 0.1, 0.5, 0.1,
    # 0.55. At an onset cost of 0.5: pitch 1 held 1.25 - 0.5 beats pitch 0 held (0.7), two notes (1.65 - 1.0) and
    # 0,1,0,1 (2.05 - 2.0); at 0.125, 0,1,0,1 (2.05 - 0.5) beats two notes (1.65 - 0.25) and one (1.25 - 0.125)
    rows = ([0.5, 0.1, 0.5, 0.1], [0.1, 0.5, 0.1, 0.55])
    values = np.concatenate([one_voice(*rows), one_voice(*rows)], axis=-1)
    assert line_of(decode_notes(values, onset_cost=0.5), 1) == [1, 1, 1, 1]
    moved = decode_notes(values, onset_cost=0.5, lowest_onset_factor=0.25)  # the bass (voice 1) pays 0.125
    assert line_of(moved, 1) == [0, 1, 0, 1] and line_of(moved, 0) == [1, 1, 1, 1]
    same = decode_notes(values, onset_cost=0.5, lowest_onset_factor=1.0)
    assert (same == decode_notes(values, onset_cost=0.5)).all()
    settings = GenerationConfig(decode="notes", onset_cost=0.5)
    assert (decode(values[None], settings.replace(lowest_onset_factor=0.25))[0] == moved).all()
    with pytest.raises(ConfigError, match="lowest_onset_factor"):
        settings.replace(lowest_onset_factor=17.0)
    with pytest.raises(ConfigError, match="lowest_onset_factor"):
        GenerationConfig(decode="voice", lowest_onset_factor=0.5).validate()


def test_bare_cost_moves_the_last_voice_off_a_bare_beat_onset():
    # melody on index 19 (pitch class 7), bass on index 0 (class 0); the alto rates index 12 (class 0: a bare
    # fifth) 0.1 above index 16 (class 4: a full triad); only step 0 is a beat onset (4 steps a beat)
    values = np.full((4, 24, 2), -0.9)
    values[:, 0, 1] = 0.9
    values[:, 12, 0], values[:, 16, 0] = 0.6, 0.5
    melody = np.zeros((4, 24, 1), bool)
    melody[:, 19, 0] = True
    kw = dict(melody=melody, order_voices=True)
    assert line_of(decode_notes(values, **kw)) == [12] * 4
    assert line_of(decode_notes(values, bare_cost=0.05, **kw)) == [12] * 4  # less than the 0.1 it gives up
    assert line_of(decode_notes(values, bare_cost=0.2, **kw)) == [16, 12, 12, 12]
    assert line_of(decode_notes(values, bare_cost=0.2, **kw), voice=1) == [0] * 4  # the bass is not charged
    assert line_of(decode_notes(values, bare_cost=0.2, melody=melody)) == [12] * 4  # only with order_voices
    three = values.copy()  # a third voice (tenor, decoded before the alto) on index 4 (class 4) fills the chord
    three = np.concatenate([three[..., :1], np.full((4, 24, 1), -0.9), three[..., 1:]], axis=-1)
    three[:, 4, 1] = 0.9
    assert line_of(decode_notes(three, bare_cost=10.0, **kw)) == [12] * 4


def test_bare_beats_counts_the_pitch_classes_a_pitch_would_leave():
    from deepaccomp.decoding import _bare_beats

    mel, bass = np.array([[19, 19, -1, 19, 19]]), np.array([[0, 0, 0, -1, 0]])
    cost = _bare_beats([mel, bass], 24, steps_per_beat=2)  # onsets at steps 0, 2, 4
    assert cost.shape == (1, 5, 24)
    assert cost[0, 0, [12, 7, 0, 19]].tolist() == [1.0, 1.0, 1.0, 1.0]  # classes 0 and 7 only
    assert cost[0, 0, [16, 3, 14]].tolist() == [0.0, 0.0, 0.0]  # a third class
    assert cost[0, 1].sum() == 0.0 and cost[0, 3].sum() == 0.0  # off the beat
    assert cost[0, 2, [0, 5]].tolist() == [1.0, 1.0]  # the melody silent: two classes with any pitch


def test_similar_cost_charges_a_beat_move_the_way_the_melody_moves():
    # one voice, every step a beat onset; it rates pitch 0, 1, 0 at steps 0-2 (0.5 each) with 0.4 and 0.45 for
    # holding pitch 0 at step 1 and pitch 1 at step 2. Melody up then down: 0,1,0 moves with it twice
    # (1.5 - 2c); held 0,0,0 scores 1.4, 0,1,1 (1.45 - c), 0,0,1 (1.35, against the melody)
    values = np.full((3, 3, 1), -0.9)
    values[[0, 1, 2], [0, 1, 0], 0] = 0.5
    values[1, 0, 0], values[2, 1, 0] = 0.4, 0.45
    up_down = np.zeros((3, 24, 1), bool)
    up_down[[0, 1, 2], [10, 12, 11], 0] = True
    kw = dict(steps_per_beat=1)
    assert line_of(decode_notes(values, melody=up_down, **kw)) == [0, 1, 0]
    assert line_of(decode_notes(values, melody=up_down, similar_cost=0.02, **kw)) == [0, 1, 0]  # 1.46 > 1.43
    assert line_of(decode_notes(values, melody=up_down, similar_cost=0.2, **kw)) == [0, 0, 0]  # 1.4 > 1.35 > 1.25
    down_up = np.zeros((3, 24, 1), bool)
    down_up[[0, 1, 2], [12, 10, 11], 0] = True  # against the melody both times: nothing charged
    assert line_of(decode_notes(values, melody=down_up, similar_cost=0.2, **kw)) == [0, 1, 0]
    resting = up_down.copy()
    resting[1] = False  # the melody rests at step 1: no move of its own to follow
    assert line_of(decode_notes(values, melody=resting, similar_cost=0.2, **kw)) == [0, 1, 0]
    with pytest.raises(ConfigError, match="similar_cost need the melody"):
        decode_notes(values, similar_cost=0.2, **kw)


def test_similar_cost_is_a_bounded_notes_setting_with_a_flag(capsys):
    settings = GenerationConfig(decode="notes", similar_cost=2.0)
    settings.validate()
    for bad in (-1.0, float("nan"), 1e9):
        with pytest.raises(ConfigError, match="generation.similar_cost"):
            settings.replace(similar_cost=bad)
    with pytest.raises(ConfigError, match="similar_cost"):
        GenerationConfig(decode="voice", similar_cost=1.0).validate()
    args = make_parser().parse_args(["generate", "in.mid", "-o", "out.mid", "--similar-cost", "2.5"])
    assert args.similar_cost == 2.5
    assert "similar_cost" not in Config().to_dict()["generation"]  # written only where set


def test_vertical_cost_charges_the_intervals_the_model_sounds_more_often_than_bach():
    # three voices, every step a beat onset: the bass on index 0, the tenor on 7, the alto rates index 16 (a
    # minor third under the melody's 19) a little above 15 (a major third); a model that sounds the soprano-alto
    # minor third ten times as often as Bach, every other interval of every pair as his
    values = np.full((3, 24, 3), -0.9)
    values[:, 0, 2], values[:, 7, 1] = 0.9, 0.9
    values[:, 16, 0], values[:, 15, 0] = 0.62, 0.6
    melody = np.zeros((3, 24, 1), bool)
    melody[:, 19, 0] = True
    own = np.array(BACH_VERTICALS)
    own[0, 3] *= 10
    costs = vertical_costs(own)
    total, bach_total = own[0].sum() + 12, sum(BACH_VERTICALS[0]) + 12
    assert costs[0, 3] == pytest.approx(np.log(18511 / total) - np.log(1852 / bach_total))  # charged
    assert costs[0, 4] == pytest.approx(np.log(1328 / total) - np.log(1328 / bach_total))  # rewarded a little
    assert not costs[1:].any() and not vertical_costs(BACH_VERTICALS).any()
    kw = dict(score="log_odds", melody=melody, order_voices=True, steps_per_beat=1)
    assert line_of(decode_notes(values, **kw)) == [16] * 3
    assert line_of(decode_notes(values, vertical_cost=1.0, **kw)) == [16] * 3  # without own_verticals: no cost
    assert line_of(decode_notes(values, vertical_cost=1.0, own_verticals=own, **kw)) == [15] * 3
    gain = log_odds(0.62) - log_odds(0.6)  # what index 16 wins over 15 at each step
    small = 0.5 * gain / (costs[0, 3] - costs[0, 4])
    assert line_of(decode_notes(values, vertical_cost=small, own_verticals=own, **kw)) == [16] * 3
    assert line_of(decode_notes(values, vertical_cost=1.0, own_verticals=own, **kw), voice=2) == [0] * 3
    settings = GenerationConfig(decode="notes", note_score="log_odds", order_voices=True, vertical_cost=1.0)
    mine = settings.replace(own_verticals=tuple(own.ravel().tolist()))
    assert (decode(values[None], mine, melody[None])[0] == decode_notes(values, vertical_cost=1.0, own_verticals=own,
                                                                         score="log_odds", melody=melody,
                                                                         order_voices=True)).all()
    with pytest.raises(ConfigError, match="vertical_cost needs the melody"):
        decode_notes(values, vertical_cost=1.0, own_verticals=own, score="log_odds")
    with pytest.raises(ConfigError, match="vertical_cost needs the melody and a table of 3 pairs"):
        decode_notes(values[..., 1:], vertical_cost=1.0, own_verticals=own, melody=melody)
    with pytest.raises(ConfigError, match="6 pairs of 12"):
        vertical_costs(own[:5])


def test_vertical_emissions_sum_each_pair_at_beat_onsets_higher_part_minus_lower():
    from deepaccomp.decoding import _vertical_emissions

    table = np.arange(72.0).reshape(6, 12)  # rows: s-a, s-t, s-b, a-t, a-b, t-b
    melody, bass = np.array([[19, -1, 19]]), np.array([[0, 0, 2]])
    cost = _vertical_emissions(table, 4, 1, melody, {2: bass}, 24, steps_per_beat=2)  # the tenor; beats 0, 2
    assert cost.shape == (1, 3, 24)
    assert cost[0, 0, 7] == table[1, 0] + table[5, 7]  # melody 19 - 7 = 12; 7 - bass 0
    assert cost[0, 0, 4] == table[1, 3] + table[5, 4]
    assert cost[0, 2, 7] == table[1, 0] + table[5, 5]  # the bass on 2 now
    assert not cost[0, 1].any()  # off the beat
    quiet = _vertical_emissions(table, 4, 1, np.array([[-1, -1]]), {2: np.array([[0, -1]])}, 24, steps_per_beat=1)
    assert quiet[0, 0, 7] == table[5, 7] and not quiet[0, 1].any()  # a silent part adds nothing


def test_own_verticals_is_a_table_of_counts_kept_in_the_model_file_and_no_option(capsys):
    table = tuple(range(72))
    settings = GenerationConfig(decode="notes", own_verticals=table, vertical_cost=3.0)
    settings.validate()
    again = Config.from_dict(json.loads(Config(generation=settings).to_json()))
    assert again.generation.own_verticals == table and again.generation.vertical_cost == 3.0
    written = Config().to_dict()["generation"]
    assert "own_verticals" not in written and "vertical_cost" not in written  # left out when unset
    for bad in (tuple(range(71)), (-1,) + table[1:], (0.5,) + table[1:]):
        with pytest.raises(ConfigError, match="generation.own_verticals must be empty or 72 whole numbers"):
            GenerationConfig(decode="notes", own_verticals=bad).validate()
    for bad in (-1.0, float("inf")):
        with pytest.raises(ConfigError, match="generation.vertical_cost"):
            settings.replace(vertical_cost=bad)
    with pytest.raises(ConfigError, match="own_verticals"):
        GenerationConfig(decode="voice", own_verticals=table).validate()
    with pytest.raises(SystemExit):
        make_parser().parse_args(["generate", "--help"])
    shown = capsys.readouterr().out
    assert "--vertical-cost" in shown and "--own-verticals" not in shown


def test_lowest_balance_factor_scales_the_bass_balance_alone():
    # two voices with the values of the balance test above, each overdoing a major third up ten times (its
    # upper table and its bass table alike): at balance cost 1 both step by a tone; with the bass's factor
    # at 0.05 its cost of the third (0.05 x 2.29 over the tone) falls below what the third wins (2 x 0.087)
    one = np.full((4, 6, 1), -0.9)
    one[:2, 0, 0] = 0.9
    one[2:, 4, 0], one[2:, 2, 0] = 0.62, 0.6
    values = np.concatenate([one, one], axis=-1)
    upper, bass = list(BACH_MOVES["upper"]), list(BACH_MOVES["bass"])
    upper[12 + 4] *= 10
    bass[12 + 4] *= 10
    kw = dict(score="log_odds", onset_cost=1.5, balance_cost=1.0, own_moves={"upper": upper, "bass": bass})
    both = decode_notes(values, **kw)
    assert line_of(both, 0) == [0, 0, 2, 2] and line_of(both, 1) == [0, 0, 2, 2]
    light = decode_notes(values, lowest_balance_factor=0.05, **kw)
    assert line_of(light, 0) == [0, 0, 2, 2] and line_of(light, 1) == [0, 0, 4, 4]
    assert (decode_notes(values, lowest_balance_factor=1.0, **kw) == both).all()
    settings = GenerationConfig(decode="notes", balance_cost=1.0, lowest_balance_factor=2.0)
    settings.validate()
    assert "lowest_balance_factor" not in Config().to_dict()["generation"]  # written only where not 1
    for bad in (-0.5, 17.0):
        with pytest.raises(ConfigError, match="generation.lowest_balance_factor"):
            settings.replace(lowest_balance_factor=bad)
    with pytest.raises(ConfigError, match="lowest_balance_factor"):
        GenerationConfig(decode="voice", lowest_balance_factor=2.0).validate()
