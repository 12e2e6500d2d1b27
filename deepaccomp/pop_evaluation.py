"""The pop evaluation (issue 32): accompany POP909 test melodies through the user path, compare with the real piano.

For every song of a split (:func:`deepaccomp.pop909.split_of_song`) that the POP909 build keeps, and
every stored stretch of it with a melody (:func:`deepaccomp.pop909.stretches`: runs of 4-beat bars
under one key), the melody is written as the MIDI file a user's DAW would export
(:func:`melody_midi`: the annotated beats as the tempo map, every beat a quarter note, 4/4, the
stretch's first downbeat at time 0, the melody's notes at their real times, in the song's real key),
given to an ``accompany(path, seed)`` callable (the model: :func:`model_accompany`; the baselines:
:func:`baseline_accompany`), and the result read back onto the annotated beat grid
(:func:`read_accompaniment`). It is measured against the song's real piano (piano and bass of
:func:`deepaccomp.pop909.song_rolls`, not transposed) from the bar of the melody's first note to the bar of
its last (:attr:`PopStretch.span`): the Accompanist starts with the melody, so piano intros and outros
are left out for every column alike. :data:`FIGURES` lists the figures (docs/pop_evaluation.md).

Two references need the songs rather than a melody file: ``"real piano"`` (the song's own piano) and
``"another song"`` (:func:`other_song_piano`); :func:`evaluate_pop` takes their names in place of a
callable.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pretty_midi

from . import metrics, pop909
from .errors import ConfigError, DatasetError, DeepAccompError, brief
from .evaluation import seed_difference
from .midi import read_midi
from .piece import Piece, read_piece, to_pretty_midi
from .representation import N_MIDI_PITCHES, STEPS_PER_BAR, STEPS_PER_BEAT, run_starts

__all__ = ["FIGURES", "REFERENCES", "BASELINES", "TRIAD_ROOT_LOW", "MIDI_RESOLUTION", "PopStretch", "PopSong",
           "pop_songs", "pop_song", "melody_midi", "read_accompaniment", "roll_accompany", "baseline_accompany",
           "doubled_roll", "block_triads_roll", "model_accompany", "other_song_piano", "stretch_figures",
           "evaluate_pop", "pop_table"]

FIGURES = ("chord_accuracy", "groove_similarity", "onset_profile_similarity", "onsets_per_bar", "notes_at_once",
           "pitch_class_overlap", "empty_bars_under_melody", "consonance_with_melody", "in_scale_ratio",
           "seed_difference")
"""The figures of :func:`evaluate_pop`, in the table's order (docs/pop_evaluation.md says what each means)."""

REFERENCES = ("real piano", "another song")
"""Columns computed from the songs, not from a melody file: the song's own piano, another song's piano."""

BASELINES = ("doubled melody", "block triads")
"""Baselines computed from the melody file alone (:func:`baseline_accompany`)."""

TRIAD_ROOT_LOW = 48
"""MIDI pitch (C3) of the lowest root of the block-triad baseline: roots 48..59, the triad above (the
piano's register; the real piano's window is 43..84)."""

MIDI_RESOLUTION = 480
"""Ticks per quarter note (per annotated beat) of the melody files :func:`melody_midi` writes."""


@dataclass(frozen=True, eq=False)
class PopStretch:
    """One stretch of a song, ready to be accompanied and measured.

    Attributes
    ----------
    song : str
        The song folder's name (``"010"``).
    index : int
        The stretch's place among the song's stretches (the dataset's piece id ``song/index``).
    key : deepaccomp.metrics.Key
        The annotated key.
    bars : int
        Bars of the stretch (16 steps each).
    span : (int, int)
        Steps of the stretch measured: from the downbeat of the melody's first bar to the end of its last.
    melody, piano, piano_onsets : np.ndarray of bool, shape (span steps, 128)
        The melody's top line, the real piano (its piano and bass tracks together) and the piano's onsets.
    chords : np.ndarray of int64, shape (span steps // 4,)
        The annotated chord of every beat (:func:`deepaccomp.pop909.beat_chords`; -1: none).
    midi : pretty_midi.PrettyMIDI
        The melody file (:func:`melody_midi`) of the whole stretch.
    """

    song: str
    index: int
    key: metrics.Key
    bars: int
    span: tuple
    melody: np.ndarray
    piano: np.ndarray
    piano_onsets: np.ndarray
    chords: np.ndarray
    midi: pretty_midi.PrettyMIDI

    @property
    def span_bars(self) -> int:
        """Bars measured."""
        return (self.span[1] - self.span[0]) // STEPS_PER_BAR


