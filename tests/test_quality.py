"""The shipped model on held-out chorales: a cheap subset of the model card's quality bar.

The full figures (35 test chorales x 3 seeds) are in docs/model_card.md and are
produced by scripts/train_default_model.py; this test re-measures a subset on
the first test chorales so that a regressed model or pipeline is noticed.
"""

import numpy as np
import pytest

from deepaccomp import Accompanist, data, evaluation


@pytest.fixture(scope="module")
def first_test_chorales():
    # positions 0, 10, ..., 100 are test chorales (those in 3/4 are skipped by the build)
    ds = data.build_chorales(limit=101, progress=False)
    assert len(ds.indices("test")) >= 6
    return ds


@pytest.fixture(scope="module")
def shipped_figures(first_test_chorales):
    return evaluation.evaluate_generator(Accompanist(), first_test_chorales, split="test", seeds=(0, 1))


@pytest.mark.slow
def test_shipped_model_meets_the_bar_on_a_few_test_chorales(shipped_figures):
    r = shipped_figures
    # the shipped model sits at 0.90-0.92 per voice on all 35 test chorales (model card);
    # this floor allows a few chorales' spread and stays far above random in-key notes (0.69)
    assert np.all(r["consonance_with_melody"] >= 0.85), r
    assert np.all(r["in_scale_ratio"] >= 0.88), r
    assert np.all(r["polyphony"] <= 1.0), r
    assert np.all((r["pitches_used"] >= 2.5) & (r["pitches_used"] <= 5.0)), r
    assert np.all(r["empty_bar_rate"] <= 0.02), r
    assert r["seed_difference"] >= 0.15, r
    # harmonic agreement on 6-9 chorales varies by a few points around the
    # 35-chorale figure of the model card (0.61, on tunes never trained on);
    # this floor still sits far above the baselines (random in-key notes 0.32,
    # melody doubled 0.35)
    assert np.mean(r["harmonic_agreement"]) >= 0.55, r


@pytest.mark.slow
def test_shipped_model_meets_the_voice_leading_targets_on_a_few_test_chorales(shipped_figures):
    # the musical targets of the model card that the shipped model meets on all 35 test chorales
    # (its pass/fail list checks the exact targets there); the share of quarter-or-longer
    # notes varies by a few points on 6-9 chorales, and the shipped alto sits near the top
    # of its 0.45-0.70 range (0.686 on all 35, 0.704 on these), so the subset is held to
    # 0.03 around the range; one-step notes vary too (the tenor's 0.047 on all 35, 0.063 on
    # these), so the subset is held to 0.02 over the 0.06: a model that stutters (0.1 and
    # more) or only holds whole notes still fails
    r = shipped_figures
    assert np.all(r["fragment_rate"] <= 0.08), r
    assert np.all((r["long_note_ratio"] >= 0.42) & (r["long_note_ratio"] <= 0.73)), r
    assert np.all(r["rest_under_melody"] <= 0.03), r
    assert np.all(r["voice_crossing"] <= 0.01), r
    assert np.all(r["parallel_perfects"] <= 0.01), r


@pytest.mark.slow
def test_baselines_reproduce_the_anchor_figures(first_test_chorales):
    rnd = evaluation.evaluate_baseline("random_in_key", first_test_chorales)
    dbl = evaluation.evaluate_baseline("melody_doubled", first_test_chorales)
    bach = evaluation.evaluate_baseline("bach", first_test_chorales)
    assert 0.2 < np.mean(rnd["harmonic_agreement"]) < 0.42
    assert 0.25 < np.mean(dbl["harmonic_agreement"]) < 0.45
    assert np.allclose(bach["harmonic_agreement"], 1.0)
    assert np.all(dbl["consonance_with_melody"] == 1.0)
    assert np.allclose(bach["polyphony"], 1.0, atol=0.02)
