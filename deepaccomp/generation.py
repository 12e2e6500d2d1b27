"""The forward pass: melody rolls in, accompaniment rolls out, written once.

Every caller that runs a generator goes through :class:`ForwardPass`: the
:class:`~deepaccomp.Accompanist` (a user's MIDI), the training monitor (fixed
validation phrases and noise), the evaluation and the studio. The steps:

1. :func:`to_model_space`: a melody ``(time, 128, 1)`` in any key and octave
   is moved to C major / A minor by the key estimated from the melody alone,
   then by whole octaves near the chorale sopranos, then cropped to the
   model's pitch window (notes outside fold in by octaves);
2. :meth:`ForwardPass.accompany`: padded to the generator's time unit (or cut
   into phrases for a fixed-length generator), noise drawn, the generator run
   once per batch, a regenerated melody channel dropped, values decoded to
   notes (``config.generation``);
3. :func:`from_model_space`: back to 128 pitches with the shifts undone.

Rolls are boolean, ``(time, pitch, tracks)``; 16th-note steps.
"""

from __future__ import annotations

import numpy as np

from .config import Config, GenerationConfig
from .decoding import decode
from .metrics import estimate_key
from .representation import (
    STEPS_PER_BAR,
    crop_pitches,
    pad_time,
    position_planes,
    to_model_range,
    transpose_roll,
    truncated_normal,
    uncrop_pitches,
)

__all__ = ["ForwardPass", "SOPRANO_CENTER", "draw_noise", "model_input", "model_input_planes",
           "to_model_space", "from_model_space"]

SOPRANO_CENTER = 67
"""Mean soprano pitch of the key-normalised chorales (G4), where melodies are moved by octaves."""


