"""Reference solution of the ``evade_squeezing`` exercise (chapter 2).

The detector compares the model's softmax on x with its softmax on the squeezed x. An attack that
makes *both* views wrong (the sum of their cross-entropies) also makes them agree, so the score
stays low; each example keeps its first iterate that fools the model and is not flagged.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.defenses.detect import FeatureSqueezing


def evade_squeezing(
    model: nn.Module, detector: FeatureSqueezing, x: Tensor, y: Tensor, eps: float
) -> Tensor:
    """Adversarial examples within ‖x_adv − x‖∞ ≤ eps that the detector does not flag."""
    steps = 40
    x = x.detach()
    lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    alpha = 2.5 * eps / steps
    threshold = float("inf") if detector.threshold is None else detector.threshold
    x_adv, found = x.clone(), x.clone()
    done = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        views = detector.view_logits(x_adv)  # [on x, on the squeezed x]
        score = detector.score_from_logits(views)
        good = (views[0].argmax(1) != y) & (score <= threshold) & ~done
        found[good] = x_adv.detach()[good]
        done |= good
        loss = torch.stack([F.cross_entropy(view, y, reduction="sum") for view in views]).sum()
        (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), lower), upper)
    found[~done] = x_adv[~done]
    return found