@dataclass(frozen=True, eq=False)
class PopSong:
    """A song's stretches with a melody (:class:`PopStretch`), or why it is not evaluated (``reason``)."""

    name: str
    stretches: tuple = ()
    reason: str | None = None


# ------------------------------------------------------------------------------------------ the songs
def pop_songs(source, split: str = "test", limit: int | None = None) -> list:
    """The songs of ``split`` in a POP909 folder, in number order, each with its stretches ready.

    A song the POP909 build skips (triple meter, triplet feel, off the grid, a broken file) or whose
    chord file cannot be read is kept with its ``reason`` and no stretch; ``limit`` counts the
    songs with stretches.

    Raises
    ------
    DatasetError
        ``source`` is not a POP909 folder.
    ConfigError
        An unknown ``split`` or a bad ``limit``.
    """
    if split not in ("train", "valid", "test"):
        raise ConfigError(f"split must be train, valid or test, got {brief(repr(split))}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ConfigError(f"limit must be a positive number of songs, got {brief(repr(limit))}")
    index = pop909.read_index(os.path.join(os.fspath(source), "index.xlsx"))
    out = []
    for folder in pop909.song_folders(source):
        name = os.path.basename(folder)
        if pop909.split_of_song(pop909.song_number(name)) != split:
            continue
        out.append(_pop_song(folder, name, index.get(name)))
        if limit is not None and sum(bool(s.stretches) for s in out) >= limit:
            break
    return out


def pop_song(source, name: str) -> PopSong:
    """One song of a POP909 folder, as :func:`pop_songs` reads each (whatever its split).

    Parameters
    ----------
    source : str or os.PathLike
        The POP909 folder.
    name : str
        The song folder's name (``"010"``); a number such as ``"10"`` names the same song.

    Raises
    ------
    DatasetError
        ``source`` is not a POP909 folder, or holds no song of that number.
    """
    number = pop909.song_number(str(name))
    folders = pop909.song_folders(source)
    found = [f for f in folders if number is not None and pop909.song_number(os.path.basename(f)) == number]
    if not found:
        raise DatasetError(f"{brief(os.fspath(source))} holds no song {brief(repr(name))}; its songs are "
                           f"{os.path.basename(folders[0])} to {os.path.basename(folders[-1])}")
    index = pop909.read_index(os.path.join(os.fspath(source), "index.xlsx"))
    folder = found[0]
    return _pop_song(folder, os.path.basename(folder), index.get(os.path.basename(folder)))


def _pop_song(folder: str, name: str, index_entry) -> PopSong:
    """One song folder as a :class:`PopSong` (the build's pieces, not transposed, and the raw melody notes)."""
    report = pop909.pop909_song(folder, pop909.song_number(name), key_normalize=False, index_entry=index_entry)
    if report.reason is not None:
        return PopSong(name, reason=report.reason)
    try:
        song = pop909.read_song_notes(folder)
        chords = pop909.beat_chords(pop909.read_chords(os.path.join(folder, "chord_midi.txt")), song.beats)
    except DeepAccompError as exc:
        return PopSong(name, reason=str(exc))
    _, onsets = pop909.song_rolls(song)
    stretches = []
    for roll, _, meta in report.pieces:
        stretch = _stretch(song, roll, onsets, chords, meta)
        if stretch is not None:
            stretches.append(stretch)
    return PopSong(name, tuple(stretches), None if stretches else "no stretch with a melody")


def _stretch(song, roll: np.ndarray, song_onsets: np.ndarray, chords: np.ndarray, meta: dict):
    """A build piece (``roll`` ``(steps, 128, 3)``, ``meta``) as a :class:`PopStretch`; ``None`` without melody."""
    first_beat = int(song.beats.bars[meta["first_bar"], 0])
    start = first_beat * STEPS_PER_BEAT
    struck = np.nonzero(song_onsets[start: start + len(roll), :, 0].any(axis=1))[0]
    sounding = np.nonzero(roll[..., 0].any(axis=1))[0]
    if not len(struck):  # no melody note starts here (at most one held over from before)
        return None
    lo = struck[0] // STEPS_PER_BAR * STEPS_PER_BAR
    hi = (sounding[-1] // STEPS_PER_BAR + 1) * STEPS_PER_BAR
    onsets = song_onsets[start + lo: start + hi, :, 1:].any(axis=2)
    piano = roll[lo:hi, :, 1:].any(axis=2)
    beat0 = first_beat + lo // STEPS_PER_BEAT
    return PopStretch(meta["song"], int(meta["id"].split("/")[1]), metrics.Key.parse(meta["key"]), meta["bars"],
                      (int(lo), int(hi)), roll[lo:hi, :, 0], piano, onsets & piano | run_starts(piano),
                      chords[beat0: beat0 + (hi - lo) // STEPS_PER_BEAT],
                      melody_midi(song, (meta["first_bar"], meta["bars"])))


def melody_midi(song, stretch) -> pretty_midi.PrettyMIDI:
    """A stretch's melody as the MIDI file a user's DAW would export.

    Parameters
    ----------
    song : deepaccomp.pop909.SongNotes
        The song (:func:`deepaccomp.pop909.read_song_notes`).
    stretch : tuple
        ``(first_bar, bars, ...)`` as :func:`deepaccomp.pop909.stretches` gives it.

    Returns
    -------
    pretty_midi.PrettyMIDI
        One instrument (the MELODY track's program, named ``Melody``) holding the MELODY notes that
        start in the stretch (their start rounded to the beat grid's nearest step, as the POP909 reader
        places them), at their real times less the stretch's first downbeat (so it is at time 0, a bar
        line; a note played a hair early starts at 0), cut at the stretch's end; velocities as played. The tempo map makes every
        annotated beat a quarter note of :data:`MIDI_RESOLUTION` ticks; time signature 4/4.
    """
    first_bar, n_bars = int(stretch[0]), int(stretch[1])
    t = song.beats.times
    ends = np.r_[t, 2 * t[-1] - t[-2]]
    first = int(song.beats.bars[first_bar, 0])
    n_beats = n_bars * pop909.BEATS_PER_BAR
    edges = ends[first: first + n_beats + 1] - ends[first]
    pm = pretty_midi.PrettyMIDI(resolution=MIDI_RESOLUTION)
    pm._tick_scales = [(i * MIDI_RESOLUTION, float(d) / MIDI_RESOLUTION) for i, d in enumerate(np.diff(edges))]
    pm._update_tick_to_time(n_beats * MIDI_RESOLUTION + 1)
    pm.time_signature_changes.append(pretty_midi.TimeSignature(4, 4, 0.0))
    source = sorted((n for n in song.instruments["MELODY"].notes if n.end > n.start), key=lambda n: (n.start, n.pitch))
    step = np.floor(pop909.beat_steps([n.start for n in source], song.beats) + 0.5)  # nan outside the beats
    inside = (step >= first * STEPS_PER_BEAT) & (step < (first + n_beats) * STEPS_PER_BEAT)
    t0, t_end = ends[first], ends[first] + edges[-1]
    inst = pretty_midi.Instrument(song.instruments["MELODY"].program, name="Melody")
    inst.notes = [pretty_midi.Note(n.velocity, n.pitch, max(0.0, n.start - t0), min(n.end, t_end) - t0)
                  for n, keep in zip(source, inside) if keep]
    pm.instruments.append(inst)
    return pm


# ------------------------------------------------------------------------------------------ reading back
def read_accompaniment(result, n_steps: int) -> tuple:
    """An accompaniment as ``accompany`` gave it, on the melody file's beat grid.

    Parameters
    ----------
    result : pretty_midi.PrettyMIDI, Piece, str or os.PathLike
        What :meth:`deepaccomp.Accompanist.generate` gives (the melody first, then the accompaniment
        instruments), a :class:`~deepaccomp.piece.Piece` of it (written with
        :func:`~deepaccomp.piece.to_pretty_midi`), or the path of such a file. Every instrument but
        the first, drums left out, is the accompaniment.
    n_steps : int
        Steps of the stretch: notes are cut there.

    Returns
    -------
    (np.ndarray, np.ndarray)
        Roll and onsets, bool ``(n_steps, 128)``: step ``k`` is the ``k``-th 16th of the file's
        quarter notes (the annotated beats), a note's onset its start step (a re-struck note stays two).
    """
    pm = to_pretty_midi(result) if isinstance(result, Piece) else read_midi(result)
    roll = np.zeros((n_steps + 1, N_MIDI_PITCHES), dtype=np.int32)
    onsets = np.zeros((n_steps, N_MIDI_PITCHES), dtype=bool)
    per_step = STEPS_PER_BEAT / pm.resolution
    for inst in pm.instruments[1:]:
        if inst.is_drum:
            continue
        for note in inst.notes:
            on = int(round(pm.time_to_tick(note.start) * per_step))
            off = max(on + 1, int(round(pm.time_to_tick(note.end) * per_step)))
            if 0 <= on < n_steps:
                onsets[on, note.pitch] = True
                roll[on, note.pitch] += 1
                roll[min(off, n_steps), note.pitch] -= 1
    sounding = np.cumsum(roll, axis=0)[:n_steps] > 0
    return sounding, onsets & sounding


# ------------------------------------------------------------------------------------------ accompany callables
def roll_accompany(make_roll, layout: str = "pop"):
    """An ``accompany(path, seed)`` callable that plays any roll through the user path.

    Parameters
    ----------
    make_roll : callable
        ``make_roll(melody, seed)``: ``melody`` the :class:`~deepaccomp.piece.Piece` the Accompanist
        reads from the file (``read_piece(path, layout, tracks="melody")``: its top line, on the
        file's grid); returns the accompaniment roll ``(melody.n_steps, 128, tracks)`` bool on that grid
        (at most the layout's accompaniment tracks), or ``(roll, onsets)``.
    layout : str
        The layout the melody is read as.

    Returns
    -------
    callable
        ``accompany(path, seed) -> pretty_midi.PrettyMIDI``: the melody and the roll written by
        :func:`deepaccomp.piece.to_pretty_midi`, as the Accompanist writes its output. Use it for the
        honesty checks (random in-key notes, the doubled melody through the model's decoding).
    """
    def accompany(path, seed):
        melody = read_piece(path, layout, tracks="melody")
        made = make_roll(melody, seed)
        roll, onsets = made if isinstance(made, tuple) else (made, None)
        return to_pretty_midi(melody.with_accompaniment(roll, onsets))
    return accompany


def _beat_phase(melody: Piece) -> int:
    """The step of the melody piece at which the file's quarter notes start (0..3)."""
    grid = melody.grid
    return int(round(-grid.start_tick / grid.ticks_per_step)) % grid.steps_per_beat


def doubled_roll(melody: Piece, seed=None) -> tuple:
    """The baseline "melody doubled an octave down": the melody's top line 12 semitones lower,
    struck where the melody is; ``(roll, onsets)`` ``(time, 128, 1)``."""
    roll = np.zeros_like(melody.roll[..., :1])
    onsets = np.zeros_like(roll)
    roll[:, :-12, 0] = melody.roll[:, 12:, 0]
    onsets[:, :-12, 0] = melody.onsets[:, 12:, 0]
    return roll, onsets


def block_triads_roll(melody: Piece, seed=None) -> tuple:
    """The baseline "block triads": per beat, the root-position major or minor triad best matching
    the beat's melody, struck on the beat and held for it.

    A triad scores the melody's note-steps in the beat on its three pitch classes. Ties go to the
    previous beat's triad if it is among the best, else to the triads whose three notes are in the
    key the melody's notes give (:func:`deepaccomp.metrics.estimate_key`), else to the lowest code
    (C major, C minor, C# major, ...). A beat without melody keeps the previous triad (silent
    before the first). The root lies in :data:`TRIAD_ROOT_LOW`..+11. Returns ``(roll, onsets)``
    ``(time, 128, 1)``.
    """
    mel = melody.roll[..., 0]
    n = mel.shape[0]
    phase = _beat_phase(melody)
    bounds = np.r_[0, np.arange(phase or STEPS_PER_BEAT, n, STEPS_PER_BEAT), n]
    bounds = np.unique(bounds)
    templates = metrics.triad_templates()
    diatonic = _diatonic(mel)
    roll = np.zeros((n, N_MIDI_PITCHES, 1), dtype=bool)
    onsets = np.zeros_like(roll)
    chord = None
    for a, b in zip(bounds[:-1], bounds[1:]):
        c = metrics.chroma(mel[a:b, :, None])[..., 0].sum(axis=0)
        if c.any():
            chord = _best_triad(templates @ c, chord, diatonic)
        if chord is not None:
            root = TRIAD_ROOT_LOW + chord // 2
            pitches = [root, root + (4 if chord % 2 == 0 else 3), root + 7]
            roll[a:b, pitches, 0] = True
            onsets[a, pitches, 0] = True
    return roll, onsets


def _diatonic(mel: np.ndarray) -> np.ndarray:
    """``(24,)`` bool: triads whose three pitch classes are in the key of the melody (all False if silent)."""
    if not mel.any():
        return np.zeros(24, dtype=bool)
    scale = np.zeros(12, dtype=bool)
    scale[list(metrics.estimate_key(mel[..., None]).pitch_classes)] = True
    return (metrics.triad_templates() @ scale.astype(np.int64)) == 3


def _best_triad(scores: np.ndarray, previous, diatonic: np.ndarray) -> int:
    best = scores == scores.max()
    if previous is not None and best[previous]:
        return int(previous)
    preferred = best & diatonic
    return int(np.argmax(preferred if preferred.any() else best))


def baseline_accompany(name: str):
    """A baseline of :data:`BASELINES` as an ``accompany(path, seed)`` callable through the user path
    (:func:`roll_accompany` of :func:`doubled_roll` or :func:`block_triads_roll`).

    Raises
    ------
    ConfigError
        An unknown name.
    """
    makers = {"doubled melody": doubled_roll, "block triads": block_triads_roll}
    if name not in makers:
        raise ConfigError(f"no baseline {brief(repr(name))}; the baselines are {', '.join(BASELINES)}")
    return roll_accompany(makers[name])


def model_accompany(model, *, pickup_from_file: bool = False, **generate_kw):
    """A model as an ``accompany(path, seed)`` callable: ``Accompanist(model).generate(path, seed=seed,
    **generate_kw)``, exactly what a user runs (``model``: a shipped model's name such as ``"pop"``, or a
    model file's path).

    ``pickup_from_file``: pass the Accompanist the ``pickup`` that a file whose time 0 is a downbeat
    implies (what a user who knows it gives with ``--pickup``). Without it, a melody that starts at
    time 0 has its bars estimated from its rhythm, and the estimate misplaces them in about half of
    such stretches (docs/pop_evaluation.md).
    """
    from .accompanist import Accompanist  # the evaluation of references and baselines needs no model

    accompanist = Accompanist(model)

    def accompany(path, seed):
        kw = dict(generate_kw, pickup=_file_pickup(path)) if pickup_from_file else generate_kw
        return accompanist.generate(path, seed=seed, **kw)
    return accompany


def _file_pickup(path) -> float:
    """Quarter-note beats from the first note of a melody file to the next bar line, its bars 4/4 from time 0."""
    pm = read_midi(path)
    first = min(n.start for inst in pm.instruments for n in inst.notes)
    step = int(round(pm.time_to_tick(first) * STEPS_PER_BEAT / pm.resolution))
    return (-step % STEPS_PER_BAR) / STEPS_PER_BEAT


def other_song_piano(songs: list) -> dict:
    """The reference "another song's piano" for every stretch.

    Each song (with stretches, in number order) takes the next such song's real piano (the last
    takes the first's): that song's measured spans laid end to end from its start, repeated if
    shorter, bar by bar; the stretches of the song take consecutive bars of it. Not transposed
    (only its rhythm figures are a reference: its harmony is another song's).

    Returns
    -------
    dict
        ``{(song, stretch index): (roll, onsets)}``, bool ``(span steps, 128)`` each.
    """
    kept = [s for s in songs if s.stretches]
    out = {}
    for i, song in enumerate(kept):
        other = kept[(i + 1) % len(kept)] if len(kept) > 1 else song
        roll = np.concatenate([s.piano for s in other.stretches])
        onsets = np.concatenate([s.piano_onsets for s in other.stretches])
        at = 0
        for s in song.stretches:
            idx = (at + np.arange(s.span[1] - s.span[0])) % len(roll)
            out[(s.song, s.index)] = (roll[idx], onsets[idx])
            at += len(idx)
    return out


# ------------------------------------------------------------------------------------------ measuring
def stretch_figures(stretch: PopStretch, roll: np.ndarray, onsets: np.ndarray) -> dict:
    """The figures of one accompaniment of one stretch (all but the song-level profile and seed difference).

    Parameters
    ----------
    stretch : PopStretch
    roll, onsets : np.ndarray of bool, shape (span steps, 128)
        The accompaniment on the stretch's measured steps.

    Returns
    -------
    dict
        ``{figure: float}`` (nan where a figure has nothing to measure).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        both = np.stack([stretch.melody, roll], axis=-1)
        return {
            "chord_accuracy": metrics.chord_accuracy(roll, stretch.chords),
            "groove_similarity": metrics.groove_similarity(onsets, stretch.piano_onsets),
            "onsets_per_bar": metrics.onsets_per_bar(roll, onsets),
            "notes_at_once": metrics.notes_at_once(roll),
            "pitch_class_overlap": metrics.pitch_class_overlap(roll, stretch.piano),
            "empty_bars_under_melody": metrics.empty_bars_under_melody(stretch.melody, roll),
            "consonance_with_melody": float(metrics.consonance_with_melody(both, 0)[0]),
            "in_scale_ratio": float(metrics.in_scale_ratio(roll[..., None], stretch.key)[0]),
        }


def _weighted(rows: list, weights: list) -> dict:
    """Per figure, the mean of ``rows`` weighted by ``weights``, over the rows with a value (nan if none)."""
    out = {}
    w = np.asarray(weights, dtype=float)
    for k in rows[0]:
        v = np.array([r[k] for r in rows], dtype=float)
        ok = np.isfinite(v)
        out[k] = float(np.sum(v[ok] * w[ok]) / np.sum(w[ok])) if ok.any() and w[ok].sum() > 0 else float("nan")
    return out


def _nanmean(values) -> float:
    v = np.asarray(list(values), dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _accompaniments(accompany, song: PopSong, seeds, others: dict, tmp: str) -> list:
    """Per seed, per stretch: ``(roll, onsets)`` on the stretch's measured steps."""
    if accompany == "real piano":
        return [[(s.piano, s.piano_onsets) for s in song.stretches]]
    if accompany == "another song":
        return [[others[(s.song, s.index)] for s in song.stretches]]
    out = []
    for seed in seeds:
        per = []
        for s in song.stretches:
            path = os.path.join(tmp, f"{s.song}_{s.index}.mid")
            s.midi.write(path)
            roll, onsets = read_accompaniment(accompany(path, seed), s.bars * STEPS_PER_BAR)
            per.append((roll[s.span[0]: s.span[1]], onsets[s.span[0]: s.span[1]]))
        out.append(per)
    return out


def _song_row(song: PopSong, takes: list) -> dict:
    """A song's figures: per seed, its stretches' figures weighted by bars, the profile on all its bars;
    then the mean over seeds, and the seed difference (mean over pairs of seeds, weighted by bars)."""
    weights = [s.span_bars for s in song.stretches]
    truth = np.concatenate([s.piano_onsets for s in song.stretches])
    per_seed = []
    for take in takes:
        row = _weighted([stretch_figures(s, r, o) for s, (r, o) in zip(song.stretches, take)], weights)
        row["onset_profile_similarity"] = metrics.onset_profile_similarity(np.concatenate([o for _, o in take]),
                                                                           truth)
        per_seed.append(row)
    row = {k: _nanmean(r[k] for r in per_seed) for k in per_seed[0]}
    diffs = [_weighted([{"d": seed_difference(a[0], b[0])} for a, b in zip(ta, tb)], weights)["d"]
             for ta, tb in combinations(takes, 2)]
    row["seed_difference"] = _nanmean(diffs)
    return {"song": song.name, "stretches": len(song.stretches), "bars": int(sum(weights)),
            **{k: row[k] for k in FIGURES}}


def evaluate_pop(accompany, source, *, split: str = "test", seeds=(0, 1, 2), limit: int | None = None,
                 progress: bool = False) -> dict:
    """The pop evaluation of one column: every song of ``split``, every stretch with a melody.

    Parameters
    ----------
    accompany : callable or str
        ``accompany(path, seed)`` -> the accompaniment (what :func:`read_accompaniment` reads: the
        Accompanist's PrettyMIDI, a Piece, or a file's path): :func:`model_accompany`,
        :func:`baseline_accompany`, :func:`roll_accompany`. Or a name of :data:`REFERENCES`.
    source : str, os.PathLike or list of PopSong
        A POP909 folder, or the songs :func:`pop_songs` read from one (read once for several columns).
    split : {"test", "valid", "train"}
        The songs (:func:`deepaccomp.pop909.split_of_song`); used when ``source`` is a folder.
    seeds : sequence of int
        Seeds of each melody (a reference is measured once).
    limit : int, optional
        At most this many songs (with stretches); used when ``source`` is a folder.
    progress : bool
        Print each song's name as it is measured.

    Returns
    -------
    dict
        ``songs``: one row per song (``song``, ``stretches``, ``bars`` measured, every figure of
        :data:`FIGURES`); ``mean``: each figure's mean over the songs with a value; ``n_songs``;
        ``skipped``: ``{song: reason}``; ``split``, ``seeds``.
    """
    if isinstance(accompany, str) and accompany not in REFERENCES:
        raise ConfigError(f"accompany is a callable or one of {', '.join(REFERENCES)}; got {brief(repr(accompany))}")
    seeds = tuple(seeds)
    if not seeds:
        raise ConfigError("seeds must name at least one seed")
    songs = pop_songs(source, split, limit) if isinstance(source, (str, os.PathLike)) else list(source)
    kept = [s for s in songs if s.stretches]
    others = other_song_piano(songs) if accompany == "another song" else {}
    rows = []
    with tempfile.TemporaryDirectory(prefix="deepaccomp-pop-eval-") as tmp:
        for song in kept:
            if progress:
                print(f"  {song.name}", flush=True)
            rows.append(_song_row(song, _accompaniments(accompany, song, seeds, others, tmp)))
    mean = {k: _nanmean(r[k] for r in rows) for k in FIGURES}
    return {"split": split, "seeds": list(seeds), "n_songs": len(rows), "songs": rows, "mean": mean,
            "skipped": {s.name: s.reason for s in songs if not s.stretches}}


def pop_table(columns: dict) -> str:
    """A text table of :func:`evaluate_pop` results: rows the figures, columns ``{label: result}``;
    a figure without a value is ``-``."""
    labels = list(columns)
    width = max(12, *(len(label) + 2 for label in labels))
    lines = [f"{'figure':<26}" + "".join(f"{label:>{width}}" for label in labels)]
    for figure in FIGURES:
        cells = []
        for label in labels:
            v = columns[label]["mean"].get(figure, float("nan"))
            cells.append(f"{v:>{width}.3f}" if np.isfinite(v) else f"{'-':>{width}}")
        lines.append(f"{figure:<26}" + "".join(cells))
    lines.append(f"{'songs':<26}" + "".join(f"{columns[label]['n_songs']:>{width}}" for label in labels))
    return "\n".join(lines)
