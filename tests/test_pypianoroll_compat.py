"""Pin every pypianoroll 1.0.4 defect that deepaccomp/compat.py works around.

Each ``test_defect*`` asserts that the installed pypianoroll still has the
defect: when a release fixes it, the test fails with "upstream fixed ...:
remove the workaround in deepaccomp/compat.py". The ``test_*`` next to it
checks that the compat function gives the right answer. Expected values are
worked out by hand; MIDI files are built here with pretty_midi (and mido for
a tempo change).
"""

from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")

import mido  # noqa: E402
import numpy as np  # noqa: E402
import pretty_midi  # noqa: E402
import pypianoroll  # noqa: E402
import pytest  # noqa: E402
from pypianoroll import BinaryTrack, Multitrack, StandardTrack, Track  # noqa: E402
from pypianoroll import metrics as pm_metrics  # noqa: E402

from deepaccomp import compat  # noqa: E402
from deepaccomp.errors import ConfigError, InputFileError, InvalidMidiError, InvalidRollError  # noqa: E402

NUMPY_VERSION = tuple(int(x) for x in np.__version__.split(".")[:2])
SCALE = [60, 62, 64, 65, 67, 69, 71, 72]  # C major, one quarter note each: two 4/4 bars


def upstream_fixed(what: str) -> str:
    return f"upstream fixed {what}: remove the workaround in deepaccomp/compat.py"


def write_midi(path, pitches=SCALE, *, qpm=120.0, ts=(4, 4), beats=1.0, velocity=100, extra=()):
    """A one-instrument file: ``pitches`` in sequence, ``beats`` quarter notes each."""
    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    if ts is not None:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(ts[0], ts[1], 0.0))
    inst = pretty_midi.Instrument(program=0, name="soprano")
    quarter = 60.0 / qpm
    for i, pitch in enumerate(pitches):
        inst.notes.append(pretty_midi.Note(velocity, pitch, i * beats * quarter, (i + 1) * beats * quarter))
    for pitch, start, end, vel in extra:  # (pitch, start quarter, end quarter, velocity)
        inst.notes.append(pretty_midi.Note(vel, pitch, start * quarter, end * quarter))
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


def write_tempo_change_midi(path, tpq=480):
    """8 quarter notes C4..C5; 120 qpm for 4 quarters, then 60 qpm; 4/4."""
    mf = mido.MidiFile(ticks_per_beat=tpq)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=1000000, time=4 * tpq))
    notes = mido.MidiTrack()
    for pitch in SCALE:
        notes.append(mido.Message("note_on", note=pitch, velocity=100, time=0))
        notes.append(mido.Message("note_off", note=pitch, velocity=0, time=tpq))
    mf.tracks.extend([meta, notes])
    mf.save(str(path))
    return path


def note_lengths(roll, pitches=SCALE):
    return [int(np.count_nonzero(roll[:, p])) for p in pitches]


@pytest.fixture
def scale_midi(tmp_path):
    return write_midi(tmp_path / "scale.mid")


# --------------------------------------------------------------------------- defect 1


@pytest.mark.skipif(NUMPY_VERSION < (2, 4), reason="the defect needs numpy >= 2.4")
def test_defect1_write_fails_for_multitracks_from_read(scale_midi, tmp_path):
    for resolution in (4, 24):
        multitrack = pypianoroll.read(scale_midi, resolution=resolution)
        assert multitrack.tempo.ndim == 2
        for convert in (multitrack.to_pretty_midi, lambda: multitrack.write(str(tmp_path / "out.mid"))):
            try:
                convert()
            except TypeError as exc:
                assert "0-dimensional" in str(exc)
            else:
                pytest.fail(upstream_fixed("Multitrack.to_pretty_midi/write with a 2-D tempo (numpy >= 2.4)"))


def _notes(pm):
    return sorted((n.pitch, round(n.start, 6), round(n.end, 6)) for n in pm.instruments[0].notes)


