"""Reproduce the shipped default model from scratch with one command.

    python scripts/train_default_model.py [--logdir runs/default_model] [--iterations N]

Steps (each resumable: re-run the same command after an interruption):

1. build the chorale dataset from music21 (``deepaccomp prepare``);
2. train the ``default`` preset on the train split (``deepaccomp.train``);
3. choose the decoding threshold on the **valid** split (the value in
   ``--thresholds`` with the highest mean harmonic agreement among those that
   keep every voice's empty-bar rate <= 0.02), store it in the model's config;
4. export the generator into ``deepaccomp/assets/default_model/`` (weights +
   config, a few MB) and measure the quality bar on the **test** split next
   to Bach and the two naive baselines; write ``evaluation.json`` beside the
   model (the figures of docs/model_card.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ASSET_DIR = os.path.join(ROOT, "deepaccomp", "assets", "default_model")


def to_jsonable(result: dict) -> dict:
    return {k: (np.round(np.asarray(v, float), 4).tolist() if not isinstance(v, (int, str)) else v)
            for k, v in result.items()}


def choose_threshold(logdir, dataset, thresholds, seeds=(0, 1)):
    from deepaccomp.accompanist import Accompanist
    from deepaccomp.evaluation import evaluate_generator

    base = Accompanist.load(os.path.join(logdir, "generator.npz"))
    rows = []
    for th in thresholds:
        base.config = base.config.replace(train={"decode_threshold": th})
        r = evaluate_generator(base, dataset, split="valid", seeds=seeds)
        rows.append((th, float(np.mean(r["harmonic_agreement"])), float(np.max(r["empty_bar_rate"]))))
        print(f"valid: threshold {th:+.2f}: agreement {rows[-1][1]:.3f}, max empty-bar rate {rows[-1][2]:.3f}",
              file=sys.stderr)
    ok = [r for r in rows if r[2] <= 0.02] or rows
    return max(ok, key=lambda r: r[1])[0], rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logdir", default=os.path.join(ROOT, "runs", "default_model"))
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--thresholds", default="0.0,-0.25,-0.5,-0.75")
    p.add_argument("--out", default=ASSET_DIR)
    args = p.parse_args(argv)

    from deepaccomp import config, data, evaluation
    from deepaccomp.accompanist import Accompanist
    from deepaccomp.training import export_generator, load_generator, train

    t0 = time.perf_counter()
    ds, _ = data.prepare(dataset_dir=os.path.join(ROOT, "datasets"))
    cfg = config.default()
    if args.iterations:
        cfg = cfg.replace(train={"iterations": args.iterations})
    t1 = time.perf_counter()
    train(cfg, args.logdir, dataset=ds)
    t2 = time.perf_counter()

    thresholds = [float(x) for x in args.thresholds.split(",")]
    best, rows = choose_threshold(args.logdir, ds, thresholds)
    gen, cfg = load_generator(os.path.join(args.logdir, "generator.npz"))
    cfg = cfg.replace(train={"decode_threshold": best})
    os.makedirs(args.out, exist_ok=True)
    export_generator(gen, cfg, os.path.join(args.out, "generator.npz"))
    cfg.save(os.path.join(args.out, "config.json"))

    acc = Accompanist.load(os.path.join(args.out, "generator.npz"))
    result = {
        "model": to_jsonable(evaluation.evaluate_generator(acc, ds, split="test", seeds=(0, 1, 2))),
        "bach": to_jsonable(evaluation.evaluate_baseline("bach", ds, split="test")),
        "random_in_key": to_jsonable(evaluation.evaluate_baseline("random_in_key", ds, split="test")),
        "melody_doubled": to_jsonable(evaluation.evaluate_baseline("melody_doubled", ds, split="test")),
    }
    result["quality_bar"] = {k: {"value": v, "passed": ok}
                             for k, (v, ok) in evaluation.check_quality_bar(result["model"]).items()}
    result["threshold_search_valid"] = [
        {"threshold": th, "agreement": round(a, 4), "max_empty_bar_rate": round(e, 4)} for th, a, e in rows]
    result["decode_threshold"] = best
    result["timing_seconds"] = {"dataset": round(t1 - t0, 1), "training_this_invocation": round(t2 - t1, 1)}
    result["hardware"] = {"machine": platform.machine(), "cpus": os.cpu_count(),
                          "python": platform.python_version()}
    with open(os.path.join(args.out, "evaluation.json"), "w") as fh:
        json.dump(result, fh, indent=2)
    print(json.dumps(result["quality_bar"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
