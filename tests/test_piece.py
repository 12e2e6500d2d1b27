"""The piece: reading keeps onsets, the one writer splits at them, round trips keep notes, tempo map,
meters and drums for satb, lpd5 and a user layout, and the model space's key shift is undone."""

import io

import mido
import numpy as np
import pretty_midi
import pytest

from deepaccomp.config import preset
from deepaccomp.errors import ConfigError, InvalidRollError, NoMelodyError, UnsupportedMeterError
from deepaccomp.generation import from_model_space, to_model_space
from deepaccomp.layout import get_layout
from deepaccomp.midi import read_midi
from deepaccomp.piece import Piece, TimeGrid, read_piece, to_pretty_midi, write_piece

SPB = 0.125  # seconds per 16th step at 120 bpm


def pm_of(tracks, *, bpm=120.0, meter=(4, 4), tempo_change=None):
    """A file from ``[(name, program, is_drum, [(pitch, start_step, end_step)])]`` at ``bpm``
    (480 ticks per quarter); ``tempo_change``: ``(tick, bpm)`` as a second tempo event."""
    pm = pretty_midi.PrettyMIDI(resolution=480, initial_tempo=bpm)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
    if tempo_change is not None:
        tick, bpm2 = tempo_change
        # pretty_midi keeps the tempo map in _tick_scales: (tick, seconds per tick)
        pm._tick_scales.append((tick, 60.0 / (bpm2 * 480)))
        pm._update_tick_to_time(tick * 20)
    for name, program, drums, notes in tracks:
        inst = pretty_midi.Instrument(program=program, name=name, is_drum=drums)
        for pitch, on, off in notes:
            inst.notes.append(pretty_midi.Note(90, pitch, pm.tick_to_time(on * 120), pm.tick_to_time(off * 120)))
        pm.instruments.append(inst)
    buf = io.BytesIO()
    pm.write(buf)
    return read_midi(buf.getvalue())


def notes_of(inst):
    """``[(pitch, start tick, end tick)]`` of an instrument of a file written and read back."""
    return sorted((n.pitch, round(n.start * 960), round(n.end * 960)) for n in inst.notes)


def reread(pm):
    buf = io.BytesIO()
    pm.write(buf)
    return read_midi(buf.getvalue())


def test_reading_keeps_a_restruck_note_apart_from_a_held_note():
    # two quarter notes of one pitch (re-struck at step 4) and one half note of another
    pm = pm_of([("melody", 0, False, [(67, 0, 4), (67, 4, 8)]), ("alto", 0, False, [(60, 0, 8)]),
                ("tenor", 0, False, [(55, 0, 8)]), ("bass", 0, False, [(48, 0, 8)])])
    piece = read_piece(pm, "satb")
    assert piece.roll.shape == (8, 128, 4)
    assert piece.roll[:8, 67, 0].all() and piece.roll[:8, 60, 1].all()  # the boolean rolls are alike
    assert np.nonzero(piece.onsets[:, 67, 0])[0].tolist() == [0, 4]
    assert np.nonzero(piece.onsets[:, 60, 1])[0].tolist() == [0]


def test_the_melody_as_the_accompanist_reads_it_keeps_onsets_and_the_instrument():
    pm = pm_of([("lead", 5, False, [(72, 2, 6), (72, 6, 7), (74, 7, 12)])])
    piece = read_piece(pm, "satb", tracks="melody")
    assert piece.roll.shape[2] == 1 and piece.originals[0] is pm.instruments[0]
    assert np.nonzero(piece.onsets[:, 72, 0])[0].tolist() == [2, 6]
    assert piece.grid.bars is not None and piece.grid.bars.source == "file"  # a leading rest marks the bars


def test_writing_splits_runs_at_onsets_and_writes_held_notes_whole():
    roll = np.zeros((8, 128, 2), bool)
    roll[0:8, 60, 0] = True  # one run...
    onsets = np.zeros_like(roll)
    onsets[[0, 3], 60, 0] = True  # ...struck at steps 0 and 3
    roll[2:6, 48, 1] = True  # held: one note
    piece = Piece(roll, onsets, "satb", TimeGrid.plain())
    out = reread(to_pretty_midi(piece, velocity=64))
    assert [(n.pitch, n.start, n.end) for n in out.instruments[0].notes] == [(60, 0.0, 3 * SPB), (60, 3 * SPB, 8 * SPB)]
    assert [(n.pitch, n.start, n.end) for n in out.instruments[1].notes] == [(48, 2 * SPB, 6 * SPB)]
    assert [i.name for i in out.instruments] == ["soprano", "alto"]
    assert [i.program for i in out.instruments] == [52, 52] and out.instruments[0].notes[0].velocity == 64


