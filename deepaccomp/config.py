"""One typed configuration per run: data, model and training settings.

``Config`` is saved as ``config.json`` beside every run's outputs and every
exported model, and loads back with :meth:`Config.load`. Two presets:

* ``deepcomposer`` reproduces the AWS DeepComposer custom-GAN lab's model and
  optimisation setting for setting (128 pitches, 2-bar phrases,
  8.27M-parameter U-Net, 2.77M critic, Adam 1e-3, 5 critic updates, no
  reconstruction term, 1000 iterations). Its data is ours (all phrases of the
  train split, key-normalised) rather than the lab's 229 unnormalised snippets.
* ``default`` is ours: compact pitch window, smaller filters, a reconstruction
  term and per-voice decoding; see docs/training.md for the measurements behind it.
"""

from __future__ import annotations

import ast
import inspect
import json
import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import NamedTuple

from .decoding import BACH_VERTICALS, MOVE_CLASSES, MOVE_VOICES
from .errors import ConfigError, brief
from .io_utils import FileTooLargeError, NotRegularFileError, atomic_write_bytes, read_bounded
from .decoding import DECODE_METHODS, NOTE_SCORES
from .layout import LAYOUTS, MAX_TRACKS, Layout, get_layout, layout_ref, stored_layout
from .representation import POSITION_CHANNELS, STEPS_PER_BAR, PitchWindow, get_window

MAX_LEVELS = 6
"""Most encoder levels (and critic levels): each halves time and pitch, and 2**6 = 64 is the
compact window's size, so the bottleneck keeps at least one pitch cell."""

MAX_FILTERS = 1024
"""Most filters of any generator or critic layer (the lab's largest is 512)."""

MAX_NOISE_CHANNELS = 1024
"""Most noise channels at the bottleneck (the lab uses 512)."""

MAX_KERNEL_SIZE = 8
"""Largest convolution kernel (both presets use 4)."""

MAX_PHRASE_BARS = 32
"""Longest training phrase and hop, in bars."""

MAX_GENERATOR_PARAMS = 2**25
"""Most generator parameters (33,554,432, 128 MiB as float32): four times the lab's 8.27 million."""

MAX_ENSEMBLE = 4
"""Most generators one model file may average (``model.ensemble``)."""

ENSEMBLE_MEANS = ("value", "log_odds")
"""How an ensemble may join its generators' outputs (``model.ensemble_mean``)."""

MAX_NOISE_SCALE = 1000.0
"""Largest ``generation.noise_scale``: far beyond any useful value (training uses 1, the shipped model 3)."""

MAX_TRAIN_INTEGER = 2**31 - 1
"""Largest value of an integer training setting that sizes no memory (iterations, eval_every,
checkpoint_every); the others have their own bounds below."""

MAX_CRITIC_UPDATES = 32
"""Most critic updates per generator update (``train.critic_updates``): each is unrolled in the
traced training step, so its graph grows with them, and all of them are fetched in one batch.
The lab and WGAN-GP's authors use 5."""

MAX_BATCH_CELLS = 2**24
"""Most cells in one fetched training batch: ``batch_size * critic_updates * phrase steps * window
pitches`` (16,777,216). The input pipeline holds such a batch as bool and as float32 copies, at most
about 66 bytes a cell (6 tracks and 3 position planes), so 2**24 cells stay near 1.1 GB. The
deepcomposer preset's batch is 64 * 5 * 32 * 128 = 1,310,720 cells (12.8 times fewer: a batch of
819 fits at its 5 critic updates), the default preset's 32 * 2 * 32 * 64 = 131,072 (128 times fewer).
``batch_size`` 10**9 asked for 3 GB in 16 s before this bound."""

MAX_SHUFFLE_CELLS = 2**30
"""Most cells in the shuffle buffer: ``shuffle_buffer * phrase steps * window pitches * tracks``, one
byte each (bool phrases): 1 GiB. The default preset's 10,000 phrases are 10,000 * 32 * 64 * 4 =
81,920,000 cells (13 times fewer), the deepcomposer preset's 163,840,000 (6.5 times fewer). It
bounds the buffer's length too, at 2**18 = 262,144 phrases for the smallest (1-bar, compact, 4-track)
phrases: TensorFlow reserves a slot per phrase up front, and 2**30 slots crashed it (exit 139)."""

MAX_CHECKPOINT_MINUTES = 1e7
"""Largest ``train.checkpoint_minutes`` (19 years: in effect, no checkpoints by wall time)."""

MAX_EVAL_MELODIES = 256
"""Most validation phrases generated, decoded and scored at each evaluation (``train.n_eval_melodies``;
the presets use 10)."""

MAX_KEEP_CHECKPOINTS = 100
"""Most checkpoints kept on disk (``train.keep_checkpoints``; default 5). A checkpoint holds both
networks and both Adam states, about 12 bytes a parameter: 100 of the deepcomposer preset's
(11 million parameters) are 13 GB."""

MAX_LEARNING_RATE = 1.0
"""Largest Adam learning rate (``train.generator_lr``, ``train.critic_lr``); the presets use 5e-4 and 1e-3."""

MAX_LOSS_WEIGHT = 1e6
"""Largest weight of a loss term (``gp_weight``, ``reconstruction_weight``, ``pitch_weight``, ``onset_weight``,
``diversity_weight``; the presets use at most 50): the weighted losses stay far inside float32."""

MAX_DECODE_COST = 1e6
"""Largest cost of the "notes" decoding (``onset_cost``, ``parallel_cost``, ``leap_cost``; the default
preset's largest is 20): a line's summed costs over the longest melody (12,312 steps) stay below 1e11."""

MAX_ONSET_FACTOR = 16.0
"""Largest ``generation.lowest_onset_factor`` and ``lowest_balance_factor``: the bass's onset (or balance)
cost at most 16 times the other voices' (at 16 a bass already holds each note through every harmony the
model gives it)."""

MAX_PRESET_CHARS = 64
"""Longest ``preset`` name (printable characters; it names the run and is stored in its model file)."""

MAX_SOURCE_CHARS = 4096
"""Longest ``data.source`` (a path: Linux's PATH_MAX)."""

MAX_CONFIG_BYTES = 1024 * 1024
"""Largest config file :meth:`Config.load` reads (1 MiB; a full config is about 2 KiB). A config
within every bound stays far below it, so it always fits a model file's metadata
(:data:`deepaccomp.artifact.MAX_META_BYTES`, also 1 MiB)."""

SEED_LIMIT = 2**32
"""Seeds are integers ``0 <= seed < 2**32``."""

DISTRIBUTE_CHOICES = ("default", "mirrored", "multi-worker")
"""Values of ``train.distribute`` (see :func:`deepaccomp.training.make_strategy`)."""


