"""The evasion-attack contract, checked for every attack in ``CASES``.

Adding an attack to ``CASES`` is enough to check it: shape, dtype and device of ``x_adv``; the
threat model holds; success is computed on the returned points; accuracy drops (to about zero
for the strong attacks at a large eps); targeted mode reaches its targets; black-box attacks never
call backward; the model's modes are restored; the same seed gives the same result.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.attacks import (
    APGD,
    FGSM,
    PGD,
    AttackResult,
    CarliniWagnerL2,
    EvasionAttack,
    Restarts,
    SquareAttack,
)
from aisec.attacks.evasion import InputLoss, LossContext
from aisec.attacks.evasion.losses import cross_entropy, margin
from aisec.models.plumbing import Model
from aisec.threat import ThreatModel

if TYPE_CHECKING:
    from conftest import Digits

pytestmark = pytest.mark.usefixtures("single_thread")


def _margin_loss(logits: Tensor, y: Tensor, targets: Tensor | None) -> Tensor:
    """A loss function of the user's: the C&W margin, towards the target if there is one."""
    return margin(logits, targets) if targets is not None else -margin(logits, y)


class _SmoothedCrossEntropy(InputLoss):
    """A loss that needs the input: the cross-entropy at the point and at a blurred copy."""

    def __call__(self, model: Model, x_adv: Tensor, context: LossContext) -> tuple[Tensor, Tensor]:
        logits = model(x_adv)
        blurred = model(F.avg_pool2d(x_adv, 3, stride=1, padding=1))
        y, targets = context.labels(), context.targets
        return cross_entropy(logits, y, targets) + cross_entropy(blurred, y, targets), logits


@dataclass(frozen=True)
class Case:
    """An attack under test.

    Attributes:
        name: test id.
        build: makes the attack for a threat model (small budgets keep the tests fast).
        norms: the norms it supports.
        strong: drives accuracy to about zero at a large eps.
        targeted_rate: the least targeted success rate expected at a large eps.
    """

    name: str
    build: Callable[[ThreatModel], EvasionAttack]
    norms: tuple[str, ...]
    strong: bool
    targeted_rate: float

    def __str__(self) -> str:
        return self.name


CASES = [
    Case("FGSM", lambda t: FGSM(t), ("linf", "l2"), strong=False, targeted_rate=0.2),
    Case("PGD", lambda t: PGD(t, steps=20), ("linf", "l2"), strong=True, targeted_rate=0.9),
    Case(
        "PGD-no-random-start",
        lambda t: PGD(t, steps=20, random_start=False),
        ("linf", "l2"),
        strong=True,
        targeted_rate=0.9,
    ),
    Case(
        "PGD-restarts",
        lambda t: Restarts(PGD(t, steps=5, loss="dlr"), 3),
        ("linf", "l2"),
        strong=True,
        targeted_rate=0.8,
    ),
    Case(
        "PGD-loss-function",
        lambda t: PGD(t, steps=20, loss=_margin_loss),
        ("linf", "l2"),
        strong=True,
        targeted_rate=0.9,
    ),
    Case(
        "PGD-input-loss",
        lambda t: PGD(t, steps=20, loss=_SmoothedCrossEntropy()),
        ("linf", "l2"),
        strong=True,
        targeted_rate=0.9,
    ),
    Case("APGD-CE", lambda t: APGD(t, steps=20), ("linf", "l2"), strong=True, targeted_rate=0.9),
    Case(
        "APGD-DLR",
        lambda t: APGD(t, steps=20, loss="dlr"),
        ("linf", "l2"),
        strong=True,
        targeted_rate=0.9,
    ),
    Case(
        "APGD-T",
        lambda t: APGD(t, steps=10, loss="dlr", n_target_classes=3),
        ("linf", "l2"),
        strong=True,
        targeted_rate=0.9,
    ),
    Case(
        "Square",
        lambda t: SquareAttack(t, n_queries=300),
        ("linf",),
        strong=False,
        targeted_rate=0.5,
    ),
    Case(
        "Square-restarts",
        lambda t: Restarts(SquareAttack(t, n_queries=100), 3),
        ("linf",),
        strong=False,
        targeted_rate=0.5,
    ),
    Case(
        "CW-L2",
        lambda t: CarliniWagnerL2(
            t, max_iterations=50, binary_search_steps=5, initial_const=1.0, learning_rate=0.05
        ),
        ("l2",),
        strong=False,
        targeted_rate=0.6,
    ),
]

