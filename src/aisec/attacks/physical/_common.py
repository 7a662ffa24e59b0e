"""Shared input checks and small helpers of the physical attacks."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from aisec.checks import check_int
from aisec.data.signs import SIGN_CLASSES, class_index
from aisec.files import atomic_write_bytes

__all__ = [
    "check_float",
    "check_int",
    "check_num_classes",
    "class_name",
    "cosine_lr",
    "resolve_class",
    "save_rgba_png",
]


def resolve_class(what: str, value: int | str) -> int:
    """A class label given as an int, or as a sign class name (see ``SIGN_CLASSES``)."""
    if isinstance(value, str):
        try:
            return class_index(value)
        except ValueError as error:
            raise ValueError(f"{what}: {error}") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a class index or a class name, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be a class index >= 0, got {value}")
    return value


def class_name(label: int) -> str:
    """The sign class name of ``label``, or ``"class <label>"`` beyond the signs classes."""
    return SIGN_CLASSES[label] if 0 <= label < len(SIGN_CLASSES) else f"class {label}"


def save_rgba_png(image: Tensor, alpha: Tensor, path: str | Path) -> Path:
    """Save ``image`` ``(3, H, W)`` in ``[0, 1]`` with opacity ``alpha`` ``(1, H, W)`` as PNG.

    The PNG is encoded in memory and written atomically (:func:`aisec.files.atomic_write_bytes`):
    a reader never sees half a sticker. Parent folders are created.
    """
    rgba = torch.cat([image.detach().cpu(), alpha.detach().cpu().to(image.dtype)]).clamp(0, 1)
    array = (rgba.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, mode="RGBA").save(buffer, format="PNG")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out, buffer.getvalue())
    return out


def check_num_classes(logits: Tensor, source: int, target: int | None) -> None:
    classes = int(logits.shape[1])
    for what, value in (("source", source), ("target", target)):
        if value is not None and value >= classes:
            raise ValueError(
                f"{what} class {value} is beyond the model's {classes} classes "
                f"(valid indices 0..{classes - 1})"
            )


def check_float(name: str, value: object, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result) or result < 0 or (positive and result == 0):
        raise ValueError(
            f"{name} must be finite and {'> 0' if positive else '>= 0'}, got {value!r}"
        )
    return result


def cosine_lr(base: float, step: int, steps: int, floor: float = 0.05) -> float:
    """Cosine decay from ``base`` at step 0 to ``floor · base`` at the last step.

    With a fresh sample of views every step, the gradient is noisy; decaying the step size lets
    the sticker settle instead of jittering around an optimum.
    """
    progress = step / max(1, steps - 1)
    return base * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress)))
