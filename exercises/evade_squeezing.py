"""Exercise ``evade_squeezing`` (chapter 2, docs/02-vision-defenses.md): evade feature squeezing.

A feature-squeezing detector (aisec's FeatureSqueezing with 2-bit depth reduction, calibrated to
flag 5% of clean digits) protects the model. Write a detector-aware L∞ attack: an example counts
only if the model misclassifies it and detector.detect does not flag it.
detector.view_logits(x) gives the logits on x and on the squeezed x (differentiable, BPDA through
the squeezer) and detector.threshold the threshold. Plain PGD is caught: its examples fool the
unsqueezed model only. Goal: at least 80% of the correctly classified digits fool the model and
are not flagged.

Check it:  aisec exercise check evade_squeezing
"""

from torch import Tensor, nn

from aisec.defenses.detect import FeatureSqueezing


def evade_squeezing(
    model: nn.Module, detector: FeatureSqueezing, x: Tensor, y: Tensor, eps: float
) -> Tensor:
    """Adversarial examples within ‖x_adv − x‖∞ ≤ eps that the detector does not flag."""
    raise NotImplementedError
