"""The in-memory image dataset type returned by :func:`aisec.data.load`."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ImageDataset", "balanced_labels", "check_count"]


@dataclass(frozen=True)
class ImageDataset:
    """Images, integer labels and class names of one split.

    Attributes:
        name: the dataset's registry name, e.g. ``"signs"``.
        split: ``"train"`` or ``"test"``.
        images: float32 tensor ``(N, C, H, W)`` with values in ``[0, 1]``.
        labels: int64 tensor ``(N,)`` with values in ``[0, num_classes)``.
        class_names: one human-readable name per class.
    """

    name: str
    split: str
    images: Tensor
    labels: Tensor
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.ndim != 4:
            raise ValueError(f"images must be (N, C, H, W), got shape {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must be ({self.images.shape[0]},), got {tuple(self.labels.shape)}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, n: int, seed: int = 0) -> ImageDataset:
        """Return ``n`` examples chosen without replacement, stratified when possible."""
        check_count(n, len(self), self.name, self.split)
        generator = torch.Generator().manual_seed(seed)
        order = torch.randperm(len(self), generator=generator)
        # Interleave classes so that the first n of the order are as balanced as the data allow.
        labels = self.labels[order]
        rank = torch.zeros_like(labels)
        for c in labels.unique():
            members = (labels == c).nonzero().squeeze(1)
            rank[members] = torch.arange(members.numel())
        keys = rank * self.num_classes + labels
        chosen = order[torch.argsort(keys, stable=True)[:n]]
        chosen, _ = chosen.sort()
        return ImageDataset(
            self.name, self.split, self.images[chosen], self.labels[chosen], self.class_names
        )


def check_count(n: int, available: int, name: str, split: str) -> None:
    """Raise a clear ``ValueError`` when ``n`` is not a valid number of examples."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if n > available:
        raise ValueError(
            f"n={n} is larger than the {split!r} split of {name!r}, which has {available} examples"
        )


def balanced_labels(n: int, num_classes: int, generator: torch.Generator) -> Tensor:
    """``n`` labels with every class as equally often as possible, in a seeded random order."""
    labels = torch.arange(n) % num_classes
    return labels[torch.randperm(n, generator=generator)]
