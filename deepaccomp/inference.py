"""The exported generator as numpy: its forward pass without TensorFlow.

:class:`NumpyGenerator` computes what :func:`deepaccomp.models.build_generator`
computes in inference mode (``training=False``), from the weights a model file
holds (:func:`deepaccomp.artifact.read`), with numpy alone: the octave fold of
the melody, the encoder's strided convolutions with LeakyReLU and batch norm in
its inference form, the noise at the bottleneck, the decoder's nearest-neighbour
upsampling, convolutions, batch norm, ReLU and skips, the tanh output, and an
ensemble's mean (of values, or of log-odds: ``model.ensemble_mean``). Convolutions pad as TensorFlow's ``"same"`` does.

Floating-point sums run in another order than TensorFlow's, so values differ
from the Keras model's in the last bits: at most about 1e-5 in tanh range for
the shipped model, 1e-4 for random weights of the presets (the tests allow
3e-4). The shipped model's accompaniments and test-split figures are
byte-identical either way (``scripts/snapshot_outputs.py --compare``). Memory: the largest temporary is one layer's input, never
a patch matrix, so a call needs a few times the memory of its largest layer.
"""

from __future__ import annotations

import numpy as np

from .artifact import read
from .config import Config
from .decoding import LOG_ODDS_EPS

__all__ = ["BATCH_NORM_EPSILON", "NumpyGenerator", "load", "mean_log_odds", "VALUE_LIMIT", "HALF_LOG_ODDS_LIMIT"]

BATCH_NORM_EPSILON = 1e-3
"""Keras's default ``BatchNormalization`` epsilon, which the generator uses."""

LEAKY_SLOPE = np.float32(0.2)

VALUE_LIMIT = 1.0 - 2.0 * LOG_ODDS_EPS
"""The largest value whose log-odds an ensemble's ``"log_odds"`` mean counts: the probabilities
``(value + 1) / 2`` clipped to ``[LOG_ODDS_EPS, 1 - LOG_ODDS_EPS]``, as the decoding clips them."""

HALF_LOG_ODDS_LIMIT = float(np.arctanh(VALUE_LIMIT))
""":data:`VALUE_LIMIT` before the output's tanh (about 6.91): the generator's last activation, half the
log-odds of its value, is clipped to +-this in the ``"log_odds"`` mean."""


class NumpyGenerator:
    """A generator of ``config`` with ``weights`` (in ``get_weights`` order), called like the Keras model.

    Parameters
    ----------
    config : Config
        The model's config (architecture: filters, kernel, octave fold, ensemble).
    weights : list of numpy.ndarray
        float32 arrays of the shapes :meth:`~deepaccomp.config.Config.generator_weight_shapes` lists.
    """

    def __init__(self, config: Config, weights):
        expected = config.generator_weight_shapes()
        if [tuple(np.shape(w)) for w in weights] != [tuple(s) for s in expected]:
            raise ValueError("weights do not match the config's generator architecture")
        self.config = config
        self._weights = [np.asarray(w, np.float32) for w in weights]
        per_member = len(expected) // config.model.ensemble
        self.members = [_Unet(config, self._weights[i: i + per_member])
                        for i in range(0, len(expected), per_member)]

    def get_weights(self) -> list:
        """The weights, in the order the model file and ``keras.Model.get_weights`` hold them."""
        return list(self._weights)

    def __call__(self, inputs, training: bool = False) -> np.ndarray:
        """``[melody (batch, time, window, channels), noise (batch, time/2^L, window/2^L, noise_channels)]``
        -> ``(batch, time, window, output_tracks)`` float32 in tanh range. ``training`` must be false
        (batch norm in its inference form only)."""
        if training:
            raise ValueError("the numpy generator runs in inference mode only")
        melody, noise = (np.asarray(a, np.float32) for a in inputs)
        if len(self.members) > 1 and self.config.model.ensemble_mean == "log_odds":
            return mean_log_odds([member(melody, noise, squash=False) for member in self.members])
        out = self.members[0](melody, noise)
        for member in self.members[1:]:  # as keras.layers.Average: a running sum, then one division
            out += member(melody, noise)
        if len(self.members) > 1:
            out /= np.float32(len(self.members))
        return out


