"""Shared test helpers: MIDI files built by the tests themselves with pretty_midi."""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import io

import mido
import numpy as np
import pretty_midi
import pytest


def make_midi(tracks, *, tempo=120.0, time_signatures=((4, 4, 0.0),), tempo_changes=None,
              resolution=480):
    """tracks: list of (name, program, [(pitch, start_beat, end_beat), ...]).

    Beats are quarter notes at ``tempo`` (or follow ``tempo_changes``: a list of
    (beat, bpm) applied by writing the file with mido).
    """
    pm = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo)
    for num, den, t in time_signatures:
        pm.time_signature_changes.append(pretty_midi.TimeSignature(num, den, t))
    beat = 60.0 / tempo
    for name, program, notes in tracks:
        inst = pretty_midi.Instrument(program=program, name=name, is_drum=(program == "drums"))
        for pitch, b0, b1 in notes:
            inst.notes.append(pretty_midi.Note(80, pitch, b0 * beat, b1 * beat))
        pm.instruments.append(inst)
    return pm


def midi_with_tempo_change(tmp_path, notes, bpm0=120, bpm1=60, change_beat=4, resolution=480):
    """A one-track MIDI whose tempo changes at ``change_beat``; notes given in beats."""
    import mido

    mid = mido.MidiFile(ticks_per_beat=resolution)
    meta = mido.MidiTrack()
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm0), time=0))
    meta.append(mido.MetaMessage("time_signature", numerator=4, denominator=4, time=0))
    meta.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm1), time=change_beat * resolution))
    mid.tracks.append(meta)
    tr = mido.MidiTrack()
    events = []
    for pitch, b0, b1 in notes:
        events.append((int(b0 * resolution), "note_on", pitch))
        events.append((int(b1 * resolution), "note_off", pitch))
    events.sort(key=lambda e: (e[0], e[1] == "note_on"))
    now = 0
    for tick, kind, pitch in events:
        tr.append(mido.Message(kind, note=pitch, velocity=80 if kind == "note_on" else 0, time=tick - now))
        now = tick
    mid.tracks.append(tr)
    path = tmp_path / "tempo_change.mid"
    mid.save(path)
    return path


def to_bytes(pm: pretty_midi.PrettyMIDI) -> bytes:
    buf = io.BytesIO()
    pm.write(buf)
    return buf.getvalue()


def mido_bytes(notes, meta=(), *, resolution=480, channel=0) -> bytes:
    """A type-1 file: a meta track (``meta`` = [(beat, MetaMessage)]) and one note track.

    ``notes`` = [(pitch, start_beat, end_beat)].
    """
    mid = mido.MidiFile(ticks_per_beat=resolution)
    for events in (
        [(int(round(b * resolution)), 0, m) for b, m in meta],
        [(int(round(b0 * resolution)), 1, mido.Message("note_on", note=p, velocity=80, channel=channel))
         for p, b0, _ in notes]
        + [(int(round(b1 * resolution)), 0, mido.Message("note_off", note=p, velocity=0, channel=channel))
           for p, _, b1 in notes],
    ):
        track = mido.MidiTrack()
        now = 0
        for tick, _, msg in sorted(events, key=lambda e: (e[0], e[1])):
            track.append(msg.copy(time=tick - now))
            now = tick
        mid.tracks.append(track)
    buf = io.BytesIO()
    mid.save(file=buf)
    return buf.getvalue()


def tempo(beat, bpm):
    return (beat, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm)))


def meter(beat, num, den):
    return (beat, mido.MetaMessage("time_signature", numerator=num, denominator=den))


def active(roll):
    t, p = np.nonzero(roll[:, :, 0])
    return set(zip(t.tolist(), p.tolist()))


TINY_MODEL = {"encoder_filters": [4, 4], "decoder_filters": [4], "noise_channels": 2, "critic_filters": [4, 4]}
"""Model settings of the tiny untrained generator the tests export (not the shipped model)."""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """Path of a tiny untrained generator exported with :func:`deepaccomp.artifact.save`."""
    import keras

    from deepaccomp import artifact, preset
    from deepaccomp.models import build_generator

    keras.utils.set_random_seed(0)  # the same untrained weights in every run
    cfg = preset("default").replace(model=TINY_MODEL, data={"phrase_bars": 1})
    path = tmp_path_factory.mktemp("model") / "generator.npz"
    artifact.save(build_generator(cfg), cfg, path)
    return path


SIMPLE = [("melody", 0, [(60 + i % 5, i, i + 1) for i in range(8)])]
"""Eight quarter notes of one melody track, for :func:`make_midi`."""


