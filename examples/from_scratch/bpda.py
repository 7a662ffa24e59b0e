"""BPDA with the identity (the straight-through estimator) around bit-depth reduction.

Quoted in docs/02-vision-defenses.md ("BPDA, written yourself"); tests/docs/test_from_scratch.py
checks that the quote is this file and that its forward pass and gradient, and PGD through it,
equal those of aisec's ``PreprocessedModel(model, BitDepthReduction(bits)).with_bpda()``.

Reference: A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of
Security: Circumventing Defenses to Adversarial Examples", ICML 2018 (Section 4.1).
"""

from torch import Tensor, nn


def reduce_bits(x: Tensor, bits: int) -> Tensor:
    """Round pixels in [0, 1] to 2**bits levels: the defense, with a zero gradient."""
    levels = 2**bits - 1
    return x.mul(levels).round().div(levels)


class BPDABits(nn.Module):
    """model(reduce_bits(x)) forward; backward, the gradient as if reduce_bits were the identity."""

    def __init__(self, model: nn.Module, bits: int) -> None:
        super().__init__()
        self.model, self.bits = model, bits

    def forward(self, x: Tensor) -> Tensor:
        squeezed = reduce_bits(x.detach(), self.bits) + (x - x.detach())  # value + exactly 0
        out: Tensor = self.model(squeezed)
        return out
