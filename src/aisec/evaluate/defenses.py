"""Honest evaluation of preprocessing defenses: non-adaptive versus adaptive attacks.

A preprocessing defense (JPEG, bit-depth reduction, median filtering, random resizing) often
looks strong when the attack ignores it: the attacker computes adversarial examples on the bare
model and the defense "washes them out" (*non-adaptive*, what many papers reported). An attacker
who knows the defense attacks the defended model itself (*adaptive*), through

* BPDA for non-differentiable steps: the exact defense forward, the identity backward;
* EOT for randomized steps: every forward pass averages the logits over ``k`` random draws.

:func:`evaluate_defense` reports both numbers. The adaptive robust accuracy is the per-example
worst case over the transfer examples and every adaptive attack, and every candidate is judged
by the *real* defended model (for a randomized defense, one fresh random draw — never the
averaged surrogate that guided the attack), so the adaptive number can only be lower than or
equal to the non-adaptive one. The adaptive attacks run in the stage loop of
:func:`~aisec.evaluate.evaluate_robustness` (each attack only on the points still robust), with
the defended model as the judge. :func:`compare_defenses` builds the table
``defense × {clean, non-adaptive, adaptive}`` for several models and defenses.

Reference:
    A. Athalye, N. Carlini, D. Wagner, "Obfuscated Gradients Give a False Sense of Security:
    Circumventing Defenses to Adversarial Examples", ICML 2018.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from aisec.attacks.base import AttackResult, EvasionAttack, predict, validate_inputs
from aisec.attacks.evasion import PGD
from aisec.checks import check_int
from aisec.defenses.preprocess import PreprocessedModel, Preprocessor
from aisec.evaluate._stages import StageRun, run_stages
from aisec.evaluate.robustness import default_suite, run_attack
from aisec.evaluate.sanity import check_gradients
from aisec.models.plumbing import eval_mode
from aisec.stats import Rate
from aisec.threat import ThreatModel

__all__ = [
    "DefenseCase",
    "DefenseReport",
    "DefenseStage",
    "DefenseTable",
    "ExpectationModel",
    "compare_defenses",
    "evaluate_defense",
]

_SANITY_POINTS = 32


class ExpectationModel(nn.Module):
    """Expectation over Transformation: logits averaged over ``samples`` forward passes.

    Each call evaluates the (randomized) model on ``samples`` copies of the batch in one batched
    pass and returns the mean logits, so the gradient an attack takes is the average over the
    random draws.

    Args:
        model: a randomized classifier ``(N, C, H, W)`` -> ``(N, K)``.
        samples: random draws per forward pass, ``>= 1``.

    Reference:
        A. Athalye, L. Engstrom, A. Ilyas, K. Kwok, "Synthesizing Robust Adversarial Examples",
        ICML 2018; Athalye, Carlini & Wagner, ICML 2018 (Section 4.3).
    """

    def __init__(self, model: nn.Module, samples: int) -> None:
        super().__init__()
        self.model = model
        self.samples = check_int("samples", samples, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Mean logits ``(N, K)`` over ``samples`` draws for images ``(N, C, H, W)``."""
        n = x.shape[0]
        repeated = x.repeat(self.samples, *([1] * (x.ndim - 1)))
        logits: Tensor = self.model(repeated)
        return logits.reshape(self.samples, n, -1).mean(dim=0)


