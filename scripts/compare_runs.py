"""Compare trained generators on the test split with the same generation settings (a training ablation).

    python scripts/compare_runs.py MODEL.npz [MODEL.npz ...] [--generation CONFIG.json] [--seeds 0,1,2]

Each model is evaluated with ``deepaccomp.evaluation.evaluate_generator`` on
the held-out test split (``--split valid`` to choose between runs). ``--generation`` (default: the shipped model's
``config.json``) supplies the ``generation`` section used for every model, so
that only the weights differ. Prints a Markdown table (means over the three
voices, and the lowest voice's agreement), then each model's harmonic agreement
against the first one's, piece by piece (``evaluation.paired_difference``: the
mean difference, its standard error, a bootstrap 95% interval, and on how many
pieces it is higher), and writes ``--json`` if given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_CONFIG = os.path.join(ROOT, "deepaccomp", "assets", "default_model", "config.json")
COLUMNS = ("harmonic_agreement", "consonance_with_melody", "in_scale_ratio", "long_note_ratio", "fragment_rate",
           "leap_rate", "rest_under_melody", "unison_with_melody", "parallel_perfects", "voice_crossing", "empty_bar_rate")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="+")
    p.add_argument("--generation", default=SHIPPED_CONFIG)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--split", default="test", choices=["valid", "test"],
                   help="choose between runs on valid; report the chosen one's ablation on test")
    p.add_argument("--json", default=None)
    p.add_argument("--labels", default=None, help="comma-separated names of the models, in order (default: their paths)")
    args = p.parse_args(argv)

    from deepaccomp import data
    from deepaccomp.config import Config

    ds, _ = data.prepare(dataset_dir=os.path.join(ROOT, "datasets"), progress=False)
    generation = Config.load(args.generation).to_dict()["generation"]
    seeds = tuple(int(s) for s in args.seeds.split(","))
    labels = args.labels.split(",") if args.labels else list(args.models)
    if len(labels) != len(args.models):
        p.error(f"--labels names {len(labels)} models, {len(args.models)} were given")
    print("| model | " + " | ".join(COLUMNS) + " | lowest agreement | seed difference |")
    print("|---|" + "---|" * (len(COLUMNS) + 2))
    out = compare(dict(zip(labels, args.models)), ds, generation, split=args.split, seeds=seeds, report=print)
    if len(out) > 1:
        print(f"\nharmonic agreement (mean of the voices) minus {labels[0]}'s, per piece:")
        for label, r in list(out.items())[1:]:
            d = r["agreement_vs_first"]
            print(f"- {label}: {d['mean']:+.4f} (standard error {d['standard_error']:.4f}; 95% interval "
                  f"{d['interval_95'][0]:+.4f} to {d['interval_95'][1]:+.4f}; higher on {d['better']} of {d['n']})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"generation": generation, "seeds": seeds, "split": args.split, "results": out}, fh, indent=2)
    return 0


def compare(models: dict, dataset, generation: dict, *, split: str = "test", seeds=(0, 1, 2), report=None) -> dict:
    """``{label: figures}`` of each ``{label: generator.npz}`` on ``split`` with the same ``generation`` settings.

    Every model after the first also gets ``agreement_vs_first``: its per-piece
    harmonic agreement against the first model's (``evaluation.paired_difference``).
    ``report``, if given, is called with one Markdown table row per model as it is measured.
    """
    from deepaccomp import artifact
    from deepaccomp.accompanist import Accompanist
    from deepaccomp.evaluation import evaluate_generator, paired_difference

    out, first = {}, None
    for label, path in models.items():
        generator, cfg = artifact.load(path)
        acc = Accompanist.from_generator(generator, cfg.replace(generation=generation))
        r = evaluate_generator(acc, dataset, split=split, seeds=seeds, per_piece=True)
        agreement = r.pop("per_piece")["harmonic_agreement"]
        out[label] = {k: np.asarray(v, float).round(4).tolist() for k, v in r.items()}
        if first is None:
            first = agreement
        else:
            out[label]["agreement_vs_first"] = {k: np.round(v, 4).tolist()
                                                for k, v in paired_difference(agreement, first).items()}
        if report:
            report(f"| {label} | " + " | ".join(f"{np.mean(r[k]):.3f}" for k in COLUMNS)
                   + f" | {np.min(r['harmonic_agreement']):.3f} | {r['seed_difference']:.3f} |")
    return out


if __name__ == "__main__":
    sys.exit(main())
