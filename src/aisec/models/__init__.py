"""Models: small architectures, a resumable training loop, checkpoints and the model zoo."""

from __future__ import annotations

from aisec.models.architectures import Normalized, SmallCNN
from aisec.models.checkpoint import CorruptCheckpointError, load_checkpoint, save_checkpoint
from aisec.models.efficientnet import efficientnet_lite0
from aisec.models.training import TrainConfig, TrainResult, accuracy, train_classifier
from aisec.models.zoo import ModelSpec, ModelStatus, list_models, load, model_spec, train

__all__ = [
    "CorruptCheckpointError",
    "ModelSpec",
    "ModelStatus",
    "Normalized",
    "SmallCNN",
    "TrainConfig",
    "TrainResult",
    "accuracy",
    "efficientnet_lite0",
    "list_models",
    "load",
    "load_checkpoint",
    "model_spec",
    "save_checkpoint",
    "train",
    "train_classifier",
]
