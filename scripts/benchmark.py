"""Benchmark deepaccomp against the DeepComposer-lab configuration and the machine's limit.

    python scripts/benchmark.py [--repeats 3] [--quick] [--json out.json]
    python scripts/benchmark.py --generation-only    # no TensorFlow needed: the light install

Prints a Markdown table (and writes JSON) of medians over ``--repeats``:

* training: seconds per generator iteration (critic ratio 5, batch 64) of the
  ``deepcomposer`` and ``default`` presets, with and without XLA, and with
  bfloat16 mixed precision; FLOPs per iteration counted from the built models
  (see :func:`step_flops`) divided by the time, next to the measured matmul
  rate in the same precision (the practical ceiling);
* generation: ``Accompanist.generate`` latency for 2-, 16- and 64-bar melodies
  (after load), model load time, end-to-end ``deepaccomp generate`` CLI time
  next to a Python that only imports numpy and pretty_midi (measured alternately),
  throughput for a batch of 64 melodies;
* data: cold chorale dataset build, cached load, tf.data examples/s;
* peak RSS of a training process, a generation process and the command line's generation
  (which also checks that TensorFlow stayed out).

* the studio (``scripts/studio_load.py``, run as a child process): start to the first page, and 20
  clients x 10 requests of the bundled example (p50, p95, max, throughput, peak memory of the server
  with its workers), with its default worker processes and with none (``--workers 0``).

Each measurement that needs a fresh process (CLI, RSS, cold build) runs one.
Not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(ROOT, "deepaccomp", "assets", "examples", "twinkle.mid")


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ---------------------------------------------------------------------- FLOPs
def conv_flops(model) -> int:
    """Forward FLOPs (2 x multiply-adds) of a Keras model's Conv2D and Dense layers
    at batch 1, from the layers' built input/output shapes."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            k = layer.kernel.shape  # (kh, kw, in, out)
            total += 2 * out[1] * out[2] * k[0] * k[1] * k[2] * k[3]
        elif isinstance(layer, keras.layers.Dense):
            k = layer.kernel.shape
            total += 2 * k[0] * k[1]
    return int(total)


def step_flops(cfg, generator, critic) -> int:
    """FLOPs of one generator iteration (critic_updates critic steps + 1 generator step).

    Counted from the models: G and D forward FLOPs at the phrase length; a
    backward pass costs 2x its forward (input and weight gradients). Per
    critic step: G forward, D forward on real and fake, the gradient penalty
    (D forward + backward to the input, then that graph differentiated
    again: ~3x D forward more), and D backward for both terms. Generator step:
    G forward + backward, D forward + backward to its input (2x D forward),
    plus one more G forward + backward with the diversity term.
    """
    if not cfg.model.fixed_length:  # count at the training phrase length
        from deepaccomp.models import build_generator

        generator = build_generator(cfg.replace(model={"fixed_length": True}))
    g, d = conv_flops(generator), conv_flops(critic)
    b = cfg.train.batch_size
    critic_step = g + 2 * d + (d + 2 * d + 3 * d) + 2 * (2 * d)
    gen_step = 3 * g + 3 * d
    if cfg.train.diversity_weight > 0:
        gen_step += 3 * g
    return int(b * (cfg.train.critic_updates * critic_step + gen_step))


def matmul_rate(n=4096, repeats=5, dtype="float32") -> float:
    import tensorflow as tf

    a = tf.cast(tf.random.normal((n, n)), dtype)
    b = tf.cast(tf.random.normal((n, n)), dtype)
    tf.matmul(a, b).numpy()
    t = median_time(lambda: tf.matmul(a, b).numpy(), repeats)
    return 2 * n**3 / t


# ---------------------------------------------------------------------- training
def train_iteration_time(preset_name, xla, mixed, iterations, repeats):
    import numpy as np

    from deepaccomp import config
    from deepaccomp.data import make_tf_dataset
    from deepaccomp.representation import get_window
    from deepaccomp.training import build_gan

    cfg = config.preset(preset_name).replace(train={"critic_updates": 5, "batch_size": 64,
                                                    "jit_compile": xla,
                                                    "mixed_precision": "bfloat16" if mixed else "off"})
    w = get_window(cfg.data.pitch_window)
    phr = np.random.default_rng(0).random((1024, cfg.phrase_steps, w.size, 4)) > 0.97
    ds = make_tf_dataset(phr, cfg.train.batch_size * cfg.train.critic_updates)
    gan = build_gan(cfg)
    gan.fit(ds, epochs=1, steps_per_epoch=2, verbose=0)  # compile
    clock = _BatchClock()
    times = []
    for _ in range(repeats):
        gan.fit(ds, epochs=1, steps_per_epoch=iterations, verbose=0, callbacks=[clock])
        times.append(clock.seconds / iterations)
    return statistics.median(times), step_flops(cfg, gan.generator, gan.critic)


