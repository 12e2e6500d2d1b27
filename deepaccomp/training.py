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
import json
import math
import os
import sys
import time

import numpy as np

from .config import Config
from .errors import CheckpointError, ConfigError, OutputFileError, TrainingError

CHECKPOINT_DIR = "checkpoints"
EXPORT_NAME = "generator.npz"


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
    import tensorflow as tf

    x = eps * real + (1.0 - eps) * fake
    with tf.GradientTape() as tape:
        tape.watch(x)
        score = critic([melody, x], training=True)
    grad = tape.gradient(score, x)
    slopes = tf.sqrt(1e-8 + tf.reduce_sum(tf.square(grad), axis=[1, 2, 3]))
    return tf.reduce_mean(tf.square(slopes - 1.0))


def reconstruction_loss(fake, real, kind: str):
    """Pix2pix-style term: BCE on ``(x+1)/2`` (``kind="bce"``) or L1, averaged over cells."""
    import tensorflow as tf

    if kind == "l1":
        return tf.reduce_mean(tf.abs(fake - real))
    p = tf.clip_by_value((fake + 1.0) / 2.0, 1e-6, 1.0 - 1e-6)
    y = (real + 1.0) / 2.0
    return -tf.reduce_mean(y * tf.math.log(p) + (1.0 - y) * tf.math.log(1.0 - p))


def _make_wgan_class():
    import keras
    import tensorflow as tf

    class WGANGP(keras.Model):
        """Generator + critic trained by WGAN-GP; ``fit`` it on ``(melody, accompaniment)`` batches.

        Each batch must hold ``critic_updates`` minibatches back to back (the
        dataset is batched at ``batch_size * critic_updates``).
        """

        def __init__(self, generator, critic, cfg: Config, **kw):
            super().__init__(**kw)
            self.generator = generator
            self.critic = critic
            self.cfg = cfg
            self.seed_generator = keras.random.SeedGenerator(cfg.train.seed)
            self.critic_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="critic_steps")

        def compile(self, g_optimizer, d_optimizer, **kw):
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
            from .models import noise_shape_for

            shape = noise_shape_for(self.cfg, int(melody.shape[1]))
            batch = tf.shape(melody)[0]
            return tf.random.stateless_truncated_normal(
                tf.concat([[batch], shape], 0), seed=self._next_seed())

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
                return tf.concat([melody, accomp], axis=-1)
            return accomp

        def train_step(self, data):
            melody_all, accomp_all = data
            t = self.cfg.train
            n = t.critic_updates
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            size = tf.shape(melody_all)[0] // n
            for i in range(n):
                melody = melody_all[i * size:(i + 1) * size]
                real = self._target(melody, accomp_all[i * size:(i + 1) * size])
                noise = self.sample_noise(melody)
                eps = tf.random.stateless_uniform(tf.stack([size, 1, 1, 1]), seed=self._next_seed())
                with tf.GradientTape() as tape:
                    fake = self.generator([melody, noise], training=True)
                    d_real = tf.reduce_mean(self.critic([melody, real], training=True))
                    d_fake = tf.reduce_mean(self.critic([melody, fake], training=True))
                    gp = gradient_penalty(self.critic, melody, real, fake, eps)
                    d_loss = d_fake - d_real + t.gp_weight * gp
                    scaled = d_loss / replicas
                grads = tape.gradient(scaled, self.critic.trainable_variables)
                self.d_optimizer.apply_gradients(zip(grads, self.critic.trainable_variables))
                self.critic_steps.assign_add(1)
            # generator update on the last minibatch, with fresh noise
            noise = self.sample_noise(melody)
            with tf.GradientTape() as tape:
                fake = self.generator([melody, noise], training=True)
                g_adv = -tf.reduce_mean(self.critic([melody, fake], training=True))
                g_loss = g_adv
                recon = tf.constant(0.0)
                if t.reconstruction_weight > 0:
                    recon = reconstruction_loss(fake, real, t.reconstruction_loss)
                    g_loss = g_loss + t.reconstruction_weight * recon
                diversity = tf.constant(0.0)
                if t.diversity_weight > 0:
                    noise2 = self.sample_noise(melody)
                    fake2 = self.generator([melody, noise2], training=True)
                    diversity = (tf.reduce_mean(tf.abs(fake - fake2))
                                 / (tf.reduce_mean(tf.abs(noise - noise2)) + 1e-5))
                    g_loss = g_loss - t.diversity_weight * diversity
                scaled = g_loss / replicas
            grads = tape.gradient(scaled, self.generator.trainable_variables)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
            return {"d_loss": d_loss, "g_loss": g_loss, "gp": gp,
                    "wasserstein": d_real - d_fake, "recon": recon, "diversity": diversity}

    return WGANGP


_WGAN = None


def WGANGP(*args, **kw):
    """Build a :class:`WGANGP` keras model (TensorFlow imported on first use)."""
    global _WGAN
    if _WGAN is None:
        _WGAN = _make_wgan_class()
    return _WGAN(*args, **kw)


