"""Dataset building (music21 chorales, user folders), caching and the tf.data pipeline."""

import subprocess
import sys

import numpy as np
import pytest

from helpers import make_midi
from deepaccomp import data, metrics
from deepaccomp.errors import DatasetError


@pytest.fixture(scope="module")
def small():
    return data.build_chorales(limit=12, workers=1, progress=False)


def test_split_rule():
    assert [data.split_of(i) for i in (0, 5, 10, 15, 1, 9)] == [
        "test", "valid", "test", "valid", "train", "train"]


def test_small_chorale_build(small):
    assert len(small.rolls) + len(small.skipped) == 12
    for roll, meta in zip(small.rolls, small.pieces):
        assert roll.shape[1:] == (128, 4) and roll.shape[0] % 16 == 0 and roll.dtype == bool
        assert meta["split"] == data.split_of(meta["position"])
        assert -6 <= meta["shift"] <= 5
        key = metrics.estimate_key(roll[..., :1])  # normalised by the melody's own key
        assert (key.tonic, key.mode) in {(0, "major"), (9, "minor")}, meta
        assert roll[..., 0].any() and roll[..., 3].any()
    # chorale 0 (BWV 269) is in 3/4: skipped with the reason
    assert any("3/4" in s["reason"] for s in small.skipped)
    assert small.info["reference_metrics"]["polyphony"] == pytest.approx([1.0] * 4, abs=0.05)


def test_phrases_and_save_load(small, tmp_path):
    ph = small.phrases("train", window="compact", phrase_bars=2, hop_bars=1)
    assert ph.shape[1:] == (32, 64, 4) and len(ph) > 10
    assert ph[..., 0].any(axis=(1, 2)).all()
    path = tmp_path / "ds.npz"
    small.save(path)
    back = data.Dataset.load(path)
    assert back.pieces == small.pieces
    assert all((a == b).all() for a, b in zip(back.rolls, small.rolls))
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DatasetError):
        data.Dataset.load(tmp_path / "junk.npz")


def test_prepare_reuses_cache_and_changed_settings_rebuild(tmp_path, monkeypatch):
    calls = []
    real = data.build_chorales

    def fake_build(**kw):
        calls.append(kw)
        return real(limit=3, workers=1, progress=False, key_normalize=kw["key_normalize"])

    monkeypatch.setattr(data, "build_chorales", fake_build)
    _, p1 = data.prepare(dataset_dir=str(tmp_path), progress=False)
    _, p2 = data.prepare(dataset_dir=str(tmp_path), progress=False)
    _, p3 = data.prepare(dataset_dir=str(tmp_path), progress=False, key_normalize=False)
    assert p1 == p2 != p3 and len(calls) == 2


def test_user_folder_skips_bad_files(tmp_path):
    satb = [(name, 52, [(p + (i % 3), i, i + 1) for i in range(32)])
            for name, p in (("Soprano", 72), ("Alto", 65), ("Tenor", 57), ("Bass", 45))]
    for i in range(3):
        make_midi(satb).write(str(tmp_path / f"good{i}.mid"))
    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    make_midi(satb[:2]).write(str(tmp_path / "two_parts.mid"))
    make_midi(satb, time_signatures=((3, 4, 0.0),)).write(str(tmp_path / "waltz.mid"))
    ds = data.build_folder(tmp_path, workers=1, progress=False)
    assert len(ds.rolls) == 3
    reasons = {s["id"].rsplit("/", 1)[-1]: s["reason"] for s in ds.skipped}
    assert set(reasons) == {"broken.mid", "two_parts.mid", "waltz.mid"}
    assert "4/4" in reasons["waltz.mid"] and "pitched tracks" in reasons["two_parts.mid"]
    # SATB by name: the soprano track holds the highest notes
    assert ds.rolls[0][..., 0].any() and ds.rolls[0][..., 3].any()
    with pytest.raises(DatasetError):
        data.build_folder(tmp_path / "nothing-here", progress=False)


