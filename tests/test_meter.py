"""Bar lines of an unmarked melody: the pickup estimate, the file's evidence, the override."""

import numpy as np
import pytest

from helpers import make_midi
from deepaccomp import meter, midi
from deepaccomp.artifact import shipped_model_path as midi_model_path
from deepaccomp.errors import ConfigError, InvalidRollError

# A chorale-like 4/4 tune in steps (pitch, start, length): a quarter upbeat,
# quarters, halves, a dotted half, a whole note at the end. Its first downbeat is step 4.
UPBEAT_TUNE = [(67, 0, 4), (72, 4, 4), (74, 8, 4), (76, 12, 8), (74, 20, 12), (72, 32, 4),
               (71, 36, 8), (69, 44, 8), (71, 52, 4), (74, 56, 4), (72, 60, 8), (71, 68, 16)]

# A 3/4 tune (12 steps per bar) with a one-beat upbeat: first downbeat at step 4.
WALTZ = [(67, 0, 4), (72, 4, 8), (76, 12, 4), (74, 16, 8), (71, 24, 4), (72, 28, 12)]


def roll_of(notes, tracks=None):
    """A roll (time, 128) or (time, 128, tracks) from (pitch, start, length) notes."""
    n = max(s + d for _, s, d in notes)
    roll = np.zeros((n, 128), dtype=bool)
    for p, s, d in notes:
        roll[s:s + d, p] = True
    return roll if tracks is None else np.repeat(roll[:, :, None], tracks, axis=2)


def shifted(notes, by):
    return [(p, s + by, d) for p, s, d in notes if s + by >= 0]


def beats_midi(notes_in_steps, **kw):
    """A one-track file (120 bpm, 480 ticks per quarter) from notes in 16th steps."""
    return make_midi([("melody", 0, [(p, s / 4, (s + d) / 4) for p, s, d in notes_in_steps])], **kw)


# ---------------------------------------------------------------- the estimate
def test_metrical_levels_of_4_4_and_3_4():
    assert meter.metrical_levels(16, 4).tolist() == [0, 4, 3, 4, 2, 4, 3, 4, 1, 4, 3, 4, 2, 4, 3, 4]
    assert meter.metrical_levels(12, 4).tolist() == [0, 4, 3, 4, 2, 4, 3, 4, 2, 4, 3, 4]
    assert meter.metrical_levels(4, 2).tolist() == [0, 3, 2, 3]  # 2/4 in eighths: no middle level


def test_duration_classes_are_in_beats():
    assert meter.duration_classes([1, 2, 3, 4, 6, 8, 12, 16, 20]).tolist() == [0, 1, 1, 2, 3, 4, 5, 6, 6]
    assert meter.duration_classes([2, 4], steps_per_beat=2).tolist() == [2, 4]


def test_pickup_prior_prefers_no_pickup_or_one_beat():
    prior = meter.pickup_prior(16, 4)
    assert prior[[0, 4, 8, 12]].tolist() == [0.0, 0.0, -1.0, -2.0]
    assert prior[[2, 6, 10, 14]].tolist() == [-3.0] * 4 and prior[[1, 3, 15]].tolist() == [-4.0] * 3


def test_phase_scores_of_one_whole_note_by_hand():
    scores = meter.phase_scores(roll_of([(60, 0, 16)]))
    w, last = meter.NOTE_WEIGHTS[6], meter.LAST_NOTE_WEIGHTS  # class 6: four beats or more
    k, j = meter.LAST_NOTE_WEIGHT, meter.PICKUP_PRIOR_WEIGHT
    assert scores[0] == pytest.approx(w[0] + k * last[0])           # on the downbeat
    assert scores[8] == pytest.approx(w[1] + k * last[1] + j * -1)  # on beat 3, a 2-beat pickup
    assert scores[4] == pytest.approx(w[2] + k * last[2] + j * 0)  # on beat 4, a 1-beat pickup
    assert scores[12] == pytest.approx(w[2] + k * last[2] + j * -2)  # on beat 2, a 3-beat pickup
    assert scores[1] == pytest.approx(w[4] + k * last[4] + j * -4)
    assert scores.shape == (16,) and np.argmax(scores) == 0


def test_one_beat_upbeat_written_from_time_zero_is_found():
    assert meter.estimate_pickup(roll_of(UPBEAT_TUNE)) == 4


def test_tune_starting_on_the_downbeat_has_no_pickup():
    assert meter.estimate_pickup(roll_of(shifted(UPBEAT_TUNE, -4))) == 0


def test_eighth_note_upbeat_is_found():
    tune = [(67, 0, 2)] + shifted(UPBEAT_TUNE[1:], -2)  # an eighth before the first downbeat
    assert meter.estimate_pickup(roll_of(tune)) == 2


