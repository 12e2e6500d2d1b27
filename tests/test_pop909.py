"""The POP909 reader: the beat grid by hand, skips with their reasons, the split, the pop layout,
stored onsets, the prepare command end to end, and hostile song folders.

Real songs come from tests/data/pop909/ (five POP909 song folders with the MIT notice); the
hand-made ones are written here, with the figures they must give worked out by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile

import numpy as np
import pretty_midi
import pytest

from deepaccomp import artifact, pop909
from deepaccomp.cli import build_train_config, main, make_parser
from deepaccomp.config import Config, preset
from deepaccomp.data import Dataset, SPLITS, prepare
from deepaccomp.errors import ConfigError, DatasetError
from deepaccomp.layout import LAYOUTS, get_layout, layout_ref, select_instruments
from deepaccomp.representation import run_starts
from helpers import tiny

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REAL = os.path.join(ROOT, "tests", "data", "pop909")

# Song 100, by hand: beats every 0.5 s (120 bpm), a 3-beat bar at 60 bpm, then two bars at 240 bpm.
# Beat i starts at step 4 i; bars start at beats 0, 4, 7 and 11; the last beat (0.25 s like the one
# before it) ends at 7.5 s = step 60.
BEATS_100 = [0.5, 1.0, 1.5, 2.0, 2.5, 3.5, 4.5, 5.5, 5.75, 6.0, 6.25, 6.5, 6.75, 7.0, 7.25]
DOWN_100 = [0, 4, 7, 11]
NOTES_100 = {
    "MELODY": [(74, 0.75, 1.0),      # beat 0.5-1: steps 2-4
               (74, 5.625, 6.0),     # beat 7.5-9: steps 30-36 (the third bar, which starts at step 28)
               (50, 0.2, 0.4)],      # before the first beat: dropped
    "BRIDGE": [(80, 0.5, 1.0)],
    "PIANO": [(43, 0.5, 1.0), (60, 0.5, 1.0), (64, 0.5, 1.0),   # steps 0-4: bass G2, the rest C4 E4
              (67, 6.0, 6.125), (67, 6.125, 6.25),              # beats 9-9.5 and 9.5-10: steps 36-38, 38-40
              (60, 7.6, 7.7)],                                  # after the end of the last beat: dropped
}


def write_song(folder, name, beats, downbeats, notes, keys="0.0 100.0 D:maj"):
    """A POP909 song folder: ``name.mid`` with the ``notes`` per track name, ``beat_midi.txt``, ``key_audio.txt``."""
    path = os.path.join(folder, name)
    os.makedirs(path, exist_ok=True)
    pm = pretty_midi.PrettyMIDI()
    for track, ns in notes.items():
        inst = pretty_midi.Instrument(0, name=track)
        inst.notes = [pretty_midi.Note(90, p, s, e) for p, s, e in ns]
        pm.instruments.append(inst)
    pm.write(os.path.join(path, f"{name}.mid"))
    with open(os.path.join(path, "beat_midi.txt"), "w") as fh:
        fh.writelines(f"{t} {float(i % 2 == 0)} {float(i in downbeats)}\n" for i, t in enumerate(beats))
    with open(os.path.join(path, "key_audio.txt"), "w") as fh:
        fh.write(keys + "\n")
    return path


def straight_beats(n_beats, per_bar, step=0.5):
    return [step * i for i in range(n_beats)], list(range(0, n_beats, per_bar))


def song_100(folder):
    return write_song(folder, "100", BEATS_100, DOWN_100, NOTES_100)


# ---------------------------------------------------------------------------------- the grid by hand
def test_beat_grid_by_hand(tmp_path):
    beats = pop909.read_beats(os.path.join(song_100(tmp_path), "beat_midi.txt"))
    assert beats.bars.tolist() == [[0, 4], [4, 3], [7, 4], [11, 4]]
    assert beats.meter == 4
    got = pop909.beat_steps([0.4, 0.5, 0.75, 3.0, 5.625, 6.125, 7.5, 7.6], beats)
    assert np.isnan(got[[0, 7]]).all()
    assert got[1:7].tolist() == [0.0, 2.0, 18.0, 30.0, 38.0, 60.0]


def test_song_notes_rolls_and_stretches_by_hand(tmp_path):
    song = pop909.read_song_notes(song_100(tmp_path))
    assert song.dropped == 2 and song.n_steps == 60
    assert song.grid_share == 1.0 and song.triplet_share == 0.0
    on, off, pitch = song.notes["PIANO"]
    assert sorted(zip(on.tolist(), off.tolist(), pitch.tolist())) == [
        (0, 4, 43), (0, 4, 60), (0, 4, 64), (36, 38, 67), (38, 40, 67)]
    report = pop909.pop909_song(os.path.join(tmp_path, "100"), 100)
    assert report.reason is None
    assert [m["id"] for _, _, m in report.pieces] == ["100/0", "100/1"]
    (r0, o0, m0), (r1, o1, m1) = report.pieces
    assert (m0["first_bar"], m0["bars"], m1["first_bar"], m1["bars"]) == (0, 1, 2, 2)
    assert m0["key"] == "D major" and m0["shift"] == -2 and m0["split"] == "test"  # 100 % 10 == 0
    assert r0.shape == (16, 128, 3) and r1.shape == (32, 128, 3)
    # melody D5 (74) -> C5 (72); piano C4 E4 -> Bb3 D4 and its bass G2 (43) -> F2 (41)
    assert np.argwhere(r0[..., 0]).tolist() == [[2, 72], [3, 72]]
    assert np.argwhere(r0[..., 1]).tolist() == [[t, p] for t in range(4) for p in (58, 62)]
    assert np.argwhere(r0[..., 2]).tolist() == [[t, 41] for t in range(4)]
    assert np.argwhere(r1[..., 0]).tolist() == [[t, 72] for t in range(2, 8)]
    # G4 struck twice: one run of 4 steps, two onsets (steps 36 and 38 of the song: 8 and 10 of the stretch)
    assert np.argwhere(r1[..., 1]).tolist() == [[t, 65] for t in range(8, 12)]
    assert np.argwhere(o1[..., 1]).tolist() == [[8, 65], [10, 65]]
    assert report.stats["irregular_bars"] == 1 and report.stats["regular_bars"] == 3
    assert report.stats["dropped_notes"] == 2 and report.stats["bridge"] is True


def test_key_change_starts_a_new_stretch(tmp_path):
    beats, down = straight_beats(16, 4)
    notes = {"MELODY": [(72, 0.0, 8.0)], "PIANO": [(60, 0.0, 8.0)]}
    folder = write_song(tmp_path, "021", beats, down, notes, keys="0.0 4.0 C:maj\n4.0 8.0 A:min")
    report = pop909.pop909_song(folder, 21)
    # bars start at 0, 2, 4 and 6 s: two bars in C major, two in A minor (both shift 0)
    assert [(m["first_bar"], m["bars"], m["key"], m["shift"]) for _, _, m in report.pieces] == [
        (0, 2, "C major", 0), (2, 2, "A minor", 0)]
    assert report.stats["key_changes"] == 1


def test_split_bass_is_the_lowest_note_below_the_split():
    piano = np.zeros((3, 128), bool)
    piano[0, [40, 45, 60]] = True   # lowest 40 is the bass; 45 stays with the piano
    piano[1, [60, 64]] = True       # nothing below G3: no bass
    piano[2, [54]] = True
    onsets = run_starts(piano)
    bass, bass_on, rest, rest_on = pop909.split_bass(piano, onsets)
    assert np.argwhere(bass).tolist() == [[0, 40], [2, 54]]
    assert np.argwhere(rest).tolist() == [[0, 45], [0, 60], [1, 60], [1, 64]]
    assert ((bass | rest) == piano).all() and not (bass & rest).any()


def test_sustain_and_restrike_measurements_by_hand():
    beats = pop909.Beats(np.arange(9) * 0.5, np.arange(9) % 4 == 0)
    inst = pretty_midi.Instrument(0, name="PIANO")
    inst.notes = [pretty_midi.Note(80, 60, 0.0, 0.5), pretty_midi.Note(80, 64, 0.0, 0.5),
                  pretty_midi.Note(80, 60, 1.0, 1.5), pretty_midi.Note(80, 67, 3.0, 3.5)]
    inst.control_changes = [pretty_midi.ControlChange(64, 127, 0.25), pretty_midi.ControlChange(64, 0, 2.0)]
    got = pop909.sustain_extension(inst, beats)
    # C4 is held by the pedal until it is struck again at 1.0 s (1 beat more), E4 until 2.0 s (3 beats),
    # the second C4 until 2.0 s (1 beat); G4 is released with the pedal up
    assert got["notes"] == 4 and got["extended"] == 3
    assert got["mean_extension_beats"] == pytest.approx(5 / 3)
    assert got["pedal_down_share"] == pytest.approx(1.75 / 4.0)
    roll = np.zeros((16, 128), bool)
    roll[0:8, 60] = True
    onsets = np.zeros_like(roll)
    onsets[[0, 4], 60] = True
    assert pop909.restrike_stats(roll, onsets) == {"onsets": 2, "bars": 1, "restruck": 1, "onsets_per_bar": 2.0}


# ---------------------------------------------------------------------------------- skips
def broken_songs(folder):
    """Songs that must be skipped, with a fragment of each reason."""
    beats, down = straight_beats(16, 4)
    notes = {"MELODY": [(72, 0.0, 1.0)], "PIANO": [(60, 0.0, 1.0)]}
    write_song(folder, "101", *straight_beats(12, 3), notes)
    thirds = [(72, b * 0.5 + k / 6, b * 0.5 + k / 6 + 0.1) for b in range(16) for k in (1, 2)]
    write_song(folder, "102", beats, down, {"MELODY": thirds, "PIANO": [(60, 0.0, 1.0)]})
    os.remove(os.path.join(write_song(folder, "103", beats, down, notes), "beat_midi.txt"))
    with open(os.path.join(write_song(folder, "104", beats, down, notes), "beat_midi.txt"), "w") as fh:
        fh.write("0.0 1.0 1.0\nhello world\n")
    write_song(folder, "105", beats, down, {"MELODY": [(72, 0.0, 1.0)]})
    write_song(folder, "106", beats[::-1], down, notes)
    with open(os.path.join(write_song(folder, "107", beats, down, notes), "107.mid"), "wb") as fh:
        fh.write(b"MThd\x00\x00\x00\x06garbage" * 10)
    open(os.path.join(write_song(folder, "108", beats, down, notes), "beat_midi.txt"), "w").close()
    with open(os.path.join(write_song(folder, "109", beats, down, notes), "key_audio.txt"), "w") as fh:
        fh.write("0 10 H:dorian\n")
    write_song(folder, "111", beats, [], notes)
    return {"101": "triple meter (3 beats per bar", "102": "triplet feel", "103": "no beat file",
            "104": "line 2 is not 3 numbers", "105": "no PIANO track", "106": "must start at 0 s or later and increase",
            "107": "MIDI", "108": "has 0 beats", "109": "unknown key 'H:dorian'", "111": "marks no downbeat"}


def test_broken_songs_are_skipped_with_their_reasons_and_the_build_goes_on(tmp_path):
    expected = broken_songs(tmp_path)
    song_100(tmp_path)
    ds = pop909.build_pop909(tmp_path, workers=1, progress=False)
    reasons = {s["id"]: s["reason"] for s in ds.skipped}
    assert set(reasons) == set(expected)
    for song, fragment in expected.items():
        assert fragment in reasons[song], (song, reasons[song])
    assert [p["id"] for p in ds.pieces] == ["100/0", "100/1"]
    report = ds.info["pop909"]
    assert report["songs"] == 11 and report["songs_kept"] == 1
    assert report["songs_skipped"]["triple meter"] == 1 and report["songs_skipped"]["triplet feel"] == 1
    # 32 melody onsets on thirds of beats, the piano's one on a beat
    assert report["per_song"]["102"]["triplet_share"] == round(32 / 33, 4)


def test_index_xlsx_marks_triple_meter_and_triplet_feel(tmp_path):
    rows = [("song_id", "name", "artist", "modify_times", "num_beats_per_measure", "num_quavers_per_beat"),
            ("100", "x", "y", "1", "2", "3")]
    cells = "".join(f'<row r="{i + 1}">' + "".join(
        f'<c r="{chr(65 + j)}{i + 1}" t="inlineStr"><is><t>{v}</t></is></c>' for j, v in enumerate(row)) + "</row>"
        for i, row in enumerate(rows))
    sheet = ('<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
             f"{cells}</sheetData></worksheet>")
    with zipfile.ZipFile(tmp_path / "index.xlsx", "w") as zf:
        zf.writestr("xl/worksheets/sheet1.xml", sheet)
    assert pop909.read_index(tmp_path / "index.xlsx") == {"100": (2, 3)}
    song_100(tmp_path)
    report = pop909.pop909_song(tmp_path / "100", 100, index_entry=(2, 3))
    assert "triplet feel" in report.reason and "index.xlsx 3 quavers per beat" in report.reason
    (tmp_path / "bad.xlsx").write_bytes(b"PK not a zip")
    with pytest.raises(DatasetError, match="not POP909's index.xlsx"):
        pop909.read_index(tmp_path / "bad.xlsx")
    assert pop909.read_index(tmp_path / "absent.xlsx") == {}


# ---------------------------------------------------------------------------------- split and layout
def test_split_rule_by_song_number_and_no_song_in_two_splits(tmp_path):
    assert [pop909.split_of_song(n) for n in (10, 15, 23, 100, 805, 1)] == [
        "test", "valid", "train", "test", "valid", "train"]
    for name in ("010", "015", "023"):
        beats, down = straight_beats(16, 4)
        write_song(tmp_path, name, beats, down, {"MELODY": [(72, 0.0, 8.0)], "PIANO": [(60, 0.0, 8.0)]},
                   keys="0.0 4.0 C:maj\n4.0 8.0 G:maj")
    ds = pop909.build_pop909(tmp_path, workers=1, progress=False)
    by_song = {}
    for p in ds.pieces:
        by_song.setdefault(p["song"], set()).add(p["split"])
    assert by_song == {"010": {"test"}, "015": {"valid"}, "023": {"train"}}
    assert len(ds.pieces) == 6  # each song changes key once: two stretches
    assert ds.info["split_rule"] == pop909.SPLIT_RULE and ds.info["split_cleaning"] is None


def test_pop_layout_is_a_preset_of_data():
    pop = LAYOUTS["pop"]
    assert pop.track_names == ("melody", "piano", "bass")
    assert [t.polyphonic for t in pop.accompaniment] == [True, False]
    assert [t.required for t in pop.tracks] == [True, True, False]
    assert get_layout(pop.to_dict()) == pop and layout_ref(pop) == "pop"
    with pytest.raises(DatasetError, match="gives the 'pop' layout"):
        pop909.build_pop909(REAL, layout="lpd5", workers=1, progress=False)
    # the generic selection (a user's file, read_piece) takes instruments by name, then family: a
    # POP909 file's BRIDGE (a piano program) joins the piano there, so the reader splits by name instead
    pm = pretty_midi.PrettyMIDI(os.path.join(REAL, "098", "098.mid"))
    assert [i.name for i in pm.instruments] == ["MELODY", "BRIDGE", "PIANO"]
    assert select_instruments(pm, "pop") == [[0], [1, 2], []]


# ---------------------------------------------------------------------------------- stored onsets
def test_dataset_stores_onsets_and_reads_files_without_them(tmp_path):
    roll = np.zeros((16, 128, 3), bool)
    roll[0:8, 60, 1] = True
    onsets = run_starts(roll)
    onsets[4, 60, 1] = True
    info = {"layout": "pop"}
    Dataset([roll], [{"split": "train"}], [], info, [onsets]).save(tmp_path / "with.npz")
    Dataset([roll], [{"split": "train"}], [], info).save(tmp_path / "without.npz")
    with zipfile.ZipFile(tmp_path / "without.npz") as zf:
        assert sorted(zf.namelist()) == ["cells.npy", "lengths.npy", "meta.npy", "offsets.npy"]
    back = Dataset.load(tmp_path / "with.npz")
    assert (back.onsets[0] == onsets).all() and (back.piece_onsets(0) == onsets).all()
    plain = Dataset.load(tmp_path / "without.npz")
    assert plain.onsets is None and (plain.piece_onsets(0) == run_starts(roll)).all()


def test_stored_onsets_outside_their_rolls_are_refused(tmp_path):
    roll = np.zeros((16, 128, 3), bool)
    path = tmp_path / "bad.npz"
    Dataset([roll], [{"split": "train"}], [], {"layout": "pop"}, [roll.copy()]).save(path)
    with np.load(path) as z:
        arrays = dict(z)
    arrays["restrikes"] = np.array([[99, 60, 1]], np.int32)
    arrays["restrike_offsets"] = np.array([0, 1], np.int64)
    np.savez_compressed(path, **arrays)
    with pytest.raises(DatasetError, match="cells outside their rolls"):
        Dataset.load(path)


# ---------------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_prepare_pop909_on_the_real_test_songs(tmp_path, capsys):
    source = tmp_path / "POP909"
    shutil.copytree(REAL, source)
    rc = main(["prepare", "--source", str(source), "--format", "pop909", "--dataset-dir", str(tmp_path / "ds"),
               "--workers", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "POP909: 3 of 5 songs kept" in out and "onsets on the 16th grid (within 0.125 steps)" in out
    assert "skipped 1: triple meter (6 beats per bar in beat_midi.txt)" in out
    assert "skipped 1: triplet feel" in out
    path = [os.path.join(tmp_path / "ds", f) for f in os.listdir(tmp_path / "ds")]
    assert len(path) == 1 and "-pop-" in path[0]
    ds = Dataset.load(path[0])
    assert ds.info["format"] == "pop909" and ds.track_layout == LAYOUTS["pop"]
    assert {p["song"] for p in ds.pieces} == {"023", "026", "098"}
    assert ds.onsets is not None and len(ds.onsets) == len(ds.rolls)
    assert sum(int((o & ~run_starts(r)).sum()) for r, o in zip(ds.rolls, ds.onsets)) > 0  # re-struck notes kept
    assert all(r.shape[0] == 16 * p["bars"] for r, p in zip(ds.rolls, ds.pieces))
    report = ds.info["pop909"]
    assert report["per_song"]["026"]["irregular_bars"] == 3 and report["bars_stored"] < report["bars_of_kept_songs"]
    assert all(p["split"] in SPLITS for p in ds.pieces)
    # the cache is reused, and the format is part of its name
    assert main(["prepare", "--source", str(source), "--format", "pop909", "--dataset-dir", str(tmp_path / "ds"),
                 "--workers", "1"]) == 0
    assert "the cached build, reused" in capsys.readouterr().out


def test_prepare_refuses_pop909_with_chorales_or_shards(tmp_path, capsys):
    with pytest.raises(DatasetError, match="--format pop909 reads a folder"):
        prepare("chorales", source_format="pop909", dataset_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="format"):
        prepare(REAL, source_format="mp3", dataset_dir=str(tmp_path))
    assert main(["prepare", "--source", REAL, "--format", "pop909", "--shards", str(tmp_path / "s")]) == 1
    assert "--format pop909 builds in memory" in capsys.readouterr().err


# ---------------------------------------------------------------------------------- training on POP909
SHIPPED = os.path.join(ROOT, "deepaccomp", "assets", "default_model")


def test_data_format_is_checked_and_left_out_of_written_configs_when_midi():
    with open(os.path.join(SHIPPED, "config.json")) as fh:
        shipped = fh.read()
    assert Config.load(os.path.join(SHIPPED, "config.json")).to_json() + "\n" == shipped
    cfg, _ = artifact.read(os.path.join(SHIPPED, artifact.FILE_NAME))  # its checksum covers the stored config
    assert cfg.data.format == "midi" and '"format"' not in cfg.to_json()
    pop = cfg.with_layout("pop").replace(data={"format": "pop909"})
    assert json.loads(pop.to_json())["data"]["format"] == "pop909"
    assert Config.from_dict(pop.to_dict()).data.format == "pop909"
    with pytest.raises(ConfigError, match=r"data.format must be one of \['midi', 'pop909'\], got 'mp3'"):
        cfg.replace(data={"format": "mp3"})
    with pytest.raises(ConfigError, match="data.format must be a string"):
        cfg.replace(data={"format": 7})
    with pytest.raises(ConfigError, match=r"data.format 'pop909' gives the 'pop' layout, not 'satb'.*--layout pop"):
        cfg.replace(data={"format": "pop909"})


def test_train_format_flag_sets_the_format_and_the_pop_layout():
    args = make_parser().parse_args(["train", "--source", REAL, "--format", "pop909"])
    cfg = build_train_config(args)
    assert (cfg.data.source, cfg.data.format, cfg.data.layout) == (REAL, "pop909", "pop")
    assert cfg.model.output_tracks == LAYOUTS["pop"].n_accompaniment
    args = make_parser().parse_args(["train", "--source", REAL, "--format", "pop909", "--layout", "satb"])
    with pytest.raises(ConfigError, match="gives the 'pop' layout"):
        build_train_config(args)


@pytest.mark.slow
def test_train_reads_a_pop909_folder_and_exports(tmp_path, capsys):
    source = tmp_path / "POP909"
    shutil.copytree(REAL, source)
    config = tmp_path / "tiny.json"
    config.write_text(tiny(iterations=2, eval_every=1, checkpoint_every=1, n_eval_melodies=1).to_json())
    run, datasets = tmp_path / "run", tmp_path / "datasets"
    assert main(["train", "--config", str(config), "--source", str(source), "--format", "pop909", "--layout",
                 "pop", "--logdir", str(run), "--dataset-dir", str(datasets), "--no-progress"]) == 0, \
        capsys.readouterr()
    built = os.listdir(datasets)
    assert len(built) == 1 and "-pop-" in built[0]  # the pop build, its cache named by the format too
    assert Dataset.load(os.path.join(datasets, built[0])).info["format"] == "pop909"
    cfg, _ = artifact.read(run / artifact.FILE_NAME)
    assert (cfg.data.format, cfg.data.layout, cfg.train.iterations) == ("pop909", "pop", 2)
    with open(run / "config.json") as fh:
        assert json.load(fh)["data"]["format"] == "pop909"


# ---------------------------------------------------------------------------------- hostile files
HOSTILE = r"""
import os, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1024 ** 3, 1024 ** 3))
from deepaccomp import pop909
ds = pop909.build_pop909(sys.argv[1], workers=1, progress=False)
for s in ds.skipped:
    print(s["id"], "|", s["reason"])
