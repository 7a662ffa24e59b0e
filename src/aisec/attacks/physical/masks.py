"""Sticker masks for RP2: built-in shapes on a canonical sign, or a mask read from a PNG.

Coordinates of the built-in shapes are in units of the sign's radius ``r`` around the template's
centre (``x`` to the right, ``y`` down), as in the sign drawings of :mod:`aisec.data.signs_draw`:
the stop sign's legend "STOP" spans ``|x| <= 0.8, |y| <= 0.32`` and its red face ends at an
apothem of 0.92.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from aisec.data.signs import MARGIN

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = ["MAX_MASK_BYTES", "MAX_MASK_PIXELS", "STICKER_SHAPES", "load_mask_png", "sticker_mask"]

MAX_MASK_BYTES = 16 * 1024 * 1024
"""The largest mask file :func:`load_mask_png` reads (16 MiB; a 256×256 mask is a few KiB)."""

MAX_MASK_PIXELS = 4096 * 4096
"""The most pixels a mask may have; checked from the PNG's header, before it is decoded, so a
"decompression bomb" (a small file that decodes to gigabytes) costs nothing."""

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error)
"""What Pillow raises for a truncated or corrupt file."""

_Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in sign-radius units

STICKER_SHAPES: dict[str, tuple[_Box, ...]] = {
    # Two bars above and below the legend, as in Eykholt et al.'s stop-sign stickers, filling
    # the red band between the legend and the white border: about 44 % of the stop sign. The
    # default: against the signs model (trained with occlusions) thinner bars do not reach a
    # reliable targeted attack (see the tour's "physical" chapter).
    "bars": ((-0.72, -0.90, 0.72, -0.36), (-0.72, 0.36, 0.72, 0.90)),
    # Thinner bars in the proportions of the paper's stickers, about 18 % of the stop sign.
    "thin-bars": ((-0.58, -0.68, 0.58, -0.42), (-0.58, 0.42, 0.58, 0.68)),
    # The "abstract art" variant: four rectangles, two above and two below the legend.
    "rectangles": (
        (-0.72, -0.90, -0.08, -0.36),
        (0.08, -0.90, 0.72, -0.36),
        (-0.72, 0.36, -0.08, 0.90),
        (0.08, 0.36, 0.72, 0.90),
    ),
    # The whole face of the sign (Eykholt et al.'s "subtle poster" attack).
    "full": ((-1.5, -1.5, 1.5, 1.5),),
}
"""Built-in sticker shapes: name -> boxes ``(x0, y0, x1, y1)`` in sign-radius units."""


def sticker_mask(shape: str, sign_mask: Tensor) -> Tensor:
    """A built-in sticker mask, cut to the sign's shape.

    Args:
        shape: one of :data:`STICKER_SHAPES` (``"bars"``, ``"thin-bars"``, ``"rectangles"``,
            ``"full"``).
        sign_mask: ``(1, S, S)`` the sign's shape in ``{0, 1}`` (from
            :func:`aisec.data.signs.canonical_sign`).

    Returns:
        ``(1, S, S)`` float32 mask in ``{0, 1}``: 1 where the sticker is printed.
    """
    if not isinstance(shape, str):
        raise TypeError(f"shape must be a str, got {type(shape).__name__}")
    if shape not in STICKER_SHAPES:
        known = ", ".join(repr(k) for k in STICKER_SHAPES)
        raise ValueError(f"unknown sticker shape {shape!r}; built-in shapes: {known}")
    if not isinstance(sign_mask, Tensor) or sign_mask.ndim != 3 or sign_mask.shape[0] != 1:
        raise ValueError("sign_mask must be a (1, S, S) tensor")
    side = int(sign_mask.shape[-1])
    radius, centre = side * (0.5 - MARGIN), side / 2.0
    coords = (torch.arange(side, dtype=torch.float32) + 0.5 - centre) / radius
    xs, ys = coords.view(1, side), coords.view(side, 1)
    mask = torch.zeros(side, side, dtype=torch.bool)
    for x0, y0, x1, y1 in STICKER_SHAPES[shape]:
        mask |= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
    return (mask[None] & (sign_mask.detach().cpu() > 0.5)).float().to(sign_mask.device)


def load_mask_png(path: str | Path) -> Tensor:
    """Read a sticker mask from a PNG: white (or opaque) pixels are the sticker.

    A PNG with a varying alpha channel is read from its alpha; any other from its luminance.
    Values are thresholded at one half. The file is checked before it is decoded: at most
    :data:`MAX_MASK_BYTES` bytes, a PNG, and at most :data:`MAX_MASK_PIXELS` pixels.

    Args:
        path: the PNG file; it must be as large as the sign template it is used with.

    Returns:
        ``(1, H, W)`` float32 mask in ``{0, 1}``.

    Raises:
        ValueError: (one line) for a missing, too large, non-PNG, truncated or corrupt file.
    """
    from PIL import Image

    file = Path(path)
    if file.is_dir():
        raise ValueError(f"mask file {str(file)!r} is a folder; expected a PNG file")
    if not file.is_file():
        raise ValueError(f"mask file {str(file)!r} does not exist")
    size = file.stat().st_size
    if size > MAX_MASK_BYTES:
        raise ValueError(
            f"mask file {str(file)!r} has {size:,} bytes, more than the {MAX_MASK_BYTES:,} a "
            "mask may have"
        )
    problem: str | None = None
    values: np.ndarray | None = None
    try:
        with warnings.catch_warnings():
            # Pillow's decompression-bomb guard warns below its hard limit: an error here.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as image:
                problem = _header_problem(image)
                if problem is None:
                    image.load()
                    values = _mask_values(image)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        problem = "is too large to decode safely (a decompression bomb?)"
    except _DECODE_ERRORS as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        problem = f"is not a readable PNG image ({reason})"
    if problem is not None or values is None:
        raise ValueError(f"mask file {str(file)!r} {problem}")
    return (torch.from_numpy(values.astype(np.float32) / 255.0) >= 0.5).float()[None]


def _header_problem(image: PILImage) -> str | None:
    """What is wrong with the format or the size in the header, before any pixel is decoded."""
    if image.format != "PNG":
        return f"is a {image.format} image; expected a PNG"
    width, height = image.size
    if width * height > MAX_MASK_PIXELS:
        return f"is {width}x{height} pixels, more than the {MAX_MASK_PIXELS:,} a mask may have"
    return None


def _mask_values(image: PILImage) -> np.ndarray:
    """The mask's 8-bit values ``(H, W)``: the alpha channel if it varies, else the luminance."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        alpha = np.asarray(image.convert("RGBA"))[..., 3]
        if alpha.min() != alpha.max():
            return alpha
    return np.asarray(image.convert("L"))
