"""Reference solution of the ``bpda_jpeg`` exercise (chapter 2)."""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def bpda_pgd(
    model: nn.Module,
    defense: Callable[[Tensor], Tensor],
    x: Tensor,
    y: Tensor,
    eps: float,
    steps: int = 20,
) -> Tensor:
    """L∞ PGD on model(defense(·)) with the defense's gradient replaced by the identity's."""
    x = x.detach()
    lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    alpha = 2.5 * eps / steps
    x_adv = x.clone()
    found = x.clone()
    fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        defended = defense(x_adv.detach()) + (x_adv - x_adv.detach())  # BPDA: identity backward
        logits = model(defended)
        newly = (logits.argmax(1) != y) & ~fooled  # judged on the real defense's output
        found[newly] = x_adv.detach()[newly]
        fooled |= newly
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x_adv)
        step = alpha * grad.sign() * (~fooled).view(-1, *[1] * (x.dim() - 1))
        x_adv = torch.min(torch.max(x_adv.detach() + step, lower), upper)
    found[~fooled] = x_adv[~fooled]
    return found