"""


@pytest.mark.slow
def test_hostile_beat_files_are_refused_bounded(tmp_path):
    beats, down = straight_beats(16, 4)
    notes = {"MELODY": [(72, 0.0, 1.0)], "PIANO": [(60, 0.0, 1.0)]}
    song_100(tmp_path)
    huge = os.path.join(write_song(tmp_path, "201", beats, down, notes), "beat_midi.txt")
    with open(huge, "wb") as fh:
        fh.truncate(4 * 1024 ** 3)  # 4 GiB (sparse): more than the process may hold
    with open(os.path.join(write_song(tmp_path, "202", beats, down, notes), "beat_midi.txt"), "w") as fh:
        fh.write("0 1 1\n" * (pop909.MAX_BEATS + 1))
    fifo = os.path.join(write_song(tmp_path, "203", beats, down, notes), "beat_midi.txt")
    os.remove(fifo)
    os.mkfifo(fifo)
    with open(os.path.join(write_song(tmp_path, "204", beats, down, notes), "beat_midi.txt"), "w") as fh:
        fh.write("0.0 1 1\n1e999 0 0\n")
    with open(os.path.join(write_song(tmp_path, "205", beats, down, notes), "beat_midi.txt"), "wb") as fh:
        fh.write(b"\xff\xfe\x00garbage")
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, "-c", HOSTILE, str(tmp_path)], capture_output=True, text=True,
                         timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    reasons = dict(line.split(" | ", 1) for line in out.stdout.splitlines())
    assert "larger than 524,288 bytes" in reasons["201"]
    assert f"more than {pop909.MAX_BEATS:,}" in reasons["202"]
    assert "not a regular file" in reasons["203"]
    assert "line 2 is not 3 numbers" in reasons["204"]
    assert "not text" in reasons["205"]
    assert set(reasons) == {"201", "202", "203", "204", "205"}


def test_restrike_gaps_is_left_out_of_written_configs_when_false_and_the_pop_preset_sets_it():
    default = preset("default").replace(data={"restrike_gaps": False})  # the default preset sets it since issue 35
    assert not default.data.restrike_gaps and "restrike_gaps" not in default.to_json()
    assert preset("deepcomposer").to_dict()["data"].get("restrike_gaps") is None
    pop = preset("pop")
    assert pop.data.restrike_gaps and json.loads(pop.to_json())["data"]["restrike_gaps"] is True
    assert (pop.data.layout, pop.data.format, pop.data.phrase_bars, pop.model.output_tracks) == ("pop", "pop909", 4, 2)
    assert Config.from_dict(pop.to_dict()).data.restrike_gaps is True
    with pytest.raises(ConfigError, match="data.restrike_gaps must be true or false"):
        default.replace(data={"restrike_gaps": 1})


@pytest.mark.slow
def test_phrases_with_restrike_gaps_part_the_stored_restrikes(tmp_path):
    ds, _ = prepare(REAL, source_format="pop909", dataset_dir=str(tmp_path))
    plain = ds.phrases("train", phrase_bars=1)
    gapped = ds.phrases("train", phrase_bars=1, restrike_gaps=True)
    assert plain.shape == gapped.shape and not (gapped & ~plain).any()  # only cells cleared
    restruck = sum(int((ds.piece_onsets(i) & ~run_starts(r)).sum()) for i, r in enumerate(ds.rolls)
                   if i in set(ds.indices("train")))
    assert restruck > 0
    assert 0 < int((plain & ~gapped).sum()) <= restruck  # at most one cleared step per re-struck note
    notes = lambda phrases: sum(int(run_starts(p).sum()) for p in phrases)  # noqa: E731
    assert notes(gapped) > notes(plain)
