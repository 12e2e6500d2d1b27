"""WGAN-GP training: critic ratio, gradient penalty, resume, TensorBoard, export, devices."""

import glob
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from helpers import tiny

tf = pytest.importorskip("tensorflow")

from deepaccomp import artifact, preset  # noqa: E402
from deepaccomp.errors import CheckpointError, ConfigError, ModelFileError, TrainingError  # noqa: E402
from deepaccomp.training import (  # noqa: E402
    GeneratorAverage,
    average_decay_at,
    checkpoint_iterations,
    export_checkpoint,
    gradient_penalty,
    onset_loss,
    pitch_cross_entropy,
    reconstruction_loss,
    train,
)



def read_tags(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for run in ("train", "reference"):
        ea = EventAccumulator(os.path.join(logdir, run), size_guidance={"tensors": 0, "images": 0})
        ea.Reload()
        tags |= set(ea.Tags()["tensors"]) | set(ea.Tags()["images"])
    return tags


# ---------------------------------------------------------------------- numerical core
def test_gradient_penalty_of_a_linear_critic_is_known():
    # D(m, x) = sum(w * x): grad_x D = w everywhere, so GP = (||w|| - 1)^2 exactly
    w = tf.constant(np.full((1, 4, 3, 2), 0.25, np.float32))  # ||w|| = sqrt(24 * 0.0625) = 1.2247
    critic = lambda inputs, training=False: tf.reduce_sum(w * inputs[1], axis=[1, 2, 3])[:, None]  # noqa: E731
    real = tf.ones((2, 4, 3, 2))
    fake = -tf.ones((2, 4, 3, 2))
    eps = tf.constant([[[[0.3]]], [[[0.9]]]])
    gp = gradient_penalty(critic, tf.zeros((2, 4, 3, 1)), real, fake, eps)
    expected = (np.sqrt(1e-8 + 24 * 0.0625) - 1.0) ** 2
    assert float(gp) == pytest.approx(expected, rel=1e-5)


def test_gradient_penalty_of_a_quadratic_critic_uses_the_interpolate():
    # D = 0.5 * sum(x^2): grad = x = eps*real + (1-eps)*fake; real = 1, fake = 0 -> grad = eps
    critic = lambda inputs, training=False: 0.5 * tf.reduce_sum(inputs[1] ** 2, axis=[1, 2, 3])[:, None]  # noqa: E731
    n = 2 * 2 * 1
    eps = tf.constant([[[[0.5]]], [[[1.0]]]])
    gp = gradient_penalty(critic, tf.zeros((2, 2, 2, 1)), tf.ones((2, 2, 2, 1)), tf.zeros((2, 2, 2, 1)), eps)
    slopes = np.sqrt(1e-8 + n * np.array([0.25, 1.0]))  # ||eps * 1|| over 4 cells
    assert float(gp) == pytest.approx(np.mean((slopes - 1) ** 2), rel=1e-5)


def test_reconstruction_losses():
    real = tf.constant([[1.0, -1.0]])
    assert float(reconstruction_loss(real, real, "l1")) == 0.0
    assert float(reconstruction_loss(-real, real, "l1")) == pytest.approx(2.0)
    # BCE of p = 0.75 for y = 1 and p = 0.25 for y = 0: -log(0.75)
    fake = tf.constant([[0.5, -0.5]])
    assert float(reconstruction_loss(fake, real, "bce")) == pytest.approx(-np.log(0.75), rel=1e-4)


def test_pitch_cross_entropy_by_hand():
    # (batch 1, time 3, pitch 3, tracks 2); logits are 5 * value
    fake = np.full((1, 3, 3, 2), -1.0, np.float32)
    real = np.full((1, 3, 3, 2), -1.0, np.float32)
    fake[0, 0, 1, 0] = 1.0
    real[0, 0, 1, 0] = 1.0          # right pitch ranked first
    fake[0, 1, 0, 0] = 0.5
    real[0, 1, 2, 0] = 1.0          # a wrong pitch ranked first
    real[0, 2, [0, 2], 1] = 1.0     # two real pitches, every generated value -1
    right = -np.log(np.exp(5) / (np.exp(5) + 2 * np.exp(-5)))
    wrong = -np.log(np.exp(-5) / (np.exp(2.5) + 2 * np.exp(-5)))
    spread = np.log(3)              # target 1/2 on two of three equal logits
    # the three silent (step, track) pairs do not count
    assert float(pitch_cross_entropy(tf.constant(fake), tf.constant(real))) == pytest.approx(
        (right + wrong + spread) / 3, rel=1e-5)
    assert float(pitch_cross_entropy(tf.constant(fake), tf.constant(-np.ones_like(real)))) == 0.0


def test_onset_loss_by_hand():
    # (batch 1, time 3, pitch 3, tracks 2); value 0 reads as p = 0.5, -1 as 0 and 1 as 1 (clipped by 1e-6)
    fake = np.full((1, 3, 3, 2), -1.0, np.float32)
    real = np.full((1, 3, 3, 2), -1.0, np.float32)
    fake[0, :, 0, 0] = [0.0, 0.0, -1.0]
    fake[0, :, 1, 0] = [-1.0, 0.0, 1.0]
    real[0, :2, 0, 0] = 1.0              # track 0: a note starts at step 0 and another at step 2
    real[0, 2, 1, 0] = 1.0
    fake[0, :, 2, 1] = real[0, :, 2, 1] = 1.0  # track 1: one note held throughout, generated alike
    # track 0: step 0, a start with 0.5; step 1, none with 0.75 * 0.5 (1 - 0.625); step 2, a start with 1 * 0.5
    # track 1: a start at step 0 and none after, each with probability ~1: its three terms ~0
    expected = -(np.log(0.5) + np.log(1 - 0.625) + np.log(0.5)) / 6
    assert float(onset_loss(tf.constant(fake), tf.constant(real))) == pytest.approx(expected, rel=1e-4)
    held = np.full_like(real, -1.0)
    held[0, :, 0, 0] = 1.0               # one real note through every step: only step 0 starts one
    assert float(onset_loss(tf.constant(held), tf.constant(held))) == pytest.approx(0.0, abs=1e-4)


def test_pitch_weight_is_validated():
    with pytest.raises(ConfigError, match="pitch_weight"):
        preset("default").replace(train={"pitch_weight": -1.0}).validate()


@pytest.mark.parametrize("decay", [-0.1, 1.0, float("nan")])
def test_average_decay_is_validated(decay):
    with pytest.raises(ConfigError, match="average_decay"):
        preset("default").replace(train={"average_decay": decay}).validate()


def test_average_decay_schedule():
    assert average_decay_at(1, 0.999) == pytest.approx(2 / 11)
    assert average_decay_at(90, 0.9) == pytest.approx(0.9)  # 91 / 100 > 0.9: the cap
    assert average_decay_at(80, 0.9) == pytest.approx(81 / 90)


def test_generator_average_by_hand():
    import keras

    def dense(bias):
        model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
        model.set_weights([np.array([[1.0, -2.0]], np.float32), np.array(bias, np.float32)])
        return model

    source, average = dense([3.0, 0.5]), dense([0.0, 0.0])
    iterations = tf.Variable(1, dtype=tf.int64)
    callback = GeneratorAverage(source, average, iterations, decay=0.9)
    callback.on_train_batch_end(0)  # d = 2/11
    d = 2 / 11
    np.testing.assert_allclose(average.get_weights()[1], [(1 - d) * 3.0, (1 - d) * 0.5], rtol=1e-6)
    np.testing.assert_allclose(average.get_weights()[0], [[1.0, -2.0]], rtol=1e-6)  # equal weights stay
    source.set_weights([np.array([[0.0, 0.0]], np.float32), np.array([1.0, 1.0], np.float32)])
    iterations.assign(2)
    callback.on_train_batch_end(1)  # d = 3/12
    e = 3 / 12
    np.testing.assert_allclose(average.get_weights()[1],
                               [e * (1 - d) * 3.0 + (1 - e), e * (1 - d) * 0.5 + (1 - e)], rtol=1e-6)
    np.testing.assert_allclose(average.get_weights()[0], [[e * 1.0, e * -2.0]], rtol=1e-6)


@pytest.mark.slow
def test_averaging_exports_the_average_and_leaves_training_unchanged(small, tmp_path):
    plain = train(tiny(iterations=3, average_decay=0.0), str(tmp_path / "plain"), dataset=small, progress=False, verbose=0)
    averaged = train(tiny(iterations=3, average_decay=0.9), str(tmp_path / "avg"), dataset=small,
                     progress=False, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(plain.generator.get_weights(),
                                                     averaged.generator.get_weights()))
    _, last = artifact.read(tmp_path / "avg" / "generator_last.npz")
    _, exported = artifact.read(tmp_path / "avg" / "generator.npz")
    assert all(np.array_equal(a, b) for a, b in zip(last, plain.generator.get_weights()))
    assert all(np.array_equal(a, b) for a, b in zip(exported, averaged.generator_average.get_weights()))
    assert not all(np.array_equal(a, b) for a, b in zip(exported, last))
    assert not (tmp_path / "plain" / "generator_last.npz").exists()
    # resumed in two parts, the average ends bit for bit where the uninterrupted one does
    train(tiny(iterations=2, average_decay=0.9), str(tmp_path / "split"), dataset=small, progress=False, verbose=0)
    resumed = train(tiny(iterations=3, average_decay=0.9), str(tmp_path / "split"), dataset=small,
                    progress=False, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(resumed.generator_average.get_weights(),
                                                     averaged.generator_average.get_weights()))


@pytest.mark.slow
def test_averaging_switched_on_when_resuming_starts_from_the_weights(small, tmp_path):
    first = train(tiny(iterations=2, average_decay=0.0), str(tmp_path), dataset=small, progress=False, verbose=0)
    at_two = [w.copy() for w in first.generator.get_weights()]
    resumed = train(tiny(iterations=2, average_decay=0.9), str(tmp_path), dataset=small, progress=False, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(resumed.generator_average.get_weights(), at_two))


@pytest.mark.slow
def test_an_earlier_checkpoint_exports_what_a_shorter_run_exports(small, tmp_path):
    train(tiny(iterations=2, average_decay=0.9), str(tmp_path / "short"), dataset=small, progress=False, verbose=0)
    train(tiny(iterations=4, average_decay=0.9), str(tmp_path / "long"), dataset=small, progress=False, verbose=0)
    assert checkpoint_iterations(tmp_path / "long") == [2, 4]  # every 2 iterations
    path = export_checkpoint(tmp_path / "long", 2, tmp_path / "at2")
    for name in ("generator.npz", "generator_last.npz"):
        _, short = artifact.read(tmp_path / "short" / name)
        _, exported = artifact.read(tmp_path / "at2" / name)
        assert all(np.array_equal(a, b) for a, b in zip(short, exported))
    assert str(path).endswith("generator.npz")
    with pytest.raises(CheckpointError, match="no checkpoint of iteration 3"):
        export_checkpoint(tmp_path / "long", 3, tmp_path / "at3")
    with pytest.raises(CheckpointError, match="not a training run"):
        export_checkpoint(tmp_path / "at2", 2, tmp_path / "x")
    assert checkpoint_iterations(tmp_path / "at2") == [] and checkpoint_iterations(tmp_path / "none") == []


@pytest.mark.slow
def test_pitch_weight_is_logged(tmp_path, small):
    from deepaccomp.monitoring import read_scalars

    train(tiny(iterations=2, pitch_weight=5.0), str(tmp_path), dataset=small, progress=False, verbose=0)
    assert read_scalars(tmp_path)["losses/pitch"][0][1] > 0


def test_octave_fold_marks_the_melodys_pitch_class_in_every_octave():
    from deepaccomp.models import OctaveFold, build_generator

    x = -np.ones((1, 3, 30, 1), np.float32)
    x[0, 0, 14, 0] = 1.0                     # one pitch at step 0
    x[0, 2, [3, 5], 0] = 1.0                 # two pitches at step 2, step 1 silent
    out = np.asarray(OctaveFold(30)(x))
    assert out.shape == (1, 3, 30, 1)
    on = [np.flatnonzero(out[0, t, :, 0] > 0).tolist() for t in range(3)]
    assert on == [[2, 14, 26], [], [3, 5, 15, 17, 27, 29]]
    assert set(np.unique(out)) == {-1.0, 1.0}
    folded_cfg = preset("default").replace(model={"melody_octaves": True})
    plain = build_generator(preset("default").replace(model={"melody_octaves": False}))
    folded = build_generator(folded_cfg)
    # one more input channel for the first 4 x 4 convolution of 32 filters, nothing else
    assert folded.count_params() - plain.count_params() == 4 * 4 * 32
    assert [w.shape for w in folded.get_weights()] == [tuple(s) for s in folded_cfg.generator_weight_shapes()]


def test_soft_octave_fold_adds_each_channel_over_octaves_and_feeds_the_critic():
    import tensorflow as tf

    from deepaccomp.models import OctaveFold, build_critic

    x = -np.ones((1, 2, 26, 2), np.float32)
    x[0, 0, 3, 0] = 1.0                      # channel 0: pitch 3 at step 0
    x[0, 1, 1, 1] = 0.0                      # channel 1: half on at pitch 1 and at pitch 25
    x[0, 1, 25, 1] = 0.5
    out = np.asarray(OctaveFold(26, soft=True)(x))
    assert out.shape == (1, 2, 26, 2)
    # pitch 3's class (3, 15) at step 0, channel 0; nothing at step 1
    assert np.flatnonzero(out[0, 0, :, 0] > -1).tolist() == [3, 15]
    np.testing.assert_allclose(out[0, 0, [3, 15], 0], 1.0)
    assert np.all(out[0, 1, :, 0] == -1)
    # class 1 = pitches 1, 13, 25: 0.5 + 0.75 on -> 2 * 1.25 - 1 = 1.5 at each; elsewhere -1
    np.testing.assert_allclose(out[0, 1, [1, 13, 25], 1], 1.5)
    assert np.all(np.delete(out[0, 1, :, 1], [1, 13, 25]) == -1)
    assert np.all(out[0, 0, :, 1] == -1)
    # differentiable: each input value reaches its octave copies
    xt = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = OctaveFold(26, soft=True)(xt)[0, 1, 13, 1]
    grad = tape.gradient(y, xt).numpy()
    assert np.flatnonzero(grad[0, 1, :, 1]).tolist() == [1, 13, 25] and np.allclose(grad[0, 1, [1, 13, 25], 1], 1.0)

    cfg = preset("default")
    plain, folded = build_critic(cfg), build_critic(cfg.replace(model={"critic_octaves": True}))
    # the 4 tracks join a second time, folded: 4 more input channels for the first convolution of 16 filters
    assert folded.count_params() - plain.count_params() == 4 * 4 * 4 * 16


# ---------------------------------------------------------------------- presets
def test_deepcomposer_preset_has_the_labs_parameter_counts():
    from deepaccomp.models import build_critic, build_generator

    cfg = preset("deepcomposer")
    g, d = build_generator(cfg), build_critic(cfg)
    assert g.count_params() == 8_273_540
    assert sum(int(np.prod(w.shape)) for w in g.non_trainable_weights) == 2_688
    assert d.count_params() == 2_766_785
    assert g.input_shape == [(None, 32, 128, 1), (None, 2, 8, 512)]
    assert g.output_shape == (None, 32, 128, 4) and d.input_shape[1] == (None, 32, 128, 4)


@pytest.mark.slow
def test_deepcomposer_preset_trains_a_few_iterations(small, tmp_path):
    cfg = preset("deepcomposer").replace(train={"iterations": 2, "eval_every": 2, "checkpoint_every": 2,
                                                "batch_size": 8, "n_eval_melodies": 2})
    gan = train(cfg, str(tmp_path), dataset=small, progress=False, verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == 2 and int(gan.critic_steps.numpy()) == 10


# ---------------------------------------------------------------------- training runs
@pytest.mark.slow
def test_critic_ratio_tensorboard_samples_and_export(small, tmp_path):
    cfg = tiny()
    gan = train(cfg, str(tmp_path), dataset=small, progress=False, verbose=0)
    assert int(gan.g_optimizer.iterations.numpy()) == 4
    assert int(gan.d_optimizer.iterations.numpy()) == 12 == int(gan.critic_steps.numpy())
    tags = read_tags(str(tmp_path))
    for tag in ("losses/critic", "losses/generator", "losses/gradient_penalty", "losses/wasserstein",
                "metrics/alto/in_scale_ratio", "metrics/bass/harmonic_agreement",
                "metrics/tenor/empty_bar_rate", "rolls/real_vs_generated", "config"):
        assert tag in tags, tag
    assert sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "samples" / "*.mid"))) == [
        "iter_000000.mid", "iter_000002.mid", "iter_000004.mid"]
    # the exported generator reloads and gives identical output
    gen, cfg2 = artifact.load(str(tmp_path / "generator.npz"))
    assert cfg2 == cfg
    x = np.where(small.phrases("valid", phrase_bars=1)[:2, ..., :1], 1.0, -1.0).astype(np.float32)
    z = np.random.default_rng(0).standard_normal((2, 4, 16, 2)).astype(np.float32)
    assert np.array_equal(gen.predict_on_batch([x, z]), gan.exported_generator.predict_on_batch([x, z]))


