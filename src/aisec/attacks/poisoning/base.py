"""The poisoning-attack contract: a seeded choice of training samples, then a per-sample edit.

A backdoor (data-poisoning) attack is configured at construction — the poison rate, the target
class, the trigger, a seed — and is then applied to a training set::

    attack = BadNets(Trigger.checkerboard(4), target=1, num_classes=12, rate=0.05, seed=0)
    x_p, y_p, indices = attack.poison(x, y)        # a PoisonResult (a named tuple)
    test = attack.triggered(x_test, y_test)        # triggered test images and backdoor targets

The base class owns :meth:`PoisoningAttack.poison`: it validates the data, lists the samples the
attack may poison (:meth:`PoisoningAttack.candidates`), draws ``round(rate · N)`` of them with a
``torch.Generator`` seeded by ``seed`` and lets the subclass edit exactly those
(:meth:`PoisoningAttack._poison_samples`). Every other sample is returned bit-identical.

The poison rate is the fraction of the *whole* training set that is poisoned (the convention of
BackdoorBench and most recent work). With ``C`` balanced classes and an all-to-one attack, the
poisoned share of the target class is therefore about ``rate·C / (1 + rate·C)``: 38% at a 5%
rate with 12 classes.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
from torch import Tensor

__all__ = [
    "PoisonResult",
    "PoisoningAttack",
    "TriggeredSet",
    "check_class",
    "check_dataset",
    "check_rate",
]


class PoisonResult(NamedTuple):
    """A poisoned training set; unpacks as ``x_poisoned, y_poisoned, poisoned_indices``.

    Attributes:
        x: ``(N, C, H, W)`` training images after poisoning (a new tensor).
        y: ``(N,)`` int64 labels after poisoning (a new tensor).
        indices: ``(P,)`` int64, sorted: the samples the attack changed. Every other sample of
            ``x`` and ``y`` equals the input.
    """

    x: Tensor
    y: Tensor
    indices: Tensor


@dataclass(frozen=True)
class TriggeredSet:
    """Test images that carry the trigger, for measuring attack success.

    Only the test examples the backdoor is meant to act on are kept: for an all-to-one attack
    the examples whose label is not the target (and is the source class, for a source-specific
    attack); for all-to-all, every example.

    Attributes:
        x: ``(M, C, H, W)`` triggered images in ``[0, 1]``.
        clean: ``(M, C, H, W)`` the same images without the trigger.
        y: ``(M,)`` int64 true labels.
        targets: ``(M,)`` int64 labels the backdoor should produce.
        indices: ``(M,)`` int64 positions of these examples in the test set they came from.
    """

    x: Tensor
    clean: Tensor
    y: Tensor
    targets: Tensor
    indices: Tensor

    def __len__(self) -> int:
        return int(self.y.shape[0])


class PoisoningAttack(abc.ABC):
    """Base class of backdoor poisoning attacks (see the module docstring for the contract).

    Args:
        rate: fraction of the training set to poison, in ``(0, 1)``.
        num_classes: number of classes ``K`` of the task (labels lie in ``[0, K)``).
        seed: seeds the choice of poisoned samples (and any randomness of the edit).
    """

    name: ClassVar[str] = "poisoning"
    changes_labels: ClassVar[bool] = True
    """Whether poisoned samples get a new label (False for clean-label attacks)."""

    def __init__(self, *, rate: float, num_classes: int, seed: int = 0) -> None:
        self.rate = check_rate(rate)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
        self.num_classes = num_classes
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.seed = seed

    # -- what subclasses define ------------------------------------------------------------

    @abc.abstractmethod
    def candidates(self, y: Tensor) -> Tensor:
        """Indices ``(M,)`` of the training samples this attack may poison, given labels ``y``."""

    @abc.abstractmethod
    def backdoor_targets(self, y: Tensor) -> Tensor:
        """The label ``(N,)`` the backdoor should make the model output for each true label."""

    @abc.abstractmethod
    def _poison_samples(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Edit the chosen samples ``x (P, C, H, W)``, ``y (P,)``; return new images and labels."""

    @abc.abstractmethod
    def _trigger_images(self, x: Tensor, y: Tensor, seed: int) -> tuple[Tensor, Tensor]:
        """Test-time: return ``(triggered, clean)`` images ``(M, C, H, W)`` for examples ``x``."""

    def check_images(self, x: Tensor) -> None:  # noqa: B027 (an optional hook)
        """Raise ``ValueError`` if the attack cannot act on images like ``x`` (default: none)."""

    def acts_on(self, y: Tensor) -> Tensor:
        """``(N,)`` bool: which test labels count for attack success (default: label ≠ target)."""
        return self.backdoor_targets(y) != y

    def describe(self) -> dict[str, object]:
        """The attack's settings as JSON-serialisable values (for reports)."""
        return {"attack": self.name, "rate": self.rate, "seed": self.seed}

    # -- the contract ----------------------------------------------------------------------

    def poison_count(self, n: int) -> int:
        """How many of ``n`` training samples are poisoned: ``round(rate · n)``, at least 1."""
        return max(1, math.floor(self.rate * n + 0.5))

    def poison(self, x: Tensor, y: Tensor) -> PoisonResult:
        """Poison a training set: choose ``round(rate · N)`` candidates (seeded) and edit them.

        Args:
            x: ``(N, C, H, W)`` float training images in ``[0, 1]``.
            y: ``(N,)`` integer labels in ``[0, num_classes)``.

        Returns:
            A :class:`PoisonResult` ``(x_poisoned, y_poisoned, poisoned_indices)``.

        Raises:
            ValueError: for malformed data, or when the attack has fewer candidates than the
                rate asks for (e.g. a clean-label attack whose target class is too small).
        """
        x, y = check_dataset(x, y, self.num_classes)
        self.check_images(x)
        candidates = self.candidates(y)
        count = self.poison_count(y.shape[0])
        if count > candidates.numel():
            raise ValueError(
                f"{self.name} at rate {self.rate:g} needs {count} of the {y.shape[0]} training "
                f"samples, but only {candidates.numel()} are eligible ({self._eligibility()}); "
                "lower the rate or use more data"
            )
        generator = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(candidates.numel(), generator=generator)[:count]
        chosen = candidates.cpu()[order].sort().values.to(y.device)
        x_new, y_new = x.clone(), y.clone()
        x_chosen, y_chosen = self._poison_samples(x[chosen], y[chosen])
        x_new[chosen] = x_chosen.to(x.dtype).clamp(0.0, 1.0)
        y_new[chosen] = y_chosen.to(y.dtype)
        return PoisonResult(x_new, y_new, chosen)

    def triggered(self, x: Tensor, y: Tensor, *, seed: int = 0) -> TriggeredSet:
        """Add the trigger to the test examples the backdoor acts on.

        Args:
            x: ``(N, C, H, W)`` test images in ``[0, 1]``.
            y: ``(N,)`` their true labels.
            seed: randomness of the test-time trigger, where the attack has any (the sticker
                attack renders new scenes with it).

        Returns:
            A :class:`TriggeredSet` with the ``M`` examples for which ``acts_on`` holds.
        """
        x, y = check_dataset(x, y, self.num_classes)
        self.check_images(x)
        keep = self.acts_on(y).nonzero().squeeze(1)
        if keep.numel() == 0:
            raise ValueError(
                f"none of the {y.shape[0]} test examples is one the backdoor acts on "
                f"({self._eligibility()})"
            )
        triggered, clean = self._trigger_images(x[keep], y[keep], seed)
        return TriggeredSet(
            x=triggered.clamp(0.0, 1.0),
            clean=clean,
            y=y[keep],
            targets=self.backdoor_targets(y[keep]),
            indices=keep,
        )

    def _eligibility(self) -> str:
        """A phrase saying which samples are candidates, for error messages."""
        return "see the attack's candidates()"