def test_three_four_upbeat_is_found():
    assert meter.estimate_pickup(roll_of(WALTZ), steps_per_bar=12) == 4
    assert meter.estimate_pickup(roll_of(shifted(WALTZ, -4)), steps_per_bar=12) == 0


def test_leading_silence_counts_from_step_zero():
    assert meter.estimate_pickup(roll_of(shifted(UPBEAT_TUNE, 3))) == 7


def test_roll_forms_give_the_same_estimate():
    roll = roll_of(UPBEAT_TUNE)
    as_pm1 = np.where(roll, 1.0, -1.0)[:, :, None]
    assert meter.estimate_pickup(roll[:, :, None]) == meter.estimate_pickup(as_pm1) == 4
    assert np.array_equal(meter.phase_scores(roll), meter.phase_scores(as_pm1))


@pytest.mark.parametrize("bad", [np.zeros((32, 128), bool), np.zeros((0, 128, 1), bool),
                                 np.ones(32, bool), np.ones((8, 128, 2), bool)])
def test_empty_or_misshapen_melody_raises(bad):
    with pytest.raises(InvalidRollError):
        meter.estimate_pickup(bad)


@pytest.mark.parametrize("bar, beat", [(16, 5), (0, 4), (16, 0), (16.0, 4), (True, 1)])
def test_bad_meter_raises(bar, beat):
    with pytest.raises(ConfigError):
        meter.estimate_pickup(roll_of(UPBEAT_TUNE), bar, beat)


def test_fit_note_weights_learns_where_long_notes_start():
    # half notes on downbeats, quarters on other beats: the fit must favour those positions
    tune = [(60 + (i % 2), 16 * i, 8) for i in range(6)] + [(64 + (i % 2), 16 * i + 12, 4) for i in range(6)]
    notes, last = meter.fit_note_weights([roll_of(tune)] * 3, [0] * 3)
    assert notes.shape == (7, meter.N_LEVELS) and last.shape == (meter.N_LEVELS,)
    assert notes[4, 0] > notes[4, 1] and notes[4, 0] > notes[4, 2]  # half notes: downbeat
    assert notes[2, 2] > notes[2, 0]  # quarters: another beat
    assert np.argmax(last) == 2  # the last note (a quarter on beat 4)


# ---------------------------------------------------------------- moving onto the bar grid
def test_lead_in_round_trip():
    roll = roll_of(UPBEAT_TUNE, tracks=1)
    lead = meter.lead_in(4)
    padded = meter.add_lead_in(roll, lead)
    assert lead == 12 and padded.shape == (96, 128, 1) and not padded[:12].any()
    assert padded[16, 72, 0] and not padded[15, 72, 0]  # the first downbeat lands on step 16
    assert np.array_equal(meter.remove_lead_in(padded, lead), roll)
    assert meter.remove_lead_in(padded, lead, 70).shape == (70, 128, 1)
    assert meter.remove_lead_in(padded, lead, 60).shape == (60, 128, 1)
    assert meter.lead_in(0) == 0 and meter.lead_in(4, 12) == 8


@pytest.mark.parametrize("steps", [-1, 2.0, True])
def test_bad_lead_in_raises(steps):
    with pytest.raises(ConfigError):
        meter.add_lead_in(np.zeros((4, 128, 1), bool), steps)


# ---------------------------------------------------------------- the file's evidence and the override
def test_unmarked_file_gets_the_estimate():
    roll, info = midi.midi_to_roll(beats_midi(UPBEAT_TUNE))
    assert not midi.has_bar_evidence(roll, info)
    align = midi.bar_alignment(roll, info)
    assert align == midi.BarAlignment(offset=12, pickup=4, steps_per_bar=16, source="estimate")
    assert midi.bar_offset(roll, info) == 12
    padded = meter.add_lead_in(roll, align.offset)
    assert np.nonzero(padded.any(axis=(1, 2)))[0][0] + align.pickup == 16


def test_estimate_false_takes_the_files_bars_as_they_are(tmp_path):
    from deepaccomp import Accompanist
    from deepaccomp.inference import load

    roll, info = midi.midi_to_roll(beats_midi(UPBEAT_TUNE))
    assert midi.bar_alignment(roll, info, estimate=False) == midi.BarAlignment(
        offset=0, pickup=0, steps_per_bar=16, source="file")
    assert midi.bar_alignment(roll, info, pickup=1, estimate=False).source == "pickup"  # the call's pickup wins
    generator, config = load(midi_model_path())
    path = tmp_path / "upbeat.mid"
    beats_midi(UPBEAT_TUNE).write(str(path))
    estimating = Accompanist.from_generator(generator, config)
    taking = Accompanist.from_generator(generator, config.replace(generation={"estimate_pickup": False}))
    assert estimating.read(path).grid.bars.source == "estimate"
    assert taking.read(path).grid.bars.source == "file"
    assert taking.generate_piece(path, seed=0).grid.bars.pickup == 0
    assert estimating.generate_piece(path, seed=0).grid.bars.pickup == 4