@dataclass
class DataConfig:
    """How the training data is built (see docs/representation.md)."""

    source: str = "chorales"
    """"chorales" (music21's Bach chorales), a folder of MIDI files, or a shard folder written by
    ``deepaccomp prepare --source FOLDER --shards OUT`` (streamed: corpora larger than memory)."""
    pitch_window: str = "compact"
    """"compact" (MIDI 28..91) or "full" (all 128 pitches)."""
    phrase_bars: int = 2
    """Phrase length in 4/4 bars (16 steps each)."""
    hop_bars: int = 1
    """Hop between consecutive training phrases, in bars."""
    key_normalize: bool = True
    """Transpose every piece to C major / A minor."""
    layout: str = "satb"
    """Track layout (docs/layouts.md): "satb" (soprano melody + alto, tenor, bass), "lpd5" (melody + drums,
    piano, guitar, bass, strings), "ssatb" (five Renaissance voices), or a layout file's path (stored as
    its whole definition, so the model file carries it)."""
    restrike_gaps: bool = False
    """Train on rolls in which a note struck again while its pitch still sounds (a pop piano's chord
    repeated on the beat) is parted from the note before it by one silent step
    (:func:`deepaccomp.representation.restrike_gaps`), so that the generator's roll can re-strike a held
    pitch and every run it decodes is one note. Only datasets that store onsets (POP909) have such
    notes. Left out of the written config when false."""
    center_melody: bool = True
    """Before generating, move a melody by whole octaves so that its mean pitch lies nearest
    :data:`deepaccomp.generation.SOPRANO_CENTER` (MIDI 67), the chorale sopranos' register; false keeps
    the melody in its own octave (after the key shift), as a model trained on melodies in their own
    register needs (POP909's span MIDI 60-81 in the middle 90% of stretches). Left out of the written
    config when true."""
    format: str = "midi"
    """What a folder ``source`` holds (:data:`SOURCE_FORMATS`): "midi", MIDI files; "pop909", the POP909
    dataset's song folders, read into the "pop" layout (docs/pop909.md). Left out of the written config
    when "midi", so configs and model files written before it are unchanged."""

    def __post_init__(self):
        # a layout file's path, a Layout or a dict is stored as deepaccomp.layout.layout_ref gives it: a
        # preset's name or the whole definition; anything else is left to Config.validate to name
        ref = self.layout
        if isinstance(ref, (Layout, dict, os.PathLike)) or (isinstance(ref, str) and ref and ref not in LAYOUTS):
            try:
                self.layout = layout_ref(get_layout(ref))
            except ConfigError as exc:
                raise ConfigError(f"data.layout: {exc}") from None


@dataclass
class ModelConfig:
    """Generator (U-Net) and critic architecture."""

    encoder_filters: tuple = (64, 128, 256, 512)
    decoder_filters: tuple = (256, 128, 64)
    kernel_size: int = 4
    noise_channels: int = 512
    """Channels of the noise joined at the bottleneck; its time and pitch
    size follow the bottleneck's (``(2, 8, 512)`` for 32 x 128 inputs)."""
    output_tracks: int = 3
    """Generator output channels: the layout's accompaniment tracks (3 for satb: alto, tenor, bass), or one
    more to also regenerate the melody (the lab does; the regenerated melody is then replaced by the given one)."""
    batch_norm_momentum: float = 0.8
    critic_filters: tuple = (64, 128, 256, 512)
    critic_norm: str = "none"
    """"none" or "layer": never batch norm in a WGAN-GP critic."""
    position_channels: bool = False
    """Give the generator and the critic the position in the bar (bar, beat and eighth starts) as
    three extra input channels beside the melody; False = the melody alone (the lab)."""
    melody_octaves: bool = False
    """Give the generator the melody's pitch class in every octave as one more channel
    (:class:`deepaccomp.models.OctaveFold`), so that a low voice sees the melody's note
    in its own register; False = the melody alone (the lab)."""
    critic_octaves: bool = False
    """Give the critic every track (melody and accompaniment) in every octave as well
    (:class:`deepaccomp.models.OctaveFold`, ``soft=True``), so that its first convolution
    sees how each voice sits against the others' pitch classes; False = the tracks as
    they are (the lab)."""
    fixed_length: bool = True
    """True: the generator only takes phrases of exactly the training length
    (the lab). False: fully convolutional in time, so a whole piece is
    accompanied in one pass (lengths padded to a multiple of 16 steps)."""
    ensemble: int = 1
    """Generators of this architecture whose outputs are averaged, each given the same
    melody and noise (1..:data:`MAX_ENSEMBLE`). Each is trained in its own run (its own
    seed, its own critic); :func:`deepaccomp.artifact.combine` joins the runs' model
    files into one. A run trains one generator, so training needs 1."""
    ensemble_mean: str = "value"
    """How an ensemble joins its generators' outputs (:data:`ENSEMBLE_MEANS`): ``"value"`` their
    mean value; ``"log_odds"`` the mean of their log-odds, each value read as the probability
    ``(value + 1) / 2`` that the reconstruction term trains it to be (clipped as
    :func:`deepaccomp.decoding.log_odds` clips it), and written back as a value: a product of
    experts, in which a note one generator all but rules out stays out."""


@dataclass
class TrainConfig:
    """Optimisation, WGAN-GP and monitoring settings."""

    iterations: int = 1000
    """Generator updates."""
    batch_size: int = 64
    """Examples per minibatch (per critic update and per generator update), over all replicas:
    each of N replicas gets batch_size / N."""
    critic_updates: int = 5
    """Critic updates per generator update, each on its own minibatch."""
    gp_weight: float = 10.0
    """Weight of the gradient penalty in the critic loss."""
    generator_lr: float = 1e-3
    """Adam learning rate of the generator."""
    critic_lr: float = 1e-3
    """Adam learning rate of the critic."""
    beta_1: float = 0.5
    """Adam beta_1 of both optimisers."""
    beta_2: float = 0.9
    """Adam beta_2 of both optimisers."""
    reconstruction_weight: float = 0.0
    """Weight of the pix2pix-style term pulling the generator toward the real
    accompaniment (0 reproduces the lab)."""
    reconstruction_loss: str = "bce"
    """"bce" (cross-entropy on (x+1)/2) or "l1"."""
    pitch_weight: float = 0.0
    """Weight of a per-track softmax cross-entropy over pitch at the steps where the real
    track sounds (:func:`deepaccomp.training.pitch_cross_entropy`); 0 = off (the lab)."""
    onset_weight: float = 0.0
    """Weight of a cross-entropy of whether a note of each track starts at each step, against the real
    track's note starts (:func:`deepaccomp.training.onset_loss`): the rhythm, which the per-cell
    reconstruction term does not see; 0 = off (the lab). Left out of the written config when 0."""
    diversity_weight: float = 0.0
    """Weight of the mode-seeking term (Mao et al., MSGAN 2019): the generator is
    rewarded for ``mean|G(m, z1) - G(m, z2)| / mean|z1 - z2|``, so different
    noise gives different accompaniments (0 = off, the lab)."""
    average_decay: float = 0.0
    """Keep an exponential moving average of the generator's weights (Yazici et al. 2019,
    "The unusual effectiveness of averaging in GAN training"), updated after every
    generator update with decay ``min(average_decay, (1 + n) / (10 + n))`` at iteration
    ``n``; the average is what is evaluated and exported (the last weights go to
    ``generator_last.npz``). It does not change the training itself. 0 = off (the lab)."""
    transpose_range: int = 0
    """Data augmentation: each training phrase is transposed by a random whole number of
    semitones in [-transpose_range, transpose_range], all tracks together (notes moved out of
    the pitch window are dropped); drawn per batch from the seed, so a resumed run sees the same
    phrases. 0 = off (the lab)."""
    eval_every: int = 50
    """Iterations between evaluations of the fixed validation melodies (TensorBoard metrics, sample MIDI)."""
    checkpoint_every: int = 50
    """Iterations between checkpoints."""
    checkpoint_minutes: float = 5.0
    """Also checkpoint when this many minutes of wall time have passed since the last
    checkpoint (a killed run loses at most that much work; the data order and noise are unchanged)."""
    keep_checkpoints: int = 5
    """Checkpoints kept on disk (the oldest are deleted)."""
    n_eval_melodies: int = 10
    """Validation phrases generated at each evaluation."""
    seed: int = 0
    """Seed of the weights, the data order and the training noise."""
    jit_compile: bool = False
    """Compile the training step with XLA (see docs/performance.md)."""
    mixed_precision: str = "off"
    """"off" (float32) or "bfloat16": layers compute in bfloat16 with float32
    weights (Keras ``mixed_bfloat16``); the generator's and critic's outputs,
    the losses and the gradient penalty stay float32. Faster on CPUs with
    AVX512_BF16/AMX and on recent GPUs (docs/performance.md). float16 is not
    offered: the gradient penalty's inner gradient is not loss-scaled and would
    underflow."""
    shuffle_buffer: int = 10000
    """Phrases in the tf.data shuffle buffer."""
    distribute: str = "default"
    """How training is spread over devices: "default" (one device), "mirrored" (every GPU or the CPU of this
    machine, tf.distribute.MirroredStrategy) or "multi-worker" (the machines listed in the TF_CONFIG environment
    variable, tf.distribute.MultiWorkerMirroredStrategy; see docs/scaling.md). batch_size stays the global
    minibatch and must divide evenly by the number of replicas."""


