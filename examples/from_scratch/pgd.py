"""L∞ PGD in plain PyTorch, step for step as ``aisec.attacks.PGD`` runs it.

Quoted in docs/00-threat-models.md ("PGD in fifteen lines"); tests/docs/test_from_scratch.py
checks that the quote is this file and that the result equals ``aisec.PGD``'s on the same seed.

Reference: A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep Learning Models
Resistant to Adversarial Attacks", ICLR 2018.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pgd_linf(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 20, seed: int = 0
) -> Tensor:
    """Untargeted L∞ PGD on the cross-entropy: images ``x`` (N, ...) in [0, 1], labels (N,)."""
    alpha = 2.5 * eps / steps  # the step size of Madry et al.'s code
    with torch.no_grad():
        todo = model(x).argmax(1) == y  # a point the model already gets wrong stays at x
    x0, y0 = x[todo], y[todo]
    lower, upper = (x0 - eps).clamp(min=0), (x0 + eps).clamp(max=1)  # the ball ∩ [0, 1]
    generator = torch.Generator(x.device).manual_seed(seed)
    noise = torch.rand(x0.shape, generator=generator, dtype=x.dtype, device=x.device)
    x_adv = (x0 + (2 * noise - 1) * eps).clamp(0, 1)  # a uniformly random start
    fooled = torch.zeros_like(y0, dtype=torch.bool)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        logits = model(x_adv)
        loss = F.cross_entropy(logits, y0, reduction="none").sum()
        (grad,) = torch.autograd.grad(loss, x_adv)
        fooled |= logits.argmax(1) != y0  # a point keeps its first misclassified iterate
        step = alpha * grad.sign() * ~fooled.view(-1, *[1] * (x.dim() - 1))
        x_adv = torch.min(torch.max(x_adv.detach() + step, lower), upper)  # step, then project
    out = x.clone()
    out[todo] = x_adv
    return out
