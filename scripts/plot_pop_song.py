"""A POP909 song's melody with its real piano above and a model's accompaniment below.

    python scripts/plot_pop_song.py --source ../shared/data/POP909 --song NNN [--stretch K] [--bars 8]
        [--model pop|MODEL.npz] [--seed 0] [-o docs/images/pop_song.png]

The picture shows what a user gets, through the path the pop evaluation measures
(deepaccomp.pop_evaluation, docs/pop_evaluation.md): the stretch's melody written as the MIDI file a
DAW would export (``melody_midi``: the annotated beats as the tempo map, 4/4, the stretch's first
downbeat at time 0), accompanied by ``Accompanist(model).generate(path, seed=seed)``
(``model_accompany``) and read back onto the beats with ``read_accompaniment``, each accompaniment
instrument on its own so that piano and bass keep their colours. Above: the same melody with the song's
real PIANO track, split into piano and bass as the POP909 dataset splits it (``pop909.split_bass``).
Both panels show the first ``--bars`` bars of the stretch's measured span (from the bar of the
melody's first note), with bar and beat lines.

``--stretch`` is the stretch's index in the song (the dataset's piece id ``NNN/K``); by default the
first stretch with at least ``--bars`` measured bars, else the longest.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile

import numpy as np

from deepaccomp import pop909
from deepaccomp.artifact import SHIPPED_MODELS
from deepaccomp.errors import ConfigError, DeepAccompError, brief
from deepaccomp.pop_evaluation import PopStretch, model_accompany, pop_song, read_accompaniment
from deepaccomp.representation import STEPS_PER_BAR, STEPS_PER_BEAT
from deepaccomp.visualization import check_image_path, plot_comparison, save_figure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(ROOT, "docs", "images", "pop_song.png")


def choose_stretch(song, index: int | None, bars: int) -> PopStretch:
    """The stretch numbered ``index`` of a :class:`~deepaccomp.pop_evaluation.PopSong`; ``None``: the
    first with at least ``bars`` measured bars, else the longest.

    Raises
    ------
    ConfigError
        The song has no stretch with a melody, or none numbered ``index``.
    """
    if not song.stretches:
        raise ConfigError(f"song {song.name} has nothing to draw: {song.reason}")
    if index is None:
        long = [s for s in song.stretches if s.span_bars >= bars]
        return long[0] if long else max(song.stretches, key=lambda s: s.span_bars)
    for s in song.stretches:
        if s.index == index:
            return s
    raise ConfigError(f"song {song.name} has no stretch {index} with a melody; its stretches are "
                      f"{[s.index for s in song.stretches]}")


def accompaniment_tracks(result, n_steps: int) -> tuple:
    """Each accompaniment instrument of ``result`` (the Accompanist's PrettyMIDI: the melody first) read
    back on its own with :func:`~deepaccomp.pop_evaluation.read_accompaniment`.

    Returns
    -------
    (list of str, np.ndarray)
        The instruments' names and their rolls, bool ``(n_steps, 128, instruments)``; drums left out.
    """
    names, rolls = [], []
    for inst in result.instruments[1:]:
        if inst.is_drum:
            continue
        single = copy.copy(result)
        single.instruments = [result.instruments[0], inst]
        names.append(inst.name or f"track {len(names) + 1}")
        rolls.append(read_accompaniment(single, n_steps)[0])
    roll = np.stack(rolls, axis=-1) if rolls else np.zeros((n_steps, 128, 0), dtype=bool)
    return names, roll


def model_label(model) -> str:
    """A shipped model's name, or a model file's path."""
    return model if model in SHIPPED_MODELS else brief(os.fspath(model))


def plot_pop_song(source, song: str, *, stretch: int | None = None, bars: int = 8, model="pop", seed: int = 0):
    """The figure: one stretch of ``song``, its real piano above, the model's accompaniment below.

    Parameters
    ----------
    source : str or os.PathLike
        The POP909 folder.
    song : str
        The song folder's name or number.
    stretch : int, optional
        The stretch's index in the song (:func:`choose_stretch`).
    bars : int
        Bars drawn, from the bar of the melody's first note.
    model : str or os.PathLike
        A shipped model's name or a model file (what ``Accompanist`` takes).
    seed : int

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(bars, bool) or not isinstance(bars, int) or bars < 1:
        raise ConfigError(f"--bars must be a positive number of bars, got {brief(repr(bars))}")
    chosen = choose_stretch(pop_song(source, song), stretch, bars)
    accompany = model_accompany(model)
    with tempfile.TemporaryDirectory(prefix="deepaccomp-pop-plot-") as tmp:
        path = os.path.join(tmp, f"{chosen.song}_{chosen.index}.mid")
        chosen.midi.write(path)
        names, ours = accompaniment_tracks(accompany(path, seed), chosen.bars * STEPS_PER_BAR)
    lo = chosen.span[0]
    hi = min(chosen.span[1], lo + bars * STEPS_PER_BAR)
    bass, _, rest, _ = pop909.split_bass(chosen.piano, chosen.piano_onsets)
    melody = chosen.melody[: hi - lo, :, None]
    real = np.concatenate([melody, rest[: hi - lo, :, None], bass[: hi - lo, :, None]], axis=-1)
    generated = np.concatenate([melody, ours[lo:hi]], axis=-1)
    shown = (hi - lo) // STEPS_PER_BAR
    return plot_comparison(
        real, generated, steps_per_beat=STEPS_PER_BEAT,
        titles=("the song's real piano (piano and bass)", f"deepaccomp's accompaniment (model {model_label(model)}, "
                                                          f"seed {seed})"),
        track_names=["melody", "piano", "bass"], generated_track_names=["melody", *names],
        title=f"POP909 song {chosen.song}, stretch {chosen.index}: bars 1-{shown} of {chosen.span_bars} from the "
              f"melody's entry; model {model_label(model)}, seed {seed}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", required=True, help="the POP909 folder (song folders 001, 002, ...)")
    p.add_argument("--song", required=True, help="the song's folder name or number (a test song: NNN0)")
    p.add_argument("--stretch", type=int, default=None, help="the stretch's index in the song")
    p.add_argument("--bars", type=int, default=8)
    p.add_argument("--model", default="pop", help="a shipped model's name (pop) or a model file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    try:
        check_image_path(args.output)
        fig = plot_pop_song(args.source, args.song, stretch=args.stretch, bars=args.bars, model=args.model,
                            seed=args.seed)
        save_figure(fig, args.output)
    except DeepAccompError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
