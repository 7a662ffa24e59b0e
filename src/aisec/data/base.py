"""The in-memory dataset types returned by :func:`aisec.data.load`: images and texts.

:func:`split_indices` holds the split and subset rules of the fixed
text corpora (tweets, spam): a split never depends on the user's seed, a subset does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "ImageDataset",
    "TextDataset",
    "balanced_labels",
    "check_count",
    "split_indices",
]


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


@dataclass(frozen=True)
class TextDataset:
    """Texts, integer labels and class names of one split.

    Attributes:
        texts: the texts.
        labels: int64 array ``(N,)`` indexing ``class_names``.
        class_names: one name per class.

    Raises:
        ValueError: ``labels`` is not a one-dimensional integer array with one label per text.
    """

    texts: tuple[str, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]

    def __post_init__(self) -> None:
        labels = self.labels
        if not isinstance(labels, np.ndarray) or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be an integer numpy array, got {type(labels).__name__}")
        if labels.shape != (len(self.texts),):
            raise ValueError(
                f"labels must have shape ({len(self.texts)},) (one per text), got {labels.shape}"
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.texts)


def split_indices(
    labels: np.ndarray,
    split: str,
    *,
    test_fraction: float,
    split_seed: int,
    n: int | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Indices of one split of a fixed stratified partition, or of a balanced subset of it.

    Each class is shuffled with ``split_seed`` and its first ``round(test_fraction * size)``
    members form the test split, the rest the train split: the splits are disjoint and
    stratified, and do not depend on ``seed``. With ``n``, a subset of the split is taken
    round-robin over the classes (as class-balanced as the smaller classes allow), in an order
    shuffled with ``seed``.

    Args:
        labels: int labels ``(N,)`` of the whole corpus (classes ``0 .. K-1``).
        split: ``"train"`` or ``"test"``.
        test_fraction: the share of each class that goes to the test split.
        split_seed: the partition's own constant seed.
        n: the subset's size (the whole split when ``None`` or larger than the split).
        seed: seed of the subset choice.

    Returns:
        int64 indices into ``labels``, in increasing order.

    Raises:
        ValueError: an unknown split or ``n < 1``.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    rng = np.random.default_rng(split_seed)
    chosen: list[np.ndarray] = []
    for cls in range(int(labels.max(initial=-1)) + 1):
        members = np.flatnonzero(labels == cls)
        members = members[rng.permutation(members.size)]
        n_test = round(test_fraction * members.size)
        chosen.append(members[:n_test] if split == "test" else members[n_test:])
    if n is None:
        return np.sort(np.concatenate(chosen)).astype(np.int64)
    sub = np.random.default_rng(seed)
    per_class = [c[sub.permutation(c.size)] for c in chosen]
    # Round-robin over the classes so that the subset is as balanced as possible.
    picked: list[int] = []
    depth = 0
    while len(picked) < n and depth < max((c.size for c in per_class), default=0):
        for members in per_class:
            if depth < members.size and len(picked) < n:
                picked.append(int(members[depth]))
        depth += 1
    return np.array(sorted(picked), dtype=np.int64)
