"""Measure the bar-line estimate of unmarked melodies (``deepaccomp.meter``).

    python scripts/measure_pickup.py [--split test] [--seeds 0 1]
    python scripts/measure_pickup.py --fit

Default mode, on the 4/4 chorales of a split (``held_out_pieces``; the split
comes from the dataset): each soprano is rewritten to start at time 0 (the
empty steps before its first note dropped, as an exported file without a
marked pickup reads) and the script reports

* how often ``estimate_pickup`` finds the true pickup, exactly and modulo
  half a bar;
* the shipped model's harmonic agreement with Bach's alto/tenor/bass
  (``Accompanist().accompany``, per seed) for (a) the melody on
  its true bar grid, (b) the unmarked melody taken naively (first note =
  downbeat), (c) the unmarked melody moved onto the bar grid by the estimate,
  and, to show what a half-bar error costs, (d) the melody put half a bar
  away from its true grid.
  Every accompaniment is shifted back to the chorale's own time positions
  before it is compared with Bach (so all three are scored against the same
  reference steps); all three melodies end at their last note, as a file read
  with ``midi_to_roll`` does;
* the same through MIDI files: each unmarked melody written from time 0,
  read back and aligned by ``midi.bar_alignment`` (must choose the estimate);
* the 3/4 chorales, which the dataset skips (so the tables never saw them):
  the estimate's exact rate with 12-step bars;
* the bundled examples: the file's own evidence, and the estimate on the
  melody rewritten to start at time 0.

``--fit`` refits ``NOTE_WEIGHTS`` and ``LAST_NOTE_WEIGHTS`` on the train split,
compares them with the module's constants and prints the estimate's accuracy
on train and valid (where its two scalar weights were chosen). It never
reads the test split.
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from music21 import corpus

from deepaccomp import meter
from deepaccomp.data import prepare
from deepaccomp.evaluation import held_out_pieces, piece_metrics
from deepaccomp.midi import bar_alignment, midi_to_roll, roll_to_midi
from deepaccomp.representation import STEPS_PER_BAR

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "deepaccomp", "assets", "examples")
EXAMPLE_FILES = ("ode_to_joy_pickup.mid", "twinkle.mid")
HALF_BAR = STEPS_PER_BAR // 2


def _counts(values):
    """``{value: count}`` with plain ints."""
    keys, counts = np.unique(np.asarray(values), return_counts=True)
    return {int(k): int(c) for k, c in zip(keys, counts)}


def unmarked_pieces(dataset, split):
    """``[(bach (time, 128, 4), key, first, unmarked (n, 128, 1), true pickup)]`` of a split."""
    out = []
    for bach, key in held_out_pieces(dataset, split):
        active = np.nonzero(bach[..., 0].any(axis=1))[0]
        first, end = int(active[0]), int(active[-1]) + 1
        unmarked = bach[first:end, :, :1]
        out.append((bach, key, first, unmarked, meter.lead_in(first, STEPS_PER_BAR)))
    return out


def phase_accuracy(pieces):
    """``(estimates, exact rate, rate right modulo half a bar)``."""
    est = np.array([meter.estimate_pickup(p[3]) for p in pieces])
    true = np.array([p[4] for p in pieces])
    return est, float(np.mean(est == true)), float(np.mean((est - true) % HALF_BAR == 0))


def to_reference_grid(acc, lead, first, n_steps, total):
    """An accompaniment of a melody given ``lead`` silent steps -> the chorale's own steps."""
    back = meter.remove_lead_in(acc, lead, n_steps)
    return meter.remove_lead_in(meter.add_lead_in(back, first), 0, total)


def _with_lead(piece, lead):
    """The unmarked melody of ``piece`` given ``lead`` silent steps: ``(input, lead, first)``."""
    return meter.add_lead_in(piece[3], lead), lead, piece[2]


def conditions(pieces, estimates):
    """``{name: [(melody input, lead, first)]}`` for the melodies compared, per piece.

    (d) is a diagnostic: the bar grid half a bar away from the truth (beat 3 taken for beat 1).
    """
    return {
        "(a) aligned": [_with_lead(p, p[2]) for p in pieces],
        "(b) naive": [_with_lead(p, 0) for p in pieces],
        "(c) estimated": [_with_lead(p, meter.lead_in(int(e))) for p, e in zip(pieces, estimates)],
        "(d) half a bar off": [_with_lead(p, (p[2] + HALF_BAR) % STEPS_PER_BAR) for p in pieces],
    }


def agreement(accompanist, pieces, inputs, seeds):
    """Harmonic agreement per voice (alto, tenor, bass), mean over pieces and seeds."""
    rows = []
    for seed in seeds:
        accs = accompanist.accompany([m for m, _, _ in inputs], seed=seed)
        for (bach, key, _, unmarked, _), (_, lead, first), acc in zip(pieces, inputs, accs):
            acc = to_reference_grid(acc, lead, first, unmarked.shape[0], bach.shape[0])
            rows.append(piece_metrics(bach[..., :1], acc, bach, key)["harmonic_agreement"])
    return np.nanmean(np.stack(rows), axis=0)


