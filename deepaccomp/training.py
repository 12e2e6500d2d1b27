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
  - diversity_weight * MS``, R = binary cross-entropy on ``(x + 1) / 2`` or L1,
  MS = the mode-seeking ratio ``mean|G(m,z1) - G(m,z2)| / mean|z1 - z2|``
  (both weights 0 = the lab).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings

import keras
import tensorflow as tf

from . import artifact
from . import config as config_mod
from .config import Config
from .data import make_tf_dataset, prepare
from .generation import model_input_planes
from .errors import CheckpointError, ConfigError, OutputFileError
from .models import build_critic, build_generator
from .monitoring import Monitor

__all__ = ["WGANGP", "build_gan", "train", "gradient_penalty", "reconstruction_loss",
           "CHECKPOINT_DIR", "EXPORT_NAME", "export_generator", "load_generator", "read_artifact"]

CHECKPOINT_DIR = "checkpoints"
EXPORT_NAME = artifact.FILE_NAME


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


def reconstruction_loss(fake, real, kind: str):
    """Pix2pix-style term: BCE on ``(x+1)/2`` (``kind="bce"``) or L1, averaged over cells."""
    if kind == "l1":
        return tf.reduce_mean(tf.abs(fake - real))
    p = tf.clip_by_value((fake + 1.0) / 2.0, 1e-6, 1.0 - 1e-6)
    y = (real + 1.0) / 2.0
    return -tf.reduce_mean(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))


class WGANGP(keras.Model):
    """Generator + critic trained by WGAN-GP; ``fit`` it on ``(melody, accompaniment)`` batches.

    Each batch must hold ``critic_updates`` minibatches back to back (the
    dataset is batched at ``batch_size * critic_updates``): one critic update
    on each, then one generator update on the last, with fresh noise.
    """

    def __init__(self, generator, critic, cfg: Config, **kw):
        super().__init__(**kw)
        self.generator = generator
        self.critic = critic
        self.cfg = cfg
        self.seed_generator = keras.random.SeedGenerator(cfg.train.seed)
        self.critic_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="critic_steps")

    def compile(self, g_optimizer, d_optimizer, **kw):
        """Set the generator's and the critic's optimisers (other keyword arguments go to Keras)."""
        super().compile(**kw)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

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
        # the lab's generator regenerates all 4 tracks, so its "real" is S+A+T+B
        if self.cfg.model.output_tracks == 4:
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
        return {"d_loss": d_loss, "gp": gp, "wasserstein": wasserstein,
                **self.generator_step(melody, real)}

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
            diversity = tf.constant(0.0)
            if t.diversity_weight > 0:
                diversity = self._mode_seeking(melody, fake, noise)
                g_loss = g_loss - t.diversity_weight * diversity
            scaled = g_loss / _replicas()
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        return {"g_loss": g_loss, "recon": recon, "diversity": diversity}

    def _mode_seeking(self, melody, fake, noise):
        """MSGAN's ratio ``mean|G(m, z1) - G(m, z2)| / mean|z1 - z2|`` with a second noise draw."""
        noise2 = self.sample_noise(melody)
        fake2 = self.generator([melody, noise2], training=True)
        return tf.reduce_mean(tf.abs(fake - fake2)) / (tf.reduce_mean(tf.abs(noise - noise2)) + 1e-5)


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


def build_gan(cfg: Config, strategy=None):
    """Generator, critic, optimisers and the compiled :class:`WGANGP` under ``strategy``."""
    strategy = strategy or tf.distribute.get_strategy()
    t = cfg.train
    with strategy.scope(), _dtype_policy("mixed_bfloat16" if t.mixed_precision == "bfloat16" else None):
        keras.utils.set_random_seed(t.seed)
        gen = build_generator(cfg)
        critic = build_critic(cfg)
        gan = WGANGP(gen, critic, cfg)
        g_opt = keras.optimizers.Adam(t.generator_lr, beta_1=t.beta_1, beta_2=t.beta_2)
        d_opt = keras.optimizers.Adam(t.critic_lr, beta_1=t.beta_1, beta_2=t.beta_2)
        gan.compile(g_opt, d_opt, jit_compile=t.jit_compile)
        g_opt.build(gen.trainable_variables)
        d_opt.build(critic.trainable_variables)
    return gan


# ---------------------------------------------------------------------- training run
def _check_logdir(logdir: str) -> None:
    try:
        os.makedirs(logdir, exist_ok=True)
    except OSError as exc:
        raise OutputFileError(f"{logdir}: cannot create the log folder ({exc.strerror or exc})") from exc
    probe = os.path.join(logdir, ".write-test")
    try:
        with open(probe, "wb") as fh:
            fh.write(b"\0" * 1024 * 1024)  # 1 MB: a full disk fails here, not after an hour
        os.remove(probe)
    except OSError as exc:
        raise OutputFileError(
            f"{logdir}: cannot write to the log folder ({exc.strerror or exc}); "
            "choose a writable --logdir with free space") from exc


