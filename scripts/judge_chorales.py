"""The judge of docs/judge.md: can a classifier tell a harmoniser's windows from Bach's?

For seeds 0-2 (the generation's, the baseline's and the folds' seed), the judge
(:func:`deepaccomp.judge.judge`: 2-bar windows, 5 folds grouped by chorale) compares
Bach's chorales of a split (test by default), with his real onsets (re-struck notes,
stored by the chorale dataset), with:

* ``model``: a chorale model (``--model``, the shipped one by default) on the same sopranos,
  its re-struck notes as its decoding gives them (``generation.restrike``);
* ``model, Bach's re-struck notes tied``: the same, Bach read as a boolean roll (no re-strike);
* ``before``: another model (``--before``, e.g. the model a change is measured against), as ``model``;
* ``Bach vs Bach``: the chorales split into two halves of different chorales (drawn by the seed);
* ``melody doubled`` and ``random in-key``: the baselines of :mod:`deepaccomp.evaluation`.

It prints a table (balanced accuracy and AUC, mean and range over the seeds), the model's
most telling features with their mean counts per window, and writes everything as JSON.

    python scripts/judge_chorales.py [--model chorale] [--before PATH] [--split test] [--out judge.json]
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

WATCHED = ("alto: re-struck notes", "tenor: re-struck notes", "alto: held beats", "tenor: held beats",
           "alto: up semitone", "alto: down semitone", "tenor: up semitone", "tenor: down semitone",
           "bass: up semitone", "bass: down semitone", "bass: notes on an off-beat eighth",
           "beat: tenor-bass interval 10", "beat: 4 pitch classes", "beat: 2 pitch classes", "beat: chromatic notes",
           "soprano-bass: similar motion", "soprano-bass: parallel motion", "soprano-bass: contrary motion")
"""The issue's figures per window (Bach against the model, seed 0), beside the judge's own choice."""

CONDITIONS = ("model", "model, Bach's re-struck notes tied", "Bach vs Bach", "melody doubled", "random in-key")


def split_chorales(split: str = "test"):
    """``[(id, roll (time, 128, 4) in its key, key, onsets)]`` of a split of the chorale dataset."""
    ds, _ = data.prepare(dataset_dir=os.path.join(ROOT, "datasets"), progress=False)
    return [(ds.pieces[i]["id"],) + piece
            for i, piece in zip(ds.indices(split), evaluation.held_out_pieces(ds, split, with_onsets=True))]


def model_pieces(model, chorales, seed, decoding=None):
    """A model's harmonisations of the chorales' sopranos: ``[(roll (time, 128, 4), key, onsets)]``."""
    accs = model.accompany([roll[..., :1] for _, roll, _, _ in chorales], seed=seed, decoding=decoding,
                           with_onsets=True)
    return [(np.concatenate([roll[..., :1], acc], axis=-1), key, np.concatenate([ons[..., :1], acc_ons], axis=-1))
            for (_, roll, key, ons), (acc, acc_ons) in zip(chorales, accs)]


def candidates(name, chorales, seed, generated):
    """``(real pieces, real groups, candidate pieces, candidate groups)`` of one condition; ``generated``:
    ``{(model name, seed): its pieces}`` (:func:`model_pieces`)."""
    ids = [c[0] for c in chorales]
    real = [(roll, key, onsets) for _, roll, key, onsets in chorales]
    if name == "Bach vs Bach":
        order = np.random.default_rng(seed).permutation(len(chorales))
        a, b = sorted(order[: len(order) // 2]), sorted(order[len(order) // 2:])
        return [real[i] for i in a], [ids[i] for i in a], [real[i] for i in b], [ids[i] for i in b]
    if (name, seed) in generated or name.startswith("model"):
        cand = generated[(name, seed) if (name, seed) in generated else ("model", seed)]
        if "tied" in name:
            real = [(roll, key) for roll, key, _ in real]
        return real, ids, cand, ids
    rng = np.random.default_rng(seed)
    baseline = "melody_doubled" if name == "melody doubled" else "random_in_key"
    cand = [(np.concatenate([roll[..., :1], evaluation.baseline_roll(baseline, roll, key, rng)], axis=-1), key)
            for _, roll, key, _ in chorales]
    return real, ids, cand, ids


def judge_model(model, chorales, seeds, decoding=None) -> dict:
    """The judge's ``{"accuracy": [...], "auc": [...], "runs": [...]}`` of one model against Bach, per seed,
    and ``"watched"``: :func:`watched_means` of its pieces, mean over the seeds."""
    ids = [c[0] for c in chorales]
    real = [(roll, key, onsets) for _, roll, key, onsets in chorales]
    pieces = [model_pieces(model, chorales, seed, decoding) for seed in seeds]
    runs = [judge.judge(real, p, ids, seed=seed) for p, seed in zip(pieces, seeds)]
    return {"accuracy": [r["accuracy"] for r in runs], "auc": [r["auc"] for r in runs], "runs": runs,
            "watched": mean_watched([watched_means(p, ids) for p in pieces])}


def mean_watched(per_seed) -> dict:
    """The mean over seeds of :func:`watched_means` results."""
    return {f: float(np.mean([w[f] for w in per_seed])) for f in WATCHED}


def watched_means(pieces, ids) -> dict:
    """Mean count per window of each :data:`WATCHED` feature."""
    x, _ = judge.pieces_windows(pieces, ids)
    return {f: float(x[:, judge.FEATURE_NAMES.index(f)].mean()) for f in WATCHED}


def judge_report(models: dict, split: str = "test", seeds=(0, 1, 2)) -> dict:
    """Every condition of the module docstring for ``models`` (``{"model": Accompanist, ...}``: any other
    name, e.g. ``"before"``, is judged as ``model`` is, each with its own decoding settings): the JSON the
    script writes."""
    chorales = split_chorales(split)
    ids = [c[0] for c in chorales]
    conditions = list(CONDITIONS[:2]) + [n for n in models if n != "model"] + list(CONDITIONS[2:])
    generated = {(name, seed): model_pieces(model, chorales, seed) for name, model in models.items() for seed in seeds}
    results = {}
    for name in conditions:
        runs = []
        for seed in seeds:
            real, rg, cand, cg = candidates(name, chorales, seed, generated)
            runs.append(judge.judge(real, cand, rg, candidate_groups=cg, seed=seed))
        results[name] = {"accuracy": [r["accuracy"] for r in runs], "auc": [r["auc"] for r in runs], "runs": runs}
    watched = {"Bach": watched_means([c[1:] for c in chorales], ids)}
    for name in models:
        watched[name] = mean_watched([watched_means(generated[(name, seed)], ids) for seed in seeds])
    return {"split": split, "n_chorales": len(chorales), "seeds": list(seeds), "folds": judge.FOLDS,
            "window_steps": judge.WINDOW_STEPS, "hop_steps": judge.HOP_STEPS, "l2": judge.L2,
            "watched": watched, "results": results}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="chorale", help="the model judged: a shipped model's name or a path")
    parser.add_argument("--before", default=None, help="a second model judged the same way (name or path)")
    parser.add_argument("--split", default="test", choices=("valid", "test"))
    parser.add_argument("--out", default="judge.json", help="JSON file to write")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    models = {"model": Accompanist(args.model)}
    if args.before is not None:
        models["before"] = Accompanist(args.before)
    report = judge_report(models, args.split, args.seeds)
    report["models"] = {k: str(v) for k, v in (("model", args.model), ("before", args.before)) if v}
    results, watched = report["results"], report["watched"]
    print(f"{report['n_chorales']} {args.split} chorales, seeds {args.seeds}, {judge.FOLDS} folds grouped by "
          f"chorale, {time.perf_counter() - t0:.1f} s")
    print(f"{'candidate':<40}{'accuracy':>22}{'AUC':>22}")
    for name, r in results.items():
        print(f"{name:<40}" + "".join(f"{np.mean(r[k]):>10.3f} ({min(r[k]):.2f}-{max(r[k]):.2f})" for k in ("accuracy", "auc")))
    for name in models:
        first = results[name]["runs"][0]
        print(f"\n{name}: the 10 most telling features (seed {args.seeds[0]}; weight > 0: the model has more; "
              "mean per window Bach / model):")
        for feature, weight in first["top_features"]:
            bach, cand = first["means"][feature]
            print(f"  {feature:<48}{weight:+7.2f}   {bach:6.2f} / {cand:6.2f}")
    print(f"\nthe issue's figures, mean per window ({' / '.join(watched)}; models: mean over the seeds):")
    for feature in WATCHED:
        print(f"  {feature:<48}" + " / ".join(f"{w[feature]:6.2f}" for w in watched.values()))
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
