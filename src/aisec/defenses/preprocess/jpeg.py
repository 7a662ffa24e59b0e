"""JPEG compression as a defense: real JPEG encoding and decoding of each image.

The defense rounds each image to 8 bits, encodes it as JPEG at the given quality and decodes
it again with libjpeg (torchvision's batched codec, or Pillow's where torchvision lacks it).
That is the real, non-differentiable operation: its output carries no gradient, so a naive
white-box attack on the defended model sees nothing. The BPDA view passes the gradient straight
through (JPEG(x) ≈ x), which breaks the defense.

References:
    G. K. Dziugaite, Z. Ghahramani, D. M. Roy, "A study of the effect of JPG compression on
    adversarial images", arXiv:1608.00853, 2016; C. Guo, M. Rana, M. Cisse, L. van der Maaten,
    "Countering Adversarial Images using Input Transformations", ICLR 2018; A. Athalye et al.,
    ICML 2018 (BPDA).
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from aisec.defenses.preprocess._checks import check_int
from aisec.defenses.preprocess.base import Preprocessor

__all__ = ["JPEGCompression"]


class JPEGCompression(Preprocessor):
    """Compress each image to JPEG at ``quality`` and decode it (1 or 3 channels).

    Args:
        quality: JPEG quality, 1 (strongest compression) to 100.
        bpda: straight-through gradient (see :class:`Preprocessor`).

    Raises:
        TypeError / ValueError: for a quality that is not an int in ``[1, 100]``.

    Reference:
        G. K. Dziugaite, Z. Ghahramani, D. M. Roy, arXiv:1608.00853, 2016; C. Guo et al.,
        ICLR 2018 (arXiv:1711.00117).
    """

    name = "jpeg"
    differentiable = False
    randomized = False

    def __init__(self, quality: int = 75, *, bpda: bool = False) -> None:
        super().__init__(bpda=bpda)
        self.quality = check_int("quality", quality, 1, 100)

    def spec(self) -> str:
        return f"jpeg:{self.quality}"

    def defend(self, x: Tensor) -> Tensor:
        """JPEG round trip of ``(N, C, H, W)`` images in ``[0, 1]`` with ``C`` in ``{1, 3}``."""
        if x.shape[1] not in (1, 3):
            raise ValueError(f"JPEG needs 1 or 3 channels, got {x.shape[1]}")
        if x.shape[0] == 0:
            return x.detach().clone()
        pixels = (x.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu()
        decoded = _torchvision_round_trip(pixels, self.quality)
        if decoded is None:
            decoded = [_jpeg_round_trip(image, self.quality) for image in pixels]
        return torch.stack(decoded).to(device=x.device, dtype=x.dtype) / 255


def _torchvision_round_trip(pixels: Tensor, quality: int) -> list[Tensor] | None:
    """JPEG round trip of ``(N, C, H, W)`` uint8 images with torchvision's batched libjpeg
    codec (several times faster than Pillow per image); ``None`` where torchvision lacks it."""
    try:
        with warnings.catch_warnings():
            # torchvision >= 0.29 deprecates its codecs in favour of TorchCodec.
            warnings.simplefilter("ignore", DeprecationWarning)
            from torchvision.io import decode_jpeg, encode_jpeg

            encoded = encode_jpeg(list(pixels), quality=quality)
            return list(decode_jpeg(encoded))
    except (ImportError, AttributeError, RuntimeError):
        return None


def _jpeg_round_trip(image: Tensor, quality: int) -> Tensor:
    """Encode one ``(C, H, W)`` uint8 image (``C`` 1 or 3) as JPEG with Pillow and decode it."""
    array = image.permute(1, 2, 0).numpy()
    pil = Image.fromarray(array[:, :, 0] if array.shape[2] == 1 else array)
    buffer = io.BytesIO()
    pil.save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        out = np.array(decoded.convert(pil.mode), dtype=np.uint8)
    if out.ndim == 2:
        out = out[:, :, None]
    return torch.from_numpy(out).permute(2, 0, 1)
