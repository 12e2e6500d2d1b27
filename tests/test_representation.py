import numpy as np
import pytest

from deepaccomp import representation as rep
from deepaccomp.errors import ConfigError


def test_model_range_round_trip():
    roll = np.zeros((16, 8, 2), bool)
    roll[3, 4, 1] = True
    x = rep.to_model_range(roll)
    assert x.dtype == np.float32 and set(np.unique(x)) == {-1.0, 1.0}
    assert (rep.from_model_range(x) == roll).all()
    assert (rep.as_bool(x) == roll).all()


def test_windows():
    assert rep.FULL_WINDOW.size == 128 and rep.COMPACT_WINDOW.size % 16 == 0
    assert rep.get_window("compact") is rep.COMPACT_WINDOW
    assert rep.get_window({"lowest": 10, "size": 20}).highest == 29
    with pytest.raises(ConfigError):
        rep.get_window("huge")
    with pytest.raises(ConfigError):
        rep.PitchWindow(100, 64)


def test_crop_uncrop_and_out_of_window():
    roll = np.zeros((4, 128, 1), bool)
    roll[0, 60, 0] = roll[1, 10, 0] = True
    w = rep.PitchWindow(28, 64)
    cropped = rep.crop_pitches(roll, w)
    assert cropped.shape == (4, 64, 1) and cropped[0, 32, 0]
    assert rep.out_of_window(roll, w) == 1
    back = rep.uncrop_pitches(cropped, w)
    assert back[0, 60, 0] and not back[1, 10, 0]


def test_cut_phrases_and_pad():
    roll = np.arange(80).reshape(80, 1, 1)
    ph = rep.cut_phrases(roll, 32, 16)
    assert ph.shape == (4, 32, 1, 1)
    assert [p[0, 0, 0] for p in ph] == [0, 16, 32, 48]
    assert rep.cut_phrases(roll[:10], 32, 16).shape[0] == 0
    assert rep.pad_time(roll, 32).shape[0] == 96


def test_transpose_roll_drops_out_of_range():
    roll = np.zeros((2, 10, 1), bool)
    roll[0, 8, 0] = roll[1, 1, 0] = True
    up = rep.transpose_roll(roll, 2)
    assert up[1, 3, 0] and up.sum() == 1
    down = rep.transpose_roll(roll, -2)
    assert down[0, 6, 0] and down.sum() == 1


def test_decode_voices_one_pitch_per_voice():
    values = -np.ones((3, 5, 2), np.float32)
    values[0, 1, 0], values[0, 3, 0] = 0.5, 0.9   # two candidates: the larger wins
    values[1, 2, 0] = -0.5                        # below threshold: rest
    values[2, 4, 1] = 0.2
    out = rep.decode(values, "voice", 0.0)
    assert out.sum() == 2 and out[0, 3, 0] and out[2, 4, 1]
    assert rep.decode(values, "voice", -0.6)[1, 2, 0]
    assert rep.decode(values, "threshold").sum() == 3


def test_note_runs_hand_computed():
    from deepaccomp.representation import note_runs

    # pitch 0: steps 0-1 and 4; pitch 2: steps 1-4 (runs to the end); pitch 1: none
    roll = np.zeros((5, 3), bool)
    roll[[0, 1, 4], 0] = True
    roll[1:5, 2] = True
    pitches, starts, lengths = note_runs(roll)
    assert pitches.tolist() == [0, 0, 2]
    assert starts.tolist() == [0, 4, 1]
    assert lengths.tolist() == [2, 1, 4]


def test_note_runs_rejects_3d():
    from deepaccomp.errors import InvalidRollError
    from deepaccomp.representation import note_runs

    with pytest.raises(InvalidRollError):
        note_runs(np.zeros((4, 3, 2), bool))


