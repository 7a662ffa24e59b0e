"""Guarantees of the procedural traffic-sign dataset (templates, scenes, determinism, errors)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor

from aisec.data.signs import (
    MARGIN,
    SIGN_CLASSES,
    SignTemplate,
    canonical_sign,
    class_index,
    generate_signs,
    render_scenes,
    render_signs,
)

FIRST_CLASSES = (
    "stop",
    "speed limit 30",
    "speed limit 50",
    "speed limit 80",
    "yield",
    "no entry",
    "priority road",
    "ahead only",
)


def _radius_map(size: int) -> Tensor:
    """Distance of each pixel centre from the template centre, in units of the sign radius."""
    coords = (torch.arange(size) + 0.5) - size / 2
    ys, xs = torch.meshgrid(coords, coords, indexing="ij")
    return (xs**2 + ys**2).sqrt() / (size * (0.5 - MARGIN))


def _is_red(image: Tensor) -> Tensor:
    return (image[0] > 0.6) & (image[1] < 0.3) & (image[2] < 0.3)


def _is_white(image: Tensor) -> Tensor:
    return image.min(dim=0).values > 0.85


def test_class_names_and_indices() -> None:
    assert len(SIGN_CLASSES) >= 10
    assert SIGN_CLASSES[: len(FIRST_CLASSES)] == FIRST_CLASSES
    assert len(set(SIGN_CLASSES)) == len(SIGN_CLASSES)
    for label, name in enumerate(SIGN_CLASSES):
        assert class_index(name) == label


@pytest.mark.parametrize("sign", range(len(SIGN_CLASSES)))
def test_templates_are_valid(sign: int) -> None:
    template = canonical_sign(sign, size=96)
    assert isinstance(template, SignTemplate)
    assert template.name == SIGN_CLASSES[sign]
    assert template.image.shape == (3, 96, 96) and template.image.dtype == torch.float32
    assert template.mask.shape == (1, 96, 96) and template.mask.dtype == torch.float32
    assert template.image.min() >= 0 and template.image.max() <= 1
    assert set(template.mask.unique().tolist()) == {0.0, 1.0}
    # The sign fills the square's width up to a small margin, centred.
    cols = template.mask[0].any(dim=0).nonzero().squeeze(1)
    margin_px = MARGIN * 96
    assert abs(cols.min().item() - margin_px) <= 1.5
    assert abs(95 - cols.max().item() - margin_px) <= 1.5
    assert not template.mask[0, [0, 0, -1, -1], [0, -1, 0, -1]].any()
    assert (template.image * (1 - template.mask)).abs().max() == 0
    assert 0.3 < template.mask.mean() < 0.95


def test_template_accepts_names_and_returns_copies() -> None:
    by_name = canonical_sign("stop", size=64)
    by_label = canonical_sign(0, size=64)
    assert torch.equal(by_name.image, by_label.image) and torch.equal(by_name.mask, by_label.mask)
    by_name.image.zero_()  # painting on a template must not change the cached drawing
    assert canonical_sign("stop", size=64).image.max() > 0.5


def test_stop_is_a_red_octagon() -> None:
    size = 256
    template = canonical_sign("stop", size=size)
    mask = template.mask[0].bool()
    # A regular octagon with flat-to-flat width w has area 2 (sqrt 2 - 1) w^2.
    expected = 2 * (math.sqrt(2) - 1) * (1 - 2 * MARGIN) ** 2
    assert abs(mask.float().mean().item() - expected) < 0.01
    assert not mask[[0, 0, -1, -1], [0, -1, 0, -1]].any()
    # Along the diagonal the octagon ends at |x| + |y| = sqrt(2) * apothem: 0.6 is in, 0.8 out.
    apothem = size * (0.5 - MARGIN)
    for fraction, inside in ((0.6, True), (0.8, False)):
        offset = round(fraction * apothem)
        for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
            assert bool(mask[size // 2 + dy * offset, size // 2 + dx * offset]) is inside
    red = _is_red(template.image)
    assert red[mask].float().mean() > 0.6
    assert _is_white(template.image)[mask].float().mean() > 0.1  # border and legend


@pytest.mark.parametrize("name", ["speed limit 30", "speed limit 50", "speed limit 80"])
def test_speed_limits_are_white_discs_with_red_rings(name: str) -> None:
    template = canonical_sign(name, size=128)
    radius = _radius_map(128)
    ring = (radius > 0.82) & (radius < 0.95)
    centre = radius < 0.7
    assert _is_red(template.image)[ring].float().mean() > 0.95
    assert _is_white(template.image)[centre].float().mean() > 0.5
    dark = template.image.max(dim=0).values < 0.2
    assert dark[centre].float().mean() > 0.1  # the black numbers
    assert abs(template.mask.mean().item() - math.pi / 4 * (1 - 2 * MARGIN) ** 2) < 0.01


def test_generate_is_deterministic_and_seeded() -> None:
    images, labels = generate_signs(40, seed=3)
    again_images, again_labels = generate_signs(40, seed=3)
    other_images, other_labels = generate_signs(40, seed=4)
    assert torch.equal(images, again_images) and torch.equal(labels, again_labels)
    assert not torch.equal(images, other_images)
    assert not torch.equal(labels, other_labels)


@pytest.mark.parametrize("image_size", [16, 48])
def test_generate_shapes_dtype_and_range(image_size: int) -> None:
    images, labels = generate_signs(30, seed=0, image_size=image_size)
    assert images.shape == (30, 3, image_size, image_size) and images.dtype == torch.float32
    assert labels.shape == (30,) and labels.dtype == torch.int64
    assert images.min() >= 0 and images.max() <= 1
    assert images.std() > 0.05  # not blank


def test_generate_is_balanced() -> None:
    num_classes = len(SIGN_CLASSES)
    _, labels = generate_signs(3 * num_classes + 5, seed=1, image_size=8)
    counts = torch.bincount(labels, minlength=num_classes)
    assert counts.min() >= 3 and counts.max() <= 4 and int(counts.sum()) == 3 * num_classes + 5
    assert not torch.equal(labels, labels.sort().values)  # shuffled


def test_chunks_get_their_own_randomness() -> None:
    # At 128 px a chunk holds 64 examples: example 64 starts a second chunk.
    labels = torch.zeros(66, dtype=torch.int64)
    images = render_signs(labels, seed=0, image_size=128)
    assert not torch.equal(images[0], images[64])
    assert torch.equal(images, render_signs(labels, seed=0, image_size=128))


def _disc_sign(colour: tuple[float, float, float], n: int, size: int = 64) -> tuple[Tensor, Tensor]:
    mask = (_radius_map(size) <= 1.0).float().expand(n, 1, size, size).clone()
    image = torch.tensor(colour).view(1, 3, 1, 1).expand(n, 3, size, size).clone()
    return image, mask


def test_render_scenes_shows_the_given_sign() -> None:
    green, mask = _disc_sign((0.0, 0.8, 0.0), 32)
    red, _ = _disc_sign((0.8, 0.0, 0.0), 32)
    green_scenes = render_scenes(green, mask, seed=5)
    red_scenes = render_scenes(red, mask, seed=5)
    assert green_scenes.shape == (32, 3, 32, 32)
    # Same seed, same scene: only the sign's colour changes, towards green.
    change = (green_scenes - red_scenes).mean(dim=(2, 3))
    assert (change[:, 1] > 0.01).all() and (change[:, 0] < -0.01).all()
    assert green_scenes[:, 1].mean() > green_scenes[:, 0].mean() + 0.1


def test_render_scenes_ignores_pixels_outside_the_mask() -> None:
    image, mask = _disc_sign((0.2, 0.3, 0.9), 4)
    garbage = torch.where(
        mask.bool(), image, torch.rand(image.shape, generator=torch.Generator().manual_seed(0))
    )
    assert torch.equal(render_scenes(image, mask, seed=2), render_scenes(garbage, mask, seed=2))


def test_render_signs_matches_render_scenes_of_templates() -> None:
    labels = torch.tensor([0, 5, 9, 1])
    templates = [canonical_sign(int(c)) for c in labels]
    images = torch.stack([t.image for t in templates])
    masks = torch.stack([t.mask for t in templates])
    expected = render_scenes(images, masks, seed=7)
    torch.testing.assert_close(render_signs(labels, seed=7), expected, atol=1e-5, rtol=0)


def test_render_scenes_is_differentiable_in_the_sign() -> None:
    image, mask = _disc_sign((0.5, 0.5, 0.5), 2)
    image.requires_grad_(True)
    render_scenes(image, mask, seed=0).sum().backward()
    assert image.grad is not None and image.grad.abs().sum() > 0


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: generate_signs(0, seed=0), ValueError, "n must be at least 1"),
        (lambda: generate_signs(2.5, seed=0), TypeError, "n must be an int"),  # type: ignore[arg-type]
        (
            lambda: generate_signs(4, seed=0, image_size=4),
            ValueError,
            r"image_size must be in \[8, 512\]",
        ),
        (lambda: generate_signs(4, seed=None), TypeError, "seed must be an int"),  # type: ignore[arg-type]
        (lambda: render_signs(torch.tensor([0, 99]), seed=0), ValueError, "labels must be in"),
        (lambda: render_signs(torch.tensor([0.0]), seed=0), TypeError, "integer tensor"),
        (
            lambda: render_signs(torch.zeros(2, 2, dtype=torch.int64), seed=0),
            ValueError,
            r"shape \(N,\)",
        ),
        (
            lambda: render_scenes(torch.zeros(2, 3, 8, 8), torch.zeros(2, 3, 8, 8), seed=0),
            ValueError,
            r"sign_masks must have shape \(N, 1, S, S\)",
        ),
        (
            lambda: render_scenes(torch.zeros(2, 3, 8, 8), torch.zeros(1, 1, 8, 8), seed=0),
            ValueError,
            "must agree on N and S",
        ),
        (
            lambda: render_scenes(
                torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.zeros(2, 1, 8, 8), seed=0
            ),
            TypeError,
            "floating-point",
        ),
        (lambda: canonical_sign("stpo"), ValueError, "known classes: 'stop'"),
        (lambda: canonical_sign(len(SIGN_CLASSES)), ValueError, "sign label must be in"),
        (lambda: canonical_sign(0, size=8), ValueError, r"size must be in \[16, 1024\]"),
        (lambda: class_index("Stop"), ValueError, "unknown sign class 'Stop'"),
    ],
)
def test_bad_inputs_raise_clear_errors(call: object, error: type[Exception], match: str) -> None:
    assert callable(call)
    with pytest.raises(error, match=match):
        call()