def model_input_planes(config: Config, steps: int, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray | None:
    """The extra input channels beside the melody, ``(steps, window, k)`` float32, or ``None`` for a melody-only model."""
    if not config.model.position_channels:
        return None
    return position_planes(steps, config.window.size, steps_per_bar)


def model_input(melody: np.ndarray, config: Config, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
    """Bool melodies ``(n, time, window, 1)`` (step 0 a downbeat) -> the generator's melody input, float32."""
    x = to_model_range(melody)
    planes = model_input_planes(config, melody.shape[1], steps_per_bar)
    if planes is None:
        return x
    return np.concatenate([x, np.broadcast_to(planes, x.shape[:1] + planes.shape)], axis=-1)


def draw_noise(config: Config, rng: np.random.Generator, n: int, steps: int,
               noise_scale: float = 1.0) -> np.ndarray:
    """Generator noise for ``n`` melodies of ``steps`` steps: ``(n, *config.noise_shape(steps))`` float32.

    A unit truncated normal (``|z| <= 2``) times ``noise_scale``.
    """
    return truncated_normal(rng, (n,) + config.noise_shape(steps)) * np.float32(noise_scale)


class ForwardPass:
    """A generator and its config, run the one way every caller runs it.

    Parameters
    ----------
    generator : keras.Model
        ``[melody (batch, time, window, 1), noise] -> (batch, time, window, output_tracks)`` in tanh range.
    config : Config
        The generator's config: window, levels, fixed length, decoding.
    """

    def __init__(self, generator, config: Config):
        self.generator, self.config = generator, config

    def settings(self, **overrides) -> GenerationConfig:
        """``config.generation`` with the given non-``None`` settings replaced, validated."""
        values = {k: v for k, v in overrides.items() if v is not None}
        if not values:
            return self.config.generation
        settings = GenerationConfig(**{**self.config.generation.__dict__, **values})
        settings.validate()
        return settings

    def __call__(self, melody: np.ndarray, noise: np.ndarray, settings: GenerationConfig | None = None,
                 steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
        """One batch: melody ``(n, time, window, 1)`` bool (step 0 a downbeat) and noise
        -> accompaniment ``(n, time, window, 3)`` bool."""
        settings = settings or self.config.generation
        x = model_input(melody, self.config, steps_per_bar)
        # an eager call: no tf.function tracing, so the first call is as fast as the next
        values = np.asarray(self.generator([x, noise], training=False))
        if values.shape[-1] == 4:  # the lab's generator regenerates the melody too: drop it
            values = values[..., 1:]
        return decode(values, settings, melody)

    def accompany(self, melodies, *, seed: int | None = None, noise_scale: float | None = None,
                  steps_per_bar: int = STEPS_PER_BAR) -> list:
        """Model-space melodies ``[(time, window, 1)]`` bool -> accompaniments ``[(time, window, 3)]`` bool.

        All melodies go through the generator in one batch (one noise draw
        from ``seed``); a fixed-length generator gets them cut into phrases.
        Step 0 of every melody is a downbeat of bars of ``steps_per_bar`` steps.
        """
        settings = self.settings(noise_scale=noise_scale)
        rng = np.random.default_rng(seed)
        if self.config.model.fixed_length:
            return self._accompany_phrases(melodies, rng, settings, steps_per_bar)
        lengths = [m.shape[0] for m in melodies]
        longest = max(lengths) + (-max(lengths)) % self.config.time_unit
        batch = np.stack([np.pad(m, ((0, longest - m.shape[0]), (0, 0), (0, 0))) for m in melodies])
        noise = draw_noise(self.config, rng, len(batch), longest, settings.noise_scale)
        values = self(batch, noise, settings, steps_per_bar)
        return [values[i, :n] for i, n in enumerate(lengths)]

    def _accompany_phrases(self, melodies, rng, settings, steps_per_bar):
        steps = self.config.phrase_steps
        chunks, owners = [], []
        for i, m in enumerate(melodies):
            padded = pad_time(m, steps)
            for s in range(0, padded.shape[0], steps):
                chunks.append(padded[s: s + steps])
                owners.append(i)
        noise = draw_noise(self.config, rng, len(chunks), steps, settings.noise_scale)
        values = self(np.stack(chunks), noise, settings, steps_per_bar)
        owners = np.asarray(owners)
        return [np.concatenate(values[owners == i])[: m.shape[0]] for i, m in enumerate(melodies)]

    def accompany_full(self, melodies, *, seed: int | None = None, noise_scale: float | None = None,
                       steps_per_bar: int = STEPS_PER_BAR) -> list:
        """Melodies ``[(time, 128, 1)]`` in any key and octave -> accompaniments ``[(time, 128, 3)]`` in the melody's key."""
        prepared = [to_model_space(m, self.config) for m in melodies]
        accomp = self.accompany([p[0] for p in prepared], seed=seed, noise_scale=noise_scale,
                                steps_per_bar=steps_per_bar)
        return [from_model_space(a, shift, self.config) for a, (_, shift) in zip(accomp, prepared)]


def to_model_space(melody: np.ndarray, config: Config) -> tuple[np.ndarray, int]:
    """Melody ``(time, 128, 1)`` -> ``(model input (time, window, 1), total shift in semitones)``.

    The key estimated from the melody is moved to C major / A minor by the
    smallest shift, then whole octaves bring the melody's mean pitch near the
    chorale sopranos'; notes still outside the window fold in by octaves.
    """
    shift = estimate_key(melody).shift_to_c()
    shifted = transpose_roll(melody, shift) if shift else melody
    octave = _octave_shift(shifted)
    return _fold_into_window(transpose_roll(shifted, octave), config), shift + octave


def from_model_space(accomp: np.ndarray, total_shift: int, config: Config) -> np.ndarray:
    """Accompaniment ``(time, window, 3)`` -> ``(time, 128, 3)`` with the shifts of :func:`to_model_space` undone."""
    return transpose_roll(uncrop_pitches(accomp, config.window), -total_shift)


def _octave_shift(melody: np.ndarray) -> int:
    pitches = np.nonzero(melody[..., 0].any(axis=0))[0]
    weights = melody[..., 0].sum(axis=0)[pitches]
    mean = float(np.average(pitches, weights=weights))
    return 12 * int(round((SOPRANO_CENTER - mean) / 12))


def _fold_into_window(roll: np.ndarray, config: Config) -> np.ndarray:
    """Move notes outside the window by octaves until they fit; crop to the window."""
    window = config.window
    roll = roll.copy()
    for p in np.nonzero(roll.any(axis=(0, 2)))[0]:
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
