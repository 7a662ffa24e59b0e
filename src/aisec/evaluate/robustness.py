"""Worst-case robust accuracy under a suite of attacks, with sanity checks.

:func:`evaluate_robustness` answers "how robust is this model?" the way AutoAttack does: it runs
several diverse attacks and counts a point as robust only if every attack fails on it. Each later
attack only runs on the points still robust, and the APGD attacks stop optimising a point once it
falls, so the evaluation costs little more than attacking the truly robust points.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn

from aisec.attacks.base import (
    AttackResult,
    EvasionAttack,
    Model,
    eval_mode,
    validate_inputs,
)
from aisec.attacks.evasion import APGD, FGSM, PGD, CarliniWagnerL2, SquareAttack
from aisec.evaluate.sanity import (
    check_blackbox_beats_whitebox,
    check_gradients,
    check_output_kind,
    check_randomness,
    emit,
)
from aisec.threat import ThreatModel

__all__ = [
    "ATTACK_NAMES",
    "AttackStage",
    "RobustnessReport",
    "Task",
    "default_suite",
    "evaluate_robustness",
    "load_task",
    "make_attack",
    "run_attack",
]

_SANITY_POINTS = 64

ATTACK_NAMES = ("fgsm", "pgd", "apgd-ce", "apgd-dlr", "apgd-t", "square", "cw")
"""Names accepted by :func:`make_attack` (``"apgd"`` is an alias of ``"apgd-ce"``)."""


def make_attack(
    name: str, threat: ThreatModel, *, steps: int | None = None, seed: int = 0
) -> EvasionAttack:
    """An attack by name with its published defaults (for the command line).

    Args:
        name: one of :data:`ATTACK_NAMES` (case-insensitive; ``"apgd"`` means APGD-CE).
            ``art:CLASS`` / ``foolbox:CLASS`` run an ART or Foolbox attack through
            :mod:`aisec.integrations` (needs ``aisec[art]`` / ``aisec[foolbox]``).
        threat: the threat model.
        steps: overrides the iteration budget: PGD/APGD steps, Square queries, C&W iterations
            per binary-search step (FGSM has none).
        seed: seed of the randomized attacks.

    Returns:
        The configured attack.

    Raises:
        ValueError: for an unknown name or a norm the attack does not support.
    """
    if ":" in name:
        from aisec.integrations.registry import make_library_attack

        return make_library_attack(name, threat, steps=steps, seed=seed)
    key = name.lower()
    if key == "apgd":
        key = "apgd-ce"

    def budget(parameter: str) -> dict[str, Any]:
        return {} if steps is None else {parameter: steps}

    if key == "fgsm":
        return FGSM(threat)
    if key == "pgd":
        return PGD(threat, seed=seed, **budget("steps"))
    if key in ("apgd-ce", "apgd-dlr", "apgd-t"):
        loss: Literal["ce", "dlr"] = "ce" if key == "apgd-ce" else "dlr"
        targets = 9 if key == "apgd-t" else 0
        return APGD(threat, loss=loss, n_target_classes=targets, seed=seed, **budget("steps"))
    if key == "square":
        return SquareAttack(threat, seed=seed, **budget("n_queries"))
    if key == "cw":
        return CarliniWagnerL2(threat, **budget("max_iterations"))
    raise ValueError(f"unknown attack {name!r}; choose one of {', '.join(ATTACK_NAMES)}")


@dataclass(frozen=True)
class Task:
    """A zoo model with test data to attack.

    Attributes:
        model_name: the zoo name.
        model: the model (eval mode).
        x: ``(n, C, H, W)`` test images in ``[0, 1]``.
        y: ``(n,)`` labels.
        class_names: a name per class.
    """

    model_name: str
    model: nn.Module
    x: Tensor
    y: Tensor
    class_names: tuple[str, ...]


def load_task(model: str, *, n: int, seed: int = 0) -> Task:
    """Load a zoo model and ``n`` test examples of its dataset (fewer if the set is smaller).

    ``signs-cnn`` gets ``n`` procedural test signs, ``digits-cnn`` a class-balanced subset of
    the digits test split, ``efficientnet-lite0`` the bundled ImageNet photos.

    Raises:
        ValueError: for an unknown model or ``n < 1``.
    """
    from aisec.data import load as load_data
    from aisec.models import load as load_model
    from aisec.models import model_spec

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    spec = model_spec(model)
    if spec.dataset == "signs":
        data = load_data("signs", "test", n=n, seed=seed)
    else:
        data = load_data(spec.dataset, "test")
        data = data.subset(min(n, len(data)), seed=seed)
    return Task(model, load_model(model).eval(), data.images, data.labels, data.class_names)


def default_suite(
    threat: ThreatModel,
    *,
    num_classes: int = 10,
    steps: int = 100,
    n_target_classes: int = 9,
    n_queries: int = 5000,
    seed: int = 0,
) -> list[EvasionAttack]:
    """The default attacks, in order: APGD-CE, APGD-T (targeted DLR) and Square (L∞ only).

    This is AutoAttack's "standard" suite without FAB-T (whose points APGD-T covers in practice).
    With fewer than 4 classes, APGD-T is replaced by the untargeted APGD-DLR (3 classes) or left
    out (2 classes). L2 has no Square attack here, so the suite is white-box only.

    Args:
        threat: the threat model.
        num_classes: the model's number of classes.
        steps: APGD iterations (100).
        n_target_classes: target classes of APGD-T (9, capped at ``num_classes − 1``).
        n_queries: Square's query budget (5,000 as in AutoAttack).
        seed: seed of every attack.

    Returns:
        The attacks, to be run in order.
    """
    suite: list[EvasionAttack] = [APGD(threat, steps=steps, loss="ce", seed=seed)]
    if num_classes >= 4:
        targets = min(n_target_classes, num_classes - 1)
        suite.append(APGD(threat, steps=steps, loss="dlr", n_target_classes=targets, seed=seed))
    elif num_classes == 3:
        suite.append(APGD(threat, steps=steps, loss="dlr", seed=seed))
    if threat.norm == "linf":
        suite.append(SquareAttack(threat, n_queries=n_queries, seed=seed))
    return suite


@dataclass
class AttackStage:
    """One attack of a suite, run on the points still robust before it.

    Attributes:
        attack: the attack's name.
        black_box: whether the attack uses only the model's outputs.
        attacked: points the attack ran on.
        broken: of those, points it made adversarial.
        robust_accuracy: the accuracy left after this attack (worst case over it and all
            earlier attacks), over all evaluated points.
        time_s: seconds spent.
        forwards: batched forward passes.
        backwards: batched backward passes.
        forward_examples: examples summed over forward passes.
    """

    attack: str
    black_box: bool
    attacked: int
    broken: int
    robust_accuracy: float
    time_s: float
    forwards: int
    backwards: int
    forward_examples: int

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the fields."""
        return dict(vars(self))


