"""RP2 stickers: confined to the mask, printable, seeded, effective on held-out conditions."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import aisec.attacks.physical.masks
from aisec.attacks.physical import (
    PRINTER_PALETTE,
    RP2,
    PhysicalConditions,
    load_mask_png,
    sticker_mask,
)
from aisec.data.signs import canonical_sign, class_index
from aisec.evaluate.physical import control_sticker, evaluate_signs

SIDE = 96  # small templates keep the structural checks fast


def _corner_mask() -> torch.Tensor:
    mask = torch.zeros(1, SIDE, SIDE)
    mask[:, 40:60, 10:86] = 1.0
    return mask


@pytest.mark.parametrize("parametrization", ["palette", "rgb"])
@pytest.mark.parametrize("mask", ["bars", "rectangles", "custom"])
def test_pixels_outside_the_mask_never_change(
    tiny_model: nn.Module, parametrization: str, mask: str
) -> None:
    sign = canonical_sign("stop", size=SIDE)
    given = _corner_mask() if mask == "custom" else mask
    result = RP2(steps=3, batch_size=4, parametrization=parametrization, lr=0.5)(
        tiny_model, sign, given, target="speed limit 30"
    )
    outside = result.mask[0] < 0.5
    assert torch.equal(result.adversarial_sign[:, outside], sign.image[:, outside])
    assert float(result.sticker[:, outside].abs().max()) == 0.0
    assert float(result.sticker_continuous[:, outside].abs().max()) == 0.0
    inside = result.mask[0] > 0.5
    assert not torch.equal(result.adversarial_sign[:, inside], sign.image[:, inside])
    assert float((result.mask * (1 - sign.mask)).abs().max()) == 0.0  # the sticker is on the sign


def _distance_to_palette(colours: torch.Tensor) -> torch.Tensor:
    """Per pixel of ``(3, N)`` colours: the distance to the nearest palette colour."""
    return PRINTER_PALETTE.distances(colours[:, :, None]).min(dim=0).values[:, 0]


@pytest.mark.parametrize("parametrization", ["palette", "rgb"])
def test_printed_stickers_are_palette_colours_and_the_png_holds_them(
    tiny_model: nn.Module, parametrization: str, tmp_path: Path
) -> None:
    sign = canonical_sign("stop", size=SIDE)
    result = RP2(steps=4, batch_size=4, parametrization=parametrization, lr=0.5)(
        tiny_model, sign, "bars", target=1
    )
    inside = result.mask[0] > 0.5
    assert float(_distance_to_palette(result.sticker[:, inside]).max()) < 1e-6
    png = np.asarray(Image.open(result.save_sticker_png(tmp_path / "sticker.png")))
    assert png.shape == (SIDE, SIDE, 4)
    assert np.array_equal(png[..., 3] > 0, inside.numpy())
    palette = {tuple(colour) for colour in PRINTER_PALETTE.colours}
    assert {tuple(int(v) for v in pixel) for pixel in png[inside.numpy()][:, :3]} <= palette


def test_without_printability_colours_leave_the_palette(signs_model: nn.Module) -> None:
    """The palette check above can fail: an unconstrained sticker is not printable as is."""
    sign = canonical_sign("stop", size=SIDE)
    result = RP2(steps=20, batch_size=8, printable=False)(signs_model, sign, "bars", target=1)
    inside = result.mask[0] > 0.5
    assert float((_distance_to_palette(result.sticker[:, inside]) > 0.05).float().mean()) > 0.3


def test_the_same_seed_gives_the_same_sticker(tiny_model: nn.Module) -> None:
    sign = canonical_sign("stop", size=SIDE)

    def run(seed: int) -> torch.Tensor:
        return RP2(steps=3, batch_size=4, seed=seed, parametrization="rgb")(
            tiny_model, sign, "bars", target=1
        ).sticker_continuous

    assert torch.equal(run(0), run(0))
    assert not torch.equal(run(0), run(1))


def test_the_model_mode_is_restored(tiny_model: nn.Module) -> None:
    tiny_model.train()
    RP2(steps=1, batch_size=2)(tiny_model, canonical_sign("stop", size=SIDE), "bars", target=1)
    assert tiny_model.training


def test_a_mask_loaded_from_a_png(tiny_model: nn.Module, tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    Image.fromarray((_corner_mask()[0].numpy() * 255).astype(np.uint8)).save(path)
    mask = load_mask_png(path)
    assert torch.equal(mask, _corner_mask())
    sign = canonical_sign("stop", size=SIDE)
    result = RP2(steps=1, batch_size=2)(tiny_model, sign, mask, target=1)
    assert torch.equal(result.mask, _corner_mask() * sign.mask)


def test_a_small_attack_succeeds_on_held_out_conditions_where_the_control_does_not(
    signs_model: nn.Module,
) -> None:
    sign = canonical_sign("stop", size=128)
    result = RP2(steps=100, batch_size=16, seed=0)(
        signs_model, sign, "bars", target="speed limit 30"
    )
    control = torch.where(result.mask > 0.5, control_sticker(result.mask, seed=1), sign.image)
    evaluation = evaluate_signs(
        signs_model,
        {"clean": sign.image, "rp2": result.adversarial_sign, "control": control},
        sign.mask,
        source=class_index("stop"),
        target=class_index("speed limit 30"),
        n_conditions=200,
        seed=1,  # the attack's views came from seed 0
    )
    rp2, control_rate = evaluation["rp2"].targeted_success, evaluation["control"].targeted_success
    assert rp2 is not None and control_rate is not None
    assert rp2 >= 0.3, evaluation.to_dict()
    assert control_rate <= 0.05, evaluation.to_dict()
    assert evaluation["clean"].targeted_success == 0.0
    assert result.history[-1]["batch_success"] > result.history[0]["batch_success"]


def test_an_untargeted_attack_makes_the_sign_unrecognised(signs_model: nn.Module) -> None:
    sign = canonical_sign("stop", size=128)
    result = RP2(steps=40, batch_size=16, seed=0)(signs_model, sign, "bars", target=None)
    assert result.target is None
    evaluation = evaluate_signs(
        signs_model,
        {"clean": sign.image, "rp2": result.adversarial_sign},
        sign.mask,
        source=class_index("stop"),
        target=None,
        n_conditions=200,
        seed=1,
    )
    clean, attacked = evaluation["clean"].misclassification, evaluation["rp2"].misclassification
    assert clean is not None and attacked is not None
    assert attacked >= clean + 0.3, evaluation.to_dict()
    assert evaluation["rp2"].targeted_success is None


def _call(**overrides: object) -> Callable[[nn.Module], object]:
    def run(model: nn.Module) -> object:
        arguments: dict[str, object] = {
            "sign": canonical_sign("stop", size=SIDE),
            "mask": "bars",
            "target": "speed limit 30",
        }
        arguments.update(overrides)
        return RP2(steps=1, batch_size=2)(model, **arguments)  # type: ignore[arg-type]

    return run


@pytest.mark.parametrize(
    ("run", "error", "match"),
    [
        (_call(mask=torch.zeros(1, SIDE, SIDE)), ValueError, "mask has no pixels"),
        (_call(mask=torch.ones(1, 64, 64)), ValueError, "must match the sign's size"),
        (_call(mask=torch.ones(2, SIDE, SIDE)), ValueError, r"mask must have shape \(1, S, S\)"),
        (_call(mask="stars"), ValueError, "unknown sticker shape 'stars'"),
        (_call(mask=torch.full((1, SIDE, SIDE), 0.2)), ValueError, "mask has no pixels"),
        (_call(target="speed limit 31"), ValueError, "unknown sign class 'speed limit 31'"),
        (_call(target="stop"), ValueError, "target must differ from the source"),
        (_call(target=0), ValueError, "target must differ from the source"),
        (_call(target=40), ValueError, "beyond the model's 12 classes"),
        (_call(source="nowhere"), ValueError, "unknown sign class 'nowhere'"),
        (_call(sign=torch.zeros(3, SIDE, SIDE)), TypeError, "sign must be a SignTemplate"),
    ],
)
def test_bad_inputs_raise_clear_errors(
    tiny_model: nn.Module, run: Callable[[nn.Module], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        run(tiny_model)


def test_a_mask_off_the_sign_is_rejected(tiny_model: nn.Module) -> None:
    corner = torch.zeros(1, SIDE, SIDE)
    corner[:, :3, :3] = 1.0  # outside the octagon
    with pytest.raises(ValueError, match="no pixels on the sign"):
        _call(mask=corner)(tiny_model)
    with pytest.raises(ValueError, match="unknown sticker shape"):
        sticker_mask("circle", canonical_sign("stop", size=SIDE).mask)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"steps": 0}, "steps must be >= 1"),
        ({"lr": -1.0}, "lr must be finite and > 0"),
        ({"straight_through": 1.5}, r"straight_through must be in \[0, 1\]"),
        ({"parametrization": "hsv"}, "parametrization must be 'palette' or 'rgb'"),
        ({"printable": False, "parametrization": "palette"}, "use 'rgb' with printable=False"),
        ({"init": "zeros"}, "init must be 'sign' or 'random'"),
    ],
)
def test_bad_settings_raise_clear_errors(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RP2(**kwargs)  # type: ignore[arg-type]


def test_bad_ranges_reach_the_user_through_the_attack() -> None:
    with pytest.raises(ValueError, match=r"scale range .* is empty"):
        RP2(conditions=PhysicalConditions(scale=(0.8, 0.5)))


def test_load_mask_png_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        load_mask_png(tmp_path / "missing.png")
    text = tmp_path / "not-an-image.png"
    text.write_text("hello")
    with pytest.raises(ValueError, match="is not a readable PNG image"):
        load_mask_png(text)


def _png_claiming_size(png: bytes, width: int, height: int) -> bytes:
    """``png`` with another width and height in its header: "huge" without the pixels."""
    chunk = b"IHDR" + struct.pack(">II", width, height) + png[24:29]
    return png[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + png[33:]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda png: png[: len(png) // 2], r"not a readable PNG image \(image file is truncated\)"),
        (lambda png: _png_claiming_size(png, 100_000, 100_000), "decompression bomb"),
        (lambda png: _png_claiming_size(png, 5_000, 4_000), "5000x4000 pixels, more than"),
        (lambda png: b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "not a readable PNG image"),
    ],
)
def test_load_mask_png_refuses_truncated_huge_and_corrupt_files(
    tmp_path: Path, make: Callable[[bytes], bytes], message: str
) -> None:
    good = tmp_path / "good.png"
    Image.fromarray((_corner_mask()[0].numpy() * 255).astype(np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    bad.write_bytes(make(good.read_bytes()))
    with pytest.raises(ValueError, match=message) as caught:
        load_mask_png(bad)
    assert "\n" not in str(caught.value)


def test_load_mask_png_refuses_other_formats_big_files_and_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    jpeg = tmp_path / "mask.jpg"
    Image.fromarray((_corner_mask()[0].numpy() * 255).astype(np.uint8)).save(jpeg, format="JPEG")
    with pytest.raises(ValueError, match="is a JPEG image; expected a PNG"):
        load_mask_png(jpeg)
    with pytest.raises(ValueError, match="is a folder"):
        load_mask_png(tmp_path)
    monkeypatch.setattr(aisec.attacks.physical.masks, "MAX_MASK_BYTES", 10)
    with pytest.raises(ValueError, match="bytes, more than the 10 a mask may have"):
        load_mask_png(jpeg)
