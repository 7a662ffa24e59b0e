"""Held-out evaluation (:mod:`aisec.evaluate.physical`): the same conditions for every variant,
a printable control sticker, rates with their sample size, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aisec.attacks.physical import PRINTER_PALETTE
from aisec.data.signs import canonical_sign
from aisec.evaluate.physical import control_sticker, evaluate_signs
from aisec.stats import Rate


@pytest.mark.parametrize("renderer", ["eot", "dataset"])
def test_every_variant_is_read_under_the_same_conditions(
    signs_model: nn.Module, renderer: str
) -> None:
    sign = canonical_sign("stop", size=64)
    evaluation = evaluate_signs(
        signs_model,
        {"a": sign.image, "b": sign.image.clone()},
        sign.mask,
        source=0,
        target=1,
        n_conditions=30,
        seed=4,
        renderer=renderer,  # type: ignore[arg-type]
        batch_size=7,
        keep_views=5,
    )
    assert evaluation["a"].predictions == evaluation["b"].predictions
    assert evaluation["a"].n == 30 and evaluation.n_conditions == 30
    assert evaluation.views["a"].shape == (5, 3, 32, 32)
    other = evaluate_signs(
        signs_model, {"a": sign.image}, sign.mask, source=0, target=1, n_conditions=30, seed=5
    )
    assert not torch.equal(evaluation.views["a"], other.views.get("a", torch.zeros(0)))


def test_the_control_sticker_is_printable_and_inside_its_mask() -> None:
    mask = torch.zeros(1, 64, 64)
    mask[:, 10:30, 5:60] = 1.0
    sticker = control_sticker(mask, seed=3, cell=8)
    assert float(sticker[:, mask[0] < 0.5].abs().max()) == 0.0
    inside = sticker[:, mask[0] > 0.5]
    distances = PRINTER_PALETTE.distances(inside[:, :, None]).min(dim=0).values
    assert float(distances.max()) < 1e-6
    assert torch.equal(sticker, control_sticker(mask, seed=3, cell=8))


def test_evaluation_errors() -> None:
    sign = canonical_sign("stop", size=64)
    model = nn.Flatten()
    with pytest.raises(ValueError, match="renderer must be 'eot' or 'dataset'"):
        evaluate_signs(model, {"a": sign.image}, sign.mask, source=0, target=1, renderer="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be a \\(3, S, S\\) tensor matching the mask"):
        evaluate_signs(model, {"a": sign.image[:, :32]}, sign.mask, source=0, target=1)
    with pytest.raises(ValueError, match="n_conditions must be >= 1"):
        evaluate_signs(model, {"a": sign.image}, sign.mask, source=0, target=1, n_conditions=0)


def test_rates_carry_their_counts(signs_model: nn.Module) -> None:
    sign = canonical_sign("stop", size=64)
    evaluation = evaluate_signs(
        signs_model, {"a": sign.image}, sign.mask, source=0, target=1, n_conditions=20, seed=4
    )
    metrics = evaluation["a"]
    assert isinstance(metrics.targeted_rate, Rate) and isinstance(metrics.source_rate, Rate)
    assert metrics.targeted_rate.total == metrics.source_rate.total == 20
    assert metrics.targeted_rate.value == metrics.targeted_success
    assert metrics.source_rate.value == metrics.source_accuracy
    assert metrics.targeted_rate.count == sum(p == 1 for p in metrics.predictions)
    untargeted = evaluate_signs(
        signs_model, {"a": sign.image}, sign.mask, source=0, target=None, n_conditions=5
    )
    assert untargeted["a"].targeted_rate is None and untargeted["a"].targeted_success is None
