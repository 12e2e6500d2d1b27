"""Keras 3 models: the U-Net generator and the convolutional critic.

Generator: inputs ``melody (time, pitch, 1)`` and ``noise (time/2^L, pitch/2^L,
noise_channels)`` where L is the number of encoder levels; output the
accompaniment ``(time, pitch, output_tracks)`` in tanh range. Encoder levels:
Conv2D(k x k, stride 2) -> LeakyReLU(0.2) -> BatchNorm (none on the first
level); the noise is concatenated at the bottleneck; decoder levels:
UpSampling2D(2) -> Conv2D(k x k) -> BatchNorm -> ReLU -> concatenate the
matching encoder level; last: UpSampling2D(2) -> Conv2D(tracks, k x k, tanh).
With ``model.melody_octaves`` the melody's pitch classes, repeated in every octave
(:class:`OctaveFold`), join the input as one more channel.
With ``fixed_length=False`` the time axis is ``None``: the same weights
accompany a phrase or a whole piece (time padded to a multiple of 2^L).
With ``model.ensemble`` = k > 1 the generator is k such U-Nets, each trained in its
own run, given the same melody and noise, their outputs averaged (weights member
by member, in the order of :meth:`~deepaccomp.config.Config.generator_weight_shapes`):
their mean value, or with ``model.ensemble_mean = "log_odds"`` their mean log-odds
(:class:`LogOddsMean`).

Critic: input melody and accompaniment concatenated on the track axis;
Conv2D(k x k, stride 2) -> [LayerNorm] -> LeakyReLU(0.2) per level; Flatten;
Dense(1): an unnormalised score. No batch norm (it breaks the gradient penalty).
With ``model.critic_octaves`` every track (each accompaniment track and the melody)
also joins in every octave (:class:`OctaveFold` with ``soft=True``), so the first
convolution sees each voice's pitch class beside every other voice, whatever their
distance in pitch.
"""

from __future__ import annotations

from ._tf import keras  # first: TensorFlow imported without its start-up chatter
from keras import layers, ops
import numpy as np

from .config import Config
from .inference import HALF_LOG_ODDS_LIMIT

__all__ = ["input_shapes", "build_generator", "build_critic", "OctaveFold", "LogOddsMean"]


class OctaveFold(layers.Layer):
    """Pitch classes in every octave of the window.

    ``soft=False`` (the generator's melody channel): input ``(batch, time, pitch,
    channels)`` in model range, channel 0 the melody; output ``(batch, time, pitch,
    1)``: +1 at every pitch whose pitch class the melody sounds at that step (in any
    octave), -1 elsewhere.

    ``soft=True`` (the critic's tracks): every channel is folded and the fold stays
    differentiable, so the critic's gradient penalty reaches the generator's values:
    ``2 * sum_octaves((x + 1) / 2) - 1`` per channel, output ``(batch, time, pitch,
    channels)``. For a track that sounds one pitch at a time in model range
    (+1 / -1) it equals the hard fold; values between -1 and +1 add up over octaves.
    No weights in either case.
    """

    def __init__(self, pitches: int, soft: bool = False, **kw):
        super().__init__(**kw)
        self.pitches = pitches
        self.soft = soft
        i = np.arange(pitches)
        self._fold = (i[:, None] - i[None, :]) % 12 == 0  # (pitch, pitch): same pitch class

    def call(self, x):
        """``(batch, time, pitch, channels)`` -> ``(batch, time, pitch, 1 or channels)``, see the class docstring."""
        fold = ops.cast(self._fold, self.compute_dtype)
        if self.soft:
            on = (ops.cast(x, self.compute_dtype) + 1.0) / 2.0
            return 2.0 * ops.einsum("btpc,pq->btqc", on, fold) - 1.0
        on = ops.cast(x[..., 0] > 0, self.compute_dtype)
        classes = ops.minimum(ops.matmul(on, fold), 1.0)
        return ops.expand_dims(2.0 * classes - 1.0, -1)

    def get_config(self):
        """Keras layer config, with ``pitches`` and ``soft``."""
        return {**super().get_config(), "pitches": self.pitches, "soft": self.soft}


def input_shapes(cfg: Config):
    """``(melody_shape, noise_shape, accompaniment_shape)`` without the batch axis."""
    steps, size = cfg.model_steps, cfg.window.size
    return (steps, size, cfg.melody_channels), cfg.noise_shape(steps), (steps, size, cfg.model.output_tracks)