def test_a_folder_piece_is_read_piece_of_every_track_padded_to_bars(tmp_path):
    import pretty_midi

    from deepaccomp.piece import read_piece

    pm = make_midi([("melody", 0, [(72, 0, 2), (74, 2, 4)]), ("bass", 33, [(36, 0, 4)])])
    drums = pretty_midi.Instrument(0, is_drum=True, name="drums")
    drums.notes = [pretty_midi.Note(100, 36, 0.0, 0.1), pretty_midi.Note(100, 38, 0.5, 1.5)]
    pm.instruments.append(drums)
    path = tmp_path / "band.mid"
    pm.write(str(path))
    piece = data.folder_piece(str(path), layout="lpd5")
    read = read_piece(str(path), "lpd5", tracks="all", align=False)
    assert piece.layout.name == "lpd5" and piece.n_steps % 16 == 0
    assert np.array_equal(piece.roll[: read.n_steps], read.roll) and not piece.roll[read.n_steps:].any()
    hits = np.argwhere(read.roll[..., 1])  # drums: one-step hits, however long the file holds them
    assert [tuple(h) for h in hits] == [(0, 36), (4, 38)]
    stored = data.build_folder(tmp_path, layout="lpd5", workers=1, progress=False, key_normalize=False)
    assert np.array_equal(stored.rolls[0], piece.roll)
    assert np.array_equal(data.folder_piece_roll(str(path), layout="lpd5"), piece.roll)


def test_tf_pipeline_shapes_and_range(small):
    ph = small.phrases("train")
    ds = data.make_tf_dataset(ph, 8, seed=1)
    melody, accomp = next(iter(ds))
    assert melody.shape == (8, 32, 64, 1) and accomp.shape == (8, 32, 64, 3)
    assert set(np.unique(melody.numpy())) <= {-1.0, 1.0}
    only = next(iter(data.make_tf_dataset(ph, 4, melody_only=True, shuffle=False)))
    assert only.shape == (4, 32, 64, 1)
    with pytest.raises(DatasetError):
        data.make_tf_dataset(ph[:0], 4)



def test_tf_pipeline_skip_batches_resumes_the_same_stream(small):
    import tensorflow as tf

    ph = small.phrases("train")
    tf.random.set_seed(0)
    full = [m.numpy() for m, _ in data.make_tf_dataset(ph, 8, seed=3).take(5)]
    tf.random.set_seed(0)
    rest = [m.numpy() for m, _ in data.make_tf_dataset(ph, 8, seed=3, skip_batches=2).take(3)]
    assert all(np.array_equal(a, b) for a, b in zip(full[2:], rest))
    assert not np.array_equal(full[0], rest[0])


def _stacked_phrases():
    """Ten 2-step phrases of 16 pitches: melody at pitch 4 + i % 8, track k a semitone above track k - 1."""
    ph = np.zeros((10, 2, 16, 4), dtype=bool)
    for i in range(10):
        for k in range(4):
            ph[i, :, 4 + i % 8 + k, k] = True
    return ph


def test_transposed_phrases_move_every_track_together_within_the_range():
    ph = _stacked_phrases()
    plain = [m.numpy() > 0 for m, _ in data.make_tf_dataset(ph, 5, shuffle=False, transpose_range=0).take(2)]
    seen = set()
    for b, (melody, accomp) in enumerate(data.make_tf_dataset(ph, 5, shuffle=False, seed=7,
                                                               transpose_range=2).take(6)):
        full = np.concatenate([melody.numpy(), accomp.numpy()], axis=-1) > 0
        for j in range(5):
            i = (b * 5 + j) % 10
            (pitch,) = np.nonzero(full[j, 0, :, 0])
            shift = int(pitch[0]) - (4 + i % 8)
            assert -2 <= shift <= 2
            source = np.arange(16) - shift  # where each pitch of the output comes from
            inside = (source >= 0) & (source < 16)
            expected = np.zeros_like(ph[i])
            expected[:, inside] = ph[i][:, source[inside]]
            np.testing.assert_array_equal(full[j], expected)
            seen.add(shift)
    assert seen == {-2, -1, 0, 1, 2}  # 30 draws
    assert np.array_equal(plain[0][..., 0], ph[:5, ..., 0])  # off: unchanged


