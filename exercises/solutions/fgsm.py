"""Reference solution of the ``fgsm`` exercise (chapter 0)."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """One signed gradient step of size ``eps`` on images ``x`` (N, C, H, W) with labels ``y``."""
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model(x), y, reduction="sum")  # the sum: each row's own gradient
    (grad,) = torch.autograd.grad(loss, x)
    return (x.detach() + eps * grad.sign()).clamp(0, 1)
