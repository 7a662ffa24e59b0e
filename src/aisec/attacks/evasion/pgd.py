"""Projected Gradient Descent with random start and restarts (Madry et al.)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from aisec.attacks.base import EvasionAttack, Model
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
    is_adversarial,
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
    point of the ball (``random_start``). With ``restarts > 1`` the attack is repeated from new
    random points on the examples that are still not adversarial. Every iterate whose logits are
    computed is checked: an example keeps the first adversarial iterate found (no extra forward
    passes: the check reuses the logits of the gradient step).

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

    def _run(
        self,
        model: Model,
        x: Tensor,
        y: Tensor,
        targets: Tensor | None,
        logits: Tensor,
        info: dict[str, Tensor],
    ) -> Tensor:
        generator = make_generator(self.seed, x.device)
        best = x.clone()
        found = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for restart in range(self.restarts):
            idx = (~found).nonzero().squeeze(1) if restart else None
            xs = x if idx is None else x[idx]
            ys = y if idx is None else y[idx]
            ts = targets if targets is None or idx is None else targets[idx]
            x_adv, hit, last = self._attack_once(model, xs, ys, ts, generator)
            chosen = torch.where(batch_view(hit, x_adv), last, x_adv)
            if idx is None:
                best, found = chosen, hit.clone()
            else:
                best[idx] = chosen
                found[idx] = hit
            if restart + 1 < self.restarts:
                # Check the final iterates so that the next restart skips the examples they fool.
                with torch.no_grad():
                    rest = (~found).nonzero().squeeze(1)
                    if rest.numel() == 0:
                        break
                    fooled = is_adversarial(
                        model(best[rest]), y[rest], None if targets is None else targets[rest]
                    )
                    found[rest[fooled]] = True
        return best

    def _attack_once(
        self,
        model: Model,
        x: Tensor,
        y: Tensor,
        targets: Tensor | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One PGD run: returns the final iterate, which examples were found adversarial at
        an evaluated iterate, and those adversarial iterates."""
        project = BallProjector(x, self.threat)
        x_adv = random_start(x, self.threat, generator) if self.random_start else x.clone()
        found = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        first_hit = x.clone()
        norm = self.threat.norm
        alpha = self.step_size
        with torch.enable_grad():
            for _ in range(self.steps):
                x_adv.requires_grad_(True)
                out = model(x_adv)
                loss = self._loss(out, y, targets).sum()
                (grad,) = torch.autograd.grad(loss, x_adv)
                x_adv = x_adv.detach()
                with torch.no_grad():
                    new = is_adversarial(out, y, targets) & ~found
                    if bool(new.any()):
                        first_hit[new] = x_adv[new]
                        found |= new
                    if norm == "linf":
                        x_adv.add_(grad.sign_(), alpha=alpha)
                    else:
                        x_adv.add_(ascent_direction(grad, norm), alpha=alpha)
                    x_adv = project(x_adv)
        return x_adv, found, first_hit