def test_onsets_are_kept_inside_the_roll_and_at_every_run_start():
    roll = np.zeros((6, 4, 1), bool)
    roll[1:4, 2, 0] = True
    onsets = np.zeros_like(roll)
    onsets[5, 0, 0] = True  # outside the roll: dropped
    piece = Piece.from_roll(roll, onsets=onsets)
    assert np.argwhere(piece.onsets).tolist() == [[1, 2, 0]]
    with pytest.raises(InvalidRollError):
        Piece.from_roll(roll, onsets=onsets[:5])
    with pytest.raises(InvalidRollError):
        Piece.from_roll(np.zeros((4, 128, 5), bool))  # satb has 4 tracks


def test_round_trip_satb_keeps_notes_tempo_map_and_meter(tmp_path):
    tracks = [("soprano", 52, False, [(72, 0, 4), (72, 4, 8), (74, 8, 16)]),
              ("alto", 52, False, [(67, 0, 16)]), ("tenor", 52, False, [(60, 0, 6), (62, 6, 16)]),
              ("bass", 52, False, [(48, 0, 8), (48, 8, 16)])]
    pm = pm_of(tracks, meter=(3, 4), tempo_change=(960, 60.0))
    piece = read_piece(pm, "satb")
    path = tmp_path / "out.mid"
    write_piece(piece, path)
    out = read_midi(str(path))
    assert [i.name for i in out.instruments] == ["soprano", "alto", "tenor", "bass"]
    for a, b in zip(pm.instruments, out.instruments):
        assert notes_of(a) == notes_of(b)
    assert np.allclose(out.get_tempo_changes()[1], [120.0, 60.0])
    assert [(t.numerator, t.denominator) for t in out.time_signature_changes] == [(3, 4)]
    again = read_piece(out, "satb")
    assert (again.roll == piece.roll).all() and (again.onsets == piece.onsets).all()


def test_round_trip_lpd5_keeps_drums_as_hits_on_channel_10_and_an_absent_track_empty():
    tracks = [("lead vocal", 73, False, [(72, 0, 4), (74, 4, 8)]),
              ("kit", 0, True, [(36, 0, 1), (36, 1, 2), (38, 4, 6)]),
              ("piano", 0, False, [(60, 0, 8), (64, 0, 4), (64, 4, 8)]),
              ("bass", 33, False, [(40, 0, 8)])]  # no guitar, no strings
    piece = read_piece(pm_of(tracks), "lpd5")
    names = list(get_layout("lpd5").track_names)
    assert piece.roll.shape[2] == 6 and not piece.roll[..., names.index("guitar")].any()
    drums = piece.roll[..., names.index("drums")]
    assert np.argwhere(drums).tolist() == [[0, 36], [1, 36], [4, 38]]  # one step per hit
    written = to_pretty_midi(piece)
    assert [i.name for i in written.instruments] == names  # an empty track is written empty
    assert [i.program for i in written.instruments[2:]] == [0, 25, 33, 48]
    by_name = {i.name: i for i in reread(written).instruments}  # a file keeps the instruments with notes
    assert by_name["drums"].is_drum and not by_name["piano"].is_drum
    assert notes_of(by_name["drums"]) == [(36, 0, 120), (36, 120, 240), (38, 480, 600)]
    assert notes_of(by_name["piano"]) == [(60, 0, 960), (64, 0, 480), (64, 480, 960)]
    buf = io.BytesIO()
    written.write(buf)
    channels = {}
    for track in mido.MidiFile(file=io.BytesIO(buf.getvalue())).tracks:
        name = next((m.name for m in track if m.type == "track_name"), None)
        channels[name] = {m.channel for m in track if m.type == "note_on"}
    assert channels["drums"] == {9} and 9 not in channels["piano"]


def test_round_trip_of_a_user_layout_dict():
    trio = {"name": "trio", "tracks": [
        {"name": "tune", "role": "melody", "pattern": "tune", "program": 73},
        {"name": "keys", "pattern": "keys", "program": 4, "polyphonic": True, "required": False},
        {"name": "low", "pattern": "low", "program": 32, "required": False},
        {"name": "kit", "drums": True, "required": False}]}
    tracks = [("tune", 73, False, [(76, 0, 2), (76, 2, 4)]), ("low", 32, False, [(36, 0, 4)]),
              ("kit", 0, True, [(42, 0, 1), (42, 2, 3)])]
    piece = read_piece(pm_of(tracks), trio)
    written = to_pretty_midi(piece, programs=[5, 33, 0])
    assert [i.name for i in written.instruments] == ["tune", "keys", "low", "kit"]
    assert [i.program for i in written.instruments] == [73, 5, 33, 0] and written.instruments[3].is_drum
    assert written.instruments[1].notes == []
    out = {i.name: i for i in reread(written).instruments}
    assert notes_of(out["tune"]) == [(76, 0, 240), (76, 240, 480)]
    assert notes_of(out["low"]) == [(36, 0, 480)] and out["kit"].is_drum
    assert notes_of(out["kit"]) == [(42, 0, 120), (42, 240, 360)]


