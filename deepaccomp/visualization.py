"""Piano-roll pictures with matplotlib, headless and without pyplot state.

Figures are built as :class:`matplotlib.figure.Figure` objects on an Agg
canvas, never through ``matplotlib.pyplot``: nothing is registered globally
(no figure leaks in long training runs), no display is needed, and the
process's matplotlib backend is left alone. matplotlib is imported only when
a function is called.

* :func:`plot_roll`: one roll ``(time, pitch, tracks)``, every track in its
  own colour on one axis, bar lines, C's labelled on the pitch axis.
* :func:`plot_comparison`: real vs generated, two panels on the same scales.
* :func:`plot_piece`: a :class:`~deepaccomp.piece.Piece`, its tracks named by its layout.
* :func:`plot_midi`: the pitched instruments of a MIDI file, or the file as a piece of a layout.
* :func:`figure_to_png_bytes`, :func:`save_figure`: PNG bytes; an atomic
  write to a file (no partial file is ever left behind).
"""

from __future__ import annotations

import io
import os
from typing import Optional, Sequence

import numpy as np

from .errors import ConfigError, InvalidRollError
from .io_utils import atomic_write_bytes, check_output_path
from .midi import multitrack_midi_to_roll, pitched_instruments, read_midi
from .layout import SATB
from .piece import default_track_names, read_piece
from .representation import STEPS_PER_BAR, as_bool, note_runs

__all__ = ["plot_roll", "plot_comparison", "plot_piece", "plot_midi", "plot_losses", "plot_run_metrics",
           "figure_to_png_bytes", "check_image_path", "save_figure"]

TRACK_COLORS = (
    "#d62728",  # soprano (melody): red
    "#1f77b4",  # alto: blue
    "#2ca02c",  # tenor: green
    "#ff7f0e",  # bass: orange
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
)
"""One colour per track, in track order (cycled past 8 tracks)."""

_MIN_PITCH_SPAN = 12


def _new_figure(figsize):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _as_roll3(roll) -> np.ndarray:
    roll = as_bool(roll)
    if roll.ndim == 2:
        roll = roll[:, :, None]
    if roll.ndim != 3:
        raise InvalidRollError(
            f"expected a roll of shape (time, pitch, tracks) or (time, pitch), got shape {roll.shape}"
        )
    return roll


def _track_names(track_names, n_tracks: int) -> list[str]:
    names = [str(n) for n in (track_names or ())][:n_tracks]
    return names + [f"track {k}" for k in range(len(names), n_tracks)]


def _pitch_limits(rolls, lowest_pitch: int) -> tuple[int, int]:
    """Lowest and highest MIDI pitch to show: the active range with a margin, at least an octave."""
    size = rolls[0].shape[1]
    active = np.flatnonzero(np.any([r.any(axis=(0, 2)) for r in rolls], axis=0))
    if active.size == 0:
        return lowest_pitch, lowest_pitch + size - 1
    lo, hi = lowest_pitch + int(active[0]) - 2, lowest_pitch + int(active[-1]) + 2
    if hi - lo < _MIN_PITCH_SPAN:
        extra = _MIN_PITCH_SPAN - (hi - lo)
        lo, hi = lo - extra // 2, hi + extra - extra // 2
    return max(lo, lowest_pitch), min(hi, lowest_pitch + size - 1)


def _note_rectangles(track: np.ndarray, lowest_pitch: int) -> list:
    """Rectangles (as vertex lists) of the notes of a bool roll ``(time, pitch)``."""
    pitches, starts, lengths = note_runs(track)
    rects = []
    for pitch, start, length in zip(pitches, starts, lengths):
        y, end = lowest_pitch + pitch, start + length
        rects.append([(start, y - 0.4), (end, y - 0.4), (end, y + 0.4), (start, y + 0.4)])
    return rects


def _note_name(pitch: int) -> str:
    return f"C{pitch // 12 - 1}" if pitch % 12 == 0 else str(pitch)


