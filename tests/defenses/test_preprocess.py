"""Preprocessing defenses: shapes and ranges, what each defense does, BPDA paths, the parser."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from aisec.defenses.preprocess import (
    DEFENSE_NAMES,
    BitDepthReduction,
    GaussianBlur,
    JPEGCompression,
    MedianFilter,
    PreprocessedModel,
    Preprocessor,
    RandomResizePad,
    parse_defense,
    resize_pad,
    straight_through,
)

SPECS = ["jpeg:75", "blur:3:1", "median:3", "median:2", "bits:4", "resize-pad:0.8"]
"""One spec per defense (every defense in DEFENSE_NAMES appears)."""

FLAGS = {  # name: (differentiable, randomized)
    "jpeg": (False, False),
    "blur": (True, False),
    "median": (True, False),
    "bits": (False, False),
    "resize-pad": (True, True),
}


def _images(n: int = 4, channels: int = 3, size: int = 16, seed: int = 0) -> Tensor:
    """Smooth random images in [0, 1] (a blurred random field, like natural images)."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, channels, size // 4, size // 4, generator=generator)
    return nn.functional.interpolate(coarse, size=size, mode="bilinear", align_corners=False)


def _tiny_model(channels: int = 3, size: int = 16) -> nn.Module:
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.Flatten())
    head = nn.Linear(4 * size * size, 5)
    model.append(head)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    return model.eval()


def _input_gradient(module: nn.Module, x: Tensor) -> Tensor:
    x = x.clone().requires_grad_(True)
    out = _tiny_model(x.shape[1], x.shape[2])(module(x))
    if not out.requires_grad:
        return torch.zeros_like(x)
    loss = nn.functional.cross_entropy(out, torch.zeros(x.shape[0], dtype=torch.long))
    (grad,) = torch.autograd.grad(loss, x, allow_unused=True)
    return torch.zeros_like(x) if grad is None else grad


def test_every_defense_is_covered() -> None:
    assert {spec.split(":")[0] for spec in SPECS} == set(DEFENSE_NAMES) == set(FLAGS)


@pytest.mark.parametrize("spec", SPECS)
def test_images_in_images_out(spec: str) -> None:
    defense = parse_defense(spec)
    for channels in (1, 3):
        x = _images(channels=channels)
        out = defense(x)
        assert out.shape == x.shape and out.dtype == x.dtype
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        assert not torch.equal(out, x)  # every defense changes these images


@pytest.mark.parametrize("spec", SPECS)
def test_flags(spec: str) -> None:
    defense = parse_defense(spec)
    assert (defense.differentiable, defense.randomized) == FLAGS[defense.name]


@pytest.mark.parametrize("spec", SPECS)
def test_bpda_path_gives_nonzero_gradient(spec: str) -> None:
    view = parse_defense(spec).with_bpda()
    grad = _input_gradient(view, _images())
    assert torch.isfinite(grad).all()
    assert (grad.flatten(1).abs().amax(dim=1) > 0).all()


@pytest.mark.parametrize("spec", [s for s in SPECS if not FLAGS[s.split(":")[0]][1]])
def test_bpda_forward_is_the_exact_defense(spec: str) -> None:
    defense = parse_defense(spec)
    x = _images()
    assert torch.equal(defense.with_bpda()(x.clone().requires_grad_(True)), defense(x))
    assert not defense.bpda  # the view is a copy


@pytest.mark.parametrize("spec", ["jpeg:75", "bits:4"])
def test_without_bpda_the_gradient_is_masked(spec: str) -> None:
    assert float(_input_gradient(parse_defense(spec), _images()).abs().max()) == 0.0


def test_straight_through_is_identity_backward() -> None:
    x = torch.rand(2, 3, requires_grad=True)
    defended = torch.zeros(2, 3)
    out = straight_through(x, defended)
    assert torch.equal(out, defended)
    out.sum().backward()
    assert x.grad is not None and torch.equal(x.grad, torch.ones(2, 3))
    with pytest.raises(ValueError, match="equal shapes"):
        straight_through(x, torch.zeros(3, 2))


def test_jpeg_is_lossy_and_lower_quality_loses_more() -> None:
    x = _images(channels=3, size=32)
    errors = [float((JPEGCompression(q)(x) - x).abs().mean()) for q in (95, 50, 10)]
    assert 0 < errors[0] < errors[1] < errors[2] < 0.2


def test_bit_depth_levels() -> None:
    x = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    out = BitDepthReduction(2)(x)
    assert set(torch.unique(out * 3).round().tolist()) <= {0.0, 1.0, 2.0, 3.0}
    assert float((out - x).abs().max()) <= 1 / 6 + 1e-6


def test_median_removes_salt_noise_and_blur_keeps_constants() -> None:
    x = torch.full((1, 1, 9, 9), 0.5)
    x[0, 0, 4, 4] = 1.0
    assert torch.equal(MedianFilter(3)(x), torch.full_like(x, 0.5))
    constant = torch.full((1, 3, 9, 9), 0.3)
    assert torch.allclose(GaussianBlur(5, 2.0)(constant), constant, atol=1e-6)