@dataclass
class GenerationConfig:
    """How a trained generator's output becomes notes: inference settings, used by every caller of the forward pass.

    A model file carries the values it was trained or combined with as its
    defaults; each call may override any of them (:meth:`with_overrides`:
    ``Accompanist.generate(..., decoding={"onset_cost": 1.0})``, ``deepaccomp
    generate --onset-cost 1``), checked once by :meth:`validate`.
    """

    decode: str = "threshold"
    """How generated values become notes: "threshold" (every cell above the
    threshold, the lab), "voice" (each voice sings its best pitch at each step
    when it is above the threshold) or "notes" (each voice's line chosen at
    once, paying onset_cost per note: see deepaccomp.decoding)."""
    decode_threshold: float = 0.0
    """A cell (threshold), a voice's best pitch (voice) or a step of a note (notes: scores value - threshold) sounds above this value."""
    note_score: str = "value"
    """"notes" decoding: what a sounding step scores, "value" (value - threshold) or "log_odds"
    (the log-odds of the probability (value + 1) / 2 the reconstruction term trains, minus the
    threshold's): the costs below are in the same units."""
    onset_cost: float = 0.0
    """"notes" decoding: cost of starting a note, in units of the note score; higher gives longer notes."""
    sing_with_melody: bool = False
    """"notes" decoding: a voice does not rest while the melody sounds."""
    order_voices: bool = False
    """"notes" decoding: bass, then tenor at or above it, then alto at or above the tenor (no crossing)."""
    parallel_cost: float = 0.0
    """"notes" decoding: cost of each parallel perfect fifth or octave at a beat (against the melody and the voices below)."""
    leap_cost: float = 0.0
    """"notes" decoding: cost of each move of a voice from one pitch straight to another a minor sixth or
    more away (deepaccomp.metrics.LEAP_INTERVAL semitones); higher gives smoother lines."""
    lowest_min_steps: int = 1
    """"notes" decoding: every note of the lowest voice (the bass) lasts at least this many steps
    (1..16; 2 = no 16th notes in the bass)."""
    lowest_onset_factor: float = 1.0
    """"notes" decoding: the lowest voice (the bass) pays ``onset_cost`` times this factor for each note it
    starts (0..16; below 1 the bass moves more than the voices above it, as Bach's eighth-note basses do).
    Left out of the written config when 1."""
    dissonance_cost: float = 0.0
    """"notes" decoding with ``order_voices``: cost, in units of the note score, of every step an upper voice
    sounds a minor second (ninth) or a minor or major seventh above the bass
    (:data:`deepaccomp.decoding.DISSONANT`); higher gives fewer such dissonances. Without ``order_voices``
    the bass is not decoded first and the cost is not charged. Left out of the written config when 0."""
    interval_cost: float = 0.0
    """"notes" decoding: cost, in units of the note score, of every move of a voice straight from one pitch
    to another, times how much rarer than his commonest move that interval is in Bach's chorales
    (:func:`deepaccomp.decoding.interval_costs`: the lowest voice by his basses', the others by his alto and
    tenor lines'); higher gives lines that move more as his do. Left out of the written config when 0."""
    balance_cost: float = 0.0
    """"notes" decoding with ``own_moves``: cost, in units of the note score, of every move of a voice
    straight from one pitch to another, times how much more often than Bach the model makes that interval
    (:func:`deepaccomp.decoding.balance_costs`: the log of the model's share of it over his, within
    :data:`deepaccomp.decoding.RATIO_CLIP`; a move it makes too rarely is rewarded); higher brings the
    model's moves nearer his proportions. Not charged without ``own_moves``. Left out of the written
    config when 0."""
    lowest_balance_factor: float = 1.0
    """"notes" decoding: the lowest voice (the bass) pays ``balance_cost`` times this factor for each move
    (0..16; above 1 its moves are brought nearer Bach's basses' proportions more strongly than the upper
    voices', e.g. more steps by a semitone). Left out of the written config when 1."""
    own_moves: tuple = ()
    """"notes" decoding: the model's own moves, counted under its decoding without ``balance_cost`` on the
    chorale train split's sopranos (by the reproduction of the shipped model: 25 counts, -12..+12 semitones,
    for the alto and tenor together, then 25 for the bass, :data:`deepaccomp.decoding.MOVE_VOICES`), which
    ``balance_cost`` compares with Bach's. Model data, not a command-line option. Left out of the written
    config when empty."""
    bare_cost: float = 0.0
    """"notes" decoding with ``order_voices``: cost, in units of the note score, charged to the voice decoded
    last (the alto) at every beat onset where it leaves the melody and the voices at most two pitch classes
    (:data:`deepaccomp.decoding.BARE_PITCH_CLASSES`: a bare fifth, octave or third); higher gives fuller
    chords on the beat. Without ``order_voices`` it is not charged. Left out of the written config when 0."""
    similar_cost: float = 0.0
    """"notes" decoding: cost, in units of the note score, charged to a voice at every beat onset where it
    moves the way the melody moves from the beat onset before (similar or parallel motion with the tune;
    both change pitch, neither rests); higher gives voices that hold or move against the tune more often,
    as Bach's do. Left out of the written config when 0."""
    vertical_cost: float = 0.0
    """"notes" decoding with ``own_verticals``: cost, in units of the note score, charged to a voice at every
    beat onset for the interval it sounds with the melody and with each voice decoded before it, times how
    much more often than Bach the model sounds that interval between that pair of parts
    (:func:`deepaccomp.decoding.vertical_costs`: the log of the model's share of it over his, within
    :data:`deepaccomp.decoding.RATIO_CLIP`; an interval it sounds too rarely is rewarded); higher brings the
    model's chords nearer his spacing and doubling. Not charged without ``own_verticals``. Left out of the
    written config when 0."""
    own_verticals: tuple = ()
    """"notes" decoding: the model's own intervals between each pair of parts at beat onsets, counted under its
    decoding without ``vertical_cost`` on the chorale train split's sopranos (by the reproduction of the
    shipped model: 12 counts, an interval mod 12, for each of the six pairs soprano-alto, soprano-tenor,
    soprano-bass, alto-tenor, alto-bass, tenor-bass, :func:`deepaccomp.judge.count_verticals`), which
    ``vertical_cost`` compares with Bach's (:data:`deepaccomp.decoding.BACH_VERTICALS`). Model data, not a
    command-line option. Left out of the written config when empty."""
    restrike: bool = False
    """"notes" decoding: a voice's held pitch is struck again on an eighth-note position where the
    generator's score for it dips below ``restrike_threshold`` for one step, the silent step a model
    trained with ``data.restrike_gaps`` puts before a re-struck note
    (:func:`deepaccomp.decoding.mark_restrikes`); the written notes hold through that step. Left out of
    the written config when false."""
    restrike_threshold: float = 0.0
    """"notes" decoding with ``restrike``: the note score (its units) below which one held step reads
    as the gap before a re-strike. Left out of the written config when 0."""
    lowest_restrike_shift: float = 0.0
    """"notes" decoding with ``restrike``: the lowest voice (the bass) reads re-strikes below
    ``restrike_threshold`` plus this shift (its units; below 0 the bass strikes its held notes again
    less often than the voices above it, as Bach's basses do). Left out of the written config when 0."""
    estimate_pickup: bool = True
    """A melody whose first note starts its file under one 4/4 or 3/4 (nothing in the file says where
    its bars are) has its pickup estimated from its rhythm (:func:`deepaccomp.midi.bar_alignment`);
    false: the file's bars are taken as they are (its first note a downbeat), as a DAW exports a song
    from bar 1. A ``pickup`` given to the call wins either way. Left out of the written config when true."""
    noise_scale: float = 1.0
    """The generator's noise is a unit truncated normal (|z| <= 2) times this
    factor. Training always uses 1; larger values give more varied
    accompaniments (the inverse of BigGAN's truncation trick). The shipped
    model's value is chosen on the valid split (docs/model_card.md)."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first setting out of its range."""
        check_section(self, "generation")
        if self.decode not in DECODE_METHODS:
            raise ConfigError(f"generation.decode must be one of {list(DECODE_METHODS)}, got {_shown(self.decode)}")
        if self.note_score not in NOTE_SCORES:
            raise ConfigError(f"generation.note_score must be one of {list(NOTE_SCORES)}, "
                              f"got {_shown(self.note_score)}")
        defaults = {f.name: f.default for f in fields(self)}
        if self.decode != "notes" and any(getattr(self, n) != defaults[n] for n in NOTES_ONLY_SETTINGS):
            raise ConfigError(f"generation.{', '.join(NOTES_ONLY_SETTINGS[:-1])} and {NOTES_ONLY_SETTINGS[-1]} "
                              "apply to decode='notes' only")

    def replace(self, **overrides) -> "GenerationConfig":
        """A validated copy with the given settings changed: ``settings.replace(onset_cost=1.0)``.

        Every per-call override goes through here (``Accompanist.generate(...,
        decoding=...)``, ``deepaccomp generate --onset-cost ...``, the studio, the
        evaluation), so each setting is checked in one place, :meth:`validate`,
        with its one range in :data:`SETTING_BOUNDS`. A ``None`` value keeps the
        setting. Leaving the ``"notes"`` decoding (``decode="threshold"`` or
        ``"voice"`` on settings that decode ``"notes"``) resets the notes-only
        settings (:data:`NOTES_ONLY_SETTINGS`) not given to their defaults.

        Raises
        ------
        ConfigError
            An unknown setting, or a value of the wrong type or out of its range,
            named ``generation.<setting>``.
        """
        values = {k: v for k, v in overrides.items() if v is not None}
        defaults = {f.name: f.default for f in fields(self)}
        unknown = [k for k in values if k not in defaults]
        if unknown:
            raise ConfigError(f"unknown generation settings {_shown(unknown)}; use {sorted(defaults)}")
        settings = asdict(self)
        if self.decode == "notes" and values.get("decode", "notes") != "notes":
            settings.update({k: defaults[k] for k in NOTES_ONLY_SETTINGS})
        settings.update({k: _as_field_type(v, defaults[k]) for k, v in values.items()})
        copy = GenerationConfig(**settings)
        copy.validate()
        return copy

    def with_overrides(self, decoding=None, **overrides) -> "GenerationConfig":
        """The settings of one call: these, with ``decoding`` and ``overrides`` applied, validated.

        Parameters
        ----------
        decoding : None, dict or GenerationConfig
            ``None``: these settings; a dict: the settings it names replaced
            (:meth:`replace`; ``None`` values keep the setting); a
            :class:`GenerationConfig`: complete settings used instead of these.
        **overrides
            Settings by keyword (``noise_scale=2.0``; ``None`` keeps it), applied
            on top of ``decoding``.

        Raises
        ------
        ConfigError
            ``decoding`` of another type, a setting given both in a dict
            ``decoding`` and by keyword, or a bad setting (see :meth:`replace`).
        """
        if decoding is None or isinstance(decoding, GenerationConfig):
            base, values = decoding or self, {}
        elif isinstance(decoding, Mapping):
            base, values = self, {k: v for k, v in decoding.items() if v is not None}
        else:
            raise ConfigError("decoding must be a dict of generation settings (e.g. {'onset_cost': 1.0}) or a "
                              f"GenerationConfig, got {_shown(decoding)}")
        given = {k: v for k, v in overrides.items() if v is not None}
        twice = sorted(set(given) & set(values))
        if twice:
            raise ConfigError(f"generation setting(s) {twice} given both in decoding and as an argument; give each once")
        if base is self and not values and not given:
            return self  # the model's own settings, validated when it was loaded
        return base.replace(**values, **given)


