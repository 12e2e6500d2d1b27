"""``Accompanist``: add an accompaniment to a melody with a trained generator.

Data flow: MIDI -> melody roll (the file's own grid, :mod:`deepaccomp.midi`)
-> :class:`deepaccomp.generation.ForwardPass` (model space, generator,
decoding, back to the melody's key) -> MIDI on the input's own tempo map,
with the input melody kept unchanged as the first instrument.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import pretty_midi

from . import artifact, inference
from .config import check_seed
from .errors import ConfigError, DeepAccompError, InvalidMidiError, brief
from .generation import ForwardPass, _roll_from_model_space, _roll_to_model_space, regenerate_cells
from .midi import notes_to_onsets, notes_to_roll, read_midi
from .piece import Piece, align_bars, read_piece, to_pretty_midi
from .representation import STEPS_PER_BAR

__all__ = ["Accompanist", "Selection", "default_model_path", "SUPPORTED_METERS", "DEFAULT_VELOCITY"]

DEFAULT_VELOCITY = 70
"""Velocity of the accompaniment notes :meth:`Accompanist.generate` writes unless told."""

SUPPORTED_METERS = {(4, 4), (2, 4), (3, 4), (2, 2), (6, 4), (3, 2)}
"""Meters whose beat is a quarter or half note; the model's grid is 16th notes of a quarter."""


@dataclass(frozen=True)
class Selection:
    """What :meth:`Accompanist.generate` draws again in a previous result (``regenerate=``).

    Attributes
    ----------
    bars : tuple of (int, int)
        First and last bar, inclusive, counted as musicians count: bar 1 is
        the first whole bar, a pickup before it is bar 0.
    tracks : tuple of str or None
        Accompaniment tracks by their layout names (``("tenor", "bass")``);
        ``None``: every accompaniment track.
    """

    bars: tuple
    tracks: tuple | None = None

    @classmethod
    def of(cls, value) -> "Selection":
        """A selection from a :class:`Selection`, a dict ``{"bars": (5, 8), "tracks": ["tenor"]}`` (bars as
        a pair, one bar number or a ``range``), or a string ``"5-8"``, ``"5"`` or ``"5-8:tenor,bass"``.

        Raises
        ------
        ConfigError
            Anything else, naming ``regenerate``.
        """
        if isinstance(value, cls):
            return cls(_bar_pair(value.bars), _track_names(value.tracks))
        if isinstance(value, str):
            bars, _, tracks = value.partition(":")
            return cls(_bar_pair(bars), _track_names(tracks.split(",") if tracks.strip() else None))
        if isinstance(value, dict):
            unknown = set(value) - {"bars", "tracks"}
            if unknown or "bars" not in value:
                raise ConfigError(f"regenerate takes the keys 'bars' (needed) and 'tracks', got "
                                  f"{brief(repr(sorted(map(str, value))))}")
            return cls(_bar_pair(value["bars"]), _track_names(value.get("tracks")))
        raise ConfigError(f"regenerate must be a Selection, a dict {{'bars': (first, last), 'tracks': [...]}} or "
                          f"a string like '5-8:tenor,bass', got {brief(repr(value))}")


def _bar_pair(bars) -> tuple:
    """``(first, last)`` bar numbers from a pair, one number, a ``range`` or ``"5-8"``/``"5"``."""
    if isinstance(bars, range) and bars.step == 1 and len(bars):
        bars = (bars.start, bars.stop - 1)
    elif isinstance(bars, str):
        match = re.fullmatch(r"\s*(\d{1,6})\s*(?:-\s*(\d{1,6})\s*)?", bars)
        bars = (int(match[1]), int(match[2] or match[1])) if match else None
    elif isinstance(bars, (int, np.integer)) and not isinstance(bars, bool):
        bars = (bars, bars)
    ok = (isinstance(bars, (tuple, list)) and len(bars) == 2
          and all(isinstance(b, (int, np.integer)) and not isinstance(b, bool) for b in bars))
    if not ok or not 0 <= bars[0] <= bars[1]:
        raise ConfigError(f"regenerate bars must be first and last bar numbers, first <= last (e.g. (5, 8) or "
                          f"'5-8'), got {brief(repr(bars))}")
    return int(bars[0]), int(bars[1])


