"""evaluation.evaluate_melodies: figures of melodies without a reference, through the pieces generate writes."""

import numpy as np
import pytest

from helpers import make_midi
from deepaccomp.errors import ConfigError
from deepaccomp import data, metrics
from deepaccomp.evaluation import (THREE_FOUR_REASON, evaluate_melodies, evaluate_pieces, paired_difference,
                                   three_four_chorales)
from deepaccomp.layout import get_layout
from deepaccomp.piece import read_piece

MELODY = [(72, 0, 2), (74, 2, 4), (76, 4, 8)]  # two bars of 4/4: C5 half, D5 half, E5 whole


class FakeAccompanist:
    """``generate`` as the library's: the melody, then alto / tenor / bass; records the pickups it is given.

    The alto doubles the melody an octave down; the tenor holds G3 for the first two beats
    only; the bass holds C3 through the first bar of the file only.
    """

    layout = get_layout("satb")

    def __init__(self):
        self.calls = []

    def generate(self, melodies, *, seed=None, pickup=None, decoding=None):
        self.calls.append((len(melodies), seed, pickup))
        return [make_midi([("melody", 73, MELODY), ("alto", 52, [(p - 12, a, b) for p, a, b in MELODY]),
                           ("tenor", 52, [(55, 0, 2)]), ("bass", 52, [(48, 0, 4)])]) for _ in melodies]

    def generate_piece(self, melodies, *, seed=None, pickup=None, decoding=None):
        """What ``generate`` writes, as the piece it was written from (its bars found with ``pickup``)."""
        return [read_piece(pm, self.layout, pickup=pickup)
                for pm in self.generate(melodies, seed=seed, pickup=pickup, decoding=decoding)]


def test_figures_by_hand_on_the_file_bars():
    r = evaluate_melodies(FakeAccompanist(), [make_midi([("melody", 73, MELODY)])], seeds=(0, 1), pickups=[0.0])
    assert "harmonic_agreement" not in r
    assert r["n_pieces"] == 1 and r["seed_difference"] == 0.0
    # bars [0, 16) and [16, 32): the tenor and bass sound in the first only
    np.testing.assert_allclose(r["empty_bar_rate"], [0.0, 0.5, 0.5])
    # steps where the melody sounds (32) and the voice does not: tenor 24, bass 16
    np.testing.assert_allclose(r["rest_under_melody"], [0.0, 24 / 32, 16 / 32])
    np.testing.assert_allclose(r["fragment_rate"], [0.0, 0.0, 0.0])
    np.testing.assert_allclose(r["long_note_ratio"], [1.0, 1.0, 1.0])
    np.testing.assert_allclose(r["in_scale_ratio"], [1.0, 1.0, 1.0])  # key estimated from the melody: C major


def test_a_pickup_moves_the_bar_lines_of_the_per_bar_figures():
    # a two-beat upbeat: bars [-8, 8), [8, 24), [24, 40) of the file's steps; the tenor sounds in the
    # first only (steps 0-7), the bass in the first two (steps 0-15)
    r = evaluate_melodies(FakeAccompanist(), [make_midi([("melody", 73, MELODY)])], seeds=(0,), pickups=[2.0])
    np.testing.assert_allclose(r["empty_bar_rate"], [0.0, 2 / 3, 1 / 3])
    np.testing.assert_allclose(r["rest_under_melody"], [0.0, 24 / 32, 16 / 32])  # bar lines change nothing here


def test_one_pass_per_pickup_value_and_results_in_input_order():
    fake = FakeAccompanist()
    melodies = [make_midi([("melody", 73, MELODY)])] * 3
    r = evaluate_melodies(fake, melodies, seeds=(0, 1), pickups=[1.0, None, 1.0])
    assert sorted(fake.calls, key=str) == sorted([(2, 0, 1.0), (1, 0, None), (2, 1, 1.0), (1, 1, None)], key=str)
    assert r["n_pieces"] == 3


def test_pickups_must_name_every_melody():
    with pytest.raises(ConfigError, match="pickups names 1 melodies, 2 were given"):
        evaluate_melodies(FakeAccompanist(), [make_midi([("melody", 73, MELODY)])] * 2, pickups=[0.0])


# ------------------------------------------------------------------ pieces with reference voices
class RollAccompanist:
    """``accompany`` as the library's, returning fixed voices and recording the bar length it is told.

    Alto: Bach's alto (C4) for steps 0-13 only; tenor: F#3 throughout (no pitch class of
    Bach's voices); bass: Bach's bass (C3) throughout.
    """

    layout = get_layout("satb")

    def __init__(self):
        self.bars = []

    def accompany(self, melodies, *, seed=None, steps_per_bar=16, decoding=None):
        self.bars.append(steps_per_bar)
        out = []
        for m in melodies:
            acc = np.zeros((m.shape[0], 128, 3), dtype=bool)
            acc[:14, 60, 0] = True
            acc[:, 54, 1] = True
            acc[:, 48, 2] = True
            out.append(acc)
        return out