# A moderate and a large budget per norm, for 8×8 digits in [0, 1].
MODERATE = {"linf": 0.1, "l2": 1.0}
LARGE = {"linf": 0.3, "l2": 3.0}

PARAMS = [pytest.param(case, norm, id=f"{case}-{norm}") for case in CASES for norm in case.norms]


@contextmanager
def _deterministic_gpu(device: torch.device) -> Iterator[None]:
    """On a GPU, ask for deterministic kernels (the CPU ones already are)."""
    if device.type == "cpu":
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.backends.cudnn.deterministic = previous[1]


def _accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def _check_result(result: AttackResult, model: nn.Module, x: Tensor, y: Tensor) -> None:
    """Guarantees every result must satisfy, whatever the attack."""
    threat = result.threat
    assert result.x_adv.shape == x.shape
    assert result.x_adv.dtype == x.dtype
    assert result.x_adv.device == x.device
    assert bool(torch.isfinite(result.x_adv).all())
    # ‖x_adv − x‖ <= eps + 1e-6 and inside the bounds.
    assert bool(threat.contains(result.x_adv, x, atol=1e-6).all())
    assert float(result.x_adv.min()) >= threat.bounds[0]
    assert float(result.x_adv.max()) <= threat.bounds[1]
    assert torch.allclose(result.norms, threat.norms(result.x_adv - x))
    # Success is computed on x_adv as returned.
    with torch.no_grad():
        pred = model(result.x_adv).argmax(dim=1)
    assert torch.equal(pred, result.adv_pred)
    expected = pred == result.targets if result.targets is not None else pred != y
    assert torch.equal(result.success, expected)
    assert result.forwards >= 1


@pytest.mark.parametrize(("case", "norm"), PARAMS)
def test_result_contract_and_accuracy_drop(case: Case, norm: str, digits: Digits) -> None:
    x, y = digits.x[:64], digits.y[:64]
    threat = ThreatModel(norm, MODERATE[norm])  # type: ignore[arg-type]
    result = case.build(threat)(digits.model, x, y)
    _check_result(result, digits.model, x, y)
    clean = _accuracy(digits.model, x, y)
    assert result.clean_accuracy == pytest.approx(clean)
    assert result.robust_accuracy is not None
    assert result.robust_accuracy < clean - 0.05


@pytest.mark.parametrize(("case", "norm"), PARAMS)
def test_large_eps(case: Case, norm: str, digits: Digits) -> None:
    """Untargeted: accuracy near 0 for the strong attacks; targeted: targets reached."""
    x, y = digits.x[64:128], digits.y[64:128]
    threat = ThreatModel(norm, LARGE[norm])  # type: ignore[arg-type]
    attack = case.build(threat)
    result = attack(digits.model, x, y)
    _check_result(result, digits.model, x, y)
    if case.strong:
        assert result.robust_accuracy is not None and result.robust_accuracy <= 0.03
    shift = torch.randint(1, 10, y.shape, generator=torch.Generator().manual_seed(0))
    targets = (y + shift.to(y.device)) % 10
    targeted = attack(digits.model, x, y, targets)
    _check_result(targeted, digits.model, x, y)
    assert targeted.targeted
    assert targeted.success_rate is not None and targeted.success_rate >= case.targeted_rate


@pytest.mark.parametrize(("case", "norm"), PARAMS)
def test_dtype_device_and_seed(case: Case, norm: str, digits: Digits) -> None:
    """float64 stays float64; the same configuration gives the same x_adv; no model gradients."""
    model = copy.deepcopy(digits.model).double()
    x, y = digits.x[:16].double(), digits.y[:16]
    attack = case.build(ThreatModel(norm, MODERATE[norm]))  # type: ignore[arg-type]
    with _deterministic_gpu(x.device):
        first = attack(model, x, y)
        _check_result(first, model, x, y)
        again = attack(model, x, y)
    if x.device.type == "cpu":
        assert torch.equal(first.x_adv, again.x_adv)
    else:  # some GPU kernels still reduce in varying order
        assert torch.allclose(first.x_adv, again.x_adv, atol=1e-6)
    assert all(p.grad is None for p in model.parameters())


