"""Hand-computed checks of deepaccomp.metrics (pure numpy, fast)."""

import numpy as np
import pytest

from deepaccomp import metrics as M
from deepaccomp.errors import ConfigError, InvalidRollError
from deepaccomp.metrics import Key
from deepaccomp.representation import to_model_range

C4, E4, G4, C5 = 60, 64, 67, 72


def roll(steps=16, tracks=1, pitches=128):
    return np.zeros((steps, pitches, tracks), dtype=bool)


def melody(pitches, steps_each=4, tracks=1, track=0, n_pitches=128, lowest=0):
    """A monophonic line, one pitch per ``steps_each`` steps (None = rest)."""
    r = np.zeros((len(pitches) * steps_each, n_pitches, tracks), dtype=bool)
    for i, p in enumerate(pitches):
        if p is not None:
            r[i * steps_each:(i + 1) * steps_each, p - lowest, track] = True
    return r


def lab_empty_bar_rate(x):
    """The DeepComposer lab / MuseGAN formula, on (batch, bars, steps, pitch, tracks)."""
    return np.mean(np.any(x > 0.5, (2, 3)).astype(np.float32), (0, 1))


# ------------------------------------------------------------------ in-scale ratio
def test_c_major_triad_fully_in_c_major():
    r = roll()
    r[:, [C4, E4, G4], 0] = True
    np.testing.assert_allclose(M.in_scale_ratio(r, "C major"), [1.0])


def test_chromatic_cluster_is_seven_twelfths():
    r = roll()
    r[:, 60:72, 0] = True
    np.testing.assert_allclose(M.in_scale_ratio(r, "C major"), [7 / 12])
    # any diatonic key holds 7 of the 12 pitch classes
    np.testing.assert_allclose(M.in_scale_ratio(r, "A minor"), [7 / 12])


def test_in_scale_is_duration_weighted_and_per_track():
    r = roll(tracks=2)
    r[:12, C4, 0] = True   # 12 in-scale note-steps
    r[12:, 61, 0] = True   # 4 out-of-scale (C#)
    r[:, 66, 1] = True     # F#: out of C major, in G major
    np.testing.assert_allclose(M.in_scale_ratio(r, "C major"), [0.75, 0.0])
    np.testing.assert_allclose(M.in_scale_ratio(r, "G major"), [0.75, 1.0])
    np.testing.assert_allclose(M.in_scale_ratio(r, Key(7, "major")), [0.75, 1.0])
    np.testing.assert_allclose(M.in_scale_ratio(r, [0, 1]), [1.0, 0.0])


def test_in_scale_empty_track_is_nan():
    r = roll(tracks=2)
    r[:, C4, 0] = True
    out = M.in_scale_ratio(r)
    assert out[0] == 1.0 and np.isnan(out[1])


# ------------------------------------------------------------------ empty bars
def test_empty_bar_rate_counts_empty_bars():
    r = roll(steps=32, tracks=2)
    r[:4, C4, 0] = True          # track 0: bar 1 played, bar 2 empty
    r[:, E4, 1] = True           # track 1: both bars played
    np.testing.assert_allclose(M.empty_bar_rate(r), [0.5, 0.0])


def test_empty_bar_rate_is_the_inverse_of_the_lab_value():
    r = roll(steps=64, tracks=2)
    r[:16, C4, 0] = True                     # track 0: 1 of 4 bars played -> 3/4 empty
    r[16:48, E4, 1] = True                   # track 1: 2 of 4 bars played -> 1/2 empty
    ours = M.empty_bar_rate(r)
    np.testing.assert_allclose(ours, [0.75, 0.5])
    lab = lab_empty_bar_rate(to_model_range(r).reshape(1, 4, 16, 128, 2))
    np.testing.assert_allclose(lab, [0.25, 0.5])
    np.testing.assert_allclose(ours, 1 - lab)


def test_empty_bar_rate_steps_per_bar():
    r = roll(steps=24)
    r[:4, C4, 0] = True  # bars of 12: 1 played, 1 empty; bars of 8: 1 played, 2 empty
    np.testing.assert_allclose(M.empty_bar_rate(r, steps_per_bar=12), [0.5])
    np.testing.assert_allclose(M.empty_bar_rate(r, steps_per_bar=8), [2 / 3])


