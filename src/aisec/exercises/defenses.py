"""Chapter 2's exercises: BPDA through JPEG, evading feature squeezing, CERTIFY from counts.

The first two attack a defended digits classifier and are judged on the *real* defense (the
exact JPEG round trip; the calibrated detector): what an adaptive attacker gets is what counts.
The third is randomized smoothing's certificate, compared with
:meth:`aisec.defenses.certify.RandomizedSmoothing.certify`'s rule on vote counts.
"""

from __future__ import annotations

import torch
from scipy import stats
from torch import Tensor

from aisec.exercises._fixtures import accuracy, digits_task
from aisec.exercises.base import Checks, Exercise, Solution, as_tensor, pct

__all__ = ["BPDA_JPEG", "CERTIFY_COUNTS", "EVADE_SQUEEZING"]

_BPDA_EPS = 0.1
_BPDA_SLACK = 0.08
_SQUEEZE_EPS = 0.2
_SQUEEZE_TARGET = 0.8
_SQUEEZE_CALIBRATION = 400


def _inside(checks: Checks, x_adv: Tensor, x: Tensor, eps: float) -> None:
    largest = float((x_adv - x).abs().max())
    checks.expect(
        "inside the L∞ ball", largest <= eps + 1e-6, f"max |x_adv − x| = {largest:.6f}, ε = {eps}"
    )
    low, high = float(x_adv.min()), float(x_adv.max())
    checks.expect("inside [0, 1]", low >= 0 and high <= 1, f"values in [{low:.4f}, {high:.4f}]")


def _check_bpda(solution: Solution, checks: Checks) -> None:
    from aisec.attacks import PGD
    from aisec.defenses.preprocess import JPEGCompression, PreprocessedModel
    from aisec.threat import ThreatModel

    task = digits_task()
    model, x, y, eps = task.model, task.x_test, task.y_test, _BPDA_EPS
    jpeg = JPEGCompression(75)

    def defense(images: Tensor) -> Tensor:
        """The JPEG round trip at quality 75: exact, and without a gradient."""
        defended: Tensor = jpeg(images)
        return defended.detach()

    x_adv = as_tensor(
        solution.call("bpda_pgd", model, defense, x.clone(), y.clone(), eps, steps=20),
        "bpda_pgd",
        shape=tuple(x.shape),
    ).to(x.dtype)
    _inside(checks, x_adv, x, eps)
    deployed = PreprocessedModel(model, jpeg)
    bare = PGD(ThreatModel("linf", eps), steps=20)(model, x, y)
    undefended = float(bare.robust_accuracy or 0.0)
    transfer = accuracy(deployed, bare.x_adv, y)
    mine = accuracy(deployed, x_adv, y)
    checks.expect(
        "the defended model falls to the undefended model's level "
        f"(at most {100 * _BPDA_SLACK:.0f} points above it)",
        mine <= undefended + _BPDA_SLACK,
        f"JPEG-defended accuracy under your attack {pct(mine)}; the undefended model under "
        f"aisec's PGD {pct(undefended)}; PGD on the bare model, then JPEG (transfer) "
        f"{pct(transfer)}; clean with JPEG {pct(accuracy(deployed, x, y))}",
    )


def _check_squeezing(solution: Solution, checks: Checks) -> None:
    from aisec.attacks import PGD
    from aisec.defenses.detect import FeatureSqueezing
    from aisec.defenses.preprocess import BitDepthReduction
    from aisec.threat import ThreatModel

    task = digits_task()
    model, x, y, eps = task.model, task.x_test, task.y_test, _SQUEEZE_EPS
    detector = FeatureSqueezing(model, [BitDepthReduction(2)])
    detector.calibrate(task.x_train[:_SQUEEZE_CALIBRATION], fpr=0.05)
    x_adv = as_tensor(
        solution.call("evade_squeezing", model, detector, x.clone(), y.clone(), eps),
        "evade_squeezing",
        shape=tuple(x.shape),
    ).to(x.dtype)
    _inside(checks, x_adv, x, eps)
    with torch.no_grad():
        correct = model(x).argmax(1) == y

    def evaded(images: Tensor) -> float:
        with torch.no_grad():
            fooled = model(images).argmax(1) != y
        return float((fooled & ~detector.detect(images))[correct].double().mean())

    mine = evaded(x_adv)
    plain = evaded(PGD(ThreatModel("linf", eps), steps=20)(model, x, y).x_adv)
    checks.expect(
        f"at least {pct(_SQUEEZE_TARGET)} of the correctly classified digits fool the model "
        "and are not flagged",
        mine >= _SQUEEZE_TARGET,
        f"{pct(mine)} of {int(correct.sum())} (plain PGD: {pct(plain)}; threshold "
        f"{detector.threshold:.3f}, calibrated to flag 5% of clean digits)",
    )


