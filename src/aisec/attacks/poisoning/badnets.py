"""BadNets: a pixel-pattern or patch trigger stamped on poisoned images, labels set to a target.

Gu et al. poison a fraction of the training set by stamping a small trigger (a single bright
pixel, a pixel pattern, or a yellow-square "sticker") on the images and relabelling them. The
trained network is accurate on clean inputs and outputs the attacker's label whenever the
trigger is present. Two label maps are studied:

* **all-to-one**: every triggered image is labelled ``target``;
* **all-to-all**: a triggered image of class ``i`` is labelled ``(i + 1) mod K``.

Reference:
    T. Gu, B. Dolan-Gavitt, S. Garg, "BadNets: Identifying Vulnerabilities in the Machine
    Learning Model Supply Chain", arXiv:1708.06733, 2017.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor

from aisec.attacks.poisoning.base import PoisoningAttack, check_class

__all__ = ["BadNets", "Trigger"]

Mode = Literal["all-to-one", "all-to-all"]


@dataclass(frozen=True)
class Trigger:
    """A small pattern stamped at a fixed place of an image: ``x' = (1 − m)·x + m·p``.

    Use the factories :meth:`checkerboard` (BadNets' pixel pattern) and :meth:`patch` (a solid
    square of one colour) or pass your own tensors.

    Attributes:
        pattern: ``(C, h, w)`` or ``(1, h, w)`` colours in ``[0, 1]`` (one channel broadcasts).
        mask: ``(1, h, w)`` blending weights in ``[0, 1]`` (1: the pattern replaces the pixel).
        position: ``(row, col)`` of the trigger's top-left pixel; ``None`` puts it in the
            bottom-right corner, ``margin`` pixels from the edges (as in BadNets).
        margin: distance from the image border when ``position`` is ``None``.
    """

    pattern: Tensor
    mask: Tensor
    position: tuple[int, int] | None = None
    margin: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.pattern, Tensor) or not isinstance(self.mask, Tensor):
            raise TypeError("pattern and mask must be torch tensors")
        if self.pattern.ndim != 3 or self.mask.ndim != 3 or self.mask.shape[0] != 1:
            raise ValueError(
                "pattern must be (C, h, w) and mask (1, h, w); got "
                f"{tuple(self.pattern.shape)} and {tuple(self.mask.shape)}"
            )
        if self.pattern.shape[1:] != self.mask.shape[1:]:
            raise ValueError(
                f"pattern {tuple(self.pattern.shape)} and mask {tuple(self.mask.shape)} differ "
                "in size"
            )
        for name, tensor in (("pattern", self.pattern), ("mask", self.mask)):
            if not tensor.is_floating_point() or float(tensor.min()) < 0 or float(tensor.max()) > 1:
                raise ValueError(f"{name} must be a float tensor with values in [0, 1]")
        if self.position is not None and (len(self.position) != 2 or min(self.position) < 0):
            raise ValueError(f"position must be (row, col) >= 0, got {self.position}")
        if self.margin < 0:
            raise ValueError(f"margin must be >= 0, got {self.margin}")

    @classmethod
    def checkerboard(
        cls, size: int = 4, *, channels: int = 3, position: tuple[int, int] | None = None
    ) -> Trigger:
        """A ``size × size`` black-and-white checkerboard, white in the top-left cell.

        Args:
            size: side of the trigger in pixels (at least 1).
            channels: channels of the pattern (1 for grayscale data).
            position: see :class:`Trigger`.
        """
        _check_size(size)
        rows = torch.arange(size).view(-1, 1)
        cols = torch.arange(size).view(1, -1)
        board = ((rows + cols) % 2 == 0).float()
        return cls(board.expand(channels, size, size).clone(), torch.ones(1, size, size), position)

    @classmethod
    def patch(
        cls,
        size: int = 4,
        *,
        color: Sequence[float] = (1.0, 0.85, 0.0),
        position: tuple[int, int] | None = None,
    ) -> Trigger:
        """A solid ``size × size`` square of one colour (default the yellow of BadNets' sticker).

        Args:
            size: side of the square in pixels (at least 1).
            color: one value per channel in ``[0, 1]`` (one value for grayscale).
            position: see :class:`Trigger`.
        """
        _check_size(size)
        colour = torch.tensor([float(c) for c in color]).view(-1, 1, 1)
        return cls(colour.expand(-1, size, size).clone(), torch.ones(1, size, size), position)

    @property
    def size(self) -> tuple[int, int]:
        """``(h, w)`` of the trigger."""
        return int(self.mask.shape[1]), int(self.mask.shape[2])

    def location(self, height: int, width: int) -> tuple[int, int]:
        """Top-left ``(row, col)`` of the trigger in ``height × width`` images.

        Raises:
            ValueError: if the trigger does not fit inside the image there.
        """
        h, w = self.size
        if self.position is None:
            row, col = height - h - self.margin, width - w - self.margin
        else:
            row, col = self.position
        if row < 0 or col < 0 or row + h > height or col + w > width:
            raise ValueError(
                f"the {h}×{w} trigger at (row, col) = ({row}, {col}) does not fit inside "
                f"{height}×{width} images; use a smaller trigger or another position"
            )
        return row, col

    def full_mask(self, height: int, width: int) -> Tensor:
        """``(1, height, width)`` blending mask of the trigger in image coordinates."""
        row, col = self.location(height, width)
        h, w = self.size
        full = torch.zeros(1, height, width)
        full[:, row : row + h, col : col + w] = self.mask
        return full

    def check_fits(self, x: Tensor) -> tuple[int, int]:
        """Check that the trigger can be stamped on ``x`` ``(N, C, H, W)``; return its location.

        Raises:
            ValueError: if the trigger does not fit, or its channels are neither 1 nor ``C``.
        """
        if not isinstance(x, Tensor) or x.ndim != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x must be a (N, C, H, W) tensor, got {shape}")
        channels = self.pattern.shape[0]
        if channels not in (1, x.shape[1]):
            raise ValueError(
                f"the trigger has {channels} channels but the images have {x.shape[1]}"
            )
        return self.location(x.shape[2], x.shape[3])

    def apply(self, x: Tensor) -> Tensor:
        """Stamp the trigger on every image of ``x`` ``(N, C, H, W)``; returns a new tensor.

        Raises:
            ValueError: if the trigger does not fit, or its channels are neither 1 nor ``C``.
        """
        row, col = self.check_fits(x)
        h, w = self.size
        out = x.clone()
        window = out[:, :, row : row + h, col : col + w]
        mask = self.mask.to(x.device, x.dtype)
        pattern = self.pattern.to(x.device, x.dtype)
        out[:, :, row : row + h, col : col + w] = (1 - mask) * window + mask * pattern
        return out


def _check_size(size: object) -> None:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"trigger size must be an int >= 1, got {size!r}")


class BadNets(PoisoningAttack):
    """BadNets poisoning: stamp a trigger on a seeded choice of samples and relabel them.

    Args:
        trigger: the :class:`Trigger` (default: a 4×4 checkerboard in the bottom-right corner).
        target: all-to-one: the label of every triggered image. Ignored for all-to-all.
        num_classes: number of classes ``K``.
        rate: fraction of the training set to poison, in ``(0, 1)``.
        mode: ``"all-to-one"`` or ``"all-to-all"`` (``i → (i + 1) mod K``).
        source: all-to-one only: poison (and trigger at test time) only images of this class;
            ``None``: every class except the target.
        seed: seeds the choice of poisoned samples.

    Reference:
        Gu, Dolan-Gavitt, Garg, "BadNets", arXiv:1708.06733, 2017.
    """

    name: ClassVar[str] = "badnets"

    def __init__(
        self,
        trigger: Trigger | None = None,
        *,
        target: int = 0,
        num_classes: int,
        rate: float,
        mode: Mode = "all-to-one",
        source: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(rate=rate, num_classes=num_classes, seed=seed)
        if trigger is not None and not isinstance(trigger, Trigger):
            raise TypeError(f"trigger must be a Trigger, got {type(trigger).__name__}")
        self.trigger = trigger if trigger is not None else Trigger.checkerboard(4)
        if mode not in ("all-to-one", "all-to-all"):
            raise ValueError(f"mode must be 'all-to-one' or 'all-to-all', got {mode!r}")
        self.mode: Mode = mode
        self.target = check_class("target", target, num_classes)
        self.source = None if source is None else check_class("source", source, num_classes)
        if mode == "all-to-all" and source is not None:
            raise ValueError("source is only meaningful for an all-to-one attack")
        if self.source is not None and self.source == self.target:
            raise ValueError(f"source and target must differ, both are {self.target}")

    def apply_trigger(self, x: Tensor) -> Tensor:
        """Stamp the trigger on ``x`` ``(N, C, H, W)`` (test-time triggering); a new tensor."""
        return self.trigger.apply(x)

    def check_images(self, x: Tensor) -> None:
        self.trigger.check_fits(x)

    def candidates(self, y: Tensor) -> Tensor:
        if self.mode == "all-to-all":
            return torch.arange(y.shape[0], device=y.device)
        eligible = y != self.target if self.source is None else y == self.source
        return eligible.nonzero().squeeze(1)

    def acts_on(self, y: Tensor) -> Tensor:
        if self.mode == "all-to-all":
            return torch.ones_like(y, dtype=torch.bool)
        return y != self.target if self.source is None else y == self.source

    def backdoor_targets(self, y: Tensor) -> Tensor:
        if self.mode == "all-to-all":
            return (y + 1) % self.num_classes
        return torch.full_like(y, self.target)

    def _poison_samples(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        return self.apply_trigger(x), self.backdoor_targets(y)

    def _trigger_images(self, x: Tensor, y: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        return self.apply_trigger(x), x

    def describe(self) -> dict[str, object]:
        h, w = self.trigger.size
        position = self.trigger.position
        return super().describe() | {
            "mode": self.mode,
            "target": self.target if self.mode == "all-to-one" else None,
            "source": self.source,
            "trigger_size": [h, w],
            "trigger_position": None if position is None else list(position),
        }

    def _eligibility(self) -> str:
        if self.mode == "all-to-all":
            return "every sample"
        if self.source is not None:
            return f"samples of the source class {self.source}"
        return f"samples not of the target class {self.target}"
