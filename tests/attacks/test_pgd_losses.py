"""One PGD: the attack's losses, the shared ascent loop, restarts, and bit-identity with the past.

The PGD attack, adversarial training's inner maximisation (PGD-AT, fast AT, TRADES) and the
detector-aware attack on feature squeezing all run
:func:`aisec.attacks.evasion.projected_gradient_ascent`. Each used to have its own loop; the
``REFERENCE`` functions below are those loops, copied unchanged from before the merge, and the
tests assert that the shared loop gives the same adversarial examples bit for bit (and the same
weights after adversarial training), so that cached zoo models and the tour's numbers stay
valid.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.attacks import PGD, AttackResult, EvasionAttack, Restarts, SquareAttack
from aisec.attacks.base import AttackContext
from aisec.attacks.evasion import (
    APGD,
    BallProjector,
    CarliniWagnerL2,
    FromLogits,
    InputLoss,
    Iterate,
    KLToClean,
    LossContext,
    projected_gradient_ascent,
)
from aisec.attacks.evasion._steps import (
    ascent_direction,
    batch_view,
    make_generator,
    random_start,
)
from aisec.attacks.evasion.losses import (
    ce_loss,
    cross_entropy,
    dlr,
    dlr_loss,
    targeted_ce_loss,
    targeted_dlr_loss,
)
from aisec.defenses.detect import FeatureSqueezing
from aisec.defenses.preprocess import BitDepthReduction, MedianFilter
from aisec.defenses.training import TRADES, FastAdversarialTraining, PGDAdversarialTraining
from aisec.defenses.training._common import module_mode
from aisec.evaluate.detection import DetectorAwareLoss, detector_aware_pgd
from aisec.models import SmallCNN, TrainConfig
from aisec.models.plumbing import Model
from aisec.models.training import train_classifier
from aisec.threat import ThreatModel, linf_box

if TYPE_CHECKING:
    from conftest import Digits

pytestmark = pytest.mark.usefixtures("single_thread")


# --------------------------------------------------------------------------------------------
# REFERENCE implementations: the loops as they were before the shared PGD, copied verbatim
# (apart from names and the removed restart loop, which ran once with restarts=1). Do not edit:
# they pin the behaviour that cached zoo models and the tour's numbers depend on.
# --------------------------------------------------------------------------------------------


def reference_linf_ascent(
    model: nn.Module,
    x: Tensor,
    start: Tensor,
    objective: Callable[[Tensor], Tensor],
    *,
    eps: float,
    step_size: float,
    steps: int,
    bounds: tuple[float, float],
) -> Tensor:
    """REFERENCE: ``aisec.defenses.training._common.linf_ascent`` before the shared PGD."""
    lower, upper = linf_box(x.detach(), eps, bounds)
    x_adv = torch.minimum(torch.maximum(start.detach(), lower), upper)
    for _ in range(steps):
        x_adv.requires_grad_(True)
        (grad,) = torch.autograd.grad(objective(model(x_adv)), x_adv)
        x_adv = torch.minimum(torch.maximum(x_adv.detach() + step_size * grad.sign(), lower), upper)
    return x_adv.detach()


def reference_cross_entropy_ascent(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    generator: torch.Generator,
    *,
    eps: float,
    step_size: float,
    steps: int,
    bounds: tuple[float, float],
    attack_mode: Literal["train", "eval"],
) -> Tensor:
    """REFERENCE: ``cross_entropy_ascent`` (with ``uniform_start``) of PGD-AT and fast AT."""
    noise = torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    start = x + (2 * noise - 1) * eps
    with module_mode(model, attack_mode == "train"):
        return reference_linf_ascent(
            model,
            x,
            start,
            lambda logits: torch.nn.functional.cross_entropy(logits, y, reduction="sum"),
            eps=eps,
            step_size=step_size,
            steps=steps,
            bounds=bounds,
        )


def reference_trades_perturb(
    objective: TRADES, model: nn.Module, x: Tensor, generator: torch.Generator
) -> Tensor:
    """REFERENCE: ``TRADES.perturb`` before the shared PGD."""
    assert objective.step_size is not None
    with module_mode(model, objective.attack_mode == "train"):
        with torch.no_grad():
            clean = F.softmax(model(x), dim=1)
        noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
        return reference_linf_ascent(
            model,
            x,
            x + objective.init_std * noise,
            lambda logits: F.kl_div(F.log_softmax(logits, dim=1), clean, reduction="sum"),
            eps=objective.eps,
            step_size=objective.step_size,
            steps=objective.steps,
            bounds=objective.bounds,
        )


def _reference_margin(logits: Tensor, y: Tensor) -> Tensor:
    true = logits.gather(1, y[:, None]).squeeze(1)
    other = logits.clone()
    other.scatter_(1, y[:, None], -math.inf)
    return other.amax(dim=1) - true


def reference_detector_aware_pgd(
    detector: FeatureSqueezing,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    steps: int,
    lam: float = 1.0,
    kappa: float = 2.0,
    seed: int = 0,
) -> Tensor:
    """REFERENCE: ``aisec.evaluate.detection.detector_aware_pgd``'s loop before the shared PGD."""
    alpha = 2.5 * threat.eps / steps
    generator = torch.Generator().manual_seed(seed)
    noise = torch.rand(x.shape, generator=generator).to(device=x.device, dtype=x.dtype)
    start = x + (2 * noise - 1) * threat.eps if threat.norm == "linf" else x.clone()
    x_adv = threat.project(start.clamp(*threat.bounds), x)
    best = x_adv.clone()
    best_score = torch.full((x.shape[0],), math.inf, device=x.device)
    detector.eval()
    for _ in range(steps + 1):
        with torch.enable_grad():
            point = x_adv.clone().requires_grad_(True)
            views = detector.view_logits(point)
            logits = views[0]
            score = detector.score_from_logits(views)
            margins = torch.stack([_reference_margin(v, y).clamp(max=kappa) for v in views])
            objective = margins.sum(dim=0) - lam * score
            (grad,) = torch.autograd.grad(objective.sum(), point)
        with torch.no_grad():
            fooled = logits.argmax(dim=1) != y
            better = fooled & (score < best_score)
            best[better] = x_adv[better]
            best_score[better] = score[better]
            if threat.norm == "linf":
                step = grad.sign()
            else:
                norms = grad.flatten(1).norm(dim=1).clamp(min=1e-12)
                step = grad / norms.reshape(-1, *[1] * (grad.ndim - 1))
            x_adv = threat.project(x_adv + alpha * step, x)
    never = torch.isinf(best_score)
    best[never] = x_adv[never]
    return best