def _reference_certificate(
    selection: Tensor, estimation: Tensor, sigma: float, alpha: float
) -> tuple[Tensor, Tensor]:
    """CERTIFY's rule, as :meth:`RandomizedSmoothing.certify` applies it to the counts."""
    from aisec.defenses.certify import ABSTAIN, clopper_pearson_lower

    n = int(estimation[0].sum())
    c_a = selection.argmax(dim=1)
    count_a = estimation.gather(1, c_a[:, None]).squeeze(1)
    p_lower = clopper_pearson_lower(count_a, n, alpha)
    abstained = p_lower < 0.5
    radius = sigma * torch.from_numpy(stats.norm.ppf(p_lower.clamp(min=0.5).numpy()))
    return torch.where(abstained, ABSTAIN, c_a), radius.masked_fill(abstained, 0.0)


def _count_cases() -> list[tuple[str, Tensor, Tensor, float, float]]:
    """Vote counts to certify: random ones and the edge cases."""
    generator = torch.Generator().manual_seed(0)
    k, n0, n = 10, 100, 1000
    cases: list[tuple[str, Tensor, Tensor, float, float]] = []
    shares = torch.rand(200, k, generator=generator) ** 6
    shares[:, 0] += torch.rand(200, generator=generator) * 3
    shares = shares / shares.sum(1, keepdim=True)
    selection = torch.stack([torch.multinomial(p, n0, True, generator=generator) for p in shares])
    estimation = torch.stack([torch.multinomial(p, n, True, generator=generator) for p in shares])
    cases.append(
        (
            "200 random points",
            torch.nn.functional.one_hot(selection, k).sum(1),
            torch.nn.functional.one_hot(estimation, k).sum(1),
            0.25,
            0.001,
        )
    )
    edge_sel = torch.zeros(6, k, dtype=torch.long)
    edge_est = torch.zeros(6, k, dtype=torch.long)
    edge_sel[0, 3], edge_est[0, 3] = n0, n  # every copy votes 3: the largest radius
    edge_sel[1, 2], edge_est[1, 7] = n0, n  # the selection says 2, the estimate never does
    edge_sel[2, 4], edge_est[2, 4], edge_est[2, 5] = n0, n // 2, n // 2  # p_A = 1/2: abstain
    edge_sel[3, [1, 6]] = n0 // 2  # a tie in the selection: the smaller class index
    edge_est[3, 1], edge_est[3, 6] = 900, 100
    edge_sel[4, 8], edge_est[4, 8], edge_est[4, 0] = 60, 560, 440  # barely above 1/2
    edge_sel[4, 0] = 40
    edge_sel[5, 9], edge_est[5, 9], edge_est[5, 2] = n0, 999, 1
    cases.append(("six edge cases", edge_sel, edge_est, 0.5, 0.01))
    return cases


def _check_certify(solution: Solution, checks: Checks) -> None:
    from aisec.defenses.certify import max_certifiable_radius

    for label, selection, estimation, sigma, alpha in _count_cases():
        result = solution.call(
            "certify_from_counts", selection.clone(), estimation.clone(), sigma, alpha
        )
        if not isinstance(result, tuple) or len(result) != 2:
            checks.fail(
                f"returns (prediction, radius) for {label}",
                f"got {type(result).__name__}, expected a tuple of two tensors",
            )
            return
        rows = (selection.shape[0],)
        prediction = as_tensor(result[0], "certify_from_counts' prediction", shape=rows)
        radius = as_tensor(result[1], "certify_from_counts' radius", shape=rows, floating=True)
        want_class, want_radius = _reference_certificate(selection, estimation, sigma, alpha)
        wrong = int((prediction.long() != want_class).sum())
        checks.expect(
            f"the class or abstention (−1) of aisec's CERTIFY, {label}",
            wrong == 0,
            f"{wrong} of {rows[0]} differ" + (_first_diff(prediction, want_class) if wrong else ""),
        )
        gap = float((radius.double() - want_radius).abs().max())
        checks.expect(
            f"the radius of aisec's CERTIFY, {label}",
            gap <= 1e-6,
            f"largest difference {gap:.2e}",
        )
        largest = max_certifiable_radius(sigma, int(estimation[0].sum()), alpha)
        checks.expect(
            f"no radius beyond σ·Φ⁻¹(α^(1/n)), {label}",
            float(radius.max()) <= largest + 1e-9,
            f"largest radius {float(radius.max()):.4f}, bound {largest:.4f}",
        )