@contextlib.contextmanager
def _dtype_policy(name: str | None):
    """Build layers under Keras dtype policy ``name`` (``None``: leave it); restored after."""
    import keras

    previous = keras.config.dtype_policy()
    if name is not None:
        keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_gan(cfg: Config, strategy=None):
    """Generator, critic, optimisers and the compiled :class:`WGANGP` under ``strategy``."""
    import keras
    import tensorflow as tf

    from .models import build_critic, build_generator

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


# ---------------------------------------------------------------------- export / load
def export_generator(generator, cfg: Config, path) -> None:
    """Write one self-contained artifact: weights (float32) + config, no code, no pickle."""
    import io

    from .io_utils import atomic_write_bytes

    weights = [np.asarray(w, dtype=np.float32) for w in generator.get_weights()]
    digest = _weights_digest(weights, cfg.to_dict())
    arrays = {f"w{i:03d}": w for i, w in enumerate(weights)}
    meta = {"format": "deepaccomp-generator", "version": 1, "config": cfg.to_dict(),
            "n_weights": len(weights), "sha256": digest}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def _weights_digest(weights, config: dict | None) -> str:
    """sha256 over the config (canonical JSON) and every weight's shape and float32 bytes."""
    import hashlib

    h = hashlib.sha256()
    h.update(json.dumps(config, sort_keys=True).encode())
    for w in weights:
        h.update(str(w.shape).encode())
        h.update(np.ascontiguousarray(w, dtype=np.float32).tobytes())
    return h.hexdigest()


def read_artifact(path) -> tuple[Config, list]:
    """Read and verify an exported generator: ``(config, weights)``.

    Raises :class:`~deepaccomp.errors.ModelFileError` for a missing,
    truncated, tampered or foreign file. Never unpickles.
    """
    from .errors import ModelFileError

    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, EXPORT_NAME)
    if not os.path.isfile(path):
        raise ModelFileError(f"{path}: model file not found")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta"]).decode())
            weights = [z[f"w{i:03d}"] for i in range(int(meta["n_weights"]))]
    except Exception as exc:
        reason = "not a .npz archive" if "pickle" in str(exc) else f"{type(exc).__name__}: {exc}"
        raise ModelFileError(f"{path}: not a readable deepaccomp model ({reason})") from exc
    if not isinstance(meta, dict) or meta.get("format") != "deepaccomp-generator":
        raise ModelFileError(f"{path}: not a deepaccomp generator artifact")
    if _weights_digest(weights, meta.get("config")) != meta.get("sha256"):
        raise ModelFileError(f"{path}: weights or config do not match the checksum (file damaged or modified)")
    try:
        cfg = Config.from_dict(meta["config"])
    except Exception as exc:  # a foreign or edited config: never a raw TypeError
        raise ModelFileError(f"{path}: its config is invalid ({exc})") from exc
    return cfg, weights


def load_generator(path):
    """``(generator, config)`` from an exported artifact (see :func:`export_generator`)."""
    from .errors import ModelFileError
    from .models import build_generator

    cfg, weights = read_artifact(path)
    gen = build_generator(cfg)
    expected = [tuple(w.shape) for w in gen.weights]
    if [tuple(w.shape) for w in weights] != expected:
        raise ModelFileError(f"{path}: weight shapes do not match the architecture in its config")
    gen.set_weights(weights)
    return gen, cfg


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
    path = os.path.join(logdir, "config.json")
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
    import tensorflow as tf

    from . import config as config_mod
    from .data import make_tf_dataset, prepare

    cfg = cfg or config_mod.default()
    cfg.validate()
    logdir = os.fspath(logdir)
    _check_logdir(logdir)
    _check_resume_config(logdir, cfg)
    cfg.save(os.path.join(logdir, "config.json"))
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
                           shuffle_buffer=t.shuffle_buffer, skip_batches=start)
    if verbose:
        print(f"deepaccomp: training {cfg.preset} in {logdir} from iteration {start} to {t.iterations}"
              f" ({len(train_phr)} train phrases); watch it with: tensorboard --logdir {logdir}",
              file=sys.stderr)
    if start >= t.iterations:
        export_generator(gan.generator, cfg, os.path.join(logdir, EXPORT_NAME))
        return gan
    from .monitoring import Monitor

    monitor = Monitor(gan, cfg, dataset, logdir, manager, verbose=verbose)
    steps = t.checkpoint_every
    epochs = math.ceil(t.iterations / steps)
    t0 = time.perf_counter()
    gan.fit(tfds, epochs=epochs, steps_per_epoch=steps, initial_epoch=start // steps,
            callbacks=[monitor], verbose=1 if (progress and verbose) else 0,
            shuffle=False)  # tf.data shuffles; Keras must not try
    monitor.finish()
    export_generator(gan.generator, cfg, os.path.join(logdir, EXPORT_NAME))
    if verbose:
        print(f"deepaccomp: done in {time.perf_counter() - t0:.0f} s; model exported to "
              f"{os.path.join(logdir, EXPORT_NAME)}", file=sys.stderr)
    return gan