def test_multitrack_to_pretty_midi_accepts_2d_tempo(scale_midi, tmp_path):
    expected = [(p, 0.5 * i, 0.5 * (i + 1)) for i, p in enumerate(SCALE)]
    upstream = pypianoroll.read(scale_midi, resolution=4)
    tempo_before = upstream.tempo.copy()
    pm = compat.multitrack_to_pretty_midi(upstream)
    assert np.array_equal(upstream.tempo, tempo_before)  # input untouched
    assert pm.get_tempo_changes()[1].tolist() == [120.0]
    assert _notes(pm) == expected
    pm = compat.multitrack_to_pretty_midi(compat.read_multitrack(scale_midi))
    assert _notes(pm) == expected
    assert [(t.numerator, t.denominator, t.time) for t in pm.time_signature_changes] == [(4, 4, 0.0)]
    out = tmp_path / "out.mid"
    pm.write(str(out))
    again = compat.read_multitrack(out)
    assert np.array_equal(again.tracks[0].pianoroll, compat.read_multitrack(scale_midi).tracks[0].pianoroll)


def test_multitrack_to_pretty_midi_keeps_the_meter(tmp_path):
    src = write_midi(tmp_path / "waltz.mid", ts=(3, 4))
    multitrack = compat.read_multitrack(src)
    assert np.flatnonzero(multitrack.downbeat).tolist() == [0, 12, 24]
    pm = compat.multitrack_to_pretty_midi(multitrack)
    assert [(t.numerator, t.denominator) for t in pm.time_signature_changes] == [(3, 4)]
    pm.write(str(tmp_path / "back.mid"))
    back = compat.read_multitrack(tmp_path / "back.mid")
    assert np.array_equal(back.downbeat, multitrack.downbeat)
    assert np.array_equal(back.tracks[0].pianoroll, multitrack.tracks[0].pianoroll)


# --------------------------------------------------------------------------- defect 2


def test_defect2a_read_tempo_has_24_steps_per_beat(scale_midi):
    multitrack = pypianoroll.read(scale_midi, resolution=4)
    n_steps = len(multitrack.tracks[0].pianoroll)
    assert n_steps == 32
    assert multitrack.tempo.shape[0] == 24 * n_steps // 4, upstream_fixed(
        "pypianoroll.read tempo length (hard-coded 24 steps per beat)"
    )


def test_defect2a_read_tempo_is_in_beat_order_not_step_order(tmp_path):
    multitrack = pypianoroll.read(write_tempo_change_midi(tmp_path / "tc.mid"), resolution=24)
    tempo = multitrack.tempo.reshape(-1)
    # right: 120 for the first 4 * 24 steps; upstream: tempo[i] is the tempo of beat i
    assert tempo[4] == pytest.approx(60.0) and tempo[:96].min() < 120.0, upstream_fixed(
        "pypianoroll.read tempo order (np.tile instead of np.repeat)"
    )


def test_read_multitrack_tempo(tmp_path, scale_midi):
    multitrack = compat.read_multitrack(write_tempo_change_midi(tmp_path / "tc.mid"), resolution=4)
    assert multitrack.tempo.shape == (32,)
    assert multitrack.tempo[:16].tolist() == [120.0] * 16
    assert multitrack.tempo[16:].tolist() == [60.0] * 16
    assert note_lengths(multitrack.tracks[0].pianoroll) == [4] * 8
    multitrack = compat.read_multitrack(scale_midi, resolution=3)
    assert multitrack.tempo.shape == (24,) and np.all(multitrack.tempo == 120.0)
    multitrack.validate()


def test_defect2bc_read_downbeat_2d_and_only_first_bar(scale_midi):
    multitrack = pypianoroll.read(scale_midi, resolution=4)
    assert multitrack.downbeat.ndim == 2, upstream_fixed("pypianoroll.read 2-D downbeat array")
    assert np.flatnonzero(multitrack.downbeat).tolist() == [0], upstream_fixed(
        "pypianoroll.read downbeats of the last time-signature segment"
    )
    with pytest.raises(ValueError):
        multitrack.validate()


