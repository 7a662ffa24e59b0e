"""scikit-learn's bundled 8×8 handwritten digits: the smallest real dataset, for fast tests."""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["DIGIT_CLASSES", "load_digits_tensors"]

DIGIT_CLASSES: tuple[str, ...] = tuple(str(d) for d in range(10))

_TEST_FRACTION = 0.25
_SPLIT_SEED = 1797  # fixed: the train/test partition never depends on the user's seed


def load_digits_tensors(split: str) -> tuple[Tensor, Tensor]:
    """Return the ``split`` of the 1,797 digits as ``(N, 1, 8, 8)`` floats in [0, 1] and labels.

    The partition into train (75%) and test (25%) is fixed and stratified by class.
    """
    from sklearn.datasets import load_digits  # bundled with scikit-learn, no download

    bunch = load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    generator = torch.Generator().manual_seed(_SPLIT_SEED)
    test_mask = torch.zeros(labels.shape[0], dtype=torch.bool)
    for c in range(len(DIGIT_CLASSES)):
        members = (labels == c).nonzero().squeeze(1)
        members = members[torch.randperm(members.numel(), generator=generator)]
        test_mask[members[: round(members.numel() * _TEST_FRACTION)]] = True
    keep = test_mask if split == "test" else ~test_mask
    return images[keep].contiguous(), labels[keep].contiguous()
