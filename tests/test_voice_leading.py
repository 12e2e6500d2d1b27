"""Note lengths and voice leading (deepaccomp.metrics) against hand-computed answers."""

import numpy as np
import pytest

from helpers import voice_roll
from deepaccomp import metrics as M
from deepaccomp.errors import ConfigError, InvalidRollError
from deepaccomp.representation import to_model_range

nan = np.nan


# ------------------------------------------------------------------ note lengths
def lengths_roll():
    return voice_roll(
        [(60, 1), (62, 1), (64, 2), (65, 4), (67, 8)],   # notes of 1, 1, 2, 4, 8 steps
        [(48, 3), (None, 1), (48, 12)],                  # same pitch after a rest: 3 and 12
        [])                                              # silent


def test_note_lengths_histogram_per_voice():
    r = lengths_roll()
    np.testing.assert_allclose(M.note_lengths(r, max_length=4, normalize=False),
                               [[2, 0, 0], [1, 0, 0], [0, 1, 0], [2, 1, 0]])
    frac = M.note_lengths(r, max_length=4)
    np.testing.assert_allclose(frac[:, :2], [[0.4, 0], [0.2, 0], [0, 0.5], [0.4, 0.5]])
    assert np.all(np.isnan(frac[:, 2]))
    assert M.note_lengths(r).shape == (16, 3)


def test_leap_rate_counts_moves_from_note_to_note():
    r = voice_roll(
        [(60, 2), (62, 2), (70, 1), (58, 3)],   # moves 2, 8, 12: two leaps of a minor sixth or more
        [(48, 4), (None, 4), (60, 2), (60, 2)],  # 48 -> 60 over a rest (12); 60 held 4 steps is one note
        [(55, 4), (None, 2), (55, 2)],           # the same pitch after a rest: a move of 0
        [(40, 8)],                               # one note: no move
        [])                                      # silent
    np.testing.assert_allclose(M.leap_rate(r), [2 / 3, 1 / 1, 0 / 1, nan, nan])
    np.testing.assert_allclose(M.leap_rate(r, min_interval=13), [0, 0, 0, nan, nan])
    np.testing.assert_allclose(M.leap_rate(r, min_interval=2), [3 / 3, 1, 0, nan, nan])
    np.testing.assert_allclose(M.leap_rate(to_model_range(r)), M.leap_rate(r))
    with pytest.raises(InvalidRollError):
        M.leap_rate(r, min_interval=0)


def test_leap_rate_takes_a_chords_top_note_and_never_joins_two_pieces():
    chord = np.zeros((8, 128, 1), dtype=bool)
    chord[0:4, [60, 64, 67], 0] = True  # a chord: its top note, 67, moves to 72 (5)
    chord[4:8, 72, 0] = True
    np.testing.assert_allclose(M.leap_rate(chord, min_interval=5), [1.0])
    np.testing.assert_allclose(M.leap_rate(chord, min_interval=6), [0.0])
    a = voice_roll([(60, 4), (61, 4)])
    b = voice_roll([(80, 4), (81, 4)])
    # two pieces in a batch: 60 -> 61 and 80 -> 81, never 61 -> 80
    np.testing.assert_allclose(M.leap_rate(np.stack([a, b])), [0.0])

    r = lengths_roll()
    np.testing.assert_allclose(M.fragment_rate(r), [2 / 5, 0.0, nan])
    np.testing.assert_allclose(M.long_note_ratio(r), [2 / 5, 1 / 2, nan])
    np.testing.assert_allclose(M.long_note_ratio(r, min_length=3), [2 / 5, 2 / 2, nan])
    np.testing.assert_allclose(M.fragment_rate(to_model_range(r)), M.fragment_rate(r))
    with pytest.raises(InvalidRollError):
        M.long_note_ratio(r, min_length=0)


def test_a_repeated_pitch_is_one_note_but_pieces_of_a_batch_never_join():
    merged = voice_roll([(55, 2), (55, 2)])
    np.testing.assert_allclose(M.note_lengths(merged, max_length=4, normalize=False)[:, 0],
                               [0, 0, 0, 1])
    whole = voice_roll([(55, 16)])
    batch = np.stack([whole, whole, voice_roll([(57, 1), (None, 15)])])
    np.testing.assert_allclose(M.note_lengths(batch, max_length=32, normalize=False)[[0, 15, 31], 0],
                               [1, 2, 0])
    np.testing.assert_allclose(M.fragment_rate(batch), [1 / 3])


