"""Exercise ``library_adapter`` (chapter 5, docs/05-tools.md): another library's attack in aisec.

aisec.exercises.foreign.fgsm_nhwc(loss_gradient, images, labels, eps) is FGSM in another
library's conventions: NumPy float64 images (N, H, W, C) with pixel values in [0, 255], a budget
in pixel levels, and a callback that returns the loss gradient in that same layout and those
units. Write ForeignFGSM, an aisec EvasionAttack (L∞ only: supported_norms = ("linf",)) whose
_run(ctx) converts ctx.x (N, C, H, W) in [0, 1] and the budget, gives the library a gradient
computed through ctx.model (the model aisec counts), and converts the library's answer back.
aisec's base class then projects, checks and counts, as it does for ART and Foolbox.

Check it:  aisec exercise check library_adapter
"""

from typing import ClassVar

from torch import Tensor

from aisec.attacks.base import AttackContext, EvasionAttack


class ForeignFGSM(EvasionAttack):
    """aisec's contract around the foreign library's FGSM."""

    name = "ForeignFGSM"
    supported_norms: ClassVar[tuple[str, ...]] = ("linf",)

    def _run(self, ctx: AttackContext) -> Tensor:
        """Adversarial versions (n, C, H, W) of ``ctx.x``, from ``fgsm_nhwc``."""
        raise NotImplementedError
