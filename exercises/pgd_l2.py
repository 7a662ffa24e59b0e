"""Exercise ``pgd_l2`` (chapter 0, docs/00-threat-models.md): PGD under an L2 budget.

Write untargeted PGD under an L2 budget: start at a random point of the ball (seeded with
``seed``), then take ``steps`` steps x ← P(x + α·g/‖g‖₂) with g the gradient of the
cross-entropy and P the projection onto {‖x' − x‖₂ ≤ ε} ∩ [0, 1]^d (scale δ down to norm ε, then
clip; a step size of 2.5·ε/steps works). Keep, per example, its first misclassified iterate or
the last one. Every example must stay inside the ball.

Check it:  aisec exercise check pgd_l2
"""

from torch import Tensor, nn


def pgd_l2(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 20, seed: int = 0
) -> Tensor:
    """Adversarial examples (N, C, H, W) with ‖x_adv − x‖₂ ≤ eps for every example."""
    raise NotImplementedError