@pytest.mark.slow
def test_resume_restores_identical_state_and_continues(small, tmp_path):
    logdir = str(tmp_path)
    first = train(tiny(iterations=2), logdir, dataset=small, progress=False, verbose=0)
    saved = [w.copy() for w in first.generator.get_weights() + first.critic.get_weights()]
    saved_opt = [v.numpy().copy() for v in first.g_optimizer.variables]
    saved_seed = first.seed_generator.state.numpy().copy()
    # rebuild from the checkpoint only (iterations == saved): nothing is trained, state is restored
    again = train(tiny(iterations=2), logdir, dataset=small, progress=False, verbose=0)
    restored = again.generator.get_weights() + again.critic.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(saved, restored))
    assert all(np.array_equal(a, b.numpy()) for a, b in zip(saved_opt, again.g_optimizer.variables))
    assert np.array_equal(saved_seed, again.seed_generator.state.numpy())
    # and a longer run continues from iteration 2
    more = train(tiny(iterations=4), logdir, dataset=small, progress=False, verbose=0)
    assert int(more.g_optimizer.iterations.numpy()) == 4 and int(more.critic_steps.numpy()) == 12
    ckpts = sorted(glob.glob(os.path.join(logdir, "checkpoints", "ckpt-*.index")))
    assert [os.path.basename(c) for c in ckpts] == ["ckpt-2.index", "ckpt-4.index"]


