"""WGAN-GP training with Keras ``fit``: the heart of the library.

:class:`WGANGP` is a ``keras.Model`` with its own ``train_step`` (the keras-io
WGAN-GP idiom): each step makes ``critic_updates`` critic updates, each on its
own minibatch, then one generator update. ``fit`` brings the progress bar,
callbacks and ``tf.distribute``. :func:`train` wires data, models,
checkpoints (``tf.train.CheckpointManager``), TensorBoard and evaluation.

Losses (per minibatch):

* critic: ``mean(D(m, fake)) - mean(D(m, real)) + gp_weight * GP``, GP on
  ``eps * real + (1 - eps) * fake`` with ``eps ~ U[0, 1]`` per example, the
  melody ``m`` held fixed as the condition;
* generator: ``-mean(D(m, fake)) + reconstruction_weight * R(fake, real)
  + pitch_weight * P + onset_weight * O - diversity_weight * MS``, R = binary
  cross-entropy on ``(x + 1) / 2`` or L1, P = :func:`pitch_cross_entropy` (each
  sounding track's real pitch against a softmax over pitch), O = :func:`onset_loss`
  (whether a note of each track starts at each step), MS = the mode-seeking ratio
  ``mean|G(m,z1) - G(m,z2)| / mean|z1 - z2|`` (all four weights 0 = the lab).
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import warnings

from tqdm import tqdm

from . import artifact, shards
from ._tf import keras, tf
from . import config as config_mod
from .config import Config
from .data import make_tf_dataset, prepare
from .errors import CheckpointError, ConfigError, OutputFileError, TrainingError, brief
from .generation import model_input_planes
from .io_utils import PidLock, atomic_write_bytes
from .models import build_critic, build_generator
from .monitoring import Monitor, record_time

__all__ = ["WGANGP", "GeneratorAverage", "average_decay_at", "build_gan", "train", "export_checkpoint", "checkpoint_iterations", "gradient_penalty", "reconstruction_loss", "pitch_cross_entropy", "onset_loss", "make_strategy",
           "read_tf_config", "is_chief", "strategy_task", "CHECKPOINT_DIR", "EXPORT_NAME", "LOCK_NAME",
           "export_generator", "load_generator", "read_artifact"]

CHECKPOINT_DIR = "checkpoints"
EXPORT_NAME = artifact.FILE_NAME
LAST_EXPORT_NAME = "generator_last.npz"
"""With ``train.average_decay``: the last iteration's weights, beside the averaged ``generator.npz``."""
LOCK_NAME = "train.lock"
"""The logdir's lock file: pid, host and progress of the run training there."""
STATE_LINE = re.compile(r'\s*(?:#.*|(model_checkpoint_path|all_model_checkpoint_paths|'
                        r'all_model_checkpoint_timestamps|last_preserved_timestamp)\s*:\s*("[^"\\]*"|[-+.\deE]+))?\s*')
"""A line of the ``checkpoint`` index as ``tf.train.CheckpointManager`` writes it (protobuf text format)."""
HEARTBEAT_SECONDS = 30.0
ESTIMATE_AFTER = 10
"""Timed iterations (after the first, which traces the graph) before the time estimate is printed."""


# ---------------------------------------------------------------------- core maths
def gradient_penalty(critic, melody, real, fake, eps):
    """WGAN-GP penalty: ``mean((||grad_x D(m, x)||_2 - 1)^2)`` at ``x = eps*real + (1-eps)*fake``.

    Parameters
    ----------
    critic : callable ``(melody, accompaniment) -> (batch, 1)``
    melody : tensor ``(batch, time, pitch, 1)``
    real, fake : tensors ``(batch, time, pitch, tracks)``
    eps : tensor ``(batch, 1, 1, 1)`` drawn from U[0, 1]

    The norm is ``sqrt(1e-8 + sum(grad**2))`` per example, as in the lab.
    """
    x = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = critic([melody, x], training=True)
    grad = tape.gradient(score, x)
    slopes = tf.sqrt(1e-8 + tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
    return tf.reduce_mean(tf.square(slopes - 1.0))


def _probability(values):
    """Model-range values read as the probabilities ``(x + 1) / 2`` the loss terms score, kept off 0 and 1."""
    return tf.clip_by_value((values + 1.0) / 2.0, 1e-6, 1.0 - 1e-6)


def reconstruction_loss(fake, real, kind: str):
    """Pix2pix-style term: BCE on ``(x+1)/2`` (``kind="bce"``) or L1, averaged over cells."""
    if kind == "l1":
        return tf.reduce_mean(tf.abs(fake - real))
    p = _probability(fake)
    y = (real + 1.0) / 2.0
    return -tf.reduce_mean(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))


PITCH_LOGIT_SCALE = 5.0
"""Logit scale of :func:`pitch_cross_entropy`: tanh outputs in [-1, 1] become logits in [-5, 5]."""


def pitch_cross_entropy(fake, real):
    """Cross-entropy of each sounding track's real pitch under a softmax over the pitch axis.

    Per-cell BCE scores every pitch on its own; this term asks the right pitch to rank
    first among the track's pitches, which is what a one-note-per-voice decoding reads.

    Parameters
    ----------
    fake, real : tensors, shape (batch, time, pitch, tracks), model range [-1, 1]
        Generated and real accompaniment; a real cell sounds where it is > 0.

    Returns
    -------
    scalar tensor
        Mean over the (example, step, track) where the real track sounds of
        ``-sum_p target_p * log softmax(PITCH_LOGIT_SCALE * fake)_p``, the target spread
        evenly over the real pitches sounding there; 0 when no real track sounds.
    """
    target = tf.cast(real > 0, fake.dtype)
    counts = tf.reduce_sum(target, axis=2, keepdims=True)
    sounding = tf.cast(counts > 0, fake.dtype)
    log_p = tf.nn.log_softmax(PITCH_LOGIT_SCALE * fake, axis=2)
    per_step = -tf.reduce_sum(target / tf.maximum(counts, 1.0) * log_p, axis=2, keepdims=True)
    return tf.reduce_sum(per_step * sounding) / tf.maximum(tf.reduce_sum(sounding), 1.0)