# ------------------------------------------------------------------ rests under the melody
def test_rest_under_melody_per_accompaniment_voice():
    r = voice_roll(
        [(72, 4), (None, 4), (74, 8)],       # melody sounds at steps 0-3 and 8-15 (12 steps)
        [(60, 6), (None, 6), (62, 4)],       # silent at 6-11: 8-11 are under the melody
        [],                                  # silent throughout
        [(40, 16)])
    np.testing.assert_allclose(M.rest_under_melody(r), [4 / 12, 1.0, 0.0])
    # tracks reversed, the alto line (sounds at 0-5 and 12-15) as the melody: the
    # former melody is silent at its steps 4-5
    np.testing.assert_allclose(M.rest_under_melody(r[..., ::-1], melody_track=-2),
                               [0.0, 10 / 10, 2 / 10])
    assert np.all(np.isnan(M.rest_under_melody(voice_roll([], [(60, 4)]))))
    with pytest.raises(InvalidRollError):
        M.rest_under_melody(r, melody_track=4)


# ------------------------------------------------------------------ unisons with the melody
def test_unison_with_melody_counts_the_melodys_own_pitch_only():
    r = voice_roll(
        [(72, 4), (None, 4), (74, 8)],       # melody sounds at steps 0-3 and 8-15
        [(72, 6), (74, 2), (74, 3), (71, 5)],  # unison at 0-3 and 8-10; 4-7 melody silent
        [(60, 16)],                          # an octave below C5 (C4): never a unison
        [(62, 10)])                          # shares 8-9 with the melody (D4 against D5): no unison
    # alto: sounds with the melody at 0-3 and 8-15 (12 steps), unison at 0-3 and 8-10 (7)
    np.testing.assert_allclose(M.unison_with_melody(r), [7 / 12, 0.0, 0.0])
    # the alto as the melody: the soprano shares 12 steps with it, 7 in unison; the tenor 16 steps, none
    np.testing.assert_allclose(M.unison_with_melody(r, melody_track=1), [7 / 12, 0.0, 0.0])
    np.testing.assert_allclose(M.unison_with_melody(to_model_range(r)), M.unison_with_melody(r))
    assert np.all(np.isnan(M.unison_with_melody(voice_roll([], [(60, 4)]))))
    out = M.evaluate(r, key="C major")
    np.testing.assert_allclose(out["unison_with_melody"], [nan, 7 / 12, 0.0, 0.0])
    with pytest.raises(InvalidRollError):
        M.unison_with_melody(r, melody_track=-5)


# ------------------------------------------------------------------ parallel fifths and octaves
def parallels_roll():
    # one pitch per beat (4 steps); the soprano's passing 16th between beats is not an onset
    return voice_roll(
        [(72, 2), (73, 2), (74, 4), (76, 4), (77, 4)],   # C5 (C#5) D5 E5 F5
        [(65, 4), (67, 4), (69, 8)],                      # F4 G4 A4 A4 (holds at the last beat)
        [(60, 4), (62, 4), (60, 4), (62, 4)])             # C4 D4 C4 D4


def test_parallel_perfects_by_hand():
    r = parallels_roll()
    # S-A: fifths 7,7,7 then 8; both move on beats 1->2 and 2->3: 2 parallels of 2
    # S-B: octaves 0,0 then 4, 3; all three transitions move: 1 parallel of 3
    # A-B: 5, 5, 9, 7; both move on the first two: 0 of 2
    np.testing.assert_allclose(M.parallel_perfects(r), [3 / 5, 2 / 4, 1 / 5])
    np.testing.assert_allclose(M.parallel_perfects(r, per="all"), [3 / 7])
    np.testing.assert_allclose(M.parallel_perfects(r, per="pair"),
                               [[nan, 1, 1 / 3], [1, nan, 0], [1 / 3, 0, nan]])
    np.testing.assert_allclose(M.parallel_perfects(to_model_range(r)), [3 / 5, 2 / 4, 1 / 5])
    with pytest.raises(ConfigError):
        M.parallel_perfects(r, per="voice")


