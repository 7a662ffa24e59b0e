"""A small signs classifier trained in seconds, shared by the physical-attack tests.

The zoo's ``signs-cnn`` takes minutes to train, so the tests train their own narrow SmallCNN on
a few thousand procedural sign scenes (same renderer, same 32-px images), seeded, in a
session fixture. It recognises canonical signs under the EOT conditions well enough that a
sticker attack has something to overcome.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aisec.data import load as load_data
from aisec.models import SmallCNN, TrainConfig, train_classifier


def train_small_signs_cnn(n: int = 4_000, epochs: int = 8, seed: int = 0) -> nn.Module:
    """A SmallCNN (16-32-64 channels) trained on ``n`` sign scenes, in eval mode."""
    data = load_data("signs", "train", n=n, seed=seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = SmallCNN(3, len(data.class_names), widths=(16, 32, 64), hidden=64)
    config = TrainConfig(epochs=epochs, batch_size=128, lr=4e-3, seed=seed)
    train_classifier(model, data.images, data.labels, config, progress=False)
    return model.eval()


@pytest.fixture(scope="session")
def signs_model() -> nn.Module:
    """The small trained signs classifier (eval mode)."""
    return train_small_signs_cnn()


@pytest.fixture
def tiny_model() -> nn.Module:
    """An untrained 12-class CNN: enough for checks that do not need a meaningful model."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, 12),
        )
