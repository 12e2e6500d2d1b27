"""How much of POP909's annotated harmony does the melody alone give away?

    python scripts/pop_chord_ceiling.py --source ../shared/data/POP909 [--context 8] [--key annotated|estimated]

A planning measurement for the pop model's chord accuracy (issue 32): a chord predictor that sees
only the melody, trained on the train songs and scored on the valid and test songs against the
annotated chords, per beat, root and major/minor (the beats :func:`deepaccomp.metrics.chord_accuracy`
counts). No accompaniment is played: this is the chord a perfect generator would realise, so a
model that draws its chords from the melody alone cannot be expected to score above it.

The predictor is a softmax regression (24 triads) on the duration-weighted melody chroma of the beat
and of ``--context`` beats either side (:func:`deepaccomp.metrics.beat_chroma`, each beat's chroma
normalised to sum 1), the beat's position in the bar and the key's mode, everything rotated to the
key's tonic: the annotated key (which a user's file does not give) or the Krumhansl-Schmuckler
estimate from the stretch's melody (:func:`deepaccomp.metrics.estimate_key_from_histogram`), as a
user's file would. Pure numpy, full-batch Adam, fixed seed; a few seconds per fit once the songs are
read (reading the 818 songs takes about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from deepaccomp import metrics  # noqa: E402
from deepaccomp.representation import BEATS_PER_BAR  # noqa: E402

N_CHORDS = 24


def stretch_key(stretch, key: str) -> tuple:
    """``(tonic, minor)`` of a stretch: its annotated key, or the estimate from its melody alone."""
    k = stretch.key if key == "annotated" else metrics.estimate_key_from_histogram(
        metrics.beat_chroma(stretch.melody).sum(axis=0))
    return k.tonic, k.mode == "minor"


def features(chroma: np.ndarray, tonic: int, minor: bool, context: int) -> np.ndarray:
    """Per beat: the key-relative, normalised melody chroma of the beat and ``context`` beats either
    side (zeros past the ends), the beat's position in the bar (one-hot) and the mode; ``(beats, f)``."""
    ch = np.roll(np.asarray(chroma, dtype=np.float64), -tonic, axis=1)
    ch = ch / np.maximum(ch.sum(axis=1, keepdims=True), 1e-9)
    n = len(ch)
    padded = np.concatenate([np.zeros((context, 12)), ch, np.zeros((context, 12))])
    window = np.stack([padded[b: b + 2 * context + 1].ravel() for b in range(n)]) if n else np.zeros((0, 12))
    position = np.eye(BEATS_PER_BAR)[np.arange(n) % BEATS_PER_BAR]
    return np.concatenate([window, position, np.full((n, 1), float(minor))], axis=1)


def relative_chords(chords: np.ndarray, tonic: int) -> np.ndarray:
    """Chord codes (``2 * root + minor``, -1 none) with the root counted from ``tonic``."""
    chords = np.asarray(chords)
    return np.where(chords >= 0, ((chords // 2 - tonic) % 12) * 2 + chords % 2, -1)


def table(songs, key: str, context: int) -> tuple:
    """Features and key-relative chords of every annotated beat of ``songs``' stretches."""
    xs, ys = [], []
    for song in songs:
        for s in song.stretches:
            tonic, minor = stretch_key(s, key)
            y = relative_chords(s.chords, tonic)
            x = features(metrics.beat_chroma(s.melody), tonic, minor, context)
            xs.append(x[y >= 0])
            ys.append(y[y >= 0])
    if not xs:
        return np.zeros((0, 12 * (2 * context + 1) + BEATS_PER_BAR + 1)), np.zeros(0, dtype=np.int64)
    return np.concatenate(xs), np.concatenate(ys)


def fit_softmax(x: np.ndarray, y: np.ndarray, *, steps: int = 300, lr: float = 0.05, l2: float = 1e-4,
                seed: int = 0) -> tuple:
    """Softmax regression by full-batch Adam: ``(weights (f, 24), bias (24,))``."""
    rng = np.random.default_rng(seed)
    w = rng.normal(0.0, 0.01, (x.shape[1], N_CHORDS))
    b = np.zeros(N_CHORDS)
    onehot = np.eye(N_CHORDS)[y]
    m = [np.zeros_like(w), np.zeros_like(b)]
    v = [np.zeros_like(w), np.zeros_like(b)]
    for t in range(1, steps + 1):
        p = softmax(x @ w + b)
        grads = [x.T @ (p - onehot) / len(x) + l2 * w, (p - onehot).mean(axis=0)]
        for k, (param, g) in enumerate(zip((w, b), grads)):
            m[k] = 0.9 * m[k] + 0.1 * g
            v[k] = 0.999 * v[k] + 0.001 * g * g
            param -= lr * (m[k] / (1 - 0.9 ** t)) / (np.sqrt(v[k] / (1 - 0.999 ** t)) + 1e-8)
    return w, b


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy(model: tuple, x: np.ndarray, y: np.ndarray):
    """Share of beats whose predicted chord is the annotated one (``None`` without beats)."""
    w, b = model
    return round(float(np.mean((x @ w + b).argmax(axis=1) == y)), 4) if len(y) else None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="the POP909 folder")
    p.add_argument("--context", type=int, default=8, help="beats of melody either side of the beat")
    p.add_argument("--key", choices=("annotated", "estimated"), default="estimated")
    p.add_argument("--limit", type=int, default=None, help="at most this many songs per split (a quick try)")
    p.add_argument("--out", default=None, help="write the figures as JSON here")
    args = p.parse_args(argv)
    from deepaccomp.pop_evaluation import pop_songs

    data = {split: table(pop_songs(args.source, split, args.limit), args.key, args.context)
            for split in ("train", "valid", "test")}
    model = fit_softmax(*data["train"])
    result = {"key": args.key, "context_beats": args.context,
              **{f"{split}_beats": int(len(data[split][1])) for split in data},
              **{f"{split}_accuracy": accuracy(model, *data[split]) for split in data}}
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
