"""The pop evaluation's metrics (deepaccomp.metrics, issue 32), each against answers computed by hand."""

import numpy as np
import pytest

from deepaccomp import metrics
from deepaccomp.errors import InvalidRollError


def roll(steps, notes, n_pitch=128, tracks=None):
    """A bool roll ``(steps, n_pitch)`` (or with ``tracks``) from ``(pitch index, first, last + 1[, track])``."""
    r = np.zeros((steps, n_pitch) + ((tracks,) if tracks else ()), dtype=bool)
    for note in notes:
        p, a, b = note[:3]
        if tracks:
            r[a:b, p, note[3]] = True
        else:
            r[a:b, p] = True
    return r


def test_triad_templates_are_root_third_fifth_at_code_2_root_plus_quality():
    t = metrics.triad_templates()
    assert t.shape == (24, 12) and (t.sum(axis=1) == 3).all()
    assert set(np.nonzero(t[0])[0]) == {0, 4, 7}  # C major
    assert set(np.nonzero(t[1])[0]) == {0, 3, 7}  # C minor
    assert set(np.nonzero(t[2 * 9 + 1])[0]) == {9, 0, 4}  # A minor
    assert set(np.nonzero(t[2 * 11])[0]) == {11, 3, 6}  # B major: B D# F#


def chord_roll():
    """Five beats over two tracks, lowest pitch 48 (C3): index i is MIDI 48 + i."""
    notes = [(0, 0, 4, 0), (4, 0, 4, 1), (7, 0, 2, 0),      # beat 0: C 4 steps, E 4, G 2 -> C major
             (9, 4, 8, 0), (12, 4, 7, 0), (16, 4, 5, 1),    # beat 1: A 4, C 3, E 1 (A minor: 8) ...
             (5, 4, 6, 1),                                  # ... and F 2: F major (F 2 + A 4 + C 3 = 9) wins
             # beat 2 silent
             (12, 12, 14, 0), (16, 12, 14, 1),              # beat 3: C 2, E 2: C major and A minor tie at 4
             (2, 16, 20, 0)]                                # beat 4: D alone: D major (the lowest code with D)
    return roll(20, notes, n_pitch=40, tracks=2)


def test_recognise_chords_by_duration_weighted_chroma_ties_to_the_lowest_code():
    found = metrics.recognise_chords(chord_roll(), lowest_pitch=48)
    assert found.tolist() == [0, 2 * 5, metrics.NO_CHORD, 0, 2 * 2]
    c = metrics.beat_chroma(chord_roll(), lowest_pitch=48)
    assert c.shape == (5, 12) and c[1].tolist() == [3, 0, 0, 0, 1, 2, 0, 0, 0, 4, 0, 0]


def test_chord_accuracy_counts_annotated_beats_and_a_silent_beat_as_wrong():
    # annotated: C major (right), A minor (wrong: F major found), D major (silent: wrong),
    # C major (right, by the tie rule), none (not counted)
    chords = [0, 2 * 9 + 1, 2 * 2, 0, metrics.NO_CHORD]
    assert metrics.chord_accuracy(chord_roll(), chords, lowest_pitch=48) == pytest.approx(2 / 4)
    # the same notes read an octave higher are the same chords: only the pitch classes count
    assert metrics.chord_accuracy(chord_roll(), chords, lowest_pitch=60) == pytest.approx(2 / 4)
    assert np.isnan(metrics.chord_accuracy(chord_roll(), [-1] * 5, lowest_pitch=48))
    with pytest.raises(InvalidRollError, match="4 chords for a roll of 5 beats"):
        metrics.chord_accuracy(chord_roll(), chords[:4], lowest_pitch=48)
    with pytest.raises(InvalidRollError, match="-1..23"):
        metrics.chord_accuracy(chord_roll(), [24, 0, 0, 0, 0], lowest_pitch=48)
    with pytest.raises(InvalidRollError, match="whole number of beats"):
        metrics.recognise_chords(chord_roll()[:18])


def onsets(steps, hits):
    """Onsets ``(steps, 128)`` at ``(step, pitch)`` pairs."""
    o = np.zeros((steps, 128), dtype=bool)
    for s, p in hits:
        o[s, p] = True
    return o


