"""Reference solution of the ``eot_sticker`` exercise (chapter 1).

Adam on the sticker's colours; each step renders 16 random views of every stickered digit and
lowers the model's mean probability of the true label over them (RP2's "probability" loss).
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
    views_per_step = 16
    generator = torch.Generator().manual_seed(seed)
    colours = torch.rand(x.shape, generator=generator, dtype=x.dtype).requires_grad_(True)
    optimizer = torch.optim.Adam([colours], lr=0.1)
    labels = y.repeat(views_per_step)
    for _ in range(steps):
        stickered = torch.where(mask > 0.5, colours.clamp(0, 1), x)
        views = sample_views(stickered.repeat(views_per_step, 1, 1, 1), generator)
        p_true = model(views).softmax(dim=1).gather(1, labels[:, None])
        optimizer.zero_grad()
        p_true.mean().backward()
        optimizer.step()
    return torch.where(mask > 0.5, colours.detach().clamp(0, 1), x)