def test_read_multitrack_downbeats(scale_midi, tmp_path):
    multitrack = compat.read_multitrack(scale_midi, resolution=4)
    assert multitrack.downbeat.shape == (32,)
    assert np.flatnonzero(multitrack.downbeat).tolist() == [0, 16]
    # 3/4 then 2/4 from quarter 6: bars at quarters 0, 3, 6, 8 (steps x4)
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes += [pretty_midi.TimeSignature(3, 4, 0.0), pretty_midi.TimeSignature(2, 4, 3.0)]
    inst = pretty_midi.Instrument(0)
    inst.notes.append(pretty_midi.Note(90, 60, 0.0, 5.0))  # 10 quarters
    pm.instruments.append(inst)
    multitrack = compat.read_multitrack(pm, resolution=4)
    assert np.flatnonzero(multitrack.downbeat).tolist() == [0, 12, 24, 32]
    # no time signature: no downbeat array, as in pypianoroll (in memory: pretty_midi
    # writes a 4/4 event into every file)
    pm.time_signature_changes = []
    assert compat.read_multitrack(pm).downbeat is None


def test_defect2d_read_truncates_note_ends(tmp_path):
    multitrack = pypianoroll.read(write_midi(tmp_path / "q47.mid", qpm=47.0), resolution=4)
    assert note_lengths(multitrack.tracks[0].pianoroll) != [4] * 8, upstream_fixed(
        "pypianoroll.read note-end truncation"
    )


@pytest.mark.parametrize("qpm", [47.0, 93.0, 101.0, 133.0, 177.0])
def test_read_multitrack_keeps_note_lengths(tmp_path, qpm):
    multitrack = compat.read_multitrack(write_midi(tmp_path / "q.mid", qpm=qpm), resolution=4)
    roll = multitrack.tracks[0].pianoroll
    assert note_lengths(roll) == [4] * 8
    assert [int(np.flatnonzero(roll[:, p])[0]) for p in SCALE] == [4 * i for i in range(8)]
    assert roll.max() == 100


@pytest.mark.parametrize("ts", [(2, 2), (3, 2), (6, 8)])
def test_defect2e_read_resolution_counts_beats_not_quarters(tmp_path, ts):
    multitrack = pypianoroll.read(write_midi(tmp_path / "m.mid", ts=ts), resolution=4)
    assert note_lengths(multitrack.tracks[0].pianoroll) != [4] * 8, upstream_fixed(
        f"pypianoroll.read grid in {ts[0]}/{ts[1]} (steps per beat instead of per quarter note)"
    )


@pytest.mark.parametrize("ts, bars", [((2, 2), [0, 16]), ((3, 2), [0, 24]), ((6, 8), [0, 12, 24])])
def test_read_multitrack_grid_is_quarter_notes(tmp_path, ts, bars):
    multitrack = compat.read_multitrack(write_midi(tmp_path / "m.mid", ts=ts), resolution=4)
    assert note_lengths(multitrack.tracks[0].pianoroll) == [4] * 8
    assert np.all(multitrack.tempo == 120.0)
    assert np.flatnonzero(multitrack.downbeat).tolist() == bars


def test_defect2f_read_mode_max_adds_velocities(tmp_path):
    path = write_midi(tmp_path / "ov.mid", extra=[(60, 0.5, 1.0, 100)])
    multitrack = pypianoroll.read(path, resolution=4, mode="max")
    assert multitrack.tracks[0].pianoroll[:, 60].max() == 200, upstream_fixed(
        "pypianoroll.read mode='max' summing velocities"
    )


def test_read_multitrack_overlaps_keep_max_velocity(tmp_path):
    path = write_midi(tmp_path / "ov.mid", velocity=70, extra=[(60, 0.5, 1.0, 100)])
    roll = compat.read_multitrack(path).tracks[0].pianoroll
    assert roll[:5, 60].tolist() == [70, 70, 100, 100, 0]