# ------------------------------------------------------------------ pitches used
def test_pitches_used_per_non_empty_bar():
    # bar 1: C D E C (3 distinct), bar 2: G G G G (1), bar 3: rest (excluded)
    r = melody([60, 62, 64, 60, 67, 67, 67, 67, None, None, None, None])
    np.testing.assert_allclose(M.pitches_used(r), [2.0])  # (3 + 1) / 2
    np.testing.assert_allclose(M.pitches_used(r, per="piece"), [4.0])  # C D E G


def test_pitches_used_counts_octaves_as_different_pitches():
    r = melody([60, 72, 60, 72])
    np.testing.assert_allclose(M.pitches_used(r), [2.0])


def test_pitches_used_per_piece_averages_over_the_batch():
    a = melody([60, 62, 64, 65])             # 4 distinct
    b = melody([60, 60, 62, 62])             # 2 distinct
    np.testing.assert_allclose(M.pitches_used(np.stack([a, b]), per="piece"), [3.0])
    # pooled per bar: (4 + 2) / 2 bars
    np.testing.assert_allclose(M.pitches_used(np.stack([a, b])), [3.0])


def test_pitches_used_empty_track_nan_and_bad_per():
    assert np.isnan(M.pitches_used(roll())[0])
    assert np.isnan(M.pitches_used(roll(), per="piece")[0])
    with pytest.raises(ConfigError):
        M.pitches_used(roll(), per="song")


def test_pitches_used_per_piece_accepts_any_length():
    r = melody([60, 62, 64], steps_each=3)  # 9 steps
    np.testing.assert_allclose(M.pitches_used(r, per="piece"), [3.0])
    with pytest.raises(InvalidRollError):
        M.pitches_used(r, per="bar")


# ------------------------------------------------------------------ polyphony
def test_polyphony_monophonic_line_and_triad():
    r = melody([60, 62, None, 64], tracks=2)
    r[:8, [C4, E4, G4], 1] = True
    np.testing.assert_allclose(M.polyphony(r), [1.0, 3.0])


def test_polyphony_ignores_silent_steps_but_averages_sounding_ones():
    r = roll()
    r[:4, [C4, E4], 0] = True      # 4 steps x 2
    r[4:8, C4, 0] = True           # 4 steps x 1
    np.testing.assert_allclose(M.polyphony(r), [1.5])
    assert np.isnan(M.polyphony(roll())[0])


# ------------------------------------------------------------------ pitch-class histogram
def test_pitch_class_histogram_octaves_share_a_class_and_semitones_do_not():
    r = roll()
    r[:, C4, 0] = True
    r[:, C5, 0] = True
    r[:8, 61, 0] = True  # C#4: 8 steps
    h = M.pitch_class_histogram(r, normalize=False)
    assert h.shape == (12, 1)
    assert h[0, 0] == 32 and h[1, 0] == 8 and h.sum() == 40
    hn = M.pitch_class_histogram(r)
    np.testing.assert_allclose(hn[:, 0].sum(), 1.0)
    np.testing.assert_allclose(hn[[0, 1], 0], [0.8, 0.2])


def test_pitch_class_histogram_empty_track():
    r = roll(tracks=2)
    r[:, C4, 0] = True
    h = M.pitch_class_histogram(r)
    assert np.all(np.isnan(h[:, 1]))
    assert np.all(M.pitch_class_histogram(r, normalize=False)[:, 1] == 0)


# ------------------------------------------------------------------ consonance
def test_consonance_third_below_consonant_tritone_and_second_dissonant():
    r = roll(tracks=4)
    r[:, E4, 0] = True            # melody E4
    r[:, C4, 1] = True            # major third below: (60-64) % 12 = 8 -> consonant
    r[:, 58, 2] = True            # Bb3: tritone below -> dissonant
    r[:, 62, 3] = True            # D4: major second below -> dissonant
    np.testing.assert_allclose(M.consonance_with_melody(r), [1.0, 0.0, 0.0])


