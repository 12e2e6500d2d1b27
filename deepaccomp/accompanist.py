"""``Accompanist``: add an accompaniment to a melody with a trained generator.

Data flow: MIDI -> melody roll (file's own grid) -> key normalisation (to C
major / A minor, as the training data) and an octave shift into the model's
soprano range -> generator (whole piece in one pass for fully convolutional
models, phrase by phrase otherwise) -> accompaniment roll -> shifts undone ->
MIDI on the input's own tempo map, with the input melody kept unchanged as
the first instrument.
"""

from __future__ import annotations

import copy
import os
from importlib import resources

import numpy as np
import pretty_midi

from .config import check_noise_scale
from .errors import DeepAccompError, InvalidMidiError, UnsupportedMeterError
from .midi import midi_to_roll, read_midi, resolve_programs, roll_to_notes
from .representation import (
    TRACK_NAMES,
    crop_pitches,
    decode,
    get_window,
    pad_time,
    transpose_roll,
    truncated_normal,
    uncrop_pitches,
)

SUPPORTED_METERS = {(4, 4), (2, 4), (3, 4), (2, 2), (6, 4), (3, 2)}
"""Meters whose beat is a quarter or half note; the model's grid is 16th notes of a quarter."""

SOPRANO_CENTER = 67
"""Mean soprano pitch of the key-normalised chorales (G4), where melodies are moved by octaves."""


def default_model_path() -> str:
    """Path of the generator shipped inside the package."""
    return str(resources.files("deepaccomp") / "assets" / "default_model" / "generator.npz")


