"""deepaccomp: multi-instrument accompaniment for a melody with a WGAN-GP U-Net.

Public names (TensorFlow is imported only when a model is needed)::

    from deepaccomp import Accompanist           # acc = Accompanist(); acc.generate("melody.mid")
    from deepaccomp import train, Config, preset # train(preset("default"), "runs/x")
    from deepaccomp import metrics, midi, data, representation, errors
"""

from __future__ import annotations

import importlib

from .errors import DeepAccompError

__version__ = "0.1.0"

# Everything else is imported on first use: ``import deepaccomp`` stays instant, so the
# command line (``python -m deepaccomp``) handles Ctrl-C from its first moment.
_LAZY = {
    "Config": ("deepaccomp.config", "Config"),
    "DataConfig": ("deepaccomp.config", "DataConfig"),
    "GenerationConfig": ("deepaccomp.config", "GenerationConfig"),
    "ModelConfig": ("deepaccomp.config", "ModelConfig"),
    "TrainConfig": ("deepaccomp.config", "TrainConfig"),
    "preset": ("deepaccomp.config", "preset"),
    "Accompanist": ("deepaccomp.accompanist", "Accompanist"),
    "train": ("deepaccomp.training", "train"),
    "evaluate_generator": ("deepaccomp.evaluation", "evaluate_generator"),
}
_SUBMODULES = {"metrics", "midi", "data", "representation", "errors", "config", "models",
               "training", "accompanist", "evaluation", "visualization", "compat", "monitoring",
               "cli", "io_utils", "artifact", "generation", "inference"}

__all__ = ["Accompanist", "train", "evaluate_generator", "Config", "DataConfig", "ModelConfig",
           "TrainConfig", "GenerationConfig", "preset", "DeepAccompError", "__version__"]


def __getattr__(name):
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    if name in _SUBMODULES:
        return importlib.import_module(f"deepaccomp.{name}")
    raise AttributeError(f"module 'deepaccomp' has no attribute {name!r}")
