"""Regenerating a part of a take: ``generate(melody, keep=previous, regenerate=...)`` and the kept
states of the notes decoding (``decode_notes(fixed=...)``)."""

import io
import os

import numpy as np
import pretty_midi
import pytest

import deepaccomp
from deepaccomp import Accompanist
from deepaccomp.accompanist import Selection
from deepaccomp.cli import main
from deepaccomp.decoding import FREE, decode_notes
from deepaccomp.errors import ConfigError
from deepaccomp.generation import regenerate_cells
from deepaccomp.piece import Piece, TimeGrid

EXAMPLES = os.path.join(os.path.dirname(deepaccomp.__file__), "assets", "examples")
ODE = os.path.join(EXAMPLES, "ode_to_joy_pickup.mid")
TWINKLE = os.path.join(EXAMPLES, "twinkle.mid")


@pytest.fixture(scope="module")
def accompanist():
    return Accompanist()


def lines(roll):
    """``(time, voices)`` pitch index of a one-pitch-per-voice roll, -1 where it rests."""
    return np.where(roll.any(axis=-2), roll.argmax(axis=-2), -1)


# ------------------------------------------------------------------ the decoding, by hand
def join_values():
    """2 voices, 6 steps, 12 pitches: voice 0's free steps 2-3 rate pitch 9 (0.5) above pitch 1 (0.4);
    voice 1 rates pitch 7 everywhere."""
    values = np.full((6, 12, 2), -1.0)
    values[[0, 1, 4, 5], 0, 0] = 0.5
    values[2:4, 9, 0], values[2:4, 1, 0] = 0.5, 0.4
    values[:, 7, 1] = 0.9
    return values


def test_free_steps_pay_the_leaps_into_and_out_of_the_kept_notes():
    # voice 0 keeps pitch 0 at steps 0-1 and 4-5; voice 1 is kept whole at pitch 5 (its values want 7).
    # By hand, onset 0.1: pitch 9 at steps 2-3 scores 1.0 - 0.1 - 0.1 = 0.8 without a leap cost, and
    # 0.8 - 2 x 1.0 = -1.2 with a leap cost of 1 (0 -> 9 and 9 -> 0 both leap); pitch 1 scores
    # 0.8 - 0.1 - 0.1 = 0.6 either way; a rest -0.1 (the kept note after it starts afresh); pitch 0
    # struck again -2.2.
    fixed = np.array([[0, 5], [0, 5], [FREE, 5], [FREE, 5], [0, 5], [0, 5]])
    no_leap = lines(decode_notes(join_values(), onset_cost=0.1, fixed=fixed))
    leap = lines(decode_notes(join_values(), onset_cost=0.1, leap_cost=1.0, fixed=fixed))
    assert no_leap[:, 0].tolist() == [0, 0, 9, 9, 0, 0]
    assert leap[:, 0].tolist() == [0, 0, 1, 1, 0, 0]
    assert leap[:, 1].tolist() == [5] * 6 == no_leap[:, 1].tolist()


def test_a_free_lower_voice_stays_under_a_kept_upper_voice():
    # order_voices decodes voice 1 (lower) first: without keep it takes its best pitch 6 and voice 0
    # follows above it; with voice 0 kept at pitch 4 the lower voice's best below it is pitch 2.
    values = np.full((6, 12, 2), -1.0)
    values[:, 6, 1], values[:, 2, 1], values[:, 4, 0], values[:, 8, 0] = 0.9, 0.5, 0.3, 0.6
    free = lines(decode_notes(values, onset_cost=0.1, order_voices=True))
    fixed = np.stack([np.full(6, 4), np.full(6, FREE)], axis=-1)
    kept = lines(decode_notes(values, onset_cost=0.1, order_voices=True, fixed=fixed))
    assert free[:, 1].tolist() == [6] * 6 and free[:, 0].tolist() == [8] * 6
    assert kept[:, 1].tolist() == [2] * 6 and kept[:, 0].tolist() == [4] * 6