def test_defect2g_read_fails_on_a_one_beat_file(tmp_path):
    path = write_midi(tmp_path / "one.mid", [60])
    with pytest.raises(IndexError):
        pypianoroll.read(path, resolution=4)
        pytest.fail(upstream_fixed("pypianoroll.read of a one-beat file"))
    roll = compat.read_multitrack(path).tracks[0].pianoroll
    assert roll.shape == (4, 128) and roll[:, 60].tolist() == [100] * 4


def test_read_multitrack_sources_and_errors(scale_midi, tmp_path):
    expected = compat.read_multitrack(scale_midi).tracks[0].pianoroll
    with open(scale_midi, "rb") as fh:
        assert np.array_equal(compat.read_multitrack(fh).tracks[0].pianoroll, expected)
    assert np.array_equal(compat.read_multitrack(str(scale_midi)).tracks[0].pianoroll, expected)
    pm = pretty_midi.PrettyMIDI(str(scale_midi))
    before = [(n.pitch, n.start, n.end) for n in pm.instruments[0].notes]
    assert np.array_equal(compat.read_multitrack(pm).tracks[0].pianoroll, expected)
    assert [(n.pitch, n.start, n.end) for n in pm.instruments[0].notes] == before
    track = compat.read_multitrack(scale_midi).tracks[0]
    assert isinstance(track, StandardTrack) and track.name == "soprano" and track.program == 0
    with pytest.raises(InputFileError):
        compat.read_multitrack(tmp_path / "missing.mid")
    with pytest.raises(InputFileError):
        compat.read_multitrack(tmp_path)
    (tmp_path / "junk.mid").write_bytes(b"not a midi file at all")
    with pytest.raises(InvalidMidiError):
        compat.read_multitrack(tmp_path / "junk.mid")
    with pytest.raises(InvalidMidiError):
        compat.read_multitrack(io.BytesIO(b"MThd garbage"))
    for bad in (0, -4, 2.5, True):
        with pytest.raises(ConfigError):
            compat.read_multitrack(scale_midi, resolution=bad)


# --------------------------------------------------------------------------- defect 3


def _standard_and_binary():
    roll = np.zeros((8, 128), np.uint8)
    roll[0:4, 60] = 100
    roll[4:8, 64] = 50
    return Multitrack(
        resolution=4,
        tempo=np.full(8, 120.0),
        downbeat=np.eye(1, 8, dtype=bool)[0],
        tracks=[StandardTrack(name="s", pianoroll=roll), BinaryTrack(name="b", pianoroll=roll > 0)],
    )


def test_defect3_copy_loses_track_classes():
    multitrack = _standard_and_binary()
    copied = multitrack.copy()
    assert [type(t) for t in copied.tracks] == [Track, Track], upstream_fixed("Track.copy returning plain Track")
    binarized = copied.binarize()
    assert binarized.tracks[0].pianoroll.dtype == np.uint8, upstream_fixed(
        "Multitrack.copy().binarize() doing nothing"
    )
    with pytest.raises(ValueError, match="Expect BinaryTrack or StandardTrack"):
        copied.to_pretty_midi()


def test_copy_multitrack_keeps_classes_and_is_deep():
    multitrack = _standard_and_binary()
    copied = compat.copy_multitrack(multitrack)
    assert [type(t) for t in copied.tracks] == [StandardTrack, BinaryTrack]
    binarized = copied.binarize()
    assert [t.pianoroll.dtype for t in binarized.tracks] == [np.bool_, np.bool_]
    copied.tracks[1].pianoroll[:] = False
    copied.tempo[:] = 60.0
    assert multitrack.tracks[1].pianoroll.any() and multitrack.tempo[0] == 120.0
    assert multitrack.tracks[0].pianoroll.dtype == np.uint8