def _BatchClock():
    """A Keras callback timing from the first batch's start to the last batch's end.

    Timing the whole ``fit`` call would add its set-up and teardown: after the
    last batch, ``fit`` here sometimes returned seconds later (totals of exactly
    10.24 s and 20.48 s were seen, the signature of a doubling wait); a training
    run pays that once, not per iteration.
    """
    import keras

    class BatchClock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            logs = logs or {}
            float(logs.get("g_loss", 0.0))  # wait for the step's values
            self.seconds = time.perf_counter() - self.start

    return BatchClock()


# ---------------------------------------------------------------------- generation
def melody(bars, seed=0):
    import numpy as np
    import pretty_midi

    rng = np.random.default_rng(seed)
    pm = pretty_midi.PrettyMIDI(initial_tempo=100)
    inst = pretty_midi.Instrument(0, name="melody")
    scale = [0, 2, 4, 5, 7, 9, 11]
    deg, beat = 0, 0.6
    for i in range(bars * 4):
        deg = int(np.clip(deg + rng.choice([-1, 1, 2, -2]), 0, 9))
        p = 60 + 12 * (deg // 7) + scale[deg % 7]
        inst.notes.append(pretty_midi.Note(90, p, i * beat, (i + 1) * beat))
    pm.instruments.append(inst)
    return pm


def generation(repeats):
    from deepaccomp import Accompanist

    t0 = time.perf_counter()
    acc = Accompanist()
    load = time.perf_counter() - t0
    acc.generate(melody(2), seed=0)  # warm up
    out = {"model_load_s": load}
    for bars in (2, 16, 64):
        m = melody(bars)
        out[f"generate_{bars}_bars_s"] = median_time(lambda: acc.generate(m, seed=0), repeats)
    batch = [melody(16, seed=i) for i in range(64)]
    t = median_time(lambda: acc.generate(batch, seed=0), max(1, repeats // 2))
    out["batch_64x16_bars_melodies_per_s"] = 64 / t
    return out


def cli_time(repeats):
    """``deepaccomp generate`` of the bundled example end to end, and the baseline of a Python that
    only imports numpy and pretty_midi, measured alternately: ``(cli_s, baseline_s)``."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [os.path.join(os.path.dirname(sys.executable), "deepaccomp"), "generate", EXAMPLE,
               "-o", os.path.join(tmp, "out.mid"), "--seed", "0"]
        base = [sys.executable, "-c", "import numpy, pretty_midi"]
        cli, baseline = [], []
        for _ in range(repeats):
            cli.append(median_time(lambda: subprocess.run(cmd, check=True, capture_output=True), 1))
            baseline.append(median_time(lambda: subprocess.run(base, check=True, capture_output=True), 1))
        return statistics.median(cli), statistics.median(baseline)


def peak_rss(code) -> float:
    """Peak RSS in MB of a fresh Python process running ``code``."""
    # VmHWM, not ru_maxrss: ru_maxrss of a child counts the parent's memory copied at fork
    wrapper = code + ("\nprint('RSS', [l.split()[1] for l in open('/proc/self/status')"
                      " if l.startswith('VmHWM')][0])")
    out = subprocess.run([sys.executable, "-c", wrapper], capture_output=True, text=True, check=True,
                         env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), cwd=ROOT)
    kb = int(out.stdout.strip().split("RSS")[-1].strip(" []'"))
    return kb / 1024


TRAIN_RSS = """
import tempfile
from deepaccomp import config, data
from deepaccomp.training import train
ds, _ = data.prepare(progress=False)
cfg = config.default().replace(train={"iterations": 20, "eval_every": 10, "checkpoint_every": 10})
train(cfg, tempfile.mkdtemp(), dataset=ds, progress=False, verbose=0)
"""
GEN_RSS = """
from deepaccomp import Accompanist
Accompanist().generate("deepaccomp/assets/examples/twinkle.mid", seed=0)
"""
CLI_RSS = """
import os, sys, tempfile
from deepaccomp.__main__ import run
out = os.path.join(tempfile.mkdtemp(), "out.mid")
assert run(["generate", "deepaccomp/assets/examples/twinkle.mid", "-o", out, "--seed", "0"]) == 0
assert "tensorflow" not in sys.modules
"""


def data_times(repeats):
    from deepaccomp import data

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ds, path = data.prepare(dataset_dir=tmp, progress=False)
        cold = time.perf_counter() - t0
        cached = median_time(lambda: data.prepare(dataset_dir=tmp, progress=False), repeats)
    phr = ds.phrases("train")
    tfds = data.make_tf_dataset(phr, 128)
    it = iter(tfds)
    next(it)
    n = 50
    t0 = time.perf_counter()
    for _ in range(n):
        next(it)
    return {"dataset_build_cold_s": cold, "dataset_load_cached_s": cached,
            "tfdata_examples_per_s": n * 128 / (time.perf_counter() - t0)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="skip the deepcomposer preset and XLA runs")
    p.add_argument("--json", default=None)
    p.add_argument("--generation-only", action="store_true",
                   help="generation, the command line and their memory only (no TensorFlow needed)")
    args = p.parse_args(argv)
    r = args.repeats
    res = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "python": platform.python_version()}}
    if args.generation_only:
        res["matmul_gflops"] = numpy_matmul_rate() / 1e9
        res.update(generation_figures(r))
        print(render(res))
        return _write_json(res, args.json)
    import tensorflow as tf

    res["machine"]["tensorflow"] = tf.__version__
    res["machine"]["gpus"] = [d.name for d in tf.config.list_physical_devices("GPU")]
    res["matmul_gflops"] = matmul_rate() / 1e9
    res["matmul_bf16_gflops"] = matmul_rate(dtype="bfloat16") / 1e9
    runs = [("default", False, False, 10), ("default", False, True, 10)]
    if not args.quick:
        runs += [("default", True, False, 10), ("deepcomposer", False, False, 2),
                 ("deepcomposer", False, True, 2), ("deepcomposer", True, False, 2)]
    res["training"] = {}
    for name, xla, mixed, iters in runs:
        t, flops = train_iteration_time(name, xla, mixed, iters, r)
        ceiling = res["matmul_bf16_gflops" if mixed else "matmul_gflops"]
        res["training"][f"{name}{' +XLA' if xla else ''}{' bf16' if mixed else ''}"] = {
            "s_per_iteration": t, "gflop_per_iteration": flops / 1e9,
            "gflops_achieved": flops / t / 1e9,
            "floor_s_at_matmul_rate": flops / (ceiling * 1e9)}
    res.update(generation_figures(r))
    res["data"] = data_times(r)
    res["peak_rss_mb"]["training"] = peak_rss(TRAIN_RSS)
    print(render(res))
    return _write_json(res, args.json)


def generation_figures(repeats) -> dict:
    """Generation after load, the command line against its baseline, the peak memory of both, the studio."""
    gen = generation(repeats)
    gen["cli_end_to_end_s"], gen["baseline_import_numpy_pretty_midi_s"] = cli_time(repeats)
    return {"generation": gen, "peak_rss_mb": {"generation": peak_rss(GEN_RSS), "cli_generate": peak_rss(CLI_RSS)},
            "studio": {"default workers": studio_load(), "--workers 0": studio_load("--workers", "0")}}


def studio_load(*args) -> dict:
    """``scripts/studio_load.py``'s figures (20 clients x 10 requests) in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "load.json")
        subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "studio_load.py"), "--json", out, *args],
                       check=True, capture_output=True, cwd=ROOT)
        with open(out) as fh:
            return json.load(fh)