def test_file_without_time_signature_is_unmarked():
    roll, info = midi.midi_to_roll(beats_midi(UPBEAT_TUNE, time_signatures=()))
    assert not midi.has_bar_evidence(roll, info)


def test_three_four_file_is_estimated_in_its_own_bars():
    roll, info = midi.midi_to_roll(beats_midi(WALTZ, time_signatures=((3, 4, 0.0),)))
    assert midi.bar_alignment(roll, info) == midi.BarAlignment(8, 4, 12, "estimate")


def test_leading_rest_is_trusted():
    roll, info = midi.midi_to_roll(beats_midi(shifted(UPBEAT_TUNE, 12)))  # upbeat on beat 4
    assert midi.has_bar_evidence(roll, info)
    assert midi.bar_alignment(roll, info) == midi.BarAlignment(0, 4, 16, "file")


def test_leading_rest_is_trusted_even_against_the_rhythm():
    # the file says the first note is on beat 3; the rhythm alone would say beat 4
    roll, info = midi.midi_to_roll(beats_midi(shifted(UPBEAT_TUNE, 8)))
    assert midi.bar_alignment(roll, info) == midi.BarAlignment(0, 8, 16, "file")


def test_partial_first_bar_written_as_its_own_signature():
    pm = beats_midi(UPBEAT_TUNE, time_signatures=((1, 4, 0.0), (4, 4, 0.5)))  # 1/4, then 4/4
    roll, info = midi.midi_to_roll(pm)
    assert midi.has_bar_evidence(roll, info)
    assert midi.bar_alignment(roll, info) == midi.BarAlignment(12, 4, 16, "file")


def test_meter_change_is_evidence_and_a_redundant_signature_is_not():
    changed = beats_midi(UPBEAT_TUNE, time_signatures=((4, 4, 0.0), (3, 4, 4.0)))
    assert midi.has_bar_evidence(*midi.midi_to_roll(changed))
    redundant = beats_midi(UPBEAT_TUNE, time_signatures=((4, 4, 0.0), (4, 4, 4.0)))
    assert not midi.has_bar_evidence(*midi.midi_to_roll(redundant))
    off_grid = beats_midi(UPBEAT_TUNE, time_signatures=((4, 4, 0.0), (4, 4, 0.5)))
    assert midi.has_bar_evidence(*midi.midi_to_roll(off_grid))


def test_other_meters_are_trusted_not_estimated():
    roll, info = midi.midi_to_roll(beats_midi(UPBEAT_TUNE, time_signatures=((2, 4, 0.0),)))
    assert midi.bar_alignment(roll, info) == midi.BarAlignment(0, 0, 8, "file")


@pytest.mark.parametrize("pickup, offset, steps", [(0, 0, 0), (1, 12, 4), (0.5, 14, 2), (3.75, 1, 15)])
def test_pickup_override_wins(pickup, offset, steps):
    roll, info = midi.midi_to_roll(beats_midi(UPBEAT_TUNE))
    assert midi.bar_alignment(roll, info, pickup=pickup) == midi.BarAlignment(offset, steps, 16, "pickup")
    assert midi.bar_offset(roll, info, pickup=pickup) == offset


def test_pickup_override_wins_over_the_file():
    roll, info = midi.midi_to_roll(beats_midi(shifted(UPBEAT_TUNE, 12)))  # file: first note on beat 4
    assert midi.bar_alignment(roll, info, pickup=2) == midi.BarAlignment(12, 8, 16, "pickup")


@pytest.mark.parametrize("pickup", [-1, 4, 0.3, "1", True, float("nan")])
def test_bad_pickup_raises(pickup):
    roll, info = midi.midi_to_roll(beats_midi(UPBEAT_TUNE))
    with pytest.raises(ConfigError):
        midi.bar_alignment(roll, info, pickup=pickup)


def test_empty_roll_raises():
    roll, info = midi.midi_to_roll(beats_midi(UPBEAT_TUNE))
    with pytest.raises(InvalidRollError):
        midi.bar_alignment(np.zeros_like(roll), info)


def test_six_eight_is_trusted_in_its_own_bars():
    roll, info = midi.midi_to_roll(beats_midi(UPBEAT_TUNE, time_signatures=((6, 8, 0.0),)))
    assert midi.bar_alignment(roll, info) == midi.BarAlignment(0, 0, 12, "file")


def test_first_note_a_few_ticks_late_is_still_unmarked():
    pm = beats_midi(UPBEAT_TUNE)
    note = pm.instruments[0].notes[0]
    note.start += 0.01  # about 10 ticks: a humanised start, not a rest
    roll, info = midi.midi_to_roll(pm)
    assert midi.bar_alignment(roll, info).source == "estimate"