def test_resize_pad_is_random_but_reproducible() -> None:
    x = _images()
    first, second = RandomResizePad(0.7, seed=3), RandomResizePad(0.7, seed=3)
    a = first(x)
    assert torch.equal(a, second(x))  # same seed, same draws
    assert not torch.equal(a, first(x))  # fresh draws on every call
    assert torch.allclose(RandomResizePad(1.0)(x), x, atol=1e-5)  # no shrinking: identity


def test_resize_pad_is_differentiable_given_the_draw() -> None:
    x = _images(n=1, channels=1, size=8).double().requires_grad_(True)
    scales = torch.tensor([0.8], dtype=torch.float64)
    shifts = torch.tensor([[0.1, -0.05]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda v: resize_pad(v, scales, shifts), (x,), atol=1e-6)


def test_preprocessed_model_composes_in_order() -> None:
    model = _tiny_model()
    jpeg, bits = JPEGCompression(60), BitDepthReduction(3)
    defended = PreprocessedModel(model, jpeg, bits)
    x = _images()
    assert torch.equal(defended(x), model(bits(jpeg(x))))
    assert defended.specs() == ["jpeg:60", "bits:3"]
    assert not defended.differentiable and not defended.randomized
    assert PreprocessedModel(model, RandomResizePad()).randomized
    bpda = defended.with_bpda()
    assert bpda.model is model and all(p.bpda for p in bpda.preprocessors)
    # Differentiable defenses keep their exact gradient in the attacker's view.
    mixed = PreprocessedModel(model, GaussianBlur(), jpeg).with_bpda()
    assert [p.bpda for p in mixed.preprocessors] == [False, True]
    assert not any(p.bpda for p in defended.preprocessors)
    assert torch.equal(bpda(x), defended(x))
    with pytest.raises(TypeError, match="Preprocessor"):
        PreprocessedModel(model, nn.Identity())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"nn\.Module"):
        PreprocessedModel(lambda v: v)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", SPECS)
def test_spec_round_trip(spec: str) -> None:
    defense = parse_defense(spec)
    assert isinstance(defense, Preprocessor)
    assert parse_defense(defense.spec()).spec() == defense.spec()
    assert parse_defense(spec, bpda=True).bpda


def test_parser_defaults_and_case() -> None:
    assert parse_defense("JPEG").spec() == "jpeg:75"
    assert parse_defense(" blur ").spec() == "blur:3:1"
    assert parse_defense("resize-pad").spec() == "resize-pad:0.8"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("gzip:3", "unknown defense"),
        ("jpeg:0", "quality"),
        ("jpeg:75.5", "not an integer"),
        ("jpeg:75:1", "expected jpeg:QUALITY"),
        ("blur:4", "odd"),
        ("blur:3:-1", "sigma"),
        ("median:1", "size"),
        ("bits:9", "bits"),
        ("bits:", "expected bits"),
        ("resize-pad:0", "min_scale"),
        ("resize-pad:x", "not a number"),
    ],
)
def test_parser_rejects_bad_specs(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_defense(spec)


def test_unknown_defense_lists_the_names() -> None:
    with pytest.raises(ValueError) as info:
        parse_defense("gzip")
    assert all(name in str(info.value) for name in DEFENSE_NAMES)
    with pytest.raises(TypeError, match="string"):
        parse_defense(75)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", SPECS)
def test_bad_images(spec: str) -> None:
    defense = parse_defense(spec)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        defense(torch.rand(3, 8, 8))
    with pytest.raises(TypeError, match="floating point"):
        defense(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(TypeError, match="tensor"):
        defense([[0.5]])


def test_jpeg_needs_one_or_three_channels() -> None:
    with pytest.raises(ValueError, match="1 or 3 channels"):
        JPEGCompression()(torch.rand(1, 2, 8, 8))


def test_resize_pad_seed_types() -> None:
    generator = torch.Generator().manual_seed(0)
    assert RandomResizePad(seed=generator).generator is generator
    with pytest.raises(TypeError, match="seed"):
        RandomResizePad(seed=1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bpda"):
        JPEGCompression(bpda=1)  # type: ignore[arg-type]


def test_pillow_fallback_matches_torchvision_codec() -> None:
    from aisec.defenses.preprocess.jpeg import _jpeg_round_trip, _torchvision_round_trip

    pixels = (_images(n=3, channels=3, size=32) * 255).round().to(torch.uint8)
    fast = _torchvision_round_trip(pixels, 75)
    assert fast is not None
    for image, decoded in zip(pixels, fast, strict=True):
        slow = _jpeg_round_trip(image, 75)
        assert slow.shape == decoded.shape == image.shape
        assert float((slow.float() - decoded.float()).abs().mean()) < 2.0  # of 255 levels
