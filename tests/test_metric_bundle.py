"""One table of metrics (metrics.METRICS) read everywhere, and tracks that a piece lacks reported as absent.

A small lpd5 corpus of two 2-bar pieces (melody, drums, piano, guitar, bass, strings; no
strings anywhere, no guitar in the second piece) is measured by hand: with
``metrics.evaluate`` (pooled), the evaluation (per piece, then averaged over the pieces
that have the track), a generated accompaniment judged against it, and the monitor's
TensorBoard tags.
"""

import json
import os
import re

import numpy as np
import pytest

from helpers import script_module

from deepaccomp import evaluation, metrics
from deepaccomp.errors import ConfigError, InvalidRollError
from deepaccomp.layout import get_layout
from deepaccomp.metrics import Metric

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = os.path.join(ROOT, "deepaccomp", "assets", "default_model")
LPD5 = get_layout("lpd5")
MELODY, DRUMS, PIANO, GUITAR, BASS, STRINGS = range(6)
NAN = np.nan


def notes(roll, track, *spans):
    """Switch on ``(pitch, first step, last step + 1)`` spans of ``track``."""
    for pitch, start, end in spans:
        roll[start:end, pitch, track] = True
    return roll


def piece_a():
    """Every track but strings. Bar 1 | bar 2 (steps 0-15 | 16-31):

    melody C5 | E5; drums kick on 0, 8, 16, 24; piano C4 + G3 | -; guitar E4 (0-15), E5 (16, one
    step), E4 (17-31); bass C3 | E3 (a parallel octave with the melody from beat 4 to 5).
    """
    r = np.zeros((32, 128, 6), bool)
    notes(r, MELODY, (72, 0, 16), (76, 16, 32))
    notes(r, DRUMS, *[(36, s, s + 1) for s in (0, 8, 16, 24)])
    notes(r, PIANO, (60, 0, 16), (55, 0, 16))
    notes(r, GUITAR, (64, 0, 16), (76, 16, 17), (64, 17, 32))
    return notes(r, BASS, (48, 0, 16), (52, 16, 32))


def piece_b():
    """No guitar, no strings: melody D5 held; snare on 4, 12, 21 (21 off the eighth grid);
    piano F#4 in bar 2 only (out of C major); bass E4 held (above lpd5's bass window, a major
    second above the melody's pitch class)."""
    r = np.zeros((32, 128, 6), bool)
    notes(r, MELODY, (74, 0, 32))
    notes(r, DRUMS, *[(38, s, s + 1) for s in (4, 12, 21)])
    notes(r, PIANO, (66, 16, 32))
    return notes(r, BASS, (64, 0, 32))


def corpus():
    return np.stack([piece_a(), piece_b()])


def check(values, expected):
    """Every figure of ``expected`` (``{name: per-track list}``), nan where absent."""
    for name, want in expected.items():
        np.testing.assert_allclose(np.asarray(values[name], float), want, atol=1e-12, err_msg=name)


# ------------------------------------------------------------------ metrics.evaluate, pooled
POOLED = {  # melody, drums, piano, guitar (piece A only), bass, strings (absent)
    "empty_bar_rate": [0, 0, 2 / 4, 0, 0, NAN],
    "pitches_used": [1, 1, 3 / 2, 3 / 2, 1, NAN],
    "in_scale_ratio": [1, NAN, 32 / 48, 1, 1, NAN],
    "polyphony": [1, NAN, 48 / 32, 1, 1, NAN],
    "consonance_with_melody": [NAN, NAN, 1, 1, 32 / 64, NAN],
    "fragment_rate": [0, NAN, 0, 1 / 3, 0, NAN],
    "long_note_ratio": [1, NAN, 1, 2 / 3, 1, NAN],
    "leap_rate": [0, NAN, NAN, 2 / 2, 0, NAN],
    "rest_under_melody": [NAN, NAN, 32 / 64, 0, 0, NAN],
    "unison_with_melody": [NAN, NAN, 0, 1 / 32, 0, NAN],
    "parallel_perfects": [1 / 2, NAN, NAN, 0, 1 / 2, NAN],
    "voice_crossing": [NAN, NAN, 0 / 32, 16 / 16, 0, NAN],
    "out_of_range": [0, NAN, 0, 0, 32 / 64, NAN],
    "active_step_ratio": [1, 7 / 64, 32 / 64, 1, 1, NAN],
    "drum_pattern_rate": [NAN, 6 / 7, NAN, NAN, NAN, NAN],
}
"""By hand. Pooled over both pieces, except guitar (piece A only) and strings (none). Drums get
the metrics of every track and their own only. Parallels: at beats 4 -> 5 melody, guitar and
bass move; melody and bass go C5/C3 -> E5/E3 (octaves, both up); the guitar's E4 -> E5 makes
no perfect interval with either. Crossing, between pitched tracks only (the drums are skipped):
the piano never above the melody (32 steps together), guitar E4 above piano's G3 (16 steps), bass
never above the guitar."""