def test_multitrack_to_pretty_midi_accepts_plain_tracks():
    pm = compat.multitrack_to_pretty_midi(_standard_and_binary().copy())
    assert [[(n.pitch, n.velocity, n.start, n.end) for n in inst.notes] for inst in pm.instruments] == [
        [(60, 100, 0.0, 0.5), (64, 50, 0.5, 1.0)],
        [(60, 64, 0.0, 0.5), (64, 64, 0.5, 1.0)],
    ]


# --------------------------------------------------------------------------- defect 4


def _one_note_multitrack():
    roll = np.zeros((8, 128), np.uint8)
    roll[0:4, 60] = 100  # a half-bar note, then 4 steps of rest
    return Multitrack(
        resolution=4,
        tempo=np.full(8, 120.0),
        downbeat=np.array([1, 0, 0, 0, 1, 0, 0, 0], bool),
        tracks=[StandardTrack(name="s", pianoroll=roll)],
    )


def test_defect4_set_resolution_keeps_tempo_and_downbeat():
    multitrack = _one_note_multitrack().set_resolution(8)
    assert multitrack.tempo.shape == (8,) and multitrack.downbeat.shape == (8,), upstream_fixed(
        "Multitrack.set_resolution not rescaling tempo/downbeat"
    )


def test_defect4_set_resolution_breaks_held_notes():
    roll = _one_note_multitrack().set_resolution(8).tracks[0].pianoroll
    assert np.flatnonzero(roll[:, 60]).tolist() == [0, 2, 4, 6], upstream_fixed(
        "Multitrack.set_resolution fragmenting held notes"
    )
    assert roll.shape[0] == 7, upstream_fixed("Multitrack.set_resolution cutting trailing rests")


def test_set_resolution_rescales_everything():
    multitrack = _one_note_multitrack()
    up = compat.set_resolution(multitrack, 8)
    assert up.resolution == 8
    roll = up.tracks[0].pianoroll
    assert roll.shape == (16, 128) and roll.dtype == np.uint8
    assert np.flatnonzero(roll[:, 60]).tolist() == list(range(8)) and roll[:8, 60].min() == 100
    assert up.tempo.shape == (16,) and np.all(up.tempo == 120.0)
    assert np.flatnonzero(up.downbeat).tolist() == [0, 8]
    assert isinstance(up.tracks[0], StandardTrack)
    # the input is untouched
    assert multitrack.resolution == 4 and multitrack.tracks[0].pianoroll.shape == (8, 128)
    down = compat.set_resolution(multitrack, 2)
    assert down.tracks[0].pianoroll.shape == (4, 128)
    assert np.flatnonzero(down.tracks[0].pianoroll[:, 60]).tolist() == [0, 1]
    assert np.flatnonzero(down.downbeat).tolist() == [0, 2] and down.tempo.shape == (4,)
    back = compat.set_resolution(up, 4)
    assert np.array_equal(back.tracks[0].pianoroll, multitrack.tracks[0].pianoroll)
    with pytest.raises(ConfigError):
        compat.set_resolution(multitrack, 0)


def test_set_resolution_matches_reading_at_that_resolution(tmp_path):
    path = write_tempo_change_midi(tmp_path / "tc.mid")
    coarse = compat.read_multitrack(path, resolution=4)
    fine = compat.read_multitrack(path, resolution=24)
    up = compat.set_resolution(coarse, 24)
    assert np.array_equal(up.tracks[0].pianoroll, fine.tracks[0].pianoroll)
    assert np.array_equal(up.tempo, fine.tempo)
    assert np.array_equal(up.downbeat, fine.downbeat)
    # 2-D arrays straight from pypianoroll.read come out 1-D
    fixed = compat.set_resolution(pypianoroll.read(path, resolution=24), 12)
    assert fixed.tempo.ndim == 1 and fixed.downbeat.ndim == 1


# --------------------------------------------------------------------------- defect 5


def _roll(*cells, n_steps=16, dtype=bool):
    """cells: (pitch, start, stop) spans."""
    roll = np.zeros((n_steps, 128), dtype)
    for pitch, start, stop in cells:
        roll[start:stop, pitch] = 1
    return roll


