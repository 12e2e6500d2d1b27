"""The pop evaluation (issue 32): a model against the real piano, another song's piano and two baselines.

    python scripts/evaluate_pop.py --source ../shared/data/POP909 [--model pop|MODEL.npz]
        [--pickup-from-file] [--split test|valid] [--limit N] [--seeds 0 1 2] [--json OUT]

Every song of the split: each stretch's melody written as the MIDI file a DAW would export,
accompanied through the user path, compared with the song's real piano
(deepaccomp.pop_evaluation, docs/pop_evaluation.md). Prints a table (rows: figures; columns: the
model if given, the real piano, another song's piano, the melody doubled, block triads) and writes
the figures, per song and averaged, as JSON. Choices are made on valid; the reported figures are test.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from deepaccomp import pop_evaluation as pe
from deepaccomp.errors import DeepAccompError


def _clean(value):
    """NaN as null, so the JSON is standard."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def run(args) -> dict:
    """Every column's :func:`deepaccomp.pop_evaluation.evaluate_pop` on the songs read once."""
    songs = pe.pop_songs(args.source, args.split, args.limit)
    kept = sum(bool(s.stretches) for s in songs)
    print(f"{kept} {args.split} songs with a melody ({len(songs) - kept} left out); seeds {args.seeds}", flush=True)
    columns = {}
    if args.model:
        columns["model"] = pe.model_accompany(args.model, pickup_from_file=args.pickup_from_file)
    columns.update({name: name for name in pe.REFERENCES})
    columns.update({name: pe.baseline_accompany(name) for name in pe.BASELINES})
    results, seconds = {}, {}
    for label, accompany in columns.items():
        start = time.perf_counter()
        results[label] = pe.evaluate_pop(accompany, songs, split=args.split, seeds=args.seeds)
        seconds[label] = round(time.perf_counter() - start, 1)
        print(f"  {label}: {seconds[label]} s", flush=True)
    print(pe.pop_table(results))
    return {"split": args.split, "seeds": list(args.seeds), "model": args.model, "source": args.source,
            "pickup_from_file": args.pickup_from_file,
            "seconds": seconds, "columns": results}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="the POP909 folder (song folders 001, 002, ...)")
    p.add_argument("--model", default=None, help="a shipped model's name (pop) or a model file; none: references "
                                                 "and baselines only")
    p.add_argument("--pickup-from-file", action="store_true",
                   help="give the model the pickup the melody file implies (its time 0 a downbeat) instead of "
                        "letting it estimate the bars of a melody that starts at time 0")
    p.add_argument("--split", default="test", choices=("test", "valid", "train"))
    p.add_argument("--limit", type=int, default=None, help="at most this many songs")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--json", default=None, help="write the figures here")
    args = p.parse_args(argv)
    try:
        out = run(args)
    except DeepAccompError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(_clean(out), fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
