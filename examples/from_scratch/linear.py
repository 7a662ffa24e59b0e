"""The exact L∞ worst case of a linear classifier, in closed form.

Quoted in docs/00-threat-models.md ("A linear model: the worst case in closed form");
tests/docs/test_from_scratch.py checks that the quote is this file, that the point is inside the
threat model, that it is at least as bad as PGD's and that PGD reaches it.

Reference: I. Goodfellow, J. Shlens, C. Szegedy, "Explaining and Harnessing Adversarial
Examples", ICLR 2015 (the linear view); Kolter & Madry, "Adversarial Robustness - Theory and
Practice", NeurIPS 2018 tutorial, chapter 2 (linear models).
"""

import torch
from torch import Tensor


def linear_worst_case(weight: Tensor, bias: Tensor, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """The point of {‖δ‖∞ ≤ ε} ∩ [0, 1]^d that minimises the margin z_y − max_{j≠y} z_j of
    z = W x + b, exactly: weight (K, d), bias (K,), x (N, d), y (N,) -> x_adv (N, d)."""
    w = weight[y][:, None, :] - weight[None, :, :]  # (N, K, d): w_y − w_j for every class j
    b = bias[y][:, None] - bias[None, :]  # (N, K)
    corners = (x[:, None, :] - eps * w.sign()).clamp(0, 1)  # the best point against each j
    margins = (w * corners).sum(-1) + b  # (N, K): z_y − z_j at that point
    margins[torch.arange(len(y)), y] = torch.inf  # j = y is not a rival class
    return corners[torch.arange(len(y)), margins.argmin(1)]
