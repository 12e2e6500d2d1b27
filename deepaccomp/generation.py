"""The forward pass: melody rolls in, accompaniment rolls out, written once.

Every caller that runs a generator goes through :class:`ForwardPass`: the
:class:`~deepaccomp.Accompanist` (a user's MIDI), the training monitor (fixed
validation phrases and noise), the evaluation and the studio. The steps:

1. :func:`to_model_space`: a melody ``(time, 128, 1)`` in any key and octave
   is moved to C major / A minor by the key estimated from the melody alone,
   then by whole octaves near the chorale sopranos, then cropped to the
   model's pitch window (notes outside fold in by octaves);
2. :meth:`ForwardPass.accompany`: padded to the generator's time unit (or cut
   into phrases for a fixed-length generator), noise drawn, the generator run
   once per batch, a regenerated melody channel dropped, values checked to be
   finite and decoded to notes (``config.generation``, the model's settings,
   with the call's overrides: :meth:`ForwardPass.settings`). Memory is bounded:
   a batch above :data:`MAX_CALL_CELLS` time x pitch cells is split into calls
   of :data:`SPLIT_CALL_CELLS`, and a melody longer than :data:`CHUNK_STEPS`
   goes through a fully convolutional generator in overlapping chunks;
   ordinary melodies and batches take one call, as before;
3. :func:`from_model_space`: back to 128 pitches with the shifts undone.

Regenerating a part (:meth:`ForwardPass.generate` with ``keep``): a previous
result is moved to model space with the melody's own shift, and its voices'
lines outside the cells to draw again (:func:`regenerate_cells`) are fixed
states of the ``"notes"`` decoding (:func:`deepaccomp.decoding.decode_notes`);
back on 128 pitches every kept cell and onset is copied from the previous
result, so the notes outside the selection are the kept ones exactly.

Rolls are boolean, ``(time, pitch, tracks)``; 16th-note steps.
"""

from __future__ import annotations

import warnings

import numpy as np

from .config import Config, GenerationConfig, check_seed
from .decoding import FREE, decode
from .errors import ConfigError, GenerationError, InputTooLargeError, InvalidRollError
from .metrics import estimate_key
from .midi import MAX_BAR_STEPS, MAX_ROLL_STEPS
from .meter import add_lead_in
from .piece import Piece, TimeGrid
from .representation import (
    STEPS_PER_BAR,
    N_MIDI_PITCHES,
    close_restrike_gaps,
    crop_pitches,
    pad_time,
    position_planes,
    run_starts,
    to_model_range,
    transpose_roll,
    transpose_tracks,
    truncated_normal,
    uncrop_pitches,
)

__all__ = ["ForwardPass", "SOPRANO_CENTER", "CHUNK_STEPS", "CHUNK_CONTEXT", "MAX_CALL_CELLS", "SPLIT_CALL_CELLS",
           "MAX_INPUT_STEPS", "check_melodies", "draw_noise", "model_input", "model_input_planes",
           "to_model_space", "from_model_space", "regenerate_cells"]

SOPRANO_CENTER = 67
"""Mean soprano pitch of the key-normalised chorales (G4), where melodies are moved by octaves."""

CHUNK_STEPS = 2048
"""A melody longer than this (128 bars of 4/4) goes through a fully convolutional
generator in chunks of this many steps, each seen with :data:`CHUNK_CONTEXT` steps
of the melody on either side, so memory does not grow with the length."""

CHUNK_CONTEXT = 128
"""Steps of melody (8 bars of 4/4) each chunk sees beyond its own on either side."""

MAX_CALL_CELLS = 2**20
"""A batch of up to this many time x pitch cells (melodies x padded steps x window
pitches) goes through the generator in one call, as it always has (the 35 test
chorales of the evaluation are 1,003,520 cells: about 1.1 GB above the model's own
memory with the shipped model). Larger batches are split into calls of at most
:data:`SPLIT_CALL_CELLS`."""

SPLIT_CALL_CELLS = 2**19
"""Most cells per generator call once a batch is split (see :data:`MAX_CALL_CELLS`)."""

MAX_INPUT_STEPS = MAX_ROLL_STEPS + MAX_BAR_STEPS
"""Longest melody roll the forward pass takes: the longest melody read from a file
(:data:`deepaccomp.midi.MAX_ROLL_STEPS`) plus a lead-in of up to one bar."""


