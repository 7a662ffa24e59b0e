"""EOT transformations: ranges are validated, sampling is seeded, rendering is differentiable."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aisec.attacks.physical import EOT, PhysicalConditions
from aisec.data import signs_scene
from aisec.data.signs import canonical_sign

FIXED = PhysicalConditions(
    scale=(0.5, 0.5),
    shift=(0.0, 0.0),
    tilt_deg=(0.0, 0.0),
    roll_deg=(0.0, 0.0),
    brightness=(1.0, 1.0),
    contrast=(1.0, 1.0),
    colour_cast=(0.0, 0.0),
    illumination=(1.0, 1.0),
    shading=(0.0, 0.0),
    blur=(0.0, 0.0),
    noise=(0.0, 0.0),
    occlusion=0.0,
)
"""A camera that shows an object frontally, centred at half the frame's width, unaltered."""


def test_default_ranges_are_the_signs_dataset_ranges() -> None:
    conditions = PhysicalConditions()
    assert conditions.scale == signs_scene.FILL
    assert conditions.tilt_deg == (0.0, signs_scene.MAX_TILT_DEG)
    assert conditions.brightness == signs_scene.BRIGHTNESS
    assert conditions.blur == (0.0, signs_scene.MAX_BLUR_PX)
    assert conditions.occlusion == signs_scene.OCCLUSION_P


def test_a_seed_gives_the_same_views_and_another_seed_other_views() -> None:
    sign = canonical_sign("stop", size=64)
    eot = EOT()
    first = eot(sign.image, sign.mask, eot.sample(8, 3))
    again = eot(sign.image, sign.mask, eot.sample(8, torch.Generator().manual_seed(3)))
    other = eot(sign.image, sign.mask, eot.sample(8, 4))
    assert first.shape == (8, 3, 32, 32)
    assert torch.equal(first, again)
    assert not torch.allclose(first, other)
    assert float(first.min()) >= 0.0 and float(first.max()) <= 1.0


def test_the_gradient_reaches_the_sticker_and_only_the_sticker() -> None:
    sign = canonical_sign("stop", size=128)
    sticker_mask = torch.zeros_like(sign.mask)
    sticker_mask[:, 20:44, 30:98] = 1.0
    colours = torch.full_like(sign.image, 0.5, requires_grad=True)
    attacked = torch.where(sticker_mask > 0.5, colours, sign.image)
    eot = EOT()
    views = eot(attacked, sign.mask, eot.sample(6, 0))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.LazyLinear(2))
    model(views)[:, 1].sum().backward()
    grad = colours.grad
    assert grad is not None
    inside = grad.abs().sum(0)[sticker_mask[0] > 0.5]
    assert float((inside > 0).float().mean()) > 0.9  # almost every sticker pixel is reached
    assert float(grad.abs().sum(0)[sticker_mask[0] < 0.5].max()) == 0.0


def test_a_frontal_view_places_the_object_where_the_ranges_say() -> None:
    eot = EOT(FIXED, image_size=32, margin=0.0)
    white = torch.ones(3, 16, 16)
    background = torch.zeros(1, 3, 32, 32)
    view = eot(white, torch.ones(1, 16, 16), eot.sample(2, 0, backgrounds=background))
    # Width 0.5 of the frame, centred: pixels 8..23 are the object, the border is background.
    assert torch.allclose(view[:, :, 9:23, 9:23], torch.ones(1), atol=1e-5)
    assert float(view[:, :, :7].abs().max()) < 1e-5 and float(view[:, :, 25:].abs().max()) < 1e-5


def test_a_transparent_object_leaves_the_given_background() -> None:
    eot = EOT(FIXED, image_size=32)
    backgrounds = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    conditions = eot.sample(5, 1, backgrounds=backgrounds)
    assert set(conditions.background_index.tolist()) <= {0, 1, 2}
    view = eot(torch.ones(3, 16, 16), torch.zeros(1, 16, 16), conditions)
    assert torch.allclose(view, backgrounds[conditions.background_index], atol=1e-6)


def test_one_object_per_condition_and_selecting_conditions() -> None:
    sign = canonical_sign("yield", size=64)
    eot = EOT()
    conditions = eot.sample(4, 0)
    batch = sign.image.expand(4, -1, -1, -1)
    together = eot(batch, sign.mask, conditions)
    part = eot(sign.image, sign.mask, conditions.select(slice(1, 3)))
    assert torch.allclose(together[1:3], part, atol=1e-6)


@pytest.mark.parametrize(
    ("changes", "error", "match"),
    [
        ({"scale": (0.9, 0.4)}, ValueError, "scale range .* is empty"),
        ({"brightness": (0.0, 1.0)}, ValueError, "brightness range .* is out of range"),
        ({"tilt_deg": (0.0, 80.0)}, ValueError, "tilt_deg range .* is out of range"),
        ({"tilt_deg": (0.0, 70.0)}, ValueError, "horizon"),
        ({"roll_deg": (-200.0, 0.0)}, ValueError, "roll_deg range .* out of range"),
        ({"noise": (0.0, float("nan"))}, ValueError, "must be finite"),
        ({"blur": (0.0,)}, TypeError, r"blur must be a \(low, high\) pair"),
        ({"contrast": (0.5, "1")}, TypeError, "must be a number"),
        ({"occlusion": 1.5}, ValueError, "occlusion is a probability"),
    ],
)
def test_bad_ranges_are_rejected_with_a_clear_error(
    changes: dict[str, object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        PhysicalConditions().replace(**changes)


def test_bad_inputs_to_sampling_and_rendering() -> None:
    sign = canonical_sign("stop", size=64)
    eot = EOT(image_size=32)
    with pytest.raises(ValueError, match="image_size must be in"):
        EOT(image_size=4)
    with pytest.raises(ValueError, match="n must be at least 1"):
        eot.sample(0, 0)
    with pytest.raises(ValueError, match=r"backgrounds must have shape \(M, 3, 32, 32\)"):
        eot.sample(2, 0, backgrounds=torch.zeros(2, 3, 16, 16))
    with pytest.raises(ValueError, match="sampled for 64-px images"):
        eot(sign.image, sign.mask, EOT(image_size=64).sample(2, 0))
    with pytest.raises(ValueError, match=r"image must have shape \(3, S, S\)"):
        eot(sign.image[:2], sign.mask, eot.sample(2, 0))
    with pytest.raises(ValueError, match="same size"):
        eot(sign.image, sign.mask[:, :32, :32], eot.sample(2, 0))
    with pytest.raises(TypeError, match=r"generator must be a torch\.Generator or an int"):
        eot.sample(2, 1.5)  # type: ignore[arg-type]
