"""Train the ``default`` preset on a random part of the train split (a learning curve).

    python scripts/learning_curve.py --fraction 0.5 --seed 0 --logdir RUN
    python scripts/compare_runs.py FULL/generator.npz RUN/generator.npz --split valid

The pieces left out of train are marked ``excluded`` for this run only; valid
and test are untouched, so the runs of different fractions are compared on the
same chorales. The part kept is the first ``fraction`` of one fixed shuffle of
the train pieces (``--subset-seed``), so a smaller fraction is a subset of a
larger one. Training itself is ``deepaccomp train --preset default --seed SEED``.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_subset(dataset, fraction: float, subset_seed: int = 1234):
    """A shallow copy of ``dataset`` whose train split keeps ``round(fraction * n)`` of its ``n`` pieces."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    train = dataset.indices("train")
    keep = set(np.random.default_rng(subset_seed).permutation(train)[: round(fraction * len(train))].tolist())
    left_out = set(train) - keep
    out = copy.copy(dataset)
    out.pieces = [dict(p, split="excluded") if i in left_out else p for i, p in enumerate(dataset.pieces)]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fraction", type=float, required=True, help="share of the train pieces kept, in (0, 1]")
    p.add_argument("--seed", type=int, default=0, help="the training seed (train.seed)")
    p.add_argument("--subset-seed", type=int, default=1234, help="the shuffle that chooses the pieces kept")
    p.add_argument("--logdir", required=True)
    args = p.parse_args(argv)
    if not 0 < args.fraction <= 1:
        p.error(f"--fraction must be in (0, 1], got {args.fraction}")

    from deepaccomp import data, training
    from deepaccomp.config import preset

    dataset, _ = data.prepare(dataset_dir=os.path.join(ROOT, "datasets"), progress=False)
    subset = train_subset(dataset, args.fraction, args.subset_seed)
    print(f"train pieces: {len(subset.indices('train'))} of {len(dataset.indices('train'))}", flush=True)
    cfg = preset("default").replace(train={"seed": args.seed})
    training.train(cfg, args.logdir, dataset=subset, progress=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
