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
from typing import Any

import torch
from torch import Tensor

from aisec.attacks.base import (
    AttackResult,
    EvasionAttack,
    NonFiniteOutputError,
    predict,
    validate_inputs,
)
from aisec.attacks.evasion import APGD, SquareAttack
from aisec.evaluate._stages import StageRun, batch_groups, run_stages
from aisec.evaluate.sanity import (
    check_blackbox_beats_whitebox,
    check_gradients,
    check_output_kind,
    check_perturbed_outputs,
    check_randomness,
    emit,
)
from aisec.models.plumbing import Model, eval_mode
from aisec.seeding import ids_or_range
from aisec.stats import Rate
from aisec.threat import ThreatModel

__all__ = [
    "AttackStage",
    "RobustnessReport",
    "default_suite",
    "evaluate_robustness",
    "merge_robustness_reports",
    "robustness_sanity_checks",
    "run_attack",
]

_SANITY_POINTS = 64


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

    @property
    def clean_rate(self) -> Rate:
        """Correctly classified clean points of the :attr:`n` evaluated."""
        return Rate(int((self.clean_pred == self.y).sum()), self.n)

    @property
    def robust_rate(self) -> Rate:
        """Points that survived every attack, of the :attr:`n` evaluated."""
        return Rate(int(self.robust.sum()), self.n)

    def rows(self) -> list[dict[str, Any]]:
        """The evaluation as table rows: the clean points, then one row per attack.

        Returns:
            Dicts with ``attack``, ``black box``, ``attacked``, ``broken``, ``accuracy after``
            (a :class:`~aisec.stats.Rate` over all points: the worst case over this attack and
            every earlier one), ``time (s)``, ``forwards`` and ``backwards``; the first row
            (``"clean"``) has the clean accuracy and ``None`` where nothing was attacked.
        """
        clean = self.clean_rate
        rows: list[dict[str, Any]] = [
            {
                "attack": "clean",
                "black box": None,
                "attacked": self.n,
                "broken": None,
                "accuracy after": clean,
                "time (s)": None,
                "forwards": None,
                "backwards": None,
            }
        ]
        remaining = clean.count
        for stage in self.stages:
            remaining -= stage.broken
            rows.append(
                {
                    "attack": stage.attack,
                    "black box": stage.black_box,
                    "attacked": stage.attacked,
                    "broken": stage.broken,
                    "accuracy after": Rate(remaining, self.n),
                    "time (s)": round(stage.time_s, 3),
                    "forwards": stage.forwards,
                    "backwards": stage.backwards,
                }
            )
        return rows


def _sanity_messages(
    model: Model,
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    correct: Tensor,
    first_logits: Tensor,
    seed: int,
) -> list[str]:
    """The sanity checks of an evaluation on its first points (errors for NaN outputs)."""
    probe = x[:_SANITY_POINTS]
    # NaN a step away from the data would make every attack's predictions meaningless:
    # an error up front, before the attacks run (they would raise it too).
    nonfinite = check_perturbed_outputs(model, probe, threat, seed=seed)
    if nonfinite:
        raise NonFiniteOutputError(nonfinite[0])
    messages = check_output_kind(first_logits)
    messages += check_randomness(model, probe)
    ok = correct.nonzero().squeeze(1)[:_SANITY_POINTS]
    messages += check_gradients(model, x[ok], y[ok])
    return messages


def robustness_sanity_checks(
    model: Model, x: Tensor, y: Tensor, threat: ThreatModel, *, seed: int = 0
) -> list[str]:
    """The sanity checks of :func:`evaluate_robustness`, alone, on the first points of ``x``.

    A sharded evaluation runs them once, on the driver, and evaluates its shards without them;
    the black-box check, which needs the whole suite's counts, is
    :func:`merge_robustness_reports`'s.

    Returns:
        The warnings (not issued).

    Raises:
        NonFiniteOutputError: if the model returns NaN or infinite logits near the data.
    """
    x, y, _ = validate_inputs(x, y, None, threat)
    probe_x, probe_y = x[:_SANITY_POINTS], y[:_SANITY_POINTS]
    if probe_x.shape[0] == 0:
        return []
    with eval_mode(model), torch.no_grad():
        logits = model(probe_x)
    correct = predict(logits, "clean inputs") == probe_y
    with eval_mode(model):
        return _sanity_messages(model, probe_x, probe_y, threat, correct, logits, seed)