class ReferencePGD(EvasionAttack):
    """REFERENCE: the PGD attack's ``_run`` before the shared loop (one run, i.e. restarts=1)."""

    name = "PGD"
    supported_norms = ("linf", "l2")

    def __init__(
        self,
        threat: ThreatModel,
        *,
        steps: int = 20,
        random_start: bool = True,
        loss: str = "ce",
        seed: int = 0,
    ) -> None:
        super().__init__(threat)
        self.steps = steps
        self.step_size = 2.5 * threat.eps / steps
        self.random_start = random_start
        self.loss = loss
        self.seed = seed

    def _loss(self, logits: Tensor, y: Tensor, targets: Tensor | None) -> Tensor:
        if self.loss == "ce":
            return ce_loss(logits, y) if targets is None else targeted_ce_loss(logits, targets)
        return dlr_loss(logits, y) if targets is None else targeted_dlr_loss(logits, y, targets)

    def _wants_clean_graph(self) -> bool:
        return not self.random_start

    def _run(self, ctx: AttackContext) -> tuple[Tensor, Tensor]:
        model, x, y, targets = ctx.model, ctx.x, ctx.y, ctx.targets
        generator = make_generator(self.seed, x.device)
        first_grad = None
        if ctx.clean_graph is not None:
            first_grad = ctx.clean_graph.gradient(lambda z: self._loss(z, y, targets))
        x_last, hit, hit_x, hit_pred = self._attack_once(
            model, x, y, targets, generator, first_grad
        )
        return torch.where(batch_view(hit, x_last), hit_x, x_last), hit_pred

    def _attack_once(
        self,
        model: Model,
        x: Tensor,
        y: Tensor,
        targets: Tensor | None,
        generator: torch.Generator,
        first_grad: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        n = x.shape[0]
        project = BallProjector(x, self.threat)
        x_adv = random_start(x, self.threat, generator) if self.random_start else x.clone()
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        hit_x = x.clone()
        hit_pred = torch.full((n,), -1, dtype=torch.long, device=x.device)
        active = torch.arange(n, device=x.device)
        norm = self.threat.norm
        alpha = self.step_size
        for step in range(self.steps):
            if step == 0 and first_grad is not None:
                grad = first_grad
            else:
                with torch.enable_grad():
                    x_adv.requires_grad_(True)
                    out = model(x_adv)
                    loss = self._loss(out, y, targets).sum()
                    (grad,) = torch.autograd.grad(loss, x_adv)
                x_adv = x_adv.detach()
                with torch.no_grad():
                    pred = out.argmax(dim=1)
                    adversarial = pred == targets if targets is not None else pred != y
                    if bool(adversarial.any()):
                        rows = active[adversarial]
                        hit_x[rows] = x_adv[adversarial]
                        hit_pred[rows] = pred[adversarial]
                        found[rows] = True
                        keep = ~adversarial
                        active, x_adv, grad, y = active[keep], x_adv[keep], grad[keep], y[keep]
                        targets = targets[keep] if targets is not None else None
                        project = project.select(keep)
                        if active.numel() == 0:
                            return hit_x, found, hit_x, hit_pred
            with torch.no_grad():
                if norm == "linf":
                    x_adv.add_(grad.sign(), alpha=alpha)
                else:
                    x_adv.add_(ascent_direction(grad, norm), alpha=alpha)
                x_adv = project(x_adv)
        x_last = hit_x.clone()
        x_last[active] = x_adv
        return x_last, found, hit_x, hit_pred


# --------------------------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------------------------


def _batchnorm_cnn(device: torch.device, seed: int = 0) -> SmallCNN:
    """A small CNN with BatchNorm, so that train-mode attacks also move the running stats."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return SmallCNN(1, 10, widths=(8, 16), hidden=32).to(device)


def _generator(seed: int, device: torch.device) -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@pytest.fixture(scope="module")
def batch(digits: Digits) -> tuple[Tensor, Tensor]:
    x: Tensor = digits.x[:48]
    y: Tensor = digits.y[:48]
    return x, y


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --------------------------------------------------------------------------------------------
# Bit-identity with the reference loops
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attack_mode", ["train", "eval"])
@pytest.mark.parametrize(
    "objective",
    [
        PGDAdversarialTraining(eps=8 / 255, steps=2),  # the signs-cnn-at recipe
        PGDAdversarialTraining(eps=0.15, steps=5, step_size=0.05),
        FastAdversarialTraining(eps=0.15),
    ],
    ids=["pgd-at-zoo", "pgd-at-5", "fast-at"],
)
def test_adversarial_training_examples_are_bit_identical(
    objective: PGDAdversarialTraining | FastAdversarialTraining,
    attack_mode: Literal["train", "eval"],
    batch: tuple[Tensor, Tensor],
) -> None:
    x, y = batch
    objective = dataclasses.replace(objective, attack_mode=attack_mode)
    old_model, new_model = _batchnorm_cnn(x.device), _batchnorm_cnn(x.device)
    old_model.train()
    new_model.train()
    assert objective.step_size is not None
    old = reference_cross_entropy_ascent(
        old_model,
        x,
        y,
        _generator(3, x.device),
        eps=objective.eps,
        step_size=objective.step_size,
        steps=objective.ascent_steps,
        bounds=objective.bounds,
        attack_mode=attack_mode,
    )
    new = objective.perturb(new_model, x, y, _generator(3, x.device))
    assert torch.equal(old, new)
    # Train-mode attacks update BatchNorm's running statistics the same way.
    assert _same_state(old_model, new_model)


@pytest.mark.parametrize("attack_mode", ["eval", "train"])
def test_trades_examples_are_bit_identical(
    attack_mode: Literal["train", "eval"], batch: tuple[Tensor, Tensor]
) -> None:
    x, _ = batch
    objective = TRADES(eps=0.15, steps=4, attack_mode=attack_mode)
    old_model, new_model = _batchnorm_cnn(x.device), _batchnorm_cnn(x.device)
    old = reference_trades_perturb(objective, old_model, x, _generator(5, x.device))
    new = objective.perturb(new_model, x, _generator(5, x.device))
    assert torch.equal(old, new)
    assert _same_state(old_model, new_model)


class _ReferencePGDAT:
    """REFERENCE: the PGD-AT step loss with the old inner loop (same repr-free call)."""

    def __init__(self, objective: PGDAdversarialTraining) -> None:
        self.objective = objective

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        o = self.objective
        assert o.step_size is not None
        x_adv = reference_cross_entropy_ascent(
            model,
            x,
            y,
            generator,
            eps=o.eps,
            step_size=o.step_size,
            steps=o.steps,
            bounds=o.bounds,
            attack_mode=o.attack_mode,
        )
        logits = model(x_adv)
        return F.cross_entropy(logits, y), logits


def test_adversarial_training_gives_bit_identical_weights(digits: Digits) -> None:
    """The zoo's recipe (PGD-2 at 8/255, train-mode attack) trains to the same weights."""
    x: Tensor = digits.x[:96]
    y: Tensor = digits.y[:96]
    objective = PGDAdversarialTraining(eps=8 / 255, steps=2)
    config = TrainConfig(epochs=2, batch_size=32, lr=1e-2)
    old_model, new_model = _batchnorm_cnn(x.device), _batchnorm_cnn(x.device)
    train_classifier(old_model, x, y, config, step_loss=_ReferencePGDAT(objective), progress=False)
    train_classifier(new_model, x, y, config, step_loss=objective, progress=False)
    assert _same_state(old_model, new_model)


def test_training_records_are_unchanged() -> None:
    """The objectives' reprs are the recipe the zoo checks cached models against."""
    assert repr(PGDAdversarialTraining(eps=8 / 255, steps=2)) == (
        "PGDAdversarialTraining(eps=0.03137254901960784, steps=2, step_size=0.0392156862745098, "
        "attack_mode='train', bounds=(0.0, 1.0))"
    )
    assert repr(TRADES()) == (
        "TRADES(eps=0.03137254901960784, beta=6.0, steps=10, step_size=0.00784313725490196, "
        "init_std=0.001, attack_mode='eval', bounds=(0.0, 1.0))"
    )
    assert repr(FastAdversarialTraining()) == (
        "FastAdversarialTraining(eps=0.03137254901960784, step_size=0.0392156862745098, "
        "attack_mode='train', bounds=(0.0, 1.0))"
    )


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_detector_aware_pgd_is_bit_identical(norm: str, digits: Digits) -> None:
    model: nn.Module = digits.model
    x: Tensor = digits.x[:24]
    y: Tensor = digits.y[:24]
    detector = FeatureSqueezing(model, [BitDepthReduction(2), MedianFilter(2)])
    threat = ThreatModel(norm, 0.1 if norm == "linf" else 1.0)  # type: ignore[arg-type]
    old = reference_detector_aware_pgd(detector, x, y, threat, steps=6, seed=2)
    new = detector_aware_pgd(detector, x, y, threat, steps=6, seed=2)
    if norm == "linf":  # the tour's threat model
        assert torch.equal(old, new)
    else:
        # The L2 step is now the PGD attack's x + α·d with one rounding (a fused multiply-add)
        # instead of two; the difference stays at rounding level except where the squeezers'
        # quantisation amplifies it along the iterations.
        assert bool(threat.contains(new, x).all())
        close = (old - new).flatten(1).abs().amax(dim=1) < 1e-5
        assert float(close.float().mean()) >= 0.8


@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("random_start", [True, False])
@pytest.mark.parametrize("loss", ["ce", "dlr"])
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_attack_is_bit_identical(
    norm: str, loss: str, random_start: bool, targeted: bool, digits: Digits
) -> None:
    model: nn.Module = digits.model
    x: Tensor = digits.x[:64]
    y: Tensor = digits.y[:64]
    threat = ThreatModel(norm, 0.08 if norm == "linf" else 0.8)  # type: ignore[arg-type]
    targets = (y + 1) % 10 if targeted else None
    kwargs = {"steps": 8, "random_start": random_start, "loss": loss, "seed": 4}
    old = ReferencePGD(threat, **kwargs)(model, x, y, targets)  # type: ignore[arg-type]
    new = PGD(threat, **kwargs)(model, x, y, targets)  # type: ignore[arg-type]
    assert torch.equal(old.x_adv, new.x_adv)
    assert torch.equal(old.adv_pred, new.adv_pred)
    assert (old.forwards, old.backwards, old.forward_examples, old.backward_examples) == (
        new.forwards,
        new.backwards,
        new.forward_examples,
        new.backward_examples,
    )


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------


def _my_ce(logits: Tensor, y: Tensor, targets: Tensor | None) -> Tensor:
    return F.cross_entropy(logits, y if targets is None else targets, reduction="none") * (
        1 if targets is None else -1
    )


@pytest.mark.parametrize(
    "loss",
    [cross_entropy, _my_ce, FromLogits(cross_entropy)],
    ids=["named-function", "own-function", "input-loss"],
)
def test_pgd_takes_a_loss_function_or_an_input_loss(loss: object, digits: Digits) -> None:
    """A function or an InputLoss equal to the cross-entropy gives what "ce" gives."""
    model: nn.Module = digits.model
    x: Tensor = digits.x[:32]
    y: Tensor = digits.y[:32]
    threat = ThreatModel("linf", 0.08)
    by_name = PGD(threat, steps=6, loss="ce")(model, x, y)
    custom = PGD(threat, steps=6, loss=loss)(model, x, y)  # type: ignore[arg-type]
    assert torch.equal(by_name.x_adv, custom.x_adv)
    by_dlr_name = PGD(threat, steps=6, loss="dlr")(model, x, y)
    assert torch.equal(by_dlr_name.x_adv, PGD(threat, steps=6, loss=dlr)(model, x, y).x_adv)


class _CountingLoss(InputLoss):
    """The cross-entropy of the model at a blurred copy of the point (needs the input)."""

    def __init__(self) -> None:
        self.contexts: list[LossContext] = []

    def __call__(self, model: Model, x_adv: Tensor, context: LossContext) -> tuple[Tensor, Tensor]:
        self.contexts.append(context)
        blurred = F.avg_pool2d(x_adv, 3, stride=1, padding=1)
        logits = model(x_adv)
        return F.cross_entropy(model(blurred), context.labels(), reduction="none"), logits


def test_input_loss_sees_the_rows_still_attacked(digits: Digits) -> None:
    model: nn.Module = digits.model
    x: Tensor = digits.x[:32]
    y: Tensor = digits.y[:32]
    loss = _CountingLoss()
    threat = ThreatModel("linf", 0.2)
    result = PGD(threat, steps=10, loss=loss)(model, x, y)
    assert bool(threat.contains(result.x_adv, x).all())
    assert result.robust_accuracy is not None and result.clean_accuracy is not None
    assert result.robust_accuracy < result.clean_accuracy
    sizes = [int(c.labels().shape[0]) for c in loss.contexts]
    assert sizes == sorted(sizes, reverse=True) and sizes[-1] < sizes[0]  # fooled rows leave
    for context in loss.contexts:
        assert context.clean_logits is not None
        assert context.clean_logits.shape == (context.labels().shape[0], 10)
    # Two forward passes per step through the counting model.
    assert result.forwards >= 2 * len(loss.contexts)


def test_kl_to_clean_is_the_trades_loss(digits: Digits) -> None:
    model: nn.Module = digits.model
    x: Tensor = digits.x[:8]
    with torch.no_grad():
        clean = model(x)
        kl, logits = KLToClean()(model, x, LossContext(clean_logits=clean))
    assert torch.allclose(kl, torch.zeros_like(kl), atol=1e-6)
    assert torch.equal(logits, clean)
    with pytest.raises(ValueError, match="clean logits"):
        KLToClean()(model, x, LossContext())
    with pytest.raises(ValueError, match="labels"):
        FromLogits(cross_entropy)(model, x, LossContext())
    # As an attack loss, it moves the prediction (the attack gives it the clean logits).
    threat = ThreatModel("linf", 0.2)
    result = PGD(threat, steps=10, loss=KLToClean())(model, digits.x[:32], digits.y[:32])
    assert result.success.any()


def test_detector_aware_loss_runs_in_the_pgd_attack(digits: Digits) -> None:
    model: nn.Module = digits.model
    x: Tensor = digits.x[:32]
    y: Tensor = digits.y[:32]
    detector = FeatureSqueezing(model, [BitDepthReduction(2)])
    threat = ThreatModel("linf", 0.2)
    result = PGD(threat, steps=10, loss=DetectorAwareLoss(detector))(model, x, y)
    assert bool(threat.contains(result.x_adv, x).all())
    assert result.success.any()
    # Every view is a forward and a backward pass of the counted model.
    assert result.backwards > 0 and result.backwards % 2 == 0


@pytest.mark.parametrize(
    ("build", "error"),
    [
        (lambda: PGD(ThreatModel("linf", 0.1), loss="margin"), ValueError),
        (lambda: PGD(ThreatModel("linf", 0.1), loss=3), TypeError),
        (lambda: DetectorAwareLoss(nn.Linear(2, 2)), TypeError),  # type: ignore[arg-type]
    ],
)
def test_bad_losses_are_clear_errors(build: Callable[[], object], error: type) -> None:
    with pytest.raises(error):
        build()


def test_observer_drops_rows_and_keeps_their_iterate() -> None:
    """Dropped rows keep the iterate at which they left; the others take every step."""
    x = torch.zeros(4, 3)
    threat = ThreatModel("linf", 1.0)
    seen: list[int] = []

    def objective(x_adv: Tensor, context: LossContext) -> tuple[Tensor, None]:
        return x_adv.sum(dim=1), None

    def drop_row_one_at_step_two(iterate: Iterate[None]) -> Tensor | None:
        seen.append(int(iterate.rows.numel()))
        return iterate.rows != 1 if iterate.step == 2 else None

    out = projected_gradient_ascent(
        objective,
        x,
        LossContext(),
        BallProjector(x, threat),
        norm="linf",
        step_size=0.1,
        steps=5,
        observe=drop_row_one_at_step_two,
    )
    assert seen == [4, 4, 4, 3, 3]
    assert torch.allclose(out[1], torch.full((3,), 0.2))
    assert torch.allclose(out[[0, 2, 3]], torch.full((3, 3), 0.5))


# --------------------------------------------------------------------------------------------
# Restarts
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attack",
    [
        PGD(ThreatModel("linf", 0.06), steps=5, seed=1),
        APGD(ThreatModel("linf", 0.06), steps=5, seed=1),
        SquareAttack(ThreatModel("linf", 0.06), n_queries=50, seed=1),
    ],
    ids=["PGD", "APGD", "Square"],
)
def test_one_restart_is_the_attack_itself(attack: EvasionAttack, digits: Digits) -> None:
    model: nn.Module = digits.model
    x: Tensor = digits.x[:32]
    y: Tensor = digits.y[:32]
    once = attack(model, x, y)
    wrapped = Restarts(attack, 1)(model, x, y)
    assert torch.equal(once.x_adv, wrapped.x_adv)
    assert (once.forwards, once.backwards) == (wrapped.forwards, wrapped.backwards)


