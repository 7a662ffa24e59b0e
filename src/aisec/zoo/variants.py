"""Robustly trained variants of zoo models: pick a method, train, cache under a derived name.

``train_variant("signs-cnn", "pgd", eps="8/255")`` trains the signs architecture with PGD
adversarial training. When the settings match a zoo entry — a ``variant_of`` the base with the
same method, the same eps or sigma, and any other given setting equal — the entry itself is
trained and cached (here ``signs-cnn-at``). Otherwise the result is cached under a derived name
``BASE+METHOD-PARAMS`` that :func:`aisec.zoo.load` accepts, e.g.
``signs-cnn+pgd-eps0p01569-steps7`` or ``digits-cnn+noise-sigma0p5-epochs5``.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass
from typing import Any, Literal, get_args

import torch
from torch import Tensor, nn

from aisec.defenses.training.fast_at import FastAdversarialTraining
from aisec.defenses.training.noise import GaussianNoiseTraining
from aisec.defenses.training.pgd_at import PGDAdversarialTraining
from aisec.defenses.training.trades import TRADES
from aisec.models.training import StepLoss
from aisec.threat import ThreatModel, parse_eps
from aisec.zoo import catalog as zoo

__all__ = [
    "METHODS",
    "Method",
    "OverfittingMonitor",
    "VariantResult",
    "make_objective",
    "pgd_accuracy",
    "train_variant",
    "variant_name",
]

Method = Literal["pgd", "trades", "fast", "noise"]
METHODS: tuple[str, ...] = get_args(Method)

Objective = PGDAdversarialTraining | TRADES | FastAdversarialTraining | GaussianNoiseTraining


def make_objective(
    method: str,
    *,
    eps: float | str | None = None,
    sigma: float | str | None = None,
    steps: int | None = None,
    beta: float | None = None,
) -> Objective:
    """The step loss of ``method`` with the given settings (the class defaults elsewhere).

    Args:
        method: ``"pgd"``, ``"trades"``, ``"fast"`` or ``"noise"``.
        eps: L∞ radius of the adversarial methods (default 8/255), e.g. ``"8/255"``.
        sigma: noise level of ``"noise"`` (default 0.25).
        steps: attack steps of ``"pgd"`` and ``"trades"``.
        beta: TRADES's ``β``.

    Raises:
        ValueError: for an unknown method or a setting the method does not take.
    """
    if method not in METHODS:
        raise ValueError(f"unknown training method {method!r}; expected one of {METHODS}")
    given = {"eps": eps, "sigma": sigma, "steps": steps, "beta": beta}
    takes = {
        "pgd": {"eps", "steps"},
        "trades": {"eps", "steps", "beta"},
        "fast": {"eps"},
        "noise": {"sigma"},
    }[method]
    extra = sorted(k for k, v in given.items() if v is not None and k not in takes)
    if extra:
        raise ValueError(f"method {method!r} takes {sorted(takes)}, not {extra}")
    if method == "noise":
        return GaussianNoiseTraining(sigma=0.25 if sigma is None else _number("sigma", sigma))
    radius = 8 / 255 if eps is None else parse_eps(eps)
    if method == "fast":
        return FastAdversarialTraining(eps=radius)
    if method == "pgd":
        return (
            PGDAdversarialTraining(eps=radius)
            if steps is None
            else (PGDAdversarialTraining(eps=radius, steps=steps))
        )
    options: dict[str, Any] = {} if steps is None else {"steps": steps}
    if beta is not None:
        options["beta"] = beta
    return TRADES(eps=radius, **options)


def _number(name: str, value: float | str) -> float:
    number = parse_eps(value) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    return float(number)


def variant_name(base: str, objective: Objective, epochs: int | None = None) -> str:
    """The derived cache name ``BASE+METHOD-PARAMS[-epochsN]`` of a variant.

    Numbers have 4 significant digits with ``p`` for the decimal point (a ``.`` would be taken
    for a file suffix). Examples: ``signs-cnn+pgd-eps0p03137-steps7``,
    ``signs-cnn+trades-eps0p03137-steps10-beta6``, ``signs-cnn+fast-eps0p03137``,
    ``digits-cnn+noise-sigma0p5-epochs5``.
    """
    if isinstance(objective, GaussianNoiseTraining):
        params = f"sigma{_fmt(objective.sigma)}"
    elif isinstance(objective, FastAdversarialTraining):
        params = f"eps{_fmt(objective.eps)}"
    elif isinstance(objective, PGDAdversarialTraining):
        params = f"eps{_fmt(objective.eps)}-steps{objective.steps}"
    else:
        params = f"eps{_fmt(objective.eps)}-steps{objective.steps}-beta{_fmt(objective.beta)}"
    suffix = "" if epochs is None else f"-epochs{epochs}"
    return f"{base}+{objective.method}-{params}{suffix}"


def _fmt(value: float) -> str:
    return f"{value:.4g}".replace(".", "p").replace("+", "")


@torch.no_grad()
def _no_grad_accuracy(model: nn.Module, x: Tensor, y: Tensor) -> float:
    return float((model(x).argmax(1) == y).float().mean())


def pgd_accuracy(
    model: nn.Module, x: Tensor, y: Tensor, eps: float, *, steps: int = 10, seed: int = 0
) -> float:
    """Accuracy under PGD-``steps`` (L∞ ``eps``, random start) on ``x`` ``(N, C, H, W)``.

    A quick check for catastrophic overfitting during training, not a robustness evaluation
    (use :func:`aisec.evaluate.evaluate_robustness` for that).
    """
    from aisec.attacks.evasion import PGD

    result = PGD(ThreatModel("linf", eps), steps=steps, seed=seed)(model, x, y)
    return float(result.robust_accuracy or 0.0)


class OverfittingMonitor:
    """Watch PGD accuracy on a held-out batch after each epoch and warn when it collapses.

    Catastrophic overfitting (Wong et al. 2020) shows as PGD accuracy falling to a small
    fraction of its best value within an epoch. The monitor warns (``RuntimeWarning``) when the
    PGD accuracy of an epoch is below ``drop`` times the best one so far.

    Args:
        x: held-out images ``(N, C, H, W)``.
        y: labels ``(N,)``.
        eps: the training radius.
        drop: the collapse ratio (0.5).
    """

    def __init__(self, x: Tensor, y: Tensor, eps: float, *, drop: float = 0.5) -> None:
        self.x, self.y, self.eps, self.drop = x, y, eps, drop
        self.history: list[float] = []

    def __call__(self, model: nn.Module, epoch: int, metrics: dict[str, float]) -> None:
        """Measure after ``epoch`` (a :func:`aisec.zoo.catalog.train_variant` hook)."""
        value = pgd_accuracy(model, self.x, self.y, self.eps)
        best = max(self.history, default=0.0)
        self.history.append(value)
        if best > 0 and value < self.drop * best:
            warnings.warn(
                f"catastrophic overfitting after epoch {epoch}: PGD-10 accuracy on held-out data "
                f"fell from {best:.1%} to {value:.1%}; use --adv pgd (PGD-AT) or fewer epochs",
                RuntimeWarning,
                stacklevel=2,
            )


@dataclass
class VariantResult:
    """A trained variant: its cache name, the model (eval mode) and its checkpoint metadata."""

    name: str
    model: nn.Module
    metadata: dict[str, Any]
    pgd_history: list[float] = dataclasses.field(default_factory=list)


def _matches(entry: StepLoss, objective: Objective, given: dict[str, Any]) -> bool:
    if type(entry) is not type(objective):
        return False
    for key in ("eps", "sigma"):
        if hasattr(objective, key) and not math.isclose(
            getattr(entry, key), getattr(objective, key), rel_tol=1e-9
        ):
            return False
    return all(getattr(entry, k) == v for k, v in given.items() if v is not None)


def train_variant(
    base: str,
    method: str,
    *,
    eps: float | str | None = None,
    sigma: float | str | None = None,
    steps: int | None = None,
    beta: float | None = None,
    epochs: int | None = None,
    progress: bool = True,
) -> VariantResult:
    """Train ``base``'s robust variant with ``method`` and cache it (resuming if interrupted).

    Args:
        base: a trainable zoo entry, e.g. ``"signs-cnn"`` or ``"digits-cnn"``.
        method: ``"pgd"``, ``"trades"``, ``"fast"`` or ``"noise"``.
        eps, sigma, steps, beta: see :func:`make_objective`.
        epochs: training epochs (default: the matching zoo entry's, else the base's).
        progress: show a progress bar.

    Returns:
        The :class:`VariantResult`; ``name`` is what :func:`aisec.zoo.load` accepts.

    Raises:
        ValueError: for an unknown base or method, or bad settings.
    """
    from aisec.data import load as load_data

    objective = make_objective(method, eps=eps, sigma=sigma, steps=steps, beta=beta)
    if isinstance(epochs, bool) or not (epochs is None or isinstance(epochs, int)):
        raise TypeError(f"epochs must be an int, got {type(epochs).__name__}")
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    base_spec = zoo.model_spec(base)
    if base_spec.pretrained or base_spec.variant_of is not None:
        raise ValueError(
            f"{base!r} cannot be a base: pick a zoo model trained by aisec that is not itself "
            "a variant, e.g. 'signs-cnn' or 'digits-cnn'"
        )
    for status in zoo.list_models():
        spec = zoo.model_spec(status.name)
        if spec.variant_of != base or spec.objective is None or spec.train_config is None:
            continue
        same_epochs = epochs is None or epochs == spec.train_config.epochs
        if same_epochs and _matches(spec.objective(), objective, {"steps": steps, "beta": beta}):
            model, metadata = zoo.train(spec.name, progress=progress)
            return VariantResult(spec.name, model, metadata)
    assert base_spec.train_config is not None  # not pretrained
    config = base_spec.train_config
    if epochs is not None:
        config = dataclasses.replace(config, epochs=epochs)
    hook = None
    monitor = None
    if isinstance(objective, FastAdversarialTraining):
        held_out = load_data(base_spec.dataset, "test", seed=config.seed)
        held_out = held_out.subset(min(256, len(held_out)), seed=config.seed)
        monitor = OverfittingMonitor(held_out.images, held_out.labels, objective.eps)
        hook = monitor
    name = variant_name(base, objective, epochs)
    model, metadata = zoo.train_variant(
        name, base, objective, config=config, on_epoch_end=hook, progress=progress
    )
    return VariantResult(name, model, metadata, monitor.history if monitor else [])