def test_transposed_stream_resumes_the_same_phrases_and_drops_what_leaves_the_window():
    ph = _stacked_phrases()
    full = [m.numpy() for m, _ in data.make_tf_dataset(ph, 5, seed=3, transpose_range=3).take(5)]
    rest = [m.numpy() for m, _ in data.make_tf_dataset(ph, 5, seed=3, transpose_range=3, skip_batches=2).take(3)]
    assert all(np.array_equal(a, b) for a, b in zip(full[2:], rest))
    top = np.zeros((2, 2, 16, 4), dtype=bool)
    top[:, :, 15, :] = True  # every track on the window's highest pitch
    silent = 0
    for melody, accomp in data.make_tf_dataset(top, 2, shuffle=False, seed=0, transpose_range=12).take(8):
        notes = np.concatenate([melody.numpy(), accomp.numpy()], axis=-1) > 0
        for example in notes:
            silent += not example.any()  # moved up: dropped, never wrapped round to the bottom
            assert example.sum() in (0, 2 * 4)
    assert silent > 0


def test_real_chorales_round_trip_through_midi(small):
    import io

    from deepaccomp.midi import multitrack_midi_to_roll, roll_to_midi

    for roll in small.rolls[:4]:
        pm = roll_to_midi(roll, tempo=80)
        buf = io.BytesIO()
        pm.write(buf)
        back, _ = multitrack_midi_to_roll(buf.getvalue())
        n = back.shape[0]
        assert (back == roll[:n]).all() and not roll[n:].any()


# ------------------------------------------------------------------ held-out split
TUNE = [67, 67, 69, 71, 72, 71, 69, 67, 69, 71, 67, 64, 65, 67]
OTHER = [60, 62, 64, 60, 64, 65, 67, 64, 62, 60, 59, 60, 57, 55]


def test_tune_similarity_on_hand_made_melodies():
    transposed = [p - 5 for p in TUNE]
    assert data.tune_similarity(TUNE, [transposed])[0] == pytest.approx(1.0)
    # contained in a longer piece: all of TUNE is found; the other way round only part
    longer = OTHER + [p + 3 for p in TUNE]
    assert data.tune_similarity(TUNE, [longer])[0] == pytest.approx(1.0)
    assert data.tune_similarity(longer, [TUNE])[0] < 0.5
    # one changed note costs its two intervals: (13 - 2 - 2) / 13
    variant = TUNE[:6] + [74] + TUNE[7:]
    assert data.tune_similarity(TUNE, [variant])[0] == pytest.approx(9 / 13)
    different = data.tune_similarity(TUNE, [OTHER, OTHER[::-1]])
    assert different.shape == (2,) and np.all(different < data.TUNE_MATCH_THRESHOLD)
    assert np.isnan(data.tune_similarity([60], [TUNE])[0])


def test_melody_line_samples_beats_and_merges_repeats():
    r = np.zeros((32, 128, 4), dtype=bool)
    r[0:8, 60, 0] = True      # half note C: one entry
    r[8:10, 62, 0] = True     # eighth D on beat 3, passing eighth E after it: E dropped
    r[10:12, 64, 0] = True
    r[12:16, 65, 0] = True
    r[20:32, 67, 0] = True    # beat 5 silent, then G
    r[0:32, 48, 1] = True     # other voices do not count
    np.testing.assert_array_equal(data.melody_line(r), [60, 62, 65, 67])


