"""Foolbox 3 adapters, both ways.

- :func:`to_foolbox` hands an aisec model to Foolbox as a ``foolbox.PyTorchModel`` with the
  right bounds and device (no Foolbox preprocessing: normalization lives inside aisec models).
- :class:`FoolboxAttack` runs a Foolbox attack under aisec's attack contract, so that
  :func:`aisec.evaluate.evaluate_robustness`, :func:`aisec.evaluate.run_attack` and the CLI
  (``--attack foolbox:LinfPGD``) accept it; the threat model (the attack's distance and
  ``epsilon``) is enforced by projection and reported.

Foolbox is an optional dependency: ``pip install "aisec[foolbox]"``; it is imported only when
used.
"""

from __future__ import annotations

import difflib
import inspect
import math
from types import ModuleType
from typing import Any

import torch
from torch import Tensor, nn

from aisec.attacks.base import AttackContext, EvasionAttack
from aisec.integrations._common import (
    CallableModule,
    frozen_parameters,
    import_optional,
    model_device,
    seeded,
)
from aisec.models.plumbing import Model
from aisec.threat import ThreatModel, parse_eps

__all__ = ["FoolboxAttack", "foolbox_attacks", "to_foolbox"]

_NORMS: dict[float, str] = {math.inf: "linf", 2.0: "l2", 1.0: "l1"}

# Foolbox attacks that use only the model's outputs (decision- or score-based, or noise).
_BLACK_BOX = frozenset(
    {
        "BoundaryAttack",
        "HopSkipJumpAttack",
        "PointwiseAttack",
        "SaltAndPepperNoiseAttack",
        "LinearSearchBlendedUniformNoiseAttack",
        "LinearSearchContrastReductionAttack",
        "BinarySearchContrastReductionAttack",
        "GaussianBlurAttack",
        "InversionAttack",
        "L2AdditiveGaussianNoiseAttack",
        "L2AdditiveUniformNoiseAttack",
        "L2ClippingAwareAdditiveGaussianNoiseAttack",
        "L2ClippingAwareAdditiveUniformNoiseAttack",
        "LinfAdditiveUniformNoiseAttack",
        "L2RepeatedAdditiveGaussianNoiseAttack",
        "L2RepeatedAdditiveUniformNoiseAttack",
        "L2ClippingAwareRepeatedAdditiveGaussianNoiseAttack",
        "L2ClippingAwareRepeatedAdditiveUniformNoiseAttack",
        "LinfRepeatedAdditiveUniformNoiseAttack",
        "DatasetAttack",
    }
)


def _fb(module: str = "foolbox") -> ModuleType:
    return import_optional(module, extra="foolbox", package="Foolbox")


def to_foolbox(
    model: nn.Module | Model,
    *,
    bounds: tuple[float, float] = (0.0, 1.0),
    device: torch.device | str | None = None,
) -> Any:
    """Wrap a model as ``foolbox.PyTorchModel``.

    Args:
        model: the classifier (logits out, eval mode); a plain callable is wrapped.
        bounds: the valid input range (aisec's threat-model bounds).
        device: where Foolbox runs the model; default the device of the model's parameters.

    Returns:
        A ``foolbox.PyTorchModel``.

    Raises:
        ImportError: if Foolbox is not installed (``pip install "aisec[foolbox]"``).
    """
    fb = _fb()
    if not callable(model):
        raise TypeError(f"model must be an nn.Module or callable, got {type(model).__name__}")
    module = model if isinstance(model, nn.Module) else CallableModule(model)
    lo, hi = float(bounds[0]), float(bounds[1])
    if not lo < hi:
        raise ValueError(f"bounds must satisfy lo < hi, got {bounds!r}")
    return fb.PyTorchModel(module, bounds=(lo, hi), device=model_device(model, device))


def foolbox_attacks() -> list[str]:
    """The names of Foolbox's attack classes (for error messages and the CLI)."""
    attacks = _fb("foolbox.attacks")
    base = _fb("foolbox.attacks.base").Attack
    return sorted(
        name
        for name, obj in vars(attacks).items()
        if inspect.isclass(obj) and issubclass(obj, base) and not name.startswith("_")
    )