@pytest.fixture(scope="module")
def good_bytes():
    """A small valid melody file's bytes."""
    return to_bytes(make_midi(SIMPLE))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def voice_roll(*voices, n_pitches=128, lowest=0):
    """A bool roll ``(time, n_pitches, len(voices))`` from one note list per voice.

    Each voice is a list of ``(pitch, steps)``: a MIDI pitch (``None`` = rest)
    held for ``steps`` steps, one after the other; shorter voices end in silence.
    """
    steps = max(sum(n for _, n in v) for v in voices)
    r = np.zeros((steps, n_pitches, len(voices)), dtype=bool)
    for k, notes in enumerate(voices):
        t = 0
        for pitch, n in notes:
            if pitch is not None:
                r[t:t + n, pitch - lowest, k] = True
            t += n
    return r


TINY_RUN = dict(
    model={"encoder_filters": [4, 8], "decoder_filters": [4], "noise_channels": 2,
           "critic_filters": [4, 8]},
    data={"phrase_bars": 1},
    train={"iterations": 4, "batch_size": 8, "critic_updates": 3, "eval_every": 2,
           "checkpoint_every": 2, "n_eval_melodies": 3, "reconstruction_weight": 1.0},
)
"""A training run of a few seconds: tiny networks, 1-bar phrases, 4 iterations."""


def tiny(**train_overrides):
    """The default preset shrunk to :data:`TINY_RUN`, with ``train`` settings overridden."""
    from deepaccomp import preset

    over = {k: dict(v) for k, v in TINY_RUN.items()}
    over["train"].update(train_overrides)
    return preset("default").replace(**over)


@pytest.fixture(scope="module")
def small():
    """The first 12 chorales of music21 (a few of each split), built in one process."""
    from deepaccomp import data

    return data.build_chorales(limit=12, workers=1, progress=False)


def default_sigint():
    """``preexec_fn`` for a child that must receive Ctrl-C: a suite started in the background
    (``cmd &`` in a non-interactive shell) ignores SIGINT, and children inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def installed_command() -> str:
    """The ``deepaccomp`` console script installed beside this Python, as a user runs it."""
    path = os.path.join(os.path.dirname(sys.executable), "deepaccomp")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no installed deepaccomp command beside {sys.executable}; install the package first "
                    "(python3 -m pip install \".[test]\")")
    return path


# ---------------------------------------------------------------------- model files

def npz_members(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def rewrite(source, path, *, config_edit=None, weights_edit=None, meta_edit=None):
    """Copy a model file with its config or weights changed and the checksum recomputed,
    as anyone can: the checksum detects damage, not tampering."""
    import json

    from deepaccomp import artifact

    arrays = npz_members(source)
    meta = json.loads(bytes(arrays["meta"]).decode())
    weights = [arrays[f"w{i:03d}"] for i in range(meta["n_weights"])]
    if config_edit:
        config_edit(meta["config"])
    if weights_edit:
        weights = weights_edit(weights)
    meta["n_weights"] = len(weights)
    meta["sha256"] = artifact.weights_digest(weights, meta["config"])
    if meta_edit:
        meta_edit(meta)
    arrays = {f"w{i:03d}": w for i, w in enumerate(weights)}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)
    return path


BAND_MODEL = {"encoder_filters": [4, 8, 8, 8], "decoder_filters": [8, 8, 4], "noise_channels": 4,
              "critic_filters": [4, 8, 8, 8]}
"""Model settings of the tiny untrained ``lpd5`` generator of :func:`band_model`."""


@pytest.fixture(scope="session")
def band_model(tmp_path_factory):
    """Path of a tiny untrained generator of the ``lpd5`` layout (melody; drums, piano, guitar, bass,
    strings), written without TensorFlow: seeded random float32 weights of the config's shapes, with
    batch norm scales near 1 and positive variances, so that every track gets notes."""
    from deepaccomp import artifact, preset

    cfg = preset("default").with_layout("lpd5").replace(model=BAND_MODEL)
    rng = np.random.default_rng(0)
    weights, after_kernel = [], 0
    for shape in cfg.generator_weight_shapes():
        after_kernel = 0 if len(shape) == 4 else after_kernel + 1  # a kernel, then bias, gamma, beta, mean, variance
        w = rng.normal(0, 1.5 / np.sqrt(np.prod(shape[:3])) if len(shape) == 4 else 0.3, shape)
        if after_kernel == 2:
            w += 1.0
        if after_kernel == 5:
            w = np.abs(w) + 0.3
        weights.append(w.astype(np.float32))
    path = tmp_path_factory.mktemp("band") / "lpd5-tiny" / artifact.FILE_NAME
    path.parent.mkdir()
    artifact._write(weights, cfg, path)
    return path


@pytest.fixture
def nan_critic(monkeypatch):
    """Training builds a critic whose score's bias is NaN: the critic loss is not finite at iteration 1
    (every setting stays within its bounds, which refuse the overflowing weights this once took)."""
    import deepaccomp.training
    from deepaccomp.models import build_critic

    def poisoned(cfg):
        critic = build_critic(cfg)
        layer = critic.get_layer("score")
        kernel, bias = layer.get_weights()
        layer.set_weights([kernel, np.full_like(bias, np.nan)])
        return critic

    monkeypatch.setattr(deepaccomp.training, "build_critic", poisoned)