@dataclass
class DefenseStage:
    """One adaptive attack against a defended model.

    Attributes:
        attack: the attack's name.
        attacked: points still robust before it.
        broken: of those, points whose adversarial example the real defended model misclassifies.
        robust_accuracy: the accuracy left after it (worst case over it and every earlier
            attack, including the transfer examples), over all points.
        time_s: seconds spent.
    """

    attack: str
    attacked: int
    broken: int
    robust_accuracy: float
    time_s: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict of the fields."""
        return dict(vars(self))


@dataclass
class DefenseReport:
    """The outcome of :func:`evaluate_defense`.

    Attributes:
        name: the row's name, e.g. ``"jpeg:75"`` or ``"no defense"``.
        defenses: the preprocessors' specs, in order (empty for the bare model).
        threat: the threat model.
        n: points evaluated.
        differentiable: whether every preprocessor is differentiable (else BPDA was used).
        randomized: whether a preprocessor is randomized (then EOT was used).
        eot_samples: draws per EOT forward pass (0 when the defense is deterministic).
        clean_accuracy: accuracy of the defended model on the clean points.
        undefended_clean_accuracy: accuracy of the bare model on the clean points.
        non_adaptive_accuracy: accuracy of the defended model on adversarial examples computed
            on the bare model (transfer; what a naive evaluation reports).
        adaptive_accuracy: per-example worst case over the transfer examples and the adaptive
            attacks (BPDA/EOT through the defense): the defense's robust accuracy.
        transfer_attack: the attack run on the bare model.
        stages: one :class:`DefenseStage` per adaptive attack, in order.
        naive_gradient_warnings: the gradient sanity check on the defended model as it is
            (without BPDA): what a naive white-box attacker runs into.
        warnings: sanity checks of the adaptive evaluation (should be empty): the gradient check
            on the attacker's model, and a black-box attack breaking points the gradient
            attacks could not.
        robust: ``(n,)`` bool, which points survived every attack.
        x_adv: ``(n, ...)`` for each broken point the example that broke it, else the input.
        time_s: total seconds.
    """

    name: str
    defenses: list[str]
    threat: ThreatModel
    n: int
    differentiable: bool
    randomized: bool
    eot_samples: int
    clean_accuracy: float
    undefended_clean_accuracy: float
    non_adaptive_accuracy: float
    adaptive_accuracy: float
    transfer_attack: str
    stages: list[DefenseStage]
    naive_gradient_warnings: list[str]
    warnings: list[str]
    robust: Tensor
    x_adv: Tensor
    time_s: float = 0.0

    @property
    def robust_accuracy(self) -> float:
        """The defense's robust accuracy: :attr:`adaptive_accuracy`."""
        return self.adaptive_accuracy

    @property
    def clean_rate(self) -> Rate:
        """:attr:`clean_accuracy` as correctly classified points of :attr:`n`."""
        return Rate.from_fraction(self.clean_accuracy, self.n)

    @property
    def non_adaptive_rate(self) -> Rate:
        """:attr:`non_adaptive_accuracy` as points of :attr:`n`."""
        return Rate.from_fraction(self.non_adaptive_accuracy, self.n)

    @property
    def adaptive_rate(self) -> Rate:
        """:attr:`adaptive_accuracy` as the robust points of :attr:`n`."""
        return Rate(int(self.robust.sum()), self.n)

    @property
    def gradient(self) -> str:
        """How the adaptive attacks got their gradient: ``"exact"`` or ``"BPDA"``, plus
        ``" + EOT×k"`` for a randomized defense."""
        kind = "exact" if self.differentiable else "BPDA"
        return f"{kind} + EOT×{self.eot_samples}" if self.randomized else kind

    def row(self) -> dict[str, Any]:
        """The report as one table row: ``defense``, ``gradient``, then the clean, non-adaptive
        and adaptive accuracy as :class:`~aisec.stats.Rate` values."""
        return {
            "defense": self.name,
            "gradient": self.gradient,
            "clean accuracy": self.clean_rate,
            "non-adaptive (transferred PGD)": self.non_adaptive_rate,
            "adaptive (worst case)": self.adaptive_rate,
        }

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (no tensors); ``robust_accuracy`` equals ``adaptive_accuracy``."""
        return {
            "name": self.name,
            "defenses": list(self.defenses),
            "threat": self.threat.to_dict(),
            "n": self.n,
            "differentiable": self.differentiable,
            "randomized": self.randomized,
            "bpda": not self.differentiable,
            "eot_samples": self.eot_samples,
            "clean_accuracy": self.clean_accuracy,
            "undefended_clean_accuracy": self.undefended_clean_accuracy,
            "non_adaptive_accuracy": self.non_adaptive_accuracy,
            "adaptive_accuracy": self.adaptive_accuracy,
            "robust_accuracy": self.adaptive_accuracy,
            "transfer_attack": self.transfer_attack,
            "stages": [stage.to_dict() for stage in self.stages],
            "naive_gradient_warnings": list(self.naive_gradient_warnings),
            "warnings": list(self.warnings),
            "time_s": self.time_s,
        }


@dataclass(frozen=True)
class DefenseCase:
    """One row of :func:`compare_defenses`: a model and the preprocessors in front of it.

    Attributes:
        name: the row's label, e.g. ``"AT + jpeg:75"``.
        model: the classifier (logits out).
        preprocessors: the defenses, applied in order (empty: the bare model).
    """

    name: str
    model: nn.Module
    preprocessors: tuple[Preprocessor, ...] = ()


@dataclass
class DefenseTable:
    """The table of :func:`compare_defenses`: one :class:`DefenseReport` per row.

    Attributes:
        threat: the threat model.
        n: points evaluated per row.
        settings: the evaluation's settings (steps, EOT samples, Square queries, seed, attacks).
        rows: the reports, in the order given.
    """

    threat: ThreatModel
    n: int
    settings: dict[str, Any]
    rows: list[DefenseReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """``{"threat", "n", "settings", "rows": [DefenseReport.to_dict(), ...]}``."""
        return {
            "threat": self.threat.to_dict(),
            "n": self.n,
            "settings": dict(self.settings),
            "rows": [row.to_dict() for row in self.rows],
        }

    def to_json(self, indent: int = 2) -> str:
        """:meth:`to_dict` as a JSON string."""
        return json.dumps(self.to_dict(), indent=indent)

    def table_rows(self) -> list[dict[str, Any]]:
        """One :meth:`DefenseReport.row` per report, in order (rates as
        :class:`~aisec.stats.Rate`); named so because :attr:`rows` holds the reports."""
        return [report.row() for report in self.rows]


def _check_transfer(examples: object, x: Tensor, threat: ThreatModel) -> Tensor:
    if not isinstance(examples, Tensor) or examples.shape != x.shape:
        raise ValueError(
            f"transfer_examples must be a tensor of x's shape {tuple(x.shape)}, got "
            f"{getattr(examples, 'shape', type(examples).__name__)}"
        )
    examples = examples.detach().to(device=x.device, dtype=x.dtype)
    if not bool(threat.contains(examples, x).all()):
        raise ValueError("transfer_examples must lie inside the threat model around x")
    return examples


def _predict(model: nn.Module, x: Tensor, batch_size: int) -> Tensor:
    """Predictions ``(N,)`` of ``model`` (as it is: randomized models draw afresh).

    Raises:
        NonFiniteOutputError: if the model returns NaN or infinite logits.
    """
    out = torch.empty(x.shape[0], dtype=torch.long, device=x.device)
    with torch.no_grad():
        for start in range(0, x.shape[0], batch_size):
            logits = model(x[start : start + batch_size])
            out[start : start + batch_size] = predict(logits, "inputs of the judged model")
    return out


def _accuracy(mask: Tensor) -> float:
    return float(mask.double().mean()) if mask.numel() else 0.0


def evaluate_defense(
    model: nn.Module,
    preprocessors: Sequence[Preprocessor],
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    name: str | None = None,
    attacks: Sequence[EvasionAttack] | None = None,
    transfer_attack: EvasionAttack | None = None,
    transfer_examples: Tensor | None = None,
    steps: int = 100,
    eot_samples: int = 8,
    square_queries: int = 5000,
    batch_size: int = 256,
    seed: int = 0,
    on_stage: Callable[[DefenseStage], None] | None = None,
) -> DefenseReport:
    """Clean, non-adaptive and adaptive robust accuracy of a model behind preprocessing defenses.

    1. *Clean*: the defended model's accuracy on ``x``.
    2. *Non-adaptive*: ``transfer_attack`` (PGD) runs on the bare ``model``; its examples are fed
       to the defended model.
    3. *Adaptive*: each attack of ``attacks`` runs on the defended model with BPDA for the
       non-differentiable preprocessors and, if one is randomized, EOT over ``eot_samples``
       draws; only points still robust are attacked. A point is robust only if the real
       defended model classifies it and every candidate (transfer and adaptive) correctly.

    Args:
        model: the classifier (logits out), without the defenses.
        preprocessors: the defenses, applied in order (empty: evaluate the bare model).
        x: ``(N, C, H, W)`` inputs inside ``threat.bounds``.
        y: ``(N,)`` labels.
        threat: the threat model.
        name: the report's name (default: the specs joined with ``" + "``, or
            ``"no defense"``).
        attacks: the adaptive attacks (default: :func:`~aisec.evaluate.default_suite` — APGD-CE,
            APGD-T and, for L∞, Square — with ``steps`` and ``square_queries``).
        transfer_attack: the non-adaptive attack on the bare model (default: PGD with
            ``steps`` iterations).
        transfer_examples: ``(N, C, H, W)`` the transfer attack's examples on the bare model,
            if already computed (e.g. for several defenses in front of one model); they must
            satisfy the threat model.
        steps: iterations of the default attacks.
        eot_samples: random draws averaged per forward pass for a randomized defense.
        square_queries: Square's query budget in the default suite (0 leaves Square out).
        batch_size: examples per attack call.
        seed: seed of the default attacks.
        on_stage: called with each :class:`DefenseStage` as it finishes (progress).

    Returns:
        A :class:`DefenseReport`.

    Raises:
        TypeError / ValueError: for invalid inputs, or attacks under another threat model.
    """
    start = time.perf_counter()
    if not isinstance(threat, ThreatModel):
        raise TypeError(f"threat must be a ThreatModel, got {type(threat).__name__}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(preprocessors, Preprocessor):
        preprocessors = [preprocessors]
    defended = PreprocessedModel(model, *preprocessors)  # TypeError for a wrong preprocessor
    steps = check_int("steps", steps, 1)
    eot_samples = check_int("eot_samples", eot_samples, 1)
    square_queries = check_int("square_queries", square_queries, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    x, y, _ = validate_inputs(x, y, None, threat, min_ndim=4)
    if transfer_attack is None:
        transfer_attack = PGD(threat, steps=steps, seed=seed)
    specs = defended.specs()
    label = name if name is not None else (" + ".join(specs) if specs else "no defense")

    adaptive: nn.Module = defended.with_bpda()
    if defended.randomized:
        adaptive = ExpectationModel(adaptive, eot_samples)
    n = x.shape[0]
    with eval_mode(defended):
        clean_pred = _predict(defended, x, batch_size)
        num_classes = int(defended(x[:1]).shape[1]) if n else 2
        if attacks is None:
            attacks = default_suite(
                threat, num_classes=num_classes, steps=steps, n_queries=max(square_queries, 1)
            )
            if square_queries == 0:
                attacks = [a for a in attacks if a.uses_gradients]
        for attack in [transfer_attack, *attacks]:
            if not isinstance(attack, EvasionAttack):
                raise TypeError(f"attacks must be EvasionAttacks, got {type(attack).__name__}")
            if attack.threat != threat:
                raise ValueError(
                    f"{attack.name} runs under {attack.threat}, but the evaluation is for {threat}"
                )
        correct = clean_pred == y
        bare_correct = _predict(model, x, batch_size) == y if specs else correct

        # Sanity: what a naive attacker sees, and what the adaptive attacker sees.
        probe = correct.nonzero().squeeze(1)[:_SANITY_POINTS]
        naive_warnings = check_gradients(defended, x[probe], y[probe]) if specs else []
        warnings = check_gradients(adaptive, x[probe], y[probe])

        # Non-adaptive: attack the bare model, feed the examples to the defended one.
        if transfer_examples is not None:
            transfer = _check_transfer(transfer_examples, x, threat)
        elif n:
            transfer = run_attack(model, x, y, transfer_attack, batch_size=batch_size).x_adv
        else:
            transfer = x.clone()
        robust = correct & (_predict(defended, transfer, batch_size) == y)
        non_adaptive = _accuracy(robust)
        x_adv = torch.where((correct & ~robust).reshape(-1, *[1] * (x.ndim - 1)), transfer, x)

        stages: list[DefenseStage] = []

        def judge(result: AttackResult, y_attacked: Tensor) -> tuple[Tensor, Tensor]:
            # The real defended model (a fresh draw if randomized), not the attacked surrogate.
            predictions = _predict(defended, result.x_adv, batch_size)
            return predictions != y_attacked, predictions

        def record(run: StageRun) -> None:
            stage = DefenseStage(
                attack=run.attack.name,
                attacked=run.attacked,
                broken=run.broken,
                robust_accuracy=_accuracy(run.robust),
                time_s=run.time_s,
            )
            stages.append(stage)
            if on_stage is not None:
                on_stage(stage)

        loop = run_stages(
            adaptive,
            x,
            y,
            attacks,
            robust=robust,
            x_adv=x_adv,
            batch_size=batch_size,
            judge=judge,
            on_stage=record,
        )
        robust, x_adv = loop.robust, loop.x_adv
        warnings += loop.warnings
    return DefenseReport(
        name=label,
        defenses=specs,
        threat=threat,
        n=n,
        differentiable=defended.differentiable,
        randomized=defended.randomized,
        eot_samples=eot_samples if defended.randomized else 0,
        clean_accuracy=_accuracy(correct),
        undefended_clean_accuracy=_accuracy(bare_correct),
        non_adaptive_accuracy=non_adaptive,
        adaptive_accuracy=_accuracy(robust),
        transfer_attack=repr(transfer_attack),
        stages=stages,
        naive_gradient_warnings=naive_warnings,
        warnings=warnings,
        robust=robust,
        x_adv=x_adv,
        time_s=time.perf_counter() - start,
    )


def compare_defenses(
    cases: Sequence[DefenseCase | tuple[str, nn.Module, Sequence[Preprocessor]]],
    x: Tensor,
    y: Tensor,
    threat: ThreatModel,
    *,
    steps: int = 100,
    eot_samples: int = 8,
    square_queries: int = 5000,
    batch_size: int = 256,
    seed: int = 0,
    on_row: Callable[[DefenseReport], None] | None = None,
    on_stage: Callable[[DefenseStage], None] | None = None,
) -> DefenseTable:
    """The table defense × {clean, non-adaptive, adaptive} on the same points.

    Each case is evaluated with :func:`evaluate_defense` and the default attacks, so rows such
    as "no defense", "jpeg:75", "adversarial training" and "AT + jpeg:75" are comparable.

    Args:
        cases: :class:`DefenseCase` values or ``(name, model, preprocessors)`` tuples.
        x: ``(N, C, H, W)`` inputs inside ``threat.bounds``.
        y: ``(N,)`` labels.
        threat: the threat model.
        steps: iterations of PGD (transfer) and APGD (adaptive).
        eot_samples: random draws per forward pass for randomized defenses.
        square_queries: Square's query budget (0 leaves it out).
        batch_size: examples per attack call.
        seed: seed of the attacks.
        on_row: called with each finished row (progress).
        on_stage: called with each finished attack (progress).

    Returns:
        A :class:`DefenseTable`.

    Raises:
        TypeError / ValueError: for malformed cases or invalid inputs.
    """
    if isinstance(cases, (str, bytes)) or not isinstance(cases, Sequence):
        raise TypeError("cases must be a sequence of DefenseCase or (name, model, preprocessors)")
    rows: list[DefenseCase] = []
    for case in cases:
        if isinstance(case, tuple) and len(case) == 3:
            case = DefenseCase(case[0], case[1], tuple(case[2]))
        if not isinstance(case, DefenseCase):
            raise TypeError(
                "each case must be a DefenseCase or a (name, model, preprocessors) tuple, got "
                f"{type(case).__name__}"
            )
        rows.append(case)
    table = DefenseTable(
        threat=threat,
        n=int(x.shape[0]) if isinstance(x, Tensor) and x.ndim else 0,
        settings={
            "steps": steps,
            "eot_samples": eot_samples,
            "square_queries": square_queries,
            "seed": seed,
            "transfer_attack": f"PGD ({steps} steps) on the bare model",
            "adaptive_attacks": [
                attack.name
                for attack in default_suite(threat, steps=steps, n_queries=max(square_queries, 1))
                if attack.uses_gradients or square_queries
            ],
        },
    )
    # The transfer attack depends only on the bare model: run it once per model.
    transfers: dict[int, Tensor] = {}
    for case in rows:
        key = id(case.model)
        if key not in transfers and isinstance(x, Tensor) and x.ndim and x.shape[0]:
            x_ok, y_ok, _ = validate_inputs(x, y, None, threat, min_ndim=4)
            attack = PGD(threat, steps=steps, seed=seed)
            with eval_mode(case.model):
                transfers[key] = run_attack(
                    case.model, x_ok, y_ok, attack, batch_size=batch_size
                ).x_adv
        report = evaluate_defense(
            case.model,
            list(case.preprocessors),
            x,
            y,
            threat,
            name=case.name,
            transfer_examples=transfers.get(key),
            steps=steps,
            eot_samples=eot_samples,
            square_queries=square_queries,
            batch_size=batch_size,
            seed=seed,
            on_stage=on_stage,
        )
        table.rows.append(report)
        if on_row is not None:
            on_row(report)
    return table
