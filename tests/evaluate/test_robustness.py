"""evaluate_robustness: worst case over a suite, later attacks on robust points, sanity warnings."""

from __future__ import annotations

import json
import warnings
from typing import TYPE_CHECKING

import pytest
import torch
from torch import Tensor, nn

from aisec.attacks import PGD, AttackResult, EvasionAttack
from aisec.attacks.base import AttackContext
from aisec.evaluate import (
    RobustnessWarning,
    check_blackbox_beats_whitebox,
    default_suite,
    evaluate_robustness,
    run_attack,
)
from aisec.stats import Rate
from aisec.threat import ThreatModel

if TYPE_CHECKING:
    from conftest import Digits

pytestmark = pytest.mark.usefixtures("single_thread")

THREAT = ThreatModel("linf", 0.1)


def _suite(threat: ThreatModel = THREAT) -> list[EvasionAttack]:
    """The default suite with small budgets (the tests check guarantees, not strength)."""
    return default_suite(threat, steps=20, n_target_classes=3, n_queries=200)


class _Recorder(EvasionAttack):
    """An attack that breaks nothing and records the points it was given."""

    name = "recorder"

    def __init__(self, threat: ThreatModel) -> None:
        super().__init__(threat)
        self.seen: list[Tensor] = []

    def _run(self, ctx: AttackContext) -> Tensor:
        self.seen.append(ctx.x.clone())
        return ctx.x


