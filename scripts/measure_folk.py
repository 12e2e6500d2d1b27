"""Measure the shipped model on German folk tunes: melodies it never saw, of another style than its training data.

    python scripts/measure_folk.py [--model generator.npz] [--seeds 0,1] [--true-bar-lines] [--limit N] [--json out.json]

The tunes: every tune of music21's ``essenFolksong/boehme10`` (the Essen
collection, Böhme's German folk songs) written in one meter, 4/4 or 3/4
(247 tunes; 199 start with an upbeat). Each is written to MIDI by music21, as
a user's exported file would be: the first note at time 0, no mark of its
upbeat. The files and their true pickups (from the ABC bar structure) are
cached in ``datasets/folk-boehme10/``.

Reported:

* the bar-line estimate (``midi.bar_alignment``, i.e. ``meter.estimate_pickup``)
  against the true pickup, per meter: exactly right, and right up to half a bar
  (4/4 only, where beat 3 is a strong beat too);
* the model's figures through the user path (``evaluation.evaluate_melodies``:
  ``Accompanist.generate``, read back from its MIDI), with the library's own bar
  lines (and, with ``--true-bar-lines``, with the true pickup given), next to the musical targets
  that need no reference harmonisation (there is no Bach to agree with).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from deepaccomp.accompanist import Accompanist
from deepaccomp.evaluation import MUSICAL_TARGETS, check_quality_bar, evaluate_melodies, score_table
from deepaccomp.midi import bar_alignment, midi_to_roll

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.path.join(ROOT, "datasets", "folk-boehme10")
SOURCE = "essenFolksong/boehme10"
METERS = ("4/4", "3/4")


def read_folk_tunes(cache: str = CACHE) -> list[dict]:
    """``[{"file", "meter", "pickup" (quarter-note beats), "title"}]``, building the cache on first use."""
    index = os.path.join(cache, "tunes.json")
    if os.path.isfile(index):
        with open(index) as fh:
            return json.load(fh)
    from music21 import corpus, meter

    os.makedirs(cache, exist_ok=True)
    tunes = []
    for i, score in enumerate(corpus.parse(SOURCE).scores):
        meters = sorted({ts.ratioString for ts in score.recurse().getElementsByClass(meter.TimeSignature)})
        if len(meters) != 1 or meters[0] not in METERS:
            continue
        part = score.parts[0] if score.parts else score
        first = part.getElementsByClass("Measure")[0]
        path = os.path.join(cache, f"tune_{i:03d}.mid")
        score.write("midi", fp=path)
        tunes.append({"file": os.path.basename(path), "meter": meters[0],
                      "pickup": float(first.duration.quarterLength) if first.paddingLeft > 0 else 0.0,
                      "title": score.metadata.title if score.metadata else None})
    with open(index, "w") as fh:
        json.dump(tunes, fh, indent=1)
    return tunes


def bar_line_accuracy(tunes, cache: str = CACHE) -> dict:
    """Per meter: tunes, tunes with an upbeat, estimate exactly right, right up to half a bar (4/4)."""
    out = {}
    for m in METERS:
        rows = [t for t in tunes if t["meter"] == m]
        beats = int(m.split("/")[0])
        errors = []
        for t in rows:
            roll, info = midi_to_roll(os.path.join(cache, t["file"]))
            bar = bar_alignment(roll, info)
            errors.append((bar.pickup / info.steps_per_beat - t["pickup"]) % beats)
        errors = np.asarray(errors)
        out[m] = {"tunes": len(rows), "with_upbeat": sum(t["pickup"] > 0 for t in rows),
                  "exact": int(np.sum(errors == 0)),
                  "exact_or_half_bar": int(np.sum((errors == 0) | (errors == beats / 2))) if beats % 2 == 0 else None,
                  "errors_in_beats": {f"{e:g}": int(n) for e, n in zip(*np.unique(errors, return_counts=True))}}
    return out


def folk_report(acc, seeds=(0, 1), limit: int | None = None, true_bar_lines: bool = False, report=print) -> dict:
    """The bar-line accuracy and the model's figures on the folk tunes (the module docstring), as a dict.

    The figures use the library's own bar lines (the user path); with ``true_bar_lines``
    also the true pickups (``pickup=``), at twice the cost.
    """
    tunes = read_folk_tunes()[:limit]
    accuracy = bar_line_accuracy(tunes)
    report("bar lines of the unmarked files (estimate vs the true pickup):")
    for m, a in accuracy.items():
        report(f"  {m}: {a['tunes']} tunes ({a['with_upbeat']} with an upbeat), exact {a['exact']}"
               + (f", exact or half a bar off {a['exact_or_half_bar']}" if a["exact_or_half_bar"] is not None else "")
               + f"; errors in beats: {a['errors_in_beats']}")
    files = [os.path.join(CACHE, t["file"]) for t in tunes]
    results = {"estimated bar lines": evaluate_melodies(acc, files, seeds=seeds)}
    if true_bar_lines:
        results["true bar lines"] = evaluate_melodies(acc, files, seeds=seeds, pickups=[t["pickup"] for t in tunes])
    report(score_table({k.split()[0]: r for k, r in results.items()}))
    targets = {k: v for k, v in MUSICAL_TARGETS.items() if k != "harmonic_agreement"}
    out = {"source": SOURCE, "n_tunes": len(tunes), "seeds": list(seeds), "bar_lines": accuracy, "figures": {}}
    for label, r in results.items():
        checked = check_quality_bar(r, targets)
        report(f"{label}: seed difference {r['seed_difference']:.3f}; musical targets without agreement: "
               + ", ".join(f"{k} {'PASS' if ok else 'FAIL'}" for k, (_, ok) in checked.items()))
        out["figures"][label] = {
            "figures": {k: np.round(np.asarray(v, float), 4).tolist() for k, v in r.items()},
            "musical_targets": {k: {"value": v, "passed": ok} for k, (v, ok) in checked.items()}}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="a generator.npz (default: the shipped model)")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--true-bar-lines", action="store_true",
                   help="also measure with the true pickups given (twice the time)")
    p.add_argument("--limit", type=int, default=None, help="only the first N tunes (a quick look)")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    acc = Accompanist(args.model) if args.model else Accompanist()
    out = folk_report(acc, tuple(int(s) for s in args.seeds.split(",")), args.limit, args.true_bar_lines)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
