"""Track layouts: selection rules, merging, drums, skip reasons, summaries, decoding and the band pipeline."""

import tempfile

import numpy as np
import pretty_midi
import pytest

from deepaccomp import DeepAccompError
from deepaccomp.config import Config, preset
from deepaccomp.data import build_folder, folder_piece_roll, track_summary
from deepaccomp.decoding import decode, decode_hits
from deepaccomp.errors import ConfigError, NoMelodyError, UnsupportedMeterError
from deepaccomp.layout import LAYOUTS, Layout, family_of, get_layout, select_instruments
from deepaccomp.metrics import drum_pattern_rate, evaluate
from helpers import HAT, KICK, SNARE, band_midi, write_band



# ---------------------------------------------------------------------- layouts and selection
def test_presets_and_their_tracks():
    assert get_layout("satb").track_names == ("soprano", "alto", "tenor", "bass")
    lpd5 = get_layout("lpd5")
    assert lpd5.accompaniment_names == ("drums", "piano", "guitar", "bass", "strings")
    assert lpd5.drum_mask.tolist() == [False, True, False, False, False, False]
    assert [t.polyphonic for t in lpd5.accompaniment] == [False, True, True, False, True]
    assert get_layout("ssatb").n_accompaniment == 4
    assert set(LAYOUTS) == {"satb", "lpd5", "ssatb", "pop"}
    assert family_of(0) == "piano" and family_of(33) == "bass" and family_of(127) == "sound_effects"
    with pytest.raises(ConfigError, match="unknown layout 'polka'"):
        get_layout("polka")


def test_band_selection_by_drums_name_and_family_merges_one_family():
    pm = band_midi()
    # file order: melody, kit, keys 1 (piano), organ, rhythm (guitar), bass, strings
    assert select_instruments(pm, "lpd5") == [[0], [1], [2, 3], [4], [5], [6]]
    # a name beats a family: an organ called "bass synth" goes to the bass
    pm.instruments[3].name = "bass synth"
    assert select_instruments(pm, "lpd5")[4] == [3, 5]


def test_voice_selection_by_name_else_by_mean_pitch():
    pm = band_midi(parts=("bass", "melody", "strings", "guitar", "piano"))
    names = ["Bassus", "Cantus", "Tenor", "Quintus", "Altus"]
    for inst, name in zip(pm.instruments, names):
        inst.name = name
    assert select_instruments(pm, "ssatb") == [[1], [3], [4], [2], [0]]
    pm.instruments[3].name = "Tenor 2"  # two tenors: not every track named -> busiest five by mean pitch
    order = select_instruments(pm, "ssatb")
    means = [np.mean([n.pitch for n in pm.instruments[g[0]].notes]) for g in order]
    assert means == sorted(means, reverse=True)
    with pytest.raises(NoMelodyError, match="needs 5"):
        select_instruments(band_midi(parts=("melody", "bass")), "ssatb")


# ---------------------------------------------------------------------- one file -> one roll
def test_folder_piece_roll_lpd5_merges_and_keeps_drums_as_hits(tmp_path):
    path = tmp_path / "band.mid"
    band_midi(bars=2).write(str(path))
    roll = folder_piece_roll(str(path), layout="lpd5")
    assert roll.shape == (32, 128, 6)
    drums = roll[..., 1]
    assert np.nonzero(drums[:, KICK])[0].tolist() == [0, 8, 16, 24]  # one step per hit, beats 1 and 3
    assert np.nonzero(drums[:, HAT])[0].tolist() == list(range(0, 32, 2))  # eighths, each one step
    piano = roll[..., 2]
    assert piano[0, [60, 64, 67, 72]].all()  # the piano triad and the organ's root merged
    assert piano[:8].sum(axis=1).tolist() == [4] * 8
    assert np.nonzero(roll[2, :, 3])[0].tolist() == [60, 67]  # guitar offbeat chord
    assert roll[..., 4].sum(axis=1).max() == 1  # bass: one note per step


