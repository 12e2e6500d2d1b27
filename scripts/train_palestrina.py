"""Train and measure a five-voice model on music21's Palestrina masses (layout ``ssatb``).

    python scripts/train_palestrina.py WORK_DIR [--limit N] [--iterations N] [--skip-export]

Steps, each reusing what an earlier run left in WORK_DIR:

1. export: every five-voice ``.krn`` mass movement of ``music21.corpus.getComposer("palestrina")``
   (477 of 1,318 files; 442 of them in 4/2) is written as a MIDI file to
   ``WORK_DIR/midi`` by music21, in a fixed shuffled order, at most ``--limit`` files;
2. build: :func:`deepaccomp.data.build_folder` on that folder with ``layout="ssatb"``,
   the path any user's folder takes (4/2 bars are read with halved note values,
   3/2 movements are skipped with the reason), saved to ``WORK_DIR/palestrina-ssatb.npz``.
   The split is the position rule over the sorted file names without the chorales'
   tune cleaning (``clean_tunes=False``: comparing the tunes of hundreds of long
   movements pairwise takes far longer than the training);
3. train: the ``default`` preset with smaller networks, ``ssatb`` layout,
   ``sing_with_melody`` off (Renaissance voices rest between their entries);
4. measure: :func:`deepaccomp.evaluation.evaluate_generator` (seeds 0, 1, 2) and the real
   voices (``evaluate_baseline("bach")``) on the test split; the table goes to stdout and
   ``WORK_DIR/figures.json``.

docs/layouts.md gives the figures of one run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

VOICES = 5


def export(out_dir: str, limit: int | None) -> int:
    """Write the five-voice Palestrina movements as MIDI files; returns how many the folder holds."""
    from music21 import corpus

    os.makedirs(out_dir, exist_ok=True)
    paths = sorted(str(p) for p in corpus.getComposer("palestrina") if str(p).endswith(".krn"))
    random.Random(0).shuffle(paths)
    done = 0
    for path in paths:
        if limit is not None and done >= limit:
            break
        with open(path, errors="replace") as fh:
            header = next(line for line in fh if line.startswith("**"))
        if header.rstrip("\n").split("\t").count("**kern") != VOICES:
            continue
        dst = os.path.join(out_dir, os.path.basename(path)[:-4] + ".mid")
        if not os.path.exists(dst):
            corpus.parse(path).write("midi", fp=dst)
        done += 1
    return done


def config(iterations: int):
    from deepaccomp import preset

    return preset("default").with_layout("ssatb").replace(
        model={"encoder_filters": [16, 32, 64, 128], "decoder_filters": [64, 32, 16], "noise_channels": 8,
               "critic_filters": [8, 16, 32, 64]},
        train={"iterations": iterations, "batch_size": 32, "eval_every": 250, "checkpoint_every": 250},
        generation={"sing_with_melody": False})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work_dir")
    parser.add_argument("--limit", type=int, default=None, help="most movements to export (default: all)")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--skip-export", action="store_true", help="use the MIDI files already in WORK_DIR/midi")
    parser.add_argument("--eval-limit", type=int, default=None, help="most test pieces to measure (default: all)")
    args = parser.parse_args(argv)

    from deepaccomp import Accompanist, train
    from deepaccomp.data import Dataset, build_folder
    from deepaccomp.evaluation import evaluate_baseline, evaluate_generator, score_table

    midi_dir = os.path.join(args.work_dir, "midi")
    if not args.skip_export:
        t0 = time.perf_counter()
        n = export(midi_dir, args.limit)
        print(f"export: {n} five-voice movements in {midi_dir} ({time.perf_counter() - t0:.0f} s)")
    path = os.path.join(args.work_dir, "palestrina-ssatb.npz")
    if os.path.exists(path):
        ds = Dataset.load(path)
    else:
        ds = build_folder(midi_dir, layout="ssatb", clean_tunes=False, progress=False)
        ds.save(path)
    print(f"dataset {path}: {ds.info['n_pieces']} pieces {ds.info['splits']}, {ds.info['n_skipped']} skipped; "
          f"tracks {ds.info['track_summary']}")
    cfg = config(args.iterations).replace(data={"source": midi_dir})
    logdir = os.path.join(args.work_dir, "run")
    train(cfg, logdir, dataset=ds, progress=False)
    acc = Accompanist.load(logdir)
    names = acc.layout.accompaniment_names
    generated = evaluate_generator(acc, ds, split="test", limit=args.eval_limit)
    real = evaluate_baseline("bach", ds, split="test", limit=args.eval_limit)
    print(score_table({"model": generated, "real": real}, voices=names))
    figures = {"n_test_pieces": generated["n_pieces"], "tracks": list(names),
               "model": {k: np.asarray(v, float).round(4).tolist() for k, v in generated.items()},
               "real": {k: np.asarray(v, float).round(4).tolist() for k, v in real.items()}}
    with open(os.path.join(args.work_dir, "figures.json"), "w") as fh:
        json.dump(figures, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