def test_clean_splits_excludes_test_tunes_and_moves_valid():
    def piece(tune, shift=0):
        r = np.zeros((len(tune) * 4, 128, 4), dtype=bool)
        for i, p in enumerate(tune):
            r[i * 4:(i + 1) * 4, p + shift, 0] = True
        return r

    rolls = [piece(TUNE), piece(TUNE, -2), piece(OTHER), piece(OTHER, 5), piece(TUNE)]
    pieces = [{"id": f"p{i}", "split": s} for i, s in enumerate(["test", "train", "train", "valid", "valid"])]
    report = data.clean_splits(rolls, pieces)
    assert [p["split"] for p in pieces] == ["test", "excluded", "train", "train", "excluded"]
    assert pieces[1]["same_tune_as"] == "p0" and pieces[1]["match"] == "tune"
    assert pieces[4]["match"] == "duplicate" and pieces[4]["original_split"] == "valid"
    assert pieces[3]["same_tune_as"] == "p2" and pieces[3]["original_split"] == "valid"
    assert report["excluded"] == 2 and report["moved_valid_to_train"] == 1
    assert report["splits_before"] == {"train": 2, "valid": 2, "test": 1}
    ds = data.Dataset(rolls, pieces)
    assert ds.indices("train") == [2, 3] and ds.indices("valid") == [] and ds.indices("test") == [0]
    assert report["repeats_excluded"] == 0


def test_clean_splits_keeps_one_copy_of_a_repeated_harmonisation():
    def piece(tune, bass=48):
        r = np.zeros((len(tune) * 4, 128, 4), dtype=bool)
        for i, p in enumerate(tune):
            r[i * 4:(i + 1) * 4, p, 0] = True
        r[:, bass, 3] = True
        return r

    # p1 repeats p0 exactly; p2 has p0's tune with another bass (a second harmonisation: kept);
    # p4 repeats the valid piece p3; the test piece p5 shares no tune with any of them
    far = [60, 61, 63, 66, 70, 75, 69, 62, 56, 59, 65, 72, 64, 57]
    rolls = [piece(TUNE), piece(TUNE), piece(TUNE, bass=43), piece(OTHER), piece(OTHER), piece(far)]
    pieces = [{"id": f"p{i}", "split": s} for i, s in enumerate(["train", "train", "train", "valid", "valid", "test"])]
    report = data.clean_splits(rolls, pieces)
    assert [p["split"] for p in pieces] == ["train", "excluded", "train", "valid", "excluded", "test"]
    assert pieces[1]["same_tune_as"] == "p0" and pieces[1]["match"] == "duplicate"
    assert pieces[1]["original_split"] == "train"
    assert pieces[4]["same_tune_as"] == "p3" and pieces[4]["original_split"] == "valid"
    assert report["repeats_excluded"] == 2 and report["excluded"] == 0


def _note_line(roll):
    """Every melody note in order (the issue's measure; independent of melody_line)."""
    from deepaccomp.representation import note_runs

    p, s, _ = note_runs(roll[..., 0])
    order = np.lexsort((-p, s))
    p, s = p[order], s[order]
    return p[np.r_[True, s[1:] != s[:-1]]]


def _eight_grams(line):
    iv = np.diff(line)
    return {tuple(iv[i:i + 8]) for i in range(len(iv) - 7)}


@pytest.mark.slow
def test_no_test_tune_in_train_or_valid_on_the_chorales():
    ds, _ = data.prepare("chorales", progress=False)
    grams = [_eight_grams(_note_line(r)) for r in ds.rolls]
    test, seen = ds.indices("test"), ds.indices("train") + ds.indices("valid")
    assert len(test) == 35 and all(ds.pieces[i]["position"] % 10 == 0 for i in test)
    for t in test:
        for j in seen:
            assert not np.array_equal(ds.rolls[t][..., 0], ds.rolls[j][..., 0]), \
                (ds.pieces[t]["id"], ds.pieces[j]["id"])
            # share of the test tune's 8-interval n-grams (every note) found in one piece
            share = len(grams[t] & grams[j]) / max(1, len(grams[t]))
            assert share < 0.5, (ds.pieces[t]["id"], ds.pieces[j]["id"], share)
    excluded = [p for p in ds.pieces if p["split"] == "excluded"]
    assert excluded and all(p["same_tune_as"] for p in excluded)
    cleaning = ds.info["split_cleaning"]
    assert cleaning["excluded"] + cleaning["repeats_excluded"] == len(excluded)
    assert sum(ds.info["splits"].values()) + len(excluded) == len(ds.pieces)
    # no harmonisation twice in a split (the corpus lists some chorales twice)
    for split in ("train", "valid", "test"):
        cells = [(ds.rolls[i].shape, ds.rolls[i].tobytes()) for i in ds.indices(split)]
        assert len(set(cells)) == len(cells), split


