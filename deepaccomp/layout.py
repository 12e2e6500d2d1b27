"""Track layouts: which tracks a model plays and how each is taken from a MIDI file.

A :class:`Layout` is the melody track plus N accompaniment tracks. Every roll
of a layout is ``(time, pitch, 1 + N)``: the melody first, then the
accompaniment tracks in layout order. Each :class:`Track` says how it is
selected from a user's MIDI file (:func:`select_instruments`), which General
MIDI program it is written with, its usual pitch window, whether it is the
drum kit (channel 10), whether it may sound several notes at once and
whether a training piece must have it.

Selection rules (docs/layouts.md):

* **drums**: the file's drum instruments (``is_drum``, MIDI channel 10), all
  merged into one track;
* **name pattern**: instruments whose name matches the track's pattern
  (case-insensitive; :func:`check_pattern`: alternatives of plain text
  separated by ``|``, ``?`` making the character before it optional);
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

Presets: :data:`LAYOUTS` (``satb``, the default; ``lpd5``; ``ssatb``; ``pop``). A
user's layout is data: a JSON file (:func:`read_layout`) or a dict
(:meth:`Layout.from_dict`, the inverse of :meth:`Layout.to_dict`), bounded
and validated field by field. Wherever a layout is taken (:func:`get_layout`)
a preset name, a layout file's path, a dict or a :class:`Layout` will do.
Pure Python and pretty_midi, no TensorFlow.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import re
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError, NoMelodyError, brief
from .io_utils import FileTooLargeError, NotRegularFileError, read_bounded
from .metrics import SATB_RANGES
from .midi import PROGRAM_PRESETS, pitched_instruments, resolve_programs

__all__ = ["GM_FAMILIES", "Track", "Layout", "LAYOUTS", "DEFAULT_LAYOUT", "get_layout", "family_of",
           "select_instruments", "read_layout", "layout_ref", "same_layout", "stored_layout", "check_pattern", "MAX_LAYOUT_BYTES",
           "MAX_TRACKS", "MAX_NAME_CHARS", "MAX_PATTERN_CHARS", "MAX_PATTERN_SPELLED", "MAX_MATCHED_NAME_CHARS",
           "PATTERN_SPECIALS"]

GM_FAMILIES = ("piano", "chromatic_percussion", "organ", "guitar", "bass", "strings", "ensemble", "brass",
               "reed", "pipe", "synth_lead", "synth_pad", "synth_effects", "ethnic", "percussive",
               "sound_effects")
"""The 16 General MIDI program families in program order: family ``k`` holds programs ``8k .. 8k + 7``."""

MAX_LAYOUT_BYTES = 64 * 1024
"""Largest layout file :func:`read_layout` reads (64 KiB; the lpd5 preset written as JSON is 1,311 bytes)."""

MAX_TRACKS = 16
"""Most tracks of a layout, the melody included (lpd5 has 6): a MIDI file has 16 channels."""

MAX_NAME_CHARS = 64
"""Longest layout or track name."""

MAX_PATTERN_CHARS = 256
"""Longest name pattern of a track (the presets' longest has 44 characters)."""

MAX_PATTERN_SPELLED = 1024
"""Most characters of a name pattern spelled out as its plain words, every ``?`` both ways
(``soprano ?2`` is ``soprano 2`` and ``soprano2``: 17). Matching tries each word at each
character of a name, so this bounds its work (the presets' largest spells 45)."""

MAX_MATCHED_NAME_CHARS = 1024
"""Characters of an instrument's name that a pattern is matched against (the first ones): a name
is a few words, and a MIDI file may hold a name of megabytes."""

PATTERN_SPECIALS = "\\.^$*+()[]{}"
"""Regular-expression characters a name pattern refuses (it is no regular expression; write plain text)."""

_LAYOUT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")


def family_of(program: int) -> str:
    """General MIDI family name of a program 0..127 (e.g. 33 -> ``"bass"``)."""
    return GM_FAMILIES[int(program) // 8]


def check_pattern(pattern: str) -> tuple:
    """The plain words a track's name pattern stands for; :class:`ConfigError` if it is not one.

    The pattern language: alternatives separated by ``|``, each plain text in
    which ``?`` makes the one character before it optional (``soprano ?2``
    matches "soprano 2" and "soprano2"). Nothing else is special, and the
    characters of :data:`PATTERN_SPECIALS` are refused so that a regular
    expression is never mistaken for text. An instrument matches when its name
    contains one of the words, ignoring case. ``""`` is no pattern (no
    instrument is taken by name). A pattern spelled out as its words is at
    most :data:`MAX_PATTERN_SPELLED` characters, and matching is a search for
    plain words: it cannot backtrack.
    """
    if not isinstance(pattern, str):
        raise ConfigError(f"pattern must be a string, got {brief(repr(pattern))}")
    if len(pattern) > MAX_PATTERN_CHARS or not pattern.isprintable():
        raise ConfigError(f"pattern must be printable text of at most {MAX_PATTERN_CHARS} characters "
                          f"(deepaccomp.layout.MAX_PATTERN_CHARS), got {brief(repr(pattern))}")
    if not pattern:
        return ()
    special = sorted({c for c in pattern if c in PATTERN_SPECIALS})
    if special:
        raise ConfigError(f"pattern {brief(repr(pattern))}: {''.join(special)!r} is not part of a name pattern "
                          "(plain text, | between alternatives, ? after an optional character; no regular "
                          "expressions)")
    alternatives = [_pattern_parts(alt, pattern) for alt in pattern.split("|")]
    spelled = sum(_spelled_chars(parts) for parts in alternatives)
    if spelled > MAX_PATTERN_SPELLED:
        raise ConfigError(f"pattern {brief(repr(pattern))} spelled out as its words (each ? doubles its "
                          f"alternative's) is {spelled:,} characters, more than {MAX_PATTERN_SPELLED:,} "
                          "(deepaccomp.layout.MAX_PATTERN_SPELLED); use fewer ? and alternatives")
    return tuple("".join(word) for parts in alternatives
                 for word in itertools.product(*[(c, "") if optional else (c,) for c, optional in parts]))


def _spelled_chars(parts: list) -> int:
    """Characters of all the words one alternative stands for: ``2**k * m + k * 2**(k - 1)`` for ``m``
    plain and ``k`` optional characters (computed, never spelled)."""
    k = sum(optional for _, optional in parts)
    return 2 ** k * (len(parts) - k) + k * 2 ** k // 2


def _pattern_parts(alternative: str, pattern: str) -> list:
    """``[(character, optional)]`` of one alternative of a pattern."""
    parts = []
    for c in alternative:
        if c != "?":
            parts.append((c, False))
        elif parts and not parts[-1][1]:
            parts[-1] = (parts[-1][0], True)
        else:
            raise ConfigError(f"pattern {brief(repr(pattern))}: a ? must follow a character (and only one ?)")
    if not any(not optional for _, optional in parts):
        raise ConfigError(f"pattern {brief(repr(pattern))}: an empty alternative (or one of optional characters "
                          "only) would match every instrument")
    return parts


@functools.lru_cache(maxsize=256)
def _pattern_search(pattern: str):
    """The compiled search of a checked pattern: its words, escaped, as one case-insensitive alternation."""
    return re.compile("|".join(re.escape(w) for w in check_pattern(pattern)), re.I).search


def _check_name(name, what: str) -> str:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS:
        raise ConfigError(f"{what} must be a name of 1..{MAX_NAME_CHARS} characters, got {brief(repr(name))}")
    return name


def _check_int(value, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{what} must be an integer {low}..{high}, got {brief(repr(value))}")
    return value


def _check_bool(value, what: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{what} must be true or false, got {brief(repr(value))}")
    return value


@dataclass(frozen=True)
class Track:
    """One track of a layout.

    Attributes
    ----------
    name : str
        Instrument name written to the output MIDI and used in metrics tags
        (1..:data:`MAX_NAME_CHARS` printable ASCII characters, no ``/``).
    pattern : str
        Name pattern (:func:`check_pattern`) matched, ignoring case, against instrument names; ``""`` = none.
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
    required : bool
        A training file without this track is skipped (with the track named);
        ``False``: it is kept with the track empty, as the Lakh Pianoroll
        Dataset keeps songs without strings. The melody and every track of a
        voice layout are required.
    """

    name: str
    pattern: str = ""
    families: tuple = ()
    program: int = 0
    lowest: int = 0
    highest: int = 127
    drums: bool = False
    polyphonic: bool = False
    required: bool = True

    def __post_init__(self):
        name = _check_name(self.name, "a track's name")
        if not (name.isascii() and name.isprintable()) or "/" in name:
            raise ConfigError(f"track name {brief(repr(name))} must be printable ASCII without '/' (it names a "
                              "MIDI instrument and a TensorBoard tag)")
        where = f"track {name!r}"
        try:
            check_pattern(self.pattern)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if not isinstance(self.families, tuple) or not all(isinstance(f, str) for f in self.families):
            raise ConfigError(f"{where}: families must be a list of General MIDI family names, "
                              f"got {brief(repr(self.families))}")
        unknown = [f for f in self.families if f not in GM_FAMILIES]
        if unknown:
            raise ConfigError(f"{where}: unknown General MIDI families {brief(unknown)}; use {GM_FAMILIES}")
        for field in ("program", "lowest", "highest"):
            _check_int(getattr(self, field), f"{where}: {field}", 0, 127)
        if self.lowest > self.highest:
            raise ConfigError(f"{where}: lowest ({self.lowest}) must not be above highest ({self.highest})")
        for field in ("drums", "polyphonic", "required"):
            _check_bool(getattr(self, field), f"{where}: {field}")

    def matches_name(self, name: str) -> bool:
        """Whether an instrument called ``name`` is this track's by name (its first
        :data:`MAX_MATCHED_NAME_CHARS` characters, ignoring case)."""
        return bool(self.pattern) and _pattern_search(self.pattern)((name or "")[:MAX_MATCHED_NAME_CHARS]) is not None

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
        name = _check_name(self.name, "a layout's name")
        if not _LAYOUT_NAME.match(name):
            raise ConfigError(f"layout name {brief(repr(name))} must be letters, digits, '_', '.' and '-', "
                              "starting with a letter or digit (it names dataset files)")
        where = f"layout {name!r}"
        _check_bool(self.voices, f"{where}: voices")
        if not isinstance(self.melody, Track) or not isinstance(self.accompaniment, tuple) or not all(
                isinstance(t, Track) for t in self.accompaniment):
            raise ConfigError(f"{where}: the melody and the accompaniment must be Tracks (a tuple of them)")
        names = self.track_names
        if len(set(names)) != len(names) or not self.accompaniment or len(names) > MAX_TRACKS:
            raise ConfigError(f"{where}: needs 1..{MAX_TRACKS - 1} accompaniment tracks (at most {MAX_TRACKS} "
                              f"tracks in all, deepaccomp.layout.MAX_TRACKS) and distinct track names, "
                              f"got {brief(list(names))}")
        if self.melody.drums or not self.melody.required:
            raise ConfigError(f"{where}: the melody cannot be a drum track and is always required")
        if sum(t.drums for t in self.accompaniment) > 1:
            raise ConfigError(f"{where}: at most one drum track (a file's drum instruments all go to it)")
        if self.voices and not all(t.required for t in self.tracks):
            raise ConfigError(f"{where}: every track of a voice layout is required (voices are taken by pitch "
                              "order when the names do not say)")

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
        """The layout as plain data (the layout file format of docs/layouts.md); :meth:`from_dict` is its
        inverse."""
        return {"name": self.name, "voices": self.voices,
                "tracks": [dict(t.__dict__, families=list(t.families), role="melody" if i == 0 else "accompaniment")
                           for i, t in enumerate(self.tracks)]}

    @classmethod
    def from_dict(cls, d, where: str = "layout") -> "Layout":
        """The layout of a dict in the layout file format (docs/layouts.md), every field checked.

        ``{"name": ..., "voices": false, "tracks": [melody, accompaniment...]}``;
        each track ``{"name": ..., "pattern", "families", "program", "lowest",
        "highest", "drums", "polyphonic", "required", "role"}``, all but the
        name optional (the :class:`Track` defaults; ``role``, if given, is
        "melody" for the first track and "accompaniment" for the others). The
        exact inverse of :meth:`to_dict`. A preset's name must come with the
        preset's own definition.

        Raises
        ------
        ConfigError
            Naming ``where`` and the field: an unknown key, a missing name, a
            value of the wrong type or out of its range, more than
            :data:`MAX_TRACKS` tracks.
        """
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: a layout must be a JSON object, got {type(d).__name__}")
        _check_keys(d, ("name", "voices", "tracks"), where)
        if "name" not in d or "tracks" not in d:
            raise ConfigError(f"{where}: a layout needs a \"name\" and \"tracks\" (the melody first)")
        tracks = d["tracks"]
        if not isinstance(tracks, list) or not 2 <= len(tracks) <= MAX_TRACKS:
            raise ConfigError(f"{where}: tracks must be a list of 2..{MAX_TRACKS} tracks, the melody first "
                              f"(deepaccomp.layout.MAX_TRACKS), got {_size(tracks)}")
        built = [_track_from_dict(t, i, where) for i, t in enumerate(tracks)]
        try:
            layout = cls(d["name"], built[0], tuple(built[1:]), voices=d.get("voices", False))
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        preset = LAYOUTS.get(layout.name)
        if preset is not None and preset != layout:
            raise ConfigError(f"{where}: {layout.name!r} is a preset's name; give your layout its own name")
        return layout


_TRACK_KEYS = ("name", "pattern", "families", "program", "lowest", "highest", "drums", "polyphonic", "required",
               "role")


def _check_keys(d: dict, known, where: str) -> None:
    unknown = [k for k in d if k not in known]
    if unknown:
        raise ConfigError(f"{where}: unknown keys {brief(unknown)}; the keys are {', '.join(known)}")


def _size(value) -> str:
    return f"a list of {len(value)}" if isinstance(value, list) else brief(repr(value))


def _track_from_dict(t, i: int, where: str) -> Track:
    """Track ``i`` of a layout dict (0 = the melody), its keys and types checked."""
    at = f"{where}: tracks[{i}]"
    if not isinstance(t, dict):
        raise ConfigError(f"{at} must be an object, got {brief(repr(t))}")
    _check_keys(t, _TRACK_KEYS, at)
    if "name" not in t:
        raise ConfigError(f"{at} needs a \"name\"")
    role = "melody" if i == 0 else "accompaniment"
    if t.get("role", role) != role:
        raise ConfigError(f"{at}: role must be {role!r} (the first track is the melody), got {brief(repr(t['role']))}")
    kw = {k: v for k, v in t.items() if k != "role"}
    families = kw.get("families", [])
    if not isinstance(families, list) or len(families) > len(GM_FAMILIES):
        raise ConfigError(f"{at}: families must be a list of General MIDI family names, got {_size(families)}")
    kw["families"] = tuple(families)
    try:
        return Track(**kw)
    except ConfigError as exc:
        raise ConfigError(f"{at}: {exc}") from None


def read_layout(path) -> Layout:
    """The layout of a layout file (JSON, docs/layouts.md): read bounded and checked field by field.

    A regular file (a FIFO or device is refused without waiting on it) of at
    most :data:`MAX_LAYOUT_BYTES`, UTF-8 JSON (nesting too deep is refused),
    then :meth:`Layout.from_dict`.

    Raises
    ------
    ConfigError
        Naming the file: missing, not a regular file, too large, not JSON, or
        a field that :meth:`Layout.from_dict` refuses.
    """
    shown = brief(os.fspath(path))
    try:
        raw = read_bounded(path, MAX_LAYOUT_BYTES)
    except FileNotFoundError:
        raise ConfigError(f"unknown layout {brief(repr(os.fspath(path)))}: no preset ({', '.join(sorted(LAYOUTS))}) "
                          "and no layout file of that name") from None
    except NotRegularFileError:
        raise ConfigError(f"{shown}: not a regular file (a folder, pipe or device); give a layout JSON file") from None
    except FileTooLargeError:
        raise ConfigError(f"{shown}: more than {MAX_LAYOUT_BYTES:,} bytes, too large for a layout file "
                          "(deepaccomp.layout.MAX_LAYOUT_BYTES; the lpd5 preset as a file is 1,311 bytes)") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{shown}: the layout file cannot be read ({brief(str(exc))})") from None
    try:
        d = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise ConfigError(f"{shown}: not a layout file (JSON nested too deeply)") from None
    except ValueError as exc:  # not JSON, not UTF-8, an integer of thousands of digits
        raise ConfigError(f"{shown}: not a readable JSON layout file ({brief(str(exc))})") from None
    return Layout.from_dict(d, where=shown)


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

_BAND = dict(required=False)

LPD5 = Layout("lpd5", Track("melody", r"melod|lead|vocal|voice|sing|tune", ("synth_lead", "reed", "pipe", "brass"),
                            program=73, lowest=55, highest=91), (
    Track("drums", drums=True, program=0, lowest=35, highest=81, **_BAND),
    Track("piano", r"piano|keys|organ", ("piano", "chromatic_percussion", "organ"), program=0,
          lowest=36, highest=91, polyphonic=True, **_BAND),
    Track("guitar", r"guitar", ("guitar",), program=25, lowest=40, highest=88, polyphonic=True, **_BAND),
    Track("bass", r"bass", ("bass",), program=33, lowest=28, highest=60, **_BAND),
    Track("strings", r"string|violin|viola|cello|pad|ensemble|choir", ("strings", "ensemble", "synth_pad"),
          program=48, lowest=36, highest=91, polyphonic=True, **_BAND)))
"""The Lakh Pianoroll Dataset's five tracks (drums, piano, guitar, bass, strings)
under a melody (named melody/lead/vocal..., else a synth lead, reed, pipe or brass).
The five are optional, as in the Lakh Pianoroll Dataset: a song without strings
is kept with its strings track empty; only the melody is required."""

POP = Layout("pop", Track("melody", r"melod|lead|vocal|voice|sing|tune", ("synth_lead", "reed", "pipe", "brass"),
                          program=0, lowest=55, highest=91), (
    Track("piano", r"piano|keys|organ", ("piano", "chromatic_percussion", "organ"), program=0, lowest=43,
          highest=84, polyphonic=True),
    Track("bass", r"bass", ("bass",), program=33, lowest=28, highest=59, required=False)))
"""A pop song's piano under its melody, as POP909 gives it (deepaccomp.pop909, docs/pop909.md): the
piano without its bass, and the bass (the piano's lowest note at each step when below G3, MIDI 55; it is
the annotated chord's root on 92% of POP909's beats), so that the output can be played as it is (piano
and bass together are the whole piano) or by a band (keys and a bass guitar, 33 by default). The windows
hold 98-99% of POP909's key-normalised onsets of each track."""

LAYOUTS = {layout.name: layout for layout in (SATB, LPD5, SSATB, POP)}
"""The layout presets by name."""

DEFAULT_LAYOUT = "satb"


def get_layout(layout) -> Layout:
    """The :class:`Layout` that ``layout`` gives: a preset name, the path of a layout file
    (:func:`read_layout`), a dict in the layout file format (:meth:`Layout.from_dict`), or a layout
    (returned as is).

    Raises
    ------
    ConfigError
        Anything else, or a layout file or dict that is refused (named with the field).
    """
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, dict):
        return _layout_of_dict(layout)
    if isinstance(layout, str) and layout in LAYOUTS:
        return LAYOUTS[layout]
    if isinstance(layout, (str, os.PathLike)) and os.fspath(layout):
        return read_layout(layout)
    raise ConfigError(f"unknown layout {brief(repr(layout))}; give a preset ({', '.join(sorted(LAYOUTS))}), "
                      "the path of a layout file or a Layout")


def _layout_of_dict(d: dict) -> Layout:
    """:meth:`Layout.from_dict` of ``d``, remembered by its canonical JSON (configs ask for their layout often)."""
    try:
        text = json.dumps(d, sort_keys=True)
    except (TypeError, ValueError, RecursionError):
        raise ConfigError("a layout dict must hold JSON data only (strings, numbers, true/false, lists, "
                          "objects), not nested too deeply") from None
    return _layout_of_json(text)


@functools.lru_cache(maxsize=64)
def _layout_of_json(text: str) -> Layout:
    return Layout.from_dict(json.loads(text))


def stored_layout(ref) -> Layout:
    """The layout a file of ours stores (a config, dataset, shard index or model file): a preset's name or a
    whole definition (:func:`layout_ref`), never a path, so that reading a file never reads another.

    Raises
    ------
    ConfigError
        Anything else, or a definition that :meth:`Layout.from_dict` refuses.
    """
    if isinstance(ref, dict) or (isinstance(ref, str) and ref in LAYOUTS):
        return get_layout(ref)
    raise ConfigError(f"unknown layout {brief(repr(ref))}: a stored layout is a preset's name "
                      f"({', '.join(sorted(LAYOUTS))}) or a layout's whole definition")


def layout_ref(layout) -> str | dict:
    """How configs, datasets, shard indexes and model files store a layout: a preset's name (so files of
    the presets read as they always did), else the whole definition (:meth:`Layout.to_dict`), so a model
    carries its layout wherever it goes."""
    layout = get_layout(layout)
    return layout.name if LAYOUTS.get(layout.name) == layout else layout.to_dict()


def same_layout(a, b) -> bool:
    """Whether two layouts (in any form :func:`get_layout` takes) are the same definition."""
    return get_layout(a) == get_layout(b)


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
