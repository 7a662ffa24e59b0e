"""Errors, not nonsense: NaN/inf logits and float labels in every evaluation.

``argmax`` of a NaN row is class 0, so a model that returns NaN on perturbed inputs would get
a "robust accuracy" equal to the share of class 0; a float label 2.7 truncated to class 2 would
be silently wrong. Every evaluation raises instead, and the sanity checks report non-finite
outputs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import torch
from torch import Tensor, nn

from aisec.attacks import PGD
from aisec.attacks.base import NonFiniteOutputError
from aisec.data.signs import canonical_sign
from aisec.defenses.preprocess import JPEGCompression
from aisec.evaluate import (
    check_gradients,
    check_output_kind,
    evaluate_defense,
    evaluate_robustness,
)
from aisec.evaluate.certify import evaluate_smoothing
from aisec.evaluate.physical import evaluate_patch, evaluate_signs
from aisec.evaluate.sanity import check_finite_outputs, check_perturbed_outputs
from aisec.threat import ThreatModel

if TYPE_CHECKING:
    from conftest import Digits

pytestmark = pytest.mark.usefixtures("single_thread")

THREAT = ThreatModel("linf", 0.1)


class _NonFiniteOffData(nn.Module):
    """``model``, but NaN logits on every input that is not one of ``clean``'s rows."""

    def __init__(self, model: nn.Module, clean: Tensor) -> None:
        super().__init__()
        self.model = model
        self.clean = clean.flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        logits: Tensor = self.model(x)
        on_data = (x.flatten(1)[:, None] == self.clean[None]).all(dim=2).any(dim=1)
        return torch.where(on_data[:, None], logits, torch.full_like(logits, float("nan")))


class _Constant(nn.Module):
    """Logits ``value`` for every input: NaN or inf everywhere."""

    def __init__(self, value: float, classes: int = 10) -> None:
        super().__init__()
        self.value = value
        self.classes = classes
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x: Tensor) -> Tensor:
        return torch.full((x.shape[0], self.classes), self.value) * self.scale


def test_robustness_sanity_checks_turn_nan_off_the_data_into_an_error(digits: Digits) -> None:
    x, y = digits.x[:16], digits.y[:16]
    model = _NonFiniteOffData(digits.model, x)
    with pytest.raises(NonFiniteOutputError, match="random points of the threat model"):
        evaluate_robustness(model, x, y, THREAT, [PGD(THREAT, steps=3)], warn=False)


def test_robustness_without_sanity_checks_still_raises(digits: Digits) -> None:
    x, y = digits.x[:16], digits.y[:16]
    model = _NonFiniteOffData(digits.model, x)
    with pytest.raises(NonFiniteOutputError, match="inputs the attack queried"):
        evaluate_robustness(model, x, y, THREAT, [PGD(THREAT, steps=3)], sanity_checks=False)


def test_robustness_refuses_nan_on_the_clean_inputs(digits: Digits) -> None:
    x, y = digits.x[:8], digits.y[:8]
    with pytest.raises(NonFiniteOutputError, match="on 8 of 8 clean inputs"):
        evaluate_robustness(_Constant(float("nan")), x, y, THREAT, [PGD(THREAT, steps=2)])


def test_defense_evaluation_refuses_nan_logits(digits: Digits) -> None:
    x, y = digits.x[:8], digits.y[:8]
    with pytest.raises(NonFiniteOutputError, match="NaN or infinite logits"):
        evaluate_defense(
            _Constant(float("inf")), [JPEGCompression(50)], x, y, THREAT, steps=2, square_queries=0
        )


def test_smoothing_refuses_nan_votes_and_float_labels(digits: Digits) -> None:
    x, y = digits.x[:2], digits.y[:2]
    with pytest.raises(NonFiniteOutputError, match="noisy copies of the test points"):
        evaluate_smoothing(_Constant(float("nan")), x, y, sigma=0.25, n0=4, n=8, predict=False)
    with pytest.raises(TypeError, match="not rounded or truncated"):
        evaluate_smoothing(digits.model, x, y.float() + 0.5, sigma=0.25, n0=4, n=8)


def test_physical_evaluations_refuse_nan_and_float_labels() -> None:
    sign = canonical_sign("stop", size=64)
    with pytest.raises(NonFiniteOutputError, match="held-out views of the 'clean' sign"):
        evaluate_signs(
            _Constant(float("nan"), classes=12),
            {"clean": sign.image},
            sign.mask,
            source=0,
            target=None,
            n_conditions=2,
        )
    scenes = torch.rand(3, 3, 32, 32)
    patch = torch.full((3, 8, 8), 0.5)
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        evaluate_patch(
            _Constant(0.0, classes=12),
            {"patch": patch},
            torch.ones(1, 8, 8),
            scenes,
            target=1,
            labels=torch.tensor([0.0, 2.0, 3.0]),
            n_conditions=2,
        )


def test_sanity_checks_report_non_finite_outputs(digits: Digits) -> None:
    x, y = digits.x[:8], digits.y[:8]
    nan_logits = torch.full((8, 10), float("nan"))
    (message,) = check_finite_outputs(nan_logits, "clean inputs")
    assert "NaN or infinite logits on 8 of 8 clean inputs" in message
    assert check_output_kind(nan_logits) == [message]
    assert check_finite_outputs(digits.model(x)) == []
    (gradient,) = check_gradients(_Constant(float("inf")), x, y)
    assert "NaN or infinite logits on 8 of 8" in gradient
    off_data = _NonFiniteOffData(digits.model, x)
    (perturbed,) = check_perturbed_outputs(off_data, x, THREAT)
    assert "8 of 8 random points of the threat model" in perturbed
    assert check_perturbed_outputs(digits.model, x, THREAT) == []
