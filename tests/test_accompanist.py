"""Accompanist.generate through the public API, with the shipped model."""

import io
import os

import numpy as np
import pretty_midi
import pytest

from helpers import make_midi
import deepaccomp
from deepaccomp import Accompanist, generation
from deepaccomp.errors import ConfigError, NoMelodyError, UnsupportedMeterError
from deepaccomp.midi import midi_to_roll, multitrack_midi_to_roll
from deepaccomp.piece import Piece

SCALE = [0, 2, 4, 5, 7, 9, 11]


@pytest.fixture(scope="module")
def acc():
    return Accompanist()


def tune(bars=8, tonic=60, beats_per_bar=4, start_beat=0.0, seed=0):
    """A stepwise diatonic melody of ``bars`` bars (quarter and half notes)."""
    rng = np.random.default_rng(seed)
    notes, b, degree = [], start_beat, 0
    while b < start_beat + bars * beats_per_bar:
        dur = 2.0 if rng.random() < 0.25 else 1.0
        octave, step = divmod(degree, 7)
        notes.append((tonic + 12 * octave + SCALE[step], b, b + dur))
        degree = int(np.clip(degree + rng.choice([-2, -1, 1, 2]), -3, 9))
        b += dur
    return notes


def melody_file(notes, **kw):
    return make_midi([("melody", 73, notes)], **kw)


def accomp_roll(result):
    """(time, 128, 3) roll of the accompaniment instruments of a result, on the input's grid."""
    roll, _ = multitrack_midi_to_roll(result, tracks=[1, 2, 3])
    return roll


def test_result_structure_and_melody_unchanged(acc):
    pm = melody_file(tune(4), tempo=96)
    out = acc.generate(pm, seed=1)
    assert [i.name for i in out.instruments] == ["melody", "alto", "tenor", "bass"]
    mel_in, mel_out = pm.instruments[0].notes, out.instruments[0].notes
    assert [(n.pitch, n.start, n.end, n.velocity) for n in mel_in] == [
        (n.pitch, n.start, n.end, n.velocity) for n in mel_out]
    assert out.get_tempo_changes()[1][0] == pytest.approx(96)
    assert all(len(i.notes) > 0 for i in out.instruments[1:])
    # each voice sings one note at a time, below... or near the melody
    assert [i.program for i in out.instruments[1:]] == [52, 52, 52]


