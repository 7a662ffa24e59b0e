"""One attack, or the worst case under a suite, on a model (``aisec attack``, ``evaluate``).

The model is a zoo name or the user's own (a model source, with :class:`ModelOptions` and
``--data``; see :mod:`aisec.experiments.targets`).

- :func:`run_attack_plan` (:class:`AttackPlan`): one attack by name.
- :func:`run_suite` (:class:`SuitePlan`): the worst case per example under a suite of attacks
  (the default one: APGD-CE, APGD-T and Square, as AutoAttack).

Plans are checked when they are built (``ValueError``/``TypeError``), before any model or data
loads; results give their rows (rates as :class:`~aisec.stats.Rate`) and their JSON with
``to_dict()``, and keep the adversarial images for the figures.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from aisec.attacks import AttackResult, EvasionAttack
from aisec.evaluate import (
    AttackStage,
    RobustnessReport,
    default_suite,
    merge_robustness_reports,
    robustness_sanity_checks,
)
from aisec.experiments import names
from aisec.experiments.base import check_int, set_field
from aisec.experiments.evasion_shards import AttackTask, SuiteTask, attack_result_of, report_of
from aisec.experiments.robustness import attack_row
from aisec.experiments.sharded import Execution, ExecutionRecord, run_sharded
from aisec.experiments.targets import ModelOptions, check_attack_access, check_target, load_target
from aisec.stats import Rate
from aisec.threat import ThreatModel

__all__ = [
    "AttackPlan",
    "AttackRunResult",
    "SuitePlan",
    "SuiteResult",
    "run_attack_plan",
    "run_suite",
]


# --- one attack (aisec attack) ------------------------------------------------------------


@dataclass(frozen=True)
class AttackPlan:
    """One attack by name on a model's test data.

    Attributes:
        model: a zoo name or a model source (``onnx:m.onnx``, ...).
        attack: an attack name (see :data:`aisec.experiments.names.ATTACK_NAMES`), or
            ``art:CLASS`` / ``foolbox:CLASS``.
        norm: ``"linf"`` or ``"l2"`` (or ``"l1"`` where the attack supports it).
        eps: the budget (a number, or a string such as ``"8/255"``).
        n: test examples (fewer if the test split is smaller).
        steps: the attack's iterations (Square: queries; C&W: iterations per search step);
            ``None``: the paper's.
        batch_size: examples per attack call.
        seed: seed of the data sample and of the attack.
        options: what a model source needs, and other data to test on.
    """

    model: str = "signs-cnn"
    attack: str = "pgd"
    norm: str = "linf"
    eps: float = 8 / 255
    n: int = 1000
    steps: int | None = None
    batch_size: int = 256
    seed: int = 0
    options: ModelOptions = field(default_factory=ModelOptions)

    def __post_init__(self) -> None:
        set_field(self, "eps", self.threat.eps)  # the norm and eps, with ThreatModel's messages
        # An unknown model, a bad source or option, an L2 budget beyond the image's size.
        target = check_target(self.model, self.options, self.threat)
        check_int("n", self.n, 1)
        if self.steps is not None:
            check_int("steps", self.steps, 1)
        check_int("batch_size", self.batch_size, 1)
        check_int("seed", self.seed, 0)
        attack = self.build_attack()  # an unknown name, an unsupported norm or a missing extra
        check_attack_access(target, attack.uses_gradients, self.attack)

    @property
    def threat(self) -> ThreatModel:
        """The threat model ``(norm, eps)`` on inputs in ``[0, 1]``."""
        return ThreatModel(self.norm, self.eps)  # type: ignore[arg-type]

    def build_attack(self) -> EvasionAttack:
        """The configured attack (resolved by :func:`aisec.experiments.names.evasion_attack`)."""
        return names.evasion_attack(self.attack, self.threat, steps=self.steps, seed=self.seed)


@dataclass(frozen=True)
class AttackRunResult:
    """What :func:`run_attack_plan` measured.

    Attributes:
        plan: the plan that ran.
        attack_config: the attack's ``repr`` (its name and every setting).
        result: the outcome on every example (adversarial images included).
        x: ``(n, C, H, W)`` the clean images.
        class_names: the model's classes.
    """

    plan: AttackPlan
    attack_config: str
    result: AttackResult
    x: Tensor
    class_names: tuple[str, ...]
    execution: ExecutionRecord | None = None

    def rows(self) -> list[dict[str, Any]]:
        """One row (see :func:`attack_row`)."""
        return [attack_row(self.result)]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``aisec attack --out``: the outcome with per-example lists.

        Keys: ``model``, those of :meth:`~aisec.attacks.AttackResult.to_dict` with
        ``per_example=True`` (``attack`` is the attack's name), ``attack_config`` (its repr)
        and ``execution`` (the shards: :class:`~aisec.experiments.shards.ExecutionRecord`).
        """
        return {
            "model": self.plan.model,
            **self.result.to_dict(per_example=True),
            "attack_config": self.attack_config,
            "execution": None if self.execution is None else self.execution.to_dict(),
        }


