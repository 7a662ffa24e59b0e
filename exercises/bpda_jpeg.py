"""Exercise ``bpda_jpeg`` (chapter 2, docs/02-vision-defenses.md): BPDA through JPEG.

The deployed classifier is model(defense(x)), where defense is the JPEG round trip at quality
75: exact, but with no gradient (its output is detached), so plain PGD through it has nothing to
follow and PGD on the bare model transfers poorly. Write L∞ PGD with BPDA: run the real defense
in the forward pass and treat it as the identity in the backward pass (defense(x) + x − x.detach()
has the defense's value and the identity's gradient). The defense is a plain function here: the
checker judges your x_adv on the real JPEG defense.

Check it:  aisec exercise check bpda_jpeg
"""

from collections.abc import Callable

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
    raise NotImplementedError
