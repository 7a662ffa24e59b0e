"""Preprocessing defenses in front of one zoo model, attacked honestly (``aisec defend``).

Each row is the model behind one defense (or a ``+`` stack), with its clean accuracy, the
accuracy under a *non-adaptive* attack (PGD on the bare model, transferred through the defense)
and under the *adaptive* attacks (APGD-CE, APGD-T and Square through BPDA and EOT), worst case
per example (:func:`~aisec.evaluate.compare_defenses`). The plan is checked when it is built,
before anything loads.

Reference:
    A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of Security:
    Circumventing Defenses to Adversarial Examples", ICML 2018.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aisec.evaluate import DefenseCase, DefenseReport, DefenseTable, compare_defenses
from aisec.experiments import names
from aisec.experiments.base import check_int, check_names
from aisec.experiments.defenses import NO_DEFENSE
from aisec.experiments.targets import ModelOptions, check_attack_access, check_target, load_target
from aisec.threat import ThreatModel

__all__ = ["DefendPlan", "DefendResult", "run_defend"]


@dataclass(frozen=True)
class DefendPlan:
    """Preprocessing defenses in front of one model (``aisec defend``).

    Attributes:
        model: a zoo name or a model source (``onnx:m.onnx``, ...); the adaptive attacks need
            its gradients, so a black-box ``onnxrt:`` model is refused.
        defenses: one table row per spec, e.g. ``"jpeg:75"``; ``+`` stacks defenses
            (``"jpeg:75+bits:4"``). The bare model is always the first row.
        norm: ``"linf"`` or ``"l2"``.
        eps: the budget (a number or a string like ``"8/255"``).
        n: test points (seed ``seed``).
        steps: PGD (transfer) and APGD (adaptive) steps.
        eot_samples: random draws averaged per forward pass (EOT) for randomized defenses.
        square_queries: Square's query budget (0 leaves Square out).
        batch_size: examples per attack call.
        seed: the seed of the data sample, the defenses and the attacks.
        options: what a model source needs, and other data to test on.

    Raises:
        ValueError, TypeError: for an unknown model or defense, or bad sizes, when the plan is
            made.
    """

    model: str = "signs-cnn"
    defenses: tuple[str, ...] = ("jpeg:75", "blur:3:1.0", "median:3", "bits:4", "resize-pad:0.8")
    norm: str = "linf"
    eps: float | str = "8/255"
    n: int = 200
    steps: int = 100
    eot_samples: int = 8
    square_queries: int = 1000
    batch_size: int = 256
    seed: int = 0
    options: ModelOptions = field(default_factory=ModelOptions)

    def __post_init__(self) -> None:
        self.threat()
        for name in ("n", "steps", "eot_samples", "batch_size"):
            check_int(name, getattr(self, name), 1)
        check_int("square_queries", self.square_queries, 0)
        check_int("seed", self.seed, 0)
        for spec in check_names("defenses", self.defenses):
            names.preprocessing_stack(spec, seed=self.seed)
        target = check_target(self.model, self.options, self.threat())
        check_attack_access(target, True, "aisec defend (PGD and adaptive APGD)")

    def threat(self) -> ThreatModel:
        """The threat model of the plan's ``norm`` and ``eps``."""
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float, str)):
            raise TypeError(f"eps must be a number or a string like '8/255', got {self.eps!r}")
        return ThreatModel(self.norm, self.eps)  # type: ignore[arg-type]


@dataclass(frozen=True)
class DefendResult:
    """What :func:`run_defend` measured.

    Attributes:
        plan: the settings.
        table: one :class:`~aisec.evaluate.DefenseReport` per row, the bare model first.
    """

    plan: DefendPlan
    table: DefenseTable

    def rows(self) -> list[dict[str, Any]]:
        """Per defense: the gradient the adaptive attacks used and the clean, non-adaptive and
        adaptive accuracy as :class:`~aisec.stats.Rate` values."""
        return self.table.table_rows()

    def to_dict(self) -> dict[str, Any]:
        """``{"model", "threat", "n", "settings", "rows"}``: the model's name and
        :meth:`DefenseTable.to_dict <aisec.evaluate.DefenseTable.to_dict>` (``metrics.json``)."""
        return {"model": self.plan.model, **self.table.to_dict()}


def run_defend(
    plan: DefendPlan, *, on_row: Callable[[DefenseReport], None] | None = None
) -> DefendResult:
    """Evaluate each of the plan's defenses in front of its model: clean, non-adaptive, adaptive.

    Args:
        plan: the settings (checked when the plan was built).
        on_row: called with each finished row (progress).

    Returns:
        A :class:`DefendResult`.
    """
    if not isinstance(plan, DefendPlan):
        raise TypeError(f"plan must be a DefendPlan, got {type(plan).__name__}")
    stacks = [names.preprocessing_stack(spec, seed=plan.seed) for spec in plan.defenses]
    task = load_target(plan.model, plan.options, n=plan.n, seed=plan.seed)
    cases = [DefenseCase(NO_DEFENSE, task.model)]
    cases += [
        DefenseCase(spec, task.model, stack)
        for spec, stack in zip(plan.defenses, stacks, strict=True)
    ]
    table = compare_defenses(
        cases,
        task.x,
        task.y,
        plan.threat(),
        steps=plan.steps,
        eot_samples=plan.eot_samples,
        square_queries=plan.square_queries,
        batch_size=plan.batch_size,
        seed=plan.seed,
        on_row=on_row,
    )
    return DefendResult(plan=plan, table=table)
