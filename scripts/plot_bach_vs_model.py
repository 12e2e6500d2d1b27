"""Bach's own harmonisation above the shipped model's, for one held-out test chorale.

    python scripts/plot_bach_vs_model.py [--piece 3] [--bars 8] [--seed 0] [--model PATH]
                                         [-o docs/images/bach_vs_model.png]

The chorale's soprano goes through the user path (``Accompanist.accompany``:
key estimated from the melody, model, decoding, shifts undone); the picture
shows the first ``--bars`` bars, Bach above, the model below, same scales.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--piece", type=int, default=3, help="index among the test split's chorales")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default=None)
    p.add_argument("-o", "--output", default=os.path.join(ROOT, "docs", "images", "bach_vs_model.png"))
    args = p.parse_args(argv)

    from deepaccomp import Accompanist, data
    from deepaccomp.evaluation import held_out_pieces
    from deepaccomp.representation import STEPS_PER_BAR
    from deepaccomp.visualization import plot_comparison, save_figure

    ds, _ = data.prepare(dataset_dir=os.path.join(ROOT, "datasets"), progress=False)
    bach, _ = held_out_pieces(ds, "test")[args.piece]
    acc = Accompanist.load(args.model) if args.model else Accompanist()
    generated = acc.accompany([bach[..., :1]], seed=args.seed)[0]
    model = np.concatenate([bach[..., :1], generated], axis=-1)
    steps = args.bars * STEPS_PER_BAR
    piece_id = ds.pieces[ds.indices("test")[args.piece]]["id"]
    fig = plot_comparison(bach[:steps], model[:steps],
                          titles=(f"Bach ({piece_id})", f"deepaccomp, seed {args.seed}"),
                          track_names=["soprano (given)", "alto", "tenor", "bass"])
    save_figure(fig, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