def plot_roll(
    roll,
    *,
    lowest_pitch: int = 0,
    track_names: Sequence[str] = SATB.track_names,
    steps_per_bar: int = STEPS_PER_BAR,
    title: Optional[str] = None,
    ax=None,
    pitch_limits: Optional[tuple] = None,
    steps_per_beat: Optional[int] = None,
):
    """Draw a piano roll, every track overlaid on one axis in its own colour.

    Parameters
    ----------
    roll : array, shape (time, pitch, tracks) or (time, pitch)
        Boolean, or in model range (on where > 0).
    lowest_pitch : int
        MIDI pitch of pitch index 0.
    track_names : sequence of str
        Legend labels in track order (missing ones become ``"track k"``).
    steps_per_bar : int
        Bar length in steps; a bar line is drawn at every bar start.
    title : str, optional
    ax : matplotlib.axes.Axes, optional
        Draw on this axis instead of a new figure.
    pitch_limits : (int, int), optional
        Lowest and highest MIDI pitch shown; by default the active range
        with a margin (at least an octave), the whole window if empty.
    steps_per_beat : int, optional
        Beat length in steps: a thin line is drawn at every beat that does not
        start a bar. ``None`` (default): bar lines only.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (``ax.figure`` when ``ax`` is given). Its axis holds one
        PolyCollection of notes per track (labelled for the legend), one
        LineCollection of bar lines and, with ``steps_per_beat``, a second one
        of beat lines.
    """
    from matplotlib.collections import PolyCollection

    roll = _as_roll3(roll)
    if int(steps_per_bar) < 1:
        raise ConfigError(f"steps_per_bar must be a positive integer, got {steps_per_bar!r}")
    steps_per_bar = int(steps_per_bar)
    if steps_per_beat is not None and not (isinstance(steps_per_beat, (int, np.integer)) and steps_per_beat >= 1):
        raise ConfigError(f"steps_per_beat must be a positive integer, got {steps_per_beat!r}")
    n_steps, n_pitches, n_tracks = roll.shape
    if ax is None:
        n_bars = max(1, -(-n_steps // steps_per_bar))
        fig = _new_figure((min(4.0 + 1.5 * n_bars, 24.0), 4.5))
        ax = fig.add_subplot()
    else:
        fig = ax.figure

    names = _track_names(track_names, n_tracks)
    for k in range(n_tracks):
        color = TRACK_COLORS[k % len(TRACK_COLORS)]
        notes = PolyCollection(
            _note_rectangles(roll[:, :, k], lowest_pitch),
            facecolors=color,
            edgecolors="black",
            linewidths=0.3,
            alpha=0.75,
            label=names[k],
            zorder=2 + k * 0.01,
        )
        ax.add_collection(notes)

    lo, hi = pitch_limits if pitch_limits is not None else _pitch_limits([roll], lowest_pitch)
    ax.set_ylim(lo - 0.5, hi + 0.5)
    c_pitches = [p for p in range(int(np.ceil(lo / 12)) * 12, hi + 1, 12)]
    ax.set_yticks(c_pitches, [_note_name(p) for p in c_pitches])
    ax.set_ylabel("pitch")

    ax.set_xlim(0, max(n_steps, 1))
    bar_starts = np.arange(0, n_steps + 1, steps_per_bar)
    ax.vlines(bar_starts, lo - 0.5, hi + 0.5, colors="0.4", linewidths=0.8, zorder=1)
    if steps_per_beat is not None:
        beats = np.arange(0, n_steps + 1, int(steps_per_beat))
        beats = beats[beats % steps_per_bar != 0]
        ax.vlines(beats, lo - 0.5, hi + 0.5, colors="0.75", linewidths=0.4, linestyles=":", zorder=1)
    ax.set_xticks(bar_starts, [str(i + 1) if start < n_steps else "" for i, start in enumerate(bar_starts)])
    ax.set_xlabel(f"bar ({steps_per_bar} steps)")
    ax.grid(axis="y", color="0.85", linewidth=0.5, zorder=0)
    ax.legend(loc="upper right", fontsize="small", framealpha=0.8)
    if title:
        ax.set_title(title)
    return fig


def plot_comparison(real, fake, *, titles: Sequence[str] = ("real", "generated"),
                    generated_track_names: Optional[Sequence[str]] = None, **kw):
    """Two panels, real roll above generated roll, on the same time and pitch scales.

    ``real`` and ``fake`` are rolls ``(time, pitch, tracks)`` (bool or model
    range); ``kw`` goes to :func:`plot_roll` (``lowest_pitch``,
    ``track_names``, ``steps_per_bar``, ``steps_per_beat``, ``pitch_limits``;
    ``title`` becomes the figure's title); ``generated_track_names``, if
    given, labels the lower panel's tracks instead of ``track_names``. Returns
    the :class:`matplotlib.figure.Figure`.
    """
    real, fake = _as_roll3(real), _as_roll3(fake)
    if real.shape[1] != fake.shape[1]:
        raise InvalidRollError(
            f"real and generated rolls have different pitch ranges ({real.shape[1]} vs {fake.shape[1]})"
        )
    if "ax" in kw:
        raise ConfigError("plot_comparison makes its own axes; do not pass ax")
    suptitle = kw.pop("title", None)
    lowest = kw.get("lowest_pitch", 0)
    kw.setdefault("pitch_limits", _pitch_limits([real, fake], lowest))
    n_steps = max(real.shape[0], fake.shape[0])
    n_bars = max(1, -(-n_steps // int(kw.get("steps_per_bar", STEPS_PER_BAR))))
    fig = _new_figure((min(4.0 + 1.5 * n_bars, 24.0), 8.0))
    axes = fig.subplots(2, 1, sharex=True)
    names = (kw.pop("track_names", SATB.track_names),)
    names += (names[0] if generated_track_names is None else generated_track_names,)
    for ax, roll, panel_title, track_names in zip(axes, (real, fake), titles, names):
        plot_roll(roll, ax=ax, title=panel_title, track_names=track_names, **kw)
    axes[0].set_xlim(0, max(n_steps, 1))
    if suptitle:
        fig.suptitle(suptitle)
    return fig


def plot_piece(piece, *, title: Optional[str] = None, ax=None):
    """Plot a :class:`~deepaccomp.piece.Piece`: its tracks named by its layout (drums as their hits),
    bar lines every ``piece.grid.steps_per_bar`` steps from step 0 (a downbeat, as
    :func:`~deepaccomp.piece.read_piece` gives it). Returns the :class:`matplotlib.figure.Figure`."""
    return plot_roll(piece.roll, lowest_pitch=piece.lowest_pitch, track_names=[t.name for t in piece.tracks],
                     steps_per_bar=piece.grid.steps_per_bar, title=title, ax=ax)


def plot_midi(midi, *, title: Optional[str] = None, ax=None, steps_per_beat: int = 4, layout=None):
    """Plot a MIDI file (path, bytes, file or PrettyMIDI).

    Without ``layout``: its pitched instruments, one track each, labelled with
    the instrument names. With ``layout`` (a preset's name, a layout file, a
    dict or a :class:`~deepaccomp.layout.Layout`): the file read as a piece of
    that layout (:func:`~deepaccomp.piece.read_piece`, every track; drawn by
    :func:`plot_piece`). Bars follow the time signature at the start. Returns
    the :class:`matplotlib.figure.Figure`.
    """
    if layout is not None:
        return plot_piece(read_piece(midi, layout, tracks="all", align=False, steps_per_beat=steps_per_beat),
                          title=title, ax=ax)
    pm = read_midi(midi)
    tracks = pitched_instruments(pm)
    roll, info = multitrack_midi_to_roll(pm, tracks=tracks, steps_per_beat=steps_per_beat)
    num, den = info.time_signature
    bar = num * 4 * steps_per_beat / den
    steps_per_bar = int(bar) if float(bar).is_integer() and bar >= 1 else 4 * steps_per_beat
    default = default_track_names(len(tracks))
    names = [pm.instruments[i].name or default[k] for k, i in enumerate(tracks)]
    return plot_roll(roll, track_names=names, steps_per_bar=steps_per_bar, title=title, ax=ax)


LOSS_TAGS = ("losses/critic", "losses/generator", "losses/gradient_penalty", "losses/wasserstein",
             "losses/reconstruction", "losses/diversity")
RUN_METRICS = ("empty_bar_rate", "pitches_used", "in_scale_ratio", "polyphony",
               "consonance_with_melody", "harmonic_agreement")


def plot_losses(scalars: dict):
    """Loss curves of a run: ``scalars`` from :func:`deepaccomp.monitoring.read_scalars`.

    One panel per ``losses/...`` tag (critic, generator, gradient penalty,
    Wasserstein estimate, reconstruction, diversity), iteration on x.
    """
    fig = _new_figure((12, 6))
    axes = fig.subplots(2, 3).ravel()
    for ax, tag in zip(axes, LOSS_TAGS):
        pts = scalars.get(tag, [])
        if pts:
            ax.plot([s for s, _ in pts], [v for _, v in pts], lw=0.8)
        ax.set_title(tag)
        ax.set_xlabel("iteration")
    return fig


def plot_run_metrics(scalars: dict, reference: dict, *, voices=("alto", "tenor", "bass"),
                     metrics=RUN_METRICS):
    """Each generated metric per voice over iterations, with the real data's value dashed.

    ``scalars`` and ``reference`` come from ``read_scalars(logdir, "train")`` and
    ``read_scalars(logdir, "reference")``; rows are voices, columns metrics.
    """
    fig = _new_figure((2.5 * len(metrics), 2.3 * len(voices)))
    axes = np.atleast_2d(fig.subplots(len(voices), len(metrics)))
    for i, voice in enumerate(voices):
        for j, name in enumerate(metrics):
            ax, tag = axes[i, j], f"metrics/{voice}/{name}"
            pts = scalars.get(tag, [])
            if pts:
                ax.plot([s for s, _ in pts], [v for _, v in pts], "o-", ms=3, label="generated")
            if reference.get(tag):
                ax.axhline(reference[tag][0][1], color="k", ls="--", lw=1, label="real")
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0:
                ax.set_ylabel(voice)
            if i == 0 and j == 0:
                ax.legend(fontsize=7)
    return fig


def figure_to_png_bytes(fig, *, dpi: int = 100) -> bytes:
    """Render ``fig`` to PNG and return the bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def check_image_path(path) -> str:
    """Check, before any work, that a picture can be written at ``path``; return its format.

    The format follows the suffix (PNG if none) and must be one matplotlib
    writes; the path must be creatable (:func:`deepaccomp.io_utils.check_output_path`).

    Raises
    ------
    ConfigError
        The suffix names an image format matplotlib cannot write.
    OutputFileError
        The path cannot be written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = check_output_path(path)
    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    supported = FigureCanvasAgg.get_supported_filetypes()
    if fmt not in supported:
        raise ConfigError(f"{path}: cannot write .{fmt} images; use one of {sorted(supported)}")
    return fmt


def save_figure(fig, path, *, dpi: int = 100) -> None:
    """Write ``fig`` to ``path`` atomically; the format follows the suffix (PNG if none).

    The image is rendered in memory, written to a temporary file in the same
    folder and renamed onto ``path``, so no partial file is ever left.

    Raises
    ------
    ConfigError
        The suffix names an image format matplotlib cannot write.
    OutputFileError
        The folder does not exist or is not writable, or the disk is full.
    """
    path = os.fspath(path)
    fmt = check_image_path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())