NOTES_ONLY_SETTINGS = ("note_score", "onset_cost", "sing_with_melody", "order_voices", "parallel_cost",
                       "dissonance_cost", "interval_cost", "bare_cost", "restrike", "restrike_threshold",
                       "lowest_restrike_shift", "leap_cost", "lowest_min_steps", "lowest_onset_factor", "balance_cost",
                       "lowest_balance_factor",
                       "own_moves", "similar_cost", "vertical_cost", "own_verticals")
"""The settings of the ``"notes"`` decoding alone; other decodings need them at their defaults (the order of
:meth:`GenerationConfig.validate`'s message)."""


LEGACY_GENERATION_KEYS = ("decode", "decode_threshold", "noise_scale")
"""Settings that lived in the ``train`` section before version 0.2; still read from there."""


@dataclass
class Config:
    """Everything that defines a run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    preset: str = "default"

    # ------------------------------------------------------------------ derived
    @property
    def phrase_steps(self) -> int:
        """Steps per training phrase: ``phrase_bars * 16`` (16th notes, 4/4)."""
        return self.data.phrase_bars * STEPS_PER_BAR

    @property
    def window(self) -> PitchWindow:
        """The model's pitch window (``data.pitch_window`` as a :class:`PitchWindow`)."""
        return get_window(self.data.pitch_window)

    @property
    def levels(self) -> int:
        """Encoder levels of the U-Net: each halves time and pitch."""
        return len(self.model.encoder_filters)

    @property
    def time_unit(self) -> int:
        """Steps a fully convolutional generator's input length must be a multiple of (``2 ** levels``)."""
        return 2**self.levels

    def generator_weight_shapes(self) -> list[tuple]:
        """Shapes of the generator's weights in Keras ``get_weights`` order, computed without Keras.

        The model file's weights are checked against these before any
        network is built (:func:`deepaccomp.artifact.read`). An ensemble holds
        one member's shapes after the other's.
        """
        return self._member_weight_shapes() * self.model.ensemble

    def _member_weight_shapes(self) -> list[tuple]:
        """Shapes of one generator's weights (one member of an ensemble), in ``get_weights`` order."""
        m, k = self.model, self.model.kernel_size
        shapes, channels = [], self.melody_channels + (1 if m.melody_octaves else 0)
        for i, f in enumerate(m.encoder_filters):
            shapes += [(k, k, channels, f), (f,)] + ([(f,)] * 4 if i > 0 else [])
            channels = f
        channels += m.noise_channels
        for i, f in enumerate(m.decoder_filters):
            shapes += [(k, k, channels, f), (f,)] + [(f,)] * 4
            channels = f + m.encoder_filters[-2 - i]
        return shapes + [(k, k, channels, m.output_tracks), (m.output_tracks,)]

    @property
    def generator_params(self) -> int:
        """Number of generator parameters (see :meth:`generator_weight_shapes`)."""
        return sum(math.prod(shape) for shape in self.generator_weight_shapes())

    @property
    def model_steps(self) -> int | None:
        """Fixed input length of the generator in steps, or ``None`` when it takes any multiple of :attr:`time_unit`."""
        return self.phrase_steps if self.model.fixed_length else None

    @property
    def track_layout(self) -> Layout:
        """The :class:`~deepaccomp.layout.Layout` of ``data.layout`` (a preset's name or a whole definition)."""
        return stored_layout(self.data.layout)

    @property
    def regenerates_melody(self) -> bool:
        """Whether the generator also outputs the melody (first channel, dropped at generation)."""
        return self.model.output_tracks == self.track_layout.n_accompaniment + 1

    def with_layout(self, layout) -> "Config":
        """Copy for another layout: ``data.layout`` set and ``model.output_tracks`` sized to its
        accompaniment (plus the melody if this config regenerates it).

        ``layout``: a preset name, a layout file's path, a dict in the layout file format or a
        :class:`~deepaccomp.layout.Layout` (:func:`deepaccomp.layout.get_layout`); a user layout is
        stored whole (:func:`deepaccomp.layout.layout_ref`).
        """
        extra = 1 if self.regenerates_melody else 0
        layout = get_layout(layout)
        return self.replace(data={"layout": layout_ref(layout)},
                            model={"output_tracks": layout.n_accompaniment + extra})

    @property
    def melody_channels(self) -> int:
        """Channels of the generator's and critic's melody input: 1, plus the position planes if on."""
        return 1 + (POSITION_CHANNELS if self.model.position_channels else 0)

    def noise_shape(self, steps: int | None) -> tuple:
        """Generator noise shape (no batch axis) for a melody of ``steps`` steps (``None``: any length)."""
        time = steps // self.time_unit if steps is not None else None
        return (time, self.window.size // self.time_unit, self.model.noise_channels)

    # ------------------------------------------------------------------ I/O
    def to_dict(self) -> dict:
        """Nested plain dict of all sections (JSON-ready); the settings of :data:`OMITTED_WHEN_DEFAULT`
        only where they are not their default (configs and model files written before them stay byte-identical)."""
        d = asdict(self)
        for key in OMITTED_WHEN_DEFAULT:
            section, name = key.split(".")
            if d[section][name] == getattr(self, section).__dataclass_fields__[name].default:
                del d[section][name]
        return d

    def to_json(self) -> str:
        """The config as indented, key-sorted JSON."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path) -> None:
        """Write the config as JSON, atomically (a crash never leaves a partial file)."""
        atomic_write_bytes(path, (self.to_json() + "\n").encode())

    @classmethod
    def from_dict(cls, d: dict) -> "Config":
        """Build and validate a config from a dict; missing settings take the dataclass defaults, unknown ones are a :class:`ConfigError`."""
        if not isinstance(d, dict):
            raise ConfigError("a config must be a JSON object")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown config sections {_shown(sorted(unknown))}")
        d = _move_legacy_generation_keys(d)
        kw = {name: _section(sec_cls, d.get(name, {}), name) for name, sec_cls in SECTIONS.items()}
        cfg = cls(**kw, preset=d.get("preset", "custom"))
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path) -> "Config":
        """Read a config JSON file (see :meth:`from_dict`); unreadable or invalid files give :class:`ConfigError`.

        At most :data:`MAX_CONFIG_BYTES` are read; a larger file is refused.
        """
        shown = brief(os.fspath(path))
        try:
            data = read_bounded(path, MAX_CONFIG_BYTES)
        except FileNotFoundError:
            raise ConfigError(f"{shown}: config file not found") from None
        except NotRegularFileError:
            raise ConfigError(f"{shown}: not a regular file (a directory, pipe or device); give a JSON config "
                              "file") from None
        except FileTooLargeError:
            raise ConfigError(f"{shown}: more than {MAX_CONFIG_BYTES:,} bytes, too large for a config file "
                              "(deepaccomp.config.MAX_CONFIG_BYTES; a full config is about 2 KiB)") from None
        except OSError as exc:
            raise ConfigError(f"{shown}: not a readable JSON config ({brief(str(exc))})") from exc
        try:
            d = json.loads(data.decode("utf-8"), parse_int=read_integer)
        except RecursionError:
            raise ConfigError(f"{shown}: not a readable JSON config (nested too deeply)") from None
        except ValueError as exc:  # not JSON, not UTF-8
            raise ConfigError(f"{shown}: not a readable JSON config ({brief(str(exc))})") from exc
        return cls.from_dict(d)

    def replace(self, **sections) -> "Config":
        """Copy with some fields changed: ``cfg.replace(train={"iterations": 10})``."""
        d = self.to_dict()
        for sec, values in sections.items():
            if isinstance(values, dict):
                d[sec].update(values)
            else:
                d[sec] = values
        return Config.from_dict(d)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first setting out of its range.

        Every setting's type and bounds (:data:`SETTING_BOUNDS`, the ``MAX_*``
        constants of this module) are checked here, before anything of the
        sizes they ask for is allocated; a config that validates also fits a
        model file's metadata.
        """
        dta = self.data
        if isinstance(self.preset, bool) or not isinstance(self.preset, str) or not 0 < len(self.preset) <= \
                MAX_PRESET_CHARS or not self.preset.isprintable():
            raise ConfigError(f"preset must be a name of 1..{MAX_PRESET_CHARS} printable characters, "
                              f"got {_shown(self.preset)}")
        for name in ("data", "model", "train"):
            check_section(getattr(self, name), name)
        if len(dta.source) > MAX_SOURCE_CHARS or "\0" in dta.source:
            raise ConfigError(f"data.source must be \"chorales\" or a path of at most {MAX_SOURCE_CHARS} characters "
                              f"(no NUL), got {_shown(dta.source)}")
        try:
            stored_layout(dta.layout)
        except ConfigError as exc:
            raise ConfigError(f"data.layout: {exc}") from None
        needed = FORMAT_LAYOUTS.get(dta.format)
        if needed is not None and dta.layout != needed:
            raise ConfigError(f"data.format {dta.format!r} gives the {needed!r} layout, not "
                              f"{_shown(stored_layout(dta.layout).name)}: set data.layout to {needed!r} "
                              f"(--layout {needed})")
        self._validate_model()
        self._validate_train()
        self.generation.validate()

    def _validate_model(self) -> None:
        """The architecture: levels, filters, divisibility, parameters, output tracks."""
        m = self.model
        if len(m.decoder_filters) != self.levels - 1:
            raise ConfigError(
                "model.decoder_filters must have one entry fewer than model.encoder_filters"
            )
        if self.levels > MAX_LEVELS or len(m.critic_filters) > MAX_LEVELS:
            raise ConfigError(f"model.encoder_filters and model.critic_filters may have at most {MAX_LEVELS} "
                              f"levels, got {self.levels} and {len(m.critic_filters)}")
        if self.phrase_steps % self.time_unit:
            raise ConfigError(
                f"a phrase of {self.phrase_steps} steps is not divisible by 2**{self.levels} "
                "(one halving per encoder level)"
            )
        if self.generator_params > MAX_GENERATOR_PARAMS:
            raise ConfigError(f"the generator would have {self.generator_params:,} parameters, more than "
                              f"the limit of {MAX_GENERATOR_PARAMS:,}")
        n = self.track_layout.n_accompaniment
        if m.output_tracks not in (n, n + 1):
            raise ConfigError(f"model.output_tracks must be {n} (the {self.track_layout.name} layout's "
                              f"{', '.join(self.track_layout.accompaniment_names)}) or {n + 1} (the melody too)")
        if m.critic_norm not in ("none", "layer"):
            raise ConfigError("model.critic_norm must be 'none' or 'layer' (no batch norm in a WGAN-GP critic)")

    def _validate_train(self) -> None:
        """Choices of the train section, and the memory its batch and shuffle buffer ask for."""
        t = self.train
        cells = self.phrase_steps * self.window.size
        batch = t.batch_size * t.critic_updates * cells
        if batch > MAX_BATCH_CELLS:
            raise ConfigError(
                f"train.batch_size {t.batch_size} x train.critic_updates {t.critic_updates} phrases of "
                f"{self.phrase_steps} steps x {self.window.size} pitches are {batch:,} cells in one batch, more "
                f"than the limit of {MAX_BATCH_CELLS:,} (deepaccomp.config.MAX_BATCH_CELLS); use a batch_size "
                f"of at most {max(1, MAX_BATCH_CELLS // (t.critic_updates * cells))}")
        tracks = len(self.track_layout.tracks)
        buffer = t.shuffle_buffer * cells * tracks
        if buffer > MAX_SHUFFLE_CELLS:
            raise ConfigError(
                f"train.shuffle_buffer {t.shuffle_buffer} phrases of {self.phrase_steps} steps x "
                f"{self.window.size} pitches x {tracks} tracks are {buffer:,} cells, more than the limit of "
                f"{MAX_SHUFFLE_CELLS:,} (deepaccomp.config.MAX_SHUFFLE_CELLS); use a shuffle_buffer of at most "
                f"{max(1, MAX_SHUFFLE_CELLS // (cells * tracks))}")
        if t.reconstruction_loss not in ("bce", "l1"):
            raise ConfigError(f"train.reconstruction_loss must be 'bce' or 'l1', got {_shown(t.reconstruction_loss)}")
        if t.distribute not in DISTRIBUTE_CHOICES:
            raise ConfigError(f"train.distribute must be one of {list(DISTRIBUTE_CHOICES)}, "
                              f"got {_shown(t.distribute)}")
        if t.mixed_precision not in ("off", "bfloat16"):
            raise ConfigError(f"train.mixed_precision must be 'off' or 'bfloat16', got {_shown(t.mixed_precision)}")


class Bound(NamedTuple):
    """The range of a numeric setting: ``low..high`` (an end left out where open); ``whole``: an integer."""

    low: float
    high: float
    whole: bool = False
    open_low: bool = False
    open_high: bool = False
    note: str = ""


MAX_OUTPUT_TRACKS = MAX_TRACKS
"""Most generator output tracks: the largest layout's accompaniment and its melody
(:data:`deepaccomp.layout.MAX_TRACKS`)."""

SETTING_BOUNDS = {
    "data.phrase_bars": Bound(1, MAX_PHRASE_BARS, whole=True, note=" bars"),
    "data.hop_bars": Bound(1, MAX_PHRASE_BARS, whole=True, note=" bars"),
    "model.kernel_size": Bound(1, MAX_KERNEL_SIZE, whole=True),
    "model.noise_channels": Bound(1, MAX_NOISE_CHANNELS, whole=True),
    "model.output_tracks": Bound(1, MAX_OUTPUT_TRACKS, whole=True),
    "model.batch_norm_momentum": Bound(0.0, 1.0, open_high=True),
    "model.ensemble": Bound(1, MAX_ENSEMBLE, whole=True, note=" generators"),
    "train.iterations": Bound(1, MAX_TRAIN_INTEGER, whole=True),
    "train.batch_size": Bound(1, MAX_BATCH_CELLS, whole=True, note=" (and see MAX_BATCH_CELLS)"),
    "train.critic_updates": Bound(1, MAX_CRITIC_UPDATES, whole=True),
    "train.gp_weight": Bound(0.0, MAX_LOSS_WEIGHT),
    "train.generator_lr": Bound(0.0, MAX_LEARNING_RATE, open_low=True),
    "train.critic_lr": Bound(0.0, MAX_LEARNING_RATE, open_low=True),
    "train.beta_1": Bound(0.0, 1.0, open_high=True),
    "train.beta_2": Bound(0.0, 1.0, open_high=True),
    "train.reconstruction_weight": Bound(0.0, MAX_LOSS_WEIGHT),
    "train.pitch_weight": Bound(0.0, MAX_LOSS_WEIGHT),
    "train.onset_weight": Bound(0.0, MAX_LOSS_WEIGHT),
    "train.diversity_weight": Bound(0.0, MAX_LOSS_WEIGHT),
    "train.average_decay": Bound(0.0, 1.0, open_high=True, note=" (0 = off)"),
    "train.transpose_range": Bound(0, 12, whole=True, note=" semitones (0 = off)"),
    "train.eval_every": Bound(1, MAX_TRAIN_INTEGER, whole=True),
    "train.checkpoint_every": Bound(1, MAX_TRAIN_INTEGER, whole=True),
    "train.checkpoint_minutes": Bound(0.0, MAX_CHECKPOINT_MINUTES, open_low=True),
    "train.keep_checkpoints": Bound(1, MAX_KEEP_CHECKPOINTS, whole=True),
    "train.n_eval_melodies": Bound(1, MAX_EVAL_MELODIES, whole=True),
    "train.seed": Bound(0, SEED_LIMIT - 1, whole=True),
    "train.shuffle_buffer": Bound(1, MAX_SHUFFLE_CELLS, whole=True, note=" (and see MAX_SHUFFLE_CELLS)"),
    "generation.decode_threshold": Bound(-1.0, 1.0, open_low=True, open_high=True,
                                         note=", the generator's tanh range (beyond it nothing or everything sounds)"),
    "generation.onset_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.restrike_threshold": Bound(-MAX_DECODE_COST, MAX_DECODE_COST),
    "generation.lowest_restrike_shift": Bound(-MAX_DECODE_COST, MAX_DECODE_COST),
    "generation.dissonance_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.interval_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.balance_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.bare_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.similar_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.vertical_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.parallel_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.leap_cost": Bound(0.0, MAX_DECODE_COST),
    "generation.lowest_min_steps": Bound(1, 16, whole=True, note=" steps"),
    "generation.lowest_onset_factor": Bound(0.0, MAX_ONSET_FACTOR),
    "generation.lowest_balance_factor": Bound(0.0, MAX_ONSET_FACTOR),
    "generation.noise_scale": Bound(0.0, MAX_NOISE_SCALE, open_low=True),
}
"""The range of every numeric setting, ``"section.field": Bound``; :func:`check_section` checks them."""

COUNT_SETTINGS = {"generation.own_moves": len(MOVE_VOICES) * MOVE_CLASSES,
                  "generation.own_verticals": len(BACH_VERTICALS) * 12}
"""Settings that hold a table of counts (empty, or this many whole numbers): model data, no command-line option."""

MAX_COUNT = 10**9
"""Largest count in a table setting (:data:`COUNT_SETTINGS`)."""

OMITTED_WHEN_DEFAULT = ("data.format", "data.restrike_gaps", "data.center_melody", "train.onset_weight",
                        "generation.estimate_pickup", "generation.dissonance_cost", "generation.interval_cost",
                        "generation.bare_cost", "generation.restrike", "generation.restrike_threshold",
                        "generation.lowest_onset_factor", "generation.balance_cost", "generation.own_moves",
                        "generation.lowest_restrike_shift", "generation.similar_cost", "generation.vertical_cost",
                        "generation.own_verticals", "generation.lowest_balance_factor")
"""Settings added after model files were first shipped: written only where not their default."""

SOURCE_FORMATS = ("midi", "pop909")
"""What a folder ``data.source`` holds (``--format``): ``midi``, multi-track MIDI files
(:func:`deepaccomp.data.build_folder`); ``pop909``, the POP909 dataset's song folders with their
annotated beats and keys (:func:`deepaccomp.pop909.build_pop909`, layout ``pop``)."""

FORMAT_LAYOUTS = {"pop909": "pop"}
"""The one layout a source format gives, where it gives only one (``midi`` gives any)."""

SETTING_CHOICES = {
    "data.pitch_window": ("compact", "full"),
    "data.format": SOURCE_FORMATS,
    "model.ensemble_mean": ENSEMBLE_MEANS,
}
"""The values every text setting with a fixed set of values may take; :func:`check_section` checks them."""


def check_section(section, name: str) -> None:
    """Check every field of a config section's type, and its range in :data:`SETTING_BOUNDS`.

    The one check of every setting's type and finiteness: booleans must be
    ``bool``, strings ``str``, layer widths non-empty lists of integers 1..:data:`MAX_FILTERS`
    and numbers within their :class:`Bound` (NaN and infinities never are;
    integers of any size are compared exactly).

    Raises
    ------
    ConfigError
        Naming the first setting of the wrong type or out of its range.
    """
    for f in fields(section):
        key, value, default = f"{name}.{f.name}", getattr(section, f.name), f.default
        if key == "data.layout":
            continue  # a preset's name or a whole layout: checked by Config.validate (stored_layout)
        if isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{key} must be true or false, got {_shown(value)}")
        elif isinstance(default, str):
            if not isinstance(value, str):
                raise ConfigError(f"{key} must be a string, got {_shown(value)}")
            if key in SETTING_CHOICES:
                check_choice(value, key, SETTING_CHOICES[key])
        elif key in COUNT_SETTINGS:
            _check_counts(value, key, COUNT_SETTINGS[key])
        elif isinstance(default, tuple):
            if not isinstance(value, tuple) or not value or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
                raise ConfigError(f"{key} must be a list of positive integers, got {_shown(value)}")
            if max(value) > MAX_FILTERS:  # every list setting is a list of layer widths
                raise ConfigError(f"{key} must be <= {MAX_FILTERS}, got {_shown(list(value))}")
        else:
            check_number(value, key, SETTING_BOUNDS[key])


def _check_counts(value, key: str, size: int) -> None:
    """``value``: empty, or ``size`` whole numbers 0..:data:`MAX_COUNT` (a count setting's table)."""
    if not isinstance(value, tuple) or len(value) not in (0, size) or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_COUNT for v in value):
        raise ConfigError(f"{key} must be empty or {size} whole numbers from 0 to {MAX_COUNT}, got "
                          f"{_shown(list(value) if isinstance(value, tuple) else value)}")


