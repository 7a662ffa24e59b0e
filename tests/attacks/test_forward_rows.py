"""Forward passes in pieces: the same logits, gradients and attacks, only the work is cut."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
import torch
from torch import Tensor, nn

from aisec.attacks import APGD, PGD, SquareAttack
from aisec.attacks.base import CPU_FORWARD_ROWS, EvasionAttack
from aisec.models.plumbing import CountingModel
from aisec.threat import ThreatModel

if TYPE_CHECKING:
    from conftest import Digits

pytestmark = pytest.mark.usefixtures("single_thread")


class _Widest(nn.Module):
    """The model, noting the largest batch it was called with."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.widest = 0

    def forward(self, x: Tensor) -> Tensor:
        self.widest = max(self.widest, int(x.shape[0]))
        out: Tensor = self.model(x)
        return out


def test_pieces_give_the_same_logits_gradients_and_counts(digits: Digits) -> None:
    x = digits.x[:50].clone().requires_grad_(True)
    whole, cut = CountingModel(digits.model), CountingModel(_Widest(digits.model), max_rows=16)
    logits_whole, logits_cut = whole(x), cut(x)
    assert torch.allclose(logits_whole, logits_cut, atol=1e-6)
    (g_whole,) = torch.autograd.grad(logits_whole[:, 3].sum(), x)
    (g_cut,) = torch.autograd.grad(logits_cut[:, 3].sum(), x)
    assert torch.allclose(g_whole, g_cut, atol=1e-6)
    assert isinstance(cut.model, _Widest) and cut.model.widest == 16
    assert (cut.forwards, cut.forward_examples, cut.backwards) == (1, 50, 1)


@pytest.mark.parametrize("max_rows", [0, -3, 2.5, True])
def test_max_rows_must_be_a_positive_int(max_rows: object, digits: Digits) -> None:
    with pytest.raises(ValueError, match="max_rows"):
        CountingModel(digits.model, max_rows=max_rows)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "build",
    [
        lambda: PGD(ThreatModel("linf", 0.1), steps=10, seed=1),
        lambda: APGD(ThreatModel("l2", 0.8), steps=10, loss="dlr", n_target_classes=3),
        lambda: SquareAttack(ThreatModel("linf", 0.15), n_queries=60, seed=2),
    ],
    ids=["PGD", "APGD-T", "Square"],
)
def test_an_attack_in_pieces_is_the_same_attack(
    build: Callable[[], EvasionAttack], digits: Digits
) -> None:
    x, y = digits.x[:72], digits.y[:72]
    whole, cut = build(), build()
    whole.forward_rows = 10_000
    cut.forward_rows = 7
    spy = _Widest(digits.model)
    a, b = whole(digits.model, x, y), cut(spy, x, y)
    assert spy.widest == 7
    assert torch.equal(a.success, b.success)
    assert torch.allclose(a.x_adv, b.x_adv, atol=1e-6)
    assert (a.forwards, a.forward_examples) == (b.forwards, b.forward_examples)


def test_a_cpu_batch_goes_in_pieces_of_the_default_size(digits: Digits) -> None:
    spy = _Widest(digits.model)
    x = digits.x[:1].repeat(CPU_FORWARD_ROWS + 30, 1, 1, 1)
    y = digits.y[:1].repeat(CPU_FORWARD_ROWS + 30)
    PGD(ThreatModel("linf", 0.05), steps=2)(spy, x, y)
    assert spy.widest == CPU_FORWARD_ROWS
    attack = PGD(ThreatModel("linf", 0.05), steps=2)
    attack.forward_rows = 0
    with pytest.raises(ValueError, match="forward_rows must be None or an int >= 1, got 0"):
        attack(digits.model, x, y)