def _track_names(tracks):
    """The selection's track names as a tuple of str, ``None`` for every track."""
    if tracks is None:
        return None
    names = [tracks] if isinstance(tracks, str) else tracks
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"regenerate tracks must be a non-empty list of track names, got {brief(repr(tracks))}")
    return tuple(n.strip() for n in names)


def default_model_path() -> str:
    """Path of the generator shipped inside the package."""
    return artifact.shipped_model_path()


class Accompanist:
    """Adds the accompaniment tracks of its model's layout to a melody (alto, tenor and bass
    for the shipped model; ``accompanist.layout`` names them).

    ``Accompanist()`` loads the model shipped in the package (offline), the chorale model;
    ``Accompanist("pop")`` a shipped model by its name (:data:`deepaccomp.artifact.SHIPPED_MODELS`);
    ``Accompanist(path)`` or ``Accompanist.load(path)`` any exported ``generator.npz``;
    ``Accompanist.from_generator(generator, config)`` wraps one in memory.
    """

    def __init__(self, model: str | os.PathLike | None = None):
        self.model_path = artifact.model_path(model)
        self._set_model(*inference.load(self.model_path))  # numpy: no TensorFlow

    def _set_model(self, generator, config):
        self.generator, self.config = generator, config
        self.forward = ForwardPass(generator, config)
        self.layout = config.track_layout

    @classmethod
    def load(cls, path) -> "Accompanist":
        """Load an exported generator (a ``generator.npz`` or a folder holding one)."""
        return cls(path)

    @classmethod
    def from_generator(cls, generator, config) -> "Accompanist":
        """Wrap an in-memory generator (e.g. during training) and its :class:`~deepaccomp.config.Config`."""
        self = cls.__new__(cls)
        self.model_path = None
        self._set_model(generator, config)
        return self

    # ------------------------------------------------------------------ public API
    def generate(self, melody, *, seed: int | None = None, programs=None,
                 melody_track: int | None = None, velocity: int = DEFAULT_VELOCITY,
                 noise_scale: float | None = None, pickup: float | None = None, decoding=None,
                 keep=None, regenerate=None):
        """Accompany one melody, or a list of melodies in one batched pass.

        Parameters
        ----------
        melody : str, os.PathLike, bytes, pretty_midi.PrettyMIDI, pypianoroll.Multitrack, or a list of them
            The melody. With several instruments the melody is chosen by
            :func:`deepaccomp.midi.choose_melody_track` unless ``melody_track`` is given.
        seed : int, optional
            Same seed, same accompaniment; ``None`` draws a fresh one.
        programs : None, str or sequence of int
            ``None``: the layout's default programs (choir for satb). A preset
            (choir, piano, strings, organ, winds, brass) for a voice layout,
            or one General MIDI program per accompaniment track
            (:meth:`deepaccomp.layout.Layout.resolve_programs`).
        melody_track : int, optional
            Index of the melody instrument in the file.
        velocity : int
            Velocity of the accompaniment notes, 1..127.
        noise_scale : float, optional
            Spread of the generator's noise (default: the model's
            ``generation.noise_scale``); larger gives more varied accompaniments.
            The same as ``decoding={"noise_scale": ...}``.
        pickup : float, optional
            Quarter-note beats from the melody's first note to its first
            downbeat (0: it starts on a downbeat). Default: where the file
            marks its bars (a leading rest, a pickup bar's own time
            signature), else estimated from the rhythm
            (:func:`deepaccomp.midi.bar_alignment`) where the model's
            ``generation.estimate_pickup`` is true (the chorale model), else
            taken from the file as it is (the pop model: bar 1 at time 0).
        decoding : dict or GenerationConfig, optional
            Generation settings for this call (:class:`deepaccomp.config.GenerationConfig`:
            ``decode``, ``onset_cost``, ``leap_cost``, ``noise_scale``, ...). A dict
            overrides the settings it names, the others stay the model's
            (``{"onset_cost": 1.0}``: longer notes); a ``GenerationConfig`` replaces
            them all. Checked before any MIDI is read: an unknown setting or a
            value out of its range is a :class:`~deepaccomp.errors.ConfigError`
            naming it.
        keep : str, os.PathLike, bytes, pretty_midi.PrettyMIDI or Piece, optional
            A previous result for this melody (a file :meth:`generate` wrote,
            possibly edited, or a :meth:`generate_piece` result) to keep but
            for ``regenerate``. Needs ``regenerate``; one melody only.
        regenerate : Selection, dict or str, optional
            What to draw again in ``keep`` (:meth:`Selection.of`): bars and
            tracks, e.g. ``{"bars": (5, 8), "tracks": ["tenor", "bass"]}`` or
            ``"5-8:tenor,bass"``. A note belongs to the bar it starts in: the
            notes of those tracks that start in those bars are drawn again, every
            other note is kept as it is (a kept note sounding into the bars
            keeps sounding). The new notes are decoded through the kept ones
            under the same costs (docs/representation.md, "Regenerate a part").

        The accompaniment starts with the melody's first note, as a
        musician's would; before it (a file's leading rest) it is silent.

        Returns
        -------
        pretty_midi.PrettyMIDI, or a list of them for a list of melodies
            The input's melody instrument unchanged, then one instrument per
            accompaniment track named after it (alto, tenor and bass for
            satb; drums on channel 10), on the input's tempo map and time
            signatures.
        """
        many = isinstance(melody, (list, tuple))
        _check_velocity(velocity)
        self.layout.resolve_programs(programs)  # checked before any file is read
        pieces = self.generate_piece(list(melody) if many else [melody], seed=seed, melody_track=melody_track,
                                     noise_scale=noise_scale, pickup=pickup, decoding=decoding,
                                     keep=None if keep is None else [keep], regenerate=regenerate)
        out = [to_pretty_midi(p, programs=programs, velocity=velocity) for p in pieces]
        return out if many else out[0]

    def generate_piece(self, melody, *, seed: int | None = None, melody_track: int | None = None,
                       noise_scale: float | None = None, pickup: float | None = None, decoding=None,
                       keep=None, regenerate=None):
        """:meth:`generate` without the writing: the accompanied :class:`~deepaccomp.piece.Piece`.

        ``melody`` is what :meth:`generate` takes, or a melody piece already read
        (:meth:`read`; its bars are found unless they are known). The result
        holds the melody (written back as the file's own instrument) and every
        accompaniment track of the layout, on the input's grid;
        :func:`deepaccomp.piece.to_pretty_midi` writes it as :meth:`generate` does.
        Returns a list for a list of melodies. ``keep`` and ``regenerate``: as
        :meth:`generate` takes them (``keep`` a list of one for a list of one melody).
        """
        many = isinstance(melody, (list, tuple))
        settings = self.forward.settings(decoding, noise_scale=noise_scale)  # checked before any MIDI is read
        check_seed(seed)
        melodies = list(melody) if many else [melody]
        keeps = _one_keep(keep, regenerate, melodies)
        selection = None if regenerate is None else Selection.of(regenerate)
        tracks = None if selection is None else self._selected_tracks(selection)
        pieces = [m if isinstance(m, Piece) else self.read(m, melody_track=melody_track, align=False)
                  for m in melodies]
        pieces = [p if p.grid.bars is not None else align_bars(p, pickup, settings.estimate_pickup) for p in pieces]
        if keeps is None:
            out = self.forward.generate(pieces, seed=seed, decoding=settings)
        else:
            kept = self._kept_piece(keeps[0], pieces[0])
            free = regenerate_cells(kept, *_bar_steps(pieces[0], selection.bars), tracks)
            out = self.forward.generate(pieces, seed=seed, decoding=settings, keep=[kept], free=[free])
        return out if many else out[0]

    def accompany(self, melodies, *, seed: int | None = None, noise_scale: float | None = None,
                  steps_per_bar: int = STEPS_PER_BAR, decoding=None, with_onsets: bool = False) -> list:
        """Research entry point on rolls: melodies ``[(time, 128, 1)]`` bool, any key and octave, step 0 a
        downbeat of bars of ``steps_per_bar`` steps -> accompaniments ``[(time, 128, N)]`` bool in the
        melody's own key (one batched pass), silent before each melody's first note as in :meth:`generate`.
        ``noise_scale`` and ``decoding`` override the model's generation settings as in :meth:`generate`.
        ``with_onsets``: ``[(roll, onsets)]``, the onsets ``(time, 128, N)`` bool telling a re-struck note
        from a held one (a model decoding with ``generation.restrike``)."""
        return self.forward.accompany_full(list(melodies), seed=seed, noise_scale=noise_scale,
                                           steps_per_bar=steps_per_bar, decoding=decoding, with_onsets=with_onsets)

    # ------------------------------------------------------------------ deprecated (0.1 names)
    def generate_batch(self, melodies, **kw) -> list:
        """Deprecated: use ``generate(list_of_melodies)``."""
        _deprecated("generate_batch(melodies)", "generate(list_of_melodies)")
        return self.generate(list(melodies), **kw)

    def accompany_full_rolls(self, melodies, **kw) -> list:
        """Deprecated: use :meth:`accompany`."""
        _deprecated("accompany_full_rolls", "accompany")
        return self.accompany(melodies, **kw)

    def accompany_rolls(self, melodies, **kw) -> list:
        """Deprecated: use ``deepaccomp.generation.ForwardPass(generator, config).accompany``."""
        _deprecated("accompany_rolls", "deepaccomp.generation.ForwardPass.accompany")
        return self.forward.accompany(melodies, **kw)

    def to_model_space(self, melody_roll):
        """Deprecated: use :func:`deepaccomp.generation.to_model_space`."""
        _deprecated("to_model_space", "deepaccomp.generation.to_model_space")
        return _roll_to_model_space(melody_roll, self.config)

    def from_model_space(self, accomp, total_shift: int):
        """Deprecated: use :func:`deepaccomp.generation.from_model_space`."""
        _deprecated("from_model_space", "deepaccomp.generation.from_model_space")
        return _roll_from_model_space(accomp, total_shift, self.config)

    # ------------------------------------------------------------------ internals
    def _selected_tracks(self, selection: Selection) -> list:
        """Indices (0: the first accompaniment track) of the selection's tracks."""
        names = [t.name for t in self.layout.accompaniment]
        if selection.tracks is None:
            return list(range(len(names)))
        unknown = [n for n in selection.tracks if n not in names]
        if unknown:
            raise ConfigError(f"regenerate: no track {brief(unknown[0])!r} in layout {self.layout.name!r}; "
                              f"its accompaniment tracks are {', '.join(names)}")
        return sorted({names.index(n) for n in selection.tracks})

    def _kept_piece(self, keep, melody: Piece) -> Piece:
        """``keep`` (a piece or a file) as a piece of the model's layout on ``melody``'s grid, checked to
        hold the same melody and every accompaniment track."""
        if isinstance(keep, Piece):
            if keep.layout.name != self.layout.name or keep.roll.shape[1:] != (128, len(self.layout.tracks)) \
                    or keep.lowest_pitch or keep.key_shift:
                raise ConfigError(f"keep: a piece of layout {keep.layout.name!r} with {keep.roll.shape[2]} tracks; "
                                  f"the model writes layout {self.layout.name!r} with "
                                  f"{len(self.layout.tracks)} tracks on 128 pitches")
            keep = keep.without_lead_in()
        else:
            keep = self._read_kept(keep)
        if keep.roll.shape[0] != melody.n_steps or not np.array_equal(keep.roll[..., 0], melody.roll[..., 0]):
            raise ConfigError("keep holds another melody (or the same one at other times) than the melody "
                              "given: regenerate a result of this melody")
        return keep

    def _read_kept(self, source) -> Piece:
        """A file :meth:`generate` wrote: each accompaniment track the last instrument named after it,
        the melody the first other pitched instrument, the tracks on the melody's grid."""
        pm = read_midi(source)
        names = [inst.name.strip().lower() for inst in pm.instruments]
        taken = []
        for track in self.layout.accompaniment:
            found = [i for i, n in enumerate(names) if n == track.name.lower()]
            if not found:
                raise ConfigError(f"keep has no instrument named {track.name!r} (the accompaniment tracks "
                                  f"are found by their names, as generate writes them)")
            taken.append(found[-1])
        rest = [i for i, inst in enumerate(pm.instruments) if i not in taken and not inst.is_drum and inst.notes]
        if not rest:
            raise ConfigError("keep has no melody instrument beside its accompaniment tracks")
        melody = read_piece(pm, self.layout, tracks="melody", melody_track=rest[0], align=False)
        grid, n = melody.grid, melody.n_steps
        rolls, onsets = [melody.roll], [melody.onsets]
        for track, i in zip(self.layout.accompaniment, taken):
            notes = [note for note in pm.instruments[i].notes if note.end > note.start]
            if track.drums:  # a hit lasts one step, however the file holds it
                notes = [pretty_midi.Note(x.velocity, x.pitch, x.start, x.start + 1e-6) for x in notes]
            rolls.append(notes_to_roll(notes, pm, grid.start_tick, grid.ticks_per_step, n)[:n, :, None])
            onsets.append(notes_to_onsets(notes, pm, grid.start_tick, grid.ticks_per_step, n)[:, :, None])
        return Piece(np.concatenate(rolls, axis=-1), np.concatenate(onsets, axis=-1), self.layout, grid)

    def read(self, melody, *, melody_track: int | None = None, pickup: float | None = None, align: bool = True):
        """A melody as :meth:`generate` reads it: a :class:`~deepaccomp.piece.Piece` of the model's layout
        holding the melody alone (kept as the file's instrument for writing), its bars found
        unless ``align`` is False; meters other than :data:`SUPPORTED_METERS` refused."""
        return read_piece(_as_pretty_midi(melody), self.layout, tracks="melody", melody_track=melody_track,
                          pickup=pickup, align=align, meters=SUPPORTED_METERS,
                          estimate_pickup=self.config.generation.estimate_pickup)


