"""Random resizing and padding (Xie et al., 2018): a randomized input transformation.

Xie et al. resize a 299-pixel image to a random side in ``[299, 331)`` and pad it at a random
position to 331 pixels, for a network that accepts the larger input. The zoo's models take a
fixed size, so here each image is shrunk by a random factor ``s ∈ [min_scale, 1]`` (bilinear)
and placed at a random position in a zero canvas of its original size — the same
randomize-the-geometry idea at a fixed output size. Given the random draw the transformation is
differentiable; an adaptive attack averages gradients over draws (Expectation over
Transformation), which defeats it.

References:
    C. Xie, J. Wang, Z. Zhang, Z. Ren, A. Yuille, "Mitigating Adversarial Effects Through
    Randomization", ICLR 2018; A. Athalye, N. Carlini, D. Wagner, ICML 2018 (Section 4.3, EOT).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.defenses.preprocess._checks import check_float
from aisec.defenses.preprocess.base import Preprocessor

__all__ = ["RandomResizePad", "resize_pad"]


def resize_pad(x: Tensor, scales: Tensor, shifts: Tensor) -> Tensor:
    """Shrink each image by ``scales`` and place it at ``shifts`` in a zero canvas (differentiable).

    Args:
        x: ``(N, C, H, W)`` images.
        scales: ``(N,)`` factors in ``(0, 1]``.
        shifts: ``(N, 2)`` the shrunk image's centre ``(x, y)`` in normalized coordinates; each
            in ``[−(1 − s), 1 − s]`` keeps the image inside the canvas.

    Returns:
        ``(N, C, H, W)`` the transformed images (zeros outside the shrunk image).
    """
    n = x.shape[0]
    scales = scales.to(device=x.device, dtype=x.dtype)
    shifts = shifts.to(device=x.device, dtype=x.dtype)
    theta = x.new_zeros(n, 2, 3)
    theta[:, 0, 0] = 1 / scales
    theta[:, 1, 1] = 1 / scales
    theta[:, :, 2] = -shifts / scales[:, None]
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


class RandomResizePad(Preprocessor):
    """Shrink each image by a random factor and pad it at a random position (see module doc).

    Args:
        min_scale: the smallest shrink factor, in ``(0, 1]``; 1 disables the defense.
        seed: an int seed or a ``torch.Generator`` (CPU) for the random draws.
        bpda: identity gradient instead of the exact one (see :class:`Preprocessor`).

    Raises:
        TypeError / ValueError: for a bad ``min_scale`` or ``seed``.

    Reference:
        C. Xie et al., "Mitigating Adversarial Effects Through Randomization", ICLR 2018
        (arXiv:1711.01991).
    """

    name = "resize-pad"
    differentiable = True
    randomized = True

    def __init__(
        self, min_scale: float = 0.8, *, seed: int | torch.Generator = 0, bpda: bool = False
    ) -> None:
        super().__init__(bpda=bpda)
        self.min_scale = check_float("min_scale", min_scale, 0.0, 1.0, open_low=True)
        if isinstance(seed, torch.Generator):
            self.generator = seed
        elif isinstance(seed, int) and not isinstance(seed, bool):
            self.generator = torch.Generator().manual_seed(seed)
        else:
            raise TypeError(f"seed must be an int or a torch.Generator, got {type(seed).__name__}")

    def spec(self) -> str:
        return f"resize-pad:{self.min_scale:g}"

    def draw(self, n: int) -> tuple[Tensor, Tensor]:
        """Draw ``n`` transformations: scales ``(n,)`` and shifts ``(n, 2)`` (CPU tensors)."""
        u = torch.rand(n, 3, generator=self.generator)
        scales = self.min_scale + (1 - self.min_scale) * u[:, 0]
        shifts = (2 * u[:, 1:] - 1) * (1 - scales[:, None])
        return scales, shifts

    def defend(self, x: Tensor) -> Tensor:
        """Randomly resized and padded ``(N, C, H, W)`` images, a fresh draw per image."""
        scales, shifts = self.draw(x.shape[0])
        return resize_pad(x, scales, shifts)
