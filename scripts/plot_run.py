"""Plot a training run's TensorBoard scalars to PNG files (for docs/training.md and docs/monitoring.md).

    python scripts/plot_run.py LOGDIR OUTDIR

Writes ``OUTDIR/losses.png`` and ``OUTDIR/metrics.png`` (each generated metric
per voice against the real data's reference value, over iterations).
"""

from __future__ import annotations

import os
import sys

from deepaccomp.monitoring import read_scalars
from deepaccomp.visualization import plot_losses, plot_run_metrics, save_figure


def main(argv=None):
    argv = argv if argv is not None else sys.argv[1:]
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    logdir, out = argv
    os.makedirs(out, exist_ok=True)
    scalars = read_scalars(logdir, "train")
    save_figure(plot_losses(scalars), os.path.join(out, "losses.png"))
    save_figure(plot_run_metrics(scalars, read_scalars(logdir, "reference")),
                os.path.join(out, "metrics.png"))
    print(f"wrote {out}/losses.png and {out}/metrics.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
