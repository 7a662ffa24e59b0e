"""Models: small architectures, a resumable training loop, checkpoints and model plumbing.

The named, ready-trained models live one floor up, in :mod:`aisec.zoo`.
"""

from __future__ import annotations

from aisec.models.architectures import Normalized, SmallCNN
from aisec.models.checkpoint import CorruptCheckpointError, load_checkpoint, save_checkpoint
from aisec.models.efficientnet import efficientnet_lite0
from aisec.models.plumbing import CountingModel, Model, eval_mode
from aisec.models.training import TrainConfig, TrainResult, accuracy, train_classifier

__all__ = [
    "CorruptCheckpointError",
    "CountingModel",
    "Model",
    "Normalized",
    "SmallCNN",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "efficientnet_lite0",
    "eval_mode",
    "load_checkpoint",
    "save_checkpoint",
    "train_classifier",
]