@pytest.mark.slow
def test_resume_with_another_config_is_refused(small, tmp_path):
    train(tiny(iterations=2), str(tmp_path), dataset=small, progress=False, verbose=0)
    other = tiny(iterations=4).replace(model={"noise_channels": 3})
    with pytest.raises(CheckpointError, match="another model"):
        train(other, str(tmp_path), dataset=small, progress=False, verbose=0)


@pytest.mark.slow
def test_damaged_checkpoint_gives_a_clear_error(small, tmp_path):
    train(tiny(iterations=2), str(tmp_path), dataset=small, progress=False, verbose=0)
    for f in glob.glob(str(tmp_path / "checkpoints" / "ckpt-2.data-*")):
        with open(f, "r+b") as fh:
            fh.truncate(10)
    with pytest.raises(CheckpointError, match="cannot restore.*use a new --logdir"):
        train(tiny(iterations=4), str(tmp_path), dataset=small, progress=False, verbose=0)


@pytest.mark.slow
def test_non_finite_loss_stops_with_the_iteration_and_keeps_the_checkpoint(small, tmp_path, nan_critic):
    cfg = tiny(iterations=4)
    with pytest.raises(TrainingError, match="iteration 1"):
        train(cfg, str(tmp_path), dataset=small, progress=False, verbose=0)
    assert not glob.glob(str(tmp_path / "checkpoints" / "ckpt-*.index"))