def check_choice(value, name: str, choices: tuple):
    """``value`` if it is one of ``choices``, else :class:`ConfigError` naming ``name`` and the choices."""
    if isinstance(value, str) and value in choices:
        return value
    raise ConfigError(f"{name} must be one of {list(choices)}, got {_shown(value)}")


def check_number(value, name: str, bound: Bound):
    """``value`` if it is a number (an integer where ``bound.whole``) within ``bound``, else :class:`ConfigError`."""
    number = not isinstance(value, bool) and isinstance(value, (numbers.Integral if bound.whole else numbers.Real))
    low_ok = number and (bound.low < value if bound.open_low else bound.low <= value)  # NaN fails both
    if not (low_ok and (value < bound.high if bound.open_high else value <= bound.high)):
        if bound.whole:
            raise ConfigError(f"{name} must be an integer {bound.low}..{bound.high}{bound.note}, got {_shown(value)}")
        low, high = (">" if bound.open_low else ">="), ("<" if bound.open_high else "<=")
        interval = f"{low} {bound.low:g} and {high} {bound.high:g}"
        raise ConfigError(f"{name} must be a finite number {interval}{bound.note}, got {_shown(value)}")
    return value


class _LongInteger:
    """A JSON integer too long for Python to read (over 4,300 digits): refused by :func:`check_number`
    with the name of its setting."""

    def __init__(self, digits: int):
        self.digits = digits

    def __repr__(self):
        return f"an integer of {self.digits:,} digits"


