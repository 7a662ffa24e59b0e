"""Adaptive evaluation of preprocessing defenses: BPDA/EOT beat the non-adaptive numbers."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pytest
import torch
from torch import Tensor, nn

from aisec.attacks import EvasionAttack
from aisec.attacks.base import AttackContext
from aisec.attacks.evasion import PGD
from aisec.defenses.preprocess import (
    BitDepthReduction,
    JPEGCompression,
    PreprocessedModel,
    Preprocessor,
    RandomResizePad,
    parse_defense,
)
from aisec.evaluate import (
    DefenseCase,
    DefenseReport,
    ExpectationModel,
    compare_defenses,
    evaluate_defense,
    evaluate_robustness,
)
from aisec.stats import Rate
from aisec.threat import ThreatModel

if TYPE_CHECKING:
    from conftest import Digits

pytestmark = pytest.mark.usefixtures("single_thread")

THREAT = ThreatModel("linf", 0.1)
FAST = {"steps": 10, "square_queries": 0, "eot_samples": 4}


@pytest.fixture(scope="module")
def jpeg_report(digits: Digits) -> DefenseReport:
    return evaluate_defense(
        digits.model, [JPEGCompression(50)], digits.x[:100], digits.y[:100], THREAT, **FAST
    )


def test_adaptive_attack_breaks_jpeg_below_the_non_adaptive_number(
    jpeg_report: DefenseReport,
) -> None:
    report = jpeg_report
    # The naive evaluation credits JPEG with robustness that BPDA takes away.
    assert report.adaptive_accuracy < report.non_adaptive_accuracy - 0.1
    assert report.robust_accuracy == report.adaptive_accuracy
    assert report.clean_accuracy > report.non_adaptive_accuracy
    assert report.defenses == ["jpeg:50"] and report.name == "jpeg:50"
    assert not report.differentiable and report.eot_samples == 0
    # A naive white-box attack meets masked gradients; the BPDA attacker does not.
    assert report.naive_gradient_warnings and not report.warnings
    assert [stage.attack for stage in report.stages] == ["APGD-CE", "APGD-T"]


def test_report_is_consistent_with_the_defended_model(
    digits: Digits, jpeg_report: DefenseReport
) -> None:
    report = jpeg_report
    x, y = digits.x[:100], digits.y[:100]
    defended = PreprocessedModel(digits.model, JPEGCompression(50))
    with torch.no_grad():
        clean = defended(x).argmax(dim=1)
        adv = defended(report.x_adv).argmax(dim=1)
    assert report.clean_accuracy == pytest.approx(float((clean == y).double().mean()))
    assert THREAT.contains(report.x_adv, x).all()
    # Robust points are classified correctly; every broken point has an example that the
    # real (exact JPEG) defended model misclassifies, or was misclassified to begin with.
    assert (clean[report.robust] == y[report.robust]).all()
    broken = ~report.robust
    assert ((adv[broken] != y[broken]) | (clean[broken] != y[broken])).all()
    assert report.adaptive_accuracy == pytest.approx(float(report.robust.double().mean()))
    assert report.stages[-1].robust_accuracy == pytest.approx(report.adaptive_accuracy)


@pytest.mark.parametrize("spec", ["bits:2", "median:3", "blur:3:1", "resize-pad:0.8"])
def test_adaptive_is_never_above_non_adaptive(digits: Digits, spec: str) -> None:
    x, y = digits.x[:40], digits.y[:40]
    report = evaluate_defense(digits.model, [parse_defense(spec)], x, y, THREAT, **FAST)
    assert report.adaptive_accuracy <= report.non_adaptive_accuracy <= report.clean_accuracy
    assert report.randomized == (spec.startswith("resize-pad"))
    assert report.eot_samples == (4 if report.randomized else 0)


def test_randomized_defense_uses_eot_and_is_broken(digits: Digits) -> None:
    x, y = digits.x[:60], digits.y[:60]
    report = evaluate_defense(digits.model, [RandomResizePad(0.7)], x, y, THREAT, **FAST)
    assert report.randomized and report.differentiable
    assert report.adaptive_accuracy < report.non_adaptive_accuracy


class _CoinFlip(Preprocessor):
    """A randomized 'defense' that blanks half of the images at random (a fixed seed)."""

    name = "coin"
    differentiable = True
    randomized = True

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(0)

    def spec(self) -> str:
        return "coin"

    def defend(self, x: Tensor) -> Tensor:
        keep = torch.rand(x.shape[0], generator=self.generator) < 0.5
        return x * keep.to(x.dtype).reshape(-1, 1, 1, 1)


def test_randomized_defense_is_judged_by_its_real_predictions(digits: Digits) -> None:
    # Averaged over draws the coin-flip model mostly looks right (a strong surrogate), but a
    # blank image is one class: its real predictions are wrong about half the time.
    x, y = digits.x[:60], digits.y[:60]
    report = evaluate_defense(digits.model, [_CoinFlip()], x, y, THREAT, **FAST)
    assert report.clean_accuracy < 0.8
    assert report.adaptive_accuracy <= report.clean_accuracy


class _UndeclaredRounding(Preprocessor):
    """Bit-depth reduction that wrongly claims to be differentiable (so no BPDA is used)."""

    name = "rounding"
    differentiable = True

    def spec(self) -> str:
        return "rounding"

    def defend(self, x: Tensor) -> Tensor:
        return (x * 3).round() / 3


def test_masked_gradients_are_reported(digits: Digits) -> None:
    x, y = digits.x[:30], digits.y[:30]
    report = evaluate_defense(digits.model, [_UndeclaredRounding()], x, y, THREAT, **FAST)
    assert any("gradient masking" in message for message in report.warnings)
    assert any("gradient masking" in m for m in report.naive_gradient_warnings)


def test_bare_model_row(digits: Digits) -> None:
    x, y = digits.x[:40], digits.y[:40]
    report = evaluate_defense(digits.model, [], x, y, THREAT, **FAST)
    assert report.name == "no defense" and report.defenses == []
    assert report.clean_accuracy == report.undefended_clean_accuracy
    assert report.naive_gradient_warnings == []
    assert report.adaptive_accuracy <= report.non_adaptive_accuracy


def test_expectation_model_averages_draws(digits: Digits) -> None:
    x = digits.x[:8]
    one = PreprocessedModel(digits.model, RandomResizePad(0.7, seed=5))
    same = PreprocessedModel(digits.model, RandomResizePad(0.7, seed=5))
    with torch.no_grad():
        assert torch.equal(ExpectationModel(one, 1)(x), same(x))
        averaged = ExpectationModel(one, 3)(x)
        draws = torch.stack([same(x) for _ in range(3)])
    assert torch.allclose(averaged, draws.mean(dim=0), atol=1e-5)
    # Deterministic models are unchanged by averaging.
    with torch.no_grad():
        assert torch.allclose(ExpectationModel(digits.model, 4)(x), digits.model(x), atol=1e-5)


def test_compare_defenses_table(digits: Digits) -> None:
    x, y = digits.x[:30], digits.y[:30]
    seen: list[str] = []
    table = compare_defenses(
        [
            DefenseCase("no defense", digits.model),
            ("bits", digits.model, [BitDepthReduction(3)]),
        ],
        x,
        y,
        THREAT,
        on_row=lambda report: seen.append(report.name),
        **FAST,
    )
    assert seen == ["no defense", "bits"] == [row.name for row in table.rows]
    record = json.loads(table.to_json())
    assert record["n"] == 30 and record["threat"]["eps"] == pytest.approx(0.1)
    assert record["settings"]["adaptive_attacks"] == ["APGD-CE", "APGD-T"]
    keys = {"clean_accuracy", "non_adaptive_accuracy", "adaptive_accuracy", "robust_accuracy"}
    for row in record["rows"]:
        assert keys <= set(row)
        assert 0.0 <= row["adaptive_accuracy"] <= row["non_adaptive_accuracy"] <= 1.0


def test_bad_input(digits: Digits) -> None:
    x, y = digits.x[:4], digits.y[:4]
    with pytest.raises(TypeError, match="ThreatModel"):
        evaluate_defense(digits.model, [], x, y, "linf")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Preprocessor"):
        evaluate_defense(digits.model, [nn.Identity()], x, y, THREAT)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="eot_samples"):
        evaluate_defense(digits.model, [], x, y, THREAT, eot_samples=0)
    with pytest.raises(ValueError, match="outside the threat model's bounds"):
        evaluate_defense(digits.model, [], x * 3, y, THREAT)
    other = PGD(ThreatModel("linf", 0.2), steps=2)
    with pytest.raises(ValueError, match="runs under"):
        evaluate_defense(digits.model, [], x, y, THREAT, attacks=[other])
    with pytest.raises(ValueError, match="transfer_examples must be a tensor"):
        evaluate_defense(digits.model, [], x, y, THREAT, transfer_examples=x[:2])
    with pytest.raises(ValueError, match="inside the threat model"):
        evaluate_defense(digits.model, [], x, y, THREAT, transfer_examples=1 - x)
    with pytest.raises(TypeError, match="DefenseCase"):
        compare_defenses(["jpeg:75"], x, y, THREAT)  # type: ignore[list-item]


# --- the stage loop shared by evaluate_robustness and evaluate_defense ----------------------


class _Brightness(nn.Module):
    """Two classes by mean brightness (class 1 above 0.5): which shift breaks a point is known."""

    def forward(self, x: Tensor) -> Tensor:
        score = 20 * (x.mean(dim=(1, 2, 3)) - 0.5)
        return torch.stack([-score, score], dim=1)


class _Shift(EvasionAttack):
    """Adds ``delta`` to every pixel and records the points it was given."""

    uses_gradients = False

    def __init__(self, threat: ThreatModel, delta: float, name: str) -> None:
        super().__init__(threat)
        self.delta = delta
        self.name = name
        self.seen: list[Tensor] = []

    def _run(self, ctx: AttackContext) -> Tensor:
        self.seen.append(ctx.x.clone())
        return ctx.x + self.delta


Evaluator = Callable[[nn.Module, Tensor, Tensor, Sequence[EvasionAttack]], tuple[Tensor, list[int]]]


def _by_robustness(
    model: nn.Module, x: Tensor, y: Tensor, attacks: Sequence[EvasionAttack]
) -> tuple[Tensor, list[int]]:
    report = evaluate_robustness(
        model, x, y, THREAT, attacks, batch_size=7, sanity_checks=False, warn=False
    )
    return report.robust, [stage.attacked for stage in report.stages]


def _by_defense(
    model: nn.Module, x: Tensor, y: Tensor, attacks: Sequence[EvasionAttack]
) -> tuple[Tensor, list[int]]:
    # The bare model, and transfer examples that change nothing: only the stages break points.
    report = evaluate_defense(
        model, [], x, y, THREAT, attacks=attacks, transfer_examples=x, batch_size=7
    )
    return report.robust, [stage.attacked for stage in report.stages]


@pytest.mark.parametrize("evaluate", [_by_robustness, _by_defense])
def test_both_evaluations_share_the_stage_loop(evaluate: Evaluator) -> None:
    levels = torch.linspace(0.3, 0.7, 41)[torch.arange(41) != 20]  # no point on the boundary
    x = levels.reshape(-1, 1, 1, 1).expand(-1, 1, 4, 4).contiguous()
    y = (levels > 0.5).long()
    y[:3] = 1 - y[:3]  # three points misclassified from the start
    model = _Brightness()
    darker, brighter = _Shift(THREAT, -0.06, "darker"), _Shift(THREAT, 0.06, "brighter")
    last = _Shift(THREAT, 0.0, "recorder")
    robust, attacked = evaluate(model, x, y, [darker, brighter, last])

    def holds(images: Tensor) -> Tensor:
        predictions: Tensor = model(images.clamp(0, 1)).argmax(dim=1)
        return predictions == y

    correct = holds(x)
    after_darker = correct & holds(x - 0.06)
    expected = after_darker & holds(x + 0.06)
    assert 0 < int(expected.sum()) < int(after_darker.sum()) < int(correct.sum()) < 40
    # A point is robust only if every attack failed on it ...
    assert torch.equal(robust, expected)
    # ... and each later stage saw exactly the points every earlier one failed on, in order.
    assert attacked == [int(correct.sum()), int(after_darker.sum()), int(expected.sum())]
    assert torch.equal(torch.cat(darker.seen), x[correct])
    assert torch.equal(torch.cat(brighter.seen), x[after_darker])
    assert torch.equal(torch.cat(last.seen), x[expected])


def test_defense_rows_carry_rates(digits: Digits, jpeg_report: DefenseReport) -> None:
    row = jpeg_report.row()
    assert row["defense"] == "jpeg:50" and row["gradient"] == "BPDA"
    adaptive = row["adaptive (worst case)"]
    assert isinstance(adaptive, Rate) and adaptive.total == jpeg_report.n == 100
    assert adaptive.value == pytest.approx(jpeg_report.adaptive_accuracy)
    assert row["clean accuracy"].value == pytest.approx(jpeg_report.clean_accuracy)
    assert row["non-adaptive (transferred PGD)"].value == pytest.approx(
        jpeg_report.non_adaptive_accuracy
    )
    table = compare_defenses(
        [DefenseCase("no defense", digits.model)], digits.x[:20], digits.y[:20], THREAT, **FAST
    )
    (only,) = table.table_rows()
    assert only == table.rows[0].row() and only["gradient"] == "exact"
