"""deepaccomp: multi-instrument accompaniment for a melody with a WGAN-GP U-Net.

Public names (TensorFlow is imported only when a model is needed)::

    from deepaccomp import Accompanist           # acc = Accompanist(); acc.generate("melody.mid")
    from deepaccomp import train, Config, preset # train(preset("default"), "runs/x")
    from deepaccomp import metrics, midi, data, representation, errors
"""

from __future__ import annotations

import importlib

from .config import Config, DataConfig, GenerationConfig, ModelConfig, TrainConfig, preset
from .errors import DeepAccompError

__version__ = "0.1.0"

_LAZY = {
    "Accompanist": ("deepaccomp.accompanist", "Accompanist"),
    "train": ("deepaccomp.training", "train"),
    "evaluate_generator": ("deepaccomp.evaluation", "evaluate_generator"),
}
_SUBMODULES = {"metrics", "midi", "data", "representation", "errors", "config", "models",
               "training", "accompanist", "evaluation", "visualization", "compat", "monitoring",
               "cli", "io_utils", "artifact", "generation"}

__all__ = ["Accompanist", "train", "evaluate_generator", "Config", "DataConfig", "ModelConfig",
           "TrainConfig", "GenerationConfig", "preset", "DeepAccompError", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"deepaccomp.{name}")
    raise AttributeError(f"module 'deepaccomp' has no attribute {name!r}")
