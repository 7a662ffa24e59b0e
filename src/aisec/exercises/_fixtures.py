"""What several checkers share: a tiny digits classifier trained in about a second, seeded.

The checkers never load a zoo model or download anything: each builds its victim here, from
scikit-learn's bundled 8×8 digits, with a fixed seed, so that a check takes seconds on a CPU and
gives the same verdict on every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["DigitsTask", "accuracy", "digits_task", "random_shift", "tiny_mlp"]


@dataclass(frozen=True)
class DigitsTask:
    """A trained digits classifier and its data.

    Attributes:
        model: the MLP in eval mode, parameters frozen; images ``(N, 1, 8, 8)`` in [0, 1] to
            logits ``(N, 10)``.
        x_train, y_train: the training split.
        x_test, y_test: ``n_test`` test images and labels (a fixed, seeded choice).
    """

    model: nn.Module
    x_train: Tensor
    y_train: Tensor
    x_test: Tensor
    y_test: Tensor


def tiny_mlp(in_features: int = 64, num_classes: int = 10, width: int = 128) -> nn.Module:
    """Flatten, two hidden ReLU layers of ``width`` and a linear head: images in, logits out."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(in_features, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, num_classes),
    )


def random_shift(images: Tensor, generator: torch.Generator, max_shift: int = 1) -> Tensor:
    """Each image moved by a random whole number of pixels in ``[−max_shift, max_shift]`` along
    each axis, the uncovered border filled with 0 (differentiable in ``images``).

    Args:
        images: ``(N, C, H, W)``.
        generator: the CPU generator of the shifts.
        max_shift: the largest shift, in pixels.

    Returns:
        ``(N, C, H, W)``.
    """
    n, c, h, w = images.shape
    padded = F.pad(images, (max_shift, max_shift, max_shift, max_shift))
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (torch.arange(h)[None, :] + dy[:, None]).to(images.device)  # (N, H)
    cols = (torch.arange(w)[None, :] + dx[:, None]).to(images.device)  # (N, W)
    width = w + 2 * max_shift
    picked = padded.gather(2, rows[:, None, :, None].expand(n, c, h, width))
    return picked.gather(3, cols[:, None, None, :].expand(n, c, h, w))


def digits_task(
    *,
    n_test: int = 128,
    seed: int = 0,
    epochs: int = 15,
    dtype: torch.dtype = torch.float32,
    shift_augment: bool = False,
) -> DigitsTask:
    """Train :func:`tiny_mlp` on the digits' training split (Adam, batches of 64, seeded).

    Args:
        n_test: test images to keep (a seeded choice of the 450).
        seed: seed of the initialisation, the batches and the choice.
        epochs: passes over the 1,347 training images.
        dtype: the model's and the data's dtype (float64 for bit-exact comparisons).
        shift_augment: train on images shifted by up to one pixel (:func:`random_shift`), so
            that the model reads digits that moved.

    Returns:
        The :class:`DigitsTask`; about 97% test accuracy, in about a second.
    """
    from aisec.data.digits import load_digits_tensors

    x_train, y_train = load_digits_tensors("train")
    x_all, y_all = load_digits_tensors("test")
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the layers' default initialisation draws from it
        model = tiny_mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x_train), generator=generator)
        for start in range(0, len(order), 64):
            batch = order[start : start + 64]
            images = x_train[batch]
            if shift_augment:
                images = random_shift(images, generator)
            loss = F.cross_entropy(model(images), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval().requires_grad_(False)
    model.to(dtype)
    keep = torch.randperm(len(x_all), generator=generator)[:n_test].sort().values
    return DigitsTask(model, x_train.to(dtype), y_train, x_all[keep].to(dtype), y_all[keep].clone())


def accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    """The fraction of ``x`` that ``model`` classifies as ``y`` (no gradients)."""
    if len(y) == 0:
        return float("nan")
    with torch.no_grad():
        return float((model(x).argmax(1) == y).double().mean())
