"""TRADES (Zhang et al. 2019): clean cross-entropy plus β times a KL robustness regulariser."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.attacks.evasion import KLToClean, LossContext
from aisec.defenses.training._common import (
    AttackMode,
    check_eps,
    check_mode,
    check_positive,
    check_steps,
    linf_ascent,
    module_mode,
)

__all__ = ["TRADES"]


@dataclass(frozen=True)
class TRADES:
    """The TRADES step loss ``CE(f(x), y) + β · KL(f(x) ‖ f(x'))``.

    ``x'`` maximises ``KL(f(x) ‖ f(x'))`` over the L∞ ε-ball: it starts at
    ``x + 0.001·N(0, I)`` (the KL's gradient vanishes at ``x' = x``) and takes ``steps``
    signed-gradient steps, each projected onto the ball ∩ box, with ``f(x)`` fixed (PGD on
    :class:`~aisec.attacks.evasion.KLToClean`, every example for every step). ``f``
    denotes the softmax; the KL is averaged over the batch. ``β`` trades clean accuracy for
    robustness (the paper's CIFAR-10 value is 6).

    Args:
        eps: the L∞ radius ε (a number or a string such as ``"8/255"``).
        beta: weight ``β > 0`` of the robustness term.
        steps: ascent steps on the KL (10 in the paper).
        step_size: default ``ε/4`` (the paper's 0.007 for ε = 0.031).
        init_std: standard deviation of the Gaussian start (0.001 in the paper).
        attack_mode: ``"eval"`` (as in the paper's code) or ``"train"``; modes are restored.
        bounds: the valid pixel range.

    Reference:
        H. Zhang, Y. Yu, J. Jiao, E. P. Xing, L. El Ghaoui, M. I. Jordan, "Theoretically
        Principled Trade-off between Robustness and Accuracy", ICML 2019.
    """

    eps: float = 8 / 255
    beta: float = 6.0
    steps: int = 10
    step_size: float | None = None
    init_std: float = 0.001
    attack_mode: AttackMode = "eval"
    bounds: tuple[float, float] = (0.0, 1.0)
    method: ClassVar[str] = "trades"

    def __post_init__(self) -> None:
        eps, bounds = check_eps(self.eps, self.bounds)
        steps = check_steps(self.steps)
        step_size = eps / 4 if self.step_size is None else self.step_size
        object.__setattr__(self, "eps", eps)
        object.__setattr__(self, "bounds", bounds)
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "beta", check_positive("beta", self.beta))
        object.__setattr__(self, "step_size", check_positive("step_size", step_size))
        object.__setattr__(self, "init_std", check_positive("init_std", self.init_std))
        check_mode(self.attack_mode)

    def perturb(self, model: nn.Module, x: Tensor, generator: torch.Generator) -> Tensor:
        """The KL-maximising ``x'`` ``(B, C, H, W)`` inside the ε-ball and box around ``x``."""
        assert self.step_size is not None  # resolved in __post_init__
        with module_mode(model, self.attack_mode == "train"):
            with torch.no_grad():
                clean_logits = model(x)
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            return linf_ascent(
                model,
                x,
                x + self.init_std * noise,
                KLToClean(),
                LossContext(clean_logits=clean_logits),
                eps=self.eps,
                step_size=self.step_size,
                steps=self.steps,
                bounds=self.bounds,
            )

    def __call__(
        self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """The TRADES loss and the logits ``(B, K)`` on ``x'``."""
        x_adv = self.perturb(model, x, generator)
        logits = model(x)
        logits_adv = model(x_adv)
        robust = F.kl_div(
            F.log_softmax(logits_adv, dim=1), F.softmax(logits, dim=1), reduction="batchmean"
        )
        return F.cross_entropy(logits, y) + self.beta * robust, logits_adv