def onset_loss(fake, real):
    """Cross-entropy of whether a note of each track starts at each step: the rhythm, cell by cell blind to it.

    A cell's value read as the probability ``p = (x + 1) / 2`` that it sounds, a note
    starts at a cell with probability ``p_t (1 - p_{t-1})`` (``p_{-1} = 0``) and some note
    of the track at a step with ``1 - prod over pitch of (1 - that)``; the real track has an
    onset at a step where a pitch sounds (> 0) that did not sound the step before (a
    re-strike gap, ``data.restrike_gaps``, makes a re-struck note one).

    Parameters
    ----------
    fake, real : tensors, shape (batch, time, pitch, tracks), model range [-1, 1]

    Returns
    -------
    scalar tensor
        The binary cross-entropy, averaged over (example, step, track).
    """
    p = _probability(fake)
    before = tf.concat([tf.zeros_like(p[:, :1]), p[:, :-1]], axis=1)
    none = tf.exp(tf.reduce_sum(tf.math.log(1.0 - p * (1.0 - before)), axis=2))
    q = tf.clip_by_value(1.0 - none, 1e-6, 1.0 - 1e-6)
    on = real > 0
    was_on = tf.concat([tf.zeros_like(on[:, :1]), on[:, :-1]], axis=1)
    y = tf.cast(tf.reduce_any(on & ~was_on, axis=2), fake.dtype)
    return -tf.reduce_mean(y * tf.math.log(q) + (1.0 - y) * tf.math.log(1.0 - q))