def test_kept_lines_that_break_the_rules_are_kept_and_the_free_steps_still_decoded():
    # a kept bass of one-step notes (lowest_min_steps 2) and a kept rest under the melody
    rng = np.random.default_rng(0)
    values = rng.uniform(-1, 1, (2, 24, 12, 3))
    values[:, 8:16, 3, 2] = 1.0
    melody = np.zeros((2, 24, 12, 1), bool)
    melody[:, :, 11] = True
    fixed = rng.integers(-1, 12, (2, 24, 3))
    fixed[:, 8:16, 2] = FREE
    fixed[:, 8:16, :2] = 9  # the kept voices above leave the bass room there
    out = lines(decode_notes(values, melody=melody, threshold=-0.5, onset_cost=0.25, score="log_odds",
                             sing_with_melody=True, order_voices=True, parallel_cost=20.0, leap_cost=2.0,
                             lowest_min_steps=2, fixed=fixed))
    kept = fixed != FREE
    assert np.array_equal(out[kept], fixed[kept])
    assert (out[:, 9:15, 2] == 3).all()


def test_every_step_free_decodes_as_without_keep():
    rng = np.random.default_rng(1)
    values = rng.uniform(-1, 1, (2, 40, 16, 3))
    melody = np.zeros((2, 40, 16, 1), bool)
    melody[:, :, 15] = True
    kw = dict(melody=melody, threshold=-0.5, onset_cost=0.25, score="log_odds", sing_with_melody=True,
              order_voices=True, parallel_cost=20.0, leap_cost=2.0, lowest_min_steps=2)
    free = np.full((2, 40, 3), FREE)
    assert np.array_equal(decode_notes(values, **kw), decode_notes(values, fixed=free, **kw))


def test_fixed_of_the_wrong_shape_is_refused():
    with pytest.raises(ConfigError, match="fixed"):
        decode_notes(np.zeros((6, 12, 2)), fixed=np.zeros((6, 3), int))
    with pytest.raises(ConfigError, match="fixed"):
        decode_notes(np.zeros((6, 12, 2)), fixed=np.full((6, 2), 12))


# ------------------------------------------------------------------ the cells drawn again
def test_a_note_belongs_to_the_bar_it_starts_in():
    roll = np.zeros((48, 128, 3), bool)
    roll[:, 70, 0] = True
    roll[12:20, 60, 1] = True  # starts before the selection (16-32), sounds into it: kept whole
    roll[28:36, 62, 1] = True  # starts in it, sounds past it: drawn again, its steps freed
    roll[36:40, 64, 1] = True
    piece = Piece.from_roll(roll, "satb")
    free = regenerate_cells(piece, 16, 32, [0])
    assert np.flatnonzero(free[:, 0, 0]).tolist() == list(range(20, 36))
    assert not free[..., 1:].any()


# ------------------------------------------------------------------ the public call
def starts_outside(pm, start, end, names):
    """Every note of ``pm`` as ``(instrument, pitch, start, end)``, but those of ``names`` starting in [start, end)."""
    return {(inst.name, n.pitch, round(n.start, 6), round(n.end, 6)) for inst in pm.instruments
            for n in inst.notes if not (inst.name in names and start - 1e-6 <= n.start < end - 1e-6)}


def bar_times(pm, first, last, pickup_beats):
    """Start and end time of bars ``first..last`` of a 4/4 file of one tempo, counted as musicians do:
    bar 1 starts ``pickup_beats`` after the first note (a pickup before it is bar 0)."""
    beat = 60.0 / pm.get_tempo_changes()[1][0]
    downbeat = min(n.start for n in pm.instruments[0].notes) + pickup_beats * beat
    return downbeat + (first - 1) * 4 * beat, downbeat + last * 4 * beat