def numpy_matmul_rate(n=4096, repeats=5) -> float:
    """float32 matmul FLOP/s with numpy (the generation path's arithmetic), after one warm-up product."""
    import numpy as np

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    a @ a
    t = median_time(lambda: a @ a, repeats)
    return 2 * n ** 3 / t


def _write_json(res, path) -> int:
    if path:
        with open(path, "w") as fh:
            json.dump(res, fh, indent=2)
    return 0


def render(res) -> str:
    lines = [f"machine: {res['machine']}", f"matmul float32: {res['matmul_gflops']:.0f} GFLOP/s"]
    if "training" in res:
        lines[-1] += (f", bfloat16: {res['matmul_bf16_gflops']:.0f} GFLOP/s (bf16 rows' floor uses the latter)")
        lines += ["", "| training (critic ratio 5, batch 64) | s/iteration | GFLOP/iteration | GFLOP/s | "
                  "floor s/iteration |", "|---|---|---|---|---|"]
        for k, v in res["training"].items():
            lines.append(f"| {k} | {v['s_per_iteration']:.3f} | {v['gflop_per_iteration']:.1f} | "
                         f"{v['gflops_achieved']:.0f} | {v['floor_s_at_matmul_rate']:.3f} |")
    else:
        lines[-1] += " (numpy)"
    lines += ["", "| generation | value |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in res["generation"].items()]
    if "data" in res:
        lines += ["", "| data | value |", "|---|---|"]
        lines += [f"| {k} | {v:.2f} |" for k, v in res["data"].items()]
    lines += ["", "| peak RSS (MB) | value |", "|---|---|"]
    lines += [f"| {k} | {v:.0f} |" for k, v in res["peak_rss_mb"].items()]
    if "studio" in res:
        keys = [("first_page_s", "start to first page, s"), ("latency_p50_s", "p50, s"), ("latency_p95_s", "p95, s"),
                ("latency_max_s", "max, s"), ("throughput_rps", "requests/s"), ("errors", "errors"),
                ("with_workers_vmhwm_sum_mib", "peak memory with workers, MiB")]
        runs = list(res["studio"])
        lines += ["", "| studio, 20 clients x 10 requests | " + " | ".join(runs) + " |",
                  "|---|" + "---|" * len(runs)]
        lines += [f"| {label} | " + " | ".join(f"{res['studio'][r][k]}" for r in runs) + " |" for k, label in keys]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
