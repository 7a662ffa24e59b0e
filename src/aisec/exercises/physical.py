"""Chapter 1's exercises: a printable sticker's score, and a sticker that survives the camera.

``printable_sticker`` compares the learner's non-printability score and palette quantization
with :class:`aisec.attacks.physical.Palette`'s. ``eot_sticker`` is RP2's idea at the digits'
scale: an opaque sticker confined to a mask, optimised over random views (a shift of up to one
pixel, lighting, sensor noise) and judged, as aisec judges RP2, on held-out views drawn from
another seed, next to a control sticker of random colours on the same mask.
"""

from __future__ import annotations

import torch
from torch import Tensor

from aisec.exercises._fixtures import digits_task, random_shift
from aisec.exercises.base import Checks, Exercise, Solution, as_tensor, pct

__all__ = ["EOT_STICKER", "PRINTABLE_STICKER", "sample_views"]

_HELD_OUT_SEED = 2024
_HELD_OUT_VIEWS = 32
_STICKER_TARGET = 0.88
_CONTROL_MARGIN = 0.3


def sample_views(images: Tensor, generator: torch.Generator) -> Tensor:
    """One random camera view of each image: a shift of up to one pixel, a brightness factor in
    ``[0.7, 1]`` and Gaussian sensor noise (σ = 0.05), clipped to ``[0, 1]``; differentiable.

    Args:
        images: ``(N, 1, 8, 8)`` digits in ``[0, 1]``.
        generator: the CPU generator of the draws.

    Returns:
        ``(N, 1, 8, 8)`` views.
    """
    n = images.shape[0]
    moved = random_shift(images, generator)
    brightness = 0.7 + 0.3 * torch.rand(n, 1, 1, 1, generator=generator, dtype=images.dtype)
    noise = 0.05 * torch.randn(images.shape, generator=generator, dtype=images.dtype)
    return (moved * brightness + noise).clamp(0, 1)


def _check_printable(solution: Solution, checks: Checks) -> None:
    from aisec.attacks.physical import PRINTER_PALETTE

    palette = PRINTER_PALETTE.tensor()
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(4, 3, 12, 10, generator=generator)
    mask = (torch.rand(4, 1, 12, 10, generator=generator) > 0.4).float()
    for label, img, msk in (("one image", image[0], mask[0]), ("a batch of 4", image, mask)):
        mine = as_tensor(
            solution.call("non_printability", img.clone(), msk.clone(), palette.clone()),
            "non_printability",
        )
        want = PRINTER_PALETTE.nps(img, msk)
        ok = mine.numel() == 1 and bool(torch.allclose(mine.reshape(()), want, rtol=1e-4))
        checks.expect(
            f"non_printability equals aisec's NPS, {label}",
            ok,
            f"yours {mine.reshape(-1)[:1].tolist()}, aisec's {float(want):.6g}",
        )
    printable = palette[torch.randint(len(palette), (3, 8, 8), generator=generator)]
    printable = printable.movedim(-1, 1)  # (3, 3, 8, 8): palette colours only
    ones = torch.ones(3, 1, 8, 8)
    leaf = printable.clone().requires_grad_(True)
    score = solution.call("non_printability", leaf, ones, palette.clone())
    value = as_tensor(score, "non_printability").reshape(-1)[:1]
    checks.expect(
        "non_printability is 0 on palette colours",
        value.numel() == 1 and abs(float(value)) <= 1e-4,
        f"got {value.tolist()}",
    )
    if not isinstance(score, Tensor) or score.grad_fn is None:
        checks.fail("non_printability is differentiable", "its result has no autograd graph")
    else:
        (grad,) = torch.autograd.grad(score.sum(), leaf, allow_unused=True)
        finite = grad is not None and bool(torch.isfinite(grad).all())
        checks.expect(
            "its gradient is finite even on palette colours",
            finite,
            "a distance ‖p − c‖ of 0 has an infinite derivative: add a tiny constant under the "
            "square root"
            if not finite
            else "",
        )
    printed = as_tensor(
        solution.call("print_colours", image.clone(), palette.clone()),
        "print_colours",
        shape=tuple(image.shape),
    )
    want_printed = PRINTER_PALETTE.quantize(image)
    differ = int(((printed - want_printed).abs() > 1e-6).any(dim=1).sum())
    checks.expect(
        "print_colours picks each pixel's nearest palette colour",
        differ == 0,
        f"{differ} of {image[:, 0].numel()} pixels differ from aisec's Palette.quantize",
    )