class _Softmax(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return torch.softmax(self.model(x), dim=1)


class _Noisy(nn.Module):
    """A randomized model: Gaussian noise on the input at every call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x + 0.05 * torch.randn_like(x))  # type: ignore[no-any-return]


class _Quantized(nn.Module):
    """Gradient masking: inputs rounded to 5 grey levels, so the input gradient is zero."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        return self.model(torch.round(x * 4) / 4)  # type: ignore[no-any-return]


def test_report_is_a_per_example_worst_case(digits: Digits) -> None:
    x, y = digits.x[:96], digits.y[:96]
    report = evaluate_robustness(digits.model, x, y, THREAT, _suite(), batch_size=40)
    with torch.no_grad():
        clean = digits.model(x).argmax(dim=1) == y
    assert report.n == 96
    assert report.clean_accuracy == pytest.approx(float(clean.float().mean()))
    assert [s.attack for s in report.stages] == ["APGD-CE", "APGD-T", "Square"]
    # Each attack only gets the points every earlier attack failed on.
    attacked = int(clean.sum())
    for stage in report.stages:
        assert stage.attacked == attacked
        attacked -= stage.broken
    assert int(report.robust.sum()) == attacked
    assert report.robust_accuracy == pytest.approx(attacked / 96)
    accuracies = [report.clean_accuracy] + [s.robust_accuracy for s in report.stages]
    assert accuracies == sorted(accuracies, reverse=True)
    assert report.robust_accuracy == pytest.approx(report.stages[-1].robust_accuracy)
    assert report.robust_accuracy < report.clean_accuracy
    # Robust points are correctly classified; every other point has a valid adversarial example.
    assert not bool((report.robust & ~clean).any())
    assert bool(THREAT.contains(report.x_adv, x).all())
    with torch.no_grad():
        pred = digits.model(report.x_adv).argmax(dim=1)
    assert torch.equal(pred, report.adv_pred)
    assert bool((pred[~report.robust] != y[~report.robust]).all())
    assert bool((pred[report.robust] == y[report.robust]).all())
    # JSON round trip.
    data = json.loads(report.to_json(per_example=True))
    assert data["robust"] == report.robust.tolist()
    assert data["stages"][0]["attack"] == "APGD-CE"


def test_later_attacks_get_only_still_robust_points(digits: Digits) -> None:
    x, y = digits.x[:64], digits.y[:64]
    first = PGD(THREAT, steps=5, random_start=False)
    recorder = _Recorder(THREAT)
    report = evaluate_robustness(digits.model, x, y, THREAT, [first, recorder], batch_size=64)
    alone = first(digits.model, x, y)
    still_robust = (alone.adv_pred == y).nonzero().squeeze(1)
    assert 0 < still_robust.numel() < 64
    assert torch.equal(torch.cat(recorder.seen), x[still_robust])
    assert report.stages[1].attacked == still_robust.numel() and report.stages[1].broken == 0


def test_no_warnings_on_a_plain_model(digits: Digits) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", RobustnessWarning)
        report = evaluate_robustness(digits.model, digits.x[:32], digits.y[:32], THREAT, _suite())
    assert report.warnings == []


def _warnings_of(model: nn.Module, digits: Digits, threat: ThreatModel = THREAT) -> list[str]:
    with pytest.warns(RobustnessWarning) as caught:
        report = evaluate_robustness(model, digits.x[:48], digits.y[:48], threat, _suite(threat))
    assert [str(w.message) for w in caught] == report.warnings
    return report.warnings


def test_warns_on_probability_outputs(digits: Digits) -> None:
    messages = _warnings_of(_Softmax(digits.model), digits)
    assert any("probabilities" in m for m in messages)


def test_warns_on_a_randomized_model(digits: Digits) -> None:
    messages = _warnings_of(_Noisy(digits.model), digits)
    assert any("randomized" in m for m in messages)


def test_warns_on_gradient_masking(digits: Digits) -> None:
    """A rounding step zeroes the gradient: the white-box attacks fail and Square wins."""
    messages = _warnings_of(_Quantized(digits.model), digits, ThreatModel("linf", 0.2))
    assert any("all-zero input gradient" in m for m in messages)
    assert any("black-box attack Square" in m for m in messages)


def test_blackbox_threshold() -> None:
    assert check_blackbox_beats_whitebox(10, 1000, "Square") == []
    assert check_blackbox_beats_whitebox(1, 50, "Square") == []
    assert "Square" in check_blackbox_beats_whitebox(11, 1000, "Square")[0]
    assert "Square" in check_blackbox_beats_whitebox(2, 50, "Square")[0]


def test_evaluate_checks_its_inputs(digits: Digits) -> None:
    x, y = digits.x[:8], digits.y[:8]
    with pytest.raises(ValueError, match="evaluation is for"):
        evaluate_robustness(digits.model, x, y, THREAT, [PGD(ThreatModel("linf", 0.2))])
    with pytest.raises(ValueError, match="outside the threat model's bounds"):
        evaluate_robustness(digits.model, x + 2, y, THREAT)
    with pytest.raises(ValueError, match="only 10 classes"):
        evaluate_robustness(digits.model, x, y + 10, THREAT)
    with pytest.raises(TypeError, match="ThreatModel"):
        evaluate_robustness(digits.model, x, y, "linf")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch_size"):
        evaluate_robustness(digits.model, x, y, THREAT, batch_size=0)


def test_empty_evaluation(digits: Digits) -> None:
    report = evaluate_robustness(digits.model, digits.x[:0], digits.y[:0], THREAT, _suite())
    assert report.n == 0 and int(report.robust.numel()) == 0
    assert all(stage.attacked == 0 for stage in report.stages)


def test_run_attack_joins_batches(digits: Digits) -> None:
    x, y = digits.x[:50], digits.y[:50]
    attack = PGD(THREAT, steps=3)
    result = run_attack(digits.model, x, y, attack, batch_size=16)
    assert isinstance(result, AttackResult)
    assert result.n == 50 and result.x_adv.shape == x.shape
    parts = [
        attack(digits.model, x[i : i + 16], y[i : i + 16], ids=torch.arange(i, min(i + 16, 50)))
        for i in range(0, 50, 16)
    ]
    assert result.forwards == sum(p.forwards for p in parts)
    assert result.backwards == sum(p.backwards for p in parts)
    assert torch.equal(result.success, torch.cat([p.success for p in parts]))
    summary = result.summary()
    json.dumps(summary)
    assert summary["n"] == 50
    assert summary["robust_accuracy"] == pytest.approx(float((result.adv_pred == y).float().mean()))
    assert summary["max_norm"] <= 0.1 + 1e-6


def test_rows_carry_rates(digits: Digits) -> None:
    x, y = digits.x[:40], digits.y[:40]
    report = evaluate_robustness(digits.model, x, y, THREAT, [PGD(THREAT, steps=3)], warn=False)
    rows = report.rows()
    assert [row["attack"] for row in rows] == ["clean", "PGD"]
    assert rows[0]["accuracy after"] == report.clean_rate == Rate.of(report.clean_pred == y)
    assert rows[-1]["accuracy after"] == report.robust_rate == Rate.of(report.robust)
    assert rows[-1]["attacked"] == report.clean_rate.count
    assert report.robust_rate.value == pytest.approx(report.robust_accuracy)