def read_integer(text: str):
    """The integer written ``text`` (a JSON config's, a command-line flag's): an ``int``, or where Python
    refuses to read it (over 4,300 digits) a stand-in that every bound refuses, naming its setting.

    Raises ``ValueError`` where ``text`` is not an integer at all.
    """
    digits = text.strip().lstrip("+-")
    if not (digits.isascii() and digits.isdigit()):
        raise ValueError(f"not an integer: {brief(repr(text))}")
    try:
        return int(text)
    except ValueError:
        return _LongInteger(len(digits))


def _shown(value) -> str:
    """``repr(value)`` as a message shows it: cut (:func:`deepaccomp.errors.brief`); an integer too long
    for Python to print (over 4,300 digits) by its size."""
    if isinstance(value, int) and value.bit_length() > 1000:
        return f"an integer of about {int(value.bit_length() * math.log10(2)):,} digits"
    try:
        return brief(repr(value))
    except ValueError:  # a list holding such an integer
        return f"a {type(value).__name__} holding an integer too long to show"


def check_seed(value, name: str = "seed") -> int | None:
    """``None`` or an integer ``0 <= seed < 2**32``, else :class:`ConfigError`."""
    if value is None:
        return None
    return int(check_number(value, name, SETTING_BOUNDS["train.seed"]))


