"""deepaccomp.judge: window features by hand, the classifier two-sample test's sanity checks, grouped folds."""

import numpy as np
import pytest

from deepaccomp import judge
from deepaccomp.errors import ConfigError


def _window():
    """Two bars of four voices in C major, every voice different.

    Soprano E5 throughout; alto C5 for two beats, C5 struck again for two beats,
    then D5; tenor G4 held throughout; bass C3 for four beats, B2 for an eighth,
    then G2 from the off-beat eighth of beat 5.
    """
    roll = np.zeros((32, 128, 4), bool)
    onsets = np.zeros_like(roll)
    for k, notes in enumerate([[(76, 0, 32)], [(72, 0, 8), (72, 8, 16), (74, 16, 32)], [(67, 0, 32)],
                               [(48, 0, 16), (47, 16, 18), (43, 18, 32)]]):
        for p, a, b in notes:
            roll[a:b, p, k] = True
            onsets[a, p, k] = True
    return roll, onsets


def _counts(row):
    return {name: row[i] for i, name in enumerate(judge.FEATURE_NAMES) if row[i]}


def test_window_features_by_hand():
    roll, onsets = _window()
    f = judge.window_features(roll, 0, onsets)
    assert f.shape == (1, len(judge.FEATURE_NAMES))
    assert _counts(f[0]) == {
        "beat: 3 pitch classes": 7, "beat: 4 pitch classes": 1,
        # above the bass: C-E-G on beats 1-4 (4, 7), B-D-E-G on beat 5 (3, 5, 8), G-D-E on beats 6-8 (9, 7)
        "beat: 4 semitones above the bass (mod 12)": 4, "beat: 7 semitones above the bass (mod 12)": 7,
        "beat: 3 semitones above the bass (mod 12)": 1, "beat: 5 semitones above the bass (mod 12)": 1,
        "beat: 8 semitones above the bass (mod 12)": 1, "beat: 9 semitones above the bass (mod 12)": 3,
        "beat: degree 0 sounds": 4, "beat: degree 4 sounds": 8, "beat: degree 7 sounds": 8,
        "beat: degree 2 sounds": 4, "beat: degree 11 sounds": 1,
        "beat: bass on degree 0": 4, "beat: bass on degree 11": 1, "beat: bass on degree 7": 3,
        "beat: soprano-alto interval 4": 4, "beat: soprano-alto interval 2": 4,
        "beat: soprano-tenor interval 9": 8,
        "beat: soprano-bass interval 4": 4, "beat: soprano-bass interval 5": 1, "beat: soprano-bass interval 9": 3,
        "beat: alto-tenor interval 5": 4, "beat: alto-tenor interval 7": 4,
        "beat: alto-bass interval 0": 4, "beat: alto-bass interval 3": 1, "beat: alto-bass interval 7": 3,
        "beat: tenor-bass interval 7": 4, "beat: tenor-bass interval 8": 1, "beat: tenor-bass interval 0": 3,
        "alto: repeat": 1, "alto: up tone": 1, "alto: re-struck notes": 1, "alto: notes on the beat": 3,
        "alto: held beats": 5,
        "tenor: notes on the beat": 1, "tenor: held beats": 7,
        "bass: down semitone": 1, "bass: down third": 1, "bass: notes on the beat": 2,
        "bass: notes on an off-beat eighth": 1, "bass: held beats": 6,
        "soprano-alto: oblique motion": 1, "soprano-bass: oblique motion": 2, "alto-tenor: oblique motion": 1,
        "alto-bass: contrary motion": 1, "alto-bass: oblique motion": 1, "tenor-bass: oblique motion": 2,
    }


def test_without_onsets_a_run_is_one_note():
    roll, _ = _window()
    counts = _counts(judge.window_features(roll)[0])
    assert "alto: re-struck notes" not in counts and "alto: repeat" not in counts
    assert counts["alto: notes on the beat"] == 2 and counts["alto: held beats"] == 6


def test_key_shift_moves_the_degrees():
    roll, onsets = _window()
    counts = _counts(judge.window_features(roll, 2, onsets)[0])  # read as B-flat major moved to C
    assert counts["beat: bass on degree 2"] == 4 and counts["beat: bass on degree 9"] == 3


def test_windows_hop_one_bar_and_skip_a_silent_melody():
    roll, onsets = _window()
    long = np.concatenate([roll, roll, np.zeros_like(roll)])  # 6 bars, the last two without melody
    assert len(judge.window_features(long)) == 4  # starts at bars 0..3; bar 4's window has no melody