class Accompanist:
    """Adds alto, tenor and bass parts to a melody.

    ``Accompanist()`` loads the model shipped in the package (offline);
    ``Accompanist.load(path)`` loads any exported ``generator.npz``.
    """

    def __init__(self, model_path: str | os.PathLike | None = None):
        from .training import load_generator

        self.model_path = os.fspath(model_path) if model_path is not None else default_model_path()
        self.generator, self.config = load_generator(self.model_path)
        self.window = get_window(self.config.data.pitch_window)
        self.levels = len(self.config.model.encoder_filters)

    @classmethod
    def from_generator(cls, generator, config) -> "Accompanist":
        """Wrap an in-memory generator (e.g. during training) and its :class:`~deepaccomp.config.Config`."""
        self = cls.__new__(cls)
        self.model_path = None
        self.generator, self.config = generator, config
        self.window = get_window(config.data.pitch_window)
        self.levels = len(config.model.encoder_filters)
        return self

    @classmethod
    def load(cls, path) -> "Accompanist":
        """Load an exported generator (a ``generator.npz`` or a folder holding one)."""
        return cls(path)

    # ------------------------------------------------------------------ public API
    def generate(self, melody_midi, *, seed: int | None = None, programs="choir",
                 melody_track: int | None = None, velocity: int = 70,
                 noise_scale: float | None = None) -> pretty_midi.PrettyMIDI:
        """Accompany a melody.

        Parameters
        ----------
        melody_midi : str, os.PathLike, bytes, pretty_midi.PrettyMIDI or pypianoroll.Multitrack
            The melody. With several instruments the melody is chosen by
            :func:`deepaccomp.midi.choose_melody_track` unless ``melody_track`` is given.
        seed : int, optional
            Same seed, same accompaniment; ``None`` draws a fresh one.
        programs : str or sequence of 3 int
            A preset (choir, piano, strings, organ, winds, brass) or General
            MIDI programs for alto, tenor and bass.
        velocity : int
            Velocity of the accompaniment notes.
        noise_scale : float, optional
            Spread of the generator's noise (default: the model's
            ``train.noise_scale``); larger gives more varied accompaniments.

        Returns
        -------
        pretty_midi.PrettyMIDI
            The input's melody instrument unchanged, then alto, tenor and
            bass, on the input's tempo map and time signatures.
        """
        return self.generate_batch([melody_midi], seed=seed, programs=programs,
                                   melody_track=melody_track, velocity=velocity,
                                   noise_scale=noise_scale)[0]

    def generate_batch(self, melodies, *, seed: int | None = None, programs="choir",
                       melody_track: int | None = None, velocity: int = 70,
                       noise_scale: float | None = None) -> list:
        """Accompany many melodies in one batched pass through the model."""
        if isinstance(velocity, bool) or not isinstance(velocity, (int, np.integer)) or not 1 <= velocity <= 127:
            from .errors import ConfigError

            raise ConfigError(f"velocity must be an integer 1..127, got {velocity!r}")
        if noise_scale is not None:
            check_noise_scale(noise_scale)
        prepared = [self._prepare(m, melody_track) for m in melodies]
        rolls = self.accompany_rolls([p[0] for p in prepared], seed=seed, noise_scale=noise_scale)
        return [self._render(p, acc, programs, velocity) for p, acc in zip(prepared, rolls)]

    def accompany_rolls(self, melodies, *, seed: int | None = None,
                        noise_scale: float | None = None) -> list:
        """Model-space core: melody rolls ``(time, window, 1)`` (bool, key-normalised)
        -> accompaniment rolls ``(time, window, 3)`` (bool)."""
        rng = np.random.default_rng(seed)
        scale = self.config.train.noise_scale if noise_scale is None else check_noise_scale(noise_scale)
        lengths = [m.shape[0] for m in melodies]
        cfg = self.config
        if cfg.model.fixed_length:
            return self._accompany_phrases(melodies, rng, scale)
        unit = 2**self.levels
        longest = max(lengths) + (-max(lengths)) % unit
        batch = np.stack([np.pad(m, ((0, longest - m.shape[0]), (0, 0), (0, 0))) for m in melodies])
        values = self._run(batch, rng, scale)
        return [values[i, : lengths[i]] for i in range(len(melodies))]

    # ------------------------------------------------------------------ internals
    def _run(self, melody_batch: np.ndarray, rng, noise_scale: float) -> np.ndarray:
        from .models import noise_shape_for

        x = np.where(melody_batch, 1.0, -1.0).astype(np.float32)
        shape = (len(x),) + noise_shape_for(self.config, x.shape[1])
        noise = truncated_normal(rng, shape) * np.float32(noise_scale)
        # an eager call: no tf.function tracing, so the first call is as fast as the next
        values = np.asarray(self.generator([x, noise], training=False))
        if values.shape[-1] == 4:  # the lab's generator regenerates the melody too
            values = values[..., 1:]
        t = self.config.train
        return decode(values, t.decode, t.decode_threshold)

    def _accompany_phrases(self, melodies, rng, noise_scale):
        steps = self.config.phrase_steps
        chunks, owners = [], []
        for i, m in enumerate(melodies):
            padded = pad_time(m, steps)
            for s in range(0, padded.shape[0], steps):
                chunks.append(padded[s : s + steps])
                owners.append(i)
        values = self._run(np.stack(chunks), rng, noise_scale)
        out = []
        for i, m in enumerate(melodies):
            parts = [values[k] for k, o in enumerate(owners) if o == i]
            out.append(np.concatenate(parts)[: m.shape[0]])
        return out

    def accompany_full_rolls(self, melodies, *, seed: int | None = None,
                             noise_scale: float | None = None) -> list:
        """Melody rolls ``(time, 128, 1)`` in any key and octave -> accompaniment
        rolls ``(time, 128, 3)`` in the melody's own key (key and octave shifts undone)."""
        prepared = [self.to_model_space(m) for m in melodies]
        accomp = self.accompany_rolls([p[0] for p in prepared], seed=seed, noise_scale=noise_scale)
        return [self.from_model_space(a, p[1]) for a, p in zip(accomp, prepared)]

    def to_model_space(self, melody_roll):
        """Melody ``(time, 128, 1)`` -> ``(model input (time, window, 1), total shift)``.

        The key estimated from the melody is moved to C major / A minor by the
        smallest shift, then whole octaves bring the melody's mean pitch near
        the chorale sopranos'; notes still outside the window fold in by octaves.
        """
        from .metrics import estimate_key

        key = estimate_key(melody_roll)
        shift = key.shift_to_c()
        shifted = transpose_roll(melody_roll, shift) if shift else melody_roll
        octave = self._octave_shift(shifted)
        return _fold_into_window(transpose_roll(shifted, octave), self.window), shift + octave

    def from_model_space(self, accomp, total_shift: int):
        """Accompaniment ``(time, window, 3)`` -> ``(time, 128, 3)`` with shifts undone."""
        return transpose_roll(uncrop_pitches(accomp, self.window), -total_shift)

    def _prepare(self, melody_midi, melody_track):
        pm = _as_pretty_midi(melody_midi)
        roll, info = midi_to_roll(pm, melody_track=melody_track)
        meters = set(info.time_signatures)
        bad = meters - SUPPORTED_METERS
        if bad:
            raise UnsupportedMeterError(
                f"time signature(s) {sorted(f'{n}/{d}' for n, d in bad)} are not supported; "
                f"the model handles {sorted(f'{n}/{d}' for n, d in SUPPORTED_METERS)}")
        model_in, total_shift = self.to_model_space(roll)
        return model_in, pm, info, total_shift

    def _octave_shift(self, roll_full) -> int:
        pitches = np.nonzero(roll_full[..., 0].any(axis=0))[0]
        weights = roll_full[..., 0].sum(axis=0)[pitches]
        mean = float(np.average(pitches, weights=weights))
        octave = 12 * int(round((SOPRANO_CENTER - mean) / 12))
        return octave

    def _render(self, prepared, accomp, programs, velocity):
        _, pm, info, total_shift = prepared
        full = self.from_model_space(accomp, total_shift)
        out = copy.deepcopy(info.template)
        out.instruments.append(copy.deepcopy(pm.instruments[info.melody_index]))
        progs = _accompaniment_programs(programs)
        times = info.step_times(full.shape[0])
        for k, name in enumerate(TRACK_NAMES[1:]):
            inst = pretty_midi.Instrument(program=progs[k], name=name)
            inst.notes = roll_to_notes(full[:, :, k], times, velocity=velocity)
            out.instruments.append(inst)
        return out