def _one_keep(keep, regenerate, melodies):
    """``keep`` as a list of one, checked against ``regenerate`` and the melodies; ``None`` when not given."""
    if keep is None and regenerate is None:
        return None
    if keep is None or regenerate is None:
        raise ConfigError("keep and regenerate go together: keep=a previous result, regenerate=the bars and "
                          "tracks to draw again")
    keeps = list(keep) if isinstance(keep, (list, tuple)) else [keep]
    if len(melodies) != 1 or len(keeps) != 1:
        raise ConfigError(f"keep regenerates one melody at a time, got {len(melodies)} melodies and "
                          f"{len(keeps)} results to keep")
    return keeps


def _bar_steps(piece: Piece, bars: tuple) -> tuple:
    """Steps ``(start, stop)`` of ``piece`` (its own grid, no lead-in) of bars ``first..last`` as musicians
    count them: the bar of the melody's first note is bar 1, or bar 0 when that note is a pickup (it is
    not on a downbeat).

    Raises
    ------
    ConfigError
        A bar outside the piece.
    """
    align = piece.grid.bars
    offset, bar = align.offset, align.steps_per_bar
    first_note = int(np.argmax(piece.roll[..., 0].any(axis=1)))
    first_index = (first_note + offset) // bar  # bar of the first note, counted from the lead-in's bar 0
    first_bar = 0 if align.pickup else 1
    last_bar = (piece.n_steps + offset - 1) // bar - first_index + first_bar
    if bars[0] < first_bar or bars[1] > last_bar:
        raise ConfigError(f"regenerate bars {bars[0]}-{bars[1]} are outside the piece: its bars are "
                          f"{first_bar}-{last_bar}")
    start = (bars[0] - first_bar + first_index) * bar - offset
    stop = (bars[1] - first_bar + first_index + 1) * bar - offset
    return max(0, start), min(piece.n_steps, stop)


def _deprecated(old: str, new: str) -> None:
    warnings.warn(f"Accompanist.{old} is deprecated and will be removed in 0.3; use {new}",
                  DeprecationWarning, stacklevel=3)


def _check_velocity(velocity) -> None:
    if isinstance(velocity, bool) or not isinstance(velocity, (int, np.integer)) or not 1 <= velocity <= 127:
        raise ConfigError(f"velocity must be an integer 1..127, got {brief(repr(velocity))}")


def _as_pretty_midi(melody) -> pretty_midi.PrettyMIDI:
    # a Multitrack can only come from a session that imported pypianoroll; importing it here for
    # the check alone (matplotlib, scipy) would cost the command line most of a second
    pypianoroll = sys.modules.get("pypianoroll")
    if pypianoroll is not None and isinstance(melody, pypianoroll.Multitrack):
        from .compat import multitrack_to_pretty_midi

        try:
            return multitrack_to_pretty_midi(melody)
        except DeepAccompError:
            raise
        except Exception as exc:
            raise InvalidMidiError(f"cannot convert the pypianoroll Multitrack ({exc})") from exc
    return read_midi(melody)
