"""MIDI <-> roll: grid, pickups, tempo changes, track choice, round trips; ``midi_to_roll`` is the piece
reader's roll and grid."""

import ast
import io
from pathlib import Path

import numpy as np
import pretty_midi
import pytest

from helpers import make_midi, midi_with_tempo_change
from deepaccomp import midi
from deepaccomp.errors import InputFileError, InvalidMidiError, InvalidRollError, NoMelodyError
from deepaccomp.piece import read_piece


def active(roll):
    """{(step, pitch)} of a (time, 128, 1) roll."""
    t, p = np.nonzero(roll[:, :, 0])
    return set(zip(t.tolist(), p.tolist()))


def test_grid_is_sixteenth_notes_from_first_downbeat():
    pm = make_midi([("melody", 0, [(60, 0, 1), (62, 1, 1.5), (64, 1.5, 2)])])
    roll, info = midi.midi_to_roll(pm)
    assert roll.shape == (8, 128, 1) and roll.dtype == bool
    assert active(roll) == {(0, 60), (1, 60), (2, 60), (3, 60), (4, 62), (5, 62), (6, 64), (7, 64)}
    assert info.tempo == pytest.approx(120.0) and info.time_signature == (4, 4)


def test_pickup_lands_on_last_beat_of_bar_zero():
    # first note at beat 3 of bar 0 (a one-beat pickup), bar 1 starts at beat 4
    pm = make_midi([("melody", 0, [(67, 3, 4), (72, 4, 6)])])
    roll, _ = midi.midi_to_roll(pm)
    assert active(roll) >= {(12, 67), (16, 72)}
    assert not roll[:12].any()


def test_leading_silent_bars_are_dropped_but_not_the_pickup_bar():
    pm = make_midi([("melody", 0, [(60, 9, 10)])])  # bar 2, beat 2
    roll, info = midi.midi_to_roll(pm)
    assert active(roll) == {(4, 60), (5, 60), (6, 60), (7, 60)}
    assert info.start_tick == 8 * 480


def test_tempo_change_keeps_notes_on_the_grid(tmp_path):
    notes = [(60, 0, 1), (62, 4, 5), (64, 6, 8)]  # tempo halves at beat 4
    path = midi_with_tempo_change(tmp_path, notes)
    roll, info = midi.midi_to_roll(str(path))
    assert active(roll) == {(s, 60) for s in range(4)} | {(s, 62) for s in range(16, 20)} | {
        (s, 64) for s in range(24, 32)}
    times = info.step_times()
    assert times[4] == pytest.approx(0.5) and times[20] - times[16] == pytest.approx(1.0)


def test_round_trip_with_pickup_tempo_change_and_three_tracks(tmp_path):
    path = midi_with_tempo_change(tmp_path, [(60, 3, 4), (65, 4, 6), (67, 6, 9)], bpm1=90)
    roll, info = midi.midi_to_roll(str(path))
    multi = np.concatenate([roll, np.roll(roll, -3, axis=1), np.roll(roll, -7, axis=1)], axis=-1)
    pm = midi.roll_to_midi(multi, info=info, programs=[0, 40, 42])
    out = tmp_path / "out.mid"
    midi.write_midi(pm, out)
    back, _ = midi.multitrack_midi_to_roll(str(out))
    assert back.shape[2] == 3
    n = min(back.shape[0], multi.shape[0])
    # the written file starts at the same downbeat, so the rolls align
    assert (back[:n] == multi[:n]).all() and not multi[n:].any()
    assert [i.program for i in pm.instruments] == [0, 40, 42]
    tempi = pretty_midi.PrettyMIDI(str(out)).get_tempo_changes()[1]
    assert np.allclose(tempi, [120, 90])


def test_round_trip_without_info_and_merging_of_held_notes():
    roll = np.zeros((32, 64, 2), bool)
    roll[0:8, 30, 0] = True     # one held note of 8 steps
    roll[8:10, 30, 0] = False
    roll[10:12, 30, 0] = True
    roll[4:20, 10, 1] = True
    pm = midi.roll_to_midi(roll, lowest_pitch=28, tempo=90, time_signature=(3, 4))
    assert len(pm.instruments[0].notes) == 2 and len(pm.instruments[1].notes) == 1
    assert pm.instruments[0].notes[0].pitch == 58
    assert pm.time_signature_changes[0].numerator == 3
    buf = io.BytesIO()
    pm.write(buf)
    back, _ = midi.multitrack_midi_to_roll(buf.getvalue())
    full = np.zeros((32, 128, 2), bool)
    full[:, 28:92] = roll
    assert (back == full[: back.shape[0]]).all() and back.shape[0] == 20


def test_melody_choice_rule_and_override():
    bass = ("bass", 33, [(40 + i % 5, i, i + 1) for i in range(16)])
    high_few = ("fx", 0, [(100, 0, 0.25)])
    mid = ("piano", 0, [(64 + i % 3, i, i + 1) for i in range(16)])
    pm = make_midi([bass, high_few, mid])
    assert midi.choose_melody_track(pm) == 2          # highest among the busy ones
    named = make_midi([mid, ("Lead vocal", 0, [(50, 0, 1)] * 8)])
    assert midi.choose_melody_track(named) == 1       # the name wins
    roll, info = midi.midi_to_roll(pm, melody_track=0)
    assert info.melody_index == 0 and roll[:, 40:45].any()
    with pytest.raises(NoMelodyError):
        midi.midi_to_roll(pm, melody_track=7)