def test_default_layout_is_satb_and_keyword_only(tmp_path):
    pm = band_midi(parts=("melody", "piano", "guitar", "bass"))
    path = tmp_path / "four.mid"
    pm.write(str(path))
    assert np.array_equal(folder_piece_roll(str(path)), folder_piece_roll(str(path), layout="satb"))
    with pytest.raises(TypeError):
        folder_piece_roll(str(path), "satb")


def test_half_note_meter_is_converted_and_others_refused(tmp_path):
    # a 4/2 bar of four half notes becomes one 4/4 bar: note values halved
    pm = band_midi(bars=2, meter=(4, 2))
    path = tmp_path / "alla_breve.mid"
    pm.write(str(path))
    roll = folder_piece_roll(str(path), layout="lpd5")
    assert roll.shape[0] == 16  # 8 quarter beats of 4/2 = one 16-step bar
    assert np.nonzero(roll[:, KICK, 1])[0].tolist() == [0, 4, 8, 12]
    path3 = tmp_path / "waltz.mid"
    band_midi(meter=(3, 4)).write(str(path3))
    with pytest.raises(UnsupportedMeterError, match="3, 4"):
        folder_piece_roll(str(path3), layout="lpd5")


def test_missing_track_is_named_in_the_reason_unless_it_is_optional(tmp_path):
    path = tmp_path / "no_guitar.mid"
    band_midi(parts=("melody", "drums", "piano", "bass", "strings")).write(str(path))
    roll = folder_piece_roll(str(path), layout="lpd5")  # lpd5's accompaniment is optional: kept, guitar empty
    assert roll.shape[-1] == 6 and not roll[..., 3].any() and roll[..., 2].any() and roll[..., 1].any()
    strict = get_layout("lpd5").to_dict()
    strict["name"], strict["tracks"][3]["required"] = "strict", True
    with pytest.raises(NoMelodyError, match="no instrument for track 'guitar' of layout 'strict'"):
        folder_piece_roll(str(path), layout=strict)
    band_midi(parts=("drums", "piano")).write(str(path))
    with pytest.raises(NoMelodyError, match="no instrument for track 'melody' of layout 'lpd5'"):
        folder_piece_roll(str(path), layout="lpd5")


def test_build_folder_skips_with_reasons_and_summarises_tracks(tmp_path):
    folder = write_band(tmp_path / "band", 4, bars=2)
    band_midi(parts=("melody", "drums", "piano", "bass", "strings")).write(str(folder / "x_no_guitar.mid"))
    band_midi(parts=("drums", "piano", "bass")).write(str(folder / "x_no_melody.mid"))
    band_midi(meter=(3, 4)).write(str(folder / "y_waltz.mid"))
    ds = build_folder(folder, layout="lpd5", workers=1, progress=False)
    assert ds.layout == "lpd5" and ds.n_tracks == 6 and len(ds.rolls) == 5
    reasons = {s["id"].rsplit("/", 1)[-1]: s["reason"] for s in ds.skipped}
    assert set(reasons) == {"x_no_melody.mid", "y_waltz.mid"}
    assert "track 'melody'" in reasons["x_no_melody.mid"] and "time signatures" in reasons["y_waltz.mid"]
    summary = ds.info["track_summary"]
    assert summary["drums"] == {"pieces": 5, "bars": 12} and summary["guitar"] == {"pieces": 4, "bars": 8}
    assert ds.info["tracks"] == ["melody", "drums", "piano", "guitar", "bass", "strings"]
    # the drums are never transposed by the key normalisation
    assert all(r[:, KICK, 1].any() and r[:, SNARE, 1].any() for r in ds.rolls)
    assert "drum_pattern_rate" in ds.info["reference_metrics"]
    path = tmp_path / "ds.npz"
    ds.save(path)
    back = type(ds).load(path)
    assert back.rolls[0].shape[-1] == 6 and np.array_equal(back.rolls[0], ds.rolls[0])
    assert back.phrases("train").shape[-1] == 6
    quick = build_folder(folder, layout="lpd5", workers=1, progress=False, clean_tunes=False)
    assert quick.info["split_cleaning"] is None and [len(r) for r in quick.rolls] == [len(r) for r in ds.rolls]


