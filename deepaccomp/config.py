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
from dataclasses import asdict, dataclass, field, fields

from .errors import ConfigError
from .io_utils import atomic_write_bytes
from .decoding import DECODE_METHODS, NOTE_SCORES
from .layout import LAYOUTS, Layout, get_layout
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

MAX_NOISE_SCALE = 1000.0
"""Largest ``generation.noise_scale``: far beyond any useful value (training uses 1, the shipped model 2)."""

MAX_TRAIN_INTEGER = 2**31 - 1
"""Largest value of an integer training setting (iterations, batch size, buffer...)."""

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
    piano, guitar, bass, strings) or "ssatb" (five Renaissance voices)."""


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
    """How a trained generator's output becomes notes (used by every caller of the forward pass)."""

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
    noise_scale: float = 1.0
    """The generator's noise is a unit truncated normal (|z| <= 2) times this
    factor. Training always uses 1; larger values give more varied
    accompaniments (the inverse of BigGAN's truncation trick). The shipped
    model's value is chosen on the valid split (docs/model_card.md)."""

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first setting out of its range."""
        if self.decode not in DECODE_METHODS:
            raise ConfigError(f"generation.decode must be one of {list(DECODE_METHODS)}, got {self.decode!r}")
        if not -1.0 < self.decode_threshold < 1.0:  # also refuses NaN
            raise ConfigError(f"generation.decode_threshold must be finite and in (-1, 1), the generator's "
                              f"tanh range (beyond it nothing or everything sounds), got {self.decode_threshold!r}")
        if self.note_score not in NOTE_SCORES:
            raise ConfigError(f"generation.note_score must be one of {list(NOTE_SCORES)}, got {self.note_score!r}")
        for name in ("onset_cost", "parallel_cost", "leap_cost"):
            if not math.isfinite(getattr(self, name)):
                raise ConfigError(f"generation.{name} must be finite, got {getattr(self, name)!r}")
        if self.onset_cost < 0 or self.parallel_cost < 0 or self.leap_cost < 0:
            raise ConfigError("generation.onset_cost, generation.parallel_cost and generation.leap_cost must be >= 0")
        _check_whole(self.lowest_min_steps, "generation.lowest_min_steps", 1, 16, "steps")
        if self.decode != "notes" and (self.onset_cost or self.sing_with_melody or self.order_voices
                                       or self.parallel_cost or self.leap_cost or self.lowest_min_steps != 1
                                       or self.note_score != "value"):
            raise ConfigError("generation.note_score, onset_cost, sing_with_melody, order_voices, parallel_cost, "
                              "leap_cost and lowest_min_steps apply to decode='notes' only")
        check_noise_scale(self.noise_scale, "generation.noise_scale")


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
        """The :class:`~deepaccomp.layout.Layout` named by ``data.layout``."""
        return get_layout(self.data.layout)

    @property
    def regenerates_melody(self) -> bool:
        """Whether the generator also outputs the melody (first channel, dropped at generation)."""
        return self.model.output_tracks == self.track_layout.n_accompaniment + 1

    def with_layout(self, name: str) -> "Config":
        """Copy for another layout: ``data.layout`` set and ``model.output_tracks`` sized to its
        accompaniment (plus the melody if this config regenerates it)."""
        extra = 1 if self.regenerates_melody else 0
        return self.replace(data={"layout": name},
                            model={"output_tracks": get_layout(name).n_accompaniment + extra})

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
        """Nested plain dict of all sections (JSON-ready)."""
        return asdict(self)

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
            raise ConfigError(f"unknown config sections {sorted(unknown)}")
        d = _move_legacy_generation_keys(d)
        kw = {name: _section(sec_cls, d.get(name, {}), name) for name, sec_cls in SECTIONS.items()}
        cfg = cls(**kw, preset=str(d.get("preset", "custom")))
        cfg.validate()
        return cfg

    @classmethod
    def load(cls, path) -> "Config":
        """Read a config JSON file (see :meth:`from_dict`); unreadable or invalid files give :class:`ConfigError`."""
        if os.path.exists(path) and not os.path.isfile(path):  # a FIFO would block open()
            raise ConfigError(f"{path}: not a regular file (a directory, pipe or device); give a JSON config file")
        try:
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except RecursionError:
            raise ConfigError(f"{path}: not a readable JSON config (nested too deeply)") from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not a readable JSON config ({exc})") from exc
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
        """Raise :class:`ConfigError` naming the first setting out of its range."""
        m, t, dta = self.model, self.train, self.data
        if dta.pitch_window not in ("compact", "full"):
            raise ConfigError(f"data.pitch_window must be 'compact' or 'full', got {dta.pitch_window!r}")
        if dta.phrase_bars < 1 or dta.hop_bars < 1:
            raise ConfigError("data.phrase_bars and data.hop_bars must be >= 1")
        if dta.phrase_bars > MAX_PHRASE_BARS or dta.hop_bars > MAX_PHRASE_BARS:
            raise ConfigError(f"data.phrase_bars and data.hop_bars must be <= {MAX_PHRASE_BARS}")
        if self.levels < 1 or len(m.decoder_filters) != self.levels - 1:
            raise ConfigError(
                "model.decoder_filters must have one entry fewer than model.encoder_filters"
            )
        if self.levels > MAX_LEVELS or len(m.critic_filters) > MAX_LEVELS:
            raise ConfigError(f"model.encoder_filters and model.critic_filters may have at most {MAX_LEVELS} "
                              f"levels, got {self.levels} and {len(m.critic_filters)}")
        for name in ("encoder_filters", "decoder_filters", "critic_filters"):
            if max(getattr(m, name), default=0) > MAX_FILTERS:
                raise ConfigError(f"model.{name} must be <= {MAX_FILTERS}, got {list(getattr(m, name))}")
        if m.noise_channels > MAX_NOISE_CHANNELS or m.kernel_size > MAX_KERNEL_SIZE:
            raise ConfigError(f"model.noise_channels must be <= {MAX_NOISE_CHANNELS} and model.kernel_size "
                              f"<= {MAX_KERNEL_SIZE}, got {m.noise_channels} and {m.kernel_size}")
        if self.phrase_steps % self.time_unit:
            raise ConfigError(
                f"a phrase of {self.phrase_steps} steps is not divisible by 2**{self.levels} "
                "(one halving per encoder level)"
            )
        if m.kernel_size < 1 or m.noise_channels < 1:
            raise ConfigError("model.kernel_size and model.noise_channels must be >= 1")
        _check_whole(m.ensemble, "model.ensemble", 1, MAX_ENSEMBLE, "generators")
        if self.generator_params > MAX_GENERATOR_PARAMS:
            raise ConfigError(f"the generator would have {self.generator_params:,} parameters, more than "
                              f"the limit of {MAX_GENERATOR_PARAMS:,}")
        if not 0.0 <= m.batch_norm_momentum < 1.0:
            raise ConfigError("model.batch_norm_momentum must be in [0, 1)")
        if dta.layout not in LAYOUTS:
            raise ConfigError(f"data.layout must be one of {sorted(LAYOUTS)}, got {dta.layout!r}")
        n = self.track_layout.n_accompaniment
        if m.output_tracks not in (n, n + 1):
            raise ConfigError(f"model.output_tracks must be {n} (the {dta.layout} layout's "
                              f"{', '.join(self.track_layout.accompaniment_names)}) or {n + 1} (the melody too)")
        if m.critic_norm not in ("none", "layer"):
            raise ConfigError("model.critic_norm must be 'none' or 'layer' (no batch norm in a WGAN-GP critic)")
        for name in ("iterations", "batch_size", "critic_updates", "eval_every",
                     "checkpoint_every", "keep_checkpoints", "n_eval_melodies", "shuffle_buffer"):
            if not 1 <= getattr(t, name) <= MAX_TRAIN_INTEGER:
                raise ConfigError(f"train.{name} must be in 1..{MAX_TRAIN_INTEGER}, got {getattr(t, name)}")
        check_seed(t.seed, "train.seed")
        if not (math.isfinite(t.checkpoint_minutes) and t.checkpoint_minutes > 0):
            raise ConfigError(f"train.checkpoint_minutes must be a finite number > 0, got {t.checkpoint_minutes!r}")
        for name in ("generator_lr", "critic_lr"):
            if not getattr(t, name) > 0:
                raise ConfigError(f"train.{name} must be > 0")
        for name in ("gp_weight", "reconstruction_weight", "pitch_weight", "diversity_weight"):
            if not getattr(t, name) >= 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(t, name)!r}")
        _check_whole(t.transpose_range, "train.transpose_range", 0, 12, "semitones", " (0 = off)")
        if not 0.0 <= t.average_decay < 1.0:  # also refuses NaN
            raise ConfigError(f"train.average_decay must be in [0, 1) (0 = off), got {t.average_decay!r}")
        if t.reconstruction_loss not in ("bce", "l1"):
            raise ConfigError("train.reconstruction_loss must be 'bce' or 'l1'")
        if t.distribute not in DISTRIBUTE_CHOICES:
            raise ConfigError(f"train.distribute must be one of {list(DISTRIBUTE_CHOICES)}, got {t.distribute!r}")
        if t.mixed_precision not in ("off", "bfloat16"):
            raise ConfigError(f"train.mixed_precision must be 'off' or 'bfloat16', got {t.mixed_precision!r}")
        self.generation.validate()


def _check_whole(value, name: str, low: int, high: int, unit: str, note: str = "") -> None:
    """Refuse ``value`` unless it is an ``int`` (not a bool) in ``low..high``."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number of {unit} {low}..{high}{note}, got {value!r}")


