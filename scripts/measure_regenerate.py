"""Measure regenerating a part of a take (``Accompanist.generate(..., keep=, regenerate=)``).

    python scripts/measure_regenerate.py [--split test] [--seeds 0 1 2] [--bars 5 8]

On the chorales of a split (``held_out_pieces``; 4/4 only, at least two bars
after the selection), with the shipped model: for each chorale and seed a
whole take, then bars ``--bars`` drawn again with another seed, (a) in every
voice and (b) in the tenor alone. The script prints

* the share of the kept take's notes outside the selection (the notes of the
  other bars, and every note of a track not selected) found unchanged, note
  for note (pitch, start, end), in the result: it must be 100%;
* the voice-leading figures of the regenerated bars and of the two bar lines
  where they join the kept bars (one beat either side of each), pooled over
  the chorales and seeds, next to the same figures at the same places of the
  whole takes: parallel fifths and octaves per pair move of all voices
  (melody included), leaps of a minor sixth or more per move, voice crossing
  per step, rests under the melody per melody step (alto, tenor, bass mean).
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

from deepaccomp import Accompanist, metrics
from deepaccomp.accompanist import _bar_steps
from deepaccomp.data import prepare
from deepaccomp.evaluation import held_out_pieces
from deepaccomp.piece import Piece, TimeGrid
from deepaccomp.representation import STEPS_PER_BAR, STEPS_PER_BEAT

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OTHER_SEED = 1000
"""Added to a take's seed for the seed of its regenerated part."""


def chorales(split: str, last_bar: int, layout) -> list:
    """Melody pieces (plain 4/4 grid) of the split's chorales with two bars or more after ``last_bar``."""
    dataset, _ = prepare("chorales", progress=False, dataset_dir=os.path.join(ROOT, "datasets"))
    out = []
    for roll, _key in held_out_pieces(dataset, split):
        piece = Piece.from_roll(roll[..., :1], layout, TimeGrid.plain())
        first = int(np.argmax(roll[..., 0].any(axis=1)))
        if (piece.n_steps - first) // STEPS_PER_BAR >= last_bar + 2:
            out.append(piece)
    return out


def notes(piece: Piece) -> set:
    """Every accompaniment note as ``(track, pitch, start, end)``."""
    out = set()
    for k in range(1, piece.roll.shape[2]):
        roll, onsets = piece.roll[..., k], piece.onsets[..., k]
        for t, p in zip(*np.nonzero(onsets)):
            end = t + 1
            while end < piece.n_steps and roll[end, p] and not onsets[end, p]:
                end += 1
            out.add((k, int(p), int(t), int(end)))
    return out


def kept_share(take: Piece, result: Piece, start: int, stop: int, tracks) -> tuple:
    """``(kept notes found unchanged, kept notes, new notes of the selection, of them not in the take)``."""
    before, after = notes(take), notes(result)
    kept = {n for n in before if n[0] - 1 not in tracks or not start <= n[2] < stop}
    new = {n for n in after if n[0] - 1 in tracks and start <= n[2] < stop}
    return len(kept & after), len(kept), len(new), len(new - before)


def figures(windows) -> dict:
    """Pooled figures of equal-length windows ``[(time, 128, 4)]`` (melody first)."""
    batch = np.stack(windows)
    found, moves = (int(np.triu(c).sum()) for c in metrics._parallel_counts(batch, STEPS_PER_BEAT, False))
    return {
        "parallels": float(metrics.parallel_perfects(batch, STEPS_PER_BEAT, per="all")[0]),
        "parallel counts": f"{found}/{moves}",
        "leaps": float(np.nanmean(metrics.leap_rate(batch[..., 1:]))),
        "crossing": float(np.nanmean(metrics.voice_crossing(batch)[1:])),
        "rest_under_melody": float(np.nanmean(metrics.rest_under_melody(batch))),
    }


def places(piece: Piece, start: int, stop: int) -> dict:
    """The roll's windows: the selected bars, and one beat either side of each join."""
    roll = piece.roll
    return {"bars": roll[start:stop],
            "joins": [roll[start - STEPS_PER_BEAT: start + STEPS_PER_BEAT],
                      roll[stop - STEPS_PER_BEAT: stop + STEPS_PER_BEAT]]}


def measure(accompanist, pieces, seeds, bars, selections) -> dict:
    """Per condition (whole takes, and each selection) the pooled figures and the kept-note counts."""
    windows = {name: {"bars": [], "joins": []} for name in ["whole take"] + list(selections)}
    kept = {name: np.zeros(4, int) for name in selections}
    for seed in seeds:
        takes = accompanist.generate_piece(pieces, seed=seed)
        for take in takes:
            start, stop = _bar_steps(take, bars)
            where = places(take, start, stop)
            windows["whole take"]["bars"].append(where["bars"])
            windows["whole take"]["joins"] += where["joins"]
            for name, tracks in selections.items():
                result = accompanist.generate_piece(take.melody(), seed=seed + OTHER_SEED, keep=[take],
                                                    regenerate={"bars": bars, "tracks": tracks})
                names = [t.name for t in accompanist.layout.accompaniment]
                kept[name] += kept_share(take, result, start, stop, [names.index(t) for t in tracks])
                where = places(result, start, stop)
                windows[name]["bars"].append(where["bars"])
                windows[name]["joins"] += where["joins"]
    return {name: {"bars": figures(w["bars"]), "joins": figures(w["joins"]),
                   "kept": kept.get(name)} for name, w in windows.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--bars", type=int, nargs=2, default=[5, 8])
    args = parser.parse_args(argv)
    accompanist = Accompanist()
    pieces = chorales(args.split, args.bars[1], accompanist.layout)
    selections = {"all voices": ["alto", "tenor", "bass"], "tenor alone": ["tenor"]}
    result = measure(accompanist, pieces, args.seeds, tuple(args.bars), selections)
    print(f"{len(pieces)} {args.split} chorales, seeds {args.seeds}, bars {args.bars[0]}-{args.bars[1]} "
          f"regenerated with seed + {OTHER_SEED}")
    for name, row in result.items():
        if row["kept"] is not None:
            found, total, new, changed = row["kept"]
            print(f"{name}: kept notes unchanged {found}/{total} ({100 * found / total:.1f}%); notes drawn in the "
                  f"selection {new}, of them not in the take {changed} ({100 * changed / max(new, 1):.1f}%)")
    print(f"{'condition':<14} {'place':<6} {'parallels':>10} {'(count)':>10} {'leaps':>7} {'crossing':>9} "
          f"{'rest u. mel.':>12}")
    for name, row in result.items():
        for place in ("bars", "joins"):
            f = row[place]
            print(f"{name:<14} {place:<6} {f['parallels']:>10.4f} {f['parallel counts']:>10} {f['leaps']:>7.4f} "
                  f"{f['crossing']:>9.4f} {f['rest_under_melody']:>12.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