def test_evaluate_reports_a_track_a_piece_lacks_as_absent_and_pools_the_pieces_that_have_it():
    values = metrics.evaluate(corpus(), key="C major", **LPD5.metric_options)
    check(values, POOLED)
    assert list(values) == [m.name for m in metrics.METRICS if not m.needs_reference]
    # the guitar's note lengths are piece A's (16, 1 and 15 steps); the strings' column is absent
    lengths = values["note_lengths"]
    assert lengths.shape == (16, 6) and np.isnan(lengths[:, STRINGS]).all()
    np.testing.assert_allclose(lengths[[0, 14, 15], GUITAR], [1 / 3] * 3)
    assert np.isnan(values["pitch_class_histogram"][:, STRINGS]).all()


def test_a_list_of_pieces_of_any_length_is_pooled_end_to_end_over_the_pieces_that_have_the_track():
    long_a = np.concatenate([piece_a(), piece_a()])  # 4 bars with guitar, then 2 without
    values = metrics.evaluate([long_a, piece_b()], key="C major", **LPD5.metric_options)
    np.testing.assert_allclose(values["empty_bar_rate"], [0, 0, 3 / 6, 0, 0, NAN])
    np.testing.assert_allclose(values["rest_under_melody"], [NAN, NAN, 48 / 96, 0, 0, NAN])
    assert metrics.presence([long_a, piece_b()]).tolist() == [[True] * 5 + [False], [True] * 3 + [False, True, False]]


def test_generated_output_is_judged_where_the_real_track_exists():
    real = corpus()
    generated = real.copy()
    generated[1, :, :, PIANO] = False  # silent where the real piano plays: a failure that counts
    notes(generated[1], GUITAR, (64, 0, 32))  # plays where the real guitar is absent: not judged
    notes(generated[0], STRINGS, (60, 0, 32))
    notes(generated[1], STRINGS, (60, 0, 32))
    harmony = metrics.without_drums(real, [DRUMS])[..., 1:]  # piano, guitar, bass, strings
    judged = metrics.evaluate(generated, key="C major", present=metrics.presence(real), reference=harmony,
                              **LPD5.metric_options)
    np.testing.assert_allclose(judged["empty_bar_rate"], [0, 0, 3 / 4, 0, 0, NAN])
    # the melody's D5 in piece B meets F#4 and E4 only (the snare's D2 is no chord tone)
    np.testing.assert_allclose(judged["harmonic_agreement"], [32 / 64, NAN, 1, 1, 1, NAN])
    # on its own the roll's presence is its own: the silent piano's piece B is left out
    alone = metrics.evaluate(generated, key="C major", **LPD5.metric_options)
    np.testing.assert_allclose(alone["empty_bar_rate"], [0, 0, 1 / 2, 0, 0, 0])


def test_present_is_checked():
    with pytest.raises(InvalidRollError, match=r"present must be a bool array \(pieces, tracks\)"):
        metrics.evaluate(corpus(), present=np.ones((2, 5), bool))
    with pytest.raises(ConfigError, match="unknown metric 'loudness'"):
        metrics.evaluate(corpus(), names=["loudness"])