@pytest.mark.parametrize("path, pickup_beats", [(ODE, 1.0), (TWINKLE, 0.0)])
@pytest.mark.parametrize("tracks", [None, ["tenor"], ["alto", "bass"]])
def test_notes_outside_the_selection_are_kept_note_for_note(accompanist, path, pickup_beats, tracks):
    take = accompanist.generate(path, seed=0)
    assert take.time_signature_changes[0].numerator == 4 and len(take.get_tempo_changes()[1]) == 1
    out = accompanist.generate(path, seed=5, keep=take, regenerate={"bars": (3, 5), "tracks": tracks})
    start, end = bar_times(take, 3, 5, pickup_beats)
    names = tracks or ["alto", "tenor", "bass"]
    assert starts_outside(out, start, end, names) == starts_outside(take, start, end, names)
    assert [i.name for i in out.instruments] == [i.name for i in take.instruments]


def test_the_selection_is_drawn_again_with_another_seed(accompanist):
    take = accompanist.generate(TWINKLE, seed=0)
    outs = [accompanist.generate(TWINKLE, seed=s, keep=take, regenerate="2-6", noise_scale=6.0) for s in (1, 2)]
    start, end = bar_times(take, 2, 6, 0.0)
    inside = [starts_outside(pm, 0, 1e9, []) - starts_outside(pm, start, end, ["alto", "tenor", "bass"])
              for pm in [take] + outs]
    assert all(inside)
    assert inside[1] != inside[0] or inside[2] != inside[0]


def test_keep_from_a_file_a_piece_and_bytes_give_the_same_result(accompanist, tmp_path):
    piece = accompanist.generate_piece(ODE, seed=0)
    take = accompanist.generate(ODE, seed=0)
    path = tmp_path / "take.mid"
    take.write(str(path))
    buffer = io.BytesIO()
    take.write(buffer)
    results = [accompanist.generate_piece(ODE, seed=3, keep=k, regenerate="4-6:tenor,bass")
               for k in (piece, take, str(path), buffer.getvalue())]
    for r in results[1:]:
        assert np.array_equal(r.roll, results[0].roll) and np.array_equal(r.onsets, results[0].onsets)


def test_an_edited_accompaniment_is_kept_as_edited(accompanist):
    take = accompanist.generate(TWINKLE, seed=0)
    alto = next(i for i in take.instruments if i.name == "alto")
    alto.notes.append(pretty_midi.Note(70, 30, 0.0, 3.0))  # a chord in a voice, far below its range
    alto.notes.append(pretty_midi.Note(70, 100, 19.95, 20.25))  # on the grid of 16th notes at 100 bpm
    out = accompanist.generate(TWINKLE, seed=4, keep=take, regenerate="4-5")
    start, end = bar_times(take, 4, 5, 0.0)
    assert starts_outside(out, start, end, ["alto", "tenor", "bass"]) == \
        starts_outside(take, start, end, ["alto", "tenor", "bass"])


def test_the_pickup_is_bar_zero(accompanist):
    take = accompanist.generate_piece(ODE, seed=0)
    out = accompanist.generate_piece(ODE, seed=7, keep=take, regenerate={"bars": 0}, noise_scale=8.0)
    bar = take.grid.bars.steps_per_bar
    assert np.array_equal(out.roll[bar:], take.roll[bar:]) and np.array_equal(out.onsets[bar:], take.onsets[bar:])


