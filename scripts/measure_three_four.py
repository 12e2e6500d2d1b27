"""Measure the shipped model on Bach's chorales in 3/4: a meter it was not trained on, tunes it never saw.

    python scripts/measure_three_four.py [--model generator.npz] [--seeds 0,1,2] [--json out.json]

The dataset keeps the chorales in 4/4 only; the 38 in 3/4 are skipped
(docs/representation.md). :func:`deepaccomp.evaluation.three_four_chorales`
reads them with Bach's four voices and leaves out those whose tune is also a
dataset piece's (the split cleaning's rule), so that what remains is unseen
in every form. Each soprano goes through the user path's ``accompany`` with
12-step bars, and the alto/tenor/bass are compared with Bach's
(:func:`deepaccomp.evaluation.evaluate_pieces`), beside the naive baselines
and Bach's own voices. No choice was ever made on these chorales: they are a
second test set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from deepaccomp.accompanist import Accompanist
from deepaccomp.data import prepare
from deepaccomp.evaluation import (BASELINES, evaluate_baseline_pieces, evaluate_pieces, score_table,
                                   three_four_chorales)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS_PER_BAR = 12


def three_four_report(acc, dataset, seeds=(0, 1, 2), report=print) -> dict:
    """The model's and the baselines' figures on the unseen 3/4 chorales, as a dict (the module docstring)."""
    pieces, found = three_four_chorales(dataset)
    report(f"{len(pieces)} chorales in 3/4 with unseen tunes; left out {len(found['left_out'])}: "
           f"{found['left_out']}")
    results = {"model": evaluate_pieces(acc, pieces, seeds=seeds, steps_per_bar=STEPS_PER_BAR)}
    for name in BASELINES:
        results[name] = evaluate_baseline_pieces(name, pieces, layout=acc.layout.name, steps_per_bar=STEPS_PER_BAR)
    report(score_table(results))
    return {"n_pieces": len(pieces), "seeds": list(seeds), **found,
            "figures": {k: {m: np.round(np.asarray(v, float), 4).tolist() for m, v in r.items()}
                        for k, r in results.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a generator.npz (default: the shipped model)")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    acc = Accompanist(args.model) if args.model else Accompanist()
    dataset, _ = prepare(dataset_dir=os.path.join(ROOT, "datasets"))
    out = three_four_report(acc, dataset, tuple(int(s) for s in args.seeds.split(",")))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