# ------------------------------------------------------------------ the evaluation: per piece, then averaged
PER_PIECE_MEAN = {  # drums, piano, guitar (piece A only), bass, strings (absent)
    "harmonic_agreement": [NAN, 1, 1, 1, NAN],
    "consonance_with_melody": [NAN, (1 + 1) / 2, 1, (1 + 0) / 2, NAN],
    "in_scale_ratio": [NAN, (1 + 0) / 2, 1, 1, NAN],
    "empty_bar_rate": [0, (1 / 2 + 1 / 2) / 2, 0, 0, NAN],
    "fragment_rate": [NAN, 0, 1 / 3, 0, NAN],
    "long_note_ratio": [NAN, 1, 2 / 3, 1, NAN],
    "leap_rate": [NAN, NAN, 1, 0, NAN],
    "rest_under_melody": [NAN, 1 / 2, 0, 0, NAN],
    "unison_with_melody": [NAN, 0, 1 / 32, 0, NAN],
    "parallel_perfects": [NAN, NAN, 0, 1 / 2, NAN],
    "voice_crossing": [NAN, 0, 1, 0, NAN],
    "out_of_range": [NAN, 0, 0, (0 + 1) / 2, NAN],
    "polyphony": [NAN, (2 + 1) / 2, 1, 1, NAN],
    "pitches_used": [1, (2 + 1) / 2, 3 / 2, 1, NAN],
    "active_step_ratio": [(4 / 32 + 3 / 32) / 2, 1 / 2, 1, 1, NAN],
    "drum_pattern_rate": [(1 + 2 / 3) / 2, NAN, NAN, NAN, NAN],
}
"""By hand: each piece's figure, averaged over the pieces that have a value (guitar: A only;
piece B has no parallels, no leaps and no crossing to measure)."""


def pieces():
    key = metrics.Key.parse("C major")
    return [(piece_a(), key), (piece_b(), key)]


def test_the_evaluation_averages_each_track_over_the_pieces_that_have_it():
    result = evaluation.evaluate_baseline_pieces("bach", pieces(), layout="lpd5")
    check(result, PER_PIECE_MEAN)
    assert result["n_pieces"] == 2 and result["n_pieces_per_track"].tolist() == [2, 2, 1, 2, 0]
    assert set(result) == {m.name for m in metrics.per_track_metrics()} | {"n_pieces", "n_pieces_per_track"}


class BandAccompanist:
    """``accompany`` as the library's: piece B's piano left silent, a guitar in piece B (whose real
    guitar is absent) and strings in both (absent from both); the other tracks as the real ones."""

    layout = LPD5

    def accompany(self, melodies, *, seed=None, steps_per_bar=16, decoding=None):
        out = [p[..., 1:].copy() for p in (piece_a(), piece_b())]
        out[1][..., PIANO - 1] = False
        notes(out[1], GUITAR - 1, (64, 0, 32))
        for acc in out:
            notes(acc, STRINGS - 1, (60, 0, 32))
        return out


def test_generated_tracks_are_judged_only_where_the_real_track_exists():
    result = evaluation.evaluate_pieces(BandAccompanist(), pieces(), seeds=(0,))
    np.testing.assert_allclose(result["harmonic_agreement"], [NAN, 1, 1, 1, NAN])  # no strings to agree with
    np.testing.assert_allclose(result["empty_bar_rate"], [0, (1 / 2 + 1) / 2, 0, 0, NAN])  # the silent piano counts
    np.testing.assert_allclose(result["rest_under_melody"], [NAN, (1 / 2 + 1) / 2, 0, 0, NAN])
    np.testing.assert_allclose(result["active_step_ratio"], [7 / 64, (1 / 2 + 0) / 2, 1, 1, NAN])
    assert all(np.isnan(v[-1]) for k, v in result.items() if not k.startswith("n_"))
    assert result["n_pieces_per_track"].tolist() == [2, 2, 1, 2, 0]


def test_every_piece_with_every_track_adds_no_count():
    full = [(np.concatenate([piece_a()[..., :STRINGS], piece_a()[..., PIANO:PIANO + 1]], axis=-1),
             metrics.Key.parse("C major"))]
    assert evaluation.track_counts(full) == {}


def test_the_score_table_shows_absent_tracks_as_a_dash_and_no_count_row():
    result = evaluation.evaluate_baseline_pieces("bach", pieces(), layout="lpd5")
    table = evaluation.score_table({"real": result}, voices=LPD5.accompaniment_names)
    assert "n_pieces" not in table
    row = next(line for line in table.splitlines() if line.startswith("empty_bar_rate"))
    assert row.split()[-5:] == ["0.000", "0.500", "0.000", "0.000", "-"]


