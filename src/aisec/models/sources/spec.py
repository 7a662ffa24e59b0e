"""What a model source is and what loading one gives: the typed sources' base and the result.

A *model source* names where a classifier comes from (``torchvision:resnet18``, ``onnx:m.onnx``,
...; see :func:`aisec.models.sources.parse_model_source`). Loading one gives a
:class:`LoadedModel`: an ``nn.Module`` that maps images in ``[0, 1]``, NCHW, to logits, with
everything the file's own preprocessing needs (normalisation, scaling, channels-last layout)
folded in, and what a caller needs to feed it (the input shape) and read it (class names).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import Tensor, nn

__all__ = [
    "LoadOptions",
    "LoadedModel",
    "ModelSource",
    "ModelSourceWarning",
    "ZooName",
]


class ModelSourceWarning(UserWarning):
    """A loaded model works but has a property that weakens attacks on it (e.g. probabilities)."""


@dataclass(frozen=True)
class LoadOptions:
    """What the user says about a model beyond its source, checked before anything loads.

    Build it with :meth:`create`, which validates every value.

    Attributes:
        weights: a weights file (safetensors or a pickled state dict), for sources that hold
            only an architecture (``torchvision:``, ``module:``).
        input_size: ``(H, W)`` of the model's input, if given.
        channels: input channels, if given (``input_size`` of length 3, or the length of
            ``mean``/``std``).
        mean: per-channel mean, subtracted after ``pixel_scale``.
        std: per-channel standard deviation, divided after the mean.
        class_names: one name per logit, if given.
        pixel_scale: a factor applied to ``[0, 1]`` images first (``255`` for a model that
            takes pixel values in ``[0, 255]``).
        check_inputs: ``(N, C, H, W)`` images in ``[0, 1]`` on which the model is probed (and an
            ONNX conversion is cross-checked); ``None``: a few seeded random images.
        tolerance: the largest accepted difference between an ONNX file's conversion and
            onnxruntime, relative to ``max(1, max |logit|)``.
        trust_pickle: load a pickled weights file that the scanner refuses with full pickle
            (runs any code in it; logged). Off by default.
    """

    weights: Path | None = None
    input_size: tuple[int, int] | None = None
    channels: int | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    class_names: tuple[str, ...] | None = None
    pixel_scale: float | None = None
    check_inputs: Tensor | None = None
    tolerance: float = 1e-4
    trust_pickle: bool = False

    @classmethod
    def create(
        cls,
        *,
        weights: str | Path | None = None,
        input_size: int | Sequence[int] | None = None,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        class_names: Sequence[str] | None = None,
        pixel_scale: float | None = None,
        check_inputs: Tensor | None = None,
        tolerance: float = 1e-4,
        trust_pickle: bool = False,
    ) -> LoadOptions:
        """Validate the user's values; see the class attributes for their meaning.

        ``input_size`` is ``S`` (square), ``(H, W)`` or ``(C, H, W)``.

        Raises:
            TypeError: a value of the wrong type.
            ValueError: a value out of range, ``mean`` without ``std`` (or lengths that differ
                from each other or from the channels), duplicate or too few class names.
        """
        size, size_channels = _check_input_size(input_size)
        mean_values, std_values = _check_mean_std(mean, std)
        channels = _check_channels(size_channels, mean_values)
        names = _check_class_names(class_names)
        scale = None if pixel_scale is None else _check_positive("pixel_scale", pixel_scale)
        probe = None if check_inputs is None else _check_images(check_inputs, channels, size)
        return cls(
            weights=None if weights is None else Path(weights),
            input_size=size,
            channels=channels,
            mean=mean_values,
            std=std_values,
            class_names=names,
            pixel_scale=scale,
            check_inputs=probe,
            tolerance=_check_positive("tolerance", tolerance),
            trust_pickle=_check_flag("trust_pickle", trust_pickle),
        )


def _check_flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {type(value).__name__}")
    return value


def _check_positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


def _check_input_size(
    input_size: int | Sequence[int] | None,
) -> tuple[tuple[int, int] | None, int | None]:
    if input_size is None:
        return None, None
    values = [input_size] if isinstance(input_size, int) else list(input_size)
    if not 1 <= len(values) <= 3 or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
    ):
        raise ValueError(
            f"input_size must be S, (H, W) or (C, H, W) with positive integers, got {input_size!r}"
        )
    if len(values) == 1:
        return (values[0], values[0]), None
    if len(values) == 2:
        return (values[0], values[1]), None
    return (values[1], values[2]), values[0]


def _check_mean_std(
    mean: Sequence[float] | None, std: Sequence[float] | None
) -> tuple[tuple[float, ...] | None, tuple[float, ...] | None]:
    if mean is None and std is None:
        return None, None
    if mean is None or std is None:
        raise ValueError(
            "give both mean and std (one value per channel), or neither; got "
            f"mean={mean!r}, std={std!r}"
        )
    mean_values = tuple(float(v) for v in mean)
    std_values = tuple(float(v) for v in std)
    if not mean_values or len(mean_values) != len(std_values):
        raise ValueError(
            "mean and std need one value per channel and the same length, got "
            f"{len(mean_values)} and {len(std_values)} values"
        )
    if not all(math.isfinite(v) for v in mean_values):
        raise ValueError(f"mean must be finite, got {list(mean_values)}")
    if not all(math.isfinite(v) and v > 0 for v in std_values):
        raise ValueError(f"std must be finite and > 0, got {list(std_values)}")
    return mean_values, std_values


def _check_channels(size_channels: int | None, mean: tuple[float, ...] | None) -> int | None:
    if size_channels is not None and mean is not None and len(mean) != size_channels:
        raise ValueError(
            f"mean and std have {len(mean)} values but input_size says {size_channels} "
            "channels: give one value per channel"
        )
    if size_channels is not None:
        return size_channels
    return None if mean is None else len(mean)


def _check_class_names(class_names: Sequence[str] | None) -> tuple[str, ...] | None:
    if class_names is None:
        return None
    if isinstance(class_names, str):
        raise TypeError("class_names must be a sequence of names, not one string")
    names = tuple(class_names)
    if not all(isinstance(n, str) and n.strip() for n in names):
        raise ValueError("class_names must be non-empty strings")
    if len(names) < 2:
        raise ValueError(f"a classifier needs at least 2 class names, got {len(names)}")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"class_names must be distinct; repeated: {duplicates}")
    return names


def _check_images(images: Tensor, channels: int | None, size: tuple[int, int] | None) -> Tensor:
    if not isinstance(images, Tensor) or not images.is_floating_point():
        raise TypeError("check_inputs must be a floating-point tensor (N, C, H, W) in [0, 1]")
    if images.ndim != 4 or images.shape[0] < 1:
        raise ValueError(
            f"check_inputs must be (N, C, H, W) with N >= 1, got {tuple(images.shape)}"
        )
    if not bool(torch.isfinite(images).all()) or float(images.min()) < 0 or float(images.max()) > 1:
        raise ValueError("check_inputs must be finite images with values in [0, 1]")
    if channels is not None and images.shape[1] != channels:
        raise ValueError(f"check_inputs have {images.shape[1]} channels, expected {channels}")
    if size is not None and tuple(images.shape[2:]) != size:
        raise ValueError(
            f"check_inputs are {tuple(images.shape[2:])} pixels, but input_size is {size}"
        )
    return images.detach().float().cpu()


@dataclass(frozen=True)
class LoadedModel:
    """A classifier from a model source, ready for aisec.

    Attributes:
        model: maps images ``(N, C, H, W)`` in ``[0, 1]`` to logits ``(N, num_classes)``; in
            eval mode, with the source's preprocessing folded in.
        source: where it came from.
        input_shape: ``(C, H, W)`` the model takes (the data must be resized to it).
        class_names: one name per logit.
        white_box: ``True`` when gradients flow to the input (every attack applies);
            ``False`` for a black-box model that gives scores only (score-based attacks such as
            Square; asking it for a gradient raises ``TypeError``).
        notes: what the loader assumed or changed, for the user to read (e.g. "no
            normalisation applied", "the final softmax was removed").
    """

    model: nn.Module
    source: ModelSource
    input_shape: tuple[int, int, int]
    class_names: tuple[str, ...]
    white_box: bool
    notes: tuple[str, ...] = ()

    @property
    def input_size(self) -> tuple[int, int]:
        """``(H, W)`` of the model's input."""
        return self.input_shape[1], self.input_shape[2]

    @property
    def num_classes(self) -> int:
        """The number of logits."""
        return len(self.class_names)


@dataclass(frozen=True)
class ModelSource(abc.ABC):
    """A typed model source. Subclasses set :attr:`kind` and :attr:`needs` and implement
    :meth:`load` and :meth:`__str__` (the source's text, as :func:`parse_model_source` reads
    it)."""

    kind: ClassVar[str] = ""
    """The source's prefix without the colon, e.g. ``"onnx"``."""
    needs: ClassVar[str] = ""
    """What the source needs beyond its location, in words (shown in errors and help)."""

    @abc.abstractmethod
    def load(self, options: LoadOptions) -> LoadedModel:
        """Load the model described by this source with the user's ``options``."""

    @abc.abstractmethod
    def __str__(self) -> str:
        """The source as text, e.g. ``"onnx:model.onnx"``."""


@dataclass(frozen=True)
class ZooName:
    """A name that is not a file source: a zoo entry for :mod:`aisec.zoo` (a higher layer) to
    resolve.

    Attributes:
        name: the text as given, e.g. ``"signs-cnn"``.
    """

    name: str

    def __str__(self) -> str:
        return self.name