def _move_legacy_generation_keys(d: dict) -> dict:
    """Read configs written before the ``generation`` section existed (decode and noise settings under ``train``)."""
    train = d.get("train")
    if not isinstance(train, dict) or not any(k in train for k in LEGACY_GENERATION_KEYS):
        return d
    generation = d.get("generation", {})
    if not isinstance(generation, dict):
        raise ConfigError("config section 'generation' must be an object")
    both = [k for k in LEGACY_GENERATION_KEYS if k in train and k in generation]
    if both:
        raise ConfigError(f"{both} given in both 'train' and 'generation'; keep them in 'generation'")
    d = dict(d)
    d["train"] = {k: v for k, v in train.items() if k not in LEGACY_GENERATION_KEYS}
    d["generation"] = {**generation, **{k: train[k] for k in LEGACY_GENERATION_KEYS if k in train}}
    return d


def _section(cls, values: dict, name: str):
    """The section ``cls`` of the JSON object ``values``: unknown keys refused, values read as their
    field's type where that loses nothing; every type and range is checked by :func:`check_section`."""
    if not isinstance(values, dict):
        raise ConfigError(f"config section {name!r} must be an object")
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown settings in {name!r}: {_shown(sorted(unknown))}")
    return cls(**{key: _as_field_type(value, known[key].default) for key, value in values.items()})