def test_defect5_pitch_classes_are_adjacent_semitone_groups():
    octave = _roll((60, 0, 4), (72, 4, 8))  # C4, C5: one pitch class
    assert pm_metrics.n_pitch_classes_used(octave) == 2, upstream_fixed("pypianoroll.metrics chroma grouping")
    step = _roll((60, 0, 4), (62, 4, 8))  # C4, D4: two pitch classes
    assert pm_metrics.n_pitch_classes_used(step) == 1, upstream_fixed("pypianoroll.metrics chroma grouping")


def test_n_pitch_classes_used():
    assert compat.n_pitch_classes_used(_roll((60, 0, 4), (72, 4, 8))) == 1
    assert compat.n_pitch_classes_used(_roll((60, 0, 4), (62, 4, 8))) == 2
    assert compat.n_pitch_classes_used(_roll()) == 0
    everything = _roll(*[(p, 0, 1) for p in range(128)])
    assert compat.n_pitch_classes_used(everything) == 12
    # windowed roll: index 0 is MIDI 28 (E1); 28 and 40 are both E, 32 is G#
    window = np.zeros((4, 64), bool)
    window[0, [0, 12, 4]] = True
    assert compat.n_pitch_classes_used(window, lowest_pitch=28) == 2
    chroma = compat.to_chroma(window, lowest_pitch=28)
    assert chroma.shape == (4, 12) and chroma[0, 4] == 2 and chroma[0, 8] == 1 and chroma.sum() == 3


def test_defect5_chroma_modifies_the_input_in_place():
    roll = _roll((125, 0, 4), dtype=np.uint8)
    before = roll.copy()
    pm_metrics.n_pitch_classes_used(roll)
    assert not np.array_equal(roll, before), upstream_fixed("pypianoroll.metrics._to_chroma writing into its input")
    roll = before.copy()
    assert compat.n_pitch_classes_used(roll) == 1  # 125 = F9
    assert np.array_equal(roll, before)


def test_defect5_in_scale_rate():
    # C, D, E, F# one beat each: in C major 3 of 4 cells are in the scale
    roll = _roll((60, 0, 4), (62, 4, 8), (64, 8, 12), (66, 12, 16))
    right = 12 / 16
    assert pm_metrics.in_scale_rate(roll, root=3, mode="major") != pytest.approx(right), upstream_fixed(
        "pypianoroll.metrics.in_scale_rate"
    )
    a_sharp = _roll((70, 0, 4))  # A#4 alone: right answer 0 (groups 70..79 count as "G")
    assert pm_metrics.in_scale_rate(a_sharp, root=3, mode="major") == pytest.approx(1.0), upstream_fixed(
        "pypianoroll.metrics.in_scale_rate"
    )
    assert compat.in_scale_rate(a_sharp, 0, "major") == 0.0
    assert pm_metrics.in_scale_rate(a_sharp.astype(np.uint8) * 100, root=3) == pytest.approx(100.0), (
        upstream_fixed("pypianoroll.metrics.in_scale_rate velocity weighting")
    )


def test_in_scale_rate():
    roll = _roll((60, 0, 4), (62, 4, 8), (64, 8, 12), (66, 12, 16))
    assert compat.in_scale_rate(roll, 0, "major") == pytest.approx(0.75)
    assert compat.in_scale_rate(roll.astype(np.uint8) * 100, 0, "major") == pytest.approx(0.75)
    assert compat.in_scale_rate(roll, 7, "major") == pytest.approx(1.0)  # G major has F#
    assert compat.in_scale_rate(roll, 9, "minor") == pytest.approx(0.75)  # A minor = C major
    assert compat.in_scale_rate(roll, 4, "minor") == pytest.approx(1.0)  # E minor has F#
    assert compat.in_scale_rate(roll, 1, "major") == pytest.approx(0.5)  # Db major has C and Gb
    assert math.isnan(compat.in_scale_rate(_roll(), 0))
    with pytest.raises(ConfigError):
        compat.in_scale_rate(roll, 0, "dorian")


