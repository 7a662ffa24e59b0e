"""Chapter 5's exercise: run another library's attack under aisec's contract.

The "library" is :mod:`aisec.exercises.foreign` (NumPy, channels-last, pixels in ``[0, 255]``),
so the exercise needs neither ART nor Foolbox. The learner's adapter is an
:class:`~aisec.attacks.EvasionAttack` subclass; the checker compares its result with aisec's
:class:`~aisec.attacks.FGSM` on a small random CNN with non-square, three-channel inputs (so a
transposed layout cannot pass) and checks that the model's calls went through aisec's counter.
"""

from __future__ import annotations

import torch
from torch import nn

from aisec.exercises.base import Checks, Exercise, LearnerError, Solution, pct

__all__ = ["LIBRARY_ADAPTER"]

_EPS = 8 / 255
_MISMATCH_LIMIT = 0.005


def _model(seed: int = 0) -> nn.Module:
    """A small random CNN for 3-channel images of any size, 5 classes."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d((2, 3)),
            nn.Flatten(),
            nn.Linear(48, 5),
        )
    return model.eval().requires_grad_(False)


def _check_adapter(solution: Solution, checks: Checks) -> None:
    from aisec.attacks import FGSM, AttackResult, EvasionAttack
    from aisec.threat import ThreatModel

    adapter = solution.attribute("ForeignFGSM")
    is_attack = isinstance(adapter, type) and issubclass(adapter, EvasionAttack)
    checks.expect(
        "ForeignFGSM is an aisec EvasionAttack",
        is_attack,
        "" if is_attack else f"got {adapter!r}; subclass aisec.attacks.EvasionAttack",
    )
    if not is_attack:
        return
    threat = ThreatModel("linf", _EPS)
    model = _model()
    generator = torch.Generator().manual_seed(0)
    for label, shape in (
        ("16 images of 3×6×5", (16, 3, 6, 5)),
        ("5 images of 3×9×4", (5, 3, 9, 4)),
    ):
        x = torch.rand(shape, generator=generator)
        with torch.no_grad():
            y = model(x).argmax(1)  # every point starts correct, so every point is attacked
        with solution.running("ForeignFGSM(threat)(model, x, y)"):
            result = adapter(threat)(model, x.clone(), y.clone())
        if not isinstance(result, AttackResult):
            raise LearnerError("calling ForeignFGSM must return an aisec AttackResult")
        theirs = FGSM(threat)(model, x, y).x_adv
        share = float(((result.x_adv - theirs).abs() > 1e-5).double().mean())
        checks.expect(
            f"equals aisec's FGSM, {label}",
            share <= _MISMATCH_LIMIT,
            f"{pct(share)} of the pixels differ by more than 1e-5",
        )
        checks.expect(
            f"the model's calls went through aisec's counter, {label}",
            result.backwards >= 1,
            f"{result.forwards} forward and {result.backwards} backward passes counted; call "
            "ctx.model, the counted model, for the gradient",
        )
    with solution.running("ForeignFGSM(ThreatModel('l2', 1.0))"):
        try:
            adapter(ThreatModel("l2", 1.0))
            refused = False
        except ValueError:
            refused = True
    checks.expect(
        "refuses an L2 threat model (the library's FGSM is L∞ only)",
        refused,
        "" if refused else "set supported_norms = ('linf',)",
    )


LIBRARY_ADAPTER = Exercise(
    name="library_adapter",
    chapter=5,
    title="Adapt another library's attack: NumPy, channels-last, [0, 255] to aisec's contract",
    statement=(
        "aisec.exercises.foreign.fgsm_nhwc(loss_gradient, images, labels, eps) is FGSM in "
        "another library's conventions: NumPy float64 images (N, H, W, C) with pixel values in "
        "[0, 255], a budget in pixel levels, and a callback that returns the loss gradient in "
        "that same layout and those units. Write ForeignFGSM, an aisec EvasionAttack (L∞ only: "
        "supported_norms = ('linf',)) whose _run(ctx) converts ctx.x (N, C, H, W) in [0, 1] "
        "and the budget, gives the library a gradient computed through ctx.model (the model "
        "aisec counts), and converts the library's answer back. aisec's base class then "
        "projects, checks and counts, as it does for ART and Foolbox."
    ),
    functions=(
        "class ForeignFGSM(EvasionAttack): supported_norms = ('linf',); "
        "def _run(self, ctx: AttackContext) -> Tensor",
    ),
    checks=(
        "ForeignFGSM subclasses aisec.attacks.EvasionAttack",
        "ForeignFGSM(ThreatModel('linf', 8/255))(model, x, y).x_adv equals aisec's FGSM "
        "(3-channel, non-square images of two sizes; at most 0.5% of pixels off by 1e-5)",
        "the gradient went through aisec's counted model (backwards ≥ 1)",
        "ForeignFGSM(ThreatModel('l2', 1.0)) raises ValueError",
    ),
    checker=_check_adapter,
)