def test_track_summary_counts_by_hand():
    a = np.zeros((32, 128, 3), bool)
    a[3, 60, 0] = a[20, 60, 0] = a[17, 40, 2] = True
    b = np.zeros((16, 128, 3), bool)
    b[0, 50, 0] = True
    satb = get_layout("satb")
    three = Layout("three", satb.melody, satb.accompaniment[:2], voices=True)
    assert track_summary([a, b], three) == {
        "soprano": {"pieces": 2, "bars": 3}, "alto": {"pieces": 0, "bars": 0}, "tenor": {"pieces": 1, "bars": 1}}


# ---------------------------------------------------------------------- metrics and decoding
def test_drum_pattern_rate_by_hand():
    r = np.zeros((16, 4, 2), bool)
    r[[0, 2, 3, 5], 1, 0] = True     # onsets at 0, 2, 5 (3 continues 2): 2 of 3 on the 8th grid
    r[[1, 7], 2, 1] = True            # both off the grid
    assert np.allclose(drum_pattern_rate(r), [2 / 3, 0.0])
    assert np.isnan(drum_pattern_rate(np.zeros((16, 4, 1), bool)))[0]
    out = evaluate(np.concatenate([r[..., :1], r], -1), drum_tracks=[2])
    assert np.isnan(out["drum_pattern_rate"][:2]).all() and out["drum_pattern_rate"][2] == 0.0


def test_decoding_by_track_kind():
    lpd5 = get_layout("lpd5")
    values = -np.ones((1, 4, 8, 5))
    values[0, :3, 2, 0] = 0.9        # drums: one run of three steps -> one hit
    values[0, 1, [1, 5], 1] = 0.5    # piano: a two-note chord
    values[0, 1, [1, 5], 3] = [0.2, 0.6]  # bass: only the better note
    cfg = preset("default")
    out = decode(values, cfg.generation, np.ones((1, 4, 8, 1), bool), lpd5)[0]
    assert np.nonzero(out[..., 0])[0].tolist() == [0]
    assert out[1, [1, 5], 1].all() and out[..., 1].sum() == 2
    assert out[1, 5, 3] and out[1, :, 3].sum() == 1
    assert decode_hits(values[..., :1])[0, :, 2, 0].tolist() == [True, False, False, False]


# ---------------------------------------------------------------------- config and programs
def test_config_layout_sizes_the_generator_and_is_validated():
    cfg = preset("default")
    assert cfg.data.layout == "satb" and cfg.model.output_tracks == 3
    band = cfg.with_layout("lpd5")
    assert band.model.output_tracks == 5 and band.generator_weight_shapes()[-1] == (5,)
    assert preset("deepcomposer").with_layout("ssatb").model.output_tracks == 5  # melody regenerated too
    with pytest.raises(ConfigError, match="data.layout"):
        cfg.replace(data={"layout": "polka"})
    with pytest.raises(ConfigError, match="output_tracks must be 5"):
        cfg.replace(data={"layout": "lpd5"})
    old = cfg.to_dict()
    del old["data"]["layout"]
    assert Config.from_dict(old).data.layout == "satb"