def check_melodies(melodies) -> list:
    """Melody rolls given to the forward pass: a non-empty list of ``(time, pitch, 1)`` rolls,
    each of 1 to :data:`MAX_INPUT_STEPS` steps.

    Raises
    ------
    ConfigError
        No melody at all.
    InvalidRollError
        A roll that is not 3-dimensional or has no time step.
    InputTooLargeError
        A roll longer than :data:`MAX_INPUT_STEPS`.
    """
    melodies = list(melodies)
    if not melodies:
        raise ConfigError("no melody given: pass a melody or a non-empty list of melodies")
    for i, m in enumerate(melodies):
        shape = np.shape(m)
        if len(shape) != 3 or shape[0] < 1:
            raise InvalidRollError(f"melody {i}: expected a roll (time, pitch, 1) with at least one step, "
                                   f"got shape {shape}")
        if shape[0] > MAX_INPUT_STEPS:
            raise InputTooLargeError(f"melody {i}: {shape[0]} steps, more than the limit of {MAX_INPUT_STEPS} "
                                     "(see docs/errors.md)")
    return melodies


def model_input_planes(config: Config, steps: int, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray | None:
    """The extra input channels beside the melody, ``(steps, window, k)`` float32, or ``None`` for a melody-only model."""
    if not config.model.position_channels:
        return None
    return position_planes(steps, config.window.size, steps_per_bar)


def model_input(melody: np.ndarray, config: Config, steps_per_bar: int = STEPS_PER_BAR) -> np.ndarray:
    """Bool melodies ``(n, time, window, 1)`` (step 0 a downbeat) -> the generator's melody input, float32."""
    x = to_model_range(melody)
    planes = model_input_planes(config, melody.shape[1], steps_per_bar)
    if planes is None:
        return x
    return np.concatenate([x, np.broadcast_to(planes, x.shape[:1] + planes.shape)], axis=-1)


def draw_noise(config: Config, rng: np.random.Generator, n: int, steps: int,
               noise_scale: float = 1.0) -> np.ndarray:
    """Generator noise for ``n`` melodies of ``steps`` steps: ``(n, *config.noise_shape(steps))`` float32.

    A unit truncated normal (``|z| <= 2``) times ``noise_scale``.
    """
    return truncated_normal(rng, (n,) + config.noise_shape(steps)) * np.float32(noise_scale)


class ForwardPass:
    """A generator and its config, run the one way every caller runs it.

    Parameters
    ----------
    generator : keras.Model
        ``[melody (batch, time, window, 1), noise] -> (batch, time, window, output_tracks)`` in tanh range.
    config : Config
        The generator's config: window, levels, fixed length, decoding.
    """

    def __init__(self, generator, config: Config):
        self.generator, self.config = generator, config

    def settings(self, decoding=None, **overrides) -> GenerationConfig:
        """The generation settings of one call: ``config.generation`` (the model's, the defaults) with
        ``decoding`` (a dict of settings, or a complete :class:`GenerationConfig`) and the non-``None``
        ``overrides`` applied, validated (:meth:`GenerationConfig.with_overrides`)."""
        return self.config.generation.with_overrides(decoding, **overrides)

    def __call__(self, melody: np.ndarray, noise: np.ndarray, settings: GenerationConfig | None = None,
                 steps_per_bar: int = STEPS_PER_BAR, fixed: np.ndarray | None = None) -> np.ndarray:
        """One batch: melody ``(n, time, window, 1)`` bool (step 0 a downbeat) and noise
        -> accompaniment ``(n, time, window, N)`` bool (N accompaniment tracks of the layout).
        ``fixed``: ``(n, time, N)`` kept states of the voices (:func:`deepaccomp.decoding.decode`)."""
        settings = settings or self.config.generation
        values = self.values(model_input(melody, self.config, steps_per_bar), noise)
        if fixed is None:
            return decode(values, settings, melody, self.config.track_layout)
        return decode(values, settings, melody, self.config.track_layout, fixed)

    def values(self, x: np.ndarray, noise: np.ndarray) -> np.ndarray:
        """The generator's output for one batch of model inputs (:func:`model_input`),
        ``(n, time, window, N)`` float32 in tanh range (N accompaniment tracks).

        Raises
        ------
        GenerationError
            A value is NaN or infinite (nothing would sound, or everything).
        """
        # an eager call: no tf.function tracing, so the first call is as fast as the next
        values = np.asarray(self.generator([x, noise], training=False))
        if self.config.regenerates_melody:  # the lab's generator regenerates the melody too: drop it
            values = values[..., 1:]
        if not np.isfinite(values).all():
            raise GenerationError(
                "the generator produced NaN or infinite values; its weights are unusable (a diverged "
                "training run or a damaged model) or the noise scale is far too large")
        return values

    def accompany(self, melodies, *, seed: int | None = None, noise_scale: float | None = None,
                  steps_per_bar: int = STEPS_PER_BAR, decoding=None, fixed=None) -> list:
        """Model-space melodies ``[(time, window, 1)]`` bool -> accompaniments ``[(time, window, N)]`` bool.

        All melodies go through the generator in one batch (one noise draw
        from ``seed``); a fixed-length generator gets them cut into phrases.
        Step 0 of every melody is a downbeat of bars of ``steps_per_bar`` steps.
        Beyond :data:`MAX_CALL_CELLS` the batch is split into calls of
        :data:`SPLIT_CALL_CELLS` cells, and a melody longer than
        :data:`CHUNK_STEPS` is cut into overlapping chunks (noise drawn per
        call, in order, from the same ``seed``). ``decoding`` and ``noise_scale``
        override the model's generation settings for this call (:meth:`settings`).
        ``fixed``: per melody ``None`` or ``(time, N)`` int, the voices' kept states
        (:data:`deepaccomp.decoding.FREE` where they are drawn; see :meth:`generate`).

        Raises
        ------
        ConfigError
            No melody, a bad ``seed``, ``noise_scale`` or ``decoding``.
        InvalidRollError, InputTooLargeError
            See :func:`check_melodies`.
        GenerationError
            The generator's output is not finite.
        """
        settings = self.settings(decoding, noise_scale=noise_scale)
        melodies = check_melodies(melodies)
        rng = np.random.default_rng(check_seed(seed))
        fixed = [None] * len(melodies) if fixed is None else list(fixed)
        if self.config.model.fixed_length:
            return self._accompany_phrases(melodies, rng, settings, steps_per_bar, fixed)
        lengths = [m.shape[0] for m in melodies]
        longest = max(lengths) + (-max(lengths)) % self.config.time_unit
        if longest > CHUNK_STEPS or len(melodies) * longest * self.config.window.size > MAX_CALL_CELLS:
            return self._accompany_bounded(melodies, rng, settings, steps_per_bar, fixed)
        batch = _stack_padded(melodies, longest)
        noise = draw_noise(self.config, rng, len(batch), longest, settings.noise_scale)
        values = self(batch, noise, settings, steps_per_bar, self._stack_fixed(fixed, longest))
        return [values[i, :n] for i, n in enumerate(lengths)]

    def _stack_fixed(self, fixed, steps: int):
        """Kept states ``[(time, N) or None]`` padded with :data:`FREE` to ``steps`` and stacked, or ``None``
        when nothing is kept (the plain decoding)."""
        if all(f is None for f in fixed):
            return None
        n = len(self.config.track_layout.accompaniment)
        full = [np.full((0, n), FREE) if f is None else np.asarray(f)[:steps] for f in fixed]
        return np.stack([np.pad(f, ((0, steps - f.shape[0]), (0, 0)), constant_values=FREE) for f in full])

    def _accompany_bounded(self, melodies, rng, settings, steps_per_bar, fixed) -> list:
        """Consecutive melodies grouped into calls of at most :data:`SPLIT_CALL_CELLS` cells; long ones chunked."""
        unit, size = self.config.time_unit, self.config.window.size
        out, group = [None] * len(melodies), []

        def padded(i):
            return melodies[i].shape[0] + (-melodies[i].shape[0]) % unit

        def run_group():
            if group:
                longest = max(padded(i) for i in group)
                batch = _stack_padded([melodies[i] for i in group], longest)
                noise = draw_noise(self.config, rng, len(group), longest, settings.noise_scale)
                values = self(batch, noise, settings, steps_per_bar, self._stack_fixed([fixed[i] for i in group],
                                                                                      longest))
                for j, i in enumerate(group):
                    out[i] = values[j, :melodies[i].shape[0]]
                group.clear()

        for i in range(len(melodies)):
            if padded(i) > CHUNK_STEPS:
                run_group()
                out[i] = self._accompany_chunked(melodies[i], rng, settings, steps_per_bar, fixed[i])
                continue
            if (len(group) + 1) * max(padded(j) for j in group + [i]) * size > SPLIT_CALL_CELLS:
                run_group()
            group.append(i)
        run_group()
        return out

    def _accompany_chunked(self, melody, rng, settings, steps_per_bar, fixed=None) -> np.ndarray:
        """One long melody in chunks of :data:`CHUNK_STEPS` steps with :data:`CHUNK_CONTEXT` on each side.

        The model input (with its bar-position channels) and the noise are
        made once for the whole melody and sliced with it; the generator's
        values are stitched from each chunk's middle and decoded once, as if
        the melody had gone through in one call.
        """
        unit = self.config.time_unit
        steps = melody.shape[0] + (-melody.shape[0]) % unit
        padded = _stack_padded([melody], steps)
        x = model_input(padded, self.config, steps_per_bar)
        noise = draw_noise(self.config, rng, 1, steps, settings.noise_scale)
        parts = []
        for start in range(0, steps, CHUNK_STEPS):
            stop = min(steps, start + CHUNK_STEPS)
            lo, hi = max(0, start - CHUNK_CONTEXT), min(steps, stop + CHUNK_CONTEXT)
            values = self.values(x[:, lo:hi], noise[:, lo // unit: hi // unit])
            parts.append(values[:, start - lo: stop - lo])
        values = np.concatenate(parts, axis=1)
        if fixed is None:
            return decode(values, settings, padded, self.config.track_layout)[0, :melody.shape[0]]
        return decode(values, settings, padded, self.config.track_layout,
                      self._stack_fixed([fixed], steps))[0, :melody.shape[0]]

    def _accompany_phrases(self, melodies, rng, settings, steps_per_bar, fixed):
        steps = self.config.phrase_steps
        chunks, owners, kept = [], [], []
        for i, m in enumerate(melodies):
            padded = pad_time(m, steps)
            for s in range(0, padded.shape[0], steps):
                chunks.append(padded[s: s + steps])
                owners.append(i)
                kept.append(None if fixed[i] is None else np.asarray(fixed[i])[s: s + steps])
        noise = draw_noise(self.config, rng, len(chunks), steps, settings.noise_scale)
        cells = steps * self.config.window.size
        per_call = max(1, (MAX_CALL_CELLS if len(chunks) * cells <= MAX_CALL_CELLS else SPLIT_CALL_CELLS) // cells)
        values = np.concatenate([self(np.stack(chunks[s: s + per_call]), noise[s: s + per_call], settings,
                                      steps_per_bar, self._stack_fixed(kept[s: s + per_call], steps))
                                 for s in range(0, len(chunks), per_call)])
        owners = np.asarray(owners)
        return [np.concatenate(values[owners == i])[: m.shape[0]] for i, m in enumerate(melodies)]

    def generate(self, pieces, *, seed: int | None = None, noise_scale: float | None = None,
                 decoding=None, keep=None, free=None) -> list:
        """Melody pieces in any key and octave -> the same pieces with the accompaniment of the layout.

        Parameters
        ----------
        pieces : sequence of Piece
            Each the melody alone on 128 pitches (``roll`` ``(time, 128, 1)``, as
            :func:`deepaccomp.piece.read_piece` reads it with ``tracks="melody"``),
            its bars found (``grid.bars``; ``None``: step 0 a downbeat of the meter).
        seed, noise_scale, decoding
            As :meth:`accompany` takes them.
        keep : sequence of (Piece or None), optional
            Per melody, a previous result to keep in part: the melody piece's
            own melody and grid, with every accompaniment track (128 pitches).
        free : sequence of (ndarray or None), optional
            Per kept piece, the cells ``(time, 128, N)`` to draw again
            (:func:`regenerate_cells`). Every other cell and onset of the
            accompaniment is the kept one; the voices' new notes are decoded
            through the kept ones (the model's values everywhere come from
            ``seed`` as usual).

        Returns
        -------
        list of Piece
            Per melody, the melody piece as given with the accompaniment tracks
            ``(time, 128, 1 + N)`` after it, in the melody's key, on its grid;
            silent before the melody's first note, as a musician's would be.
            Pieces of one bar length go through the generator in one batch (each
            batch's noise drawn from ``seed``).
        """
        settings = self.settings(decoding, noise_scale=noise_scale)  # checked before any work
        pieces = list(pieces)
        if not pieces:
            raise ConfigError("no melody given: pass a melody or a non-empty list of melodies")
        model = [to_model_space(p.melody(), self.config) for p in pieces]
        check_melodies([m.roll for m in model])
        keep = [None] * len(pieces) if keep is None else list(keep)
        kept = [None if k is None else pieces[i].with_accompaniment(k.roll[..., 1:], k.onsets[..., 1:])
                for i, k in enumerate(keep)]
        fixed = [None if k is None else self._kept_states(k, free[i]) for i, k in enumerate(kept)]
        out = [None] * len(pieces)
        bars = [m.grid.steps_per_bar for m in model]
        for steps in sorted(set(bars)):
            idx = [i for i, s in enumerate(bars) if s == steps]
            accomps = self.accompany([model[i].roll for i in idx], seed=seed, steps_per_bar=steps,
                                     decoding=settings, fixed=[fixed[i] for i in idx])
            for i, acc in zip(idx, accomps):
                back = from_model_space(model[i].with_accompaniment(acc), self.config)
                new = _from_melody_onset(back.roll[..., 1:], pieces[i].roll)
                new, onsets = _restruck(new, self.config.track_layout) if settings.restrike else (new, None)
                if kept[i] is None:
                    out[i] = pieces[i].with_accompaniment(new, onsets)
                else:
                    out[i] = pieces[i].with_accompaniment(*_merge_kept(kept[i], new, free[i], onsets))
        return out

    def _kept_states(self, kept: Piece, free: np.ndarray) -> np.ndarray:
        """``(model time, N)`` kept state of every accompaniment track in model space: its top pitch
        index in the window (-1: a rest), :data:`FREE` where ``free`` (``(time, 128, N)``) draws it again."""
        model = to_model_space(kept, self.config)
        acc = model.roll[..., 1:]
        top = acc.shape[1] - 1 - np.argmax(acc[:, ::-1], axis=1)
        line = np.where(acc.any(axis=1), top, -1)
        steps = add_lead_in(np.asarray(free, bool).any(axis=1), model.grid.lead_in)
        return np.where(steps[: line.shape[0]], FREE, line)

    def accompany_full(self, melodies, *, seed: int | None = None, noise_scale: float | None = None,
                       steps_per_bar: int = STEPS_PER_BAR, decoding=None, with_onsets: bool = False) -> list:
        """Melodies ``[(time, 128, 1)]`` in any key and octave, step 0 a downbeat of bars of
        ``steps_per_bar`` steps -> accompaniments ``[(time, 128, N)]`` in the melody's key
        (:meth:`generate` on bare rolls); ``with_onsets``: ``[(roll, onsets)]``, the onsets
        ``(time, 128, N)`` telling a re-struck note from a held one (``generation.restrike``).

        The accompaniment starts with the melody's first note, as a musician's
        would: before it (a leading rest) it is silent.
        """
        settings = self.settings(decoding, noise_scale=noise_scale)  # checked before any work
        melodies = check_melodies(melodies)
        grid = TimeGrid.plain(steps_per_bar=steps_per_bar)
        pieces = [Piece.from_roll(m, self.config.track_layout, grid) for m in melodies]
        out = self.generate(pieces, seed=seed, decoding=settings)
        if with_onsets:
            return [(p.roll[..., 1:], p.onsets[..., 1:]) for p in out]
        return [p.roll[..., 1:] for p in out]


def regenerate_cells(piece: Piece, start: int, stop: int, tracks) -> np.ndarray:
    """The accompaniment cells of ``piece`` to draw again: ``(time, pitch, N)`` bool.

    A note belongs to the step where it starts: the notes of the
    accompaniment tracks ``tracks`` (indices, 0 the first accompaniment track)
    that start in steps ``start..stop - 1`` are drawn again, the others kept
    whole. The cells to draw are those steps and the steps of the notes drawn
    again, less the cells of kept notes (a kept note that starts before the
    selection and sounds into it keeps sounding; a note that starts in it and
    sounds past its end frees the steps it held). A voice (a monophonic track)
    is freed or kept step by step, across its pitches; a polyphonic or drum
    track cell by cell.
    """
    roll, onsets = piece.roll[..., 1:], piece.onsets[..., 1:]
    steps = np.arange(roll.shape[0])[:, None, None]
    began = np.maximum.accumulate(np.where(onsets, steps, -1), axis=0)  # start step of the note in each cell
    inside = (began >= start) & (began < stop)
    kept_note = roll & ~inside
    chosen = ((steps >= start) & (steps < stop)) | (roll & inside)
    free = np.zeros(roll.shape, bool)
    for k in tracks:
        track = piece.layout.accompaniment[k]
        if track.drums or track.polyphonic:
            free[..., k] = chosen[..., k] & ~kept_note[..., k]
        else:
            free[..., k] = (chosen[..., k].any(axis=1) & ~kept_note[..., k].any(axis=1))[:, None]
    return free


def _merge_kept(kept: Piece, new: np.ndarray, free: np.ndarray, onsets=None) -> tuple[np.ndarray, np.ndarray]:
    """Accompaniment roll and onsets ``(time, 128, N)``: ``new`` (its ``onsets``, else its runs' starts)
    in the ``free`` cells (a note starting where a free stretch starts), the kept piece's everywhere else."""
    new = new & free
    starts = run_starts(new) if onsets is None else run_starts(new) | (onsets & new)
    roll = np.where(free, new, kept.roll[..., 1:])
    onsets = np.where(free, starts, kept.onsets[..., 1:])
    return roll, onsets


def _restruck(accomp: np.ndarray, layout) -> tuple[np.ndarray, np.ndarray]:
    """The accompaniment ``(time, 128, N)`` and its onsets with the re-strikes the decoding marked
    (``generation.restrike``) read back (:func:`close_restrike_gaps`, a voice only where it is silent);
    drum tracks, whose hits are one step long, are left as they are."""
    roll, onsets = accomp.copy(), run_starts(accomp)
    for poly in (False, True):
        tracks = [k for k, t in enumerate(layout.accompaniment) if not t.drums and t.polyphonic == poly]
        roll[..., tracks], onsets[..., tracks] = close_restrike_gaps(accomp[..., tracks], voices=not poly)
    return roll, onsets


def _from_melody_onset(accomp: np.ndarray, melody: np.ndarray) -> np.ndarray:
    """The accompaniment ``(time, pitch, N)`` silenced before the first note of ``melody`` ``(time, pitch, 1)``."""
    accomp = accomp.copy()
    accomp[:int(np.argmax(melody.any(axis=(1, 2))))] = False
    return accomp


def _stack_padded(melodies, steps: int) -> np.ndarray:
    """Rolls ``[(time, pitch, 1)]`` padded with silence to ``steps`` and stacked: ``(n, steps, pitch, 1)``."""
    return np.stack([np.pad(m, ((0, steps - m.shape[0]), (0, 0), (0, 0))) for m in melodies])


def to_model_space(piece, config: Config):
    """A piece in any key and octave -> the piece in the model's space.

    The key estimated from the melody is moved to C major / A minor by the
    smallest shift, then whole octaves bring the melody's mean pitch near the
    chorale sopranos' (unless the model's ``data.center_melody`` is false); the pitched tracks move by the total (drum tracks never
    move), notes still outside the model's window fold in by octaves, and the
    pitch axis is cropped to the window. A piece whose bars are known
    (``grid.bars``) gets its lead-in, so that step 0 is a downbeat.

    Parameters
    ----------
    piece : Piece
        On 128 pitches (``lowest_pitch`` 0), as read.
    config : Config
        The model's config (its pitch window).

    Returns
    -------
    Piece
        ``roll`` ``(time + lead-in, window, tracks)``, ``key_shift`` the total
        shift in semitones, ``lowest_pitch`` the window's lowest pitch;
        :func:`from_model_space` is its inverse.

    Notes
    -----
    The older form on a melody roll ``(time, 128, 1)`` still works and returns
    ``(model roll (time, window, 1), total shift)``; it is deprecated.
    """
    if not isinstance(piece, Piece):
        warnings.warn("to_model_space(roll, config) is deprecated; pass a deepaccomp.piece.Piece "
                      "(Piece.from_roll(roll)) and read the model roll and key_shift from the result",
                      DeprecationWarning, stacklevel=2)
        return _roll_to_model_space(piece, config)
    if piece.lowest_pitch != 0 or piece.roll.shape[1] != N_MIDI_PITCHES or piece.key_shift:
        raise InvalidRollError("to_model_space takes a piece as read: 128 pitches, no key shift")
    if piece.grid.bars is not None and piece.grid.lead_in == 0:
        piece = piece.with_lead_in(piece.grid.bars.offset)
    melody = piece.roll[..., :1]
    shift = estimate_key(melody).shift_to_c()
    total = shift + _octave_shift(melody, shift, config)
    drums = piece.layout.drum_mask[: piece.roll.shape[2]]
    # one transposition by the total: a melody near pitch 0 or 127 loses no note on the way
    roll, onsets = (_tracks_into_window(transpose_tracks(r, total, drums), drums, config)
                    for r in (piece.roll, piece.onsets))
    return piece.replace(roll=roll, onsets=onsets, key_shift=total, lowest_pitch=config.window.lowest,
                         originals=())


def from_model_space(piece, config: Config, *args):
    """A piece in the model's space -> 128 pitches in the key it was read in: the inverse of
    :func:`to_model_space` (pitch axis restored, the pitched tracks moved back by ``key_shift``,
    the lead-in dropped).

    Notes
    -----
    The older form ``from_model_space(accompaniment (time, window, N), total_shift, config)``
    -> ``(time, 128, N)`` still works; it is deprecated.
    """
    if not isinstance(piece, Piece):
        warnings.warn("from_model_space(roll, shift, config) is deprecated; pass the deepaccomp.piece.Piece "
                      "that to_model_space gives", DeprecationWarning, stacklevel=2)
        return _roll_from_model_space(piece, config, *args)
    drums = piece.layout.drum_mask[: piece.roll.shape[2]]
    roll, onsets = (transpose_tracks(uncrop_pitches(r, config.window), -piece.key_shift, drums)
                    for r in (piece.roll, piece.onsets))
    return piece.replace(roll=roll, onsets=onsets, key_shift=0, lowest_pitch=0).without_lead_in()


def _roll_to_model_space(melody: np.ndarray, config: Config) -> tuple[np.ndarray, int]:
    """Melody ``(time, 128, 1)`` -> ``(model input (time, window, 1), total shift in semitones)``."""
    shift = estimate_key(melody).shift_to_c()
    octave = _octave_shift(melody, shift, config)
    return _fold_into_window(transpose_roll(melody, shift + octave), config), shift + octave


def _roll_from_model_space(accomp: np.ndarray, total_shift: int, config: Config) -> np.ndarray:
    """Accompaniment ``(time, window, N)`` -> ``(time, 128, N)``, the shift undone on the pitched tracks."""
    return transpose_tracks(uncrop_pitches(accomp, config.window), -total_shift,
                            config.track_layout.drum_mask[1:])


def _tracks_into_window(roll: np.ndarray, drums: np.ndarray, config: Config) -> np.ndarray:
    """The pitched tracks folded into the window by octaves (:func:`_fold_into_window`), every track cropped."""
    out = crop_pitches(roll, config.window).copy()
    pitched = ~np.asarray(drums, bool)
    out[..., pitched] = _fold_into_window(roll[..., pitched], config)
    return out


def _octave_shift(melody: np.ndarray, shift: int, config: Config) -> int:
    """Whole octaves that bring the mean pitch of ``melody`` moved by ``shift`` semitones nearest the sopranos';
    0 where the model keeps a melody's own octave (``data.center_melody`` false)."""
    if not config.data.center_melody:
        return 0
    pitches = np.nonzero(melody[..., 0].any(axis=0))[0]
    weights = melody[..., 0].sum(axis=0)[pitches]
    mean = float(np.average(pitches, weights=weights)) + shift
    return 12 * int(round((SOPRANO_CENTER - mean) / 12))


def _fold_into_window(roll: np.ndarray, config: Config) -> np.ndarray:
    """Move notes outside the window by octaves until they fit; crop to the window."""
    window = config.window
    roll = roll.copy()
    for p in np.nonzero(roll.any(axis=(0, 2)))[0]:
        if window.lowest <= p <= window.highest:
            continue
        q = p
        while q < window.lowest:
            q += 12
        while q > window.highest:
            q -= 12
        roll[:, q, :] |= roll[:, p, :]
        roll[:, p, :] = False
    return crop_pitches(roll, window)
