"""Plot a training run's TensorBoard scalars to PNG files (for docs/training.md and docs/monitoring.md).

    python scripts/plot_run.py LOGDIR OUTDIR

Writes ``OUTDIR/losses.png`` (critic and generator losses, gradient penalty,
Wasserstein estimate) and ``OUTDIR/metrics.png`` (each generated metric per
voice against the real data's reference value, over iterations).
"""

from __future__ import annotations

import os
import sys

from matplotlib.figure import Figure

from deepaccomp.monitoring import EVAL_METRICS, read_scalars
from deepaccomp.visualization import save_figure

VOICES = ("alto", "tenor", "bass")
LOSSES = ("losses/critic", "losses/generator", "losses/gradient_penalty", "losses/wasserstein",
          "losses/reconstruction", "losses/diversity")


def plot_losses(scalars) -> Figure:
    fig = Figure(figsize=(12, 6), constrained_layout=True)
    axes = fig.subplots(2, 3).ravel()
    for ax, tag in zip(axes, LOSSES):
        pts = scalars.get(tag, [])
        if pts:
            ax.plot([s for s, _ in pts], [v for _, v in pts], lw=0.8)
        ax.set_title(tag)
        ax.set_xlabel("iteration")
    return fig


def plot_metrics(scalars, reference) -> Figure:
    fig = Figure(figsize=(15, 7), constrained_layout=True)
    axes = fig.subplots(len(VOICES), len(EVAL_METRICS))
    for i, voice in enumerate(VOICES):
        for j, name in enumerate(EVAL_METRICS):
            ax = axes[i, j]
            tag = f"metrics/{voice}/{name}"
            pts = scalars.get(tag, [])
            if pts:
                ax.plot([s for s, _ in pts], [v for _, v in pts], "o-", ms=3, label="generated")
            ref = reference.get(tag, [])
            if ref:
                ax.axhline(ref[0][1], color="k", ls="--", lw=1, label="real (valid)")
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0:
                ax.set_ylabel(voice)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    return fig


def main(argv=None):
    argv = argv if argv is not None else sys.argv[1:]
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    logdir, out = argv
    os.makedirs(out, exist_ok=True)
    scalars = read_scalars(logdir, "train")
    reference = read_scalars(logdir, "reference")
    save_figure(plot_losses(scalars), os.path.join(out, "losses.png"))
    save_figure(plot_metrics(scalars, reference), os.path.join(out, "metrics.png"))
    print(f"wrote {out}/losses.png and {out}/metrics.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
