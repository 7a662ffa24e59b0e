"""The preprocessing-defense contract: a module in front of a model, with its BPDA path.

A :class:`Preprocessor` maps images ``(N, C, H, W)`` in ``[0, 1]`` to images of the same shape
in ``[0, 1]``. Each one declares whether it is :attr:`~Preprocessor.differentiable` (its
gradient is useful to an attacker) and :attr:`~Preprocessor.randomized` (two calls on the same
input differ). A non-differentiable defense hides the gradient from a naive attack — that is
*gradient masking*, not robustness. Its BPDA view (:meth:`Preprocessor.with_bpda`) runs the exact
defense forward and the identity backward (the straight-through estimator), which is what an
adaptive attacker does.

Reference:
    A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of Security:
    Circumventing Defenses to Adversarial Examples", ICML 2018 (Section 4.1, BPDA).
"""

from __future__ import annotations

import abc
import copy
from typing import ClassVar, TypeVar

import torch
from torch import Tensor, nn

__all__ = ["PreprocessedModel", "Preprocessor", "check_images", "straight_through"]

_P = TypeVar("_P", bound="Preprocessor")


def check_images(x: object) -> Tensor:
    """Check that ``x`` is a floating-point image batch ``(N, C, H, W)`` and return it.

    Raises:
        TypeError: if ``x`` is not a floating-point tensor.
        ValueError: if ``x`` is not 4-dimensional.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"images must be a torch tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"images must be floating point in [0, 1], got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, C, H, W), got {tuple(x.shape)}")
    return x


def straight_through(x: Tensor, defended: Tensor) -> Tensor:
    """``defended`` in the forward pass, the identity in the backward pass.

    Args:
        x: ``(N, ...)`` the input, possibly requiring grad.
        defended: ``(N, ...)`` the defense's output on ``x`` (its graph is ignored).

    Returns:
        ``defended`` exactly (a copy), with the gradient ``∂out/∂x = I``.
    """
    if x.shape != defended.shape:
        raise ValueError(
            f"straight_through needs equal shapes, got {tuple(x.shape)} and {tuple(defended.shape)}"
        )
    out: Tensor = _StraightThrough.apply(x, defended.detach())
    return out


class _StraightThrough(torch.autograd.Function):
    """Forward: the defended tensor, bit for bit. Backward: the identity to ``x``."""

    @staticmethod
    def forward(ctx: object, x: Tensor, defended: Tensor) -> Tensor:
        return defended.clone()

    @staticmethod
    def backward(ctx: object, grad: Tensor) -> tuple[Tensor, None]:
        return grad, None


class Preprocessor(nn.Module, abc.ABC):
    """Base class of preprocessing defenses: images in ``[0, 1]`` NCHW in and out.

    Subclasses set :attr:`name`, :attr:`differentiable` and :attr:`randomized` and implement
    :meth:`defend` (the exact defense) and :meth:`spec` (the string :func:`parse_defense` reads).

    Args:
        bpda: run the exact defense forward and pass the gradient straight through (identity)
            backward. Needed for non-differentiable defenses; for differentiable ones it
            replaces the exact gradient by the identity (usually a weaker attack).
    """

    name: ClassVar[str] = "preprocessor"
    differentiable: ClassVar[bool] = True
    randomized: ClassVar[bool] = False

    def __init__(self, *, bpda: bool = False) -> None:
        super().__init__()
        if not isinstance(bpda, bool):
            raise TypeError(f"bpda must be a bool, got {type(bpda).__name__}")
        self.bpda = bpda

    @abc.abstractmethod
    def defend(self, x: Tensor) -> Tensor:
        """The exact defense on a checked batch ``(N, C, H, W)`` -> ``(N, C, H, W)``."""

    @abc.abstractmethod
    def spec(self) -> str:
        """The defense as a string such as ``"jpeg:75"`` (parsed back by ``parse_defense``)."""

    def forward(self, x: Tensor) -> Tensor:
        """Apply the defense (with the straight-through gradient in BPDA mode).

        Args:
            x: ``(N, C, H, W)`` images in ``[0, 1]``.

        Returns:
            ``(N, C, H, W)`` defended images in ``[0, 1]``.
        """
        x = check_images(x)
        if self.bpda:
            return straight_through(x, self.defend(x.detach()))
        return self.defend(x)

    def with_bpda(self: _P, enabled: bool = True) -> _P:
        """A shallow copy in BPDA mode (``enabled``) or in exact-gradient mode.

        The copy shares state with the original (e.g. a randomized defense's generator).
        """
        view = copy.copy(self)
        view.bpda = bool(enabled)
        return view

    def extra_repr(self) -> str:
        return f"{self.spec()!r}, bpda={self.bpda}"


class PreprocessedModel(nn.Module):
    """A model with preprocessing defenses in front: ``model(p_k(...p_1(x)))``.

    Args:
        model: the classifier, images ``(N, C, H, W)`` -> logits ``(N, K)``.
        *preprocessors: the defenses, applied in order.

    Raises:
        TypeError: if ``model`` is not an ``nn.Module`` or a preprocessor is not a
            :class:`Preprocessor`.
    """

    def __init__(self, model: nn.Module, *preprocessors: Preprocessor) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        for p in preprocessors:
            if not isinstance(p, Preprocessor):
                raise TypeError(
                    f"preprocessors must be Preprocessor modules (see parse_defense), got "
                    f"{type(p).__name__}"
                )
        self.model = model
        self.preprocessors = nn.ModuleList(preprocessors)

    @property
    def differentiable(self) -> bool:
        """Whether every preprocessor is differentiable."""
        return all(p.differentiable for p in self._steps())

    @property
    def randomized(self) -> bool:
        """Whether any preprocessor is randomized."""
        return any(p.randomized for p in self._steps())

    def _steps(self) -> list[Preprocessor]:
        return [p for p in self.preprocessors if isinstance(p, Preprocessor)]

    def specs(self) -> list[str]:
        """The preprocessors' specs, in order."""
        return [p.spec() for p in self._steps()]

    def preprocess(self, x: Tensor) -> Tensor:
        """The preprocessors alone: ``(N, C, H, W)`` -> ``(N, C, H, W)``."""
        for p in self.preprocessors:
            x = p(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(N, K)`` of the model on the preprocessed images ``(N, C, H, W)``."""
        out: Tensor = self.model(self.preprocess(x))
        return out

    def with_bpda(self, enabled: bool = True) -> PreprocessedModel:
        """The adaptive attacker's view: the same model and defenses, every non-differentiable
        one in BPDA mode (``enabled``) and every differentiable one with its exact gradient."""
        steps = (p.with_bpda(enabled and not p.differentiable) for p in self._steps())
        return PreprocessedModel(self.model, *steps)
