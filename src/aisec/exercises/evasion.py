"""Chapter 0's exercises: FGSM, L2 PGD and the DLR loss, written from scratch.

Each checker builds a tiny digits classifier (:func:`~aisec.exercises._fixtures.digits_task`) or
random logits, calls the learner's function, and checks what the chapter says the technique
guarantees: the threat model holds, and the result agrees with aisec's implementation
(:class:`~aisec.attacks.FGSM`, :class:`~aisec.attacks.PGD`,
:func:`~aisec.attacks.evasion.losses.dlr_loss`) or is at least as strong.
"""

from __future__ import annotations

import torch

from aisec.exercises._fixtures import accuracy, digits_task
from aisec.exercises.base import Checks, Exercise, Solution, as_tensor, pct

__all__ = ["DLR_LOSS", "FGSM_EXERCISE", "PGD_L2"]

_FGSM_EPS = 0.1
_PGD_EPS = 0.5
_PGD_SLACK = 0.05
_MISMATCH_LIMIT = 0.001


def _check_fgsm(solution: Solution, checks: Checks) -> None:
    from aisec.attacks import FGSM
    from aisec.threat import ThreatModel

    task = digits_task(dtype=torch.float64)
    model, x, y, eps = task.model, task.x_test, task.y_test, _FGSM_EPS
    x_adv = as_tensor(
        solution.call("fgsm", model, x.clone(), y.clone(), eps), "fgsm", shape=tuple(x.shape)
    )
    checks.expect("same dtype as x", x_adv.dtype == x.dtype, f"{x_adv.dtype}, x is {x.dtype}")
    x_adv = x_adv.to(x.dtype)
    largest = float((x_adv - x).abs().max())
    checks.expect(
        "inside the L∞ ball", largest <= eps + 1e-9, f"max |x_adv − x| = {largest:.6f}, ε = {eps}"
    )
    low, high = float(x_adv.min()), float(x_adv.max())
    checks.expect("inside [0, 1]", low >= 0 and high <= 1, f"values in [{low:.4f}, {high:.4f}]")
    theirs = FGSM(ThreatModel("linf", eps))(model, x, y).x_adv
    with torch.no_grad():
        correct = model(x).argmax(1) == y
    differ = ((x_adv - theirs).abs() > 1e-6)[correct]
    share = float(differ.double().mean()) if differ.numel() else 0.0
    checks.expect(
        "equals aisec's FGSM on the points the model gets right",
        share <= _MISMATCH_LIMIT,
        f"{pct(share)} of their pixels differ by more than 1e-6; accuracy under yours "
        f"{pct(accuracy(model, x_adv, y))}, under aisec's {pct(accuracy(model, theirs, y))}",
    )


def _check_pgd_l2(solution: Solution, checks: Checks) -> None:
    from aisec.attacks import PGD
    from aisec.threat import ThreatModel

    task = digits_task()
    model, x, y, eps = task.model, task.x_test, task.y_test, _PGD_EPS
    x_adv = as_tensor(
        solution.call("pgd_l2", model, x.clone(), y.clone(), eps, steps=20, seed=0),
        "pgd_l2",
        shape=tuple(x.shape),
    ).to(x.dtype)
    norms = (x_adv - x).flatten(1).norm(dim=1)
    largest = float(norms.max())
    checks.expect(
        "inside the L2 ball (every example)",
        largest <= eps + 1e-5,
        f"largest ‖x_adv − x‖₂ = {largest:.5f}, ε = {eps}",
    )
    low, high = float(x_adv.min()), float(x_adv.max())
    checks.expect("inside [0, 1]", low >= 0 and high <= 1, f"values in [{low:.4f}, {high:.4f}]")
    theirs = PGD(ThreatModel("l2", eps), steps=20, seed=0)(model, x, y)
    mine, reference = accuracy(model, x_adv, y), float(theirs.robust_accuracy or 0.0)
    checks.expect(
        f"as strong as aisec's PGD (accuracy at most {100 * _PGD_SLACK:.0f} points above)",
        mine <= reference + _PGD_SLACK,
        f"accuracy under yours {pct(mine)}, under aisec's L2 PGD {pct(reference)}, clean "
        f"{pct(accuracy(model, x, y))}",
    )


