"""The robustness experiments' plans and results, on a linear classifier of the digits.

The zoo model is replaced through ``aisec.experiments.names.zoo_model``, so these tests need no
trained zoo model; the digits data ship with scikit-learn.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

import aisec.experiments.names
from aisec.data import load as load_data
from aisec.experiments.evasion import AttackPlan, SuitePlan, run_attack_plan, run_suite
from aisec.experiments.robustness import RobustnessPlan
from aisec.stats import Rate


class _Linear(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.linear(x.flatten(1))
        return out


def _fit() -> nn.Module:
    """The nearest-class-mean classifier of the digits training split, as a linear layer.

    ``argmin_c ‖x − μ_c‖²`` is ``argmax_c (x·μ_c − ‖μ_c‖²/2)``: accurate enough on the digits
    to leave points to attack, and free of any training.
    """
    train = load_data("digits", "train")
    flat = train.images.flatten(1)
    means = torch.stack([flat[train.labels == c].mean(0) for c in range(10)])
    model = _Linear()
    with torch.no_grad():
        model.linear.weight.copy_(means)
        model.linear.bias.copy_(-0.5 * means.pow(2).sum(1))
    return model.eval()


@pytest.fixture(scope="module")
def fitted() -> nn.Module:
    return _fit()


@pytest.fixture
def fake_zoo(monkeypatch: pytest.MonkeyPatch, fitted: nn.Module) -> list[str]:
    loaded: list[str] = []

    def fake(name: str) -> nn.Module:
        loaded.append(name)
        return fitted

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", fake)
    return loaded


def _no_loading(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("nothing may load before the plan is checked")

    monkeypatch.setattr(aisec.experiments.names, "zoo_model", refuse)
    monkeypatch.setattr(aisec.experiments.names, "load_task", refuse)


def _rates(row: dict[str, object]) -> tuple[Rate, Rate, Rate]:
    clean, robust, success = row["clean accuracy"], row["robust accuracy"], row["success rate"]
    assert isinstance(clean, Rate) and isinstance(robust, Rate) and isinstance(success, Rate)
    return clean, robust, success


def test_attack_plan_rows_and_json(fake_zoo: list[str]) -> None:
    plan = AttackPlan(model="digits-cnn", attack="pgd", eps="0.1", n=24, steps=5, batch_size=10)
    assert plan.eps == pytest.approx(0.1)
    run = run_attack_plan(plan)
    assert fake_zoo == ["digits-cnn"]
    (row,) = run.rows()
    clean, robust, success = _rates(row)
    assert clean.total == robust.total == 24 and success.total == clean.count
    assert robust.count <= clean.count
    assert row["max norm"] <= 0.1 + 1e-6
    # Three batches (10, 10, 4): the calls add up.
    assert row["backwards"] == 3 * 5
    record = json.loads(json.dumps(run.to_dict()))
    assert record["model"] == "digits-cnn" and record["attack"] == "PGD"
    assert record["attack_config"].startswith("PGD(") and len(record["norms"]) == 24
    assert record["robust_accuracy"] == pytest.approx(robust.value)
    assert run.x.shape == (24, 1, 8, 8) and len(run.class_names) == 10


def test_suite_plan_counts_add_up(fake_zoo: list[str]) -> None:
    plan = SuitePlan(model="digits-cnn", eps=0.2, n=16, apgd_steps=5, square_queries=50)
    run = run_suite(plan)
    rows = run.rows()
    assert [r["attack"] for r in rows] == ["clean", "APGD-CE", "APGD-T", "Square"]
    still = run.clean.count
    assert rows[0]["accuracy after"] == run.clean
    for row in rows[1:]:
        assert row["attacked"] == still
        still -= row["broken"]
        assert row["accuracy after"] == Rate(still, 16)
    assert run.robust == Rate(still, 16) and run.robust.count <= run.clean.count
    assert float((run.report.x_adv - run.x).abs().max()) <= 0.2 + 1e-6
    record = json.loads(json.dumps(run.to_dict()))
    assert record["model"] == "digits-cnn" and len(record["robust"]) == 16
    assert [s["attack"] for s in record["stages"]] == ["APGD-CE", "APGD-T", "Square"]


def test_suite_plan_with_named_attacks(fake_zoo: list[str]) -> None:
    run = run_suite(SuitePlan(model="digits-cnn", norm="l2", eps=1.0, n=8, attacks=("fgsm",)))
    assert [r["attack"] for r in run.rows()] == ["clean", "FGSM"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AttackPlan(model="resnet-9000"), "known models"),
        (lambda: AttackPlan(attack="deepfool"), "unknown attack 'deepfool'"),
        (lambda: AttackPlan(attack="square", norm="l2", eps=0.5), "Square supports the norms"),
        (lambda: AttackPlan(norm="l7"), "norm must be one of"),
        (lambda: AttackPlan(eps=-1.0), "eps must be finite and >= 0"),
        (lambda: AttackPlan(n=0), "n must be >= 1"),
        (lambda: AttackPlan(steps=0), "steps must be >= 1"),
        (lambda: SuitePlan(attacks=("nope",)), "unknown attack 'nope'"),
        (lambda: SuitePlan(norm="l2", attacks=("square",)), "Square supports the norms"),
        (lambda: SuitePlan(square_queries=0), "square_queries must be >= 1"),
        (lambda: RobustnessPlan(linf_eps=(), l2_eps=()), "at least one budget"),
        (lambda: RobustnessPlan(linf_eps=(0.0,)), "linf_eps must be > 0"),
        (lambda: RobustnessPlan(suite_eps="x"), "eps must be a number or a fraction"),
        (lambda: RobustnessPlan(imagenet_photos=-1), "imagenet_photos must be >= 0"),
    ],
)
def test_a_bad_plan_fails_before_anything_loads(
    monkeypatch: pytest.MonkeyPatch, make: Callable[[], object], message: str
) -> None:
    _no_loading(monkeypatch)
    with pytest.raises(ValueError, match=message):
        make()


def test_budgets_of_the_wrong_type_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="sequence of budgets"):
        RobustnessPlan(linf_eps=0.1)
    with pytest.raises(TypeError, match="n must be an int"):
        AttackPlan(n=2.5)


def test_budgets_may_be_fractions() -> None:
    plan = RobustnessPlan(linf_eps=("8/255", 0.1), suite_eps="8/255")
    assert plan.linf_eps == (8 / 255, 0.1) and plan.suite_eps == 8 / 255
