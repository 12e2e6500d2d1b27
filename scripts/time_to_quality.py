"""Time-to-quality: evaluate a run's kept checkpoints on the valid split against the quality bar.

    python scripts/time_to_quality.py LOGDIR [--threshold T] [--noise-scale S] [--json out.json]

For each checkpoint in ``LOGDIR/checkpoints`` (the last ``keep_checkpoints``),
export the generator as the run would (the weight average where it keeps one),
accompany every valid chorale (2 seeds) and check the
quality bar of the Accompanist issue. The generator is evaluated in float32
(as exported), whatever ``mixed_precision`` the run trained with. With ``LOGDIR/timing.json`` (or
``--seconds-per-iteration``) the iteration is turned into wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile



def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("logdir")
    p.add_argument("--threshold", type=float, default=None, help="decode threshold (default: the run's)")
    p.add_argument("--noise-scale", type=float, default=None, help="generation noise scale (default: the run's)")
    p.add_argument("--seconds-per-iteration", type=float, default=None)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)

    from deepaccomp.accompanist import Accompanist
    from deepaccomp.data import prepare
    from deepaccomp.evaluation import check_quality_bar, evaluate_generator
    from deepaccomp.training import checkpoint_iterations, export_checkpoint

    generation = {key: value for key, value in (("decode_threshold", args.threshold), ("noise_scale", args.noise_scale))
                  if value is not None}
    spi = args.seconds_per_iteration
    timing = os.path.join(args.logdir, "timing.json")
    if spi is None and os.path.exists(timing):
        with open(timing) as fh:
            t = json.load(fh)
        spi = t["training_seconds"] / max(1, t["iterations"])
    ds, _ = prepare(progress=False)
    rows = []
    for it in checkpoint_iterations(args.logdir):
        with tempfile.TemporaryDirectory() as out:
            # the exported generator (the weight average where the run keeps one), in float32
            acc = Accompanist.load(export_checkpoint(args.logdir, it, out))
        acc = Accompanist.from_generator(acc.generator, acc.config.replace(generation=generation))
        r = evaluate_generator(acc, ds, split="valid", seeds=(0, 1))
        bar = check_quality_bar(r)
        row = {"iteration": it, "passes": all(ok for _, ok in bar.values()),
               "wall_seconds": round(it * spi, 1) if spi else None,
               **{k: v for k, (v, _) in bar.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    passing = [r for r in rows if r["passes"]]
    print(f"first kept checkpoint meeting the bar on valid: "
          f"{passing[0]['iteration'] if passing else 'none'}", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
