"""``torchvision:NAME``: a torchvision classification architecture with the user's weights.

The architecture is built with ``weights=None`` (never a download) and the weights come from the
user's file (safetensors or a state dict). The number of classes is read from the weights: the
tensors that have 1000 rows in the ImageNet architecture (the classifier) give it. Defaults,
each overridable: input 224x224, ImageNet mean/std (torchvision's training recipe), and the
ImageNet class names (shipped inside torchvision) when the model has 1000 classes.
"""

from __future__ import annotations

import difflib
import warnings
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from aisec.models.sources.common import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    finish,
    resolve_input_size,
)
from aisec.models.sources.spec import LoadedModel, LoadOptions, ModelSource
from aisec.models.sources.weights import apply_state_dict, load_weights

__all__ = ["TorchvisionSource"]

_IMAGENET_CLASSES = 1000
_DEFAULT_SIZE = (224, 224)


@dataclass(frozen=True)
class TorchvisionSource(ModelSource):
    """A torchvision classification architecture by name, e.g. ``torchvision:resnet18``.

    Attributes:
        name: the architecture, as :func:`torchvision.models.list_models` names it.
    """

    name: str
    kind: ClassVar[str] = "torchvision"
    needs: ClassVar[str] = (
        "weights (safetensors or a state dict); optional input size (default 224), mean/std "
        "(default ImageNet's) and class names (default ImageNet's for 1000 classes)"
    )

    def __str__(self) -> str:
        return f"torchvision:{self.name}"

    def load(self, options: LoadOptions) -> LoadedModel:
        """Build the architecture, load the weights and fold the normalisation in.

        Raises:
            ValueError: unknown architecture, no weights, or weights that do not fit it.
        """
        _check_name(self.name)
        if options.weights is None:
            raise ValueError(
                f"{self} needs weights=FILE (--weights FILE: safetensors or a state dict); "
                "aisec never downloads pretrained weights"
            )
        tensors = load_weights(options.weights, trust_pickle=options.trust_pickle)
        num_classes = _num_classes(self.name, tensors)
        network = _build(self.name, num_classes)
        apply_state_dict(network, tensors, str(self))
        channels = options.channels or 3
        mean = options.mean or IMAGENET_MEAN
        std = options.std or IMAGENET_STD
        notes = [] if options.mean else ["normalised with ImageNet's mean and std (the default)"]
        size = resolve_input_size(self, options, None, default=_DEFAULT_SIZE)
        preprocess = Preprocess(scale=options.pixel_scale or 1.0, mean=mean, std=std)
        return finish(
            self,
            network,
            preprocess,
            options,
            input_shape=(channels, *size),
            class_names=_imagenet_names() if num_classes == _IMAGENET_CLASSES else None,
            white_box=True,
            notes=notes,
        )


def _check_name(name: str) -> None:
    from torchvision import models

    known = models.list_models(module=models)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"torchvision has no classification model {name!r}{hint} "
            "(torchvision.models.list_models(module=torchvision.models) lists them)"
        )


def _build(name: str, num_classes: int) -> nn.Module:
    from torchvision import models

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # e.g. inception's init-weights notice
        network: nn.Module = models.get_model(name, weights=None, num_classes=num_classes)
    return network


def _num_classes(name: str, tensors: dict[str, Tensor]) -> int:
    """The class count the weights were trained for, read from the classifier's tensors."""
    from torchvision import models

    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        reference = models.get_model(name, weights=None).state_dict()
    rows = {
        int(tensors[key].shape[0])
        for key, value in reference.items()
        if value.ndim >= 1 and value.shape[0] == _IMAGENET_CLASSES and key in tensors
    }
    return rows.pop() if len(rows) == 1 else _IMAGENET_CLASSES


def _imagenet_names() -> tuple[str, ...]:
    from torchvision.models import _meta

    return tuple(_meta._IMAGENET_CATEGORIES)