def merge_robustness_reports(
    reports: Sequence[RobustnessReport], *, warnings: Sequence[str] = ()
) -> RobustnessReport:
    """One report from the reports of consecutive shards of a data set, in order.

    Per-point tensors are concatenated; each stage's counts, calls and times are summed over
    the shards and its robust accuracy is recomputed over all points. The black-box check of
    the whole suite runs on the summed counts, after ``warnings`` (the driver's sanity checks).

    Args:
        reports: the shards' reports, in data-set order, all of the same suite and threat.
        warnings: warnings to put first.

    Returns:
        The :class:`RobustnessReport` of all the points (``time_s``: the shards' total).

    Raises:
        ValueError: for no reports, or reports of different threats or suites.
    """
    if not reports:
        raise ValueError("merge_robustness_reports needs at least one report")
    first = reports[0]
    suite = [(stage.attack, stage.black_box) for stage in first.stages]
    for report in reports[1:]:
        if (
            report.threat != first.threat
            or [(stage.attack, stage.black_box) for stage in report.stages] != suite
        ):
            raise ValueError("the reports to merge must come from the same suite and threat")
    n = sum(report.n for report in reports)
    robust = torch.cat([report.robust for report in reports])
    clean_pred = torch.cat([report.clean_pred for report in reports])
    y = torch.cat([report.y for report in reports])
    correct = int((clean_pred == y).sum())
    stages: list[AttackStage] = []
    messages = list(warnings)
    remaining = correct
    seen_white_box = False
    for index, (name, black_box) in enumerate(suite):
        parts = [report.stages[index] for report in reports]
        broken = sum(part.broken for part in parts)
        remaining -= broken
        stages.append(
            AttackStage(
                attack=name,
                black_box=black_box,
                attacked=sum(part.attacked for part in parts),
                broken=broken,
                robust_accuracy=remaining / n if n else 0.0,
                time_s=sum(part.time_s for part in parts),
                forwards=sum(part.forwards for part in parts),
                backwards=sum(part.backwards for part in parts),
                forward_examples=sum(part.forward_examples for part in parts),
            )
        )
        if not black_box:
            seen_white_box = True
        elif seen_white_box:
            messages += check_blackbox_beats_whitebox(broken, n, name)
    return RobustnessReport(
        threat=first.threat,
        n=n,
        clean_accuracy=correct / n if n else 0.0,
        robust_accuracy=float(robust.float().mean()) if n else 0.0,
        stages=stages,
        robust=robust,
        x_adv=torch.cat([report.x_adv for report in reports]),
        clean_pred=clean_pred,
        adv_pred=torch.cat([report.adv_pred for report in reports]),
        y=y,
        warnings=messages,
        time_s=sum(report.time_s for report in reports),
    )


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
    ids: Tensor | None = None,
) -> AttackResult:
    """Run one attack over a data set in batches and join the results.

    Every example's random draws are keyed by its index (``ids``), so the result does not
    depend on ``batch_size`` (nor, in a sharded run, on the shards).

    Args:
        model: the classifier (logits out).
        x: ``(N, ...)`` inputs inside the attack's threat-model bounds.
        y: ``(N,)`` labels.
        attack: the configured attack.
        targets: ``(N,)`` targets for a targeted attack, or ``None``.
        batch_size: examples per call of the attack.
        ids: ``(N,)`` int64 indices of the examples in their data set; default ``0 … N−1``.

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
    ids = ids_or_range(ids, n, x.device)
    results = [
        attack(
            model,
            x[start : start + batch_size],
            y[start : start + batch_size],
            None if targets is None else targets[start : start + batch_size],
            ids=ids[start : start + batch_size],
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
    ids: Tensor | None = None,
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
        ids: ``(N,)`` int64 indices of the points in their data set; default ``0 … N−1``.
            They key each point's random draws and its batch (``ids // batch_size``), so a
            shard of whole batches evaluated alone gives its points exactly what the whole
            data set gives them (see :func:`merge_robustness_reports`).

    Returns:
        A :class:`RobustnessReport`.

    Raises:
        ValueError / TypeError: for invalid inputs (see :func:`aisec.attacks.base.validate_inputs`)
            or attacks whose threat model differs from ``threat``.
        NonFiniteOutputError: (a ``ValueError``) if the model returns NaN or infinite logits on
            the clean inputs, on random points of the threat model (sanity checks) or on any
            input an attack queried.

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
    ids = ids_or_range(ids, n, x.device)
    messages: list[str] = []
    with eval_mode(model):
        clean_pred = torch.zeros(n, dtype=torch.long, device=x.device)
        first_logits: Tensor | None = None
        with torch.no_grad():
            for chunk in batch_groups(torch.arange(n, device=x.device), ids, batch_size):
                logits = model(x[chunk])
                if not isinstance(logits, Tensor) or logits.ndim != 2:
                    raise ValueError(
                        "the model must return logits of shape (N, num_classes), got "
                        f"{getattr(logits, 'shape', type(logits).__name__)}"
                    )
                if first_logits is None:
                    first_logits = logits
                clean_pred[chunk] = predict(logits, "clean inputs")
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
            messages += _sanity_messages(model, x, y, threat, correct, first_logits, seed)

        stages: list[AttackStage] = []

        def record(run: StageRun) -> None:
            stage = AttackStage(
                attack=run.attack.name,
                black_box=not run.attack.uses_gradients,
                attacked=run.attacked,
                broken=run.broken,
                robust_accuracy=float(run.robust.float().mean()) if n else 0.0,
                time_s=run.time_s,
                forwards=run.forwards,
                backwards=run.backwards,
                forward_examples=run.forward_examples,
            )
            stages.append(stage)
            if on_stage is not None:
                on_stage(stage)

        loop = run_stages(
            model,
            x,
            y,
            attacks,
            robust=correct,
            x_adv=x,
            adv_pred=clean_pred,
            batch_size=batch_size,
            check_black_box=sanity_checks,
            on_stage=record,
            ids=ids,
        )
        messages += loop.warnings
        robust, x_adv = loop.robust, loop.x_adv
        adv_pred = clean_pred if loop.adv_pred is None else loop.adv_pred
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
