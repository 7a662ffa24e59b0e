"""Procedural traffic-sign dataset: an offline stand-in for GTSRB.

GTSRB (Stallkamp et al., 2012) cannot be downloaded here, so this module draws canonical signs
(:func:`canonical_sign`, Pillow at 4x supersampling with DejaVu Sans Bold legends) and renders
them into photograph-like scenes (:func:`render_scenes`, batched torch). The conditions
simulated are those that Eykholt et al. (2018), "Robust Physical-World Attacks on Deep Learning
Visual Classification", identify as what a physical attack must survive, and that make GTSRB
crops hard:

- viewing angle: a pinhole camera looks at the planar sign tilted out of plane by up to 40
  degrees (perspective foreshortening), rolled in plane by up to 15 degrees;
- distance and framing: the sign spans 45-90% of the frame width (71% on average) at a
  random position, often on a post;
- lighting: a global exposure (0.5-1.25), contrast, a colour cast, and an illumination
  gradient across the sign (shadows, sun angle);
- camera: Gaussian blur (defocus, up to 0.9 px at 32 px), sensor noise, and rendering at twice
  the resolution with area downsampling (no aliasing a real lens would not produce);
- occlusion: in a fifth of the scenes a bar (branch, pole) or a patch covers up to about a
  sixth of the sign;
- clutter: procedural backgrounds (sky, foliage, buildings) with rectangles and ellipses that
  are often red, blue, yellow or white, so that colour alone does not identify a sign.

The same renderer places any given sign (e.g. a template with stickers painted on) into
scenes, which the physical-attack and data-poisoning code build on. Everything is seeded by
an explicit ``seed``: the same arguments give bit-identical tensors (on the same machine and
torch build). The difficulty is tuned so that a small CNN reaches about 95% test accuracy
within minutes on a CPU: legends stay readable at 32 px in most scenes, occlusion is rare
and partial, and the residual errors are mostly between the speed limits and between the
two warning triangles.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.data.base import balanced_labels
from aisec.data.signs_draw import MARGIN, SIGN_DRAWINGS, draw_sign
from aisec.data.signs_scene import (
    chunk_generator,
    chunk_size,
    prepare_textures,
    render_chunk,
    texture_size,
)

__all__ = [
    "MARGIN",
    "SIGN_CLASSES",
    "SignTemplate",
    "canonical_sign",
    "class_index",
    "generate_signs",
    "render_scenes",
    "render_signs",
]

SIGN_CLASSES: tuple[str, ...] = tuple(name for name, _ in SIGN_DRAWINGS)
"""Class names in label order: ``SIGN_CLASSES[label]``."""

_SUPERSAMPLE = 4
_TEMPLATE_SIZE = 256  # the templates that render_signs warps (the default of canonical_sign)
_MAX_RENDER_TEMPLATE = 512
_MIN_IMAGE_SIZE, _MAX_IMAGE_SIZE = 8, 512
_MIN_TEMPLATE_SIZE, _MAX_TEMPLATE_SIZE = 16, 1024


@dataclass(frozen=True)
class SignTemplate:
    """A canonical, frontal sign filling a square with a small margin.

    Attributes:
        name: the class name, one of :data:`SIGN_CLASSES`.
        image: ``(3, S, S)`` float32 RGB in ``[0, 1]``; zero outside the mask.
        mask: ``(1, S, S)`` float32 in ``{0, 1}``: the sign's shape (an octagon for "stop").
    """

    name: str
    image: Tensor
    mask: Tensor


def class_index(name: str) -> int:
    """The label of the sign class called ``name``.

    Args:
        name: a class name from :data:`SIGN_CLASSES`, e.g. ``"stop"``.

    Returns:
        Its integer label.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    try:
        return SIGN_CLASSES.index(name)
    except ValueError:
        known = ", ".join(repr(c) for c in SIGN_CLASSES)
        raise ValueError(f"unknown sign class {name!r}; known classes: {known}") from None