def _check_dlr(solution: Solution, checks: Checks) -> None:
    from aisec.attacks.evasion.losses import dlr_loss, targeted_dlr_loss

    generator = torch.Generator().manual_seed(0)
    n, k = 64, 10
    logits = 3 * torch.randn(n, k, generator=generator, dtype=torch.float64)
    y = torch.randint(k, (n,), generator=generator)
    y[: n // 2] = logits[: n // 2].argmax(1)  # half the rows: the label wins, half: it does not
    targets = (y + torch.randint(1, k, (n,), generator=generator)) % k
    for name, reference, extra in (
        ("dlr_loss", dlr_loss, ()),
        ("targeted_dlr_loss", targeted_dlr_loss, (targets,)),
    ):
        leaf = logits.clone().requires_grad_(True)
        value = solution.call(name, leaf, y.clone(), *(t.clone() for t in extra))
        loss = as_tensor(value, name, shape=(n,), floating=True)
        expected = reference(logits, y, *extra)
        gap = float((loss.to(torch.float64) - expected).abs().max())
        checks.expect(
            f"{name} equals aisec's", gap <= 1e-6, f"largest difference {gap:.2e} on {n} rows"
        )
        shift = torch.randn(n, 1, generator=generator, dtype=torch.float64)
        moved = as_tensor(
            solution.call(name, 7.5 * logits + 10 * shift, y.clone(), *extra), name, shape=(n,)
        )
        change = float((moved.to(torch.float64) - expected).abs().max())
        checks.expect(
            f"{name} is unchanged when the logits are scaled and shifted",
            change <= 1e-6,
            f"largest change {change:.2e} for 7.5·z + a shift per row",
        )
        if not isinstance(value, torch.Tensor) or value.grad_fn is None:
            checks.fail(f"{name} is differentiable", "its result has no autograd graph")
            continue
        (mine,) = torch.autograd.grad(value.sum(), leaf, allow_unused=True)
        target_leaf = logits.clone().requires_grad_(True)
        (theirs,) = torch.autograd.grad(reference(target_leaf, y, *extra).sum(), target_leaf)
        ok = mine is not None and bool(torch.allclose(mine, theirs, rtol=1e-5, atol=1e-8))
        checks.expect(f"{name}'s gradient equals aisec's", ok, "∂ loss / ∂ logits compared")
    few = [
        ("dlr_loss", 2, logits[:, :2], (y % 2,)),
        ("targeted_dlr_loss", 3, logits[:, :3], (y % 3, (y + 1) % 3)),
    ]
    for name, classes, small, rest in few:
        problem = solution.raises(name, ValueError, small.clone(), *rest)
        checks.expect(
            f"{name} raises ValueError with {classes} classes", problem is None, problem or ""
        )


FGSM_EXERCISE = Exercise(
    name="fgsm",
    chapter=0,
    title="FGSM from scratch: one signed gradient step to the edge of the L∞ ball",
    statement=(
        "Write the Fast Gradient Sign Method: x_adv = clip(x + ε·sign(∇ₓ CE(model(x), y)), 0, 1) "
        "for a batch of images in [0, 1]. Use the input gradient of the cross-entropy of the "
        "true labels, and return a tensor of x's shape and dtype. aisec's FGSM leaves the "
        "points the model already gets wrong unchanged; yours may attack them too (they are "
        "not compared)."
    ),
    functions=("fgsm(model: nn.Module, x: Tensor, y: Tensor, eps: float) -> Tensor",),
    checks=(
        "x_adv has x's shape and dtype",
        "‖x_adv − x‖∞ ≤ ε and x_adv ∈ [0, 1]",
        "on the points the model classifies correctly, x_adv equals aisec's FGSM "
        "(float64 digits model, ε = 0.1; at most 0.1% of pixels may differ by more than 1e-6)",
    ),
    checker=_check_fgsm,
)

PGD_L2 = Exercise(
    name="pgd_l2",
    chapter=0,
    title="L2 PGD: normalized gradient steps, projected back onto the L2 ball and the box",
    statement=(
        "Write untargeted PGD under an L2 budget: start at a random point of the ball (seeded "
        "with `seed`), then take `steps` steps x ← P(x + α·g/‖g‖₂) with g the gradient of the "
        "cross-entropy and P the projection onto {‖x' − x‖₂ ≤ ε} ∩ [0, 1]^d (scale δ down to "
        "norm ε, then clip; a step size of 2.5·ε/steps works). Keep, per example, its first "
        "misclassified iterate or the last one. Every example must stay inside the ball."
    ),
    functions=(
        "pgd_l2(model: nn.Module, x: Tensor, y: Tensor, eps: float, steps: int = 20, "
        "seed: int = 0) -> Tensor",
    ),
    checks=(
        "‖x_adv − x‖₂ ≤ ε for every example, and x_adv ∈ [0, 1]",
        "the digits model's accuracy under your attack (ε = 0.5, 20 steps) is at most 5 points "
        "above its accuracy under aisec's PGD(ThreatModel('l2', 0.5), steps=20)",
    ),
    checker=_check_pgd_l2,
)

DLR_LOSS = Exercise(
    name="dlr_loss",
    chapter=0,
    title="APGD's DLR loss and its targeted form, invariant to how the logits are scaled",
    statement=(
        "Write Croce & Hein's Difference of Logits Ratio, DLR(z, y) = −(z_y − max_{i≠y} z_i) / "
        "(z_π1 − z_π3), and the targeted DLR-T(z, y, t) = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2), "
        "where π sorts the logits from the largest down. Both take logits (N, K) and return "
        "(N,) per-example losses that autograd can differentiate; DLR needs K ≥ 3 and DLR-T "
        "K ≥ 4: raise ValueError otherwise."
    ),
    functions=(
        "dlr_loss(logits: Tensor, y: Tensor) -> Tensor",
        "targeted_dlr_loss(logits: Tensor, y: Tensor, targets: Tensor) -> Tensor",
    ),
    checks=(
        "both equal aisec's dlr_loss / targeted_dlr_loss (to 1e-6) on 64 random rows of 10 "
        "logits, half of them with the label winning",
        "both are unchanged when the logits are scaled by 7.5 and shifted per row",
        "both are differentiable, with aisec's gradient",
        "ValueError for 2 classes (DLR) and 3 classes (DLR-T)",
    ),
    checker=_check_dlr,
)
