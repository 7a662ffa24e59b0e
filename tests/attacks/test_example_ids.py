"""With ``ids``, a randomized attack gives an example the same result whatever batch it is in.

The model here computes every row on its own (elementwise products and a sum: no matrix
kernel that rounds differently for different row counts), so any difference between a whole
batch and its parts would come from the attacks' randomness or their batch-level choices.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import Tensor, nn

from aisec.attacks import APGD, PGD, EvasionAttack, SquareAttack
from aisec.attacks.evasion._steps import random_start_per_example
from aisec.threat import ThreatModel


class RowWise(nn.Module):
    """A 5-class model whose rows never interact: ``tanh(x)·w_c + b_c`` by elementwise ops."""

    def __init__(self, dim: int, classes: int, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(classes, dim, generator=generator))
        self.b = nn.Parameter(torch.randn(classes, generator=generator))

    def forward(self, x: Tensor) -> Tensor:
        z = torch.tanh(4 * x.flatten(1) - 2)
        return (z[:, None, :] * self.w[None]).sum(-1) + self.b


THREAT = ThreatModel("linf", 0.01)
ATTACKS: dict[str, Callable[[], EvasionAttack]] = {
    "pgd": lambda: PGD(THREAT, steps=8, seed=3),
    "apgd-ce": lambda: APGD(THREAT, steps=12, seed=3),
    "apgd-t": lambda: APGD(THREAT, steps=12, loss="dlr", n_target_classes=4, seed=3),
    "square": lambda: SquareAttack(THREAT, n_queries=60, p_init=0.3, seed=3),
}


@pytest.fixture(scope="module")
def case() -> tuple[nn.Module, Tensor, Tensor]:
    model = RowWise(3 * 6 * 6, 5, 0).eval()
    x = torch.rand(40, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    return model, x, y


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_an_example_gets_the_same_result_in_any_batch(
    name: str, case: tuple[nn.Module, Tensor, Tensor]
) -> None:
    model, x, y = case
    attack = ATTACKS[name]()
    ids = torch.arange(100, 140)
    whole = attack(model, x, y, ids=ids)
    assert 0 < int(whole.success.sum()) < len(y)  # some points fall, some resist
    for part in (torch.arange(0, 7), torch.arange(13, 40), torch.tensor([38, 2, 17])):
        alone = attack(model, x[part], y[part], ids=ids[part])
        assert torch.equal(alone.x_adv, whole.x_adv[part]), name
        assert torch.equal(alone.adv_pred, whole.adv_pred[part]), name


def test_apgd_t_side_by_side_equals_one_target_after_the_other(
    case: tuple[nn.Module, Tensor, Tensor],
) -> None:
    model, x, y = case
    ids = torch.arange(40)
    results = []
    for rows in (1, 10_000):  # one run at a time; every target class at once
        attack = APGD(THREAT, steps=12, loss="dlr", n_target_classes=4, seed=3)
        attack.parallel_rows = rows
        results.append(attack(model, x, y, ids=ids))
    assert torch.equal(results[0].x_adv, results[1].x_adv)
    assert torch.equal(results[0].adv_pred, results[1].adv_pred)
    assert results[1].forwards < results[0].forwards  # side by side: fewer, larger calls


def test_draws_depend_on_the_ids_and_without_ids_on_the_batch(
    case: tuple[nn.Module, Tensor, Tensor],
) -> None:
    model, x, y = case
    start = random_start_per_example(x, THREAT, 0, torch.arange(40))
    assert torch.equal(start[5:9], random_start_per_example(x[5:9], THREAT, 0, torch.arange(5, 9)))
    assert not torch.equal(start, random_start_per_example(x, THREAT, 0, torch.arange(1, 41)))
    assert float((start - x).abs().max()) <= THREAT.eps + 1e-6
    l2 = ThreatModel("l2", 0.5)
    start_l2 = random_start_per_example(x, l2, 0, torch.arange(40))
    assert bool(((start_l2 - x).flatten(1).norm(dim=1) <= 0.5 + 1e-5).all())
    # Without ids one generator serves the batch: reproducible, but batch-dependent.
    attack = PGD(THREAT, steps=4, seed=3)
    again = attack(model, x, y).x_adv
    assert torch.equal(attack(model, x, y).x_adv, again)
    assert not torch.equal(attack(model, x[10:], y[10:]).x_adv, again[10:])
    with pytest.raises(ValueError, match="distinct"):
        attack(model, x[:2], y[:2], ids=torch.tensor([4, 4]))