def test_parallel_perfects_needs_both_voices_to_move_and_sound():
    held = voice_roll([(72, 4), (74, 4)], [(60, 8)])          # octave to ninth, bass holds
    rest = voice_roll([(72, 4), (74, 4)], [(60, 4), (None, 4)])
    contrary = voice_roll([(72, 4), (67, 4)], [(48, 4), (55, 4)])  # octaves by contrary motion
    assert np.all(np.isnan(M.parallel_perfects(held)))
    assert np.all(np.isnan(M.parallel_perfects(rest)))
    np.testing.assert_allclose(M.parallel_perfects(contrary), [0.0, 0.0])
    np.testing.assert_allclose(M.parallel_perfects(contrary, contrary=True), [1.0, 1.0])
    # fifth to octave is no parallel: the interval class changes
    np.testing.assert_allclose(M.parallel_perfects(voice_roll([(67, 4), (72, 4)], [(60, 4), (60 - 12 + 2, 4)])),
                               [0.0, 0.0])


# ------------------------------------------------------------------ voice crossing
def test_voice_crossing_by_hand():
    r = voice_roll(
        [(72, 8)],
        [(67, 4), (74, 2), (None, 2)],          # above the soprano at steps 4-5: 2 of 6 steps
        [(60, 1), (69, 5), (62, 2)])            # above the alto at steps 1-3: 3 of 6 (alto rests at 6-7)
    np.testing.assert_allclose(M.voice_crossing(r), [nan, 2 / 6, 3 / 6])
    unison = voice_roll([(67, 4)], [(67, 4)])
    np.testing.assert_allclose(M.voice_crossing(unison), [nan, 0.0])
    assert np.all(np.isnan(M.voice_crossing(voice_roll([(72, 4)], [(None, 4)]))))


# ------------------------------------------------------------------ ranges
def test_out_of_range_against_satb_ranges():
    r = voice_roll(
        [(60, 4), (81, 4)],        # A5 above the soprano's G5: half the note-steps
        [(55, 8)],                 # G3, the alto's lowest
        [(47, 2), (48, 6)],        # B2 under the tenor's C3: 2 of 8
        [])
    np.testing.assert_allclose(M.out_of_range(r), [0.5, 0.0, 0.25, nan])
    compact = r[:, 28:92]
    np.testing.assert_allclose(M.out_of_range(compact, lowest_pitch=28), [0.5, 0.0, 0.25, nan])
    np.testing.assert_allclose(M.out_of_range(r[..., :2], ranges=[(60, 72), (56, 60)]), [0.5, 1.0])
    with pytest.raises(InvalidRollError):
        M.out_of_range(r[..., :3])
    assert M.SATB_RANGES[0] == (60, 79) and len(M.SATB_RANGES) == 4


# ------------------------------------------------------------------ evaluate
def test_evaluate_includes_voice_leading():
    r = voice_roll(
        [(72, 4), (74, 4), (76, 8)],
        [(65, 4), (67, 4), (None, 8)],
        [(57, 1), (59, 15)],
        [(48, 16)])
    out = M.evaluate(r, key="C major")
    np.testing.assert_allclose(out["rest_under_melody"], [nan, 0.5, 0.0, 0.0])
    np.testing.assert_allclose(out["fragment_rate"], M.fragment_rate(r))
    np.testing.assert_allclose(out["voice_crossing"], M.voice_crossing(r))
    np.testing.assert_allclose(out["parallel_perfects"], M.parallel_perfects(r))
    np.testing.assert_allclose(out["out_of_range"], M.out_of_range(r))
    assert out["note_lengths"].shape == (16, 4)
    assert np.all(np.isnan(M.evaluate(r[..., :3], key="C major")["out_of_range"]))


# ------------------------------------------------------------------ evaluation
def _bach_like_dataset():
    from deepaccomp.data import Dataset

    satb = voice_roll(
        [(72, 4), (74, 4), (76, 8)],
        [(67, 1), (65, 3), (67, 4), (None, 8)],
        [(60, 8), (59, 8)],
        [(48, 16)])
    pieces = [{"id": "p", "split": "test", "shift": 0, "key": "C major"},
              {"id": "q", "split": "excluded", "shift": 0, "key": "C major"}]
    return Dataset([satb, satb], pieces), satb