def report_split(dataset, split, seeds):
    from deepaccomp import Accompanist

    pieces = unmarked_pieces(dataset, split)
    est, exact, half = phase_accuracy(pieces)
    true = np.array([p[4] for p in pieces])
    print(f"## {split} split: {len(pieces)} chorales in 4/4, true pickups (steps) "
          f"{_counts(true)}")
    print(f"pickup estimate: exact {np.sum(est == true)}/{len(pieces)} = {exact:.3f}, "
          f"right modulo half a bar {np.sum((est - true) % HALF_BAR == 0)}/{len(pieces)} = {half:.3f}")
    wrong = [(p[0].shape[0], t, e) for p, t, e in zip(pieces, true, est) if t != e]
    print(f"wrong estimates (true -> estimated): {[(int(t), int(e)) for _, t, e in wrong]}")
    file_path_check(pieces, est)
    accompanist = Accompanist()
    results = {name: agreement(accompanist, pieces, inputs, seeds)
               for name, inputs in conditions(pieces, est).items()}
    base = float(np.mean(results["(a) aligned"]))
    print(f"\nharmonic agreement with Bach's A/T/B, seeds {list(seeds)}:")
    print("| melody | alto | tenor | bass | mean | / (a) |\n|---|---|---|---|---|---|")
    for name, v in results.items():
        print(f"| {name} | {v[0]:.3f} | {v[1]:.3f} | {v[2]:.3f} | {np.mean(v):.3f} | "
              f"{np.mean(v) / base:.3f} |")


def file_path_check(pieces, estimates):
    """Write each unmarked melody as a MIDI file from time 0, read it back, align it."""
    hits, sources = 0, set()
    for piece, est in zip(pieces, estimates):
        roll, info = midi_to_roll(roll_to_midi(piece[3]))
        align = bar_alignment(roll, info)
        sources.add(align.source)
        hits += align.pickup == piece[4] and align.pickup == est
    print(f"through MIDI files written from time 0: sources {sorted(sources)}, "
          f"pickup right {hits}/{len(pieces)}")


def three_four_sopranos(dataset):
    """``[(soprano from its first note (time, 128), true pickup)]`` of the chorales skipped for 3/4."""
    out = []
    for skipped in dataset.skipped:
        if not skipped["reason"].startswith("time signature ['3/4'] "):
            continue
        score = corpus.parse(skipped["id"])
        part = next((p for p in score.parts if "soprano" in (p.partName or "").lower()), score.parts[0])
        first_bar = part.getElementsByClass("Measure")[0]
        start = float(first_bar.offset) - (float(first_bar.paddingLeft or 0.0) if first_bar.number == 0 else 0.0)
        notes = [(round((float(n.offset) - start) * 4), round((float(n.offset + n.quarterLength) - start) * 4),
                  n.pitches[-1].midi) for n in part.flatten().notes]
        first = min(on for on, _, _ in notes)
        roll = np.zeros((max(off for _, off, _ in notes) - first, 128), dtype=bool)
        for on, off, pitch in notes:
            roll[on - first:max(off, on + 1) - first, pitch] = True
        out.append((roll, meter.lead_in(first, 12)))
    return out


def report_three_four(dataset):
    pieces = three_four_sopranos(dataset)
    true = np.array([t for _, t in pieces])
    est = np.array([meter.estimate_pickup(r, 12, 4) for r, _ in pieces])
    print(f"\n## the {len(pieces)} chorales in 3/4 (not in the dataset, never fitted on), "
          f"true pickups {_counts(true)}: "
          f"exact {np.sum(est == true)}/{len(pieces)}")


def report_examples():
    print("\n## bundled examples")
    for name in EXAMPLE_FILES:
        roll, info = midi_to_roll(os.path.join(EXAMPLES, name))
        marked = bar_alignment(roll, info)
        active = np.nonzero(roll[..., 0].any(axis=1))[0]
        unmarked = roll[active[0]:]
        print(f"{name}: as written -> {marked}; rewritten from time 0 -> estimated pickup "
              f"{meter.estimate_pickup(unmarked, marked.steps_per_bar)} steps "
              f"(true: {marked.pickup}); phase scores {np.round(meter.phase_scores(unmarked), 1).tolist()}")


def report_fit(dataset):
    for split in ("train", "valid"):
        pieces = unmarked_pieces(dataset, split)
        if split == "train":
            notes, last = meter.fit_note_weights([p[3] for p in pieces], [p[4] for p in pieces])
            print("NOTE_WEIGHTS refit on train:\n", np.round(notes, 2))
            print("LAST_NOTE_WEIGHTS refit on train:", np.round(last, 2))
            same = np.allclose(np.round(notes, 2), meter.NOTE_WEIGHTS) and np.allclose(
                np.round(last, 2), meter.LAST_NOTE_WEIGHTS)
            print("module constants match the refit:", same)
        _, exact, half = phase_accuracy(pieces)
        print(f"{split}: {len(pieces)} chorales, exact {exact:.3f}, modulo half a bar {half:.3f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--fit", action="store_true", help="refit the tables on train; report train/valid")
    args = parser.parse_args(argv)
    dataset, _ = prepare("chorales", progress=False)
    if args.fit:
        report_fit(dataset)
        return 0
    report_split(dataset, args.split, args.seeds)
    report_three_four(dataset)
    report_examples()
    return 0


if __name__ == "__main__":
    sys.exit(main())
