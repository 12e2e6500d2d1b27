"""The deepaccomp exception family.

Every error a user can cause (a bad MIDI file, a meter we do not support, a
damaged checkpoint, ...) is raised as a subclass of :class:`DeepAccompError`
with a message that says what was wrong and what to do about it.
"""

from __future__ import annotations


class DeepAccompError(Exception):
    """Base class of every error deepaccomp raises on purpose."""


class InvalidMidiError(DeepAccompError, ValueError):
    """The input is not a readable MIDI file (wrong format, truncated, empty...)."""


class InputTooLargeError(InvalidMidiError):
    """A melody beyond a documented limit (file bytes, MIDI events, notes, bars, steps).

    Refused before anything of its size is allocated; see the "Limits" section
    of docs/errors.md.
    """


class NoMelodyError(DeepAccompError, ValueError):
    """The MIDI file holds no usable (pitched, non-empty) melody."""


class UnsupportedMeterError(DeepAccompError, ValueError):
    """The piece is in a time signature the model cannot handle."""


class InputFileError(DeepAccompError, OSError):
    """A path to read does not exist, is a directory, or cannot be read."""


class OutputFileError(DeepAccompError, OSError):
    """A path to write cannot be written (missing folder, read-only, disk full)."""


class InvalidRollError(DeepAccompError, ValueError):
    """A piano roll has the wrong shape, dtype or length for the operation."""


class ConfigError(DeepAccompError, ValueError):
    """A configuration value or file is invalid."""


class DatasetError(DeepAccompError):
    """A dataset cannot be built or loaded."""


class CheckpointError(DeepAccompError):
    """A checkpoint is corrupted or was written by another configuration."""


class ModelFileError(DeepAccompError):
    """A model artifact is missing, truncated, tampered with or incompatible."""


class TrainingError(DeepAccompError):
    """Training cannot continue (e.g. a non-finite loss)."""


class MissingDependencyError(DeepAccompError, ImportError):
    """A feature needs a package the install left out (training needs the ``train`` extra)."""


class GenerationError(DeepAccompError):
    """The generator produced values that are not finite (NaN or infinite): nothing is decoded."""


TRAIN_EXTRA_HINT = "python3 -m pip install \"deepaccomp[train]\""
"""The command that installs what training, data preparation, TensorBoard and the notebooks need."""


def require(module: str, feature: str):
    """Import and return ``module``, or raise :class:`MissingDependencyError` saying that ``feature`` needs
    the ``train`` extra (the light install generates without TensorFlow, Keras or music21)."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != module.split(".")[0]:
            raise  # the package is there but broken: its own error says more
        raise MissingDependencyError(f"{feature} needs {module.split('.')[0]}, which this install leaves "
                                     f"out; install it with: {TRAIN_EXTRA_HINT}") from None


ECHO_LIMIT = 200
"""Most characters of an outside value (a path, a name, a setting) that an error message repeats."""


def brief(value, limit: int = ECHO_LIMIT) -> str:
    """``value`` as an error message shows it: ``str`` of it, cut to ``limit`` characters with the count of
    the rest, so that a 50 MB path or name never becomes a 50 MB message."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


__all__ = [
    "ECHO_LIMIT",
    "brief",
    "DeepAccompError",
    "InvalidMidiError",
    "InputTooLargeError",
    "NoMelodyError",
    "UnsupportedMeterError",
    "InputFileError",
    "OutputFileError",
    "InvalidRollError",
    "ConfigError",
    "DatasetError",
    "CheckpointError",
    "ModelFileError",
    "TrainingError",
    "GenerationError",
    "MissingDependencyError",
    "TRAIN_EXTRA_HINT",
    "require",
]