class WGANGP(keras.Model):
    """Generator + critic trained by WGAN-GP; ``fit`` it on ``(melody, accompaniment)`` batches.

    Each batch must hold ``critic_updates`` minibatches back to back (the
    dataset is batched at ``batch_size * critic_updates``): one critic update
    on each, then one generator update on the last, with fresh noise.
    """

    def __init__(self, generator, critic, cfg: Config, generator_average=None, **kw):
        super().__init__(**kw)
        self.generator = generator
        self.critic = critic
        self.generator_average = generator_average
        self.cfg = cfg
        self.seed_generator = keras.random.SeedGenerator(cfg.train.seed)
        self.critic_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="critic_steps")

    def compile(self, g_optimizer, d_optimizer, **kw):
        """Set the generator's and the critic's optimisers (other keyword arguments go to Keras)."""
        super().compile(**kw)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def exported_generator(self):
        """The generator that is evaluated and exported: the weight average where there is one."""
        return self.generator if self.generator_average is None else self.generator_average

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras 3 builds here from a first batch averaged over replicas, which fails for the
        # (melody, accompaniment) pair of a multi-worker run; build_gan has built every network
        # and optimiser already, so there the step's first trace builds what is left, as without a strategy
        if _multi_worker(self.distribute_strategy):
            return None
        return super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)

    def call(self, inputs, training=False):
        """``[melody, noise]`` or just ``melody`` (fresh noise) -> accompaniment."""
        if isinstance(inputs, (list, tuple)):
            melody, noise = inputs
        else:
            melody, noise = inputs, self.sample_noise(inputs)
        return self.generator([melody, noise], training=training)

    def sample_noise(self, melody):
        """Unit truncated-normal noise for a melody batch, from the model's seed generator."""
        shape = self.cfg.noise_shape(int(melody.shape[1]))
        batch = tf.shape(melody)[0]
        return tf.random.stateless_truncated_normal(tf.concat([[batch], shape], 0), seed=self._next_seed())

    def _next_seed(self):
        seed = tf.cast(keras.random.randint((2,), 0, 2**30, seed=self.seed_generator), tf.int32)
        # every replica draws the same seed from the shared generator: fold in the
        # replica id so noise and GP interpolation weights differ across replicas
        ctx = tf.distribute.get_replica_context()
        replica = ctx.replica_id_in_sync_group if ctx is not None else 0
        return seed + tf.stack([tf.cast(replica, tf.int32), 0])

    def _target(self, melody, accomp):
        # the lab's generator regenerates every track, so its "real" is the melody too
        if self.cfg.regenerates_melody:
            return tf.concat([melody[..., :1], accomp], axis=-1)
        return accomp

    def train_step(self, data):
        """``critic_updates`` critic updates, one per minibatch of ``data``, then one generator update."""
        melody_all, accomp_all = data
        n = self.cfg.train.critic_updates
        size = tf.shape(melody_all)[0] // n
        for i in range(n):
            melody = melody_all[i * size:(i + 1) * size]
            real = self._target(melody, accomp_all[i * size:(i + 1) * size])
            d_loss, gp, wasserstein = self.critic_step(melody, real)
        logs = {"d_loss": d_loss, "gp": gp, "wasserstein": wasserstein, **self.generator_step(melody, real)}
        if _multi_worker(self.distribute_strategy):
            # Keras averages a multi-worker step's outputs over replicas along axis 0: give each one
            logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def critic_step(self, melody, real):
        """One critic update on a minibatch; returns ``(loss, gradient penalty, D(real) - D(fake))``."""
        t = self.cfg.train
        noise = self.sample_noise(melody)
        eps = tf.random.stateless_uniform(tf.stack([tf.shape(melody)[0], 1, 1, 1]), seed=self._next_seed())
        with tf.GradientTape() as tape:
            fake = self.generator([melody, noise], training=True)
            d_real = tf.reduce_mean(self.critic([melody, real], training=True))
            d_fake = tf.reduce_mean(self.critic([melody, fake], training=True))
            gp = gradient_penalty(self.critic, melody, real, fake, eps)
            d_loss = d_fake - d_real + t.gp_weight * gp
            scaled = d_loss / _replicas()
        grads = tape.gradient(scaled, self.critic.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
        self.critic_steps.assign_add(1)
        return d_loss, gp, d_real - d_fake

    def generator_step(self, melody, real):
        """One generator update with fresh noise; returns its loss terms."""
        t = self.cfg.train
        noise = self.sample_noise(melody)
        with tf.GradientTape() as tape:
            fake = self.generator([melody, noise], training=True)
            g_loss = -tf.reduce_mean(self.critic([melody, fake], training=True))
            recon = tf.constant(0.0)
            if t.reconstruction_weight > 0:
                recon = reconstruction_loss(fake, real, t.reconstruction_loss)
                g_loss = g_loss + t.reconstruction_weight * recon
            pitch = tf.constant(0.0)
            if t.pitch_weight > 0:
                pitch = pitch_cross_entropy(fake, real)
                g_loss = g_loss + t.pitch_weight * pitch
            onset = tf.constant(0.0)
            if t.onset_weight > 0:
                onset = onset_loss(fake, real)
                g_loss = g_loss + t.onset_weight * onset
            diversity = tf.constant(0.0)
            if t.diversity_weight > 0:
                diversity = self._mode_seeking(melody, fake, noise)
                g_loss = g_loss - t.diversity_weight * diversity
            scaled = g_loss / _replicas()
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return {"g_loss": g_loss, "recon": recon, "pitch": pitch, "onset": onset, "diversity": diversity}

    def _mode_seeking(self, melody, fake, noise):
        """MSGAN's ratio ``mean|G(m, z1) - G(m, z2)| / mean|z1 - z2|`` with a second noise draw."""
        noise2 = self.sample_noise(melody)
        fake2 = self.generator([melody, noise2], training=True)
        return tf.reduce_mean(tf.abs(fake - fake2)) / (tf.reduce_mean(tf.abs(noise - noise2)) + 1e-5)


def average_decay_at(iteration: int, decay: float) -> float:
    """Decay of the weight average after generator update ``iteration`` (1, 2, ...).

    ``min(decay, (1 + iteration) / (10 + iteration))``: early in a run the average
    follows the weights closely, so the random initial weights fade out quickly.
    """
    return min(decay, (1.0 + iteration) / (10.0 + iteration))


class GeneratorAverage(keras.callbacks.Callback):
    """Keeps ``average``'s weights an exponential moving average of ``source``'s.

    After each batch (one generator update), every weight (moving batch-norm
    statistics included) becomes ``d * average + (1 - d) * source`` with
    ``d = average_decay_at(iterations, decay)``; ``iterations`` is the generator
    optimiser's counter, so a resumed run continues the same schedule.
    Runs outside the compiled step, where assigning a mirrored variable updates every replica.
    """

    def __init__(self, source, average, iterations, decay: float):
        super().__init__()
        self.source, self.average, self.iterations, self.decay = source, average, iterations, decay

    def on_train_batch_end(self, batch, logs=None):
        """Fold the weights after this batch's generator update into the average."""
        d = average_decay_at(int(self.iterations.numpy()), self.decay)
        for a, w in zip(self.average.weights, self.source.weights):
            a.assign(d * a + (1.0 - d) * w)


def _replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


@contextlib.contextmanager
def _dtype_policy(name: str | None):
    """Build layers under Keras dtype policy ``name`` (``None``: leave it); restored after."""
    previous = keras.config.dtype_policy()
    if name is not None:
        keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _synchronize_batch_norm(model) -> None:
    """Batch statistics over the global batch, all-reduced across replicas (Keras ``synchronized``).

    Without it each replica normalises by its own slice of the batch and keeps its own
    moving averages, so the workers' generators would drift apart; with it every
    replica normalises as a single device would at the same global batch.
    """
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def build_gan(cfg: Config, strategy=None):
    """Generator, critic, optimisers and the compiled :class:`WGANGP` under ``strategy``."""
    strategy = strategy or tf.distribute.get_strategy()
    t = cfg.train
    with strategy.scope(), _dtype_policy("mixed_bfloat16" if t.mixed_precision == "bfloat16" else None):
        keras.utils.set_random_seed(t.seed)
        gen = build_generator(cfg)
        critic = build_critic(cfg)
        average = None
        if t.average_decay > 0:  # built last: the other networks' initial weights stay those of a run without
            average = build_generator(cfg)
            average.set_weights(gen.get_weights())
        if strategy.num_replicas_in_sync > 1:
            _synchronize_batch_norm(gen)
        gan = WGANGP(gen, critic, cfg, generator_average=average)
        g_opt = keras.optimizers.Adam(t.generator_lr, beta_1=t.beta_1, beta_2=t.beta_2)
        d_opt = keras.optimizers.Adam(t.critic_lr, beta_1=t.beta_1, beta_2=t.beta_2)
        gan.compile(g_opt, d_opt, jit_compile=t.jit_compile)
        g_opt.build(gen.trainable_variables)
        d_opt.build(critic.trainable_variables)
    return gan


# ---------------------------------------------------------------------- strategies
def read_tf_config() -> dict:
    """The cluster of a multi-worker run: the ``TF_CONFIG`` environment variable, checked.

    Returns
    -------
    dict
        ``{"cluster": {"chief": [...], "worker": ["host:port", ...]}, "task": {"type": ..., "index": ...}}``
        as TensorFlow reads it (training operators and managed services set it).

    Raises
    ------
    ConfigError
        ``TF_CONFIG`` is missing, not JSON, lists no worker, or names a task
        that is not in its cluster.
    """
    text = os.environ.get("TF_CONFIG", "").strip()
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\' (docs/scaling.md)')
    if not text:
        raise ConfigError(f"train.distribute = 'multi-worker' needs the TF_CONFIG environment variable; {example}")
    try:
        spec = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc}); {example}") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not cluster or not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG needs a 'cluster' object and a 'task' object; {example}")
    for role, addresses in cluster.items():
        if role not in ("chief", "worker") or not isinstance(addresses, list) or not addresses or not all(
                isinstance(a, str) and re.fullmatch(r"[^\s:]+:\d{1,5}|\[[0-9a-fA-F:]+\]:\d{1,5}", a)
                for a in addresses):
            raise ConfigError(f"TF_CONFIG cluster.{role}: expected 'chief' or 'worker' with a list of "
                              f"'host:port' addresses, got {addresses!r}")
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError("TF_CONFIG lists more than one chief")
    kind, index = task.get("type"), task.get("index")
    if kind not in cluster or isinstance(index, bool) or not isinstance(index, int) \
            or not 0 <= index < len(cluster[kind]):
        raise ConfigError(f"TF_CONFIG task {task!r} is not in its cluster {sorted(cluster)} "
                          "(task.type must be one of them, task.index a position in its list)")
    return spec


