"""Square Attack: the published schedule, and the same search as a whole-image implementation.

``SquareAttack`` writes only the m·c·side² entries of each square and rolls rejected squares
back in place. ``_whole_image_square`` below is the algorithm as the paper states it, every
candidate built as a whole image; on the same seed the two must give the same points, the same
predictions and the same number of queries.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pytest
import torch
from torch import Tensor, nn

from aisec.attacks import SquareAttack
from aisec.attacks.evasion.losses import margin, targeted_margin
from aisec.attacks.evasion.square import square_fraction
from aisec.models.plumbing import CountingModel
from aisec.threat import ThreatModel

if TYPE_CHECKING:
    from conftest import Digits

pytestmark = pytest.mark.usefixtures("single_thread")


def _whole_image_square(
    model: nn.Module,
    x: Tensor,
    y: Tensor,
    eps: float,
    n_queries: int,
    p_init: float,
    seed: int,
    targets: Tensor | None = None,
) -> tuple[Tensor, Tensor, int]:
    """Square Attack (L∞) built on whole images: ``(x_adv, pred, forward rows)``."""
    g = torch.Generator().manual_seed(seed)
    n, c, h, w = x.shape

    def colours(shape: tuple[int, ...]) -> Tensor:
        return torch.randint(0, 2, shape, generator=g, dtype=torch.bool)

    def objective(logits: Tensor, labels: Tensor, goal: Tensor | None) -> Tensor:
        return margin(logits, labels) if goal is None else targeted_margin(logits, goal)

    x_plus, x_minus = (x + eps).clamp(0, 1), (x - eps).clamp(0, 1)
    x_best = torch.where(colours((n, c, 1, w)), x_plus, x_minus)
    logits = model(x_best)
    rows = n
    loss_best, pred_best = objective(logits, y, targets), logits.argmax(1)
    done = pred_best == targets if targets is not None else pred_best != y
    for query in range(1, n_queries):
        todo = (~done).nonzero().squeeze(1)
        if todo.numel() == 0:
            break
        m = todo.numel()
        side = min(
            max(round(math.sqrt(square_fraction(query, n_queries, p_init) * h * w)), 1), h - 1
        )
        top = torch.randint(0, h - side + 1, (m,), generator=g)
        left = torch.randint(0, w - side + 1, (m,), generator=g)
        r, k = torch.arange(h), torch.arange(w)
        inside = ((r[None] >= top[:, None]) & (r[None] < top[:, None] + side))[:, None, :, None]
        inside = (
            inside
            & ((k[None] >= left[:, None]) & (k[None] < left[:, None] + side))[:, None, None, :]
        )
        current = x_best[todo]
        square = torch.where(colours((m, c, 1, 1)), x_plus[todo], x_minus[todo])
        candidate = torch.where(inside, square, current)
        for _ in range(8):
            same = (candidate == current).flatten(1).all(1)
            if not same.any():
                break
            redraw = torch.where(colours((m, c, 1, 1)), x_plus[todo], x_minus[todo])
            square = torch.where(same[:, None, None, None], redraw, square)
            candidate = torch.where(inside, square, current)
        logits = model(candidate)
        rows += m
        goal = None if targets is None else targets[todo]
        loss, pred = objective(logits, y[todo], goal), logits.argmax(1)
        hit = pred == goal if goal is not None else pred != y[todo]
        better = (loss < loss_best[todo]) | hit
        x_best[todo[better]] = candidate[better]
        loss_best[todo[better]] = loss[better]
        pred_best[todo[better]] = pred[better]
        done[todo[hit]] = True
    return x_best, pred_best, rows


def _colour_cnn() -> nn.Module:
    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 12 * 12, 5)
    )
    return model.eval()


def _search(
    attack: SquareAttack, model: nn.Module, x: Tensor, y: Tensor, targets: Tensor | None = None
) -> tuple[Tensor, Tensor, int]:
    """The attack's search itself (before the final projection every attack shares)."""
    counted = CountingModel(model)
    with torch.no_grad():
        x_adv, pred = attack._search(counted, x, y, targets, None)
    return x_adv, pred, counted.forward_examples


@pytest.mark.parametrize("targeted", [False, True])
def test_square_matches_the_whole_image_algorithm_on_colour_images(targeted: bool) -> None:
    model = _colour_cnn()
    x = torch.rand(24, 3, 12, 12, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y = model(x).argmax(1)
    targets = (y + 1) % 5 if targeted else None
    attack = SquareAttack(ThreatModel("linf", 0.05), n_queries=150, p_init=0.3, seed=4)
    x_adv, pred, rows = _search(attack, model, x, y, targets)
    with torch.no_grad():
        x_ref, pred_ref, rows_ref = _whole_image_square(model, x, y, 0.05, 150, 0.3, 4, targets)
    fooled = pred == targets if targets is not None else pred != y
    assert 0 < int(fooled.sum()) < len(y)  # some points fall, at different queries
    assert torch.equal(x_adv, x_ref)
    assert torch.equal(pred, pred_ref)
    assert rows == rows_ref


def test_square_matches_the_whole_image_algorithm_on_digits(digits: Digits) -> None:
    x, y = digits.x[:64], digits.y[:64]
    attack = SquareAttack(ThreatModel("linf", 0.15), n_queries=300, p_init=0.8, seed=2)
    x_adv, pred, rows = _search(attack, digits.model, x, y)
    with torch.no_grad():
        x_ref, pred_ref, rows_ref = _whole_image_square(digits.model, x, y, 0.15, 300, 0.8, 2)
    assert torch.equal(x_adv, x_ref)
    assert torch.equal(pred, pred_ref)
    assert rows == rows_ref


def test_square_accepts_channels_last_input() -> None:
    model = _colour_cnn()
    x = torch.rand(8, 3, 12, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = model(x).argmax(1)
    attack = SquareAttack(ThreatModel("linf", 0.05), n_queries=40, seed=0)
    plain = attack(model, x, y)
    last = attack(model, x.to(memory_format=torch.channels_last), y)
    assert torch.equal(plain.x_adv, last.x_adv)


def test_square_fraction_halves_on_the_published_schedule() -> None:
    # 10,000 queries: p halves after 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000.
    expected = {0: 0.8, 10: 0.8, 11: 0.4, 51: 0.2, 201: 0.1, 501: 0.05, 8001: 0.8 / 2**9}
    for query, p in expected.items():
        assert square_fraction(query, 10000, 0.8) == pytest.approx(p)
    # Rescaled to a 5,000-query budget: the first halving comes after 5 queries.
    assert square_fraction(5, 5000, 0.8) == pytest.approx(0.8)
    assert square_fraction(6, 5000, 0.8) == pytest.approx(0.4)