def test_consonance_by_hand_with_melody_rests_excluded():
    r = roll(tracks=2)
    r[0:4, G4, 0] = True          # melody G4, steps 0-3
    r[4:8, C5, 0] = True          # melody C5, steps 4-7; steps 8-15 silent
    r[0:4, C4, 1] = True          # C vs G: (0 - 7) % 12 = 5 (fourth) -> consonant (4)
    r[4:8, 59, 1] = True          # B3 vs C: 11 -> dissonant (4)
    r[4:8, E4, 1] = True          # E vs C: 4 -> consonant (4)
    r[8:16, 61, 1] = True         # C#: no melody -> excluded
    np.testing.assert_allclose(M.consonance_with_melody(r), [8 / 12])


def test_consonance_uses_highest_melody_pitch_and_melody_track():
    r = roll(tracks=2)
    r[:, [C4, E4], 1] = True      # melody in track 1: highest is E4
    r[:, 65, 0] = True            # F4 vs E4: 1 semitone -> dissonant (vs C4 a fourth)
    np.testing.assert_allclose(M.consonance_with_melody(r, melody_track=1), [0.0])
    np.testing.assert_allclose(M.consonance_with_melody(r, melody_track=-1), [0.0])
    with pytest.raises(InvalidRollError):
        M.consonance_with_melody(r, melody_track=2)


def test_consonance_nan_without_overlap():
    r = roll(tracks=2)
    r[:8, C4, 0] = True
    r[8:, E4, 1] = True
    assert np.isnan(M.consonance_with_melody(r)[0])


# ------------------------------------------------------------------ harmonic agreement
def test_harmonic_agreement_three_of_four():
    gen = roll(steps=4)
    ref = roll(steps=4, tracks=3)
    gen[:, C4, 0] = True                 # 4 note-steps
    ref[0, 48, 1] = True                 # C3 in track 1: octave, agrees
    ref[1, C5, 2] = True                 # C5 in track 2: agrees
    ref[2, C4, 0] = True                 # same pitch: agrees
    ref[3, 61, 0] = True                 # C#: disagrees
    np.testing.assert_allclose(M.harmonic_agreement(gen, ref), [0.75])


def test_harmonic_agreement_per_generated_track_and_windows():
    gen = np.zeros((2, 64, 2), dtype=bool)   # compact window from 28
    ref = roll(steps=2, tracks=1)            # full window
    gen[:, G4 - 28, 0] = True
    gen[:, 61 - 28, 1] = True
    ref[:, 43, 0] = True                     # G2
    out = M.harmonic_agreement(gen, ref, lowest_pitch=28, reference_lowest_pitch=0)
    np.testing.assert_allclose(out, [1.0, 0.0])
    # the same windows, not told apart, give a different answer: 28 is E, not C
    assert not np.allclose(M.harmonic_agreement(gen, ref), out)


def test_harmonic_agreement_mismatch_raises():
    with pytest.raises(InvalidRollError):
        M.harmonic_agreement(roll(steps=16), roll(steps=32))
    with pytest.raises(InvalidRollError):
        M.harmonic_agreement(np.zeros((2, 16, 128, 1), bool), np.zeros((3, 16, 128, 1), bool))


def test_harmonic_agreement_empty_track_nan():
    assert np.isnan(M.harmonic_agreement(roll(), roll())[0])


# ------------------------------------------------------------------ input conventions
def _busy_roll():
    r = roll(steps=32, tracks=3)
    r[:16, [C4, E4, G4], 0] = True
    r[:16, 61, 1] = True          # C#: out of C major
    r[16:, 55, 1] = True          # G3
    r[16:, [C4, 66], 2] = True
    return r


def test_model_range_float_gives_the_same_answers_as_bool():
    r = _busy_roll()
    f = to_model_range(r)
    assert f.min() == -1.0
    soft = np.where(r, 0.3, -0.7).astype(np.float32)   # tanh-like values
    for x in (f, soft):
        np.testing.assert_allclose(M.empty_bar_rate(x), M.empty_bar_rate(r))
        np.testing.assert_allclose(M.pitches_used(x), M.pitches_used(r))
        np.testing.assert_allclose(M.in_scale_ratio(x), M.in_scale_ratio(r))
        np.testing.assert_allclose(M.polyphony(x), M.polyphony(r))
        np.testing.assert_allclose(M.pitch_class_histogram(x), M.pitch_class_histogram(r))
        np.testing.assert_allclose(M.consonance_with_melody(x), M.consonance_with_melody(r))
        np.testing.assert_allclose(M.harmonic_agreement(x, r), M.harmonic_agreement(r, r))
    # sanity: the values are not trivial
    np.testing.assert_allclose(M.in_scale_ratio(r), [1.0, 0.5, 0.5])
    np.testing.assert_allclose(M.polyphony(r), [3.0, 1.0, 2.0])