def _synthetic(shift, n=400, d=12, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    y = np.r_[np.zeros(n // 2), np.ones(n // 2)]
    x[y == 1, 3] += shift
    return x, y, np.arange(n) % 40


def test_one_feature_apart_is_told_and_named():
    result = judge.judge(None, None, None, features=_synthetic(3.0))
    assert result["accuracy"] > 0.9 and result["auc"] > 0.95
    assert result["top_features"][0][0] == "feature 3" and result["top_features"][0][1] > 0


def test_the_same_distribution_is_chance():
    result = judge.judge(None, None, None, features=_synthetic(0.0))
    assert 0.4 < result["accuracy"] < 0.6 and 0.4 < result["auc"] < 0.6


def _random_piece(rng, bars=4):
    """A melody with random chord tones below it, one per beat per voice."""
    roll = np.zeros((bars * 16, 128, 4), bool)
    for t in range(0, bars * 16, 4):
        for k, (lo, hi) in enumerate([(67, 79), (60, 72), (53, 65), (40, 52)]):
            roll[t:t + 4, rng.integers(lo, hi), k] = True
    return roll


def test_the_doubled_melody_is_always_told_from_random_voices():
    rng = np.random.default_rng(0)
    real = [(_random_piece(rng), None) for _ in range(10)]
    doubled = []
    for roll, _ in real:
        d = roll.copy()
        for k in (1, 2, 3):
            d[..., k] = np.roll(roll[..., 0], -12 * k, axis=1)
        doubled.append((d, None))
    result = judge.judge(real, doubled, list(range(10)))
    assert result["accuracy"] == 1.0 and result["n_windows"] == {"real": 30, "candidate": 30}


def test_grouped_folds_never_split_a_group_and_are_seeded():
    groups = np.repeat([f"chorale {i}" for i in range(13)], 7)
    folds = judge.grouped_folds(groups, 5, seed=1)
    for g in set(groups):
        assert len(set(folds[groups == g])) == 1
    assert set(folds) == set(range(5))
    assert np.array_equal(folds, judge.grouped_folds(groups, 5, seed=1))
    assert not np.array_equal(folds, judge.grouped_folds(groups, 5, seed=2))


def test_judge_is_deterministic():
    data = _synthetic(0.5)
    assert judge.judge(None, None, None, features=data, seed=3) == judge.judge(None, None, None, features=data, seed=3)


def test_auc_by_hand():
    assert judge.auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert judge.auc([1, 1], [0, 1]) == 0.5


@pytest.mark.parametrize("call, message", [
    (lambda: judge.window_features(np.zeros((32, 128, 3), bool)), "four-voice rolls"),
    (lambda: judge.grouped_folds([1, 2, 3], 5), "3 groups cannot fill 5 folds"),
    (lambda: judge.judge(None, None, None, features=_synthetic(0.0), folds=1), "folds must be"),
    (lambda: judge.pieces_windows([(np.zeros((32, 128, 4), bool), None)], []), "0 group labels for 1 pieces"),
    (lambda: judge.judge([], [(np.zeros((32, 128, 4), bool), None)], []), "one side has none"),
])
def test_bad_input_is_one_clear_error(call, message):
    with pytest.raises(ConfigError, match=message):
        call()


def test_score_onsets_reads_re_struck_notes_and_not_ties():
    stream = pytest.importorskip("music21.stream")
    from music21 import meter, note, tie
    from deepaccomp.data import score_to_roll

    score = stream.Score()
    lines = {"Soprano": [(76, 4.0)], "Alto": [(72, 2.0, "start"), (72, 1.0, "stop"), (72, 1.0)],
             "Tenor": [(67, 4.0)], "Bass": [(48, 4.0)]}
    for name, notes in lines.items():
        part, measure = stream.Part(), stream.Measure(number=1)
        part.partName = name
        measure.append(meter.TimeSignature("4/4"))
        for p, length, *tied in notes:
            n = note.Note(p, quarterLength=length)
            if tied:
                n.tie = tie.Tie(tied[0])
            measure.append(n)
        part.append(measure)
        score.insert(0, part)
    roll, _ = score_to_roll(score)
    onsets = judge.score_onsets(score, roll)
    assert roll[:, 72, 1].all() and list(np.nonzero(onsets[:, 72, 1])[0]) == [0, 12]
    assert list(np.nonzero(onsets[..., 3].any(axis=1))[0]) == [0]


def test_count_verticals_by_hand():
    # two beats (4 steps each): soprano 72, 74; alto 67, 65; tenor 64, then silent; bass 48, 50 (MIDI)
    roll = np.zeros((8, 128, 4), bool)
    for voice, (first, second) in enumerate([(72, 74), (67, 65), (64, None), (48, 50)]):
        roll[:4, first, voice] = True
        if second is not None:
            roll[4:, second, voice] = True
    counts = judge.count_verticals([roll, roll[:4]])  # the second piece: the first beat alone
    assert counts.shape == (6, 12) and counts.dtype == np.int64
    want = np.zeros((6, 12), np.int64)
    for pair, interval in [(0, 5), (1, 8), (2, 0), (3, 3), (4, 7), (5, 4)]:  # beat 1 of both pieces
        want[pair, interval] += 2
    for pair, interval in [(0, 9), (2, 0), (4, 3)]:  # beat 2: the tenor silent
        want[pair, interval] += 1
    assert (counts == want).all()
