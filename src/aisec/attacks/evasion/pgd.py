"""Projected Gradient Descent with random start and restarts (Madry et al.)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from aisec.attacks.base import AttackContext, EvasionAttack, Model
from aisec.attacks.evasion._steps import (
    BallProjector,
    ascent_direction,
    batch_view,
    make_generator,
    random_start,
)
from aisec.attacks.evasion.losses import (
    ce_loss,
    dlr_loss,
    targeted_ce_loss,
    targeted_dlr_loss,
)
from aisec.threat import ThreatModel

__all__ = ["PGD"]

PGDLoss = Literal["ce", "dlr"]


class PGD(EvasionAttack):
    """Projected gradient ascent on the loss inside the threat model.

    Each step is ``x ← P(x + α·d)`` with ``d = sign(∇L)`` (L∞) or ``∇L/‖∇L‖₂`` (L2) and ``P`` the
    projection onto the ball intersected with the box. The first iterate is a uniformly random
    point of the ball (``random_start``; without it the first gradient comes from the base
    class's clean forward pass). With ``restarts > 1`` the attack is repeated from new
    random points on the examples that are still not adversarial. Every iterate whose logits are
    computed is checked: an example keeps the first adversarial iterate found (no extra forward
    passes: the check reuses the logits of the gradient step) and then leaves the batch, so the
    remaining steps only cost what the still-robust examples need.

    Untargeted it ascends the cross-entropy of the label (or the DLR loss); targeted it ascends
    the negative cross-entropy of the target (or the targeted DLR loss).

    Args:
        threat: an ``"linf"`` or ``"l2"`` threat model.
        steps: gradient steps per restart (Madry et al. evaluate CIFAR-10 with 20).
        step_size: ``α``; default ``2.5·ε/steps``, the rule of Madry et al.'s code that lets the
            attack cross the whole ball from any starting point.
        random_start: start from a uniformly random point of the ball instead of ``x``.
        restarts: independent runs; each later run only attacks examples still not adversarial.
        loss: ``"ce"`` (cross-entropy, as in the paper) or ``"dlr"`` (Croce & Hein's DLR).
        seed: seed of the random starts (a ``torch.Generator`` on the inputs' device).

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
        restarts: int = 1,
        loss: PGDLoss = "ce",
        seed: int = 0,
    ) -> None:
        super().__init__(threat)
        self.steps = self._check_int("steps", steps, 1)
        if step_size is None:
            step_size = 2.5 * threat.eps / steps
        self.step_size = self._check_float("step_size", step_size)
        self.random_start = bool(random_start)
        self.restarts = self._check_int("restarts", restarts, 1)
        if self.restarts > 1 and not self.random_start:
            raise ValueError("restarts > 1 repeat the same run unless random_start=True")
        if loss not in ("ce", "dlr"):
            raise ValueError(f"loss must be 'ce' or 'dlr', got {loss!r}")
        self.loss: PGDLoss = loss
        self.seed = self._check_int("seed", seed, 0)

    def _loss(self, logits: Tensor, y: Tensor, targets: Tensor | None) -> Tensor:
        if self.loss == "ce":
            return ce_loss(logits, y) if targets is None else targeted_ce_loss(logits, targets)
        return dlr_loss(logits, y) if targets is None else targeted_dlr_loss(logits, y, targets)

    def _wants_clean_graph(self) -> bool:
        # Without a random start the first step is taken at x: reuse the clean forward pass.
        return not self.random_start

    def _run(self, ctx: AttackContext) -> tuple[Tensor, Tensor]:
        model, x, y, targets = ctx.model, ctx.x, ctx.y, ctx.targets
        n = x.shape[0]
        generator = make_generator(self.seed, x.device)
        best = x.clone()
        pred = torch.full((n,), -1, dtype=torch.long, device=x.device)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        first_grad = None
        if ctx.clean_graph is not None:
            first_grad = ctx.clean_graph.gradient(lambda z: self._loss(z, y, targets))
        for restart in range(self.restarts):
            rows = None if restart == 0 else (~found).nonzero().squeeze(1)
            if rows is not None and rows.numel() == 0:
                break
            xs = x if rows is None else x[rows]
            ys = y if rows is None else y[rows]
            ts = targets if targets is None or rows is None else targets[rows]
            x_last, hit, hit_x, hit_pred = self._attack_once(
                model, xs, ys, ts, generator, first_grad if restart == 0 else None
            )
            chosen = torch.where(batch_view(hit, x_last), hit_x, x_last)
            chosen_pred = hit_pred.clone()
            if restart + 1 < self.restarts:
                # Check the final iterates so that the next restart skips what they fool.
                miss = (~hit).nonzero().squeeze(1)
                if miss.numel():
                    with torch.no_grad():
                        miss_pred = model(x_last[miss]).argmax(dim=1)
                    chosen_pred[miss] = miss_pred
                    hit[miss] = miss_pred == ts[miss] if ts is not None else miss_pred != ys[miss]
            if rows is None:
                best, pred, found = chosen, chosen_pred, hit
            else:
                best[rows], pred[rows], found[rows] = chosen, chosen_pred, hit
        return best, pred

    def _attack_once(
        self,
        model: Model,
        x: Tensor,
        y: Tensor,
        targets: Tensor | None,
        generator: torch.Generator,
        first_grad: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """One PGD run.

        Returns:
            The final iterate (not evaluated), which examples were adversarial at an evaluated
            iterate, those first adversarial iterates and their predictions (``-1`` elsewhere).
        """
        n = x.shape[0]
        project = BallProjector(x, self.threat)
        x_adv = random_start(x, self.threat, generator) if self.random_start else x.clone()
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        hit_x = x.clone()
        hit_pred = torch.full((n,), -1, dtype=torch.long, device=x.device)
        # Rows still being optimised: an example leaves once an iterate fools the model, since
        # that iterate is what the attack returns for it (the later ones would be discarded).
        active = torch.arange(n, device=x.device)
        norm = self.threat.norm
        alpha = self.step_size
        for step in range(self.steps):
            if step == 0 and first_grad is not None:
                grad = first_grad  # the clean point: known not to be adversarial
            else:
                with torch.enable_grad():
                    x_adv.requires_grad_(True)
                    out = model(x_adv)
                    loss = self._loss(out, y, targets).sum()
                    (grad,) = torch.autograd.grad(loss, x_adv)
                x_adv = x_adv.detach()
                with torch.no_grad():
                    pred = out.argmax(dim=1)
                    adversarial = pred == targets if targets is not None else pred != y
                    if bool(adversarial.any()):
                        rows = active[adversarial]
                        hit_x[rows] = x_adv[adversarial]
                        hit_pred[rows] = pred[adversarial]
                        found[rows] = True
                        keep = ~adversarial
                        active, x_adv, grad, y = active[keep], x_adv[keep], grad[keep], y[keep]
                        targets = targets[keep] if targets is not None else None
                        project = project.select(keep)
                        if active.numel() == 0:
                            return hit_x, found, hit_x, hit_pred
            with torch.no_grad():
                if norm == "linf":
                    x_adv.add_(grad.sign(), alpha=alpha)
                else:
                    x_adv.add_(ascent_direction(grad, norm), alpha=alpha)
                x_adv = project(x_adv)
        x_last = hit_x.clone()
        x_last[active] = x_adv
        return x_last, found, hit_x, hit_pred
