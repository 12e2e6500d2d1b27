"""Track layouts: which tracks a model plays and how each is taken from a MIDI file.

A :class:`Layout` is the melody track plus N accompaniment tracks. Every roll
of a layout is ``(time, pitch, 1 + N)``: the melody first, then the
accompaniment tracks in layout order. Each :class:`Track` says how it is
selected from a user's MIDI file (:func:`select_instruments`), which General
MIDI program it is written with, its usual pitch window, whether it is the
drum kit (channel 10) and whether it may sound several notes at once.

Selection rules (docs/layouts.md):

* **drums**: the file's drum instruments (``is_drum``, MIDI channel 10), all
  merged into one track;
* **name pattern**: instruments whose name matches the track's regular
  expression (case-insensitive);
* **General MIDI families**: instruments whose program lies in one of the
  track's families (``program // 8``: piano, chromatic percussion, organ,
  guitar, bass, strings, ensemble, brass, reed, pipe, synth lead, synth pad,
  ...).

In a *band* layout each instrument goes to the first track whose name
pattern matches it, else to the first track whose family matches; several
instruments of one track are merged into it (as the Lakh Pianoroll Dataset
merges instruments into its five tracks). In a *voice* layout (one sung
line per track) the tracks are taken by name when every track is named in
the file, else the busiest pitched instruments are ranked by mean pitch,
highest first: the melody, then the accompaniment voices in layout order.

Presets: :data:`LAYOUTS` (``satb``, the default; ``lpd5``; ``ssatb``).
Pure Python and pretty_midi, no TensorFlow.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, NoMelodyError
from .metrics import SATB_RANGES
from .midi import PROGRAM_PRESETS, pitched_instruments, resolve_programs

__all__ = ["GM_FAMILIES", "Track", "Layout", "LAYOUTS", "DEFAULT_LAYOUT", "get_layout", "family_of",
           "select_instruments"]

GM_FAMILIES = ("piano", "chromatic_percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
               "reed", "pipe", "synth_lead", "synth_pad", "synth_effects", "ethnic", "percussive",
               "sound_effects")
"""The 16 General MIDI program families in program order: family ``k`` holds programs ``8k .. 8k + 7``."""


def family_of(program: int) -> str:
    """General MIDI family name of a program 0..127 (e.g. 33 -> ``"bass"``)."""
    return GM_FAMILIES[int(program) // 8]


@dataclass(frozen=True)
class Track:
    """One track of a layout.

    Attributes
    ----------
    name : str
        Instrument name written to the output MIDI and used in metrics tags.
    pattern : str
        Regular expression matched (case-insensitive) against instrument names; ``""`` = none.
    families : tuple of str
        General MIDI families (:data:`GM_FAMILIES`) whose instruments this track takes.
    program : int
        Default General MIDI program of the output (ignored for drums).
    lowest, highest : int
        Usual MIDI pitch window of the track, inclusive (``out_of_range`` measures against it).
    drums : bool
        The drum kit: taken from the file's drum instruments, decoded as one-step
        hits and written on channel 10.
    polyphonic : bool
        May sound several pitches at once (decoded by threshold); else one
        note per step (a voice or a bass line).
    """

    name: str
    pattern: str = ""
    families: tuple = ()
    program: int = 0
    lowest: int = 0
    highest: int = 127
    drums: bool = False
    polyphonic: bool = False

    def __post_init__(self):
        unknown = [f for f in self.families if f not in GM_FAMILIES]
        if unknown:
            raise ConfigError(f"track {self.name!r}: unknown General MIDI families {unknown}; use {GM_FAMILIES}")
        if not 0 <= self.program <= 127 or not 0 <= self.lowest <= self.highest <= 127:
            raise ConfigError(f"track {self.name!r}: program and pitch window must lie in 0..127")

    def matches_name(self, name: str) -> bool:
        """Whether an instrument called ``name`` is this track's by name."""
        return bool(self.pattern) and re.search(self.pattern, name or "", re.I) is not None

    def matches_program(self, program: int) -> bool:
        """Whether an instrument of General MIDI ``program`` is this track's by family."""
        return family_of(program) in self.families

    @property
    def rule(self) -> str:
        """The selection rule in words (for skip reasons and docs)."""
        if self.drums:
            return "drum instruments (channel 10)"
        parts = ([f"name matching /{self.pattern}/"] if self.pattern else []) + (
            [f"General MIDI families {', '.join(self.families)}"] if self.families else [])
        return " or ".join(parts) or "by pitch order"