@dataclass
class RobustnessReport:
    """The outcome of :func:`evaluate_robustness`.

    Attributes:
        threat: the threat model.
        n: points evaluated.
        clean_accuracy: accuracy on the clean points.
        robust_accuracy: per-example worst case over all attacks: the fraction of points that
            are correctly classified and that no attack broke.
        stages: one :class:`AttackStage` per attack, in order.
        robust: ``(n,)`` bool, which points survived every attack.
        x_adv: ``(n, ...)`` for each broken point the adversarial example that broke it, the
            clean input elsewhere.
        clean_pred: ``(n,)`` the predictions on the clean inputs.
        adv_pred: ``(n,)`` the predictions on ``x_adv``.
        y: ``(n,)`` the labels.
        warnings: sanity warnings (also issued with ``warnings.warn``).
        time_s: total seconds.
    """

    threat: ThreatModel
    n: int
    clean_accuracy: float
    robust_accuracy: float
    stages: list[AttackStage]
    robust: Tensor
    x_adv: Tensor
    clean_pred: Tensor
    adv_pred: Tensor
    y: Tensor
    warnings: list[str] = field(default_factory=list)
    time_s: float = 0.0

    def to_dict(self, *, per_example: bool = False) -> dict[str, Any]:
        """A JSON-friendly dict; per-example robustness and predictions if ``per_example``."""
        out: dict[str, Any] = {
            "threat": self.threat.to_dict(),
            "n": self.n,
            "clean_accuracy": self.clean_accuracy,
            "robust_accuracy": self.robust_accuracy,
            "stages": [stage.to_dict() for stage in self.stages],
            "warnings": list(self.warnings),
            "time_s": self.time_s,
        }
        if per_example:
            out["robust"] = self.robust.tolist()
            out["y"] = self.y.tolist()
            out["clean_pred"] = self.clean_pred.tolist()
            out["adv_pred"] = self.adv_pred.tolist()
        return out

    def to_json(self, *, per_example: bool = False, indent: int = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(per_example=per_example), indent=indent)


