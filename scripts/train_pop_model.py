"""Reproduce the shipped pop model (deepaccomp/assets/pop_model) and its model card with one command.

    python scripts/train_pop_model.py --source ../shared/data/POP909 [--logdir runs/pop_model]
        [--iterations N] [--reuse MODEL.npz] [--out deepaccomp/assets/pop_model]
        [--valid-limit N] [--test-limit N] [--ablate LABEL=MODEL.npz ...] [--baseline MODEL.npz]
    python scripts/train_pop_model.py --source ../shared/data/POP909 --card-only

The shipped model was made with ``--logdir runs/pop_main --reuse runs/pop_main/generator.npz
--valid-limit 40`` after ``deepaccomp train --preset pop --source ../shared/data/POP909 --logdir
runs/pop_main --iterations 2500`` (the same training as step 2), its ablations with three
500-iteration runs of the preset with one change each, against the main run's checkpoint 500
(``deepaccomp.training.export_checkpoint``).

Steps (re-run the same command after an interruption: training resumes in --logdir):

1. build the POP909 dataset (``deepaccomp prepare --format pop909``, docs/pop909.md);
2. train the ``pop`` preset on the train songs (``deepaccomp.train``; ``--reuse`` skips it and takes
   an already trained model file; its training time is read from the run's ``timing.json``);
3. choose the noise scale on the **valid** songs: the largest of :data:`NOISE_SCALES` whose chord
   accuracy is within :data:`MAX_CHORD_COST` of scale 1 (seeds 0 and 1);
4. write the model with that setting to ``--out`` and measure it on the **test** songs through the
   user path (deepaccomp.pop_evaluation: every stretch's melody as a DAW's MIDI file), 3 seeds,
   beside the real piano, another song's piano and the two baselines from the melody alone; the
   honesty checks (the model's decoding applied to random in-key notes and to the doubled melody);
   the training ablations given with ``--ablate`` against ``--baseline`` on valid (same seeds);
   write ``evaluation.json`` beside the model and docs/model_card_pop.md from it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np
from train_default_model import matmul_gflops

from deepaccomp import artifact, config, data
from deepaccomp import pop_evaluation as pe
from deepaccomp.decoding import decode
from deepaccomp.inference import load
from deepaccomp.metrics import estimate_key
from deepaccomp.representation import crop_pitches, uncrop_pitches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "deepaccomp", "assets", "pop_model")
CARD = os.path.join(ROOT, "docs", "model_card_pop.md")
NOISE_SCALES = (1.0, 1.5, 2.0, 3.0)
MAX_CHORD_COST = 0.02
VALID_SEEDS = (0, 1)
TEST_SEEDS = (0, 1, 2)
TARGETS = {
    "chord_accuracy": (">=", 0.55),
    "empty_bars_under_melody": ("<=", 0.02),
    "seed_difference": (">=", 0.15),
}
"""Issue 32's fixed targets; the ones relative to the real piano and the baselines are in :func:`targets`."""


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (np.floating, np.integer)):
        return _clean(value.item())
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def with_settings(model: str, out: str, **generation) -> str:
    """``model`` written to ``out`` with its generation settings changed (weights unchanged), and the pop
    preset's reading of a melody (its octave kept, bar 1 at time 0) for a model trained before those settings."""
    generator, cfg = load(model)
    recipe = config.pop()
    cfg = cfg.replace(data={"center_melody": recipe.data.center_melody},
                      generation={"estimate_pickup": recipe.generation.estimate_pickup, **generation})
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    artifact.save(generator, cfg, out)
    return out


def measure(model: str, songs, seeds) -> dict:
    return pe.evaluate_pop(pe.model_accompany(model), songs, seeds=seeds)["mean"]


