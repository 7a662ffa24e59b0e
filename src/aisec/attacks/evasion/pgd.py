"""Projected Gradient Descent (Madry et al.): the attack and the ascent loop everything shares.

:func:`projected_gradient_ascent` is the one PGD loop of the project: the :class:`PGD` attack,
adversarial training's inner maximisation (:mod:`aisec.defenses.training`) and the
detector-aware attack (:func:`aisec.evaluate.detector_aware_pgd`) all run it, each with its own
loss, start and choice of the iterate to keep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Generic, TypeVar

import torch
from torch import Tensor

from aisec.attacks.base import AttackContext, EvasionAttack
from aisec.attacks.evasion._steps import (
    BallProjector,
    Projection,
    ascent_direction,
    make_generator,
    random_start,
    random_start_per_example,
)
from aisec.attacks.evasion.losses import (
    FromLogits,
    InputLoss,
    LogitLoss,
    LossContext,
    as_input_loss,
)
from aisec.threat import ThreatModel

__all__ = ["PGD", "Iterate", "Objective", "projected_gradient_ascent"]

T = TypeVar("T")

Objective = Callable[[Tensor, LossContext], tuple[Tensor, T]]
"""What :func:`projected_gradient_ascent` ascends: ``(x_adv, context) -> (loss, info)`` with
``(n,)`` per-example losses (with their graph) and anything its observer needs (e.g. logits)."""


@dataclass(frozen=True)
class Iterate(Generic[T]):
    """An evaluated iterate of :func:`projected_gradient_ascent`, as its observer sees it.

    Attributes:
        step: the step index (``0`` is the start).
        x: ``(n, ...)`` the points of the rows still ascending (detached; the loop updates this
            tensor in place afterwards: copy what you keep).
        loss: ``(n,)`` their losses (detached).
        info: the objective's second output at these points.
        context: the labels, targets and clean logits of these rows.
        rows: ``(n,)`` their indices in the batch.
    """

    step: int
    x: Tensor
    loss: Tensor
    info: T
    context: LossContext
    rows: Tensor


def projected_gradient_ascent(
    objective: Objective[T],
    start: Tensor,
    context: LossContext,
    project: Projection,
    *,
    norm: str,
    step_size: float,
    steps: int,
    first_grad: Tensor | None = None,
    observe: Callable[[Iterate[T]], Tensor | None] | None = None,
) -> Tensor:
    """Projected gradient ascent: ``steps`` times ``x ← P(x + α·d)``, ``d`` the ascent direction.

    ``d = sign(∇L)`` (L∞) or ``∇L/‖∇L‖₂`` (L2) of the summed per-example loss ``L``; ``P`` is
    ``project``. Each iterate is evaluated (the loss, its gradient, then ``observe``) before its
    step; the final iterate is not evaluated. ``observe`` may record what it wants (the first
    adversarial iterate, the best one) and return a bool mask of the rows that keep ascending:
    the others leave the batch with their current iterate, so the remaining steps cost only
    what the remaining rows need. Gradients are taken with respect to the input only, in the
    model's current mode (the caller chooses it).

    Args:
        objective: ``(x_adv, context) -> (loss (n,), info)``, e.g.
            ``functools.partial(input_loss, model)`` for an :class:`~.losses.InputLoss`.
        start: ``(N, ...)`` the first iterate (not projected here; not modified).
        context: the rows' labels, targets and clean logits (passed to ``objective``).
        project: the projection onto the threat model around the clean points.
        norm: ``"linf"`` or ``"l2"``, the norm of the step.
        step_size: ``α``.
        steps: iterations (evaluations and steps).
        first_grad: ``(N, ...)`` the gradient at ``start`` if already known (then the first
            iterate is not evaluated and ``observe`` does not see it).
        observe: called with every evaluated :class:`Iterate` (without gradient tracking);
            returns ``None``, or an ``(n,)`` bool mask of the rows that go on.

    Returns:
        ``(N, ...)`` per row the final iterate, or the iterate at which ``observe`` dropped it.

    Reference:
        A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep Learning Models
        Resistant to Adversarial Attacks", ICLR 2018.
    """
    n = start.shape[0]
    x_adv = start.detach().clone()
    out: Tensor | None = None
    rows = torch.arange(n, device=start.device)
    for step in range(steps):
        if step == 0 and first_grad is not None:
            grad = first_grad
        else:
            with torch.enable_grad():
                x_adv.requires_grad_(True)
                loss, info = objective(x_adv, context)
                (grad,) = torch.autograd.grad(loss.sum(), x_adv)
            x_adv = x_adv.detach()
            if observe is not None:
                with torch.no_grad():
                    keep = observe(Iterate(step, x_adv, loss.detach(), info, context, rows))
                    # Rows leave the batch only when some do: no copies on steps that drop none.
                    if keep is not None and not bool(keep.all()):
                        if out is None:
                            out = torch.empty_like(x_adv)
                        drop = ~keep
                        out[rows[drop]] = x_adv[drop]
                        rows, x_adv, grad = rows[keep], x_adv[keep], grad[keep]
                        context = context.select(keep)
                        project = project.select(keep)
                        if rows.numel() == 0:
                            return out
        with torch.no_grad():
            x_adv.add_(ascent_direction(grad, norm), alpha=step_size)
            x_adv = project(x_adv)
    if out is None:
        return x_adv
    out[rows] = x_adv
    return out


class PGD(EvasionAttack):
    """Projected gradient ascent on a loss inside the threat model.

    Each step is ``x ← P(x + α·d)`` with ``d = sign(∇L)`` (L∞) or ``∇L/‖∇L‖₂`` (L2) and ``P`` the
    projection onto the ball intersected with the box (:func:`projected_gradient_ascent`). The
    first iterate is a uniformly random point of the ball (``random_start``; without it the
    first gradient comes from the base class's clean forward pass). Every iterate whose logits
    are computed is checked: an example keeps the first adversarial iterate found (no extra
    forward passes: the check reuses the logits of the gradient step) and then leaves the batch,
    so the remaining steps only cost what the still-robust examples need. For several random
    restarts wrap it: ``Restarts(PGD(threat), 5)`` (:class:`~aisec.attacks.Restarts`).

    The loss is ``"ce"`` (untargeted the cross-entropy of the label, targeted the negative
    cross-entropy of the target, as in the paper), ``"dlr"`` (Croce & Hein's DLR loss, or its
    targeted form), any function ``(logits, y, targets) -> (N,)`` losses to maximise
    (:class:`~aisec.attacks.evasion.losses.LogitLoss`), or an
    :class:`~aisec.attacks.evasion.losses.InputLoss` that runs the model itself (its context
    holds the labels, the targets and the clean logits).

    Args:
        threat: an ``"linf"`` or ``"l2"`` threat model.
        steps: gradient steps (Madry et al. evaluate CIFAR-10 with 20).
        step_size: ``α``; default ``2.5·ε/steps``, the rule of Madry et al.'s code that lets the
            attack cross the whole ball from any starting point.
        random_start: start from a uniformly random point of the ball instead of ``x``.
        loss: the loss to ascend (a name, a logit loss or an input loss; see above).
        seed: seed of the random start (a ``torch.Generator`` on the inputs' device).

    Reference:
        A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep Learning Models
        Resistant to Adversarial Attacks", ICLR 2018.
    """

    name = "PGD"
    supported_norms = ("linf", "l2")

    def __init__(
        self,
        threat: ThreatModel,
        *,
        steps: int = 20,
        step_size: float | None = None,
        random_start: bool = True,
        loss: str | LogitLoss | InputLoss = "ce",
        seed: int = 0,
    ) -> None:
        super().__init__(threat)
        self.steps = self._check_int("steps", steps, 1)
        if step_size is None:
            step_size = 2.5 * threat.eps / steps
        self.step_size = self._check_float("step_size", step_size)
        self.random_start = bool(random_start)
        as_input_loss(loss)  # rejects unknown names and non-callables now
        self.loss = loss
        self.seed = self._check_int("seed", seed, 0)

    def _wants_clean_graph(self) -> bool:
        # Without a random start the first step is taken at x: reuse the clean forward pass
        # (possible when the loss only needs the logits).
        return not self.random_start and isinstance(as_input_loss(self.loss), FromLogits)

    def _run(self, ctx: AttackContext) -> tuple[Tensor, Tensor]:
        x, y, targets = ctx.x, ctx.y, ctx.targets
        loss = as_input_loss(self.loss)
        first_grad = None
        if ctx.clean_graph is not None and isinstance(loss, FromLogits):
            logit_loss = loss.loss
            first_grad = ctx.clean_graph.gradient(lambda z: logit_loss(z, y, targets))
        if not self.random_start:
            start = x.clone()
        elif ctx.ids is not None:
            start = random_start_per_example(x, self.threat, self.seed, ctx.ids)
        else:
            start = random_start(x, self.threat, make_generator(self.seed, x.device))
        pred = torch.full((x.shape[0],), -1, dtype=torch.long, device=x.device)

        def first_adversarial(iterate: Iterate[Tensor]) -> Tensor | None:
            # An example keeps its first adversarial iterate (with the prediction already
            # computed there) and leaves the batch.
            step_pred = iterate.info.argmax(dim=1)
            goal = iterate.context.targets
            labels = iterate.context.labels()
            adversarial = step_pred == goal if goal is not None else step_pred != labels
            if not bool(adversarial.any()):
                return None
            pred[iterate.rows[adversarial]] = step_pred[adversarial]
            return ~adversarial

        x_adv = projected_gradient_ascent(
            partial(loss, ctx.model),
            start,
            LossContext(y, targets, ctx.logits),
            BallProjector(x, self.threat),
            norm=self.threat.norm,
            step_size=self.step_size,
            steps=self.steps,
            first_grad=first_grad,
            observe=first_adversarial,
        )
        return x_adv, pred