class _ModeRecorder(nn.Module):
    """Wraps a model; records whether it was in training mode at each forward pass."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.dropout = nn.Dropout(0.5)
        self.seen: list[bool] = []

    def forward(self, x: Tensor) -> Tensor:
        self.seen.append(self.training or self.model.training or self.dropout.training)
        return self.dropout(self.model(x))


@pytest.mark.parametrize(("case", "norm"), PARAMS)
def test_model_mode_and_backward_calls(case: Case, norm: str, digits: Digits) -> None:
    """Eval mode during the attack, every sub-module's own mode restored after; black-box
    attacks make no backward pass, gradient attacks count theirs."""
    model = _ModeRecorder(copy.deepcopy(digits.model))
    model.train()
    model.model.eval()  # mixed modes must come back exactly
    backward_calls = []
    model.register_full_backward_hook(lambda *args: backward_calls.append(1))
    attack = case.build(ThreatModel(norm, MODERATE[norm]))  # type: ignore[arg-type]
    result = attack(model, digits.x[:16], digits.y[:16])
    assert model.seen and not any(model.seen)
    assert model.training and model.dropout.training and not model.model.training
    assert result.backwards == len(backward_calls)
    if attack.uses_gradients:
        assert result.backwards > 0
    else:
        assert result.backwards == 0 and not backward_calls


def test_carlini_wagner_reduces_the_norm_of_its_first_solution(digits: Digits) -> None:
    x, y = digits.x[:32], digits.y[:32]
    # The L2 diameter of [0, 1]^64: unbounded, as C&W (a minimum-norm attack) is meant to run.
    threat = ThreatModel("l2", 8.0)
    attack = CarliniWagnerL2(threat, max_iterations=100, binary_search_steps=5)
    result = attack(digits.model, x, y)
    initial = result.extras["initial_norms"]
    final = result.extras["cw_norms"]
    found = torch.isfinite(initial) & (initial > 0)
    assert int(found.sum()) >= 16
    assert bool((final[found] <= initial[found] + 1e-6).all())
    assert float(final[found].mean()) < 0.9 * float(initial[found].mean())
    # Unbounded, the returned points are the minimum-norm solutions themselves.
    assert torch.allclose(result.norms[found], final[found], atol=1e-4)
    assert bool(result.success[found].all())


def test_carlini_wagner_counts_success_only_within_eps(digits: Digits) -> None:
    x, y = digits.x[:32], digits.y[:32]
    small = ThreatModel("l2", 0.3)
    attack = CarliniWagnerL2(
        small, max_iterations=50, binary_search_steps=3, initial_const=1.0, learning_rate=0.05
    )
    result = attack(digits.model, x, y)
    _check_result(result, digits.model, x, y)
    cw_norms = result.extras["cw_norms"]
    beyond = torch.isfinite(cw_norms) & (cw_norms > 0.3 + 1e-6)
    assert bool((result.norms <= 0.3 + 1e-6).all())
    # Points whose minimum-norm solution lies beyond eps are returned projected (norm eps).
    assert bool(beyond.any())
    assert torch.allclose(result.norms[beyond], torch.full_like(result.norms[beyond], 0.3))


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_costs_what_a_plain_loop_costs(random_start: bool, digits: Digits) -> None:
    """No redundant passes: one backward per step, and besides the steps' forwards only the
    clean pass (shared with the first step without random start) and one final check. At
    eps = 0 no point can fall, so every step runs on every attacked point."""
    x, y = digits.x[:64], digits.y[:64]
    steps = 7
    attack = PGD(ThreatModel("linf", 0.0), steps=steps, random_start=random_start)
    result = attack(digits.model, x, y)
    assert result.backwards == steps
    clean_passes = 1 if random_start else 0
    assert steps + clean_passes <= result.forwards <= steps + clean_passes + 1
    # The steps only run on the points not already misclassified (the first step without random
    # start backpropagates through the clean pass of the whole batch); the final check at most
    # evaluates those points again.
    attacked = int((result.clean_pred == y).sum())
    first = attacked if random_start else 64
    assert result.backward_examples == first + (steps - 1) * attacked
    final_rows = result.forward_examples - 64 - (steps - 1 + clean_passes) * attacked
    assert 0 <= final_rows <= attacked


def test_pgd_stops_optimising_fooled_points(digits: Digits) -> None:
    """A point leaves the batch once an iterate fools the model: at a large eps the steps cost
    far less than every point for every step, and the result is what running on would return
    (the first adversarial iterate of each point)."""
    x, y = digits.x[:64], digits.y[:64]
    steps = 20
    attack = PGD(ThreatModel("linf", 0.3), steps=steps, step_size=0.05, random_start=False)
    result = attack(digits.model, x, y)
    attacked = int((result.clean_pred == y).sum())
    assert bool(result.success.all())
    assert result.backward_examples < 64 + (steps - 1) * attacked // 2
    assert result.backwards < steps
    # The same points, one at a time, give the same adversarial examples.
    single = torch.cat([attack(digits.model, x[i : i + 1], y[i : i + 1]).x_adv for i in range(8)])
    assert torch.allclose(single, result.x_adv[:8], atol=1e-6)


def test_apgd_runs_target_classes_side_by_side_on_few_points(digits: Digits) -> None:
    """With few points left, APGD-T attacks all target classes in one batch (one backward per
    step), and a point that falls for one target stops in all its rows; one run at a time
    needs a backward per step and target. Both return genuine adversarial examples."""
    x, y = digits.x[:6], digits.y[:6]
    threat = ThreatModel("linf", 0.04)
    steps = 10
    side_by_side = APGD(threat, steps=steps, loss="dlr", n_target_classes=3)
    one_at_a_time = APGD(threat, steps=steps, loss="dlr", n_target_classes=3)
    one_at_a_time.parallel_rows = 1
    together = side_by_side(digits.model, x, y)
    apart = one_at_a_time(digits.model, x, y)
    assert not bool(apart.success.all())  # some point survives the first target class
    assert apart.backwards > steps
    assert together.backwards <= steps
    for result in (together, apart):
        assert bool(threat.contains(result.x_adv, x).all())
        with torch.no_grad():
            pred = digits.model(result.x_adv).argmax(dim=1)
        assert torch.equal(result.success, pred != y)


class _NonFiniteOffData(nn.Module):
    """The digits model, but NaN (or inf) logits on every input that is not one of ``clean``'s
    rows: a model that breaks a step away from its data."""

    def __init__(self, model: nn.Module, clean: Tensor, value: float = float("nan")) -> None:
        super().__init__()
        self.model = model
        self.clean = clean.flatten(1)
        self.value = value

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.model(x)
        on_data = (x.flatten(1)[:, None] == self.clean[None]).all(dim=2).any(dim=1)
        return torch.where(on_data[:, None], logits, torch.full_like(logits, self.value))


@pytest.mark.parametrize(("case", "norm"), PARAMS)
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_logits_on_perturbed_inputs_raise(
    case: Case, norm: str, value: float, digits: Digits
) -> None:
    """argmax of NaN is class 0: an attack must not turn such outputs into a robustness number."""
    x, y = digits.x[:16], digits.y[:16]
    model = _NonFiniteOffData(digits.model, x, value)
    attack = case.build(ThreatModel(norm, MODERATE[norm]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"NaN or infinite logits on .* inputs the attack queried"):
        attack(model, x, y)


@pytest.mark.parametrize(("case", "norm"), PARAMS[:3])
def test_non_finite_logits_on_clean_inputs_raise(case: Case, norm: str, digits: Digits) -> None:
    x, y = digits.x[:8], digits.y[:8]
    model = _NonFiniteOffData(digits.model, x[:0])  # NaN everywhere
    attack = case.build(ThreatModel(norm, MODERATE[norm]))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NaN or infinite logits on 8 of 8 clean inputs"):
        attack(model, x, y)


def test_float_labels_are_refused_not_truncated(digits: Digits) -> None:
    x, y = digits.x[:4], digits.y[:4]
    with pytest.raises(TypeError, match="not rounded or truncated"):
        PGD(ThreatModel("linf", 0.1), steps=2)(digits.model, x, y.float() + 0.7)


def test_l2_budget_beyond_the_box_is_refused(digits: Digits) -> None:
    x, y = digits.x[:4], digits.y[:4]  # 64 coordinates in [0, 1]: L2 diameter 8
    PGD(ThreatModel("l2", 8.0), steps=1)(digits.model, x, y)
    with pytest.raises(ValueError, match="larger than the l2 diameter 8"):
        PGD(ThreatModel("l2", 8.5), steps=1)(digits.model, x, y)