def _restart_by_hand(
    build: Callable[[int], EvasionAttack], n: int, model: nn.Module, x: Tensor, y: Tensor
) -> tuple[Tensor, list[AttackResult]]:
    """Run ``build(seed)`` for seeds 0..n-1 each on the points no earlier run fooled."""
    found = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    results = []
    for seed in range(n):
        rows = (~found).nonzero().squeeze(1)
        result = build(seed)(model, x[rows], y[rows])
        found[rows] = result.success
        results.append(result)
    return found, results


def test_restarts_keep_the_first_success_and_run_only_on_survivors(digits: Digits) -> None:
    model: nn.Module = digits.model
    x: Tensor = digits.x[:64]
    y: Tensor = digits.y[:64]
    threat = ThreatModel("linf", 0.1)

    def build(seed: int) -> PGD:
        return PGD(threat, steps=2, seed=seed)

    result = Restarts(build(0), 4)(model, x, y)
    assert result.attack == "PGD (4 restarts)"
    found, runs = _restart_by_hand(build, 4, model, x, y)
    assert torch.equal(result.success, found)
    first = runs[0]
    assert int(result.success.sum()) > int(first.success.sum())  # restarts find more
    # A point fooled by the first run keeps that run's example.
    assert torch.equal(result.x_adv[first.success], first.x_adv[first.success])
    assert bool(threat.contains(result.x_adv, x).all())
    # Later runs attack only the survivors: fewer backward examples than 4 full runs.
    assert result.backward_examples < 4 * first.backward_examples