def make_strategy(distribute: str = "default"):
    """The ``tf.distribute`` strategy of ``train.distribute``.

    Parameters
    ----------
    distribute : str
        ``"default"``: TensorFlow's default strategy (one device).
        ``"mirrored"``: ``MirroredStrategy`` over every GPU of this machine
        (the CPU without one). ``"multi-worker"``: ``MultiWorkerMirroredStrategy``
        over the cluster in ``TF_CONFIG`` (:func:`read_tf_config`); every worker
        runs the same command.

    Raises
    ------
    ConfigError
        Unknown value, or a missing or bad ``TF_CONFIG``.
    TrainingError
        The multi-worker strategy was asked for after TensorFlow already ran
        an operation in this process (it must come first).
    """
    if distribute == "default":
        return tf.distribute.get_strategy()
    if distribute == "mirrored":
        return tf.distribute.MirroredStrategy()
    if distribute != "multi-worker":
        raise ConfigError(f"train.distribute must be one of {list(config_mod.DISTRIBUTE_CHOICES)}, "
                          f"got {distribute!r}")
    read_tf_config()
    options = tf.distribute.experimental.CommunicationOptions(
        implementation=tf.distribute.experimental.CommunicationImplementation.AUTO)  # NCCL on GPUs, ring on CPUs
    try:
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    except (RuntimeError, ValueError) as exc:
        raise TrainingError(
            f"cannot start the multi-worker strategy ({exc}); it must be created before TensorFlow runs "
            "anything else in the process: start each worker as a fresh `deepaccomp train --distribute "
            "multi-worker` (or call train() first thing in a new Python process)") from exc


def is_chief(strategy) -> bool:
    """Whether this process writes the run (TensorBoard, checkpoints, export): always, except on a
    multi-worker run's non-chief workers."""
    return bool(strategy.extended.should_checkpoint)