def _check_eot(solution: Solution, checks: Checks) -> None:
    task = digits_task(shift_augment=True, epochs=20)
    model = task.model
    with torch.no_grad():
        correct = model(task.x_test).argmax(1) == task.y_test
    x, y = task.x_test[correct][:64], task.y_test[correct][:64]
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 6:, :] = 1.0  # a sticker over the two bottom rows
    x_adv = as_tensor(
        solution.call("eot_sticker", model, x.clone(), y.clone(), mask.clone(), sample_views),
        "eot_sticker",
        shape=tuple(x.shape),
    ).to(x.dtype)
    outside = mask.expand_as(x) == 0
    changed = int((x_adv != x)[outside].sum())
    checks.expect(
        "pixels outside the mask are unchanged",
        changed == 0,
        f"{changed} pixels outside the mask changed",
    )
    low, high = float(x_adv.min()), float(x_adv.max())
    checks.expect("inside [0, 1]", low >= 0 and high <= 1, f"values in [{low:.4f}, {high:.4f}]")
    generator = torch.Generator().manual_seed(_HELD_OUT_SEED + 1)
    control = torch.where(mask > 0.5, torch.rand(x.shape, generator=generator), x)
    mine, clean, random_sticker = (
        _held_out_success(model, images, y) for images in (x_adv, x, control)
    )
    checks.expect(
        f"fools the model on at least {pct(_STICKER_TARGET)} of held-out views",
        mine >= _STICKER_TARGET,
        f"{pct(mine)} of {_HELD_OUT_VIEWS} views × {len(y)} digits (no sticker: {pct(clean)})",
    )
    checks.expect(
        f"beats a random sticker on the same mask by {100 * _CONTROL_MARGIN:.0f} points",
        mine >= random_sticker + _CONTROL_MARGIN,
        f"yours {pct(mine)}, random colours {pct(random_sticker)}",
    )


def _held_out_success(model: torch.nn.Module, images: Tensor, y: Tensor) -> float:
    """The share of (image, view) pairs misclassified, over views of a seed the attack never
    saw."""
    generator = torch.Generator().manual_seed(_HELD_OUT_SEED)
    wrong = 0.0
    with torch.no_grad():
        for _ in range(_HELD_OUT_VIEWS):
            views = sample_views(images, generator)
            wrong += float((model(views).argmax(1) != y).double().mean())
    return wrong / _HELD_OUT_VIEWS


PRINTABLE_STICKER = Exercise(
    name="printable_sticker",
    chapter=1,
    title="Printable colours: RP2's non-printability score and the printer's quantization",
    statement=(
        "Write Sharif et al.'s non-printability score as RP2 uses it: for every pixel p under "
        "the mask, the product over the palette's colours c_k of the distance ‖p − c_k‖₂, "
        "averaged over the masked pixels (a scalar, differentiable in the image, 0 when every "
        "masked pixel is a palette colour). Mind the gradient on a palette colour: the "
        "distance's derivative at 0 is infinite. Then write what the printer does: replace every "
        "pixel by its nearest palette colour."
    ),
    functions=(
        "non_printability(image: Tensor, mask: Tensor, palette: Tensor) -> Tensor",
        "print_colours(image: Tensor, palette: Tensor) -> Tensor",
    ),
    checks=(
        "non_printability equals aisec's Palette.nps (rtol 1e-4) for an image (3, H, W) with a "
        "mask (1, H, W), and for a batch (N, 3, H, W) with masks (N, 1, H, W); palette (K, 3)",
        "it is 0 on palette colours, with a finite gradient there",
        "print_colours equals Palette.quantize on every pixel",
    ),
    checker=_check_printable,
)

EOT_STICKER = Exercise(
    name="eot_sticker",
    chapter=1,
    title="An EOT sticker: fool the digits model on held-out camera views, inside a mask",
    statement=(
        "Optimise an opaque sticker x_s = (1 − M)·x + M·s (values s in [0, 1]) over the two "
        "bottom rows of each digit so that the model misreads it from random viewpoints. "
        "sample_views(images, generator) returns one random view of each image (a shift of up "
        "to a pixel, lighting, sensor noise; differentiable): average the loss over several "
        "views per step (Expectation over Transformation) instead of attacking the one image "
        "you see. The checker judges your stickers on 32 views per digit from a seed you "
        "never saw."
    ),
    functions=(
        "eot_sticker(model: nn.Module, x: Tensor, y: Tensor, mask: Tensor, "
        "sample_views: Callable[[Tensor, torch.Generator], Tensor], steps: int = 150, "
        "seed: int = 0) -> Tensor",
    ),
    checks=(
        "every pixel outside the mask equals x's, and x_adv ∈ [0, 1]",
        "on held-out views, at least 88% of (digit, view) pairs are misclassified (64 digits "
        "of a shift-trained model)",
        "at least 30 points more than a sticker of random colours on the same mask",
    ),
    checker=_check_eot,
)