def test_defect5_empty_beat_rate_is_inverted():
    roll = _roll((60, 0, 4), (62, 4, 8), (64, 8, 12))  # 4 beats, the last one empty
    assert pm_metrics.empty_beat_rate(roll, 4) == pytest.approx(0.75), upstream_fixed(
        "pypianoroll.metrics.empty_beat_rate returning the non-empty rate"
    )


def test_empty_beat_rate():
    assert compat.empty_beat_rate(_roll((60, 0, 4), (62, 4, 8), (64, 8, 12)), 4) == pytest.approx(0.25)
    assert compat.empty_beat_rate(_roll((60, 3, 5)), 4) == pytest.approx(0.5)  # beats 0 and 1 touched
    assert compat.empty_beat_rate(_roll(), 4) == pytest.approx(1.0)
    assert math.isnan(compat.empty_beat_rate(np.zeros((0, 128), bool), 4))
    with pytest.raises(InvalidRollError):
        compat.empty_beat_rate(np.zeros((10, 128), bool), 4)


def test_defect5_qualified_note_rate_raises():
    roll = _roll((60, 0, 4), (64, 4, 5))
    with pytest.raises(ValueError):
        pm_metrics.qualified_note_rate(roll, 2)
        pytest.fail(upstream_fixed("pypianoroll.metrics.qualified_note_rate"))


def test_qualified_note_rate():
    assert compat.qualified_note_rate(_roll((60, 0, 4), (64, 4, 5)), 2) == pytest.approx(0.5)
    chord = _roll((60, 0, 1), (64, 0, 8), (67, 2, 3), (60, 5, 8))  # lengths 1, 8, 1, 3
    assert compat.qualified_note_rate(chord, 2) == pytest.approx(0.5)
    assert compat.qualified_note_rate(chord.astype(np.uint8) * 90, 3) == pytest.approx(0.5)
    assert compat.qualified_note_rate(chord, 1) == pytest.approx(1.0)
    assert math.isnan(compat.qualified_note_rate(_roll(), 2))


# --------------------------------------------------------------------------- defect 6


def test_defect6_blended_plot_uses_removed_matplotlib_api():
    import matplotlib.pyplot as plt

    multitrack = _standard_and_binary()
    before = set(plt.get_fignums())
    try:
        with pytest.raises(AttributeError, match="get_cmap"):
            pypianoroll.plot_multitrack(multitrack, None, mode="blended")
            pytest.fail(upstream_fixed("pypianoroll.plot_multitrack blended mode (matplotlib.cm.get_cmap)"))
    finally:
        for num in set(plt.get_fignums()) - before:
            plt.close(num)


def test_plot_multitrack():
    import matplotlib.pyplot as plt
    from matplotlib.collections import PolyCollection
    from matplotlib.figure import Figure

    before = set(plt.get_fignums())
    fig = compat.plot_multitrack(_standard_and_binary(), title="two tracks")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    notes = [c for c in fig.axes[0].collections if isinstance(c, PolyCollection)]
    assert [c.get_label() for c in notes] == ["s", "b"]
    assert [len(c.get_paths()) for c in notes] == [2, 2]
    assert set(plt.get_fignums()) == before


# --------------------------------------------------------------------------- defect 7


def test_defect7_remove_empty_is_inverted():
    multitrack = _standard_and_binary()
    multitrack.tracks.append(StandardTrack(name="empty", pianoroll=np.zeros((8, 128), np.uint8)))
    multitrack.remove_empty()
    assert [t.name for t in multitrack.tracks] == ["empty"], upstream_fixed("Multitrack.remove_empty")


def test_remove_empty_tracks():
    multitrack = _standard_and_binary()
    multitrack.tracks.append(StandardTrack(name="empty", pianoroll=np.zeros((8, 128), np.uint8)))
    kept = compat.remove_empty_tracks(multitrack)
    assert [t.name for t in kept.tracks] == ["s", "b"]
    assert len(multitrack.tracks) == 3