def choose_noise(model: str, songs, work: str) -> dict:
    """The largest noise scale whose valid chord accuracy is within MAX_CHORD_COST of scale 1."""
    rows = {}
    for scale in NOISE_SCALES:
        path = with_settings(model, os.path.join(work, f"noise{scale:g}.npz"), noise_scale=scale)
        rows[scale] = measure(path, songs, VALID_SEEDS)
        print(f"  valid, noise scale {scale:g}: chord accuracy {rows[scale]['chord_accuracy']:.3f}, "
              f"seed difference {rows[scale]['seed_difference']:.3f}", flush=True)
    base = rows[NOISE_SCALES[0]]["chord_accuracy"]
    chosen = max(s for s in NOISE_SCALES if rows[s]["chord_accuracy"] >= base - MAX_CHORD_COST)
    return {"rule": f"largest noise scale within {MAX_CHORD_COST} chord accuracy of scale 1 on valid",
            "seeds": list(VALID_SEEDS), "rows": {f"{s:g}": rows[s] for s in NOISE_SCALES}, "chosen": chosen}


# --------------------------------------------------------------------------------------- honesty checks
def decoded(model: str, make_values):
    """An ``accompany`` callable that decodes ``make_values(melody, rng) -> (time, 128, tracks)`` values with
    ``model``'s own decoding and settings (no generator), written through the user path."""
    _, cfg = load(model)

    def make_roll(melody, seed):
        values = make_values(melody.roll[..., 0], np.random.default_rng(seed))
        window = cfg.window
        mel = crop_pitches(melody.roll[..., :1], window)[None]
        out = decode(crop_pitches(values, window)[None], cfg.generation, mel, cfg.track_layout)[0]
        return uncrop_pitches(out, window)
    return pe.roll_accompany(make_roll)


def random_in_key_values(melody: np.ndarray, rng) -> np.ndarray:
    """Per beat, three random pitches of the melody's key in the piano's register (MIDI 48-71) and one in the
    bass's (36-47), as confident values (+0.9, else -0.9); the piano struck again on every beat."""
    n = melody.shape[0]
    scale = np.array(sorted(estimate_key(melody[..., None]).pitch_classes))
    values = np.full((n, 128, 2), -0.9, np.float32)
    for start in range(0, n, 4):
        piano = rng.choice([p for p in range(48, 72) if p % 12 in scale], 3, replace=False)
        bass = rng.choice([p for p in range(36, 48) if p % 12 in scale])
        values[start:start + 3, piano, 0] = 0.9
        values[start:start + 4, bass, 1] = 0.9
    return values


def doubled_values(melody: np.ndarray, rng) -> np.ndarray:
    """The melody an octave down as the piano's values and two octaves down as the bass's."""
    values = np.full(melody.shape + (2,), -0.9, np.float32)
    values[:, :-12, 0][melody[:, 12:]] = 0.9
    values[:, :-24, 1][melody[:, 24:]] = 0.9
    return values


# --------------------------------------------------------------------------------------- the card
def targets(test: dict) -> dict:
    model, real = test["model"], test["real piano"]
    other, triads = test["another song"], test["block triads"]
    rows = {name: (model[name], op, bound) for name, (op, bound) in TARGETS.items()}
    rows["chord_accuracy above block triads + 0.15"] = (model["chord_accuracy"], ">=",
                                                       triads["chord_accuracy"] + 0.15)
    for name in ("groove_similarity", "onset_profile_similarity"):
        rows[f"{name} vs another song's piano"] = (model[name], ">=", other[name])
    for name in ("onsets_per_bar", "notes_at_once"):
        rows[f"{name} within 20% of the real piano"] = (abs(model[name] / real[name] - 1), "<=", 0.2)
    for name in ("consonance_with_melody", "in_scale_ratio"):
        rows[f"{name} >= real piano - 0.03"] = (model[name], ">=", real[name] - 0.03)
    return {k: {"value": v, "op": op, "target": t, "met": bool(v >= t if op == ">=" else v <= t)}
            for k, (v, op, t) in rows.items()}