def _check_resume_config(logdir: str, cfg: Config) -> None:
    path = config_mod.config_path(logdir)
    if not os.path.exists(path):
        return
    try:
        old = Config.load(path)
    except ConfigError as exc:
        raise CheckpointError(f"{path}: the run's saved config is unreadable ({exc})") from exc
    same = (old.model == cfg.model and old.data == cfg.data)
    if not same:
        raise CheckpointError(
            f"{logdir} holds a run with another model or data config; "
            "use a new --logdir or the same config to resume")


def train(cfg: Config | None = None, logdir: str = "runs/default", *, dataset=None,
          strategy=None, progress: bool = True, dataset_dir: str = "datasets", verbose: int = 1):
    """Train (or resume) a run in ``logdir``; returns the trained :class:`WGANGP`.

    Parameters
    ----------
    cfg : Config
        Defaults to the ``default`` preset.
    logdir : str
        Checkpoints, TensorBoard events, samples, ``config.json`` and the
        exported ``generator.npz`` go here. Re-running on the same logdir
        resumes from the last checkpoint.
    dataset : deepaccomp.data.Dataset, optional
        Defaults to ``prepare(cfg.data.source)``.
    strategy : tf.distribute.Strategy, optional
        Default: the default strategy. MirroredStrategy and
        MultiWorkerMirroredStrategy work unchanged.
    """
    cfg = cfg or config_mod.default()
    cfg.validate()
    logdir = os.fspath(logdir)
    _check_logdir(logdir)
    _check_resume_config(logdir, cfg)
    cfg.save(config_mod.config_path(logdir))
    if dataset is None:
        dataset, _ = prepare(cfg.data.source, key_normalize=cfg.data.key_normalize,
                             dataset_dir=dataset_dir, progress=progress)
    t = cfg.train
    train_phr = dataset.phrases("train", window=cfg.data.pitch_window,
                                phrase_bars=cfg.data.phrase_bars, hop_bars=cfg.data.hop_bars)
    strategy = strategy or tf.distribute.get_strategy()
    gan = build_gan(cfg, strategy)

    ckpt = tf.train.Checkpoint(generator=gan.generator, critic=gan.critic,
                               g_optimizer=gan.g_optimizer, d_optimizer=gan.d_optimizer,
                               seed=gan.seed_generator.state, critic_steps=gan.critic_steps)
    manager = tf.train.CheckpointManager(ckpt, os.path.join(logdir, CHECKPOINT_DIR),
                                         max_to_keep=t.keep_checkpoints)
    if manager.latest_checkpoint:
        try:
            ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        except Exception as exc:
            raise CheckpointError(
                f"{manager.latest_checkpoint}: cannot restore ({type(exc).__name__}: {exc}); "
                "the checkpoint is damaged or from another config: use a new --logdir") from exc
    start = int(gan.g_optimizer.iterations.numpy())
    # Built after build_gan (which sets the global seed, so the shuffle order does not
    # depend on what ran before in this process) and skipping the batches already
    # trained on: a resumed run sees exactly the batches an uninterrupted one would.
    tfds = make_tf_dataset(train_phr, t.batch_size * t.critic_updates, seed=t.seed,
                           shuffle_buffer=t.shuffle_buffer, skip_batches=start,
                           positions=model_input_planes(cfg, cfg.phrase_steps))
    if verbose:
        print(f"deepaccomp: training {cfg.preset} in {logdir} from iteration {start} to {t.iterations}"
              f" ({len(train_phr)} train phrases); watch it with: tensorboard --logdir {logdir}",
              file=sys.stderr)
    if start >= t.iterations:
        artifact.save(gan.generator, cfg, os.path.join(logdir, EXPORT_NAME))
        return gan
    monitor = Monitor(gan, cfg, dataset, logdir, manager, verbose=verbose)
    steps = t.checkpoint_every
    epochs = math.ceil(t.iterations / steps)
    t0 = time.perf_counter()
    gan.fit(tfds, epochs=epochs, steps_per_epoch=steps, initial_epoch=start // steps,
            callbacks=[monitor], verbose=1 if (progress and verbose) else 0,
            shuffle=False)  # tf.data shuffles; Keras must not try
    monitor.finish()
    artifact.save(gan.generator, cfg, os.path.join(logdir, EXPORT_NAME))
    if verbose:
        print(f"deepaccomp: done in {time.perf_counter() - t0:.0f} s; model exported to "
              f"{os.path.join(logdir, EXPORT_NAME)}", file=sys.stderr)
    return gan


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
