"""Exercise ``fgsm`` (chapter 0, docs/00-threat-models.md): FGSM from scratch.

Write the Fast Gradient Sign Method: x_adv = clip(x + ε·sign(∇ₓ CE(model(x), y)), 0, 1) for a
batch of images in [0, 1]. Use the input gradient of the cross-entropy of the true labels, and
return a tensor of x's shape and dtype. aisec's FGSM leaves the points the model already gets
wrong unchanged; yours may attack them too (they are not compared).

Check it:  aisec exercise check fgsm
"""

from torch import Tensor, nn


def fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor:
    """One signed gradient step of size ``eps`` on images ``x`` (N, C, H, W) with labels ``y``."""
    raise NotImplementedError
