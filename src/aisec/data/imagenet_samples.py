"""Real photographs that ship inside scikit-image and scikit-learn, with ImageNet labels.

These are the offline stand-in for ImageNet validation images: real photos that load without a
download. Only photos whose content has an unambiguous ImageNet-1k class are labelled; the
label is fixed by what the photo shows, never by what a model predicts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["IMAGENET_PHOTOS", "PhotoSpec", "imagenet_class_names", "load_photo", "load_photos"]


@dataclass(frozen=True)
class PhotoSpec:
    """One bundled photo: where it comes from and its ImageNet-1k class index."""

    name: str
    source: str  # "skimage" or "sklearn"
    label: int


# Label choices follow the photo's content (ImageNet-1k indices, torchvision ordering).
IMAGENET_PHOTOS: tuple[PhotoSpec, ...] = (
    PhotoSpec("chelsea", "skimage", 285),  # Egyptian cat
    PhotoSpec("coffee", "skimage", 967),  # espresso
    PhotoSpec("rocket", "skimage", 657),  # missile (launch vehicle on its pad)
    PhotoSpec("clock", "skimage", 892),  # wall clock
    PhotoSpec("camera", "skimage", 872),  # tripod (the cameraman's tripod)
    PhotoSpec("china.jpg", "sklearn", 698),  # palace (Chinese temple)
    PhotoSpec("flower.jpg", "sklearn", 985),  # daisy
)


def imagenet_class_names() -> tuple[str, ...]:
    """The 1,000 ImageNet-1k class names in torchvision's order (offline)."""
    from torchvision.models._meta import _IMAGENET_CATEGORIES

    return tuple(_IMAGENET_CATEGORIES)


def _skimage_array(name: str) -> np.ndarray:
    import skimage.data

    loader: Callable[[], np.ndarray] = getattr(skimage.data, name)
    return np.asarray(loader())


def _sklearn_array(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return np.asarray(load_sample_image(name))


def load_photo(spec: PhotoSpec, size: int = 224) -> Tensor:
    """Load one photo as a ``(3, size, size)`` float tensor in [0, 1].

    The photo is centre-cropped to a square and resized with antialiasing; grey photos are
    repeated over the three channels.
    """
    array = _skimage_array(spec.name) if spec.source == "skimage" else _sklearn_array(spec.name)
    image = torch.from_numpy(np.array(array, copy=True))
    if image.ndim == 2:
        image = image.unsqueeze(-1).expand(-1, -1, 3)
    image = image[..., :3].permute(2, 0, 1).float()
    if array.dtype == np.uint8:
        image = image / 255.0
    height, width = image.shape[1:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    image = image[:, top : top + side, left : left + side]
    resized = F.interpolate(
        image.unsqueeze(0), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized.squeeze(0).clamp(0.0, 1.0)


def load_photos(size: int = 224) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """All bundled photos: images ``(N, 3, size, size)``, labels ``(N,)`` and photo names."""
    images = torch.stack([load_photo(spec, size) for spec in IMAGENET_PHOTOS])
    labels = torch.tensor([spec.label for spec in IMAGENET_PHOTOS], dtype=torch.int64)
    return images, labels, tuple(spec.name for spec in IMAGENET_PHOTOS)