def _multi_worker(strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def _check_replicas(cfg: Config, strategy) -> None:
    replicas = strategy.num_replicas_in_sync
    if cfg.train.batch_size % replicas:
        raise TrainingError(
            f"train.batch_size {cfg.train.batch_size} (the global minibatch) does not divide evenly by the "
            f"{replicas} replicas of this run; use a multiple of {replicas} (each replica gets batch_size / "
            f"{replicas} examples)")


def _worker_lost(exc, ckpt_dir: str) -> TrainingError:
    """The error of a multi-worker run whose collectives failed (a worker died or cannot be reached)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    at = next((i for i, line in enumerate(lines) if re.search(r"unhealthy|abort|unavailable|connect", line, re.I)),
              None)
    first = type(exc).__name__ if at is None else " ".join(lines[at:at + 2 if lines[at].endswith(":") else at + 1])
    latest = tf.train.latest_checkpoint(ckpt_dir)
    resume = f"the last checkpoint ({latest})" if latest else "the beginning (no checkpoint was saved yet)"
    return TrainingError(f"the multi-worker run stopped: {first[:300]}; start every worker again with the "
                         f"same command: the run resumes from {resume}")


def _check_same_start(strategy, start: int) -> None:
    """All workers of a multi-worker run restored the same iteration (else their collectives would mismatch)."""
    if not _multi_worker(strategy):
        return
    @tf.function  # eager collectives are slow and warn
    def summed(x):
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, (x,)), axis=None)

    def total(x):  # the sum over every replica of the cluster
        return int(summed(tf.constant(x, tf.int64)).numpy())

    replicas = strategy.num_replicas_in_sync
    mean = total(start) / replicas
    if total(abs(start - round(mean))) != 0:  # the same on every worker, so all of them raise
        raise TrainingError(
            f"the workers restored different iterations (on average {mean:g}, this one {start}): every worker "
            "must read the chief's checkpoints, so the --logdir must be one folder on a file system all "
            "workers share")


# ---------------------------------------------------------------------- training run
def _check_logdir(logdir: str) -> None:
    try:
        os.makedirs(logdir, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"{brief(logdir)}: cannot create the log folder "
                              f"({brief(exc.strerror or str(exc))})") from exc
    probe = os.path.join(logdir, ".write-test")
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 1024 * 1024)  # 1 MB: a full disk fails here, not after an hour
        os.remove(probe)
    except OSError as exc:
        raise OutputFileError(
            f"{brief(logdir)}: cannot write to the log folder ({brief(exc.strerror or str(exc))}); "
            "choose a writable --logdir with free space") from exc


def _checkpoint_numbers(ckpt_dir: str) -> list:
    """Numbers ``N`` of the complete-looking checkpoints ``ckpt-N.index`` in ``ckpt_dir``, ascending."""
    try:
        names = os.listdir(ckpt_dir)
    except OSError:
        return []
    return sorted(int(m.group(1)) for m in map(re.compile(r"ckpt-(\d+)\.index$").match, names) if m)


def _check_checkpoint_state(ckpt_dir: str) -> None:
    """Refuse a damaged ``checkpoint`` state file (the CheckpointManager's index) before anything is written.

    TensorFlow ignores an unreadable state file and starts again from zero,
    overwriting the checkpoints it no longer sees; here it is a
    :class:`CheckpointError` that names the checkpoints still on disk and how
    to point the state file back at one of them.
    """
    path = os.path.join(ckpt_dir, "checkpoint")
    numbers = _checkpoint_numbers(ckpt_dir)
    if not os.path.exists(path):
        problem = "is missing" if numbers else None
    else:
        problem = None
        try:
            with open(path, encoding="utf-8") as fh:
                lines = [STATE_LINE.fullmatch(line) for line in fh.read().splitlines()]
        except (OSError, UnicodeDecodeError) as exc:
            problem = f"is unreadable ({type(exc).__name__})"
        else:
            targets = [m.group(2).strip('"') for m in lines if m and m.group(1) == "model_checkpoint_path"]
            if not all(lines):
                problem = "is unreadable (not a checkpoint index)"
            elif len(targets) != 1 or not targets[0]:
                problem = "names no checkpoint"
            elif not os.path.exists(os.path.join(ckpt_dir, targets[0]) + ".index"):
                problem = f"names {targets[0]}, which is not there"
    if problem is None:
        return
    if numbers:
        have = ", ".join(f"ckpt-{n}" for n in numbers)
        fix = (f"checkpoints still here: {have}; to resume from the newest, write the line "
               f"model_checkpoint_path: \"ckpt-{numbers[-1]}\" into {brief(path)}, or train in a new --logdir")
    else:
        fix = f"no checkpoint files are left: delete {brief(path)} to start again from zero"
    raise CheckpointError(f"{brief(path)}: the checkpoint index {problem}; nothing was changed. {fix}")


def _remove_temp_folders(ckpt_dir: str) -> None:
    """Delete the ``ckpt-N_temp`` folders a save killed half-way leaves behind."""
    if not os.path.isdir(ckpt_dir):
        return
    for name in os.listdir(ckpt_dir):
        full = os.path.join(ckpt_dir, name)
        if re.fullmatch(r"ckpt-\d+_temp", name) and os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)


def _check_resume_config(logdir: str, cfg: Config) -> None:
    path = config_mod.config_path(logdir)
    if not os.path.exists(path):
        return
    try:
        old = Config.load(path)
    except ConfigError as exc:
        raise CheckpointError(f"{brief(path)}: the run's saved config is unreadable ({brief(str(exc), 1000)})") from exc
    same = (old.model == cfg.model and old.data == cfg.data)
    if not same:
        raise CheckpointError(
            f"{brief(logdir)} holds a run with another model or data config; "
            "use a new --logdir or the same config to resume")


class _LogdirLock(PidLock):
    """``LOGDIR/train.lock``: one training run per logdir.

    The file holds the owner's pid, host, start time and progress (updated
    every :data:`HEARTBEAT_SECONDS`). A lock whose process is gone (same host,
    dead pid, or unreadable and older than a minute) is stale: it is taken over
    and the killed run is added to ``timing.json``. A live one is a
    :class:`TrainingError`.
    """

    def __init__(self, logdir: str, verbose: int = 1):
        super().__init__(os.path.join(logdir, LOCK_NAME), TrainingError, "another training run",
                         "wait for it to finish or use another --logdir", subject=logdir)
        self.logdir, self.verbose = logdir, verbose
        self.info.update(start_iteration=None, iteration=None, seconds=0.0)

    def took_over(self, info, why: str) -> None:
        """A killed run's progress (from its lock) is added to ``timing.json``, and said."""
        if info and info.get("iteration") is not None and info.get("start_iteration") is not None:
            record_time(self.logdir, float(info.get("seconds", 0.0)),
                        int(info["iteration"]) - int(info["start_iteration"]), status="killed")
        if self.verbose:
            print(f"deepaccomp: took over the stale lock {brief(self.path)} ({why}; "
                  "that run was killed and is recorded in timing.json)", file=sys.stderr)

    def beat(self, start_iteration: int, iteration: int, seconds: float) -> None:
        """Record the run's progress in the lock file (read back if this process is killed)."""
        self.info.update(start_iteration=start_iteration, iteration=iteration, seconds=round(seconds, 1))
        if self.held:
            atomic_write_bytes(self.path, json.dumps(self.info).encode())


class _StopSignals:
    """SIGINT and SIGTERM ask the run to checkpoint and stop after the current iteration.

    Only where Python's default handling is in place, or the ``deepaccomp``
    command's stand-in for it (any other handler set by the caller is left alone) and only in the main thread. A second signal stops
    at once.
    """

    SIGNALS = ("SIGINT", "SIGTERM")

    def __init__(self, enabled: bool = True):
        self.received = None
        self.previous = {}
        self.enabled = enabled

    def _handle(self, signum, frame):
        if self.received is not None:  # second signal: stop now
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise SystemExit(128 + signum)
        self.received = signal.Signals(signum).name

    def __enter__(self):
        if not self.enabled or threading.current_thread() is not threading.main_thread():
            return self
        defaults = {"SIGINT": signal.default_int_handler, "SIGTERM": signal.SIG_DFL}
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None and _is_default(signal.getsignal(sig), defaults[name]):
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False


def _is_default(handler, default) -> bool:
    """Python's default handler, or one that stands in for it (the ``deepaccomp`` command's Ctrl-C handler)."""
    return handler is default or getattr(handler, "stands_in_for_default", False)


class _RunGuard(keras.callbacks.Callback):
    """Per iteration: the progress bar, the time estimate, wall-time and signal checkpoints, and the
    lock's heartbeat (after each checkpoint and every :data:`HEARTBEAT_SECONDS`)."""

    def __init__(self, monitor, lock, stop, start: int, total: int, checkpoint_minutes: float,
                 bar: bool, verbose: int):
        super().__init__()
        self.monitor, self.lock, self.stop = monitor, lock, stop
        self.start, self.total = start, total
        self.checkpoint_seconds = 60.0 * checkpoint_minutes
        self.verbose = verbose
        self.bar = tqdm(total=total, initial=start, unit="it", desc="training", file=sys.stderr,
                        dynamic_ncols=True, disable=not (bar and verbose), mininterval=0.5)
        self.t0 = self.last_beat = time.monotonic()
        self.timed_from = None  # (time, iteration) after the first (tracing) iteration

    def on_train_batch_end(self, batch, logs=None):
        """Advance the bar; checkpoint when the wall-time interval is up or a stop signal came."""
        now = time.monotonic()
        it = self.monitor.iteration()
        self.bar.update(it - self.bar.n)
        if logs and (it % 5 == 0 or it == self.total):
            self.bar.set_postfix({k: f"{float(logs[k]):.3g}" for k in ("d_loss", "g_loss", "recon")
                                  if k in logs}, refresh=False)
        self._estimate(now, it)
        if self.stop.received is not None:
            self.monitor.save()
            self.model.stop_training = True
        elif now - self.monitor.last_save_time >= self.checkpoint_seconds:
            self.monitor.save()
        saved = self.monitor.last_save_time > self.last_beat
        if saved or now - self.last_beat >= HEARTBEAT_SECONDS or self.model.stop_training:
            self.lock.beat(self.start, it, now - self.t0)
            self.last_beat = now

    def _estimate(self, now: float, it: int) -> None:
        if self.timed_from is None:
            self.timed_from = (now, it)
            return
        t_first, it_first = self.timed_from
        if it - it_first != ESTIMATE_AFTER or not self.verbose:
            return
        per_it = (now - t_first) / ESTIMATE_AFTER
        left = per_it * (self.total - it)
        tqdm.write(f"deepaccomp: {per_it:.2f} s per iteration here; the {self.total - it} iterations left "
                   f"take about {_minutes(0.9 * left)} to {_minutes(1.3 * left)}", file=sys.stderr)

    def close(self):
        """Close the progress bar."""
        self.bar.close()


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def train(cfg: Config | None = None, logdir: str = "runs/default", *, dataset=None,
          strategy=None, progress: bool = True, dataset_dir: str = "datasets", verbose: int = 1):
    """Train (or resume) a run in ``logdir``; returns the trained :class:`WGANGP`.

    Parameters
    ----------
    cfg : Config
        Defaults to the ``default`` preset.
    logdir : str
        Checkpoints, TensorBoard events, samples, ``config.json``,
        ``timing.json`` and the exported ``generator.npz`` go here. Re-running
        on the same logdir resumes from the last checkpoint; a run already at
        ``cfg.train.iterations`` is not trained again.
    dataset : deepaccomp.data.Dataset, optional
        Defaults to ``prepare(cfg.data.source)``, or, where ``cfg.data.source``
        is a shard folder written by :func:`deepaccomp.shards.build_shards`,
        its shards streamed by :func:`deepaccomp.shards.read_phrases`.
    strategy : tf.distribute.Strategy, optional
        Default: :func:`make_strategy` of ``cfg.train.distribute``. On a
        multi-worker run (``MultiWorkerMirroredStrategy``) every worker calls
        ``train`` with the same ``logdir`` on a shared file system: the chief
        writes the run there, the other workers read its checkpoints and write
        theirs to a temporary folder that is deleted at the end.
    progress : bool
        Show a progress bar of the iterations (with ``verbose``).
    dataset_dir : str
        Where :func:`~deepaccomp.data.prepare` finds or builds the dataset.
    verbose : int
        0: print nothing; 1: the start line, the time estimate, evaluations
        and the end.

    Returns
    -------
    WGANGP

    Raises
    ------
    CheckpointError
        The checkpoints' index is damaged, a checkpoint cannot be restored, or
        the logdir holds a run with another model or data config. Nothing in
        the logdir is changed.
    ConfigError
        ``train.distribute = "multi-worker"`` without a valid ``TF_CONFIG``, or
        ``model.ensemble`` above 1 (a run trains one generator; join runs with
        :func:`deepaccomp.artifact.combine`).
    OutputFileError
        The disk filled up (a checkpoint, a sample or the export could not be
        written): the message names the last good checkpoint, which the same
        command resumes from once there is space.
    TrainingError
        Another run is training in ``logdir`` (its lock is held), a loss
        became non-finite, ``batch_size`` does not divide by the number of
        replicas, or the workers of a multi-worker run restored different
        iterations.
    KeyboardInterrupt
        On SIGINT (Ctrl-C): a checkpoint of the current iteration is saved
        first. SIGTERM saves the same way, then raises ``SystemExit(143)``.
        (Multi-worker runs leave both signals to Python: a save needs every
        worker, so a killed run resumes from its last regular checkpoint.)

    The logdir is locked (``train.lock``) while the run lasts. A checkpoint
    is saved every ``train.checkpoint_every`` iterations, at least every
    ``train.checkpoint_minutes`` of wall time (not on multi-worker runs, whose
    workers must save together), at the end, and on
    SIGINT/SIGTERM; none of them changes the data order or the noise, so a
    resumed run still ends bit for bit where an uninterrupted one ends.
    ``config.json`` is written once the run starts training.
    """
    cfg = cfg or config_mod.default()
    cfg.validate()
    if cfg.model.ensemble != 1:
        raise ConfigError(f"model.ensemble is {cfg.model.ensemble}: a run trains one generator against its own "
                          "critic; train each with its own seed and join their generator.npz files with "
                          "`deepaccomp combine` (deepaccomp.artifact.combine)")
    if strategy is None:  # first: the multi-worker strategy must exist before any TensorFlow op
        strategy = make_strategy(cfg.train.distribute)
    logdir = os.fspath(logdir)
    run = dict(dataset=dataset, strategy=strategy, progress=progress, dataset_dir=dataset_dir)
    if not is_chief(strategy):
        return _train_worker(cfg, logdir, run, verbose)
    _check_logdir(logdir)
    with _LogdirLock(logdir, verbose) as lock, _disk_full_is_an_error(logdir):
        return _train_locked(cfg, logdir, lock, verbose=verbose, **run)


DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
"""``OSError`` numbers of a full disk (no space left, disk quota exceeded)."""

DISK_FULL_WORDS = ("no space left on device", "disk quota exceeded")
"""How TensorFlow's errors (a checkpoint's ``ResourceExhaustedError``) and our own messages say it."""


def _disk_full(exc) -> bool:
    """Whether ``exc``, or an exception it was raised from or during, reports a full disk."""
    for _ in range(8):  # the chain is short; never follow a cycle
        if exc is None:
            return False
        if isinstance(exc, OSError) and exc.errno in DISK_FULL_ERRNOS:
            return True
        if isinstance(exc, (OSError, tf.errors.OpError)) and any(w in str(exc).lower() for w in DISK_FULL_WORDS):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


@contextlib.contextmanager
def _disk_full_is_an_error(logdir: str):
    """Turn a full disk while training (a checkpoint, a sample, the export) into an :class:`OutputFileError`
    that names the last good checkpoint, which a resumed run starts from; a half-written checkpoint's
    temporary files are removed, to give back the space they took."""
    try:
        yield
    except Exception as exc:
        if not _disk_full(exc):
            raise
        ckpt_dir = os.path.join(logdir, CHECKPOINT_DIR)
        _remove_temp_folders(ckpt_dir)
        latest = tf.train.latest_checkpoint(ckpt_dir)
        if latest:
            kept = (f"the last good checkpoint is at iteration {latest.rsplit('-', 1)[-1]} ({brief(latest)}): free "
                    "some space and run the same command again to resume from it")
        else:
            kept = "no checkpoint was saved yet: free some space and run the same command again to start"
        raise OutputFileError(f"{brief(logdir)}: the disk is full (no space left on device); {kept}") from exc


def _train_worker(cfg, logdir, run, verbose):
    """A non-chief worker: restores from the chief's ``logdir``, writes everything to a temporary folder.

    It saves when the chief does (saving involves every worker), but to its
    own folder, which is deleted at the end, as TensorFlow's multi-worker guide prescribes.
    """
    task = strategy_task(run["strategy"])
    scratch = tempfile.mkdtemp(prefix=f"deepaccomp-{task.replace(' ', '')}-")
    if verbose:
        print(f"deepaccomp: {task} of a multi-worker run: reading {logdir}, writing to {scratch} "
              "(deleted at the end)", file=sys.stderr)
    try:
        with _LogdirLock(scratch, 0) as lock:
            return _train_locked(cfg, scratch, lock, restore_dir=logdir, verbose=0,
                                 **dict(run, progress=False))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def strategy_task(strategy) -> str:
    """``"worker 1"``, ``"chief 0"``... of a multi-worker strategy (``"local"`` for the others)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return "local"
    return f"{resolver.task_type} {resolver.task_id}"


def _training_data(cfg, dataset, dataset_dir, progress):
    """``(dataset for the monitor, train phrases, description)``: an in-memory build, or streamed shards.

    The train phrases are a bool array ``(n, time, pitch, 4)`` or, for a
    shard folder, a ``tf.data.Dataset`` of single phrases.
    """
    kw = dict(window=cfg.data.pitch_window, phrase_bars=cfg.data.phrase_bars, hop_bars=cfg.data.hop_bars)
    if dataset is None and cfg.data.format == "midi" and shards.is_shard_folder(cfg.data.source):
        index = shards.read_index(cfg.data.source, key_normalize=cfg.data.key_normalize, layout=cfg.data.layout)
        stream = shards.read_phrases(cfg.data.source, "train", seed=cfg.train.seed, **kw)
        about = (f"{index['splits']['train']} train pieces streamed from {len(index['shards'])} shards "
                 f"in {cfg.data.source}")
        return shards.read_eval_dataset(cfg.data.source, cfg.train.n_eval_melodies), stream, about
    if dataset is None:
        dataset, _ = prepare(cfg.data.source, key_normalize=cfg.data.key_normalize,
                             dataset_dir=dataset_dir, progress=progress, layout=cfg.data.layout,
                             source_format=cfg.data.format)
    if dataset.track_layout != cfg.track_layout:
        held, asked = dataset.track_layout.name, cfg.track_layout.name
        raise ConfigError(f"the dataset holds layout {held!r} but the config asks for {asked!r} (another "
                          f"definition); prepare the data with the config's layout or train with the dataset's")
    phrases = dataset.phrases("train", **kw, restrike_gaps=cfg.data.restrike_gaps)
    return dataset, phrases, f"{len(phrases)} train phrases"


def _train_locked(cfg, logdir, lock, *, dataset, strategy, progress, dataset_dir, verbose, restore_dir=None):
    ckpt_dir = os.path.join(logdir, CHECKPOINT_DIR)
    read_dir = os.path.join(restore_dir or logdir, CHECKPOINT_DIR)  # a non-chief worker reads the chief's
    _check_checkpoint_state(read_dir)
    if _checkpoint_numbers(read_dir):  # without a checkpoint, a config.json left by a failed start is replaced
        _check_resume_config(restore_dir or logdir, cfg)
    _remove_temp_folders(ckpt_dir)
    _check_replicas(cfg, strategy)
    dataset, train_phr, about = _training_data(cfg, dataset, dataset_dir, progress)
    t = cfg.train
    gan = build_gan(cfg, strategy)

    ckpt = _checkpoint(gan)
    manager = tf.train.CheckpointManager(ckpt, ckpt_dir, max_to_keep=t.keep_checkpoints)
    latest = tf.train.latest_checkpoint(read_dir)
    if latest:
        _restore(gan, latest, advice="the checkpoint is damaged or from another config: use a new --logdir")
    start = int(gan.g_optimizer.iterations.numpy())
    _check_same_start(strategy, start)
    export = os.path.join(logdir, EXPORT_NAME)
    if start >= t.iterations:
        # the weights are those of iteration `start`: the model is stamped with it, not with the fewer asked for
        _export(gan, cfg.replace(train={"iterations": start}), logdir)
        if verbose:
            print(f"deepaccomp: {brief(logdir)} is already trained to iteration {start} (asked: {t.iterations}); "
                  f"nothing to do. Model (iteration {start}): {brief(export)}; raise --iterations to train "
                  "further", file=sys.stderr)
        return gan
    cfg.save(config_mod.config_path(logdir))  # the run starts: from now on it is this config's run
    # Built after build_gan (which sets the global seed, so the shuffle order does not
    # depend on what ran before in this process) and skipping the batches already
    # trained on: a resumed run sees exactly the batches an uninterrupted one would.
    tfds = make_tf_dataset(train_phr, t.batch_size * t.critic_updates, seed=t.seed,
                           shuffle_buffer=t.shuffle_buffer, skip_batches=start,
                           positions=model_input_planes(cfg, cfg.phrase_steps), transpose_range=t.transpose_range)
    multi = _multi_worker(strategy)
    if verbose:
        where = f" on {strategy.num_replicas_in_sync} replicas" if strategy.num_replicas_in_sync > 1 else ""
        print(f"deepaccomp: training {cfg.preset} in {logdir} from iteration {start} to {t.iterations}"
              f" ({about}){where}; watch it with: tensorboard --logdir {logdir}", file=sys.stderr)
    monitor = Monitor(gan, cfg, dataset, logdir, manager, verbose=verbose)
    callbacks = [monitor]
    if gan.generator_average is not None:  # first: a checkpoint of this iteration holds its average
        callbacks.insert(0, GeneratorAverage(gan.generator, gan.generator_average,
                                             gan.g_optimizer.iterations, t.average_decay))
    lock.beat(start, start, 0.0)
    with _StopSignals(enabled=not multi) as stop:
        guard = _RunGuard(monitor, lock, stop, start, t.iterations,
                          math.inf if multi else t.checkpoint_minutes, progress, verbose)
        try:
            # one Keras epoch of exactly the iterations left: checkpoints are the Monitor's job
            gan.fit(tfds, epochs=1, steps_per_epoch=t.iterations - start, callbacks=callbacks + [guard],
                    verbose=0, shuffle=False)  # tf.data shuffles; Keras must not try
        except BaseException as exc:
            guard.close()
            monitor.finish(status="failed")
            if multi and isinstance(exc, tf.errors.OpError):
                raise _worker_lost(exc, read_dir) from exc
            raise
        guard.close()
        it = monitor.iteration()
        interrupted = stop.received is not None and it < t.iterations  # a late signal changes nothing
        monitor.finish(status="interrupted" if interrupted else "finished")
    if interrupted:
        message = (f"{stop.received} at iteration {it}: checkpoint saved in {ckpt_dir}; "
                   "run the same command again to resume")
        if stop.received == "SIGINT":
            raise KeyboardInterrupt(message)
        print(f"deepaccomp: stopped by {message}", file=sys.stderr)
        raise SystemExit(128 + signal.SIGTERM)
    _export(gan, cfg, logdir)
    if verbose:
        print(f"deepaccomp: done in {guard.bar.format_interval(time.monotonic() - guard.t0)}; "
              f"model exported to {export}", file=sys.stderr)
    return gan


def _checkpoint(gan, average: bool = True) -> tf.train.Checkpoint:
    """Everything a run's checkpoint holds: networks, optimisers, noise seed state, the weight average."""
    tracked = dict(generator=gan.generator, critic=gan.critic, g_optimizer=gan.g_optimizer,
                   d_optimizer=gan.d_optimizer, seed=gan.seed_generator.state, critic_steps=gan.critic_steps)
    if average and gan.generator_average is not None:
        tracked["generator_average"] = gan.generator_average
    return tf.train.Checkpoint(**tracked)


def _restore(gan, path: str, advice: str = "") -> None:
    """Restore checkpoint ``path`` into ``gan``, every object of the run matched.

    A run resumed with ``average_decay`` from a checkpoint without an average
    starts its average at the restored weights. Any failure is a
    :class:`CheckpointError` naming the checkpoint, the cause and ``advice``.
    """
    try:
        names = [name for name, _ in tf.train.list_variables(path)]
        saved_average = any(name.startswith("generator_average/") for name in names)
        _checkpoint(gan, average=saved_average).restore(path).assert_existing_objects_matched()
    except Exception as exc:
        raise CheckpointError(f"{brief(path)}: cannot restore ({type(exc).__name__}: {brief(str(exc), 1000)})"
                              + (f"; {advice}" if advice else "")) from exc
    if gan.generator_average is not None and not saved_average:
        gan.generator_average.set_weights(gan.generator.get_weights())


def checkpoint_iterations(logdir) -> list:
    """Iterations of the checkpoints kept in the run folder ``logdir``, ascending (empty if none).

    Each can be exported with :func:`export_checkpoint`.
    """
    return _checkpoint_numbers(os.path.join(os.fspath(logdir), CHECKPOINT_DIR))


def export_checkpoint(logdir, iteration: int, out) -> str:
    """Export the generator of checkpoint ``iteration`` of the run in ``logdir`` to the folder ``out``.

    Writes ``out/generator.npz`` (the weight average where the run keeps one, as
    at the end of a run) and, with an average, ``out/generator_last.npz``; for
    comparing a run's checkpoints. Returns the path of ``generator.npz``.

    Raises
    ------
    CheckpointError
        ``logdir`` holds no run config or no checkpoint of that iteration, or it cannot be restored.
    """
    logdir = os.fspath(logdir)
    config_file = config_mod.config_path(logdir)
    if not os.path.isfile(config_file):
        raise CheckpointError(f"{brief(logdir)}: no config.json, so not a training run")
    cfg = Config.load(config_file)
    path = os.path.join(logdir, CHECKPOINT_DIR, f"ckpt-{int(iteration)}")
    if not os.path.isfile(path + ".index"):
        raise CheckpointError(f"{brief(logdir)} has no checkpoint of iteration {iteration} "
                              f"(it has: {checkpoint_iterations(logdir)})")
    gan = build_gan(cfg)
    _restore(gan, path)
    os.makedirs(out, exist_ok=True)
    _export(gan, cfg, os.fspath(out))
    return os.path.join(os.fspath(out), EXPORT_NAME)


def _export(gan, cfg: Config, logdir: str) -> None:
    """``generator.npz`` (the average, where kept) and, with an average, ``generator_last.npz``."""
    artifact.save(gan.exported_generator, cfg, os.path.join(logdir, EXPORT_NAME))
    if gan.generator_average is not None:
        artifact.save(gan.generator, cfg, os.path.join(logdir, LAST_EXPORT_NAME))


# ---------------------------------------------------------------------- 0.1 names
def _moved(old: str, new):
    def wrapper(*args, **kw):
        warnings.warn(f"deepaccomp.training.{old} is deprecated and will be removed in 0.3; "
                      f"use deepaccomp.artifact.{new.__name__}", DeprecationWarning, stacklevel=2)
        return new(*args, **kw)

    wrapper.__name__ = old
    wrapper.__doc__ = f"Deprecated: use :func:`deepaccomp.artifact.{new.__name__}`."
    return wrapper


export_generator = _moved("export_generator", artifact.save)
load_generator = _moved("load_generator", artifact.load)
read_artifact = _moved("read_artifact", artifact.read)