def test_baseline_reports_the_voice_leading_of_the_accompaniment():
    from deepaccomp.evaluation import evaluate_baseline

    ds, satb = _bach_like_dataset()
    r = evaluate_baseline("bach", ds)
    assert r["n_pieces"] == 1  # the excluded piece is not evaluated
    np.testing.assert_allclose(r["fragment_rate"], [1 / 3, 0, 0])
    np.testing.assert_allclose(r["long_note_ratio"], [1 / 3, 1, 1])
    np.testing.assert_allclose(r["rest_under_melody"], [0.5, 0, 0])
    np.testing.assert_allclose(r["parallel_perfects"], M.parallel_perfects(satb)[1:])
    np.testing.assert_allclose(r["voice_crossing"], [0, 0, 0])
    np.testing.assert_allclose(r["out_of_range"], M.out_of_range(satb)[1:])
    with pytest.raises(ConfigError):
        evaluate_baseline("silence", ds)


def test_second_harmonisation_scores_bach_against_bach_by_hand():
    from deepaccomp.data import Dataset
    from deepaccomp.evaluation import evaluate_second_harmonisation, second_harmonisations

    soprano = [(72, 8), (76, 8)]
    p = voice_roll(soprano, [(67, 16)], [(64, 16)], [(48, 16)])
    q = voice_roll(soprano, [(65, 4), (None, 4), (67, 8)], [(62, 8), (64, 8)], [(47, 8), (48, 8)])
    longer = np.concatenate([q, q])
    pieces = [{"id": "p", "split": "test"},
              {"id": "q", "split": "excluded", "same_tune_as": "p", "match": "tune"},
              {"id": "dup", "split": "excluded", "same_tune_as": "p", "match": "duplicate"},
              {"id": "long", "split": "excluded", "same_tune_as": "p", "match": "tune"},
              {"id": "other", "split": "train"}]
    ds = Dataset([p, q, p.copy(), longer, q], pieces)
    assert second_harmonisations(ds) == [(0, 1)]
    r = evaluate_second_harmonisation(ds)
    # q against p's {G, E, C}: alto sounds 12 steps, G agrees on 8; tenor E and bass C on 8 of 16.
    # p against q's {F, D, B} / {D, B} / {G, E, C}: each voice agrees on the last 8 of 16 steps.
    np.testing.assert_allclose(r["harmonic_agreement"], [(8 / 12 + 0.5) / 2, 0.5, 0.5])
    assert r["n_pairs"] == 1 and r["pairs"] == [("p", "q")]
    q_other_tune = q.copy()
    q_other_tune[:, :, 0] = np.roll(q[:, :, 0], 2, axis=1)
    ds.rolls[1] = q_other_tune  # a melody that differs at every step is not the same tune
    assert evaluate_second_harmonisation(ds)["n_pairs"] == 0


def test_check_quality_bar_takes_the_musical_targets():
    from deepaccomp.evaluation import MUSICAL_TARGETS, QUALITY_BAR, check_quality_bar

    result = {"harmonic_agreement": np.array([0.72, 0.74, 0.66]), "fragment_rate": np.array([0.05, 0.07, 0.0]),
              "long_note_ratio": np.array([0.5, 0.6, 0.7]), "polyphony": np.array([1.0, 1.0, 1.0])}
    musical = check_quality_bar(result, MUSICAL_TARGETS)
    assert musical == {"harmonic_agreement": ([0.72, 0.74, 0.66], True),
                       "fragment_rate": ([0.05, 0.07, 0.0], False),
                       "long_note_ratio": ([0.5, 0.6, 0.7], True)}
    low = dict(result, harmonic_agreement=np.array([0.9, 0.9, 0.64]))  # mean 0.81, one voice under 0.65
    assert check_quality_bar(low, MUSICAL_TARGETS)["harmonic_agreement"][1] is False
    assert set(check_quality_bar(result)) == {"harmonic_agreement", "polyphony"}
    assert "fragment_rate" not in QUALITY_BAR
    with pytest.raises(ConfigError):
        check_quality_bar(result, {"polyphony": ("==", 1.0)})