def _as_field_type(value, default):
    """A JSON value as its field's type where nothing is lost: a list as a tuple, ``2.0`` as ``2`` for
    an integer setting, ``2`` as ``2.0`` for a float one; anything else unchanged (left to :func:`check_section`)."""
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(default, bool) or isinstance(value, bool):
        return value
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():  # False for NaN, inf
        return int(value)
    if isinstance(default, float) and isinstance(value, int) and abs(value) <= 2**53:
        return float(value)
    return value


def deepcomposer() -> Config:
    """The AWS DeepComposer custom-GAN lab, setting for setting."""
    return Config(
        data=DataConfig(pitch_window="full", phrase_bars=2),
        model=ModelConfig(output_tracks=4, fixed_length=True),
        train=TrainConfig(),
        preset="deepcomposer",
    )


def default() -> Config:
    """Our default: small, fast, and meant to harmonise (see docs/training.md)."""
    return Config(
        data=DataConfig(pitch_window="compact", phrase_bars=2, hop_bars=1, restrike_gaps=True),
        model=ModelConfig(
            encoder_filters=(32, 64, 128, 256),
            decoder_filters=(128, 64, 32),
            noise_channels=16,
            output_tracks=3,
            critic_filters=(16, 32, 64, 128),
            critic_norm="none",
            fixed_length=False,
            melody_octaves=True,
            ensemble_mean="log_odds",  # how the shipped ensemble joins its two runs (docs/judge.md)
        ),
        train=TrainConfig(
            iterations=1500,
            batch_size=32,  # beat 64 (and 4-bar phrases) at half the cost: docs/training.md
            critic_updates=2,
            generator_lr=5e-4,
            critic_lr=5e-4,
            reconstruction_weight=50.0,
            reconstruction_loss="bce",
            diversity_weight=5.0,
            average_decay=0.999,
            eval_every=250,
            checkpoint_every=250,
        ),
        # chosen on valid by scripts/train_default_model.py; the shipped model's own settings (tested). The
        # shipped model is an ensemble of two runs of this preset (seeds 0 and 1, model.ensemble = 2) and holds
        # its own moves and intervals between voices (own_moves, own_verticals, counted by the script), without
        # which balance_cost and vertical_cost are not charged
        generation=GenerationConfig(decode="notes", note_score="log_odds", decode_threshold=-0.75, onset_cost=1.0,
                                    sing_with_melody=True, order_voices=True, parallel_cost=20.0, leap_cost=1.0,
                                    lowest_min_steps=2, lowest_onset_factor=0.5, balance_cost=2.0,
                                    lowest_balance_factor=2.0, dissonance_cost=8.0, bare_cost=8.0, similar_cost=2.0,
                                    vertical_cost=3.0, restrike=True, restrike_threshold=2.0, noise_scale=3.0),
        preset="default",
    )


def pop() -> Config:
    """Pop songs (POP909, ``--format pop909 --source DIR``): the default's networks and training on
    4-bar phrases with the position in the bar, piano and bass under the melody, re-struck notes kept,
    an onset term (weight 10) for where the piano's notes start; the shipped pop model's recipe
    (docs/model_card_pop.md; its noise scale is chosen on valid)."""
    base = default()
    return Config(
        data=DataConfig(pitch_window="compact", phrase_bars=4, hop_bars=1, layout="pop", format="pop909",
                        restrike_gaps=True, center_melody=False),
        model=replace(base.model, output_tracks=2, position_channels=True, ensemble_mean="value"),
        train=replace(base.train, iterations=2500, onset_weight=10.0),
        generation=GenerationConfig(decode="notes", note_score="log_odds", decode_threshold=-0.5, onset_cost=0.25,
                                    lowest_min_steps=2, estimate_pickup=False, noise_scale=3.0),
        preset="pop",
    )


PRESETS = {"deepcomposer": deepcomposer, "default": default, "pop": pop}

SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig, "generation": GenerationConfig}
"""The config's sections by name, in file order."""


def preset(name: str) -> Config:
    """Return a fresh copy of a named preset."""
    try:
        return PRESETS[name]()
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; use one of {sorted(PRESETS)}") from None


def field_docs(section) -> dict:
    """``{field: first line of its docstring}`` of a config section class (empty where a field has none).

    The docstrings written under each field in this module are the one
    description of every setting: the CLI's ``--help`` is built from them.
    """
    tree = ast.parse(inspect.getsource(section))
    body = tree.body[0].body
    docs = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def config_path(folder) -> str:
    """Path of the ``config.json`` saved in a run or model folder."""
    return os.path.join(os.fspath(folder), "config.json")


__all__ = ["Config", "DataConfig", "ModelConfig", "TrainConfig", "GenerationConfig", "SECTIONS",
           "field_docs", "preset", "PRESETS", "deepcomposer", "default", "pop", "config_path",
           "NOTES_ONLY_SETTINGS", "check_seed", "MAX_LEVELS", "MAX_FILTERS", "MAX_NOISE_CHANNELS",
           "MAX_KERNEL_SIZE", "MAX_PHRASE_BARS", "MAX_GENERATOR_PARAMS", "MAX_ENSEMBLE", "ENSEMBLE_MEANS",
           "MAX_NOISE_SCALE",
           "MAX_TRAIN_INTEGER", "SEED_LIMIT", "DISTRIBUTE_CHOICES", "MAX_CRITIC_UPDATES", "MAX_BATCH_CELLS",
           "MAX_SHUFFLE_CELLS", "MAX_CHECKPOINT_MINUTES", "MAX_EVAL_MELODIES", "MAX_KEEP_CHECKPOINTS",
           "MAX_LEARNING_RATE", "MAX_LOSS_WEIGHT", "MAX_DECODE_COST", "MAX_ONSET_FACTOR", "COUNT_SETTINGS", "MAX_COUNT",
           "MAX_PRESET_CHARS",
           "MAX_SOURCE_CHARS",
           "MAX_CONFIG_BYTES", "MAX_OUTPUT_TRACKS", "Bound", "SETTING_BOUNDS", "SETTING_CHOICES", "SOURCE_FORMATS", "FORMAT_LAYOUTS",
           "check_section", "check_choice", "check_number",
           "read_integer"]