def build_generator(cfg: Config) -> keras.Model:
    """The U-Net generator of ``cfg`` (see module docstring); with ``model.ensemble`` = k > 1,
    k of them given the same inputs and their outputs averaged (weights member by member)."""
    if cfg.model.ensemble == 1:
        return _build_unet(cfg, "generator")
    melody_shape, noise_shape, _ = input_shapes(cfg)
    inputs = [keras.Input(melody_shape, name="melody"), keras.Input(noise_shape, name="noise")]
    log_odds = cfg.model.ensemble_mean == "log_odds"  # joined before the members' tanh
    outputs = [_build_unet(cfg, f"member{i}", activation=None if log_odds else "tanh")(inputs)
               for i in range(cfg.model.ensemble)]
    join = (LogOddsMean(name="ensemble_log_odds_mean", dtype="float32") if log_odds
            else layers.Average(name="ensemble_average", dtype="float32"))
    return keras.Model(inputs, join(outputs), name="generator")


class LogOddsMean(layers.Layer):
    """Generators joined by the mean of their log-odds (``model.ensemble_mean = "log_odds"``), from their
    last activations before the tanh: ``tanh(mean(clip(a, -HALF_LOG_ODDS_LIMIT, HALF_LOG_ODDS_LIMIT)))``,
    as :func:`deepaccomp.inference.mean_log_odds`."""

    def call(self, inputs):
        """The members' last activations (a list of tensors of one shape) -> their joined value, that shape."""
        limit = float(HALF_LOG_ODDS_LIMIT)
        clipped = [ops.clip(ops.cast(a, "float32"), -limit, limit) for a in inputs]
        return ops.tanh(ops.sum(ops.stack(clipped, axis=0), axis=0) / float(len(inputs)))


def _build_unet(cfg: Config, name: str, activation: str | None = "tanh") -> keras.Model:
    m = cfg.model
    melody_shape, noise_shape, _ = input_shapes(cfg)
    melody = keras.Input(melody_shape, name="melody")
    noise = keras.Input(noise_shape, name="noise")
    k = m.kernel_size
    x = melody
    if m.melody_octaves:
        x = layers.Concatenate(name="melody_octaves")([melody, OctaveFold(cfg.window.size, name="octave_fold")(melody)])
    skips = []
    for i, f in enumerate(m.encoder_filters):
        x = layers.Conv2D(f, k, strides=2, padding="same", name=f"enc{i}_conv")(x)
        x = layers.LeakyReLU(0.2, name=f"enc{i}_lrelu")(x)
        if i > 0:
            x = layers.BatchNormalization(momentum=m.batch_norm_momentum, name=f"enc{i}_bn")(x)
        skips.append(x)
    x = layers.Concatenate(name="bottleneck_noise")([x, noise])
    for i, f in enumerate(m.decoder_filters):
        x = layers.UpSampling2D(2, name=f"dec{i}_up")(x)
        x = layers.Conv2D(f, k, padding="same", name=f"dec{i}_conv")(x)
        x = layers.BatchNormalization(momentum=m.batch_norm_momentum, name=f"dec{i}_bn")(x)
        x = layers.ReLU(name=f"dec{i}_relu")(x)
        x = layers.Concatenate(name=f"dec{i}_skip")([x, skips[-2 - i]])
    x = layers.UpSampling2D(2, name="out_up")(x)
    out = layers.Conv2D(m.output_tracks, k, padding="same", activation=activation, name="out_conv",
                        dtype="float32")(x)  # float32 output under mixed precision
    return keras.Model([melody, noise], out, name=name)


def build_critic(cfg: Config) -> keras.Model:
    """The critic of ``cfg``: fixed phrase length, one unnormalised score per example."""
    m = cfg.model
    steps, size = cfg.phrase_steps, cfg.window.size
    melody = keras.Input((steps, size, cfg.melody_channels), name="melody")
    accomp = keras.Input((steps, size, m.output_tracks), name="accompaniment")
    x = layers.Concatenate(name="condition")([accomp, melody])
    if m.critic_octaves:
        tracks = layers.Concatenate(name="tracks")([accomp, melody[..., :1]])  # the music, not position channels
        x = layers.Concatenate(name="critic_octaves")([x, OctaveFold(size, soft=True, name="octave_fold")(tracks)])
    for i, f in enumerate(m.critic_filters):
        x = layers.Conv2D(f, m.kernel_size, strides=2, padding="same", name=f"conv{i}")(x)
        if m.critic_norm == "layer":
            x = layers.LayerNormalization(name=f"ln{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"lrelu{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    score = layers.Dense(1, name="score", dtype="float32")(x)  # float32 score under mixed precision
    return keras.Model([melody, accomp], score, name="critic")
