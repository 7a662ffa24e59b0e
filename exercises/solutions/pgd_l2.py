"""Reference solution of the ``pgd_l2`` exercise (chapter 0)."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pgd_l2(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 20, seed: int = 0
) -> Tensor:
    """Adversarial examples (N, C, H, W) with ‖x_adv − x‖₂ ≤ eps for every example."""
    x = x.detach()
    shape = (-1, *[1] * (x.dim() - 1))  # broadcasts a per-example value over the image

    def norms(t: Tensor) -> Tensor:
        values: Tensor = t.flatten(1).norm(dim=1)
        return values.clamp_min(1e-12).view(shape)

    def project(delta: Tensor) -> Tensor:
        delta = delta * (eps / norms(delta)).clamp(max=1.0)  # onto the ball ...
        return (x + delta).clamp(0, 1) - x  # ... then the box, which only shrinks delta

    generator = torch.Generator(x.device).manual_seed(seed)
    direction = torch.randn(x.shape, generator=generator, dtype=x.dtype, device=x.device)
    radius = torch.rand(x.shape[0], generator=generator, dtype=x.dtype, device=x.device)
    radius = eps * radius ** (1 / x[0].numel())  # uniform in the ball: r ~ eps·u^(1/d)
    delta = project(direction / norms(direction) * radius.view(shape))
    alpha = 2.5 * eps / steps
    found = x.clone()
    fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for _ in range(steps):
        delta.requires_grad_(True)
        logits = model(x + delta)
        newly = (logits.argmax(1) != y) & ~fooled
        found[newly] = (x + delta)[newly].detach()  # keep the first misclassified iterate
        fooled |= newly
        (grad,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), delta)
        delta = project(delta.detach() + alpha * grad / norms(grad))
    found[~fooled] = (x + delta)[~fooled]
    return found
