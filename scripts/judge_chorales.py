"""The judge of docs/judge.md on the test split: can a classifier tell a harmoniser's windows from Bach's?

For seeds 0-2 (the generation's, the baseline's and the folds' seed), the judge
(:func:`deepaccomp.judge.judge`: 2-bar windows, 5 folds grouped by chorale) compares
Bach's test chorales, with his real onsets read back from music21 (re-struck notes),
with:

* ``model``: the shipped chorale model (``Accompanist()``) on the same sopranos;
* ``model, Bach's re-struck notes tied``: the same, Bach read as a boolean roll (no re-strike);
* ``Bach vs Bach``: the test chorales split into two halves of different chorales (drawn by the seed);
* ``melody doubled`` and ``random in-key``: the baselines of :mod:`deepaccomp.evaluation`.

It prints a table (balanced accuracy and AUC, mean and range over the seeds), the model's
most telling features with their mean counts per window, and writes everything as JSON.

    python scripts/judge_chorales.py [--out judge.json] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from deepaccomp import Accompanist, data, evaluation, judge  # noqa: E402
from deepaccomp.errors import require  # noqa: E402

WATCHED = ("alto: re-struck notes", "tenor: re-struck notes", "alto: held beats", "tenor: held beats",
           "alto: up semitone", "alto: down semitone", "tenor: up semitone", "tenor: down semitone",
           "bass: up semitone", "bass: down semitone", "bass: notes on an off-beat eighth",
           "beat: tenor-bass interval 10", "beat: 4 pitch classes", "beat: 2 pitch classes", "beat: chromatic notes",
           "soprano-bass: similar motion", "soprano-bass: parallel motion", "soprano-bass: contrary motion")
"""The issue's figures per window (Bach against the model, seed 0), beside the judge's own choice."""

CONDITIONS = ("model", "model, Bach's re-struck notes tied", "Bach vs Bach", "melody doubled", "random in-key")


def test_chorales():
    """``[(id, roll (time, 128, 4) in its key, key, onsets)]`` of the test split."""
    corpus = require("music21.corpus", "reading Bach's onsets")
    ds, _ = data.prepare(dataset_dir=os.path.join(ROOT, "datasets"), progress=False)
    out = []
    for i, (roll, key) in zip(ds.indices("test"), evaluation.held_out_pieces(ds, "test")):
        cid = ds.pieces[i]["id"]
        out.append((cid, roll, key, judge.score_onsets(corpus.parse(cid), roll)))
    return out


def candidates(name, chorales, seed, model):
    """``(real pieces, real groups, candidate pieces, candidate groups)`` of one condition."""
    ids = [c[0] for c in chorales]
    real = [(roll, key, onsets) for _, roll, key, onsets in chorales]
    if name == "Bach vs Bach":
        order = np.random.default_rng(seed).permutation(len(chorales))
        a, b = sorted(order[: len(order) // 2]), sorted(order[len(order) // 2:])
        return [real[i] for i in a], [ids[i] for i in a], [real[i] for i in b], [ids[i] for i in b]
    if name.startswith("model"):
        accs = model.accompany([roll[..., :1] for _, roll, _, _ in chorales], seed=seed)
        cand = [(np.concatenate([roll[..., :1], acc], axis=-1), key) for (_, roll, key, _), acc in zip(chorales, accs)]
        if "tied" in name:
            real = [(roll, key) for roll, key, _ in real]
        return real, ids, cand, ids
    rng = np.random.default_rng(seed)
    baseline = "melody_doubled" if name == "melody doubled" else "random_in_key"
    cand = [(np.concatenate([roll[..., :1], evaluation.baseline_roll(baseline, roll, key, rng)], axis=-1), key)
            for _, roll, key, _ in chorales]
    return real, ids, cand, ids


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="judge.json", help="JSON file to write")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    chorales = test_chorales()
    model = Accompanist()
    results = {}
    for name in CONDITIONS:
        runs = []
        for seed in args.seeds:
            real, rg, cand, cg = candidates(name, chorales, seed, model)
            runs.append(judge.judge(real, cand, rg, candidate_groups=cg, seed=seed))
        results[name] = {"accuracy": [r["accuracy"] for r in runs], "auc": [r["auc"] for r in runs], "runs": runs}
    print(f"{len(chorales)} test chorales, seeds {args.seeds}, {judge.FOLDS} folds grouped by chorale, "
          f"{time.perf_counter() - t0:.1f} s")
    print(f"{'candidate':<40}{'accuracy':>22}{'AUC':>22}")
    for name, r in results.items():
        print(f"{name:<40}" + "".join(f"{np.mean(r[k]):>10.3f} ({min(r[k]):.2f}-{max(r[k]):.2f})" for k in ("accuracy", "auc")))
    first = results["model"]["runs"][0]
    print(f"\nthe model's 10 most telling features (seed {args.seeds[0]}; weight > 0: the model has more; "
          "mean per window Bach / model):")
    for feature, weight in first["top_features"]:
        bach, cand = first["means"][feature]
        print(f"  {feature:<48}{weight:+7.2f}   {bach:6.2f} / {cand:6.2f}")
    xb, _ = judge.pieces_windows([c[1:] for c in chorales], [c[0] for c in chorales])
    xm, _ = judge.pieces_windows(candidates("model", chorales, args.seeds[0], model)[2], [c[0] for c in chorales])
    watched = {f: (float(xb[:, judge.FEATURE_NAMES.index(f)].mean()), float(xm[:, judge.FEATURE_NAMES.index(f)].mean()))
               for f in WATCHED}
    print("\nthe issue's figures, mean per window, Bach / model (seed 0):")
    for feature, (bach, cand) in watched.items():
        print(f"  {feature:<48}{bach:6.2f} / {cand:6.2f}")
    with open(args.out, "w") as fh:
        json.dump({"n_chorales": len(chorales), "seeds": args.seeds, "folds": judge.FOLDS,
                   "window_steps": judge.WINDOW_STEPS, "hop_steps": judge.HOP_STEPS, "l2": judge.L2,
                   "watched": watched, "results": results}, fh, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
