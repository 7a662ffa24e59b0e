"""Auto-PGD: step-size-free PGD with momentum and checkpoints (Croce & Hein 2020).

Notation of the paper (Algorithm 1), for one example:

* ``η`` — the step size, initially ``2ε``; halved at checkpoints where progress stalls.
* ``α = 0.75`` — the momentum: ``x(k+1) = P(x(k) + α(z(k+1) − x(k)) + (1 − α)(x(k) − x(k−1)))``
  with ``z(k+1) = P(x(k) + η·d(k))`` and ``d`` the sign of the gradient (L∞) or the normalised
  gradient (L2). The first step has no momentum.
* checkpoints ``w_j = ⌈p_j·N_iter⌉`` with ``p_0 = 0``, ``p_1 = 0.22`` and
  ``p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06)``.
* at a checkpoint the step is halved and the iterate restarts from the best point ``x_max`` if
  (1) the loss increased in fewer than ``ρ = 0.75`` of the steps since the last checkpoint, or
  (2) the step was not halved at the last checkpoint and the best loss has not improved since.

Reference:
    F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of diverse
    parameter-free attacks", ICML 2020.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from aisec.attacks.base import AttackContext, EvasionAttack
from aisec.attacks.evasion._steps import (
    BallProjector,
    ascent_direction,
    batch_view,
    make_generator,
    random_start,
    random_start_per_example,
)
from aisec.attacks.evasion.losses import LossName, named_loss
from aisec.models.plumbing import Model
from aisec.threat import ThreatModel

__all__ = ["APGD", "checkpoints"]


def checkpoints(steps: int) -> list[int]:
    """The iterations ``w_j`` (``0 = w_0 < w_1 < ... < steps``) where APGD may halve its step."""
    p = [0.0, 0.22]
    while p[-1] < 1.0:
        p.append(p[-1] + max(p[-1] - p[-2] - 0.03, 0.06))
    # The small tolerance keeps 0.22·100 = 22.000000000000004 at 22.
    w = sorted({math.ceil(pj * steps - 1e-9) for pj in p})
    return [wj for wj in w if wj < steps]


@dataclass
class _State:
    """Per-example state of the examples still being optimised (rows align)."""

    index: Tensor  # (n,) row in the caller's batch
    run: Tensor  # (n,) which of the side-by-side runs the row belongs to (0, 1, ...)
    y: Tensor
    goal: Tensor | None  # targets that define success (None: untargeted)
    loss_target: Tensor | None  # targets of the loss (APGD-T), else None
    x_cur: Tensor
    x_prev: Tensor
    loss_prev: Tensor
    x_best: Tensor
    grad_best: Tensor
    f_best: Tensor
    f_best_last: Tensor
    reduced_last: Tensor
    increases: Tensor
    eta: Tensor

    def keep(self, mask: Tensor) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                setattr(self, f.name, value[mask])


class APGD(EvasionAttack):
    """Auto-PGD (APGD-CE / APGD-DLR, and APGD-T over the top classes as in AutoAttack).

    APGD adapts its step size, so it has no step-size parameter; see the module docstring for
    the algorithm. Two additions make robustness evaluation fast without weakening it: an example
    stops being optimised as soon as one of its iterates is adversarial (that iterate is kept),
    and later target classes run only on examples that are still robust. When few examples
    remain (at most :attr:`parallel_rows` rows in all), their runs go side by side in one batch,
    since a model costs about as much on a small batch as on a larger one. For random restarts
    wrap it: ``Restarts(APGD(threat), 5)`` (:class:`~aisec.attacks.Restarts`; AutoAttack's
    standard version runs one).

    Untargeted it ascends the cross-entropy (``loss="ce"``) or the DLR loss (``"dlr"``); with
    ``n_target_classes > 0`` it instead runs, for each of the ``n_target_classes`` most likely
    other classes in turn, the targeted version of the loss towards that class (AutoAttack's
    APGD-T: targeted DLR, 9 classes). Called with ``targets``, it ascends the targeted loss
    towards the given targets.

    Args:
        threat: an ``"linf"`` or ``"l2"`` threat model.
        steps: gradient steps per run ``N_iter`` (100 in the paper).
        loss: ``"ce"`` or ``"dlr"`` (DLR needs >= 3 classes, targeted DLR >= 4).
        n_target_classes: 0 for the untargeted loss; otherwise the number of top classes to
            target one after another (capped at ``num_classes − 1``).
        rho: the fraction ``ρ`` of loss increases required between checkpoints (0.75).
        momentum: ``α`` (0.75).
        seed: seed of the random starting points.

    Reference:
        F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of
        diverse parameter-free attacks", ICML 2020.
    """

    supported_norms = ("linf", "l2")
    #: Up to this many rows, several runs (target classes) share one batch.
    parallel_rows = 128

    def __init__(
        self,
        threat: ThreatModel,
        *,
        steps: int = 100,
        loss: LossName = "ce",
        n_target_classes: int = 0,
        rho: float = 0.75,
        momentum: float = 0.75,
        seed: int = 0,
    ) -> None:
        super().__init__(threat)
        self.steps = self._check_int("steps", steps, 1)
        if loss not in ("ce", "dlr"):
            raise ValueError(f"loss must be 'ce' or 'dlr', got {loss!r}")
        self.loss: LossName = loss
        self.n_target_classes = self._check_int("n_target_classes", n_target_classes, 0)
        self.rho = self._check_float("rho", rho)
        self.momentum = self._check_float("momentum", momentum)
        if self.rho > 1 or self.momentum > 1:
            raise ValueError("rho and momentum must lie in [0, 1]")
        self.seed = self._check_int("seed", seed, 0)
        suffix = loss.upper()
        self.name = f"APGD-T-{suffix}" if n_target_classes else f"APGD-{suffix}"
        if self.name == "APGD-T-DLR":
            self.name = "APGD-T"

    def _loss(self, logits: Tensor, y: Tensor, target: Tensor | None) -> Tensor:
        return named_loss(self.loss)(logits, y, target)

    def _run(self, ctx: AttackContext) -> tuple[Tensor, Tensor]:
        x, y, targets, logits = ctx.x, ctx.y, ctx.targets, ctx.logits
        generator = make_generator(self.seed, x.device) if ctx.ids is None else None
        runs: list[Tensor | None]
        if targets is None and self.n_target_classes:
            k = min(self.n_target_classes, logits.shape[1] - 1)
            ranked = logits.argsort(dim=1, descending=True)
            runs = [ranked[:, r] for r in range(1, k + 1)]
        else:
            runs = [targets]
        best = x.clone()
        pred = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)
        found = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        done = 0
        while done < len(runs):
            rest = (~found).nonzero().squeeze(1)
            if rest.numel() == 0:
                break
            # Few points left: run several target classes side by side in one batch
            # (small batches cost the model about as much as large ones); many: one at a time,
            # so that later runs skip the points the earlier ones fooled. Either way an example
            # gets what running its target classes one after the other would give it.
            width = max(1, min(len(runs) - done, self.parallel_rows // rest.numel()))
            chunk = runs[done : done + width]
            x_rest = x[rest]
            if ctx.ids is None:
                assert generator is not None
                start = random_start(
                    x_rest.repeat(width, *([1] * (x.ndim - 1))), self.threat, generator
                )
            else:
                # Each example's start of run r is keyed by (seed, its index, r).
                start = torch.cat(
                    [
                        random_start_per_example(x_rest, self.threat, self.seed, ctx.ids[rest], run)
                        for run in range(done, done + width)
                    ]
                )
            done += width
            x_out, fooled, out_pred = self._attack_once(
                ctx.model,
                x_rest.repeat(width, *([1] * (x.ndim - 1))),
                start,
                y[rest].repeat(width),
                None if targets is None else targets[rest].repeat(width),
                None if chunk[0] is None else torch.cat([t[rest] for t in chunk if t is not None]),
                rest.numel(),
            )
            best[rest] = x_out
            pred[rest] = out_pred
            found[rest] = fooled
        return best, pred

    def _gradient(
        self, model: Model, x_cur: Tensor, state: _State
    ) -> tuple[Tensor, Tensor, Tensor]:
        with torch.enable_grad():
            x_in = x_cur.detach().requires_grad_(True)
            logits = model(x_in)
            loss = self._loss(logits, state.y, state.loss_target)
            (grad,) = torch.autograd.grad(loss.sum(), x_in)
        return logits.detach(), loss.detach(), grad

    def _attack_once(
        self,
        model: Model,
        x: Tensor,
        x0: Tensor,
        y: Tensor,
        goal: Tensor | None,
        loss_target: Tensor | None,
        n_points: int,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """APGD runs on ``n_points`` examples, side by side, with per-example early stopping.

        Row ``i`` of the batch attacks example ``i % n_points`` in run ``i // n_points`` (the
        rows are whole copies of the examples, one per run, starting at ``x0``). The result is
        what the runs would give one after the other: an example takes the first adversarial
        iterate of its earliest run that fools the model, so a row stops once it, or an earlier
        run of its example, fooled the model; later runs never decide for an earlier one.

        Returns:
            ``(x_out, fooled, pred)`` per example: its first adversarial iterate (of its
            earliest fooling run) if fooled, else its final iterate of its last run; which
            examples were fooled; the predictions on ``x_out``.
        """
        rows = x.shape[0]
        norm = self.threat.norm
        alpha = self.momentum
        x_out = x[:n_points].clone()
        fooled = torch.zeros(n_points, dtype=torch.bool, device=x.device)
        pred = torch.full((n_points,), -1, dtype=torch.long, device=x.device)
        # The earliest run that fooled each example so far (the number of runs: none yet).
        earliest = torch.full((n_points,), rows // n_points, dtype=torch.long, device=x.device)
        project = BallProjector(x, self.threat)

        zeros = torch.zeros(rows, dtype=x.dtype, device=x.device)
        rows_index = torch.arange(rows, device=x.device)
        state = _State(
            index=rows_index % n_points,
            run=rows_index // n_points,
            y=y,
            goal=goal,
            loss_target=loss_target,
            x_cur=x0,
            x_prev=x0,
            loss_prev=zeros,
            x_best=x0,
            grad_best=x0,
            f_best=zeros,
            f_best_last=zeros,
            reduced_last=torch.zeros(rows, dtype=torch.bool, device=x.device),
            increases=torch.zeros(rows, dtype=torch.long, device=x.device),
            eta=torch.full((rows,), 2.0 * self.threat.eps, dtype=x.dtype, device=x.device),
        )

        def record(hit: Tensor, iterate: Tensor, step_pred: Tensor) -> None:
            # Rows are in run order, so the first hit of an example is its earliest run's.
            first = _first_of_each(state.index, hit, n_points)
            points = state.index[first]
            x_out[points] = iterate[first]
            pred[points] = step_pred[first]
            fooled[points] = True
            earliest[points] = state.run[first]

        marks = set(checkpoints(self.steps)[1:])
        last_mark = 0
        for k in range(self.steps):
            logits, loss, grad = self._gradient(model, state.x_cur, state)
            step_pred = logits.argmax(dim=1)
            hit = step_pred == state.goal if state.goal is not None else step_pred != state.y
            if bool(hit.any()):
                record(hit, state.x_cur, step_pred)
                keep = state.run < earliest[state.index]
                state.keep(keep)
                project = project.select(keep)
                loss, grad = loss[keep], grad[keep]
                if state.index.numel() == 0:
                    return x_out, fooled, pred
            if k == 0:
                state.x_best, state.f_best, state.grad_best = state.x_cur, loss, grad
                state.f_best_last, state.loss_prev = loss, loss
                step = batch_view(state.eta, grad) * ascent_direction(grad, norm)
                state.x_prev = state.x_cur
                state.x_cur = project(state.x_cur + step)
                continue
            state.increases += (loss > state.loss_prev).long()
            improved = loss > state.f_best
            mask = batch_view(improved, grad)
            state.x_best = torch.where(mask, state.x_cur, state.x_best)
            state.grad_best = torch.where(mask, grad, state.grad_best)
            state.f_best = torch.where(improved, loss, state.f_best)
            state.loss_prev = loss
            if k in marks:
                oscillating = state.increases < self.rho * (k - last_mark)
                stalled = ~state.reduced_last & (state.f_best <= state.f_best_last)
                reduce = oscillating | stalled
                state.eta = torch.where(reduce, state.eta / 2.0, state.eta)
                mask = batch_view(reduce, grad)
                state.x_cur = torch.where(mask, state.x_best, state.x_cur)
                grad = torch.where(mask, state.grad_best, grad)
                state.loss_prev = torch.where(reduce, state.f_best, state.loss_prev)
                state.reduced_last = reduce
                state.f_best_last = state.f_best
                state.increases = torch.zeros_like(state.increases)
                last_mark = k
            with torch.no_grad():
                # z = P(x + η·d), then x_next = P(x + α·(z − x) + (1 − α)·(x − x_prev)), written
                # in place into two buffers (the same operations on the same operands, so the
                # same bits as the formula; large temporaries are what a CPU step pays for).
                x_cur = state.x_cur
                step = ascent_direction(grad, norm)
                z = project(step.mul_(batch_view(state.eta, step)).add_(x_cur))
                x_next = z.sub_(x_cur).mul_(alpha).add_(x_cur)
                x_next = project(x_next.add_((x_cur - state.x_prev).mul_(1.0 - alpha)))
            state.x_prev = x_cur
            state.x_cur = x_next
        # The last iterate has not been evaluated yet: one forward pass decides it.
        with torch.no_grad():
            last_pred = model(state.x_cur).argmax(dim=1)
        hit = last_pred == state.goal if state.goal is not None else last_pred != state.y
        if bool(hit.any()):
            record(hit, state.x_cur, last_pred)
        # Examples no run fooled keep the final iterate of their last run (every row of such an
        # example is still here, in run order).
        never = ~fooled[state.index]
        last = _first_of_each(state.index.flip(0), never.flip(0), n_points).flip(0)
        x_out[state.index[last]] = state.x_cur[last]
        pred[state.index[last]] = last_pred[last]
        return x_out, fooled, pred


def _first_of_each(index: Tensor, mask: Tensor, size: int) -> Tensor:
    """``(R,)`` bool: the first row (in order) of each ``index`` value (in ``[0, size)``) among
    the rows in ``mask``."""
    rows = torch.arange(index.numel(), device=index.device)
    big = torch.full((size,), index.numel(), dtype=rows.dtype, device=index.device)
    first_row = big.scatter_reduce(
        0, index, torch.where(mask, rows, index.numel()), reduce="amin", include_self=True
    )
    return mask & (first_row[index] == rows)