@dataclass(frozen=True)
class Layout:
    """The melody track and the accompaniment tracks of a model.

    ``voices=True``: every track is one sung line, selected by name or else by
    pitch order (see the module docstring); ``False``: a band, selected by
    drums / name / General MIDI family, instruments of one track merged.
    """

    name: str
    melody: Track
    accompaniment: tuple
    voices: bool = False

    def __post_init__(self):
        names = self.track_names
        if len(set(names)) != len(names) or not self.accompaniment:
            raise ConfigError(f"layout {self.name!r}: needs at least one accompaniment track and distinct "
                              f"track names, got {names}")
        if self.melody.drums:
            raise ConfigError(f"layout {self.name!r}: the melody cannot be a drum track")

    @property
    def tracks(self) -> tuple:
        """Every track in roll order: the melody, then the accompaniment."""
        return (self.melody,) + tuple(self.accompaniment)

    @property
    def track_names(self) -> tuple:
        """Names of :attr:`tracks`, in roll order."""
        return tuple(t.name for t in self.tracks)

    @property
    def accompaniment_names(self) -> tuple:
        """Names of the accompaniment tracks (the generator's output channels)."""
        return self.track_names[1:]

    @property
    def n_accompaniment(self) -> int:
        """Number of accompaniment tracks."""
        return len(self.accompaniment)

    @property
    def programs(self) -> tuple:
        """Default General MIDI program of each accompaniment track."""
        return tuple(t.program for t in self.accompaniment)

    @property
    def ranges(self) -> tuple:
        """``(lowest, highest)`` MIDI pitch of every track, melody first."""
        return tuple((t.lowest, t.highest) for t in self.tracks)

    @property
    def drum_mask(self) -> np.ndarray:
        """``(1 + N,)`` bool: which tracks of a roll are drums."""
        return np.array([t.drums for t in self.tracks])

    @property
    def metric_options(self) -> dict:
        """Keyword arguments of :func:`deepaccomp.metrics.evaluate` for this layout's rolls: the
        track windows (``ranges``, satb's are :data:`deepaccomp.metrics.SATB_RANGES`) and, if
        it has drums, the drum tracks (``drum_tracks``, adds ``drum_pattern_rate``)."""
        options = {"ranges": self.ranges}
        if self.has_drums:
            options["drum_tracks"] = [int(k) for k in np.nonzero(self.drum_mask)[0]]
        return options

    @property
    def has_drums(self) -> bool:
        """Whether any accompaniment track is the drum kit."""
        return bool(self.drum_mask.any())

    def resolve_programs(self, programs=None) -> list:
        """One General MIDI program per accompaniment track.

        Parameters
        ----------
        programs : None, str or sequence of int
            ``None``: the layout's defaults. A preset name of
            :data:`deepaccomp.midi.PROGRAM_PRESETS` (SATB instrument sets):
            for a voice layout the top accompaniment voice takes the preset's
            alto program, the lowest its bass program, the others its tenor
            program; band layouts take no preset. A sequence: one program
            per accompaniment track (a drum track's is ignored).

        Raises
        ------
        ConfigError
            An unknown preset, a preset for a band layout, a wrong count or a program outside 0..127.
        """
        n = self.n_accompaniment
        if programs is None:
            return list(self.programs)
        if isinstance(programs, str) and programs in PROGRAM_PRESETS:
            if not self.voices:
                raise ConfigError(f"instrument preset {programs!r} names SATB instruments; layout {self.name!r} "
                                  f"takes one program per track ({', '.join(self.accompaniment_names)})")
            _, alto, tenor, bass = resolve_programs(programs, 4)
            return [alto] + [tenor] * (n - 2) + [bass] if n >= 2 else [alto]
        try:
            return resolve_programs(programs, n)
        except ConfigError as exc:
            if isinstance(programs, str):
                raise  # an unknown preset: the one message for it
            raise ConfigError(f"{exc} (layout {self.name!r}: {', '.join(self.accompaniment_names)})") from None

    def to_dict(self) -> dict:
        """The layout as plain data (names, rules, programs, windows), as written in model cards."""
        return {"name": self.name, "voices": self.voices,
                "tracks": [dict(t.__dict__, families=list(t.families), role="melody" if i == 0 else "accompaniment")
                           for i, t in enumerate(self.tracks)]}


_VOICE = dict(polyphonic=False, program=52)

_S, _A, _T, _B = SATB_RANGES
SATB = Layout("satb", Track("soprano", r"soprano|melody|lead", lowest=_S[0], highest=_S[1], **_VOICE), (
    Track("alto", "alto", lowest=_A[0], highest=_A[1], **_VOICE),
    Track("tenor", "tenor", lowest=_T[0], highest=_T[1], **_VOICE),
    Track("bass", "bass", lowest=_B[0], highest=_B[1], **_VOICE)), voices=True)
