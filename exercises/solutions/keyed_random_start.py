"""Reference solution of the ``keyed_random_start`` exercise (chapter 6)."""

import torch
from torch import Tensor

from aisec.seeding import example_generator


def random_start(x: Tensor, ids: Tensor, eps: float, seed: int) -> Tensor:
    """x0 (N, ...) = clip(x + δ, 0, 1), δ uniform in [−eps, eps], row i keyed by (seed, ids[i])."""
    rows = []
    for image, index in zip(x, ids.tolist(), strict=True):
        generator = example_generator(seed, index, device=x.device)
        noise = torch.rand(image.shape, generator=generator, dtype=x.dtype, device=x.device)
        rows.append(image + (2 * noise - 1) * eps)
    return torch.stack(rows).clamp(0, 1) if rows else x.clone()