def write_card(result: dict) -> None:
    test, cols = result["test"], list(result["test"])
    met = [name for name, row in result["targets"].items() if row["met"]]
    missed = [name for name, row in result["targets"].items() if not row["met"]]
    lines = ["# Model card: the pop model (`Accompanist(\"pop\")`, `deepaccomp generate --model pop`)", "",
             "Written by `scripts/train_pop_model.py` from `deepaccomp/assets/pop_model/evaluation.json`; "
             "every figure is on the **test** songs of POP909 (song number % 10 == 0, docs/pop909.md), "
             "through the user path (docs/pop_evaluation.md), averaged over songs and seeds "
             f"{result['test_seeds']}.", "",
             "## What it is", "",
             "A piano (and its bass line, as a second track: play both on a piano, or the bass on a bass "
             "guitar) under a pop melody, learned from 590 POP909 songs: the `pop` preset (4-bar phrases with "
             "the position in the bar, re-struck notes kept as a silent step before each re-strike"
             + (f", a training term for where notes start, weight {result['onset_weight']:g}"
                if result.get("onset_weight") else "")
             + "), one generator of the chorale model's size. Any melody file, any tempo map; a file's bar 1 is "
             "taken at time 0 unless its first note comes later (`generation.estimate_pickup` false; "
             "`--pickup` to say otherwise).", "",
             f"**Where it stands**: it meets {len(met)} of the {len(result['targets'])} targets of issue 32"
             + (f" and misses {len(missed)}: " + "; ".join(missed) if missed else "") + ". "
             + _standing(result) + " Treat it as a first pop model, not a finished one.", "",
             "![a test song: the real piano above, the pop model below](images/pop_song.png)", "",
             "(`python scripts/plot_pop_song.py --source ../shared/data/POP909 --song 010 --model pop "
             "-o docs/images/pop_song.png`)", "",
             "## Figures", "",
             "| figure | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for figure in pe.FIGURES:
        cells = [test[c].get(figure) for c in cols]
        lines.append(f"| {figure} | " + " | ".join("-" if v is None or not np.isfinite(v) else f"{v:.3f}"
                                                    for v in cells) + " |")
    lines += ["", "## Targets (issue 32)", "", "| target | value | bound | met |", "|---|---|---|---|"]
    for name, row in result["targets"].items():
        lines.append(f"| {name} | {row['value']:.3f} | {row['op']} {row['target']:.3f} | "
                     f"{'yes' if row['met'] else '**no**'} |")
    lines += ["", "## Honesty checks", "", "The model's own decoding and settings applied to values that are "
              "not the generator's (test songs, same path):", "", "| input to the decoding | chord accuracy |",
              "|---|---|"]
    for name, row in result["honesty"].items():
        lines.append(f"| {name} | {row['chord_accuracy']:.3f} |")
    lines += ["", "## Choices on valid", "", f"Noise scale: {result['valid_search']['rule']} "
              f"(seeds {result['valid_search']['seeds']}); chosen **{result['valid_search']['chosen']:g}**.", "",
              "| noise scale | chord accuracy | seed difference |", "|---|---|---|"]
    for scale, row in result["valid_search"]["rows"].items():
        lines.append(f"| {scale} | {row['chord_accuracy']:.3f} | {row['seed_difference']:.3f} |")
    if result.get("ablation"):
        ab = result["ablation"]
        lines += ["", f"## Training ablations (valid, seeds {ab['seeds']}, {ab['iterations']} iterations each, "
                  "one change each against the same preset at the same iteration)", "",
                  "| run | " + " | ".join(ab["figures"]) + " |", "|---|" + "---|" * len(ab["figures"])]
        for label, row in ab["results"].items():
            lines.append(f"| {label} | " + " | ".join(f"{row[f]:.3f}" for f in ab["figures"]) + " |")
        lines += ["", *_ablation_text(ab)]
    hw, timing = result["hardware"], result.get("training_timing", {})
    lines += ["", "## Training", "",
              f"The `pop` preset ({result['iterations']} iterations), {timing.get('training_seconds', 'n/a')} s of training "
              f"on {hw['cpus']} CPUs with a float32 matmul rate of {hw['matmul_gflops']} GFLOP/s "
              f"({timing.get('note', '')}). Model file: {result['model_bytes']:,} bytes.", ""]
    with open(CARD, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def _standing(result: dict) -> str:
    """The card's summary of what the figures say, from the figures (nothing in it is written by hand)."""
    rows, test = result["targets"], result["test"]
    rhythm = [rows[f"{n} vs another song's piano"]["met"] for n in ("groove_similarity", "onset_profile_similarity")]
    where = ("where it strikes in the bar is as like the song's piano as another song's piano is, per bar and "
             "as a profile" if all(rhythm) else
             "where it strikes in the bar is as like the song's piano as another song's piano is as a profile "
             "of the song, but less so bar by bar" if rhythm[1] else
             "where it strikes in the bar is less like the song's piano than another song's piano is")
    return (f"It names the song's chord on {test['model']['chord_accuracy']:.2f} of the beats (block triads "
            f"read from the melody alone {test['block triads']['chord_accuracy']:.2f}, the real piano "
            f"{test['real piano']['chord_accuracy']:.2f}); {where} (groove "
            f"{test['model']['groove_similarity']:.3f} against {test['another song']['groove_similarity']:.3f}).")


PRESET_ROW = "pop preset"
"""The ablation row of the preset itself at the ablations' iteration (``--baseline``)."""

NO_ONSET_TERM = "no onset term (the preset before it, checkpoint 500 of the model shipped before)"
"""The ablation row of the pop preset without ``train.onset_weight``; rows after it change one more setting
of that preset (they were measured before the onset term existed)."""


def _ablation_text(ab: dict) -> list:
    """What the ablation table shows, read from it."""
    res = ab["results"]
    onset = NO_ONSET_TERM in res
    others = [row["chord_accuracy"] for label, row in res.items() if not onset or label != PRESET_ROW]
    three = [("The rows below it each change one more setting of the preset without the onset term: their"
              if onset else "At this length the runs'") + " chord accuracies lie within "
             f"{max(others) - min(others):.3f} of each other: these short runs do not show that any of the three "
             "choices raises the figures. They were kept for what they do by construction: re-strike gaps let the "
             "model strike a held pitch again (more onsets per bar, nearer the real piano's), 4-bar phrases give "
             "it a whole pop phrase, and the position channels tell it where the bar starts in a melody of any "
             "length."]
    if not onset:
        return three
    new, old = res[PRESET_ROW], res[NO_ONSET_TERM]
    return [f"The onset term alone (`train.onset_weight`, the first two rows): groove {old['groove_similarity']:.3f} "
            f"-> {new['groove_similarity']:.3f}, onset profile {old['onset_profile_similarity']:.3f} -> "
            f"{new['onset_profile_similarity']:.3f}, chord accuracy {old['chord_accuracy']:.3f} -> "
            f"{new['chord_accuracy']:.3f}, consonance {old['consonance_with_melody']:.3f} -> "
            f"{new['consonance_with_melody']:.3f}, seed difference {old['seed_difference']:.3f} -> "
            f"{new['seed_difference']:.3f}.", "", *three]


# --------------------------------------------------------------------------------------- main
def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True)
    p.add_argument("--logdir", default=os.path.join(ROOT, "runs", "pop_model"))
    p.add_argument("--iterations", type=int, default=None)
    p.add_argument("--reuse", default=None, help="an already trained model file (skips training)")
    p.add_argument("--out", default=OUT)
    p.add_argument("--valid-limit", type=int, default=None)
    p.add_argument("--test-limit", type=int, default=None)
    p.add_argument("--ablate", action="append", default=[], help="LABEL=MODEL.npz, measured on valid")
    p.add_argument("--baseline", default=None, help="the ablations' reference model (the preset at their iterations)")
    p.add_argument("--ablation-iterations", type=int, default=None)
    p.add_argument("--timing-note", default="")
    p.add_argument("--card-only", action="store_true", help="rewrite the model card from --out's evaluation.json")
    args = p.parse_args(argv)
    if args.card_only:
        with open(os.path.join(args.out, "evaluation.json"), encoding="utf-8") as fh:
            write_card(json.load(fh))
        return 0
    gflops = matmul_gflops()
    data.prepare(args.source, source_format="pop909", dataset_dir=os.path.join(ROOT, "datasets"))
    cfg = config.pop().replace(data={"source": args.source})
    if args.iterations:
        cfg = cfg.replace(train={"iterations": args.iterations})
    if args.reuse:
        trained = os.path.abspath(args.reuse)
    else:
        from deepaccomp.training import train

        train(cfg, args.logdir)
        trained = os.path.join(args.logdir, artifact.FILE_NAME)
    work = os.path.join(args.logdir, "search")
    os.makedirs(work, exist_ok=True)
    valid = pe.pop_songs(args.source, "valid", args.valid_limit)
    search = choose_noise(trained, valid, work)
    model = with_settings(trained, os.path.join(args.out, artifact.FILE_NAME), noise_scale=search["chosen"])
    shipped = load(model)[1]
    shipped.save(os.path.join(args.out, "config.json"))

    songs = pe.pop_songs(args.source, "test", args.test_limit)
    columns = {"model": pe.model_accompany(model), **{n: n for n in pe.REFERENCES},
               **{n: pe.baseline_accompany(n) for n in pe.BASELINES}}
    test = {}
    for label, accompany in columns.items():
        test[label] = pe.evaluate_pop(accompany, songs, seeds=TEST_SEEDS)["mean"]
        print(f"  test, {label}: chord accuracy {test[label]['chord_accuracy']:.3f}", flush=True)
    honesty = {name: pe.evaluate_pop(decoded(model, make), songs, seeds=TEST_SEEDS)["mean"]
               for name, make in (("random in-key notes", random_in_key_values),
                                  ("the melody doubled", doubled_values))}
    result = {"test": test, "test_seeds": list(TEST_SEEDS), "targets": targets(test), "honesty": honesty,
              "valid_search": search, "iterations": shipped.train.iterations,
              "onset_weight": shipped.train.onset_weight,
              "model_bytes": os.path.getsize(model),
              "hardware": {"machine": platform.machine(), "cpus": os.cpu_count(),
                           "python": platform.python_version(), "matmul_gflops": gflops}}
    timing_file = os.path.join(os.path.dirname(trained), "timing.json")
    if os.path.isfile(timing_file):
        with open(timing_file) as fh:
            result["training_timing"] = {**json.load(fh), "note": args.timing_note}
    if args.ablate:
        runs = {PRESET_ROW: args.baseline, **dict(entry.split("=", 1) for entry in args.ablate)}
        figures = ["chord_accuracy", "groove_similarity", "onset_profile_similarity", "onsets_per_bar",
                   "notes_at_once", "consonance_with_melody", "seed_difference"]
        results = {label: measure(with_settings(path, os.path.join(work, f"ablation-{i}.npz"),
                                                noise_scale=search["chosen"]), valid, VALID_SEEDS)
                   for i, (label, path) in enumerate(runs.items())}
        result["ablation"] = {"seeds": list(VALID_SEEDS), "iterations": args.ablation_iterations,
                              "figures": figures, "results": results}
    with open(os.path.join(args.out, "evaluation.json"), "w", encoding="utf-8") as fh:
        json.dump(_clean(result), fh, indent=1)
    write_card(_clean(result))
    print(json.dumps(_clean(result["targets"]), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