def test_position_planes_hand_computed():
    planes = rep.position_planes(6, 2, steps_per_bar=4, steps_per_beat=2)
    assert planes.shape == (6, 2, 3) and planes.dtype == np.float32
    on = (planes[:, 0, :] > 0).astype(int).tolist()
    # bars of 4 steps, beats of 2 steps, eighths of 1 step
    assert on == [[1, 1, 1], [0, 0, 1], [0, 1, 1], [0, 0, 1], [1, 1, 1], [0, 0, 1]]
    assert np.array_equal(planes[:, 0], planes[:, 1])


def test_restrike_gaps_part_a_restruck_note_from_the_one_before():
    from deepaccomp.representation import restrike_gaps, run_starts

    # pitch 0: a note of 3 steps struck again at step 3 and held to step 5; pitch 1: a one-step note struck
    # again at step 1 (kept: it would vanish); pitch 2: two notes with a rest between (unchanged)
    roll = np.zeros((6, 3), dtype=bool)
    onsets = np.zeros((6, 3), dtype=bool)
    roll[0:6, 0] = True
    onsets[[0, 3], 0] = True
    roll[0:3, 1] = True
    onsets[[0, 1], 1] = True
    roll[[0, 1, 4], 2] = True
    onsets[[0, 4], 2] = True
    out = restrike_gaps(roll, onsets)
    assert out[:, 0].tolist() == [True, True, False, True, True, True]
    assert out[:, 1].tolist() == roll[:, 1].tolist()
    assert out[:, 2].tolist() == roll[:, 2].tolist()
    assert run_starts(out)[:, 0].tolist() == onsets[:, 0].tolist()  # the re-strike is a run's start now
    assert roll[2, 0]  # the input is not changed


def test_close_restrike_gaps_reads_a_one_step_silence_between_notes_of_a_pitch_as_a_re_strike():
    roll = np.zeros((9, 3, 2), bool)
    roll[[0, 1, 3, 4], 1, 0] = True  # gap at 2: closed, struck again at 3
    roll[[0, 1, 4, 5], 2, 0] = True  # two silent steps: a rest, left alone
    roll[[1, 3], 0, 1] = True  # one-step notes: 2 filled, struck again at 3
    closed, onsets = rep.close_restrike_gaps(roll)
    assert np.flatnonzero(closed[:, 1, 0]).tolist() == [0, 1, 2, 3, 4]
    assert np.flatnonzero(onsets[:, 1, 0]).tolist() == [0, 3]
    assert np.flatnonzero(closed[:, 2, 0]).tolist() == [0, 1, 4, 5]
    assert np.flatnonzero(onsets[:, 2, 0]).tolist() == [0, 4]
    assert np.flatnonzero(closed[:, 0, 1]).tolist() == [1, 2, 3]
    assert np.flatnonzero(onsets[:, 0, 1]).tolist() == [1, 3]
    roll[2, 2, 1] = True  # track 1 moves to pitch 2 at step 2: as a voice, it keeps that move
    closed, onsets = rep.close_restrike_gaps(roll, voices=True)
    assert np.flatnonzero(closed[:, 0, 1]).tolist() == [1, 3] and np.flatnonzero(closed[:, 1, 0]).tolist() == [
        0, 1, 2, 3, 4]
    assert not closed[2, 0, 1] and closed[2, 2, 1]


def test_close_restrike_gaps_undoes_restrike_gaps_for_notes_of_two_steps_or_more(rng):
    roll = np.zeros((64, 5, 3), bool)
    onsets = np.zeros_like(roll)
    for k in range(3):
        for p in range(5):
            t = int(rng.integers(0, 4))
            while t < 62:
                n = int(rng.integers(2, 6))
                roll[t:t + n, p, k], onsets[t, p, k] = True, True
                t += n + int(rng.integers(0, 2)) * int(rng.integers(2, 4))  # struck again at once, or after a rest
    roll[62:] = False
    onsets &= roll
    closed, back = rep.close_restrike_gaps(rep.restrike_gaps(roll, onsets))
    assert (closed == roll).all() and (back == (onsets | rep.run_starts(roll))).all()
