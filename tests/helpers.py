"""Helpers the tests share: MIDI files built with pretty_midi and mido, tiny model settings, model-file
rewriting, the installed command. Import them with ``from helpers import ...``; fixtures live in conftest.py."""

import importlib
import io
import os
import signal
import sys

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


SIMPLE = [("melody", 0, [(60 + i % 5, i, i + 1) for i in range(8)])]
"""Eight quarter notes of one melody track, for :func:`make_midi`."""


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


def random_generator_weights(cfg, seed: int = 0) -> list:
    """Seeded random float32 weights of ``cfg``'s generator shapes, scaled as a trained network's (He-like
    kernels), batch norm scales near 1 and positive variances, so that every layer and track takes part."""
    rng = np.random.default_rng(seed)
    weights, after_kernel = [], 0
    for shape in cfg.generator_weight_shapes():
        after_kernel = 0 if len(shape) == 4 else after_kernel + 1  # a kernel, then bias, gamma, beta, mean, variance
        w = rng.normal(0, 1.5 / np.sqrt(np.prod(shape[:3])) if len(shape) == 4 else 0.3, shape)
        if after_kernel == 2:
            w += 1.0
        if after_kernel == 5:
            w = np.abs(w) + 0.3
        weights.append(w.astype(np.float32))
    return weights


BEAT = 0.5
"""Seconds per quarter note at 120 bpm (:func:`band_midi`)."""

KICK, SNARE, HAT = 36, 38, 42
"""General MIDI drum notes of :func:`band_midi`'s kit."""


def band_midi(seed=0, bars=4, *, parts=("melody", "drums", "piano", "organ", "guitar", "bass", "strings"),
              meter=(4, 4)):
    """A small 4/4 band piece from simple generators: the tracks named in ``parts``.

    Melody: a random walk of quarter notes on C major (flute, program 73);
    drums: kick on beats 1 and 3, snare on 2 and 4, hi-hat on every eighth;
    piano (program 0) and organ (program 16): half-note C and G triads;
    guitar (program 25, named "rhythm"): offbeat eighth chords; bass
    (program 33): quarter-note roots; strings (program 48): whole-note fifths.
    """
    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(*meter, 0.0))
    scale = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76]
    beats = bars * 4

    def inst(name, program, notes, drum=False):
        i = pretty_midi.Instrument(program=program, name=name, is_drum=drum)
        i.notes = [pretty_midi.Note(90, int(p), b0 * BEAT, b1 * BEAT) for p, b0, b1 in notes]
        pm.instruments.append(i)

    walk = np.clip(np.cumsum(rng.integers(-2, 3, beats)) + 4, 0, len(scale) - 1)
    roots = [48 if (b // 4) % 2 == 0 else 55 for b in range(beats)]
    makers = {
        "melody": lambda: inst("melody", 73, [(scale[w] + 12, b, b + 1) for b, w in enumerate(walk)]),
        "drums": lambda: inst("kit", 0, [(KICK, b, b + 0.25) for b in range(0, beats, 2)]
                              + [(SNARE, b, b + 0.25) for b in range(1, beats, 2)]
                              + [(HAT, h / 2, h / 2 + 0.5) for h in range(beats * 2)], drum=True),
        "piano": lambda: inst("keys 1", 0, [(roots[b] + 12 + i, b, b + 2) for b in range(0, beats, 2)
                                             for i in (0, 4, 7)]),
        "organ": lambda: inst("", 16, [(roots[b] + 24, b, b + 2) for b in range(0, beats, 2)]),
        "guitar": lambda: inst("rhythm", 25, [(roots[b] + 12 + i, b + 0.5, b + 1) for b in range(beats)
                                              for i in (0, 7)]),
        "bass": lambda: inst("", 33, [(roots[b] - 12, b, b + 1) for b in range(beats)]),
        "strings": lambda: inst("", 48, [(roots[b] + i, b, b + 4) for b in range(0, beats, 4) for i in (12, 19)]),
    }
    for part in parts:
        makers[part]()
    return pm


def write_band(folder, n, **kw):
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        band_midi(k, **kw).write(str(folder / f"band{k:02d}.mid"))
    return folder


def write_corpus(folder, n: int = 10):
    """``n`` four-part 2-bar pieces (each its own pitches) in two sub-folders, a 3/4 piece and a broken file."""
    def satb(i):
        return [(name, 52, [(p + (i + k) % 5, k, k + 1) for k in range(8)])
                for name, p in (("Soprano", 72), ("Alto", 65), ("Tenor", 57), ("Bass", 45))]

    for i in range(n):
        sub = folder / ("a" if i % 2 else "b")
        sub.mkdir(parents=True, exist_ok=True)
        make_midi(satb(i)).write(str(sub / f"piece{i:02d}.mid"))
    folder.mkdir(parents=True, exist_ok=True)
    make_midi(satb(0), time_signatures=((3, 4, 0.0),)).write(str(folder / "waltz.mid"))
    (folder / "broken.mid").write_bytes(b"MThd garbage")
    return folder


def script_module(name: str):
    """A module of the repository's scripts/ folder (the scripts import each other by plain name)."""
    folder = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)