def _accompaniment_programs(programs):
    from .midi import PROGRAM_PRESETS

    if isinstance(programs, str):
        return resolve_programs(programs, 4)[1:] if programs in PROGRAM_PRESETS else resolve_programs(programs, 3)
    return resolve_programs(programs, 3)


def _fold_into_window(roll_full, window):
    """Move notes outside the window by octaves until they fit; crop to the window."""
    roll = roll_full.copy()
    pitches = np.nonzero(roll.any(axis=(0, 2)))[0]
    for p in pitches:
        if window.lowest <= p <= window.highest:
            continue
        q = p
        while q < window.lowest:
            q += 12
        while q > window.highest:
            q -= 12
        roll[:, q, :] |= roll[:, p, :]
        roll[:, p, :] = False
    return crop_pitches(roll, window)


def _as_pretty_midi(melody_midi) -> pretty_midi.PrettyMIDI:
    try:
        import pypianoroll
    except ImportError:  # pragma: no cover - a dependency, but keep the error clear
        pypianoroll = None
    if pypianoroll is not None and isinstance(melody_midi, pypianoroll.Multitrack):
        from .compat import multitrack_to_pretty_midi

        try:
            return multitrack_to_pretty_midi(melody_midi)
        except DeepAccompError:
            raise
        except Exception as exc:
            raise InvalidMidiError(f"cannot convert the pypianoroll Multitrack ({exc})") from exc
    return read_midi(melody_midi)


__all__ = ["Accompanist", "default_model_path", "SUPPORTED_METERS"]