def canonical_sign(sign: int | str, size: int = 256) -> SignTemplate:
    """Draw the canonical (frontal, clean) template of one sign class.

    Args:
        sign: the class, as a label in ``[0, len(SIGN_CLASSES))`` or a name.
        size: side ``S`` of the square template in pixels, in ``[16, 1024]``.

    Returns:
        A :class:`SignTemplate` with ``image (3, S, S)`` and ``mask (1, S, S)``. The tensors are
        fresh copies, so painting on them does not change later calls.
    """
    index = _check_sign(sign)
    _check_int("size", size, _MIN_TEMPLATE_SIZE, _MAX_TEMPLATE_SIZE)
    image, mask = _template_tensors(index, size)
    return SignTemplate(SIGN_CLASSES[index], image.clone(), mask.clone())


@functools.lru_cache(maxsize=32)
def _template_tensors(index: int, size: int) -> tuple[Tensor, Tensor]:
    """Cached ``(3, S, S)`` image and ``(1, S, S)`` mask of one class (see canonical_sign)."""
    drawing, shape = draw_sign(index, size * _SUPERSAMPLE)
    rgb = torch.from_numpy(np.array(drawing)).permute(2, 0, 1).float() / 255.0
    alpha = torch.from_numpy(np.array(shape))[None].float() / 255.0
    # Area-downsample premultiplied colour so the dark canvas does not bleed into the edges.
    rgb_small = F.avg_pool2d((rgb * alpha)[None], _SUPERSAMPLE)[0]
    alpha_small = F.avg_pool2d(alpha[None], _SUPERSAMPLE)[0]
    mask = (alpha_small >= 0.5).float()
    image = (rgb_small / alpha_small.clamp_min(1e-6)).clamp(0.0, 1.0) * mask
    return image.contiguous(), mask.contiguous()


def render_scenes(
    sign_images: Tensor, sign_masks: Tensor, *, seed: int, image_size: int = 32
) -> Tensor:
    """Photograph each given sign in a random street scene (viewpoint, light, clutter, blur).

    Differentiable with respect to ``sign_images`` and ``sign_masks``. Randomness comes only
    from ``seed``; the result is a deterministic function of ``(inputs, seed, image_size)``.

    Args:
        sign_images: ``(N, 3, S, S)`` float sign colours in ``[0, 1]`` (e.g. a template from
            :func:`canonical_sign`, possibly with stickers painted on), laid out like the
            templates: the sign fills the square up to a margin of :data:`MARGIN`.
        sign_masks: ``(N, 1, S, S)`` float sign shapes in ``[0, 1]``.
        seed: seed of the scene randomness.
        image_size: side ``H`` of the rendered images, in ``[8, 512]``.

    Returns:
        ``(N, 3, H, H)`` float32 images in ``[0, 1]`` on the inputs' device.
    """
    _check_int("seed", seed)
    _check_int("image_size", image_size, _MIN_IMAGE_SIZE, _MAX_IMAGE_SIZE)
    _check_signs(sign_images, sign_masks)
    return _render_chunks(
        sign_images.shape[0],
        lambda chunk: prepare_textures(sign_images[chunk], sign_masks[chunk], image_size),
        seed,
        image_size,
    )


def render_signs(labels: Tensor, *, seed: int, image_size: int = 32) -> Tensor:
    """Render scenes of the canonical sign of each label (see :func:`render_scenes`).

    Args:
        labels: ``(N,)`` integer labels in ``[0, len(SIGN_CLASSES))``.
        seed: seed of the scene randomness.
        image_size: side ``H`` of the rendered images, in ``[8, 512]``.

    Returns:
        ``(N, 3, H, H)`` float32 images in ``[0, 1]`` on the labels' device.
    """
    _check_int("seed", seed)
    _check_int("image_size", image_size, _MIN_IMAGE_SIZE, _MAX_IMAGE_SIZE)
    _check_labels(labels)
    # Templates at least as large as the textures (256 px up to 128 px scenes), at most 512 px.
    size = min(_MAX_RENDER_TEMPLATE, max(_TEMPLATE_SIZE, texture_size(image_size)))
    templates = [_template_tensors(c, size) for c in range(len(SIGN_CLASSES))]
    textures = prepare_textures(
        torch.stack([image for image, _ in templates]).to(labels.device),
        torch.stack([mask for _, mask in templates]).to(labels.device),
        image_size,
    )
    return _render_chunks(labels.shape[0], lambda chunk: textures[labels[chunk]], seed, image_size)


