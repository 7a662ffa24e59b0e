"""Random restarts of any randomized evasion attack, as one wrapper."""

from __future__ import annotations

import copy

import torch
from torch import Tensor

from aisec.attacks.base import AttackContext, EvasionAttack
from aisec.attacks.evasion.losses import margin

__all__ = ["Restarts"]


class Restarts(EvasionAttack):
    """Run a randomized attack ``n`` times and keep, per point, its best run.

    Run ``i`` (``0 ≤ i < n``) is the wrapped attack with seed ``seed + i``, on the points that
    no earlier run made adversarial, so later runs cost only what the still-robust points need.
    A point keeps the first run that fools the model (classifies it as its target); a point
    that no run fools keeps the run whose example came closest, by the margin loss
    ``max_{j≠y} z_j − z_y`` (targeted ``z_t − max_{j≠t} z_j``). Run 0 is the wrapped attack
    itself: ``Restarts(attack, 1)`` returns exactly what ``attack`` returns. The wrapper runs
    under the :class:`~aisec.attacks.EvasionAttack` contract like the attack it wraps (same
    threat model, norms and gradient use).

    Random restarts make a first-order attack stronger at a proportional cost; Madry et al.
    and AutoAttack's APGD use them to probe a model from several starting points.

    Args:
        attack: the attack to repeat. With ``n > 1`` it must be randomized: an ``int`` ``seed``
            attribute read at each call (PGD with its random start, APGD, Square).
        n: runs (``>= 1``).

    Raises:
        TypeError: if ``attack`` is not an :class:`~aisec.attacks.EvasionAttack`.
        ValueError: if ``n < 1``, or ``n > 1`` and every run would repeat the first (no seed,
            or no random start).

    Reference:
        A. Madry, A. Makelov, L. Schmidt, D. Tsipras, A. Vladu, "Towards Deep Learning Models
        Resistant to Adversarial Attacks", ICLR 2018.
    """

    def __init__(self, attack: EvasionAttack, n: int) -> None:
        if not isinstance(attack, EvasionAttack):
            raise TypeError(f"attack must be an EvasionAttack, got {type(attack).__name__}")
        n = self._check_int("n", n, 1)
        if n > 1:
            seed = vars(attack).get("seed")
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ValueError(
                    f"restarts need a randomized attack with an int seed; {attack.name} has "
                    f"none, so every run would repeat the first"
                )
            if getattr(attack, "random_start", True) is False:
                raise ValueError(
                    f"restarts of {attack.name} repeat the same run unless random_start=True"
                )
        # The wrapper supports what the wrapped attack supports (class attributes of attacks).
        vars(self)["supported_norms"] = attack.supported_norms
        vars(self)["uses_gradients"] = attack.uses_gradients
        vars(self)["min_ndim"] = attack.min_ndim
        super().__init__(attack.threat)
        self.attack = attack
        self.n = n
        self.name = attack.name if n == 1 else f"{attack.name} ({n} restarts)"

    def __repr__(self) -> str:
        return f"Restarts({self.attack!r}, n={self.n})"

    def _run_number(self, index: int) -> EvasionAttack:
        """The attack of run ``index``: the wrapped one with its seed plus ``index``."""
        if index == 0:
            return self.attack
        run = copy.copy(self.attack)
        vars(run)["seed"] = vars(self.attack)["seed"] + index
        return run

    def _wants_clean_graph(self) -> bool:
        # Only the first run starts on all the points the base class's clean pass saw.
        return self.attack._wants_clean_graph()

    def _run(self, ctx: AttackContext) -> Tensor | tuple[Tensor, Tensor]:
        if self.n == 1:
            return self.attack._run(ctx)
        model, x, y, targets = ctx.model, ctx.x, ctx.y, ctx.targets
        n = x.shape[0]
        best = x.clone()
        pred = torch.full((n,), -1, dtype=torch.long, device=x.device)
        found = torch.zeros(n, dtype=torch.bool, device=x.device)
        closest = torch.full((n,), -torch.inf, dtype=ctx.logits.dtype, device=x.device)
        info: dict[str, Tensor] = {}
        for index in range(self.n):
            rows = (~found).nonzero().squeeze(1)
            if rows.numel() == 0:
                break
            sub = AttackContext(
                model=model,
                x=x[rows],
                y=y[rows],
                targets=None if targets is None else targets[rows],
                logits=ctx.logits[rows],
                clean_graph=ctx.clean_graph if index == 0 else None,
            )
            out = self._run_number(index)._run(sub)
            known: Tensor | None = None
            if isinstance(out, tuple):
                out, known = out
            if not isinstance(out, Tensor) or out.shape != sub.x.shape:
                raise RuntimeError(f"{self.attack.name}._run returned a wrong shape")
            with torch.no_grad():
                out = out.detach().to(x.dtype)
                projected = self.threat._project(out, sub.x)
                run_pred = torch.full_like(sub.y, -1) if known is None else known.clone()
                moved = (projected != out).reshape(out.shape[0], -1).any(dim=1)
                run_pred[moved] = -1
                goal = sub.targets
                success = run_pred >= 0
                success &= run_pred == goal if goal is not None else run_pred != sub.y
                # Points not known to be fooled: one forward pass gives their predictions and
                # margins (which decide between runs, and spare the base class's final pass).
                score = torch.full_like(closest[rows], -torch.inf)
                ask = (~success).nonzero().squeeze(1)
                if ask.numel():
                    logits = model(projected[ask])
                    asked_pred = logits.argmax(dim=1)
                    run_pred[ask] = asked_pred
                    if goal is None:
                        success[ask] = asked_pred != sub.y[ask]
                        score[ask] = -margin(logits, sub.y[ask]).to(score.dtype)
                    else:
                        success[ask] = asked_pred == goal[ask]
                        score[ask] = margin(logits, goal[ask]).to(score.dtype)
                better = success | (score > closest[rows])
                chosen = rows[better]
                best[chosen] = projected[better]
                pred[chosen] = run_pred[better]
                closest[chosen] = score[better]
                found[rows] = success
                for key, value in sub.info.items():
                    if key not in info:
                        info[key] = torch.zeros(n, dtype=value.dtype, device=x.device)
                    info[key][chosen] = value.detach()[better]
        ctx.info.update(info)
        return best, pred