@pytest.mark.parametrize("kwargs, message", [
    (dict(keep="TAKE"), "keep and regenerate go together"),
    (dict(regenerate="2-3"), "keep and regenerate go together"),
    (dict(keep="TAKE", regenerate="3-40"), "outside the piece: its bars are 0-9"),
    (dict(keep="TAKE", regenerate="0-2"), None),
    (dict(keep="TAKE", regenerate={"bars": (3, 4), "tracks": ["soprano"]}), "no track 'soprano'"),
    (dict(keep="TAKE", regenerate={"bars": (3, 4), "tracks": []}), "non-empty list of track names"),
    (dict(keep="TAKE", regenerate={"bar": (3, 4)}), "the keys 'bars'"),
    (dict(keep="TAKE", regenerate="4-3"), "first <= last"),
    (dict(keep="TAKE", regenerate="x" * 10_000), "bars must be first and last"),
    (dict(keep="TAKE", regenerate=(3.5, 4)), "must be a Selection"),
    (dict(keep="OTHER", regenerate="2-3"), "another melody"),
    (dict(keep="NO_TENOR", regenerate="2-3"), "no instrument named 'tenor'"),
])
def test_selection_and_keep_errors(accompanist, kwargs, message):
    take = accompanist.generate(ODE, seed=0)
    no_tenor = accompanist.generate(ODE, seed=0)
    no_tenor.instruments = [i for i in no_tenor.instruments if i.name != "tenor"]
    kwargs = {k: {"TAKE": take, "OTHER": accompanist.generate(TWINKLE, seed=0), "NO_TENOR": no_tenor}.get(v, v)
              if isinstance(v, str) else v for k, v in kwargs.items()}
    if message is None:
        accompanist.generate(ODE, seed=1, **kwargs)
        return
    with pytest.raises(ConfigError, match=message) as info:
        accompanist.generate(ODE, seed=1, **kwargs)
    assert len(str(info.value)) < 400


def test_keep_takes_one_melody(accompanist):
    take = accompanist.generate(ODE, seed=0)
    with pytest.raises(ConfigError, match="one melody at a time"):
        accompanist.generate([ODE, ODE], seed=1, keep=take, regenerate="2-3")


def test_selection_forms():
    assert Selection.of("5-8:tenor, bass") == Selection((5, 8), ("tenor", "bass"))
    assert Selection.of({"bars": range(5, 9)}) == Selection((5, 8), None)
    assert Selection.of({"bars": 3, "tracks": "alto"}) == Selection((3, 3), ("alto",))
    assert Selection.of(Selection([2, 4])) == Selection((2, 4))


def test_without_keep_the_take_is_the_same(accompanist):
    # the kept-state machinery is off without keep: the same call gives the same notes as a plain roll
    grid = TimeGrid.plain()
    melody = accompanist.read(TWINKLE).roll
    plain = accompanist.accompany([melody[:, :, :1]], seed=0)[0]
    piece = accompanist.generate_piece(Piece(melody, None, accompanist.layout, grid), seed=0)
    assert np.array_equal(piece.roll[..., 1:], plain)


@pytest.mark.slow
def test_the_command_line_regenerates_bars_of_chosen_tracks(tmp_path, capsys):
    take, out = tmp_path / "take.mid", tmp_path / "out.mid"
    assert main(["generate", TWINKLE, "-o", str(take), "--seed", "0"]) == 0
    assert main(["generate", TWINKLE, "-o", str(out), "--seed", "3", "--keep", str(take),
                 "--regenerate", "5-8:tenor,bass"]) == 0
    before, after = pretty_midi.PrettyMIDI(str(take)), pretty_midi.PrettyMIDI(str(out))
    start, end = bar_times(before, 5, 8, 0.0)
    assert starts_outside(after, start, end, ["tenor", "bass"]) == starts_outside(before, start, end, ["tenor", "bass"])
    assert main(["generate", TWINKLE, "-o", str(out), "--keep", str(take)]) == 1
    assert "--keep and --regenerate go together" in capsys.readouterr().err
    assert main(["generate", TWINKLE, "-o", str(out), "--keep", str(take), "--regenerate", "5-8:soprano"]) == 1
    assert "no track 'soprano'" in capsys.readouterr().err


def test_the_documented_example_runs(tmp_path, monkeypatch):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with open(os.path.join(root, "docs", "representation.md"), encoding="utf-8") as fh:
        text = fh.read()
    section = text[text.index("## Regenerate a part"):]
    code = section[section.index("```python") + len("```python"): section.index("```\n", section.index("```python"))]
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "docs/representation.md", "exec"), {})
    assert pretty_midi.PrettyMIDI(str(tmp_path / "twinkle_edited.mid")).instruments