@pytest.mark.slow
def test_noise_changes_the_accompaniment_once_trained_a_little(small, tmp_path):
    from deepaccomp.representation import decode

    cfg = tiny(iterations=30, eval_every=30, checkpoint_every=30)
    gan = train(cfg, str(tmp_path), dataset=small, progress=False, verbose=0)
    x = np.where(small.phrases("train", phrase_bars=1)[:8, ..., :1], 1.0, -1.0).astype(np.float32)
    rng = np.random.default_rng(1)
    z1, z2 = (rng.standard_normal((8, 4, 16, 2)).astype(np.float32) for _ in range(2))
    a = decode(gan.generator.predict_on_batch([x, z1]), "voice", cfg.generation.decode_threshold)
    b = decode(gan.generator.predict_on_batch([x, z2]), "voice", cfg.generation.decode_threshold)
    assert (a != b).any()


def test_export_is_checked_on_load(tmp_path):
    from deepaccomp.models import build_generator

    cfg = tiny()
    path = str(tmp_path / "g.npz")
    artifact.save(build_generator(cfg), cfg, path)
    data_ = bytearray(open(path, "rb").read())
    data_[len(data_) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data_))
    with pytest.raises(ModelFileError):
        artifact.load(path)


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus_runs_a_step(tmp_path):
    script = textwrap.dedent("""
        import os, numpy as np, tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from deepaccomp import preset
        from deepaccomp.training import build_gan
        from deepaccomp.data import make_tf_dataset
        cfg = preset("default").replace(
            model={"encoder_filters": [4, 8], "decoder_filters": [4], "noise_channels": 2,
                   "critic_filters": [4, 8]},
            data={"phrase_bars": 1}, train={"batch_size": 4, "critic_updates": 2})
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        phr = np.random.default_rng(0).random((64, 16, 64, 4)) > 0.95
        gan = build_gan(cfg, strategy)
        gan.fit(make_tf_dataset(phr, 2 * 4 * 2), epochs=1, steps_per_epoch=2, verbose=0)
        assert int(gan.g_optimizer.iterations.numpy()) == 2
        assert int(gan.d_optimizer.iterations.numpy()) == 4
        print("OK", strategy.num_replicas_in_sync)
    """)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "OK 2" in out.stdout