def _chorale(steps=48):
    """Melody E5, alto C4, tenor G3, bass C3, all held for ``steps`` steps; key C major."""
    roll = np.zeros((steps, 128, 4), dtype=bool)
    for k, p in enumerate((76, 60, 55, 48)):
        roll[:, p, k] = True
    return roll, metrics.Key.parse("C major")


def test_pieces_are_measured_on_the_bar_length_given():
    fake = RollAccompanist()
    r = evaluate_pieces(fake, [_chorale()], seeds=(0, 1), steps_per_bar=12)
    assert fake.bars == [12, 12] and r["n_pieces"] == 1 and r["seed_difference"] == 0.0
    np.testing.assert_allclose(r["harmonic_agreement"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(r["in_scale_ratio"], [1.0, 0.0, 1.0])
    # the alto sounds in steps 0-13: in 2 of the four 12-step bars, in 1 of the three 16-step bars
    np.testing.assert_allclose(r["empty_bar_rate"], [0.5, 0.0, 0.0])
    np.testing.assert_allclose(evaluate_pieces(RollAccompanist(), [_chorale()], seeds=(0,))["empty_bar_rate"],
                               [2 / 3, 0.0, 0.0])
    with pytest.raises(ConfigError, match="no piece"):
        evaluate_pieces(fake, [])


class SkippedChorales:
    """A dataset that holds one chorale and skipped two in 3/4 (one of them listed twice), one with the same tune."""

    def __init__(self, same, other):
        from music21 import corpus

        self.rolls = [data.score_to_roll(corpus.parse(same), "3/4")[0]]
        self.pieces = [{"id": "held/" + same}]
        self.skipped = [{"id": same, "reason": THREE_FOUR_REASON + "is not 4/4"},
                        {"id": other, "reason": THREE_FOUR_REASON + "is not 4/4"},
                        {"id": other, "reason": THREE_FOUR_REASON + "is not 4/4"},  # the corpus lists some twice
                        {"id": "bach/bwv1.6", "reason": "parts [...] lack one of S/A/T/B"}]


@pytest.mark.slow
def test_three_four_chorales_leave_out_tunes_the_dataset_holds():
    pieces, report = three_four_chorales(SkippedChorales("bach/bwv19.7", "bach/bwv269"))
    assert report["ids"] == ["bach/bwv269"]
    assert report["left_out"] == {"bach/bwv19.7": "same tune as held/bach/bwv19.7 (1.00)"}
    assert report["listed_again"] == ["bach/bwv269"]
    (roll, key), = pieces
    assert roll.shape[1:] == (128, 4) and roll.shape[0] % 12 == 0 and roll[:12].any()
    assert isinstance(key, metrics.Key)


def test_per_piece_figures_average_the_seeds_only():
    short = _chorale(24)
    r = evaluate_pieces(RollAccompanist(), [_chorale(), short], seeds=(0, 1), steps_per_bar=12, per_piece=True)
    # the alto sounds in steps 0-13: 2 of 4 bars of the long piece, both bars of the short one
    np.testing.assert_allclose(r["per_piece"]["empty_bar_rate"], [[0.5, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(r["empty_bar_rate"], [0.25, 0, 0])
    assert r["per_piece"]["harmonic_agreement"].shape == (2, 3)
    assert "per_piece" not in evaluate_pieces(RollAccompanist(), [short], seeds=(0,), steps_per_bar=12)


def test_paired_difference_by_hand():
    a = [[0.5, 0.75], [0.5, np.nan], [0.75, 0.5]]
    b = [[0.5, 0.5], [0.75, 0.25], [0.5, 0.75]]
    d = paired_difference(a, b, resamples=2000)
    # per piece: (0 + 0.25) / 2 = 0.125; -0.25 (the nan's pair left out); (0.25 - 0.25) / 2 = 0
    assert d["mean"] == pytest.approx(-0.125 / 3) and d["n"] == 3
    assert d["better"] == 1 and d["worse"] == 1
    # deviations 1/6, -5/24, 1/24: squares sum to 0.0729167; / 2, sqrt, / sqrt(3)
    assert d["standard_error"] == pytest.approx(0.110240, rel=1e-4)
    lo, hi = d["interval_95"]
    assert -0.25 <= lo < d["mean"] < hi <= 0.125
    one_sided = paired_difference([0.75, 0.5, 1.0, 0.875], [0.625, 0.375, 0.875, 0.75])
    assert one_sided["mean"] == 0.125 and one_sided["standard_error"] == 0.0
    assert one_sided["interval_95"] == [0.125, 0.125] and one_sided["better"] == 4
    with pytest.raises(ConfigError, match="equal"):
        paired_difference([0.1, 0.2], [0.1])
    with pytest.raises(ConfigError, match="no piece"):
        paired_difference([np.nan], [0.5])