@pytest.mark.slow
def test_bach_agrees_with_his_second_harmonisations_about_two_thirds():
    from deepaccomp.evaluation import evaluate_second_harmonisation

    ds, _ = data.prepare("chorales", progress=False)
    r = evaluate_second_harmonisation(ds)
    # docs/metrics.md: 18 pairs, 0.666 / 0.680 / 0.671; far above random in-key notes (about 0.31)
    assert r["n_pairs"] == 18, r["pairs"]
    np.testing.assert_allclose(r["harmonic_agreement"], [0.666, 0.680, 0.671], atol=0.001)


@pytest.mark.slow
def test_parallel_build_from_a_script_without_a_file(tmp_path):
    # "spawn" workers re-import the parent's main script; a program piped to `python -`
    # has none, so the build must fall back to one process instead of a BrokenProcessPool
    program = ("from deepaccomp import data\n"
               "two = data.build_chorales(limit=3, workers=2, progress=False)\n"
               "one = data.build_chorales(limit=3, workers=1, progress=False)\n"
               "print([p['id'] for p in two.pieces] == [p['id'] for p in one.pieces], len(two.pieces))\n")
    out = subprocess.run([sys.executable, "-"], input=program, capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True 2"  # the build skips one of the first three


# ------------------------------------------------------------------ scores in other meters
def _three_four_score():
    """Four named parts in 3/4: a one-beat pickup (C5 / E4 / G3 / C3), then a dotted half (D5 / F4 / B3 / G2)."""
    from music21 import meter as m21meter
    from music21 import note, stream

    score = stream.Score()
    for name, (up, down) in {"Soprano": ("C5", "D5"), "Alto": ("E4", "F4"),
                             "Tenor": ("G3", "B3"), "Bass": ("C3", "G2")}.items():
        part = stream.Part()
        part.partName = name
        pickup = stream.Measure(number=0)
        pickup.append(m21meter.TimeSignature("3/4"))
        pickup.append(note.Note(up, quarterLength=1.0))
        pickup.paddingLeft = 2.0
        full = stream.Measure(number=1)
        full.append(note.Note(down, quarterLength=3.0))
        part.append([pickup, full])
        score.insert(0, part)
    return score


def test_score_to_roll_reads_three_four_with_its_pickup_on_the_bar_grid():
    roll, reason = data.score_to_roll(_three_four_score(), "3/4")
    assert reason is None and roll.shape == (24, 128, 4)  # the padded pickup bar + one bar, 12 steps each
    assert {(int(t), int(p), int(k)) for t, p, k in zip(*np.nonzero(roll[[8, 12, 23]]))} == {
        (0, 72, 0), (0, 64, 1), (0, 55, 2), (0, 48, 3),          # step 8: the pickup, beat 3 of bar 0
        (1, 74, 0), (1, 65, 1), (1, 59, 2), (1, 43, 3),          # step 12: the downbeat
        (2, 74, 0), (2, 65, 1), (2, 59, 2), (2, 43, 3)}          # step 23: still held
    assert not roll[:8].any()


def test_score_to_roll_keeps_the_dataset_to_four_four():
    assert data.score_to_roll(_three_four_score()) == (None, "time signature ['3/4'] is not 4/4")
    with pytest.raises(DatasetError, match="meter '6/8'"):
        data.score_to_roll(_three_four_score(), "6/8")