def test_unwritable_logdir_fails_at_start(small, tmp_path):
    from deepaccomp.errors import OutputFileError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputFileError):
        train(tiny(), str(blocker / "run"), dataset=small, progress=False, verbose=0)


@pytest.mark.slow
def test_bfloat16_mixed_precision_trains_and_exports_float32(small, tmp_path):
    import keras

    before = keras.config.dtype_policy().name
    gan = train(tiny(iterations=2, mixed_precision="bfloat16"), str(tmp_path), dataset=small,
                progress=False, verbose=0)
    assert keras.config.dtype_policy().name == before  # the global policy is restored
    assert gan.generator.get_layer("enc0_conv").compute_dtype == "bfloat16"
    assert gan.critic.get_layer("conv0").compute_dtype == "bfloat16"
    assert all(w.dtype == "float32" for w in gan.generator.weights + gan.critic.weights)
    x = np.where(small.phrases("valid", phrase_bars=1)[:2, ..., :1], 1.0, -1.0).astype(np.float32)
    z = np.random.default_rng(0).standard_normal((2, 4, 16, 2)).astype(np.float32)
    mixed = np.asarray(gan.exported_generator([x, z], training=False))
    assert mixed.dtype == np.float32 and np.all(np.isfinite(mixed))
    # the exported weights load into a float32 generator that gives nearly the same values
    gen, cfg = artifact.load(str(tmp_path / "generator.npz"))
    assert gen.get_layer("enc0_conv").compute_dtype == "float32"
    full = np.asarray(gen([x, z], training=False))
    assert np.max(np.abs(full - mixed)) < 0.05  # bfloat16 keeps 8 bits of mantissa