def test_restarts_keep_the_highest_loss_run_of_robust_points(digits: Digits) -> None:
    model, x, y = digits.model, digits.x[:32], digits.y[:32]
    threat = ThreatModel("linf", 0.01)  # small: most points survive every run

    def build(seed: int) -> PGD:
        return PGD(threat, steps=2, seed=seed)

    result = Restarts(build(0), 3)(model, x, y)
    robust = ~result.success
    assert bool(robust.any())
    found, runs = _restart_by_hand(build, 3, model, x, y)
    assert torch.equal(result.success, found)
    # The points robust to every run ran in every run; they keep the run of highest margin.
    margins = torch.full((3, 32), -math.inf, device=x.device)
    rows = torch.arange(32, device=x.device)
    for index, run in enumerate(runs):
        with torch.no_grad():
            margins[index, rows] = _reference_margin(model(run.x_adv), y[rows])
        rows = rows[~run.success]
    with torch.no_grad():
        kept = _reference_margin(model(result.x_adv), y)
    assert torch.allclose(kept[robust], margins.amax(dim=0)[robust], atol=1e-5)


def test_restarts_follow_the_wrapped_attack(digits: Digits) -> None:
    square = Restarts(SquareAttack(ThreatModel("linf", 0.1), n_queries=20), 2)
    assert not square.uses_gradients and square.min_ndim == 4
    assert square.supported_norms == ("linf",)
    assert "Restarts(SquareAttack" in repr(square)
    with pytest.raises(ValueError, match="random_start"):
        Restarts(PGD(ThreatModel("linf", 0.1), random_start=False), 2)
    with pytest.raises(ValueError, match="seed"):
        Restarts(CarliniWagnerL2(ThreatModel("l2", 1.0)), 2)
    with pytest.raises(TypeError):
        Restarts("pgd", 2)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Restarts(PGD(ThreatModel("linf", 0.1)), 0)
    # One run of a deterministic attack is allowed (it is the attack).
    Restarts(CarliniWagnerL2(ThreatModel("l2", 1.0)), 1)