def test_polyphonic_melody_is_reduced_to_top_line():
    pm = make_midi([("melody", 0, [(60, 0, 1), (64, 0, 1), (67, 0, 2)])])
    roll, _ = midi.midi_to_roll(pm)
    assert roll[:, :, 0].sum(axis=1).max() == 1
    assert active(roll) == {(s, 67) for s in range(8)}


# ------------------------------------------------------------------ the 0.1 wrapper of the piece reader
WRAPPER_CASES = {
    "plain": (lambda tmp: make_midi([("melody", 0, [(60, 0, 1), (62, 1, 1.5), (64, 1.5, 2)])]), {}),
    "pickup and tempo change": (lambda tmp: str(midi_with_tempo_change(tmp, [(67, 3, 4), (72, 4, 6), (74, 6, 9)])),
                                {}),
    "leading bars, 3/4": (lambda tmp: make_midi([("melody", 0, [(60, 9, 10), (62, 10, 12)])],
                                                time_signatures=((3, 4, 0.0),)), {}),
    "chosen track, chords": (lambda tmp: make_midi([("piano", 0, [(48, 0, 2), (52, 0, 2), (55, 1, 3)]),
                                                    ("flute", 73, [(72, 0, 1), (74, 1, 2)])]), {"melody_track": 0}),
    "triplet grid": (lambda tmp: make_midi([("melody", 0, [(60, 0, 1 / 3), (62, 1 / 3, 1), (64, 1, 2)])]),
                     {"steps_per_beat": 3}),
}


@pytest.mark.parametrize("case", sorted(WRAPPER_CASES))
def test_midi_to_roll_gives_the_piece_readers_roll_and_grid(case, tmp_path):
    make, kw = WRAPPER_CASES[case]
    roll, info = midi.midi_to_roll(make(tmp_path), **kw)
    piece = read_piece(make(tmp_path), tracks="melody", align=False, **kw)
    assert roll.dtype == bool and np.array_equal(roll, piece.roll)
    grid = piece.grid
    assert (info.start_tick, info.ticks_per_step, info.steps_per_beat, info.n_steps, info.melody_index) == \
        (grid.start_tick, grid.ticks_per_step, grid.steps_per_beat, piece.n_steps, piece.sources[0][0])
    assert info.tempo == grid.tempo and info.time_signatures == grid.time_signatures
    assert np.array_equal(info.step_times(), grid.step_times(piece.n_steps))
    assert midi.bar_alignment(roll, info) == read_piece(make(tmp_path), tracks="melody", **kw).grid.bars


def test_midi_to_roll_keeps_the_chords_when_asked_on_the_same_grid():
    pm = make_midi([("piano", 0, [(48, 0, 2), (52, 0, 2), (55, 1, 3)])])
    chords, info = midi.midi_to_roll(pm, monophonic=False)
    top, same = midi.midi_to_roll(pm)
    assert active(chords) == {(s, p) for s in range(8) for p in (48, 52)} | {(s, 55) for s in range(4, 12)}
    assert np.array_equal(midi.top_line(chords[:, :, 0]), top[:, :, 0])
    assert (info.start_tick, info.n_steps) == (same.start_tick, same.n_steps)


@pytest.mark.slow
def test_nothing_in_the_library_reads_through_the_tuple_wrapper():
    root = Path(midi.__file__).parent
    calls = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            func = node.func if isinstance(node, ast.Call) else None
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if name == "midi_to_roll":
                calls.append(f"{path.relative_to(root)}:{node.lineno}")
    assert calls == []


@pytest.mark.parametrize("data, err", [
    (b"", InvalidMidiError),
    (b"hello, this is not MIDI at all", InvalidMidiError),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02", InvalidMidiError),  # truncated header
])
def test_bad_bytes_raise_invalid_midi(data, err):
    with pytest.raises(err):
        midi.midi_to_roll(data)


def test_files_that_hold_no_melody():
    with pytest.raises(NoMelodyError, match="no notes"):
        midi.midi_to_roll(make_midi([]))
    drums = make_midi([("kit", 0, [(36, 0, 1)])])
    drums.instruments[0].is_drum = True
    with pytest.raises(NoMelodyError, match="drums"):
        midi.midi_to_roll(drums)
    with pytest.raises(NoMelodyError):
        midi.midi_to_roll(make_midi([("zero", 0, [(60, 1, 1), (62, 2, 2)])]))


def test_paths_that_are_not_files(tmp_path):
    with pytest.raises(InputFileError, match="no such file"):
        midi.midi_to_roll(tmp_path / "missing.mid")
    with pytest.raises(InputFileError, match="directory"):
        midi.midi_to_roll(tmp_path)


def test_write_midi_is_atomic_and_checks_the_folder(tmp_path):
    from deepaccomp.errors import OutputFileError

    pm = midi.roll_to_midi(np.ones((4, 2, 1), bool), lowest_pitch=60)
    with pytest.raises(OutputFileError, match="does not exist"):
        midi.write_midi(pm, tmp_path / "nope" / "out.mid")
    midi.write_midi(pm, tmp_path / "out.mid")
    assert [p.name for p in tmp_path.iterdir()] == ["out.mid"]


def test_roll_to_midi_rejects_bad_rolls_and_programs():
    from deepaccomp.errors import ConfigError

    with pytest.raises(InvalidRollError):
        midi.roll_to_midi(np.zeros((4, 128)))
    with pytest.raises(InvalidRollError):
        midi.roll_to_midi(np.zeros((4, 64, 1)), lowest_pitch=100)
    with pytest.raises(ConfigError):
        midi.roll_to_midi(np.zeros((4, 64, 1)), programs="kazoo")
    with pytest.raises(ConfigError):
        midi.roll_to_midi(np.zeros((4, 64, 2)), programs=[0, 200])