def check_rate(rate: object) -> float:
    """Return ``rate`` as a float, raising unless it is a number strictly inside ``(0, 1)``."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise TypeError(f"rate must be a number in (0, 1), got {type(rate).__name__}")
    value = float(rate)
    if not (0.0 < value < 1.0):
        raise ValueError(f"rate must be strictly between 0 and 1 (a fraction), got {rate!r}")
    return value


def check_class(name: str, value: object, num_classes: int) -> int:
    """Return a class label, raising unless ``value`` is an int in ``[0, num_classes)``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int class label, got {type(value).__name__}")
    if not 0 <= value < num_classes:
        raise ValueError(
            f"{name} class {value} does not exist: labels are in [0, {num_classes - 1}]"
        )
    return value


def check_dataset(x: object, y: object, num_classes: int | None = None) -> tuple[Tensor, Tensor]:
    """Validate an image set: ``x (N, C, H, W)`` float in ``[0, 1]`` and ``y (N,)`` integers.

    Args:
        x: the images.
        y: the labels.
        num_classes: when given, labels must lie in ``[0, num_classes)``.

    Returns:
        ``(x, y)`` with ``y`` as int64.

    Raises:
        TypeError: for non-tensors, non-float images or non-integer labels.
        ValueError: for wrong shapes, mismatched lengths, NaN or values outside ``[0, 1]``,
            or labels outside the classes.
    """
    if not isinstance(x, Tensor) or not isinstance(y, Tensor):
        raise TypeError(
            f"x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(f"x must be a float tensor of images in [0, 1], got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got {tuple(x.shape)}")
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise TypeError(f"y must be an integer tensor of labels, got {y.dtype}")
    if y.ndim != 1:
        raise ValueError(f"y must have shape (N,), got {tuple(y.shape)}")
    if y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x and y have mismatched lengths: {x.shape[0]} images but {y.shape[0]} labels"
        )
    if x.shape[0] == 0:
        raise ValueError("x and y are empty; need at least one example")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values")
    low, high = float(x.min()), float(x.max())
    if low < 0.0 or high > 1.0:
        raise ValueError(f"x must hold images in [0, 1], got values in [{low:.4g}, {high:.4g}]")
    y = y.long()
    if num_classes is not None and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(
            f"labels must be in [0, {num_classes - 1}], got values in "
            f"[{int(y.min())}, {int(y.max())}]"
        )
    return x, y