# ------------------------------------------------------------------ TensorBoard
def test_the_monitor_logs_no_tag_for_an_absent_track_and_judges_generated_tracks_where_the_real_exists():
    from deepaccomp.monitoring import DRUM_METRICS, EVAL_METRICS, tagged_metrics

    real = corpus()
    generated = np.stack(BandAccompanist().accompany(None))
    reference, tags = tagged_metrics(real[..., 1:], real, 0, LPD5), tagged_metrics(generated, real, 0, LPD5)
    for logged in (reference, tags):
        assert not any(t.startswith("metrics/strings/") for t in logged)
        assert {t.split("/")[2] for t in logged if t.startswith("metrics/drums/")} == set(DRUM_METRICS)
        assert {t.split("/")[2] for t in logged if t.startswith("metrics/guitar/")} <= set(EVAL_METRICS)
    assert reference["metrics/guitar/empty_bar_rate"] == 0.0 and reference["metrics/guitar/rest_under_melody"] == 0.0
    assert reference["metrics/piano/empty_bar_rate"] == 0.5
    assert tags["metrics/piano/empty_bar_rate"] == 3 / 4  # the silent generated piano of piece B counts
    assert tags["metrics/guitar/harmonic_agreement"] == 1.0  # the guitar of piece B is not judged
    assert tags["metrics/piano/in_scale_ratio"] == 1.0 and reference["metrics/piano/in_scale_ratio"] == 32 / 48


# ------------------------------------------------------------------ one entry adds a metric everywhere
def highest_pitch(x):
    """The new metric of the test: the highest MIDI pitch each track plays (nan if silent)."""
    top = metrics._top_pitch(x.roll).max(axis=(0, 1)).astype(float)
    return np.where(top >= 0, top + x.lowest_pitch, np.nan)


NEW = Metric("highest_pitch", highest_pitch, "highest pitch played", "lower")


def test_one_entry_adds_a_metric_to_evaluate_the_evaluation_tensorboard_and_the_model_card(monkeypatch, tmp_path):
    from deepaccomp.monitoring import tagged_metrics

    monkeypatch.setattr(metrics, "METRICS", metrics.METRICS + (NEW,))
    np.testing.assert_array_equal(metrics.evaluate(corpus())["highest_pitch"], [76, 38, 66, 76, 64, NAN])
    result = evaluation.evaluate_baseline_pieces("bach", pieces(), layout="lpd5")
    np.testing.assert_array_equal(result["highest_pitch"], [NAN, (60 + 66) / 2, 76, (52 + 64) / 2, NAN])
    tags = tagged_metrics(corpus()[..., 1:], corpus(), 0, LPD5)
    assert tags["metrics/guitar/highest_pitch"] == 76 and "metrics/strings/highest_pitch" not in tags
    row = "| highest pitch played | (none) | 70.000 / - / 50.000 | 70.000 / - / 50.000 |"
    assert row in model_card_with(tmp_path, {"highest_pitch": [70.0, None, 50.0]})  # None: absent in JSON
    monkeypatch.undo()
    assert "highest pitch" not in model_card_with(tmp_path, {"highest_pitch": [70.0, None, 50.0]})


def model_card_with(tmp_path, figures: dict) -> str:
    """The model card rendered from the shipped evaluation.json with ``figures`` added to every column."""
    from deepaccomp.config import Config

    with open(os.path.join(SHIPPED, "evaluation.json"), encoding="utf-8") as fh:
        result = json.load(fh)
    for column in ("model", *evaluation.BASELINES):
        result[column].update(figures)
    out = tmp_path / "card.md"
    script_module("train_default_model").write_model_card(result, Config.load(os.path.join(SHIPPED, "config.json")), path=str(out))
    return out.read_text(encoding="utf-8")


def test_absent_figures_are_null_in_evaluation_json():
    jsonable = script_module("train_default_model").to_jsonable({"x": np.array([0.5, NAN]), "seed_difference": 0.25, "n_pieces": 2})
    assert json.loads(json.dumps(jsonable, allow_nan=False)) == {"x": [0.5, None], "seed_difference": 0.25,
                                                                 "n_pieces": 2}


