"""Square Attack (L∞): a score-based black-box attack by random square updates."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from aisec.attacks.base import AttackContext, EvasionAttack
from aisec.attacks.evasion._steps import batch_view, make_generator
from aisec.attacks.evasion.losses import margin, targeted_margin
from aisec.models.plumbing import Model
from aisec.seeding import example_bits, example_ints
from aisec.threat import ThreatModel

__all__ = ["SquareAttack", "square_fraction"]

# Query counts (out of 10,000) after which the square's area fraction p is halved.
_HALVINGS = (10, 50, 200, 500, 1000, 2000, 4000, 6000, 8000)


def square_fraction(query: int, n_queries: int, p_init: float) -> float:
    """The fraction ``p`` of the image covered by the square at a given query.

    The published piecewise-constant schedule halves ``p`` after 10, 50, 200, 500, 1000, 2000,
    4000, 6000 and 8000 queries of a 10,000-query budget, rescaled to ``n_queries``.
    """
    it = int(query / n_queries * 10000)
    return float(p_init / 2 ** sum(it > t for t in _HALVINGS))


class SquareAttack(EvasionAttack):
    """Square Attack: random search over squares of ±ε colour, accepted when the margin drops.

    Score-based and black-box: only the model's logits are used, never its gradients (the model
    is only ever called under ``torch.no_grad``), which makes it immune to gradient masking and a
    sanity check for gradient-based attacks. The perturbation starts as vertical stripes of width
    one with a random ±ε colour per column and channel. Each iteration picks, for every example
    still not adversarial, a random square of side ``round(√(p·H·W))`` and a random ±ε colour per
    channel; the candidate replaces the current point if it lowers the margin loss
    ``z_y − max_{i≠y} z_i`` (targeted: ``max_{i≠t} z_i − z_t``). ``p`` follows the published
    schedule (:func:`square_fraction`). Each example stops as soon as it is adversarial, and only
    the remaining ones are queried. Besides the forward pass, an iteration touches only the
    ``m·c·side²`` values of the squares: each is written into the current points in place, and
    put back where the candidate is rejected, so a query costs about one forward pass.

    Args:
        threat: an ``"linf"`` threat model.
        n_queries: the query budget per example, including the initial one (10,000 in the
            paper; AutoAttack uses 5,000).
        p_init: the initial fraction of pixels in the square (0.8 for L∞, as in AutoAttack).
        seed: seed of the random search.

    Reference:
        M. Andriushchenko, F. Croce, N. Flammarion, M. Hein, "Square Attack: a query-efficient
        black-box adversarial attack via random search", ECCV 2020.
    """

    name = "Square"
    supported_norms = ("linf",)
    uses_gradients = False
    min_ndim = 4

    def __init__(
        self, threat: ThreatModel, *, n_queries: int = 10000, p_init: float = 0.8, seed: int = 0
    ) -> None:
        super().__init__(threat)
        self.n_queries = self._check_int("n_queries", n_queries, 1)
        self.p_init = self._check_float("p_init", p_init, positive=True)
        if self.p_init > 1:
            raise ValueError(f"p_init must lie in (0, 1], got {p_init}")
        self.seed = self._check_int("seed", seed, 0)

    @staticmethod
    def _objective(logits: Tensor, y: Tensor, targets: Tensor | None) -> Tensor:
        return margin(logits, y) if targets is None else targeted_margin(logits, targets)

    def _run(self, ctx: AttackContext) -> tuple[Tensor, Tensor]:
        with torch.no_grad():
            return self._search(ctx.model, ctx.x, ctx.y, ctx.targets, ctx.ids)

    def _search(
        self, model: Model, x: Tensor, y: Tensor, targets: Tensor | None, ids: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        draw = _Draws(self.seed, ids, x.device)
        x = x.contiguous()  # the squares are written through flat views of x_best
        lo, hi = self.threat.bounds
        eps = self.threat.eps
        n, c, h, w = x.shape
        device = x.device
        x_out = x.clone()
        pred_out = torch.full((n,), -1, dtype=torch.long, device=device)
        # Every coordinate of a candidate is x ± ε (clipped) inside its square: precompute both.
        x_plus, x_minus = (x + eps).clamp_(lo, hi), (x - eps).clamp_(lo, hi)

        # Vertical stripes: one ±ε colour per (channel, column).
        index = torch.arange(n, device=device)
        x_best = torch.where(draw.signs(index, (c, 1, w), 0), x_plus, x_minus)
        logits = model(x_best)
        loss_best = self._objective(logits, y, targets)
        pred_best = logits.argmax(dim=1)
        hit = pred_best == targets if targets is not None else pred_best != y
        ys, ts = y, targets
        max_side = max(min(h, w) - 1, 1)

        for query in range(1, self.n_queries + 1):
            if bool(hit.any()):
                x_out[index[hit]] = x_best[hit]
                pred_out[index[hit]] = pred_best[hit]
                keep = ~hit
                index, ys, x_best, x_plus, x_minus, loss_best, pred_best = (
                    index[keep],
                    ys[keep],
                    x_best[keep],
                    x_plus[keep],
                    x_minus[keep],
                    loss_best[keep],
                    pred_best[keep],
                )
                ts = ts[keep] if ts is not None else None
            m = index.numel()
            if m == 0 or query == self.n_queries:
                break
            p = square_fraction(query, self.n_queries, self.p_init)
            side = min(max(round(math.sqrt(p * h * w)), 1), max_side)
            top = draw.ints(index, h - side + 1, query, 1)
            left = draw.ints(index, w - side + 1, query, 2)
            # Only the square changes: work on its m·c·side² entries, never on whole images.
            window = _window_indices(top, left, side, (c, h, w))
            best_flat = x_best.view(-1)
            inside = best_flat[window]  # (m, c, side, side): the current values in the square
            plus, minus = x_plus.view(-1)[window], x_minus.view(-1)[window]
            square = torch.where(draw.signs(index, (c, 1, 1), query, 3), plus, minus)
            # Redraw the colour of squares that would not change the image (as the reference
            # implementation does), a few times at most.
            for attempt in range(8):
                same = (square == inside).reshape(m, -1).all(dim=1)
                if not bool(same.any()):
                    break
                redraw = torch.where(draw.signs(index, (c, 1, 1), query, 4 + attempt), plus, minus)
                square = torch.where(batch_view(same, square), redraw, square)
            best_flat[window] = square  # x_best now holds every candidate ...
            logits = model(x_best)
            loss = self._objective(logits, ys, ts)
            pred = logits.argmax(dim=1)
            hit = pred == ts if ts is not None else pred != ys
            improved = (loss < loss_best) | hit
            rejected = ~improved  # ... and gets its old square back where it did not improve
            best_flat[window[rejected]] = inside[rejected]
            loss_best = torch.where(improved, loss, loss_best)
            pred_best = torch.where(improved, pred, pred_best)
        x_out[index] = x_best
        pred_out[index] = pred_best
        return x_out, pred_out


class _Draws:
    """Square's random draws: from one generator for the batch (no ``ids``), or keyed by
    ``(seed, example index, query, purpose)`` (:mod:`aisec.seeding`), so that an example's
    search does not depend on the other examples of its batch."""

    def __init__(self, seed: int, ids: Tensor | None, device: torch.device) -> None:
        self.seed = seed
        self.ids = ids
        self.device = device
        self.generator = make_generator(seed, device) if ids is None else None

    def ints(self, rows: Tensor, high: int, *counters: int) -> Tensor:
        """``(m,)`` integers in ``[0, high)`` for the batch rows ``rows``."""
        if self.ids is None:
            shape = (rows.numel(),)
            return torch.randint(0, high, shape, generator=self.generator, device=self.device)
        return example_ints(self.seed, self.ids[rows], high, *counters)

    def signs(self, rows: Tensor, shape: tuple[int, ...], *counters: int) -> Tensor:
        """``(m, *shape)`` random booleans for the batch rows ``rows`` (``True`` for +ε)."""
        full = (rows.numel(), *shape)
        if self.ids is None:
            return torch.randint(
                0, 2, full, generator=self.generator, device=self.device, dtype=torch.bool
            )
        return example_bits(self.seed, self.ids[rows], math.prod(shape), *counters).view(full)


def _window_indices(top: Tensor, left: Tensor, side: int, shape: tuple[int, int, int]) -> Tensor:
    """Flat indices ``(m, c, side, side)`` into ``m`` contiguous ``(c, h, w)`` images of the
    square of each image whose top-left corner is ``(top[i], left[i])``."""
    c, h, w = shape
    m = top.numel()
    offsets = torch.arange(side, device=top.device)
    rows = (top[:, None] + offsets)[:, None, :, None]  # (m, 1, side, 1)
    cols = (left[:, None] + offsets)[:, None, None, :]  # (m, 1, 1, side)
    images = torch.arange(m, device=top.device)[:, None, None, None] * (c * h * w)
    channels = torch.arange(c, device=top.device)[None, :, None, None] * (h * w)
    return images + channels + rows * w + cols
