"""Exercise ``eot_sticker`` (chapter 1, docs/01-physical-attacks.md): a sticker that survives.

Optimise an opaque sticker x_s = (1 − M)·x + M·s (values s in [0, 1]) over the two bottom rows of
each digit so that the model misreads it from random viewpoints. sample_views(images, generator)
returns one random view of each image (a shift of up to a pixel, lighting, sensor noise;
differentiable): average the loss over several views per step (Expectation over Transformation)
instead of attacking the one image you see. The checker judges your stickers on 32 views per
digit from a seed you never saw: at least 88% of them must be misread.

Shapes: x (N, 1, 8, 8) in [0, 1], y (N,), mask (1, 1, 8, 8) of 0s and 1s.

Check it:  aisec exercise check eot_sticker
"""

from collections.abc import Callable

import torch
from torch import Tensor, nn


def eot_sticker(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    mask: Tensor,
    sample_views: Callable[[Tensor, torch.Generator], Tensor],
    steps: int = 150,
    seed: int = 0,
) -> Tensor:
    """The digits with their stickers: equal to ``x`` outside ``mask``, in [0, 1] inside."""
    raise NotImplementedError
