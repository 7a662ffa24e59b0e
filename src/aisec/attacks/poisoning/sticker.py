"""A physical-style backdoor: a small coloured sticker on the sign itself (stop -> speed limit).

Gu et al.'s traffic-sign backdoor is a yellow square sticker placed on a stop sign; the
backdoored detector reads the stickered sign as a speed-limit sign. A trigger stamped on
image pixels (:class:`~aisec.attacks.poisoning.BadNets`) sits at a fixed place of the frame;
a sticker sits at a fixed place *of the sign* and must survive everything a camera does to
the sign: viewpoint, distance, lighting, blur, noise and occlusion.

This attack paints the sticker on the canonical sign (:func:`aisec.data.signs.canonical_sign`)
and photographs the stickered sign with :func:`aisec.data.signs.render_scenes` — the renderer
that produced the clean data — so poisoned training images and triggered test images come from
the same scene distribution as the clean ones. Poisoned training samples are replaced by new
scenes of their (source-class) sign with the sticker and relabelled to the target; the test
images are re-rendered the same way, each next to the identical scene without the sticker.

Reference:
    T. Gu, B. Dolan-Gavitt, S. Garg, "BadNets: Identifying Vulnerabilities in the Machine
    Learning Model Supply Chain", arXiv:1708.06733, 2017 (Section 5, the yellow-square
    stop-sign backdoor).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.attacks.poisoning.base import PoisoningAttack
from aisec.data.signs import SIGN_CLASSES, canonical_sign, class_index, render_scenes
from aisec.data.signs_scene import texture_size

__all__ = ["StickerBackdoor"]

Shape = Literal["square", "circle"]
_TEMPLATE_SIZE = 256


class StickerBackdoor(PoisoningAttack):
    """Backdoor the signs dataset with a sticker painted on the source sign.

    The sticker is a square (or disc) of side ``size`` (a fraction of the template's width)
    centred at ``center`` (fractions of the template's height and width); only the part that
    lies on the sign is painted.

    Args:
        source: the sign that carries the sticker (name or label), default ``"stop"``; ``None``
            puts it on every sign except the target.
        target: the label the backdoor should produce (name or label).
        rate: fraction of the training set to poison, in ``(0, 1)``. With one source class,
            at most that class's share of the data can be poisoned.
        color: the sticker's RGB colour in ``[0, 1]`` (default: yellow).
        size: the sticker's side as a fraction of the sign's template, in ``(0, 1]``.
        center: the sticker's centre ``(row, col)`` as fractions of the template, in ``[0, 1]``.
        shape: ``"square"`` or ``"circle"``.
        seed: seeds the choice of poisoned samples and their scenes.

    Reference:
        Gu, Dolan-Gavitt, Garg, "BadNets", arXiv:1708.06733, 2017.
    """

    name: ClassVar[str] = "sticker"

    def __init__(
        self,
        *,
        source: str | int | None = "stop",
        target: str | int = "speed limit 30",
        rate: float,
        color: Sequence[float] = (1.0, 0.85, 0.0),
        size: float = 0.2,
        center: tuple[float, float] = (0.7, 0.5),
        shape: Shape = "square",
        seed: int = 0,
    ) -> None:
        super().__init__(rate=rate, num_classes=len(SIGN_CLASSES), seed=seed)
        self.target = _sign_label("target", target)
        self.source = None if source is None else _sign_label("source", source)
        if self.source is not None and self.source == self.target:
            raise ValueError(
                f"source and target must differ, both are {SIGN_CLASSES[self.target]!r}"
            )
        colour = [float(c) for c in color]
        if len(colour) != 3 or not all(0.0 <= c <= 1.0 for c in colour):
            raise ValueError(f"color must be three values in [0, 1], got {tuple(color)}")
        self.color = tuple(colour)
        if not isinstance(size, (int, float)) or not 0.0 < float(size) <= 1.0:
            raise ValueError(f"size must be a fraction of the sign in (0, 1], got {size!r}")
        self.size = float(size)
        if len(center) != 2 or not all(0.0 <= float(c) <= 1.0 for c in center):
            raise ValueError(f"center must be (row, col) fractions in [0, 1], got {center}")
        self.center = (float(center[0]), float(center[1]))
        if shape not in ("square", "circle"):
            raise ValueError(f"shape must be 'square' or 'circle', got {shape!r}")
        self.shape: Shape = shape

    # -- the sticker on the sign -----------------------------------------------------------

    def sticker_mask(self, size: int = _TEMPLATE_SIZE) -> Tensor:
        """``(1, S, S)`` mask of the sticker on an ``S × S`` template (before the sign's shape)."""
        coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size
        rows, cols = coords.view(-1, 1), coords.view(1, -1)
        half = self.size / 2
        dr, dc = rows - self.center[0], cols - self.center[1]
        if self.shape == "square":
            inside = (dr.abs() <= half) & (dc.abs() <= half)
        else:
            inside = dr**2 + dc**2 <= half**2
        return inside.float()[None]

    def paint(self, sign_images: Tensor, sign_masks: Tensor) -> Tensor:
        """Paint the sticker on sign templates where they are sign (not background).

        Args:
            sign_images: ``(N, 3, S, S)`` templates in ``[0, 1]``.
            sign_masks: ``(N, 1, S, S)`` their shapes.

        Returns:
            ``(N, 3, S, S)`` the templates with the sticker.
        """
        sticker = self.sticker_mask(sign_images.shape[-1]).to(sign_images) * sign_masks
        colour = torch.tensor(self.color, dtype=sign_images.dtype, device=sign_images.device)
        return sign_images * (1 - sticker) + colour.view(1, 3, 1, 1) * sticker

    def templates(self, labels: Tensor, *, sticker: bool) -> tuple[Tensor, Tensor]:
        """The sign templates of ``labels`` (with or without the sticker), ready to render.

        Args:
            labels: ``(N,)`` sign labels.
            sticker: paint the sticker on them.

        Returns:
            ``images (N, 3, S, S)`` and ``masks (N, 1, S, S)`` (expanded views of one template
            per class, ``S`` = 256).
        """
        classes = sorted({int(c) for c in labels.tolist()})
        images, masks = [], []
        for c in classes:
            template = canonical_sign(c, size=_TEMPLATE_SIZE)
            image = template.image[None]
            if sticker:
                image = self.paint(image, template.mask[None])
            images.append(image[0])
            masks.append(template.mask)
        lookup = torch.full((len(SIGN_CLASSES),), -1, dtype=torch.long)
        lookup[classes] = torch.arange(len(classes))
        index = lookup[labels.cpu()]
        return torch.stack(images)[index], torch.stack(masks)[index]

    def render(
        self, labels: Tensor, *, seed: int, image_size: int = 32, sticker: bool = True
    ) -> Tensor:
        """Photograph the signs of ``labels`` in random scenes, with or without the sticker.

        The same ``seed`` and labels give the same scenes with and without the sticker, so the
        two differ only by the sticker.

        Args:
            labels: ``(N,)`` sign labels.
            seed: seed of the scenes.
            image_size: side of the rendered images.
            sticker: paint the sticker on the signs.

        Returns:
            ``(N, 3, image_size, image_size)`` images in ``[0, 1]``.
        """
        images, masks = self.templates(labels, sticker=sticker)
        # Area-resample once per class to the renderer's texture size (what render_scenes
        # would otherwise do per example); premultiplied so the dark background does not bleed.
        side = texture_size(image_size)
        alpha = F.interpolate(masks, size=(side, side), mode="area")
        colour = F.interpolate(images * masks, size=(side, side), mode="area")
        colour = (colour / alpha.clamp_min(1e-6)).clamp(0.0, 1.0)
        return render_scenes(colour, alpha, seed=seed, image_size=image_size).to(labels.device)

    # -- the poisoning contract ------------------------------------------------------------

    def candidates(self, y: Tensor) -> Tensor:
        return self.acts_on(y).nonzero().squeeze(1)

    def acts_on(self, y: Tensor) -> Tensor:
        return y != self.target if self.source is None else y == self.source

    def backdoor_targets(self, y: Tensor) -> Tensor:
        return torch.full_like(y, self.target)

    def check_images(self, x: Tensor) -> None:
        if x.shape[1] != 3 or x.shape[2] != x.shape[3]:
            raise ValueError(
                f"the sticker attack works on square RGB sign images, got {tuple(x.shape[1:])}"
            )

    def _poison_samples(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        seed = _derived_seed(self.seed, "poison")
        return self.render(y, seed=seed, image_size=x.shape[-1]), self.backdoor_targets(y)

    def _trigger_images(self, x: Tensor, y: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        scene_seed = _derived_seed(seed, "test")
        size = x.shape[-1]
        triggered = self.render(y, seed=scene_seed, image_size=size, sticker=True)
        clean = self.render(y, seed=scene_seed, image_size=size, sticker=False)
        return triggered.to(x.dtype), clean.to(x.dtype)

    def describe(self) -> dict[str, object]:
        return super().describe() | {
            "target": SIGN_CLASSES[self.target],
            "source": None if self.source is None else SIGN_CLASSES[self.source],
            "color": list(self.color),
            "size": self.size,
            "center": list(self.center),
            "shape": self.shape,
        }

    def _eligibility(self) -> str:
        if self.source is not None:
            return f"signs of the source class {SIGN_CLASSES[self.source]!r}"
        return f"signs not of the target class {SIGN_CLASSES[self.target]!r}"


def _sign_label(name: str, value: str | int) -> int:
    if isinstance(value, str):
        return class_index(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a sign name or label, got {type(value).__name__}")
    if not 0 <= value < len(SIGN_CLASSES):
        raise ValueError(
            f"{name} class {value} does not exist: sign labels are in [0, {len(SIGN_CLASSES) - 1}]"
        )
    return value


def _derived_seed(seed: int, purpose: str) -> int:
    """A scene seed for ``purpose`` that never coincides with the dataset's own seed streams."""
    digest = hashlib.sha256(f"aisec.poisoning.sticker:{purpose}:{seed}".encode()).digest()
    return int.from_bytes(digest[:7], "little")