def run_attack_plan(plan: AttackPlan, *, execution: Execution | None = None) -> AttackRunResult:
    """Load the model and its test data, and run the plan's attack over them in batches.

    Args:
        plan: the attack and its data (checked when the plan was built).
        execution: executor, shards and checkpoints (default: this process, one shard per
            batch, no checkpoints); the result does not depend on it.

    Returns:
        An :class:`AttackRunResult`.
    """
    attack = plan.build_attack()
    task = load_target(plan.model, plan.options, n=plan.n, seed=plan.seed)
    work = AttackTask(task.model, task.x, task.y, attack, plan.batch_size, plan)
    outputs, record = run_sharded(
        work, len(task.y), kind="attack", execution=execution, batch_size=plan.batch_size
    )
    if outputs:
        result = AttackResult.concatenate([attack_result_of(o, attack) for o in outputs])
    else:
        result = attack_result_of(work.run_shard(0, 0), attack)
    return AttackRunResult(plan, repr(attack), result, task.x, tuple(task.class_names), record)


# --- the worst case under a suite (aisec evaluate) ----------------------------------------


@dataclass(frozen=True)
class SuitePlan:
    """The worst-case robust accuracy of a model under a suite of attacks.

    Attributes:
        model: a zoo name or a model source (``onnx:m.onnx``, ...).
        norm: ``"linf"`` or ``"l2"``.
        eps: the budget (a number, or a string such as ``"8/255"``).
        n: test examples (fewer if the test split is smaller).
        attacks: attack names to run in order, each with its published defaults; empty: the
            default suite (:func:`~aisec.evaluate.default_suite`: APGD-CE, APGD-T and, for L∞,
            Square) with the budgets below.
        apgd_steps: the default suite's APGD iterations (100).
        n_target_classes: the default suite's APGD-T target classes (9).
        square_queries: the default suite's Square query budget (5,000, as AutoAttack).
        batch_size: examples per attack call.
        seed: seed of the data sample and of every attack.
        options: what a model source needs, and other data to test on.
    """

    model: str = "signs-cnn"
    norm: str = "linf"
    eps: float = 8 / 255
    n: int = 500
    attacks: tuple[str, ...] = ()
    apgd_steps: int = 100
    n_target_classes: int = 9
    square_queries: int = 5000
    batch_size: int = 256
    seed: int = 0
    options: ModelOptions = field(default_factory=ModelOptions)

    def __post_init__(self) -> None:
        set_field(self, "eps", self.threat.eps)  # the norm and eps, with ThreatModel's messages
        # An unknown model, a bad source or option, an L2 budget beyond the image's size.
        target = check_target(self.model, self.options, self.threat)
        check_int("n", self.n, 1)
        if isinstance(self.attacks, str) or not isinstance(self.attacks, Sequence):
            raise TypeError(f"attacks must be a sequence of attack names, got {self.attacks!r}")
        set_field(self, "attacks", tuple(names.check_evasion_attack(a) for a in self.attacks))
        for name in ("apgd_steps", "n_target_classes", "square_queries", "batch_size"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        # Unsupported norms and missing extras, up front; gradients for a black-box model.
        for attack in self.build_attacks(num_classes=10):
            check_attack_access(target, attack.uses_gradients, f"the suite's {attack.name}")

    @property
    def threat(self) -> ThreatModel:
        """The threat model ``(norm, eps)`` on inputs in ``[0, 1]``."""
        return ThreatModel(self.norm, self.eps)  # type: ignore[arg-type]

    def build_attacks(self, *, num_classes: int) -> list[EvasionAttack]:
        """The suite, in order, for a model with ``num_classes`` classes."""
        threat = self.threat
        if self.attacks:
            return [names.evasion_attack(a, threat, seed=self.seed) for a in self.attacks]
        return default_suite(
            threat,
            num_classes=num_classes,
            steps=self.apgd_steps,
            n_target_classes=self.n_target_classes,
            n_queries=self.square_queries,
            seed=self.seed,
        )


@dataclass(frozen=True)
class SuiteResult:
    """What :func:`run_suite` measured.

    Attributes:
        plan: the plan that ran.
        report: the suite's report (stages, worst case per example, sanity warnings, the
            adversarial example that broke each point).
        x: ``(n, C, H, W)`` the clean images.
        class_names: the model's classes.
    """

    plan: SuitePlan
    report: RobustnessReport
    x: Tensor
    class_names: tuple[str, ...]
    execution: ExecutionRecord | None = None

    @property
    def clean(self) -> Rate:
        """Clean accuracy with its count."""
        return self.report.clean_rate

    @property
    def robust(self) -> Rate:
        """Worst-case robust accuracy with its count."""
        return self.report.robust_rate

    def rows(self) -> list[dict[str, Any]]:
        """The suite's stages (see :meth:`~aisec.evaluate.RobustnessReport.rows`)."""
        return self.report.rows()

    def to_dict(self) -> dict[str, Any]:
        """``model``, the report with per-example robustness and predictions, and
        ``execution`` (the shards: :class:`~aisec.experiments.shards.ExecutionRecord`)."""
        return {
            "model": self.plan.model,
            **self.report.to_dict(per_example=True),
            "execution": None if self.execution is None else self.execution.to_dict(),
        }


def run_suite(
    plan: SuitePlan,
    *,
    on_stage: Callable[[AttackStage], None] | None = None,
    execution: Execution | None = None,
) -> SuiteResult:
    """Load the model and its test data and evaluate the worst case under the plan's suite.

    The sanity checks run once, here; the examples are evaluated in shards of whole batches
    by ``execution``'s executor (see :mod:`aisec.experiments.shards`) and the shards' reports
    merged, which gives what one :func:`~aisec.evaluate.evaluate_robustness` call over all
    the examples gives.

    Args:
        plan: the suite and its data (checked when the plan was built).
        on_stage: called with each merged :class:`~aisec.evaluate.AttackStage`, in order.
        execution: executor, shards and checkpoints (default: this process, one shard per
            batch, no checkpoints); the result does not depend on it.

    Returns:
        A :class:`SuiteResult`.
    """
    task = load_target(plan.model, plan.options, n=plan.n, seed=plan.seed)
    attacks = plan.build_attacks(num_classes=len(task.class_names))
    warnings = robustness_sanity_checks(task.model, task.x, task.y, plan.threat, seed=plan.seed)
    work = SuiteTask(
        task.model, task.x, task.y, plan.threat, attacks, plan.batch_size, plan.seed, plan
    )
    outputs, record = run_sharded(
        work, len(task.y), kind="suite", execution=execution, batch_size=plan.batch_size
    )
    if not outputs:
        outputs = [work.run_shard(0, 0)]
    report = merge_robustness_reports(
        [report_of(output, plan.threat) for output in outputs], warnings=warnings
    )
    if on_stage is not None:
        for stage in report.stages:
            on_stage(stage)
    return SuiteResult(plan, report, task.x, tuple(task.class_names), record)
