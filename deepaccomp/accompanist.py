"""``Accompanist``: add an accompaniment to a melody with a trained generator.

Data flow: MIDI -> melody roll (the file's own grid, :mod:`deepaccomp.midi`)
-> :class:`deepaccomp.generation.ForwardPass` (model space, generator,
decoding, back to the melody's key) -> MIDI on the input's own tempo map,
with the input melody kept unchanged as the first instrument.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np
import pretty_midi

from . import artifact, inference
from .config import check_seed
from .errors import ConfigError, DeepAccompError, InvalidMidiError, brief
from .generation import ForwardPass, _roll_from_model_space, _roll_to_model_space
from .midi import read_midi
from .piece import Piece, align_bars, read_piece, to_pretty_midi
from .representation import STEPS_PER_BAR

__all__ = ["Accompanist", "default_model_path", "SUPPORTED_METERS", "DEFAULT_VELOCITY"]

DEFAULT_VELOCITY = 70
"""Velocity of the accompaniment notes :meth:`Accompanist.generate` writes unless told."""

SUPPORTED_METERS = {(4, 4), (2, 4), (3, 4), (2, 2), (6, 4), (3, 2)}
"""Meters whose beat is a quarter or half note; the model's grid is 16th notes of a quarter."""


def default_model_path() -> str:
    """Path of the generator shipped inside the package."""
    return artifact.shipped_model_path()


class Accompanist:
    """Adds the accompaniment tracks of its model's layout to a melody (alto, tenor and bass
    for the shipped model; ``accompanist.layout`` names them).

    ``Accompanist()`` loads the model shipped in the package (offline);
    ``Accompanist.load(path)`` loads any exported ``generator.npz``;
    ``Accompanist.from_generator(generator, config)`` wraps one in memory.
    """

    def __init__(self, model_path: str | os.PathLike | None = None):
        self.model_path = os.fspath(model_path) if model_path is not None else default_model_path()
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
                 noise_scale: float | None = None, pickup: float | None = None, decoding=None):
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
            (:func:`deepaccomp.midi.bar_alignment`).
        decoding : dict or GenerationConfig, optional
            Generation settings for this call (:class:`deepaccomp.config.GenerationConfig`:
            ``decode``, ``onset_cost``, ``leap_cost``, ``noise_scale``, ...). A dict
            overrides the settings it names, the others stay the model's
            (``{"onset_cost": 1.0}``: longer notes); a ``GenerationConfig`` replaces
            them all. Checked before any MIDI is read: an unknown setting or a
            value out of its range is a :class:`~deepaccomp.errors.ConfigError`
            naming it.

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
                                     noise_scale=noise_scale, pickup=pickup, decoding=decoding)
        out = [to_pretty_midi(p, programs=programs, velocity=velocity) for p in pieces]
        return out if many else out[0]

    def generate_piece(self, melody, *, seed: int | None = None, melody_track: int | None = None,
                       noise_scale: float | None = None, pickup: float | None = None, decoding=None):
        """:meth:`generate` without the writing: the accompanied :class:`~deepaccomp.piece.Piece`.

        ``melody`` is what :meth:`generate` takes, or a melody piece already read
        (:meth:`read`; its bars are found unless they are known). The result
        holds the melody (written back as the file's own instrument) and every
        accompaniment track of the layout, on the input's grid;
        :func:`deepaccomp.piece.to_pretty_midi` writes it as :meth:`generate` does.
        Returns a list for a list of melodies.
        """
        many = isinstance(melody, (list, tuple))
        settings = self.forward.settings(decoding, noise_scale=noise_scale)  # checked before any MIDI is read
        check_seed(seed)
        pieces = [m if isinstance(m, Piece) else self.read(m, melody_track=melody_track, align=False)
                  for m in (list(melody) if many else [melody])]
        pieces = [p if p.grid.bars is not None else align_bars(p, pickup) for p in pieces]
        out = self.forward.generate(pieces, seed=seed, decoding=settings)
        return out if many else out[0]

    def accompany(self, melodies, *, seed: int | None = None, noise_scale: float | None = None,
                  steps_per_bar: int = STEPS_PER_BAR, decoding=None) -> list:
        """Research entry point on rolls: melodies ``[(time, 128, 1)]`` bool, any key and octave, step 0 a
        downbeat of bars of ``steps_per_bar`` steps -> accompaniments ``[(time, 128, N)]`` bool in the
        melody's own key (one batched pass), silent before each melody's first note as in :meth:`generate`.
        ``noise_scale`` and ``decoding`` override the model's generation settings as in :meth:`generate`."""
        return self.forward.accompany_full(list(melodies), seed=seed, noise_scale=noise_scale,
                                           steps_per_bar=steps_per_bar, decoding=decoding)

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
    def read(self, melody, *, melody_track: int | None = None, pickup: float | None = None, align: bool = True):
        """A melody as :meth:`generate` reads it: a :class:`~deepaccomp.piece.Piece` of the model's layout
        holding the melody alone (kept as the file's instrument for writing), its bars found
        unless ``align`` is False; meters other than :data:`SUPPORTED_METERS` refused."""
        return read_piece(_as_pretty_midi(melody), self.layout, tracks="melody", melody_track=melody_track,
                          pickup=pickup, align=align, meters=SUPPORTED_METERS)


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