def test_mixed_precision_setting_is_validated():
    with pytest.raises(ConfigError, match="mixed_precision"):
        tiny(mixed_precision="float16")


@pytest.mark.slow
def test_a_float32_run_resumes_in_bfloat16(small, tmp_path):
    first = train(tiny(iterations=2), str(tmp_path), dataset=small, progress=False, verbose=0)
    saved = [w.copy() for w in first.generator.get_weights()]
    again = train(tiny(iterations=2, mixed_precision="bfloat16"), str(tmp_path), dataset=small,
                  progress=False, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(saved, again.generator.get_weights()))
    more = train(tiny(iterations=3, mixed_precision="bfloat16"), str(tmp_path), dataset=small,
                 progress=False, verbose=0)
    assert int(more.g_optimizer.iterations.numpy()) == 3


@pytest.mark.slow
def test_a_resumed_run_ends_exactly_where_an_uninterrupted_one_does(small, tmp_path):
    """Same batches (the input skips what was trained on), same noise (seed state in the
    checkpoint), same weights, bit for bit; and runs earlier in the process change nothing."""
    def weights(gan):
        return gan.generator.get_weights() + gan.critic.get_weights()

    whole = weights(train(tiny(iterations=4), str(tmp_path / "whole"), dataset=small, progress=False, verbose=0))
    again = weights(train(tiny(iterations=4), str(tmp_path / "again"), dataset=small, progress=False, verbose=0))
    train(tiny(iterations=2), str(tmp_path / "split"), dataset=small, progress=False, verbose=0)
    resumed = weights(train(tiny(iterations=4), str(tmp_path / "split"), dataset=small, progress=False, verbose=0))
    assert all(np.array_equal(a, b) for a, b in zip(whole, again))
    assert all(np.array_equal(a, b) for a, b in zip(whole, resumed))


@pytest.mark.slow
def test_position_channels_train_export_and_generate(small, tmp_path):
    from deepaccomp import Accompanist

    cfg = tiny(iterations=2).replace(model={"position_channels": True})
    assert cfg.melody_channels == 4
    gan = train(cfg, str(tmp_path), dataset=small, progress=False, verbose=0)
    assert gan.generator.inputs[0].shape[-1] == 4 and gan.critic.inputs[0].shape[-1] == 4
    acc = Accompanist.load(tmp_path / "generator.npz")
    roll = np.zeros((48, 128, 1), bool)
    roll[:, 67, 0] = True
    a, b = (acc.accompany([roll], seed=1, steps_per_bar=s)[0] for s in (16, 12))
    assert a.shape == (48, 128, 3)
    assert not np.array_equal(a, b) or not a.any()  # the bar length reaches the network