def mean_log_odds(activations) -> np.ndarray:
    """Generators joined by the mean of their log-odds, as a value (``model.ensemble_mean = "log_odds"``).

    A generator's value ``v = tanh(a)`` is the probability ``p = (v + 1) / 2``, whose log-odds is ``2 a``:
    the mean log-odds read back as a value is ``tanh(mean(a))``. Each ``a`` is clipped to
    +-:data:`HALF_LOG_ODDS_LIMIT` (the value to +-:data:`VALUE_LIMIT`, as the decoding clips it). Joined
    before the tanh, the mean never reads a log-odds back from a value rounded near +-1.

    Parameters
    ----------
    activations : sequence of ndarray, each shape (batch, time, pitch, tracks)
        The generators' last activations, before their tanh.

    Returns
    -------
    ndarray of float32, the activations' shape
        In tanh range.
    """
    limit = np.float32(HALF_LOG_ODDS_LIMIT)
    total = np.zeros(np.shape(activations[0]), np.float32)
    for a in activations:
        total += np.clip(np.asarray(a, np.float32), -limit, limit)
    return np.tanh(total / np.float32(len(activations)))


class _Unet:
    """One U-Net of the ensemble (see :mod:`deepaccomp.models`)."""

    def __init__(self, config: Config, weights: list):
        m = config.model
        self.octaves, self.window = m.melody_octaves, config.window.size
        it = iter(weights)
        self.encoder = [(next(it), next(it), _batch_norm(it) if i > 0 else None)
                        for i in range(len(m.encoder_filters))]
        self.decoder = [(PhaseKernels(next(it)), next(it), _batch_norm(it)) for _ in m.decoder_filters]
        kernel, bias = next(it), next(it)
        self.out = (PhaseKernels(kernel), bias)

    def __call__(self, melody: np.ndarray, noise: np.ndarray, squash: bool = True) -> np.ndarray:
        """The U-Net's output in tanh range, or (``squash`` false) its last activation before the tanh."""
        x = melody
        if self.octaves:
            x = np.concatenate([melody, octave_fold(melody)], axis=-1)
        skips = []
        for kernel, bias, norm in self.encoder:  # in place: the same arithmetic without temporaries
            x = conv2d(x, kernel, bias, stride=2)
            np.maximum(x, LEAKY_SLOPE * x, out=x)
            if norm is not None:
                x *= norm[0]
                x += norm[1]
            skips.append(x)
        x = np.concatenate([x, noise], axis=-1)
        for i, (kernel, bias, norm) in enumerate(self.decoder):
            x = upsample_conv2d(x, kernel, bias)
            x *= norm[0]
            x += norm[1]
            np.maximum(x, 0, out=x)
            x = np.concatenate([x, skips[-2 - i]], axis=-1)
        x = upsample_conv2d(x, *self.out)
        return np.tanh(x) if squash else x


def _batch_norm(weights) -> tuple:
    """Batch norm's ``gamma, beta, moving_mean, moving_variance`` as one scale and one offset (float32)."""
    gamma, beta, mean, variance = (next(weights) for _ in range(4))
    scale = gamma / np.sqrt(variance + np.float32(BATCH_NORM_EPSILON))
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def octave_fold(melody: np.ndarray) -> np.ndarray:
    """``(batch, time, pitch, channels)`` -> ``(batch, time, pitch, 1)``: +1 where the melody (channel 0,
    > 0 where it sounds) sounds the pitch class in any octave, -1 elsewhere (:class:`deepaccomp.models.OctaveFold`)."""
    pitch = np.arange(melody.shape[2])
    fold = ((pitch[:, None] - pitch[None, :]) % 12 == 0).astype(np.float32)
    classes = np.minimum((melody[..., 0] > 0).astype(np.float32) @ fold, 1.0)
    return (2.0 * classes - 1.0)[..., None].astype(np.float32)


def upsample(x: np.ndarray) -> np.ndarray:
    """Nearest-neighbour upsampling by 2 in time and pitch: ``(b, t, p, c)`` -> ``(b, 2t, 2p, c)``."""
    return np.repeat(np.repeat(x, 2, axis=1), 2, axis=2)