def test_reading_refuses_a_missing_required_track_an_unknown_mode_and_a_meter_not_taken():
    with pytest.raises(NoMelodyError, match="tenor"):
        read_piece(pm_of([("soprano", 52, False, [(72, 0, 4)]), ("alto", 52, False, [(67, 0, 4)])]), "satb")
    pm = pm_of([("melody", 0, False, [(72, 0, 4)])], meter=(7, 8))
    with pytest.raises(UnsupportedMeterError, match="7/8"):
        read_piece(pm, "satb", tracks="melody", meters={(4, 4)})
    with pytest.raises(ConfigError, match="tracks"):
        read_piece(pm, "satb", tracks="drums")


def test_model_space_round_trip_restores_the_key_and_the_lead_in():
    cfg = preset("default")
    # D major melody with a one-beat pickup (first note at step 12 of a 4/4 bar)
    pm = pm_of([("melody", 0, False, [(69, 12, 16), (74, 16, 20), (74, 20, 24), (76, 24, 28), (78, 28, 32),
                                      (81, 32, 40), (74, 40, 48)])])
    piece = read_piece(pm, "satb", tracks="melody")
    model = to_model_space(piece, cfg)
    assert model.lowest_pitch == cfg.window.lowest and model.roll.shape[1] == cfg.window.size
    assert model.key_shift % 12 in (10, 3)  # D major -> C major (or B minor -> A minor), by octaves
    assert model.grid.lead_in == piece.grid.bars.offset and (model.n_steps - model.grid.lead_in) == piece.n_steps
    starts = np.nonzero(model.onsets[..., 0].any(axis=1))[0] - model.grid.lead_in
    assert starts.tolist() == [12, 16, 20, 24, 28, 32, 40]  # the re-struck D keeps its onset
    back = from_model_space(model, cfg)
    assert back.key_shift == 0 and back.lowest_pitch == 0 and back.grid.lead_in == 0
    assert (back.roll == piece.roll).all() and (back.onsets == piece.onsets).all()


def test_center_melody_false_keeps_the_melodys_octave():
    # a C major melody around MIDI 79 (G5): the chorale model moves it an octave down, near 67; a model
    # trained on melodies in their own register (data.center_melody false) keeps it where it is
    pm = pm_of([("melody", 0, False, [(79, 0, 8), (76, 8, 16), (84, 16, 24), (72, 24, 32), (79, 32, 48)])])
    piece = read_piece(pm, "pop", tracks="melody")
    moved = to_model_space(piece, preset("default").with_layout("pop"))
    kept = to_model_space(piece, preset("pop"))
    assert moved.key_shift == -12 and kept.key_shift == 0
    top = lambda p: p.lowest_pitch + np.nonzero(p.roll[..., 0].any(axis=0))[0].max()  # noqa: E731
    assert (top(moved), top(kept)) == (72, 84)
    assert (from_model_space(kept, preset("pop")).roll == piece.roll).all()


def test_a_small_asymmetric_piece_by_hand():
    # 3 steps x 2 pitches x 2 tracks, pitch index 0 = MIDI 50, at 60 bpm (a step = 0.25 s)
    roll = np.array([[[1, 0], [0, 1]],
                     [[1, 0], [0, 0]],
                     [[0, 1], [1, 0]]], bool)  # (time, pitch, track)
    onsets = np.zeros_like(roll)
    onsets[1, 0, 0] = True  # track 0, MIDI 50: struck at 0 (run start) and again at 1
    piece = Piece(roll, onsets, "satb", TimeGrid.plain(tempo=60.0), lowest_pitch=50)
    out = to_pretty_midi(piece, programs=[1, 2, 3], velocity=100)
    got = [[(n.pitch, n.start, n.end) for n in inst.notes] for inst in out.instruments]
    assert got == [[(50, 0.0, 0.25), (50, 0.25, 0.5), (51, 0.5, 0.75)],  # soprano
                   [(51, 0.0, 0.25), (50, 0.5, 0.75)]]  # alto
    assert [i.program for i in out.instruments] == [52, 1]


# ---------------------------------------------------------------------- the command reads a piece once
EXAMPLE = "deepaccomp/assets/examples/ode_to_joy_pickup.mid"


@pytest.mark.parametrize("flags, kw", [((), {}), (("--pickup", "1", "--melody-track", "0"),
                                                  {"pickup": 1.0, "melody_track": 0})])
def test_generate_command_reads_the_melody_once_into_the_piece_it_accompanies(tmp_path, monkeypatch, flags, kw):
    from deepaccomp import Accompanist, cli, midi, piece

    expected = io.BytesIO()
    Accompanist().generate(EXAMPLE, seed=4, **kw).write(expected)
    reads, quantise = [], midi.notes_to_roll

    def counted(*args, **kwargs):  # every melody reading quantises its notes here, in either module
        reads.append(1)
        return quantise(*args, **kwargs)

    monkeypatch.setattr(midi, "notes_to_roll", counted, raising=True)
    monkeypatch.setattr(piece, "notes_to_roll", counted, raising=True)
    out = tmp_path / "out.mid"
    assert cli.main(["generate", EXAMPLE, "-o", str(out), "--seed", "4", *flags]) == 0
    assert len(reads) == 1 and out.read_bytes() == expected.getvalue()