def _render_chunks(
    n: int, textures_of: Callable[[slice], Tensor], seed: int, image_size: int
) -> Tensor:
    """Render ``n`` scenes in fixed-size chunks, each with a generator from ``(seed, chunk)``.

    Args:
        n: number of scenes.
        textures_of: maps a slice of example indices to their ``(n_chunk, 4, T, T)`` textures.
        seed: seed of the scene randomness.
        image_size: side ``H`` of the scenes.

    Returns:
        ``(n, 3, H, H)`` float32 scenes in ``[0, 1]``.
    """
    step = chunk_size(image_size)
    chunks = [
        render_chunk(
            textures_of(slice(start, start + step)),
            chunk_generator(seed, index),
            image_size,
            MARGIN,
        )
        for index, start in enumerate(range(0, n, step))
    ]
    return torch.cat(chunks)


def generate_signs(n: int, *, seed: int, image_size: int = 32) -> tuple[Tensor, Tensor]:
    """Generate a class-balanced, shuffled set of sign scenes.

    Args:
        n: number of examples (at least 1); every class occurs ``n // C`` or ``n // C + 1``
            times, ``C = len(SIGN_CLASSES)``.
        seed: seed of the labels' order and of the scenes.
        image_size: side ``H`` of the images, in ``[8, 512]``.

    Returns:
        ``images (n, 3, H, H)`` float32 in ``[0, 1]`` and ``labels (n,)`` int64.
    """
    _check_int("n", n, 1)
    _check_int("seed", seed)
    _check_int("image_size", image_size, _MIN_IMAGE_SIZE, _MAX_IMAGE_SIZE)
    # Labels use a generator of their own so that they do not shift the scenes' randomness.
    labels = balanced_labels(n, len(SIGN_CLASSES), chunk_generator(seed, -1))
    return render_signs(labels, seed=seed, image_size=image_size), labels


def _check_int(name: str, value: object, low: int | None = None, high: int | None = None) -> None:
    """Raise a TypeError/ValueError unless ``value`` is an int in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"in [{low}, {high}]" if high is not None else f"at least {low}"
        raise ValueError(f"{name} must be {bounds}, got {value}")


def _check_sign(sign: object) -> int:
    """The label of ``sign`` given as a label or a class name."""
    if isinstance(sign, str):
        return class_index(sign)
    if isinstance(sign, bool) or not isinstance(sign, int):
        raise TypeError(f"sign must be an int label or a class name, got {type(sign).__name__}")
    if not 0 <= sign < len(SIGN_CLASSES):
        raise ValueError(f"sign label must be in [0, {len(SIGN_CLASSES)}), got {sign}")
    return sign


def _check_labels(labels: object) -> None:
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.ndim != 1 or labels.shape[0] < 1:
        raise ValueError(f"labels must have shape (N,) with N >= 1, got {tuple(labels.shape)}")
    if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= len(SIGN_CLASSES):
        raise ValueError(
            f"labels must be in [0, {len(SIGN_CLASSES)}), got values in [{low}, {high}]"
        )


def _check_sign_tensor(name: str, value: object, channels: int) -> Tensor:
    """``value`` if it is a float ``(N, channels, S, S)`` tensor with ``N >= 1``, else raise."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {value.dtype}")
    shape = tuple(value.shape)
    if value.ndim != 4 or shape[1] != channels or shape[2] != shape[3] or shape[0] < 1:
        raise ValueError(f"{name} must have shape (N, {channels}, S, S) with N >= 1, got {shape}")
    return value


def _check_signs(images: object, masks: object) -> None:
    images = _check_sign_tensor("sign_images", images, 3)
    masks = _check_sign_tensor("sign_masks", masks, 1)
    if images.shape[0] != masks.shape[0] or images.shape[2:] != masks.shape[2:]:
        raise ValueError(
            "sign_images (N, 3, S, S) and sign_masks (N, 1, S, S) must agree on N and S, got "
            f"{tuple(images.shape)} and {tuple(masks.shape)}"
        )