"""Today's four-voice choir: soprano (melody), alto, tenor, bass; ranges of
:data:`deepaccomp.metrics.SATB_RANGES`; Choir Aahs (52)."""

SSATB = Layout("ssatb", Track("cantus", r"cantus|soprano|superius|melody", lowest=60, highest=79, **_VOICE), (
    Track("quintus", r"quintus|sextus|soprano ?2|cantus ?2", lowest=57, highest=77, **_VOICE),
    Track("altus", r"alto|altus|contratenor", lowest=53, highest=74, **_VOICE),
    Track("tenor", r"tenor", lowest=48, highest=69, **_VOICE),
    Track("bassus", r"bass", lowest=38, highest=62, **_VOICE)), voices=True)
"""Five voices of a Renaissance mass or madrigal: the top voice as melody and four
below it (ranked by mean pitch unless every part is named)."""

LPD5 = Layout("lpd5", Track("melody", r"melod|lead|vocal|voice|sing|tune", ("synth_lead", "reed", "pipe", "brass"),
                            program=73, lowest=55, highest=91), (
    Track("drums", drums=True, program=0, lowest=35, highest=81),
    Track("piano", r"piano|keys|organ", ("piano", "chromatic_percussion", "organ"), program=0,
          lowest=36, highest=91, polyphonic=True),
    Track("guitar", r"guitar", ("guitar",), program=25, lowest=40, highest=88, polyphonic=True),
    Track("bass", r"bass", ("bass",), program=33, lowest=28, highest=60),
    Track("strings", r"string|violin|viola|cello|pad|ensemble|choir", ("strings", "ensemble", "synth_pad"),
          program=48, lowest=36, highest=91, polyphonic=True)))
"""The Lakh Pianoroll Dataset's five tracks (drums, piano, guitar, bass, strings)
under a melody (named melody/lead/vocal..., else a synth lead, reed, pipe or brass)."""

LAYOUTS = {layout.name: layout for layout in (SATB, LPD5, SSATB)}
"""The layout presets by name."""

DEFAULT_LAYOUT = "satb"


def get_layout(name_or_layout) -> Layout:
    """A :class:`Layout` from a preset name (or a layout, returned as is); :class:`ConfigError` otherwise."""
    if isinstance(name_or_layout, Layout):
        return name_or_layout
    try:
        return LAYOUTS[name_or_layout]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown layout {name_or_layout!r}; use one of {sorted(LAYOUTS)}") from None


def _mean_pitch(inst) -> float:
    return float(np.mean([n.pitch for n in inst.notes]))


def select_instruments(pm, layout) -> list:
    """Which instruments of a file make each track of ``layout``.

    Parameters
    ----------
    pm : pretty_midi.PrettyMIDI
    layout : Layout or str

    Returns
    -------
    list of list of int
        For every track (melody first) the indices into ``pm.instruments``
        merged into it, in file order; ``[]`` for a track the file does not give.

    Raises
    ------
    NoMelodyError
        A voice layout with fewer pitched instruments than tracks, or a file without any note.
    """
    layout = get_layout(layout)
    pitched = pitched_instruments(pm)
    if layout.voices:
        return _select_voices(pm, layout, pitched)
    chosen = [[] for _ in layout.tracks]
    drum_track = next((k for k, t in enumerate(layout.tracks) if t.drums), None)
    if drum_track is not None:
        chosen[drum_track] = [i for i, inst in enumerate(pm.instruments)
                              if inst.is_drum and any(n.end > n.start for n in inst.notes)]
    for i in pitched:
        inst = pm.instruments[i]
        k = next((k for k, t in enumerate(layout.tracks) if t.matches_name(inst.name)), None)
        if k is None:
            k = next((k for k, t in enumerate(layout.tracks) if t.matches_program(inst.program)), None)
        if k is not None and not layout.tracks[k].drums:
            chosen[k].append(i)
    return chosen


def _select_voices(pm, layout, pitched) -> list:
    """By name when every track is named in the file, else the busiest instruments by mean pitch."""
    n = len(layout.tracks)
    if len(pitched) < n:
        raise NoMelodyError(f"{len(pitched)} pitched tracks; a training piece of layout {layout.name!r} needs "
                            f"{n} ({', '.join(layout.track_names)})")
    by_name = {}
    for i in pitched:
        for k, track in enumerate(layout.tracks):
            if k not in by_name and track.matches_name(pm.instruments[i].name):
                by_name[k] = i
    if len(by_name) == n:
        return [[by_name[k]] for k in range(n)]
    busiest = sorted(pitched, key=lambda i: -len(pm.instruments[i].notes))[:n]
    return [[i] for i in sorted(busiest, key=lambda i: -_mean_pitch(pm.instruments[i]))]