def test_programs_per_track():
    lpd5, satb, ssatb = get_layout("lpd5"), get_layout("satb"), get_layout("ssatb")
    assert lpd5.resolve_programs(None) == [0, 0, 25, 33, 48]
    assert lpd5.resolve_programs([0, 1, 2, 3, 4]) == [0, 1, 2, 3, 4]
    assert satb.resolve_programs(None) == [52, 52, 52] and satb.resolve_programs("strings") == [41, 42, 43]
    assert ssatb.resolve_programs("strings") == [41, 42, 42, 43]
    with pytest.raises(ConfigError, match="3 programs given for 5 tracks"):
        lpd5.resolve_programs([1, 2, 3])
    with pytest.raises(ConfigError, match="one program per track"):
        lpd5.resolve_programs("choir")
    with pytest.raises(DeepAccompError, match="unknown instrument preset"):
        lpd5.resolve_programs("kazoo")


# ---------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_band_corpus_prepare_train_generate_through_the_cli(tmp_path, capsys):
    import json

    from helpers import TINY_RUN

    from deepaccomp.cli import main

    folder = write_band(tmp_path / "band", 24, bars=4)
    datasets, run = tmp_path / "datasets", tmp_path / "run"
    assert main(["prepare", "--source", str(folder), "--layout", "lpd5", "--dataset-dir", str(datasets),
                 "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "track drums: 24 pieces, 96 bars" in out and "track guitar: 24 pieces" in out
    config = tmp_path / "tiny.json"
    cfg = preset("default").replace(**{k: dict(v) for k, v in TINY_RUN.items()})
    config.write_text(json.dumps(dict(cfg.to_dict(), data=dict(cfg.to_dict()["data"], source=str(folder)))))
    assert main(["train", "--config", str(config), "--layout", "lpd5", "--logdir", str(run),
                 "--dataset-dir", str(datasets), "--no-progress"]) == 0
    sample = pretty_midi.PrettyMIDI(str(sorted((run / "samples").glob("iter_*.mid"))[-1]))
    assert [i.name for i in sample.instruments][1] == "drums" and sample.instruments[1].is_drum
    melody = tmp_path / "melody.mid"
    pm = band_midi(99, parts=("melody",))
    pm.write(str(melody))
    result = tmp_path / "out.mid"
    assert main(["generate", str(melody), "-o", str(result), "--model", str(run / "generator.npz"),
                 "--seed", "0"]) == 0
    assert "drums, piano, guitar, bass, strings" in capsys.readouterr().out
    back = pretty_midi.PrettyMIDI(str(result))
    assert [i.name for i in back.instruments] == ["melody", "drums", "piano", "guitar", "bass", "strings"]
    assert [i.is_drum for i in back.instruments] == [False, True, False, False, False, False]
    assert [i.program for i in back.instruments[2:]] == [0, 25, 33, 48]
    assert main(["generate", str(melody), "-o", str(tmp_path / "bad.mid"), "--model",
                 str(run / "generator.npz"), "--programs", "40,41,42"]) == 1
    assert "3 programs given for 5 tracks" in capsys.readouterr().err


# ---------------------------------------------------------------------- generation with a band model
@pytest.fixture(scope="module")
def band_model(tmp_path_factory):
    """A tiny untrained lpd5 generator exported with :func:`deepaccomp.artifact.save`."""
    import keras
    from helpers import TINY_MODEL

    from deepaccomp import artifact
    from deepaccomp.models import build_generator

    keras.utils.set_random_seed(0)
    cfg = preset("default").with_layout("lpd5").replace(model=TINY_MODEL, data={"phrase_bars": 1})
    path = tmp_path_factory.mktemp("band_model") / "generator.npz"
    artifact.save(build_generator(cfg), cfg, path)
    return path


def test_band_model_writes_every_track_and_drums_on_channel_10(band_model, tmp_path):
    from deepaccomp import Accompanist

    acc = Accompanist.load(band_model)
    assert acc.layout.name == "lpd5" and acc.config.model.output_tracks == 5
    song = acc.generate(band_midi(3, parts=("melody",)), seed=0, programs=[1, 2, 26, 34, 49])
    assert [i.name for i in song.instruments] == ["melody", "drums", "piano", "guitar", "bass", "strings"]
    drums = song.instruments[1]
    assert drums.is_drum and [i.is_drum for i in song.instruments].count(True) == 1
    assert [i.program for i in song.instruments[2:]] == [2, 26, 34, 49]
    step = 0.125  # a 16th at 120 bpm
    assert drums.notes and all(abs((n.end - n.start) - step) < 1e-6 for n in drums.notes)
    assert max(len({n.pitch for n in song.instruments[4].notes if n.start <= t < n.end})
               for t in np.arange(0, 8, step / 2)) <= 1  # the bass: one note at a time
    with pytest.raises(ConfigError, match="4 programs given for 5 tracks"):
        acc.generate(band_midi(3, parts=("melody",)), programs=[1, 2, 3, 4])


def test_drums_are_not_moved_back_by_the_melody_shift():
    from deepaccomp.generation import from_model_space
    from deepaccomp.piece import Piece

    cfg = preset("default").with_layout("lpd5")
    roll = np.zeros((4, cfg.window.size, 6), bool)
    roll[0, 36 - cfg.window.lowest, :] = True
    back = from_model_space(Piece.from_roll(roll, "lpd5", lowest_pitch=cfg.window.lowest, key_shift=5), cfg).roll
    assert np.nonzero(back[0, :, 1])[0].tolist() == [36]  # drums: the kick stays the kick
    assert np.nonzero(back[0, :, 2])[0].tolist() == [31]  # piano: moved back down by 5


def test_monitor_tags_are_per_track_and_drums_get_drum_metrics():
    from deepaccomp.monitoring import tagged_metrics

    roll = folder_piece_roll_from(band_midi(bars=2))
    real = roll[None, :16]
    tags = tagged_metrics(real[..., 1:], real, 0, "lpd5")
    assert tags["metrics/drums/drum_pattern_rate"] == 1.0
    assert "metrics/drums/in_scale_ratio" not in tags and "metrics/piano/in_scale_ratio" in tags
    assert {t.split("/")[1] for t in tags} == {"drums", "piano", "guitar", "bass", "strings"}


def folder_piece_roll_from(pm):
    """:func:`folder_piece_roll` (lpd5) of an in-memory file."""
    with tempfile.TemporaryDirectory() as folder:
        path = f"{folder}/piece.mid"
        pm.write(path)
        return folder_piece_roll(path, layout="lpd5")


def test_the_chorales_are_satb_only_and_layouts_have_their_own_cache(tmp_path):
    from deepaccomp.data import dataset_path, prepare
    from deepaccomp.errors import DatasetError

    with pytest.raises(DatasetError, match="layout 'lpd5' needs a folder"):
        prepare("chorales", layout="lpd5", dataset_dir=str(tmp_path))
    folder = str(tmp_path / "band")
    satb, band = dataset_path(folder), dataset_path(folder, layout="lpd5")
    assert satb != band and "lpd5" in band and "lpd5" not in satb
    assert dataset_path("chorales") == dataset_path("chorales", layout="satb")


@pytest.mark.slow
def test_band_corpus_as_shards_keeps_its_layout(tmp_path):
    from deepaccomp import shards
    from deepaccomp.errors import DatasetError

    write_band(tmp_path / "band", 12)
    index = shards.build_shards(tmp_path / "band", tmp_path / "out", layout="lpd5", shard_size=5,
                                workers=1, progress=False)
    assert index["layout"] == "lpd5" and index["pieces"] > 0
    assert shards.read_shard(tmp_path / "out", index["shards"][0]).layout == "lpd5"
    with pytest.raises(DatasetError, match="lpd5"):
        shards.read_index(tmp_path / "out", layout="satb")
    phrases = shards.read_phrases(tmp_path / "out", "train", phrase_bars=1)
    first = next(iter(phrases))
    assert tuple(first.shape)[-1] == 6  # melody + drums, piano, guitar, bass, strings