def check_noise_scale(value, name: str = "noise_scale") -> float:
    """A number in ``(0, MAX_NOISE_SCALE]``, else :class:`ConfigError` (NaN, inf and 1e300 included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= MAX_NOISE_SCALE:
        raise ConfigError(f"{name} must be a number > 0 and <= {MAX_NOISE_SCALE:g}, got {value!r}")
    return float(value)


def check_seed(value, name: str = "seed") -> int | None:
    """``None`` or an integer ``0 <= seed < 2**32``, else :class:`ConfigError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or not 0 <= value < SEED_LIMIT:
        raise ConfigError(f"{name} must be an integer 0..{SEED_LIMIT - 1}, got {value!r}")
    return int(value)


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
    if not isinstance(values, dict):
        raise ConfigError(f"config section {name!r} must be an object")
    known = {f.name: f for f in fields(cls)}
    unknown = set(values) - set(known)
    if unknown:
        raise ConfigError(f"unknown settings in {name!r}: {sorted(unknown)}")
    kw = {}
    for key, value in values.items():
        default = known[key].default
        if isinstance(default, tuple):
            if not isinstance(value, (list, tuple)) or not value or not all(
                    isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value):
                raise ConfigError(f"{name}.{key} must be a list of positive integers, got {value!r}")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{name}.{key} must be true or false, got {value!r}")
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name}.{key} must be a number, got {value!r}")
            if isinstance(default, int) and not isinstance(default, bool):
                if int(value) != value:
                    raise ConfigError(f"{name}.{key} must be an integer, got {value!r}")
                value = int(value)
            else:
                value = float(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{name}.{key} must be a string, got {value!r}")
        kw[key] = value
    return cls(**kw)


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
        data=DataConfig(pitch_window="compact", phrase_bars=2, hop_bars=1),
        model=ModelConfig(
            encoder_filters=(32, 64, 128, 256),
            decoder_filters=(128, 64, 32),
            noise_channels=16,
            output_tracks=3,
            critic_filters=(16, 32, 64, 128),
            critic_norm="none",
            fixed_length=False,
            melody_octaves=True,
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
        # chosen on valid by scripts/train_default_model.py; the shipped model's own settings (tested).
        # The shipped model is an ensemble of two runs of this preset (seeds 0 and 1, model.ensemble = 2)
        generation=GenerationConfig(decode="notes", note_score="log_odds", decode_threshold=-0.5, onset_cost=0.25,
                                    sing_with_melody=True, order_voices=True, parallel_cost=20.0, leap_cost=2.0,
                                    lowest_min_steps=2, noise_scale=3.0),
        preset="default",
    )


PRESETS = {"deepcomposer": deepcomposer, "default": default}

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
           "field_docs", "preset", "PRESETS", "deepcomposer", "default", "config_path",
           "check_noise_scale", "check_seed", "MAX_LEVELS", "MAX_FILTERS", "MAX_NOISE_CHANNELS",
           "MAX_KERNEL_SIZE", "MAX_PHRASE_BARS", "MAX_GENERATOR_PARAMS", "MAX_ENSEMBLE", "MAX_NOISE_SCALE",
           "MAX_TRAIN_INTEGER", "SEED_LIMIT", "DISTRIBUTE_CHOICES"]