def _batches(index: Tensor, batch_size: int) -> list[Tensor]:
    return [index[i : i + batch_size] for i in range(0, index.numel(), batch_size)]


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int):
        raise TypeError(f"batch_size must be an int, got {type(batch_size).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    return batch_size


def run_attack(
    model: Model,
    x: Tensor,
    y: Tensor,
    attack: EvasionAttack,
    *,
    targets: Tensor | None = None,
    batch_size: int = 256,
) -> AttackResult:
    """Run one attack over a data set in batches and join the results.

    Args:
        model: the classifier (logits out).
        x: ``(N, ...)`` inputs inside the attack's threat-model bounds.
        y: ``(N,)`` labels.
        attack: the configured attack.
        targets: ``(N,)`` targets for a targeted attack, or ``None``.
        batch_size: examples per call of the attack.

    Returns:
        One :class:`~aisec.attacks.AttackResult` for all ``N`` examples; its ``summary()`` has the
        clean and robust accuracy, success rate, norms, model calls and time.
    """
    batch_size = _check_batch_size(batch_size)
    if not isinstance(attack, EvasionAttack):
        raise TypeError(f"attack must be an EvasionAttack, got {type(attack).__name__}")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch tensor, got {type(x).__name__}")
    n = x.shape[0] if x.ndim else 0
    if n == 0:
        return attack(model, x, y, targets)
    results = [
        attack(
            model,
            x[start : start + batch_size],
            y[start : start + batch_size],
            None if targets is None else targets[start : start + batch_size],
        )
        for start in range(0, n, batch_size)
    ]
    return AttackResult.concatenate(results)


def evaluate_robustness(
    model: Model,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    attacks: Sequence[EvasionAttack] | None = None,
    *,
    batch_size: int = 256,
    seed: int = 0,
    sanity_checks: bool = True,
    warn: bool = True,
    on_stage: Callable[[AttackStage], None] | None = None,
) -> RobustnessReport:
    """Evaluate worst-case robust accuracy under a suite of attacks.

    Points the model already misclassifies are not attacked. Each attack then runs only on the
    points every earlier attack failed on; a point counts as robust only if all attacks fail. The
    sanity checks warn about probability outputs, randomized models, zero or vanishing input
    gradients, and a black-box attack breaking points the white-box attacks could not (more than
    1% of the points, and at least 2) — each a sign that the number is too optimistic.

    Args:
        model: the classifier (an ``nn.Module`` is put in eval mode, then restored).
        x: ``(N, C, H, W)`` inputs inside ``threat.bounds``.
        y: ``(N,)`` labels.
        threat: the threat model.
        attacks: the suite; default :func:`default_suite` (APGD-CE, APGD-T, Square).
        batch_size: examples per attack call.
        seed: seed of the default suite.
        sanity_checks: run the sanity checks.
        warn: also issue the sanity warnings with ``warnings.warn``.
        on_stage: called with each :class:`AttackStage` as soon as it finishes (progress).

    Returns:
        A :class:`RobustnessReport`.

    Raises:
        ValueError / TypeError: for invalid inputs (see :func:`aisec.attacks.base.validate_inputs`)
            or attacks whose threat model differs from ``threat``.

    Reference:
        F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of
        diverse parameter-free attacks", ICML 2020.
    """
    start = time.perf_counter()
    if not isinstance(threat, ThreatModel):
        raise TypeError(f"threat must be a ThreatModel, got {type(threat).__name__}")
    if not callable(model):
        raise TypeError(f"model must be callable (an nn.Module), got {type(model).__name__}")
    batch_size = _check_batch_size(batch_size)
    x, y, _ = validate_inputs(x, y, None, threat)
    n = x.shape[0]
    messages: list[str] = []
    with eval_mode(model):
        clean_pred = torch.zeros(n, dtype=torch.long, device=x.device)
        first_logits: Tensor | None = None
        with torch.no_grad():
            for chunk in _batches(torch.arange(n, device=x.device), batch_size):
                logits = model(x[chunk])
                if not isinstance(logits, Tensor) or logits.ndim != 2:
                    raise ValueError(
                        "the model must return logits of shape (N, num_classes), got "
                        f"{getattr(logits, 'shape', type(logits).__name__)}"
                    )
                if first_logits is None:
                    first_logits = logits
                clean_pred[chunk] = logits.argmax(dim=1)
        num_classes = int(first_logits.shape[1]) if first_logits is not None else 2
        if n and int(y.max()) >= num_classes:
            raise ValueError(
                f"y has class index {int(y.max())}, but the model outputs only {num_classes} "
                f"classes"
            )
        correct = clean_pred == y
        if attacks is None:
            attacks = default_suite(threat, num_classes=num_classes, seed=seed)
        for attack in attacks:
            if not isinstance(attack, EvasionAttack):
                raise TypeError(f"attacks must be EvasionAttacks, got {type(attack).__name__}")
            if attack.threat != threat:
                raise ValueError(
                    f"{attack.name} runs under {attack.threat}, but the evaluation is for {threat}"
                )

        if sanity_checks and n:
            assert first_logits is not None
            messages += check_output_kind(first_logits)
            probe = x[:_SANITY_POINTS]
            messages += check_randomness(model, probe)
            ok = correct.nonzero().squeeze(1)[:_SANITY_POINTS]
            messages += check_gradients(model, x[ok], y[ok])

        robust = correct.clone()
        x_adv = x.clone()
        adv_pred = clean_pred.clone()
        stages: list[AttackStage] = []
        seen_white_box = False
        for attack in attacks:
            todo = robust.nonzero().squeeze(1)
            began = time.perf_counter()
            results = [attack(model, x[chunk], y[chunk]) for chunk in _batches(todo, batch_size)]
            broken = 0
            if results:
                result = AttackResult.concatenate(results)
                hit = todo[result.success]
                broken = int(hit.numel())
                robust[hit] = False
                x_adv[hit] = result.x_adv[result.success]
                adv_pred[hit] = result.adv_pred[result.success]
            stage = AttackStage(
                attack=attack.name,
                black_box=not attack.uses_gradients,
                attacked=int(todo.numel()),
                broken=broken,
                robust_accuracy=float(robust.float().mean()) if n else 0.0,
                time_s=time.perf_counter() - began,
                forwards=sum(r.forwards for r in results),
                backwards=sum(r.backwards for r in results),
                forward_examples=sum(r.forward_examples for r in results),
            )
            stages.append(stage)
            if on_stage is not None:
                on_stage(stage)
            if attack.uses_gradients:
                seen_white_box = True
            elif sanity_checks and seen_white_box:
                messages += check_blackbox_beats_whitebox(broken, n, attack.name)
    if warn:
        emit(messages)
    return RobustnessReport(
        threat=threat,
        n=n,
        clean_accuracy=float(correct.float().mean()) if n else 0.0,
        robust_accuracy=float(robust.float().mean()) if n else 0.0,
        stages=stages,
        robust=robust,
        x_adv=x_adv,
        clean_pred=clean_pred,
        adv_pred=adv_pred,
        y=y,
        warnings=messages,
        time_s=time.perf_counter() - start,
    )
