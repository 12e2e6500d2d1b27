"""Snapshot the shipped model's outputs, to prove a refactor changed nothing.

    python scripts/snapshot_outputs.py OUT_DIR [--compare OTHER_DIR]

Writes, for a fixed set of melodies (the bundled examples and the soprano of
the first five test chorales) and seeds 0, 1, 2: the accompanied MIDI bytes
(``<name>_seed<k>.mid``), their sha256 in ``digests.json``, and the
evaluation figures of the test split (``evaluation.json``, seeds 0 and 1).
With ``--compare`` it checks another snapshot: identical bytes and figures,
or it lists every difference and exits 1.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "deepaccomp", "assets", "examples")
SEEDS = (0, 1, 2)


def melodies(dataset):
    from deepaccomp.evaluation import held_out_pieces
    from deepaccomp.midi import roll_to_midi

    out = {name[:-4]: open(os.path.join(EXAMPLES, name), "rb").read()
           for name in sorted(os.listdir(EXAMPLES)) if name.endswith(".mid")}
    for k, (roll, _key) in enumerate(held_out_pieces(dataset, "test", limit=5)):
        buf = io.BytesIO()
        roll_to_midi(roll[..., :1]).write(buf)
        out[f"test{k}"] = buf.getvalue()
    return out


def snapshot(out_dir):
    from deepaccomp import Accompanist
    from deepaccomp.data import prepare
    from deepaccomp.evaluation import evaluate_generator

    os.makedirs(out_dir, exist_ok=True)
    ds, _ = prepare("chorales", progress=False)
    acc = Accompanist()
    digests = {}
    for name, data in melodies(ds).items():
        for seed in SEEDS:
            buf = io.BytesIO()
            acc.generate(data, seed=seed).write(buf)
            file = f"{name}_seed{seed}.mid"
            with open(os.path.join(out_dir, file), "wb") as fh:
                fh.write(buf.getvalue())
            digests[file] = hashlib.sha256(buf.getvalue()).hexdigest()
    figures = evaluate_generator(acc, ds, split="test", seeds=(0, 1))
    figures = {k: np.asarray(v, float).round(6).tolist() for k, v in figures.items()}
    with open(os.path.join(out_dir, "digests.json"), "w") as fh:
        json.dump(digests, fh, indent=1, sort_keys=True)
    with open(os.path.join(out_dir, "evaluation.json"), "w") as fh:
        json.dump(figures, fh, indent=1, sort_keys=True)
    print(f"{len(digests)} outputs and the test figures in {out_dir}")


def compare(a, b) -> int:
    diffs = []
    for name in ("digests.json", "evaluation.json"):
        with open(os.path.join(a, name)) as fa, open(os.path.join(b, name)) as fb:
            da, db = json.load(fa), json.load(fb)
        diffs += [f"{name}: {k}: {da.get(k)} != {db.get(k)}" for k in sorted(set(da) | set(db))
                  if da.get(k) != db.get(k)]
    print("\n".join(diffs) if diffs else f"identical: {a} and {b}")
    return 1 if diffs else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir")
    parser.add_argument("--compare", default=None, help="an earlier snapshot to compare with")
    args = parser.parse_args(argv)
    snapshot(args.out_dir)
    return compare(args.compare, args.out_dir) if args.compare else 0


if __name__ == "__main__":
    sys.exit(main())