def _same_padding(size: int, k: int, stride: int) -> tuple[int, int]:
    """TensorFlow's ``"same"`` padding of one axis: ``(before, after)``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv2d(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray, stride: int) -> np.ndarray:
    """A 2-D convolution with ``"same"`` padding: ``(b, t, p, c)`` with kernel ``(k, k, c, f)`` -> ``(b, t', p', f)``,
    ``t' = ceil(t / stride)``. One matrix product per kernel offset, so no patch matrix is built."""
    b, t, p, _ = x.shape
    k = kernel.shape[0]
    (t0, t1), (p0, p1) = _same_padding(t, k, stride), _same_padding(p, k, stride)
    xp = _padded(x, (t0, t1), (p0, p1))
    ot, op = -(-t // stride), -(-p // stride)
    out, product = (np.empty((b, ot, op, kernel.shape[3]), np.float32) for _ in range(2))
    for n, (i, j) in enumerate((i, j) for i in range(k) for j in range(k)):  # bias + tap (0, 0) + tap (0, 1) + ...
        np.matmul(xp[:, i: i + stride * ot: stride, j: j + stride * op: stride], kernel[i, j], out=product if n else out)
        out += product if n else bias
    return out


def _padded(x: np.ndarray, time: tuple[int, int], pitch: tuple[int, int]) -> np.ndarray:
    """``x`` ``(b, t, p, c)`` with zeros before and after its time and pitch axes (``np.pad``'s result,
    without its per-call cost, a tenth of a small layer's time)."""
    b, t, p, c = x.shape
    out = np.zeros((b, t + sum(time), p + sum(pitch), c), x.dtype)
    out[:, time[0]: time[0] + t, pitch[0]: pitch[0] + p] = x
    return out


class PhaseKernels:
    """A kernel ``(k, k, c, f)`` as :func:`upsample_conv2d` uses it: for each of the four output phases
    ``(a, b)``, ``{(input offset in time, in pitch): the sum of the taps that read that input cell}``,
    summed once (when a model is loaded) instead of at every call."""

    def __init__(self, kernel: np.ndarray):
        k = kernel.shape[0]
        before = (k - 1) // 2  # "same" padding of a stride-1 convolution, whatever the length
        groups = [_taps_by_offset(a, k, before) for a in (0, 1)]
        offsets = [o for g in groups for o in g]
        self.lo, self.hi = max(0, -min(offsets)), max(0, max(offsets))
        self.filters = kernel.shape[3]
        self.phases = [[{(oi, oj): kernel[di][:, dj].sum(axis=(0, 1)) for oi, di in rows.items()
                         for oj, dj in cols.items()} for cols in groups] for rows in groups]


def upsample_conv2d(x: np.ndarray, kernel, bias: np.ndarray) -> np.ndarray:
    """``conv2d(upsample(x), kernel, bias, stride=1)`` without building the upsampled input.

    Output step ``2i + a`` of a kernel tap ``d`` reads the upsampled input at
    ``2i + a + d - before``, which is input step ``i + (a + d - before) // 2``: for each
    of the four phases ``(a, b)`` the taps that read the same input cell are summed
    into one kernel (a 4 x 4 kernel becomes 3 x 3, 3 x 2, 2 x 3 and 2 x 2), so the
    work is 25 / 64 of the plain convolution's for ``k = 4``. ``kernel``: ``(k, k, c, f)``, or its
    :class:`PhaseKernels` (summed once, as a loaded model keeps them).
    """
    kernels = kernel if isinstance(kernel, PhaseKernels) else PhaseKernels(kernel)
    b, t, p, _ = x.shape
    lo, hi = kernels.lo, kernels.hi
    xp = _padded(x, (lo, hi), (lo, hi))
    out = np.empty((b, 2 * t, 2 * p, kernels.filters), np.float32)
    phase, product = (np.empty((b, t, p, kernels.filters), np.float32) for _ in range(2))
    for a, row in enumerate(kernels.phases):
        for c, taps in enumerate(row):
            for n, ((oi, oj), w) in enumerate(taps.items()):  # bias + first tap + second tap + ..., in that order
                np.matmul(xp[:, lo + oi: lo + oi + t, lo + oj: lo + oj + p], w, out=product if n else phase)
                phase += product if n else bias
            out[:, a::2, c::2] = phase
    return out


def _taps_by_offset(phase: int, k: int, before: int) -> dict:
    """``{input offset: [kernel taps]}`` for output steps of ``phase`` (0 or 1) after upsampling by 2."""
    groups = {}
    for d in range(k):
        groups.setdefault((phase + d - before) // 2, []).append(d)
    return groups


def load(path) -> tuple[NumpyGenerator, Config]:
    """``(generator, config)`` from a model file, read and verified by :func:`deepaccomp.artifact.read`:
    the numpy generator, no TensorFlow."""
    config, weights = read(path)
    return NumpyGenerator(config, weights), config