def _resolve_attack(attack: object, params: dict[str, Any]) -> Any:
    base = _fb("foolbox.attacks.base").Attack
    if isinstance(attack, str):
        cls = getattr(_fb("foolbox.attacks"), attack, None)
        if not (inspect.isclass(cls) and issubclass(cls, base)):
            close = difflib.get_close_matches(attack, foolbox_attacks(), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ValueError(f"Foolbox has no attack named {attack!r}{hint}")
        return cls(**params)
    if inspect.isclass(attack) and issubclass(attack, base):
        return attack(**params)
    if isinstance(attack, base):
        if params:
            raise TypeError("params are only accepted with an attack given by class or name")
        return attack
    raise TypeError(
        f"attack must be a Foolbox attack (instance, class or name), got {type(attack).__name__}"
    )


class FoolboxAttack(EvasionAttack):
    """A Foolbox attack run under aisec's attack contract.

    The threat model's norm is the attack's ``distance`` (L∞, L2 or L1) and its radius is
    ``epsilon``. Fixed-epsilon attacks (``LinfPGD``, ``FGSM``, ``L2CarliniWagnerAttack`` with
    an epsilon, ...) run at ``epsilon``; minimization attacks run unbounded and Foolbox clips
    their result to ``epsilon``. Foolbox's output is projected onto the threat model again by
    the base class. Every model call Foolbox makes goes through aisec's counting wrapper, so
    ``forwards``/``backwards`` are exact (including Foolbox's own final success check). A
    targeted call uses ``TargetedMisclassification`` (Foolbox raises for attacks without a
    targeted mode). The model's parameters are frozen during the run (Foolbox's PyTorch
    backend calls ``loss.backward()``), so no ``.grad`` is left behind. Random starts use
    torch's global generator, seeded with ``seed`` per call and restored afterwards.

    Args:
        attack: a Foolbox attack instance (``foolbox.attacks.LinfPGD(steps=20)``), class or
            name (``"LinfPGD"``).
        epsilon: the budget, a number or a string like ``"8/255"``.
        bounds: the valid input range.
        seed: seed of the random starts.
        **params: constructor arguments when ``attack`` is a class or name.

    Raises:
        ImportError: if Foolbox is not installed (``pip install "aisec[foolbox]"``).
        ValueError: for an unknown name or an attack without an L∞/L2/L1 distance.
    """

    supported_norms = ("linf", "l2", "l1")

    def __init__(
        self,
        attack: object,
        epsilon: float | str,
        *,
        bounds: tuple[float, float] = (0.0, 1.0),
        seed: int = 0,
        **params: Any,
    ) -> None:
        self.attack = _resolve_attack(attack, params)
        cls_name = type(self.attack).__name__
        try:
            distance = self.attack.distance
        except (AttributeError, NotImplementedError):
            distance = None
        p = getattr(distance, "p", None)
        if p is None or float(p) not in _NORMS:
            raise ValueError(f"Foolbox's {cls_name} has no L∞, L2 or L1 distance to enforce")
        # The name the user gave (Foolbox aliases: LinfPGD = LinfProjectedGradientDescentAttack).
        self.name = f"foolbox:{attack if isinstance(attack, str) else cls_name}"
        super().__init__(ThreatModel(_NORMS[float(p)], parse_eps(epsilon), bounds))  # type: ignore[arg-type]
        self.seed = self._check_int("seed", seed, 0)
        # Per-instance: whether the attack is white-box (used by evaluate's sanity checks).
        vars(self)["uses_gradients"] = cls_name not in _BLACK_BOX

    def __repr__(self) -> str:
        return f"FoolboxAttack({self.attack!r}, {self.threat!s})"

    def _run(self, ctx: AttackContext) -> Tensor:
        fb = _fb()
        x = ctx.x
        fmodel = to_foolbox(
            CallableModule(ctx.model).eval(), bounds=self.threat.bounds, device=x.device
        )
        if ctx.targets is None:
            criterion = fb.criteria.Misclassification(ctx.y)
        else:
            criterion = fb.criteria.TargetedMisclassification(ctx.targets)
        with seeded(self.seed, x.device), frozen_parameters(ctx.model):
            _raw, clipped, _success = self.attack(fmodel, x, criterion, epsilons=self.threat.eps)
        out = clipped.raw if hasattr(clipped, "raw") else clipped
        return torch.as_tensor(out).detach().to(dtype=x.dtype, device=x.device)
