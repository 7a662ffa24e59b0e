"""Exercise ``printable_sticker`` (chapter 1, docs/01-physical-attacks.md): printable colours.

Write Sharif et al.'s non-printability score as RP2 uses it: for every pixel p under the mask,
the product over the palette's colours c_k of the distance ‖p − c_k‖₂, averaged over the masked
pixels (a scalar, differentiable in the image, 0 when every masked pixel is a palette colour).
Mind the gradient on a palette colour: the distance's derivative at 0 is infinite. Then write
what the printer does: replace every pixel by its nearest palette colour.

Shapes: image (3, H, W) with mask (1, H, W), or (N, 3, H, W) with (N, 1, H, W); palette (K, 3),
colours in [0, 1] (aisec.attacks.physical.PRINTER_PALETTE.tensor()).

Check it:  aisec exercise check printable_sticker
"""

from torch import Tensor


def non_printability(image: Tensor, mask: Tensor, palette: Tensor) -> Tensor:
    """Mean over masked pixels of Π_k ‖pixel − palette[k]‖₂, a differentiable scalar."""
    raise NotImplementedError


def print_colours(image: Tensor, palette: Tensor) -> Tensor:
    """``image`` with every pixel replaced by its nearest palette colour (same shape)."""
    raise NotImplementedError