def test_onset_positions_and_groove_similarity_per_bar():
    # a: bar 0 at 0, 4, 8, 12 (two pitches at 0); bar 1 silent; bar 2 at 0, 6
    a = onsets(48, [(0, 60), (0, 64), (4, 60), (8, 60), (12, 60), (32, 60), (38, 62)])
    # b: bar 0 at 0, 8; bar 1 silent; bar 2 at 0, 2, 6
    b = onsets(48, [(0, 40), (8, 40), (32, 40), (34, 43), (38, 40)])
    pos = metrics.onset_positions(a)
    assert pos.shape == (3, 16) and np.nonzero(pos[0])[0].tolist() == [0, 4, 8, 12] and not pos[1].any()
    # bar 0: 2 of 16 positions differ; bar 1: both silent, left out; bar 2: 1 of 16
    assert metrics.groove_similarity(a, b) == pytest.approx(((1 - 2 / 16) + (1 - 1 / 16)) / 2)
    assert metrics.groove_similarity(a, a) == 1.0
    assert np.isnan(metrics.groove_similarity(np.zeros_like(a), np.zeros_like(b)))
    # a silent part against one playing: the positions where the other plays are the difference
    assert metrics.groove_similarity(a, np.zeros_like(a)) == pytest.approx(((1 - 4 / 16) + (1 - 2 / 16)) / 2)
    with pytest.raises(InvalidRollError, match="3 and 2 bars"):
        metrics.groove_similarity(a, b[:32])


def test_onset_profile_similarity_compares_shares_of_bars_per_position():
    a = onsets(48, [(0, 60), (4, 60), (8, 60), (12, 60), (32, 60), (38, 62)])
    b = onsets(16, [(0, 50), (8, 50)])  # one bar: another length is fine
    pa = metrics.onset_profile(a)  # over bars 0 and 2 (bar 1 has no onset)
    assert pa[[0, 4, 6, 8, 12]].tolist() == [1.0, 0.5, 0.5, 0.5, 0.5] and pa.sum() == 3.0
    # differences 0.5 at positions 4, 6, 8 and 12
    assert metrics.onset_profile_similarity(a, b) == pytest.approx(1 - 2.0 / 16)
    assert np.isnan(metrics.onset_profile_similarity(a, np.zeros_like(b)))


def test_onsets_per_bar_over_sounding_bars_with_restrikes():
    r = roll(48, [(60, 0, 8), (62, 14, 20), (64, 32, 34), (67, 36, 37)])
    given = onsets(48, [(0, 60), (4, 60), (14, 62), (32, 64), (36, 67)])  # C struck again at step 4
    # 3 sounding bars (bar 1 only by D held over the bar line)
    assert metrics.onsets_per_bar(r, given) == pytest.approx(5 / 3)
    assert metrics.onsets_per_bar(r) == pytest.approx(4 / 3)  # run starts: the re-struck C merges
    assert metrics.onsets_per_bar(r[..., None], given[..., None]) == pytest.approx(5 / 3)
    assert np.isnan(metrics.onsets_per_bar(np.zeros_like(r)))
    with pytest.raises(InvalidRollError, match="onsets of shape"):
        metrics.onsets_per_bar(r, given[:32])


def test_notes_at_once_pools_tracks_and_counts_a_shared_pitch_once():
    r = roll(8, [(60, 0, 4, 0), (64, 2, 6, 1), (60, 2, 4, 1)], tracks=2)
    # steps 0..5 sound {60}, {60}, {60, 64}, {60, 64}, {64}, {64}: 8 cells over 6 steps
    assert metrics.notes_at_once(r) == pytest.approx(8 / 6)
    assert np.isnan(metrics.notes_at_once(np.zeros((8, 128), bool)))


def test_pitch_class_overlap_sums_the_smaller_shares():
    a = roll(4, [(0, 0, 3), (4, 3, 4)], n_pitch=12)  # lowest 48: C 3 steps, E 1 -> C .75, E .25
    b = roll(4, [(0, 0, 1), (7, 1, 2)], n_pitch=12)  # lowest 60: C 1 step, G 1 -> C .5, G .5
    assert metrics.pitch_class_overlap(a, b, lowest_pitch=48, b_lowest_pitch=60) == pytest.approx(0.5)
    assert metrics.pitch_class_overlap(a, a, lowest_pitch=48) == pytest.approx(1.0)
    assert np.isnan(metrics.pitch_class_overlap(a, np.zeros_like(b)))


def test_empty_bars_under_melody_counts_bars_where_the_melody_sounds():
    melody = roll(64, [(72, 0, 4), (72, 32, 36), (74, 50, 52)])  # bars 0, 2, 3
    accomp = roll(64, [(48, 20, 22), (48, 40, 49)])  # bar 1, and bar 2 held into bar 3
    assert metrics.empty_bars_under_melody(melody, accomp) == pytest.approx(1 / 3)  # bar 0 only
    assert metrics.empty_bars_under_melody(melody[..., None], accomp[..., None]) == pytest.approx(1 / 3)
    assert np.isnan(metrics.empty_bars_under_melody(np.zeros_like(melody), accomp))
    with pytest.raises(InvalidRollError, match="whole number of bars"):
        metrics.empty_bars_under_melody(melody[:40], accomp[:40])
