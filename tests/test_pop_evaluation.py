"""The pop evaluation (deepaccomp.pop_evaluation, issue 32): the chord reader, the melody file a DAW
would export, reading an accompaniment back onto the beats, the baselines by hand, and the whole
evaluation through the user path on tests/data/pop909 (never ../shared)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pretty_midi
import pytest

from deepaccomp import metrics, pop909
from deepaccomp import pop_evaluation as pe
from deepaccomp.errors import ConfigError, DatasetError
from deepaccomp.piece import Piece

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "tests", "data", "pop909")
SCRIPT = os.path.join(ROOT, "scripts", "evaluate_pop.py")


@pytest.fixture(scope="module")
def songs():
    """The kept songs of tests/data/pop909 (all in the train split: 023, 026, 098), read once."""
    return pe.pop_songs(REAL, "train")


# ---------------------------------------------------------------------------------- chords
def test_chord_code_reduces_labels_to_root_and_major_or_minor():
    codes = {label: pop909.chord_code(label) for label in
             ["C:maj", "C#:min7", "Bb:maj/3", "F:min/b3", "Ab:7", "E:maj6", "Db:minmaj7", "B",
              "G:sus4(b7)", "D:sus2", "E:dim", "A:hdim7", "C:aug", "N"]}
    assert codes == {"C:maj": 0, "C#:min7": 3, "Bb:maj/3": 20, "F:min/b3": 11, "Ab:7": 16, "E:maj6": 8,
                     "Db:minmaj7": 3, "B": 22, "G:sus4(b7)": -1, "D:sus2": -1, "E:dim": -1, "A:hdim7": -1,
                     "C:aug": -1, "N": -1}
    with pytest.raises(DatasetError, match="unknown chord 'H:maj'"):
        pop909.chord_code("H:maj")


def test_read_chords_and_beat_chords_by_hand(tmp_path):
    path = tmp_path / "chord_midi.txt"
    path.write_text("0.0\t1.0\tN\n1.0\t2.2\tG:maj/5\n2.2\t3.0\tE:min7\n3.0\t5.0\tD:sus4\n")
    chords = pop909.read_chords(path)
    assert chords[1] == (1.0, 2.2, "G:maj/5") and len(chords) == 4
    # beats every 0.5 s from 0.5 s; the last (3.5 s) lasts 0.5 s; middles 0.75, 1.25, ..., 3.75
    beats = pop909.Beats(np.arange(0.5, 3.6, 0.5), np.array([1, 0, 0, 0, 1, 0, 0], bool))
    # 0.75 N; 1.25, 1.75 G; 2.25 E minor (G ends at 2.2); 2.75 E minor; 3.25, 3.75 sus4: no reading
    assert pop909.beat_chords(chords, beats).tolist() == [-1, 14, 14, 9, 9, -1, -1]


@pytest.mark.parametrize("text, message", [
    ("", "chord file (chord_midi.txt) is empty"),
    ("0.0 1.0\n", "line 1 is not 'start end chord'"),
    ("0.0 x C:maj\n", "line 1 is not 2 numbers"),
    ("0.0 1.0 C:maj\n1.0 2.0 Q:min\n", "line 2: unknown chord 'Q:min'"),
])
def test_read_chords_refuses_a_broken_file_with_the_line(tmp_path, text, message):
    path = tmp_path / "chord_midi.txt"
    path.write_text(text)
    with pytest.raises(DatasetError, match=re.escape(message)):
        pop909.read_chords(path)


def test_read_chords_is_bounded(tmp_path):
    path = tmp_path / "chord_midi.txt"
    path.write_text("0.0 1.0 C:maj\n" * (pop909.MAX_CHORD_FILE_BYTES // 14 + 1))
    with pytest.raises(DatasetError, match="MAX_CHORD_FILE_BYTES"):
        pop909.read_chords(path)
    with pytest.raises(DatasetError, match="no chord file"):
        pop909.read_chords(tmp_path / "absent.txt")


def test_beat_chords_of_a_real_song():
    folder = os.path.join(REAL, "098")
    beats = pop909.read_beats(os.path.join(folder, "beat_midi.txt"))
    codes = pop909.beat_chords(pop909.read_chords(os.path.join(folder, "chord_midi.txt")), beats)
    assert codes.shape == beats.times.shape
    # the file: N until 2.98 s (beats 0-2), C#:maj 2.98-6.22 s (beats 3-6), F:min 6.22-9.47 s (beats 7-10)
    assert codes[:12].tolist() == [-1, -1, -1, 2, 2, 2, 2, 11, 11, 11, 11, 2]


# ---------------------------------------------------------------------------------- the melody file
def test_melody_midi_puts_every_annotated_beat_on_a_quarter_note():
    song = pop909.read_song_notes(os.path.join(REAL, "026"))
    keys = pop909.read_keys(os.path.join(REAL, "026", "key_audio.txt"))
    first, n_bars, _ = pop909.stretches(song.beats, keys)[1]
    pm = pe.melody_midi(song, (first, n_bars))
    beat0 = song.beats.bars[first, 0]
    times = song.beats.times[beat0: beat0 + 4 * n_bars] - song.beats.times[beat0]
    ticks = [pm.time_to_tick(t) for t in times]
    assert ticks == [pe.MIDI_RESOLUTION * i for i in range(4 * n_bars)]
    assert [(ts.numerator, ts.denominator, ts.time) for ts in pm.time_signature_changes] == [(4, 4, 0.0)]
    assert len(pm.instruments) == 1
    notes = pm.instruments[0].notes
    t0, t1 = song.beats.times[beat0], song.beats.times[beat0 + 4 * n_bars]
    played = [n for n in song.instruments["MELODY"].notes if t0 <= n.start < t1]
    assert len(notes) == len(played) and notes[0].start == pytest.approx(min(n.start for n in played) - t0)
    # written and read back, the tempo map survives: the last beat is still on its quarter note
    path_pm = pretty_midi.PrettyMIDI(_written(pm))
    assert path_pm.time_to_tick(times[-1]) == pytest.approx(pe.MIDI_RESOLUTION * (4 * n_bars - 1), abs=1)


def _written(pm) -> str:
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".mid")
    os.close(fd)
    pm.write(path)
    return path


def test_read_accompaniment_maps_ticks_to_steps_and_keeps_restrikes():
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=60.0)  # a beat a second
    pm.instruments.append(pretty_midi.Instrument(0, name="Melody"))
    pm.instruments[0].notes = [pretty_midi.Note(80, 72, 0.0, 1.0)]  # the melody: not read
    piano = pretty_midi.Instrument(0, name="piano")
    piano.notes = [pretty_midi.Note(70, 60, 0.25, 0.5), pretty_midi.Note(70, 60, 0.5, 1.0),  # steps 1-2, 2-4
                   pretty_midi.Note(70, 64, 1.9, 9.0)]  # step 8 (7.6 rounded) to the end (step 12)
    drums = pretty_midi.Instrument(0, name="drums", is_drum=True)
    drums.notes = [pretty_midi.Note(70, 36, 0.0, 0.1)]
    pm.instruments += [piano, drums]
    roll, onsets = pe.read_accompaniment(pm, 12)
    assert np.nonzero(roll[:, 60])[0].tolist() == [1, 2, 3] and np.nonzero(onsets[:, 60])[0].tolist() == [1, 2]
    assert np.nonzero(roll[:, 64])[0].tolist() == [8, 9, 10, 11] and onsets[8, 64]
    assert roll.sum() == 7 and not roll[:, 36].any() and not roll[:, 72].any()


# ---------------------------------------------------------------------------------- baselines by hand
def _melody_piece(notes, steps=16):
    """A melody piece of the pop layout, each note ``(pitch, first step, last + 1)`` struck at its start."""
    roll = np.zeros((steps, 128, 1), bool)
    onsets = np.zeros_like(roll)
    for pitch, a, b in notes:
        roll[a:b, pitch, 0] = True
        onsets[a, pitch, 0] = True
    return Piece.from_roll(roll, "pop", onsets=onsets)


def test_block_triads_by_hand():
    # beat 0: B alone (E major, E minor, G major, ... tie: E major is not in the melody's key, E minor is);
    # beat 1: E and G (C major and E minor tie: the previous E minor stays);
    # beat 2: no melody (E minor held, struck again); beat 3: C alone (C major: the lowest code)
    melody = _melody_piece([(71, 0, 4), (76, 4, 6), (79, 6, 8), (72, 12, 16)])
    roll, onsets = pe.block_triads_roll(melody)
    e_minor, c_major = [52, 55, 59], [48, 52, 55]
    for beat, pitches in enumerate([e_minor, e_minor, e_minor, c_major]):
        steps = slice(4 * beat, 4 * beat + 4)
        assert np.nonzero(roll[steps, :, 0].any(axis=0))[0].tolist() == pitches, beat
        assert (roll[steps, pitches, 0]).all() and np.nonzero(onsets[steps, :, 0].any(axis=1))[0].tolist() == [0]
    assert metrics.recognise_chords(roll).tolist() == [9, 9, 9, 0]


def test_block_triads_are_silent_before_the_melody_and_doubled_is_an_octave_down():
    melody = _melody_piece([(64, 6, 7), (64, 7, 9)])
    roll, _ = pe.block_triads_roll(melody)
    assert not roll[:4].any() and roll[4:].any(axis=(1, 2)).all()  # E from beat 1 on: C major, held
    roll, onsets = pe.doubled_roll(melody)
    assert np.nonzero(roll[:, :, 0].any(axis=1))[0].tolist() == [6, 7, 8] and roll[:, 52, 0].sum() == 3
    assert np.nonzero(onsets[:, 52, 0])[0].tolist() == [6, 7]  # the melody's own re-strike


def test_baseline_accompany_refuses_an_unknown_name():
    with pytest.raises(ConfigError, match="no baseline 'arpeggio'"):
        pe.baseline_accompany("arpeggio")


# ---------------------------------------------------------------------------------- the evaluation
def test_the_real_piano_through_the_user_path_comes_back_on_its_own_steps(songs, tmp_path):
    """A callable that plays each stretch's real piano through the melody file comes back, read onto
    the beats, exactly on the real piano's steps, up to the melody's end (where the melody piece, and so
    any accompaniment written on it, ends): the melody file, the reading back and the span line up."""
    for s in [s for song in songs for s in song.stretches]:
        def real(melody, seed, s=s):
            assert melody.grid.start_tick == s.span[0] * pe.MIDI_RESOLUTION // 4  # step 0: the span's first bar
            n = min(melody.n_steps, len(s.piano))
            roll, onsets = np.zeros((2, melody.n_steps, 128, 1), bool)
            roll[:n, :, 0], onsets[:n, :, 0] = s.piano[:n], s.piano_onsets[:n]
            return roll, onsets

        path = str(tmp_path / "melody.mid")
        s.midi.write(path)
        roll, onsets = pe.read_accompaniment(pe.roll_accompany(real)(path, 0), s.bars * 16)
        end = s.span[0] + int(np.nonzero(s.melody.any(axis=1))[0][-1]) + 1  # the melody's last sounding step
        assert not roll[:s.span[0]].any() and not roll[end:].any()
        assert np.array_equal(roll[s.span[0]:end], s.piano[:end - s.span[0]]), (s.song, s.index)
        assert np.array_equal(onsets[s.span[0]:end], s.piano_onsets[:end - s.span[0]]), (s.song, s.index)


@pytest.mark.slow
def test_evaluate_pop_rows_means_references_and_baselines(songs):
    assert [s.name for s in songs if s.stretches] == ["023", "026", "098"]
    assert {s.name: s.reason.split(" (")[0] for s in songs if s.reason} == {"176": "triple meter",
                                                                            "806": "triplet feel"}
    real = pe.evaluate_pop("real piano", songs)
    other = pe.evaluate_pop("another song", songs)
    doubled = pe.evaluate_pop(pe.baseline_accompany("doubled melody"), songs, seeds=(0, 1))
    triads = pe.evaluate_pop(pe.baseline_accompany("block triads"), songs, seeds=(0,))
    assert real["n_songs"] == 3 and [r["song"] for r in real["songs"]] == ["023", "026", "098"]
    assert set(real["skipped"]) == {"176", "806"}
    row = real["songs"][2]  # 098: one stretch of 13 bars, the melody from bar 5 to its end
    assert (row["stretches"], row["bars"]) == (1, 9)
    assert real["mean"]["chord_accuracy"] == pytest.approx(np.mean([r["chord_accuracy"] for r in real["songs"]]))
    assert other["mean"]["groove_similarity"] < 0.9 and other["mean"]["chord_accuracy"] < 0.3
    assert doubled["mean"]["notes_at_once"] == 1.0 and doubled["mean"]["seed_difference"] == 0.0
    assert doubled["mean"]["consonance_with_melody"] == 1.0  # an octave is consonant
    assert np.isnan(real["mean"]["seed_difference"]) and np.isnan(triads["mean"]["seed_difference"])
    assert triads["mean"]["notes_at_once"] == 3.0
    assert doubled["mean"]["chord_accuracy"] < triads["mean"]["chord_accuracy"] < real["mean"]["chord_accuracy"]
    table = pe.pop_table({"real piano": real, "block triads": triads})
    assert "chord_accuracy" in table and table.splitlines()[-1].split() == ["songs", "3", "3"]
    assert "seed_difference" in table and " -" in table


def test_the_model_column_through_the_accompanist(songs):
    """The user path with a model (the chorale model: it accompanies any melody, though not as a pop
    piano): seeds differ, the figures are measured."""
    one = [s for s in songs if s.name == "098"]
    result = pe.evaluate_pop(pe.model_accompany("chorale"), one, seeds=(0, 1))
    assert result["n_songs"] == 1 and result["mean"]["seed_difference"] > 0.0
    assert 0.0 <= result["mean"]["chord_accuracy"] <= 1.0 and result["mean"]["notes_at_once"] > 1.0


def test_evaluate_pop_refuses_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="accompany is a callable or one of"):
        pe.evaluate_pop("Bach", REAL)
    with pytest.raises(ConfigError, match="split must be"):
        pe.evaluate_pop("real piano", REAL, split="holdout")
    with pytest.raises(ConfigError, match="limit must be"):
        pe.evaluate_pop("real piano", REAL, limit=0)
    with pytest.raises(ConfigError, match="at least one seed"):
        pe.evaluate_pop("real piano", REAL, seeds=())
    with pytest.raises(DatasetError, match="not a POP909 folder"):
        pe.evaluate_pop("real piano", tmp_path / "absent")


@pytest.mark.slow
def test_evaluate_pop_script_prints_the_table_and_writes_json(tmp_path):
    out = tmp_path / "pop.json"
    run = subprocess.run([sys.executable, SCRIPT, "--source", REAL, "--split", "train", "--limit", "1",
                          "--seeds", "0", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    header = next(line for line in lines if line.startswith("figure"))
    assert header.split()[1:] == ["real", "piano", "another", "song", "doubled", "melody", "block", "triads"]
    data = json.loads(out.read_text())
    assert set(data["columns"]) == {"real piano", "another song", "doubled melody", "block triads"}
    assert data["columns"]["real piano"]["n_songs"] == 1 and data["split"] == "train"
    bad = subprocess.run([sys.executable, SCRIPT, "--source", str(tmp_path / "none")], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 1 and "not a POP909 folder" in bad.stderr and "Traceback" not in bad.stderr


def test_model_accompany_can_give_the_pickup_the_file_implies(songs, tmp_path, monkeypatch):
    from deepaccomp.accompanist import Accompanist

    seen = []
    monkeypatch.setattr(Accompanist, "generate", lambda self, path, **kw: seen.append(kw))
    by_id = {(s.song, s.index): s for song in songs for s in song.stretches}
    for key in [("023", 1), ("098", 0)]:  # melody from time 0; from step 66 (bar 5 + 2 sixteenths)
        path = str(tmp_path / "m.mid")
        by_id[key].midi.write(path)
        pe.model_accompany("chorale", pickup_from_file=True)(path, 3)
        pe.model_accompany("chorale")(path, 3)
    assert seen == [{"seed": 3, "pickup": 0.0}, {"seed": 3}, {"seed": 3, "pickup": 3.5}, {"seed": 3}]
