"""The training callback: TensorBoard scalars and images, evaluation, checkpoints, NaN guard.

TensorBoard layout (``tensorboard --logdir LOGDIR``):

* ``losses/critic``, ``losses/generator``, ``losses/gradient_penalty``,
  ``losses/wasserstein``, ``losses/reconstruction``, ``losses/diversity`` at
  iteration 1 and every ``log_every`` iterations;
* ``metrics/<track>/<metric>`` of the generated accompaniment of the fixed
  validation melodies (same noise each time) every ``eval_every`` iterations;
  the same tags in the ``reference`` run hold the real data's values, so each
  chart shows generated vs. real; the metrics are :data:`deepaccomp.metrics.METRICS`'
  logged ones, and a track absent from every real phrase (or a metric with nothing to
  measure) is not logged at that step;
* ``rolls/real_vs_generated`` images; ``config`` as a text summary.

Samples are written as MIDI to ``LOGDIR/samples/iter_NNNNNN.mid``.

:func:`read_scalars` reads a run's scalars back (for plots in a notebook).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np
from tqdm import tqdm

from . import metrics
from ._tf import keras, tf
from .errors import InputFileError, TrainingError
from .generation import ForwardPass, draw_noise
from .io_utils import atomic_write_bytes
from .piece import Piece, write_piece
from .layout import DEFAULT_LAYOUT, get_layout
from .visualization import figure_to_png_bytes, plot_comparison

__all__ = ["Monitor", "EVAL_METRICS", "DRUM_METRICS", "RUN_STATUSES", "eval_phrases", "tagged_metrics", "record_time",
           "read_scalars"]

LOG_EVERY = 10
EVAL_METRICS = metrics.logged_metrics()
"""What is logged for a pitched track (:func:`deepaccomp.metrics.logged_metrics`: from the one table of metrics)."""
DRUM_METRICS = metrics.logged_metrics(drums=True)
"""What is logged for a drum track: pitch metrics (scale, consonance, voice leading) do not apply to it."""
LOSS_TAGS = {"d_loss": "critic", "g_loss": "generator", "gp": "gradient_penalty",
             "wasserstein": "wasserstein", "recon": "reconstruction", "pitch": "pitch",
             "onset": "onset", "diversity": "diversity"}
"""``train_step`` output -> TensorBoard tag under ``losses/``."""


def eval_phrases(dataset, cfg) -> np.ndarray:
    """The fixed evaluation phrases: ``n_eval_melodies`` evenly spaced whole phrases of valid (else train)."""
    split = "valid" if dataset.indices("valid") else "train"
    phr = dataset.phrases(split, window=cfg.window, phrase_bars=cfg.data.phrase_bars,
                          hop_bars=cfg.data.phrase_bars, restrike_gaps=cfg.data.restrike_gaps)
    idx = np.linspace(0, len(phr) - 1, num=min(cfg.train.n_eval_melodies, len(phr))).round().astype(int)
    return phr[idx]


def tagged_metrics(accomp, real, lowest_pitch: int, layout=DEFAULT_LAYOUT) -> dict:
    """``{metrics/<track>/<name>: value}`` of accompaniment ``(n, t, p, N)`` against real phrases ``(n, t, p, 1 + N)``.

    Tracks are named by ``layout`` (alto, tenor, bass for satb); a drum track
    logs :data:`DRUM_METRICS` only; ``out_of_range`` is measured against the
    layout's track windows (:attr:`deepaccomp.layout.Layout.metric_options`).
    ``harmonic_agreement`` is against the real pitched accompaniment (drums left out).
    A track is judged on the phrases where the real track has notes (a silent
    generated track there counts); a track that no real phrase has is absent and
    gets no tag, nor does a metric with nothing to measure.
    """
    layout = get_layout(layout)
    full = np.concatenate([real[..., :1], accomp], axis=-1)
    options = layout.metric_options
    values = metrics.evaluate(full, lowest_pitch=lowest_pitch, key="C major", present=metrics.presence(real),
                              reference=metrics.without_drums(real, options.get("drum_tracks"))[..., 1:], **options)
    out = {}
    for k, track in enumerate(layout.accompaniment, start=1):
        for name in metrics.logged_metrics(track.drums):
            if name in values and np.isfinite(values[name][k]):
                out[f"metrics/{track.name}/{name}"] = float(values[name][k])
    return out


RUN_STATUSES = ("finished", "interrupted", "failed", "killed")
"""How an invocation of ``train`` ended, as counted in ``timing.json``."""


def record_time(logdir, seconds: float, iterations: int, status: str = "finished") -> None:
    """Add one invocation's wall time and iterations to ``LOGDIR/timing.json`` (summed over resumes).

    Parameters
    ----------
    logdir : str or os.PathLike
    seconds : float
        Wall time of the invocation.
    iterations : int
        Iterations it trained (a killed run's last recorded progress).
    status : str
        One of :data:`RUN_STATUSES`: ``"finished"`` (reached its iterations),
        ``"interrupted"`` (SIGINT/SIGTERM, checkpoint saved), ``"failed"``
        (stopped by an error) or ``"killed"`` (found dead on the next start).
        Each is counted under its own key; ``invocations`` counts them all.
    """
    if status not in RUN_STATUSES:
        raise ValueError(f"status must be one of {RUN_STATUSES}, got {status!r}")
    path = os.path.join(logdir, "timing.json")
    timing = {"training_seconds": 0.0, "iterations": 0, "invocations": 0}
    if os.path.exists(path):
        try:
            with open(path) as fh:
                timing.update(json.load(fh))
        except (OSError, ValueError):
            pass
    timing["training_seconds"] = round(timing["training_seconds"] + seconds, 1)
    timing["iterations"] = timing["iterations"] + iterations
    timing["invocations"] += 1
    timing[status] = timing.get(status, 0) + 1
    atomic_write_bytes(path, json.dumps(timing, indent=2).encode())


def _shown(value) -> str:
    """A metric for the evaluation line: two decimals, or ``-`` where it has no value (the generated
    track played nothing to measure, or no real phrase has that track: absent, not silent)."""
    return "-" if value is None else f"{value:.2f}"


class Monitor(keras.callbacks.Callback):
    """Logs, evaluates and checkpoints a :class:`~deepaccomp.training.WGANGP` run.

    Generation goes through :class:`~deepaccomp.generation.ForwardPass` (the
    same path as the Accompanist) on fixed validation phrases with fixed noise.
    """

    def __init__(self, gan, cfg, dataset, logdir, manager, verbose=1, log_every=LOG_EVERY):
        super().__init__()
        self.gan, self.cfg, self.logdir, self.manager = gan, cfg, logdir, manager
        self.verbose, self.log_every = verbose, log_every
        self.writer = tf.summary.create_file_writer(os.path.join(logdir, "train"))
        self.ref_writer = tf.summary.create_file_writer(os.path.join(logdir, "reference"))
        self.forward = ForwardPass(gan.exported_generator, cfg)
        self.eval_real = eval_phrases(dataset, cfg)
        rng = np.random.default_rng(cfg.train.seed + 12345)
        self.eval_noise = draw_noise(cfg, rng, len(self.eval_real), self.eval_real.shape[1])
        self.history = []
        self.last_save_time = time.monotonic()
        self._t0, self._it0 = time.perf_counter(), self.iteration()
        self.layout = cfg.track_layout
        self.reference = tagged_metrics(self.eval_real[..., 1:], self.eval_real, cfg.window.lowest, self.layout)
        self._write_reference_and_config()

    def _write_reference_and_config(self):
        with self.ref_writer.as_default():
            for tag, value in self.reference.items():
                tf.summary.scalar(tag, value, step=0)
                tf.summary.scalar(tag, value, step=self.cfg.train.iterations)
        with self.writer.as_default():
            tf.summary.text("config", "```\n" + self.cfg.to_json() + "\n```", step=0)

    def generate_eval(self):
        """Accompaniments ``(n_eval, time, pitch, N)`` bool of the fixed validation melodies and noise."""
        return self.forward(self.eval_real[..., :1], self.eval_noise)

    def evaluate(self, iteration: int):
        """Log metrics per voice, a piano-roll image and a MIDI sample for ``iteration``."""
        fake = self.generate_eval()
        scores = tagged_metrics(fake, self.eval_real, self.cfg.window.lowest, self.layout)
        full_fake = np.concatenate([self.eval_real[..., :1], fake], axis=-1)
        self._write_scores(iteration, scores, full_fake[0])
        samples = os.path.join(self.logdir, "samples")
        os.makedirs(samples, exist_ok=True)
        write_piece(Piece.from_roll(full_fake[0], self.layout, lowest_pitch=self.cfg.window.lowest),
                    os.path.join(samples, f"iter_{iteration:06d}.mid"))
        self.history.append({"iteration": iteration, **scores})
        if self.verbose:
            parts = [f"{v}: in-scale {_shown(scores.get(f'metrics/{v}/in_scale_ratio'))}"
                     f" agree {_shown(scores.get(f'metrics/{v}/harmonic_agreement'))}"
                     for v in self.layout.accompaniment_names]
            tqdm.write(f"[eval] iter {iteration}: " + " | ".join(parts), file=sys.stderr)
        return scores

    def _write_scores(self, iteration, scores, full_fake):
        with self.writer.as_default():
            for tag, value in scores.items():
                tf.summary.scalar(tag, value, step=iteration)
            fig = plot_comparison(self.eval_real[0], full_fake, lowest_pitch=self.cfg.window.lowest)
            png = figure_to_png_bytes(fig)
            tf.summary.image("rolls/real_vs_generated",
                             tf.expand_dims(tf.image.decode_png(png, channels=4), 0), step=iteration)
        self.writer.flush()

    # ------------------------------------------------------------------ callbacks
    def iteration(self) -> int:
        """The generator iterations trained so far (the optimiser's counter)."""
        return int(self.gan.g_optimizer.iterations.numpy())

    def save(self) -> None:
        """Checkpoint the current iteration (once: a second call at the same iteration does nothing)."""
        it = self.iteration()
        latest = self.manager.latest_checkpoint
        if latest is None or not latest.endswith(f"-{it}"):
            self.manager.save(checkpoint_number=it)
        self.last_save_time = time.monotonic()

    def on_train_begin(self, logs=None):
        """Start the wall clock; a fresh run logs its untrained state as iteration 0."""
        self._t0, self._it0 = time.perf_counter(), self.iteration()
        self.last_save_time = time.monotonic()
        if self.iteration() == 0:
            self.evaluate(0)

    def on_train_batch_end(self, batch, logs=None):
        """Log losses, stop on a non-finite loss (:class:`TrainingError`), evaluate and checkpoint on schedule."""
        it = self.iteration()
        values = {k: float(np.asarray(v)) for k, v in (logs or {}).items()}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            self.model.stop_training = True
            latest = self.manager.latest_checkpoint
            kept = (f"the last good checkpoint ({latest}) is kept" if latest else
                    "no checkpoint was saved yet (a new run starts from the beginning)")
            raise TrainingError(
                f"non-finite loss at iteration {it}: {bad}; {kept}. Lower the learning rates or "
                "raise the gradient-penalty weight and resume.")
        if it % self.log_every == 0 or it == 1:
            with self.writer.as_default():
                for k, tag in LOSS_TAGS.items():
                    if k in values:
                        tf.summary.scalar(f"losses/{tag}", values[k], step=it)
        if it % self.cfg.train.eval_every == 0:
            self.evaluate(it)
        if it % self.cfg.train.checkpoint_every == 0:
            self.save()
        if it >= self.cfg.train.iterations:
            self.model.stop_training = True

    def finish(self, status: str = "finished"):
        """End the run: record it in ``timing.json``; unless it failed, evaluate and checkpoint its last iteration.

        Parameters
        ----------
        status : str
            ``"finished"``: evaluate the last iteration (if its evaluation is
            not already logged) and checkpoint it. ``"interrupted"``:
            checkpoint only. ``"failed"``: neither (the state may be bad).
        """
        it = self.iteration()
        record_time(self.logdir, time.perf_counter() - self._t0, it - self._it0, status=status)
        if status == "finished" and (not self.history or self.history[-1]["iteration"] != it):
            self.evaluate(it)
        if status != "failed":
            self.save()
        self.writer.flush()
        self.ref_writer.flush()


# ---------------------------------------------------------------------- reading a run back
def read_scalars(logdir, run: str | None = "train") -> dict:
    """Scalars of a run, read back from its TensorBoard event files.

    Parameters
    ----------
    logdir : str or os.PathLike
        The folder given to :func:`deepaccomp.train` (or any folder of event files).
    run : str or None
        Sub-folder to read: ``"train"`` (``losses/...`` and the generated
        ``metrics/...``) or ``"reference"`` (the real data's ``metrics/...``,
        logged at step 0 and at the last iteration). ``None`` reads the event
        files directly inside ``logdir``.

    Returns
    -------
    dict of str to list of (int, float)
        ``{tag: [(step, value), ...]}`` sorted by step, every logged point (no
        TensorBoard down-sampling). A step logged twice (a resumed run repeats
        the iterations after its last checkpoint) keeps the later value.
        Non-scalar summaries (images, text) are left out.

    Raises
    ------
    InputFileError
        The folder does not exist.

    Reading only: nothing is written, TensorBoard need not be running.
    """
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    folder = os.fspath(logdir) if run is None else os.path.join(os.fspath(logdir), run)
    if not os.path.isdir(folder):
        raise InputFileError(f"{folder}: no such run folder (is {os.fspath(logdir)!r} a training logdir?)")
    acc = EventAccumulator(folder, size_guidance={"scalars": 0, "tensors": 0, "images": 1,
                                                  "histograms": 1, "audio": 1,
                                                  "compressedHistograms": 1})
    acc.Reload()
    points: dict = {}
    tags = acc.Tags()
    for tag in tags.get("tensors", []):  # TF2 summaries store scalars as tensors
        for ev in acc.Tensors(tag):
            value = make_ndarray(ev.tensor_proto)
            if value.size != 1 or value.dtype.kind not in "biuf":
                break  # text or another non-scalar summary under this tag
            points.setdefault(tag, {})[int(ev.step)] = float(value.reshape(()))
    for tag in tags.get("scalars", []):  # TF1-style simple values
        for ev in acc.Scalars(tag):
            points.setdefault(tag, {})[int(ev.step)] = float(ev.value)
    return {tag: sorted(by_step.items()) for tag, by_step in sorted(points.items())}