def test_batch_input_pools_over_pieces():
    a = roll(steps=16)
    b = roll(steps=16)
    a[:, C4, 0] = True            # 16 in-scale note-steps on 16 steps
    b[:4, [61, 66], 0] = True     # 8 out-of-scale note-steps over 4 steps
    batch = np.stack([a, b])
    np.testing.assert_allclose(M.in_scale_ratio(batch), [16 / 24])   # pooled, not mean(1, 0)
    np.testing.assert_allclose(M.polyphony(batch), [24 / 20])
    np.testing.assert_allclose(M.empty_bar_rate(np.stack([a, roll()])), [0.5])
    # a batch of 2 is the same as the two pieces end to end for these metrics
    cat = np.concatenate([a, b])
    for f in (M.in_scale_ratio, M.polyphony, M.empty_bar_rate, M.pitches_used):
        np.testing.assert_allclose(f(batch), f(cat))


def test_lowest_pitch_offset_compact_window():
    low = 28
    r = np.zeros((16, 64, 1), dtype=bool)
    r[:, [C4 - low, E4 - low, G4 - low], 0] = True
    np.testing.assert_allclose(M.in_scale_ratio(r, lowest_pitch=low), [1.0])
    h = M.pitch_class_histogram(r, lowest_pitch=low, normalize=False)[:, 0]
    assert h[0] == h[4] == h[7] == 16 and h.sum() == 48
    assert M.estimate_key(r, lowest_pitch=low) == Key(0, "major")
    # read as if index 0 were MIDI 0, indices 32, 36, 39 are G#, C, D#: 1/3 in C major
    np.testing.assert_allclose(M.in_scale_ratio(r), [1 / 3])


def test_bad_input_raises():
    with pytest.raises(InvalidRollError):
        M.empty_bar_rate(np.zeros(16, bool))
    with pytest.raises(InvalidRollError):
        M.polyphony(np.zeros((1, 1, 16, 128, 1), bool))
    with pytest.raises(InvalidRollError):
        M.empty_bar_rate(roll(steps=20))
    with pytest.raises(InvalidRollError):
        M.pitches_used(roll(steps=20))
    with pytest.raises(InvalidRollError):
        M.evaluate(roll(steps=20))
    with pytest.raises(InvalidRollError):
        M.estimate_key(roll())


# ------------------------------------------------------------------ keys
def test_key_estimate_c_major_scale_and_triad():
    assert M.estimate_key(melody([60, 62, 64, 65, 67, 69, 71, 72])) == Key(0, "major")
    r = roll()
    r[:, [C4, E4, G4], 0] = True
    assert M.estimate_key(r) == Key(0, "major")


def test_key_estimate_a_minor_with_a_emphasis():
    # A minor melody leaning on A, C, E
    r = melody([69, 72, 76, 69, 71, 72, 74, 76, 69, 67, 69, 64, 69, 72, 69, 69])
    assert M.estimate_key(r) == Key(9, "minor")
    assert M.estimate_key(r).name == "A minor"


def test_key_estimate_transposed_melody_and_tracks():
    tune = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 67, 64, 60, 60]
    g = melody([p + 7 for p in tune], tracks=2)
    assert M.estimate_key(g) == Key(7, "major")
    assert M.estimate_key(g).shift_to_c() == 5
    # tracks selects the notes counted
    g[:, [61, 66, 68], 1] = True
    assert M.estimate_key(g, tracks=0) == Key(7, "major")
    assert M.estimate_key(g, tracks=[0]) == Key(7, "major")
    with pytest.raises(InvalidRollError):
        M.estimate_key(g, tracks=1 + 1)


