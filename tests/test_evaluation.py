"""evaluation.evaluate_melodies: figures of melodies without a reference, through generate's MIDI."""

import numpy as np
import pytest

from conftest import make_midi
from deepaccomp.errors import ConfigError
from deepaccomp.evaluation import evaluate_melodies
from deepaccomp.layout import get_layout

MELODY = [(72, 0, 2), (74, 2, 4), (76, 4, 8)]  # two bars of 4/4: C5 half, D5 half, E5 whole


class FakeAccompanist:
    """``generate`` as the library's: the melody, then alto / tenor / bass; records the pickups it is given.

    The alto doubles the melody an octave down; the tenor holds G3 for the first two beats
    only; the bass holds C3 through the first bar of the file only.
    """

    layout = get_layout("satb")

    def __init__(self):
        self.calls = []

    def generate(self, melodies, *, seed=None, pickup=None):
        self.calls.append((len(melodies), seed, pickup))
        return [make_midi([("melody", 73, MELODY), ("alto", 52, [(p - 12, a, b) for p, a, b in MELODY]),
                           ("tenor", 52, [(55, 0, 2)]), ("bass", 52, [(48, 0, 4)])]) for _ in melodies]


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