def _first_diff(mine: Tensor, want: Tensor) -> str:
    row = int((mine.long() != want).nonzero()[0, 0])
    return f" (row {row}: yours {int(mine[row])}, expected {int(want[row])})"


BPDA_JPEG = Exercise(
    name="bpda_jpeg",
    chapter=2,
    title="BPDA through JPEG: break jpeg:75 down to the undefended model's accuracy",
    statement=(
        "The deployed classifier is model(defense(x)), where defense is the JPEG round trip "
        "at quality 75: exact, but with no gradient (its output is detached), so plain PGD "
        "through it has nothing to follow and PGD on the bare model transfers poorly. Write "
        "L∞ PGD with BPDA: run the real defense in the forward pass and treat it as the "
        "identity in the backward pass (defense(x) + x − x.detach() has the defense's value and "
        "the identity's gradient). The defense is a plain function here: the checker judges "
        "your x_adv on the real JPEG defense."
    ),
    functions=(
        "bpda_pgd(model: nn.Module, defense: Callable[[Tensor], Tensor], x: Tensor, "
        "y: Tensor, eps: float, steps: int = 20) -> Tensor",
    ),
    checks=(
        "‖x_adv − x‖∞ ≤ ε and x_adv ∈ [0, 1] (ε = 0.1 on 128 digits)",
        "the JPEG-defended model's accuracy on x_adv is at most 8 points above the undefended "
        "model's accuracy under aisec's PGD (20 steps); the transfer attack stays far above it",
    ),
    checker=_check_bpda,
)

EVADE_SQUEEZING = Exercise(
    name="evade_squeezing",
    chapter=2,
    title="Evade feature squeezing: fool the model and slip past the detector on ≥ 80%",
    statement=(
        "A feature-squeezing detector (aisec's FeatureSqueezing with 2-bit depth reduction, "
        "calibrated to flag 5% of clean digits) protects the model. Write a detector-aware L∞ "
        "attack: an example counts only if the model misclassifies it and detector.detect does "
        "not flag it. detector.view_logits(x) gives the logits on x and on the squeezed x "
        "(differentiable, BPDA through the squeezer) and detector.threshold the threshold. "
        "Plain PGD is caught: its examples fool the unsqueezed model only."
    ),
    functions=(
        "evade_squeezing(model: nn.Module, detector: FeatureSqueezing, x: Tensor, y: Tensor, "
        "eps: float) -> Tensor",
    ),
    checks=(
        "‖x_adv − x‖∞ ≤ ε and x_adv ∈ [0, 1] (ε = 0.2 on 128 digits)",
        "at least 80% of the correctly classified digits are misclassified and not flagged",
    ),
    checker=_check_squeezing,
)

CERTIFY_COUNTS = Exercise(
    name="certify_counts",
    chapter=2,
    title="Randomized smoothing's CERTIFY from vote counts: class, abstention and radius",
    statement=(
        "Given, per input, the votes of n0 noisy copies (selection) and of n fresh copies "
        "(estimation), return CERTIFY's answer: the class c_A with the most selection votes "
        "(ties: the smallest index), the one-sided Clopper–Pearson lower bound p_A on its "
        "estimation share at level α (scipy.stats.beta.ppf(α, k, n − k + 1), 0 when k = 0), "
        "and the radius σ·Φ⁻¹(p_A); abstain (class −1, radius 0) when p_A < 1/2. The class "
        "must come from the selection counts: choosing it on the estimation counts would spend "
        "the same sample twice."
    ),
    functions=(
        "certify_from_counts(selection: Tensor, estimation: Tensor, sigma: float, "
        "alpha: float) -> tuple[Tensor, Tensor]",
    ),
    checks=(
        "prediction (N,) equals aisec's CERTIFY rule, −1 where it abstains",
        "radius (N,) equals it to 1e-6 (0 where it abstains)",
        "no radius exceeds σ·Φ⁻¹(α^(1/n)) (max_certifiable_radius)",
        "on 200 random count vectors and six edge cases (unanimous votes, a selection the "
        "estimate contradicts, p_A exactly 1/2, a tie, a bound just above 1/2)",
    ),
    checker=_check_certify,
)