def test_seed_reproducible_and_different_seeds_differ(acc):
    pm = melody_file(tune(8))
    a = accomp_roll(acc.generate(pm, seed=3))
    b = accomp_roll(acc.generate(pm, seed=3))
    c = accomp_roll(acc.generate(pm, seed=4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def jaccard_distance(a, b):
    """1 - shared / all active cells (rolls end at their last note: pad to one length)."""
    n = max(len(a), len(b))
    a, b = (np.pad(r, ((0, n - len(r)), (0, 0), (0, 0))) for r in (a, b))
    return 1 - np.count_nonzero(a & b) / np.count_nonzero(a | b)


def test_noise_scale_default_override_and_effect(acc):
    pm = melody_file(tune(8))
    shipped = acc.config.generation.noise_scale
    # the default is the model's own setting; passing it explicitly changes nothing
    assert np.array_equal(accomp_roll(acc.generate(pm, seed=5)),
                          accomp_roll(acc.generate(pm, seed=5, noise_scale=shipped)))
    # a wider noise spread makes two seeds differ more (mean over a few seed pairs)
    def spread(scale):
        rolls = [accomp_roll(acc.generate(pm, seed=s, noise_scale=scale)) for s in range(4)]
        return np.mean([jaccard_distance(rolls[i], rolls[i + 1]) for i in range(3)])
    assert spread(0.25) < spread(3.0)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf"), True, "2"])
def test_bad_noise_scale_is_a_config_error(acc, bad):
    with pytest.raises(ConfigError, match="noise_scale"):
        acc.generate(melody_file(tune(2)), seed=0, noise_scale=bad)


def test_input_kinds_path_bytes_pretty_midi_multitrack(acc, tmp_path):
    import pypianoroll

    pm = melody_file(tune(2))
    path = tmp_path / "m.mid"
    pm.write(str(path))
    by_path = accomp_roll(acc.generate(str(path), seed=0))
    by_bytes = accomp_roll(acc.generate(path.read_bytes(), seed=0))
    assert np.array_equal(by_path, by_bytes)
    mt = pypianoroll.from_pretty_midi(pm, resolution=4)
    out = acc.generate(mt, seed=0)
    assert len(out.instruments) == 4 and len(out.instruments[1].notes) > 0


def test_long_melody_is_accompanied_start_to_end_without_gaps(acc):
    notes = tune(64, seed=5)
    out = acc.generate(melody_file(notes), seed=0)
    roll = accomp_roll(out)
    steps = 64 * 16
    assert roll.shape[0] >= steps - 16
    bars = roll[:steps].reshape(-1, 16, 128, 3).any(axis=(1, 2))  # (bars, voices)
    assert bars.mean() > 0.95, bars.mean(axis=0)


@pytest.mark.parametrize("tonic", [62, 66, 57])  # D major, F# major, A (below C)
def test_other_keys_are_transposed_back(acc, tonic):
    from deepaccomp.metrics import in_scale_ratio

    pm = melody_file(tune(8, tonic=tonic))
    roll = accomp_roll(acc.generate(pm, seed=0))
    key_scale = [(tonic + s) % 12 for s in SCALE]
    assert in_scale_ratio(roll, key_scale).min() > 0.8
    c_major = in_scale_ratio(roll, "C major")
    if tonic % 12 == 6:  # F# major shares only 2 pitch classes with C major
        assert c_major.max() < 0.6


def test_pickup_and_three_four(acc):
    pickup = melody_file(tune(4, start_beat=3))
    out = acc.generate(pickup, seed=0)
    first_acc = min(n.start for i in out.instruments[1:] for n in i.notes)
    assert first_acc >= 3 * 0.5 - 1e-6  # nothing before the pickup note (120 bpm: 0.5 s/beat)
    waltz = melody_file(tune(8, beats_per_bar=3), time_signatures=((3, 4, 0.0),))
    out = acc.generate(waltz, seed=0)
    assert out.time_signature_changes[0].numerator == 3 and len(out.instruments[3].notes) > 0
    with pytest.raises(UnsupportedMeterError, match="5/4"):
        acc.generate(melody_file(tune(2), time_signatures=((5, 4, 0.0),)))


@pytest.mark.parametrize("tonic", [84, 36])
def test_high_and_low_melodies_keep_their_octave_and_fit(acc, tonic):
    pm = melody_file(tune(4, tonic=tonic))
    roll = accomp_roll(acc.generate(pm, seed=0))
    pitches = np.nonzero(roll.any(axis=(0, 2)))[0]
    mel = [n.pitch for n in pm.instruments[0].notes]
    # the accompaniment moves with the melody: its mean sits within ~2 octaves below it
    assert np.mean(mel) - 30 < pitches.mean() < np.mean(mel) + 3


def test_polyphonic_melody_track_is_accompanied(acc):
    notes = tune(4)
    chords = notes + [(p - 4, b0, b1) for p, b0, b1 in notes] + [(p - 7, b0, b1) for p, b0, b1 in notes]
    out = acc.generate(melody_file(chords), seed=0)
    assert len(out.instruments[0].notes) == len(chords)  # the melody as given, chords and all
    assert len(out.instruments[1].notes) > 0


def test_programs_presets_and_lists(acc):
    pm = melody_file(tune(2))
    assert [i.program for i in acc.generate(pm, seed=0, programs="strings").instruments[1:]] == [41, 42, 43]
    assert [i.program for i in acc.generate(pm, seed=0, programs=[0, 1, 2]).instruments[1:]] == [0, 1, 2]


def test_batch_matches_single_lengths(acc):
    pms = [melody_file(tune(n, seed=n)) for n in (2, 5, 16)]
    outs = acc.generate(pms, seed=0)
    assert len(outs) == 3
    for pm, out in zip(pms, outs):
        mel, _ = midi_to_roll(pm)
        assert accomp_roll(out).shape[0] <= mel.shape[0] + 1


def test_no_melody_is_a_clear_error(acc):
    with pytest.raises(NoMelodyError):
        acc.generate(make_midi([]))


@pytest.mark.slow
def test_result_reads_back_in_pretty_midi_mido_and_music21(acc, tmp_path):
    import mido
    from music21 import converter

    from deepaccomp.midi import write_midi

    path = tmp_path / "out.mid"
    write_midi(acc.generate(melody_file(tune(4)), seed=0), path)
    assert len(pretty_midi.PrettyMIDI(str(path)).instruments) == 4
    assert len(mido.MidiFile(str(path)).tracks) >= 4
    score = converter.parse(str(path))
    assert len(score.parts) == 4
    buf = io.BytesIO(path.read_bytes())
    assert len(pretty_midi.PrettyMIDI(buf).instruments) == 4


def test_fixed_length_lab_style_generator_accompanies_phrase_by_phrase():
    """A deepcomposer-style model (fixed 2-bar input, 4 regenerated tracks) still
    accompanies a melody of any length: phrase by phrase, the regenerated melody dropped."""
    from deepaccomp import preset
    from deepaccomp.models import build_generator

    cfg = preset("deepcomposer").replace(
        model={"encoder_filters": [4, 4, 4, 4], "decoder_filters": [4, 4, 4], "noise_channels": 2,
               "critic_filters": [4, 4, 4, 4]})
    acc = Accompanist.from_generator(build_generator(cfg), cfg)
    out = acc.generate(melody_file(tune(5)), seed=0)   # 5 bars: 3 phrases, the last padded
    assert [i.name for i in out.instruments] == ["melody", "alto", "tenor", "bass"]
    roll, _ = midi_to_roll(melody_file(tune(5)))
    assert accomp_roll(out).shape[0] <= roll.shape[0] + 1


def test_old_entry_points_warn_and_give_the_same_result(acc):
    pm = melody_file(tune(8))
    with pytest.warns(DeprecationWarning, match="generate\\(list_of_melodies\\)"):
        old = acc.generate_batch([pm], seed=3)[0]
    new = acc.generate(pm, seed=3)
    assert [[(n.pitch, n.start, n.end) for n in i.notes] for i in old.instruments] == \
        [[(n.pitch, n.start, n.end) for n in i.notes] for i in new.instruments]
    roll = np.zeros((32, 128, 1), bool)
    roll[:, 67, 0] = True
    with pytest.warns(DeprecationWarning, match="accompany"):
        old_rolls = acc.accompany_full_rolls([roll], seed=1)
    assert np.array_equal(old_rolls[0], acc.accompany([roll], seed=1)[0])


def test_training_module_names_of_the_model_file_still_work():
    from deepaccomp import artifact, training
    from deepaccomp.accompanist import default_model_path

    with pytest.warns(DeprecationWarning, match="deepaccomp.artifact.read"):
        cfg, _ = training.read_artifact(default_model_path())
    assert cfg == artifact.read(default_model_path())[0]


def _notes(result, shift=0.0):
    return [[(n.pitch, round(n.start - shift, 6), round(n.end - shift, 6)) for n in i.notes]
            for i in result.instruments[1:]]


def upbeat_tune():
    """A one-beat upbeat, then bars of half and quarter notes ending on a whole note (beats from the upbeat)."""
    pattern = [(67, 0, 1), (72, 1, 3), (71, 3, 4), (69, 4, 5), (67, 5, 7), (65, 7, 8), (64, 8, 9),
               (62, 9, 11), (64, 11, 12), (65, 12, 13), (67, 13, 15), (65, 15, 16), (64, 16, 17),
               (62, 17, 19), (59, 19, 20), (60, 20, 24)]
    return pattern


def test_an_unmarked_upbeat_is_found_and_accompanied_like_the_marked_one(acc):
    beat = 0.5  # seconds at 120 bpm
    unmarked = melody_file(upbeat_tune())  # first note at time 0: an upbeat only the rhythm shows
    marked = melody_file([(p, b + 3, e + 3) for p, b, e in upbeat_tune()])  # three beats of rest first
    from_file = acc.generate(marked, seed=5)
    estimated = acc.generate(unmarked, seed=5)
    assert _notes(estimated) == _notes(from_file, shift=3 * beat)
    assert _notes(acc.generate(unmarked, seed=5, pickup=1)) == _notes(estimated)
    # telling it the first note is a downbeat puts every bar line elsewhere
    assert _notes(acc.generate(unmarked, seed=5, pickup=0)) != _notes(estimated)


def test_accompaniment_starts_with_the_melody(acc):
    out = acc.generate(midi_path("ode_to_joy_pickup.mid"), seed=0)
    first_melody = min(n.start for n in out.instruments[0].notes)
    assert first_melody > 0
    assert min(n.start for i in out.instruments[1:] for n in i.notes) >= first_melody


def test_rolls_are_accompanied_from_the_melody_onset_like_files(acc, monkeypatch):
    # a generator that sounds everywhere, so the decoding alone would fill the leading rest
    monkeypatch.setattr(acc.forward, "values", lambda x, noise: np.full(x.shape[:3] + (3,), 0.9, np.float32))
    melody = np.zeros((64, 128, 1), bool)
    for k, step in enumerate(range(12, 64, 4)):
        melody[step: step + 4, 60 + SCALE[k % 7], 0] = True
    model_space = generation.to_model_space(Piece.from_roll(melody), acc.config).roll
    assert acc.forward.accompany([model_space], seed=0)[0][:12].any()  # what the onset rule removes
    out = acc.accompany([melody], seed=0)[0]
    assert not out[:12].any() and out[12].any(axis=0).all()


@pytest.mark.parametrize("pickup", [-1, 4, 0.3, float("nan"), "1", True])
def test_bad_pickup_is_a_config_error(acc, pickup):
    with pytest.raises(ConfigError, match="pickup"):
        acc.generate(melody_file(tune(2)), seed=0, pickup=pickup)


def midi_path(name):
    return os.path.join(os.path.dirname(deepaccomp.__file__), "assets", "examples", name)