# ------------------------------------------------------------------ the table itself
def test_the_table_is_well_formed():
    names = [m.name for m in metrics.METRICS]
    assert len(names) == len(set(names))
    assert all(m.tracks in metrics.METRIC_TRACKS and m.better in metrics.METRIC_DIRECTIONS for m in metrics.METRICS)
    with pytest.raises(ConfigError, match="tracks must be one of"):
        Metric("loudness", highest_pitch, "loudness", tracks="strings")
    with pytest.raises(ConfigError, match="better must be one of"):
        Metric("loudness", highest_pitch, "loudness", better="louder")


def test_docs_list_every_metric_of_the_table():
    with open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8") as fh:
        page = fh.read()
    rows = re.findall(r"^\| `(\w+)` \| (\w+) \| ([\w-]+) \| (yes|no) \| (.+?) \|$", page, re.M)
    assert [(n, t, b, d) for n, t, b, d, _ in rows] == [
        (m.name, m.tracks, m.better or "-", "yes" if m.logged else "no") for m in metrics.METRICS]


def test_the_quality_bar_is_over_the_tracks_that_have_a_value():
    result = evaluation.evaluate_baseline_pieces("bach", pieces(), layout="lpd5")
    report = evaluation.check_quality_bar(result, {"empty_bar_rate": ("<=", 0.02), "rest_under_melody": ("<=", 0.6),
                                                   "seed_difference": (">=", 0.1)})
    assert report["empty_bar_rate"] == ([0.0, 0.5, 0.0, 0.0, None], False)  # the piano's half-empty bars fail
    assert report["rest_under_melody"] == ([None, 0.5, 0.0, 0.0, None], True)  # no strings, no failure
    assert evaluation.check_quality_bar({"x": [NAN, NAN]}, {"x": (">=", 0.5)}) == {"x": ([None, None], False)}


# ------------------------------------------------------------------ a prepared band corpus
def test_a_band_corpus_without_strings_keeps_its_reference_metrics_absent_where_a_track_is(tmp_path):
    from helpers import band_midi, write_band

    from deepaccomp.data import build_folder

    folder = write_band(tmp_path / "band", 4, bars=2, parts=("melody", "drums", "piano", "guitar", "bass"))
    for k in range(4):
        band_midi(10 + k, bars=2, parts=("melody", "drums", "piano", "bass")).write(str(folder / f"plain{k}.mid"))
    ds = build_folder(folder, layout="lpd5", workers=1, progress=False)
    train = [r for r, p in zip(ds.rolls, ds.pieces) if p["split"] == "train"]
    assert 0 < sum(r[..., GUITAR].any() for r in train) < len(train)  # some train pieces lack the guitar
    ref = ds.info["reference_metrics"]
    assert all(np.isnan(values[STRINGS]) for name, values in ref.items() if np.ndim(values) == 1)
    # the guitar plays every bar, off the beat: an eighth of rest under every quarter-note melody note
    assert ref["empty_bar_rate"][GUITAR] == 0.0 and ref["rest_under_melody"][GUITAR] == 0.5
    assert np.isnan(ref["in_scale_ratio"][DRUMS]) and ref["drum_pattern_rate"][DRUMS] == 1.0


def test_metrics_between_voices_skip_the_drum_track():
    """Melody (track 0) at pitch 8 then 9, drums (track 1) at 3, bass (track 2) at 5 then 7, two beats:
    the bass sits above the drum hits but below the melody, so it crosses nothing (it was compared with
    the drums, 1.0, before), and the moves 8->9 against 5->7 are no parallel perfect."""
    roll = np.zeros((8, 10, 3), bool)
    roll[:4, 8, 0], roll[4:, 9, 0] = True, True
    roll[:, 3, 1] = True
    roll[:4, 5, 2], roll[4:, 7, 2] = True, True
    out = metrics.evaluate(roll, drum_tracks=[1], names=["voice_crossing", "parallel_perfects"])
    np.testing.assert_array_equal(out["voice_crossing"], [np.nan, np.nan, 0.0])
    assert np.isnan(out["parallel_perfects"][1])
    without = metrics.evaluate(roll, names=["voice_crossing"])  # no drum tracks named: the old comparison
    assert without["voice_crossing"][2] == 1.0
