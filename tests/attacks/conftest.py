"""A tiny CNN trained on scikit-learn's 8×8 digits, shared by the attack and evaluation tests.

It trains in a few seconds with a seeded loop (no global RNG is touched) and reaches high clean
accuracy, so that "accuracy under attack" has room to fall.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from torch import Tensor, nn


@dataclass(frozen=True)
class Digits:
    """A trained model and held-out test data: images ``(N, 1, 8, 8)`` in ``[0, 1]``."""

    model: nn.Module
    x: Tensor
    y: Tensor


def make_digits_cnn() -> nn.Module:
    """The architecture: two 3×3 convolutions with a pooling layer between, and a linear head."""
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(16 * 4 * 4, 10),
    )


def train_digits_cnn(seed: int = 0, epochs: int = 10) -> Digits:
    """Train the CNN on 1,497 digits and return it (eval mode) with the other 300 as test set."""
    data = load_digits()
    images = torch.tensor(data.images / 16.0, dtype=torch.float32)[:, None]
    labels = torch.tensor(data.target, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(labels), generator=generator)
    train_idx, test_idx = order[300:], order[:300]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = make_digits_cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    x_train, y_train = images[train_idx], labels[train_idx]
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(y_train), generator=generator)
        for start in range(0, len(perm), 64):
            batch = perm[start : start + 64]
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    for p in model.parameters():
        p.grad = None
    return Digits(model, images[test_idx], labels[test_idx])


def device_under_test() -> torch.device:
    """Where the attack tests run: ``$AISEC_TEST_DEVICE`` (e.g. ``cuda``), else the CPU."""
    return torch.device(os.environ.get("AISEC_TEST_DEVICE", "cpu"))


@pytest.fixture(scope="session")
def digits() -> Digits:
    """The trained digits CNN and 300 held-out test images, on :func:`device_under_test`."""
    with one_thread():
        trained = train_digits_cnn()
    device = device_under_test()
    return Digits(trained.model.to(device), trained.x.to(device), trained.y.to(device))


@contextmanager
def one_thread() -> Iterator[None]:
    """Run on one intra-op thread: for 8×8 images thread start-up costs more than it saves."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def single_thread() -> Iterator[None]:
    """One intra-op thread for a test module (use with ``pytest.mark.usefixtures``)."""
    with one_thread():
        yield