@pytest.mark.parametrize("name, shift", [
    ("C major", 0), ("G major", 5), ("F major", -5), ("D major", -2), ("Bb major", 2),
    ("F# major", -6), ("B major", 1), ("A minor", 0), ("E minor", 5), ("D minor", -5),
    ("C minor", -3), ("F# minor", 3), ("Eb minor", -6),
])
def test_shift_to_c(name, shift):
    key = Key.parse(name)
    assert key.shift_to_c() == shift
    moved = (key.tonic + shift) % 12
    assert moved == (0 if key.mode == "major" else 9)


def test_key_parse_name_and_pitch_classes_round_trip():
    for tonic in range(12):
        for mode in ("major", "minor"):
            k = Key(tonic, mode)
            assert Key.parse(k.name) == k
            assert len(set(k.pitch_classes)) == 7
    assert Key.parse("Bb major") == Key(10, "major") == Key.parse("A# major")
    assert Key.parse("f# minor") == Key(6, "minor")
    assert Key.parse("Am") == Key(9, "minor")
    assert Key.parse("Eb") == Key(3, "major")
    assert Key(0, "major").pitch_classes == (0, 2, 4, 5, 7, 9, 11)
    assert set(Key(9, "minor").pitch_classes) == set(Key(0, "major").pitch_classes)
    assert Key(6, "minor").name == "F# minor"
    with pytest.raises(ConfigError):
        Key.parse("H major")
    with pytest.raises(ConfigError):
        Key.parse("C dorian")
    with pytest.raises(ConfigError):
        Key(12, "major")


def test_estimate_key_from_histogram():
    h = np.zeros(12)
    h[[7, 11, 2]] = [3, 1, 2]   # G B D, G emphasised
    assert M.estimate_key_from_histogram(h) == Key(7, "major")
    with pytest.raises(InvalidRollError):
        M.estimate_key_from_histogram(np.zeros(12))
    with pytest.raises(InvalidRollError):
        M.estimate_key_from_histogram(np.ones(11))


# ------------------------------------------------------------------ evaluate
def test_evaluate_reports_every_metric_per_track():
    r = _busy_roll()
    out = M.evaluate(r, key="C major", reference=r[..., 1:])
    assert set(out) == {"empty_bar_rate", "pitches_used", "in_scale_ratio", "polyphony",
                        "pitch_class_histogram", "consonance_with_melody",
                        "harmonic_agreement", "note_lengths", "fragment_rate",
                        "long_note_ratio", "leap_rate", "rest_under_melody", "unison_with_melody", "parallel_perfects",
                        "voice_crossing", "out_of_range", "active_step_ratio"}
    shapes = {"pitch_class_histogram": (12, 3), "note_lengths": (16, 3)}
    for name, v in out.items():
        assert v.shape == shapes.get(name, (3,)), name
    np.testing.assert_allclose(out["in_scale_ratio"], [1.0, 0.5, 0.5])
    assert np.isnan(out["consonance_with_melody"][0])
    np.testing.assert_allclose(out["consonance_with_melody"][1:], M.consonance_with_melody(r))
    np.testing.assert_allclose(out["empty_bar_rate"], [0.5, 0.0, 0.5])
    assert "harmonic_agreement" not in M.evaluate(r)


def test_evaluate_estimates_the_key_from_the_melody():
    r = melody([p + 7 for p in [60, 64, 67, 72, 67, 64, 62, 60]], tracks=2)  # G major melody
    r[:, 66, 1] = True     # F#: in G major, not in C major
    out = M.evaluate(r)
    np.testing.assert_allclose(out["in_scale_ratio"], [1.0, 1.0])
    np.testing.assert_allclose(M.evaluate(r, key="C major")["in_scale_ratio"], [1.0, 0.0])
    silent = M.evaluate(roll(tracks=2))
    assert np.all(np.isnan(silent["in_scale_ratio"]))


def test_chroma_hand_computed():
    # 3 steps, pitches 59..62 (B, C, C#, D) from lowest_pitch 59, 2 tracks
    roll = np.zeros((3, 4, 2), bool)
    roll[0, 1, 0] = roll[0, 0, 0] = True  # C and B at step 0, track 0
    roll[2, 3, 1] = True  # D at step 2, track 1
    c = M.chroma(roll, lowest_pitch=59)
    assert c.shape == (3, 12, 2)
    assert c[0, :, 0].tolist() == [1] + [0] * 10 + [1]
    assert c[2, 2, 1] == 1 and c.sum() == 3
