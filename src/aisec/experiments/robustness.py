"""Digital evasion: attack a zoo model over a sweep of budgets, and evaluate its worst case.

:func:`run` (:class:`RobustnessPlan`) is the tour's evasion study. FGSM, PGD, APGD-CE and the
black-box Square attack under L∞, PGD, APGD-CE and Carlini–Wagner under L2, each over a few
budgets; the :func:`~aisec.evaluate.evaluate_robustness` default suite (APGD-CE, APGD-T,
Square) with its sanity checks at one budget; and a few PGD steps on EfficientNet-Lite0 and
the bundled ImageNet photos. The single attack and the suite of the command line are in
:mod:`aisec.experiments.evasion`; the table rows they share are here.

Every plan is checked when it is built (``ValueError``/``TypeError``), before any model or data
loads. Results keep the attack outcomes (adversarial images included) for the figures, give
their table rows with :class:`~aisec.stats.Rate` for every rate, and their JSON form with
``to_dict()``.

Reference:
    F. Croce, M. Hein, "Reliable evaluation of adversarial robustness with an ensemble of
    diverse parameter-free attacks", ICML 2020 (the suite and its worst case per example).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from aisec.attacks import (
    APGD,
    FGSM,
    PGD,
    AttackResult,
    CarliniWagnerL2,
    EvasionAttack,
    SquareAttack,
)
from aisec.evaluate import (
    RobustnessReport,
    evaluate_robustness,
    run_attack,
)
from aisec.experiments import names
from aisec.experiments.base import check_budget, check_budgets, check_int, set_field
from aisec.stats import Rate
from aisec.threat import ThreatModel
from aisec.zoo import model_spec

__all__ = [
    "ImagenetDemo",
    "RobustnessPlan",
    "RobustnessResult",
    "SweepRun",
    "attack_rates",
    "attack_row",
    "eps_text",
    "run",
]

IMAGENET_MODEL = "efficientnet-lite0"
"""The zoo model of the ImageNet demo."""


# --- plan checks --------------------------------------------------------------------------


# --- rows shared by the results -----------------------------------------------------------


def eps_text(threat: ThreatModel) -> str:
    """A budget for people: ``"8/255"`` for L∞ (in units of 1/255), ``"0.5"`` otherwise."""
    if threat.norm == "linf":
        return f"{threat.eps * 255:.3g}/255"
    return f"{threat.eps:.3g}"


def attack_rates(result: AttackResult) -> tuple[Rate, Rate, Rate]:
    """The clean accuracy, robust accuracy and success rate of an attack, with their counts.

    Args:
        result: the attack's outcome on ``N`` examples.

    Returns:
        ``(clean, robust, success)``: correct clean predictions of ``N``, correct predictions on
        ``x_adv`` of ``N``, and the success rate as :attr:`AttackResult.success_rate` defines it
        (of the targeted examples, or of the clean-correct ones for an untargeted attack).
    """
    correct = result.clean_pred == result.y
    clean = Rate(int(correct.sum()), result.n)
    robust = Rate(int((result.adv_pred == result.y).sum()), result.n)
    if result.targets is not None:
        success = Rate(int(result.success.sum()), result.n)
    else:
        success = Rate(int(result.success[correct].sum()), int(correct.sum()))
    return clean, robust, success


def attack_row(result: AttackResult, config: str | None = None) -> dict[str, Any]:
    """One table row for an attack's outcome: budget, rates, norms, time and model calls.

    Args:
        result: the attack's outcome.
        config: a short description of its budget (e.g. ``"20 steps"``), or ``None`` to leave
            the column out.

    Returns:
        A row with the keys ``attack, norm, eps, [config,] clean accuracy, robust accuracy,
        success rate, mean norm, max norm, time (s), forwards, backwards``.
    """
    summary = result.summary()
    clean, robust, success = attack_rates(result)
    row: dict[str, Any] = {
        "attack": result.attack,
        "norm": result.threat.norm,
        "eps": eps_text(result.threat),
    }
    if config is not None:
        row["config"] = config
    row.update(
        {
            "clean accuracy": clean,
            "robust accuracy": robust,
            "success rate": success,
            "mean norm": summary["mean_norm"],
            "max norm": summary["max_norm"],
            "time (s)": round(summary["time_s"], 3),
            "forwards": summary["forwards"],
            "backwards": summary["backwards"],
        }
    )
    return row


# --- the evasion study --------------------------------------------------------------------


@dataclass(frozen=True)
class RobustnessPlan:
    """Every size and setting of the evasion study (:func:`run`).

    Budgets are reduced from the published defaults so that the study runs in minutes on a CPU;
    the suite keeps its published budgets (APGD 100 steps, Square 5,000 queries).

    Attributes:
        model: the zoo model to attack.
        n: test examples (fewer if the test split is smaller).
        linf_eps: L∞ budgets of the sweep (numbers or strings such as ``"8/255"``).
        l2_eps: L2 budgets of the sweep; C&W runs once, at the largest.
        suite_eps: the L∞ budget of the worst-case suite (and of the PGD grid, if it is one of
            ``linf_eps``).
        pgd_steps: PGD iterations.
        apgd_steps: APGD-CE iterations.
        square_queries: Square's query budget.
        cw_search_steps: C&W's binary-search steps over its constant.
        cw_iterations: C&W's iterations per binary-search step.
        imagenet_photos: bundled photos attacked on EfficientNet-Lite0 (0: no ImageNet demo).
        imagenet_eps: the demo's L∞ budget.
        imagenet_steps: the demo's PGD iterations.
        seed: seed of the data sample and of every attack.
    """

    model: str = "signs-cnn"
    n: int = 64
    linf_eps: tuple[float, ...] = (1 / 255, 2 / 255, 4 / 255, 8 / 255)
    l2_eps: tuple[float, ...] = (0.1, 0.25, 0.5)
    suite_eps: float = 4 / 255
    pgd_steps: int = 20
    apgd_steps: int = 50
    square_queries: int = 500
    cw_search_steps: int = 5
    cw_iterations: int = 50
    imagenet_photos: int = 7
    imagenet_eps: float = 1 / 255
    imagenet_steps: int = 5
    seed: int = 0

    def __post_init__(self) -> None:
        model_spec(self.model)  # ValueError for an unknown model, before anything loads
        check_int("n", self.n, 1)
        set_field(self, "linf_eps", check_budgets("linf_eps", self.linf_eps))
        set_field(self, "l2_eps", check_budgets("l2_eps", self.l2_eps))
        if not self.linf_eps and not self.l2_eps:
            raise ValueError("a robustness plan needs at least one budget in linf_eps or l2_eps")
        set_field(self, "suite_eps", check_budget("suite_eps", self.suite_eps))
        set_field(self, "imagenet_eps", check_budget("imagenet_eps", self.imagenet_eps))
        for name in ("pgd_steps", "apgd_steps", "square_queries", "cw_search_steps"):
            check_int(name, getattr(self, name), 1)
        check_int("cw_iterations", self.cw_iterations, 1)
        check_int("imagenet_photos", self.imagenet_photos, 0)
        check_int("imagenet_steps", self.imagenet_steps, 1)
        check_int("seed", self.seed, 0)

    def sweep_attacks(self, threat: ThreatModel) -> list[tuple[EvasionAttack, str]]:
        """The sweep's attacks for one threat model (C&W aside), with a short budget text."""
        attacks: list[tuple[EvasionAttack, str]] = []
        if threat.norm == "linf":
            attacks.append((FGSM(threat), "one step"))
        pgd = PGD(threat, steps=self.pgd_steps, seed=self.seed)
        attacks.append((pgd, f"{self.pgd_steps} steps"))
        apgd = APGD(threat, steps=self.apgd_steps, seed=self.seed)
        attacks.append((apgd, f"{self.apgd_steps} steps"))
        if threat.norm == "linf":
            square = SquareAttack(threat, n_queries=self.square_queries, seed=self.seed)
            attacks.append((square, f"{self.square_queries} queries"))
        return attacks


@dataclass(frozen=True)
class SweepRun:
    """One attack of the sweep at one budget.

    Attributes:
        config: its budget in words (``"20 steps"``).
        result: its outcome on the study's examples.
    """

    config: str
    result: AttackResult

    @property
    def key(self) -> str:
        """``ATTACK.NORM.EPS`` (``"PGD.linf.8/255"``): its key in the study's ``sweep``."""
        threat = self.result.threat
        return f"{self.result.attack}.{threat.norm}.{eps_text(threat)}"


@dataclass(frozen=True)
class ImagenetDemo:
    """PGD on EfficientNet-Lite0 and the bundled ImageNet photos.

    Attributes:
        x: ``(P, 3, 224, 224)`` the photos.
        result: PGD's outcome.
        confidence: ``(P,)`` the softmax probability of the adversarial prediction.
        class_names: the ImageNet class names.
        steps: PGD's iterations.
    """

    x: Tensor
    result: AttackResult
    confidence: Tensor
    class_names: tuple[str, ...]
    steps: int

    def rows(self) -> list[dict[str, Any]]:
        """One row per photo: its class, the clean and adversarial top-1, the perturbation."""
        names = self.class_names
        outcome = self.result
        return [
            {
                "true class": names[int(t)],
                "clean prediction": names[int(c)],
                "adversarial prediction": names[int(a)],
                "adversarial confidence": float(p),
                "L∞ norm ×255": float(nrm) * 255,
            }
            for t, c, a, p, nrm in zip(
                outcome.y,
                outcome.clean_pred,
                outcome.adv_pred,
                self.confidence,
                outcome.norms,
                strict=True,
            )
        ]

    def to_dict(self) -> dict[str, Any]:
        """The demo's budget, accuracies, time and model calls."""
        summary = self.result.summary()
        return {
            "eps": self.result.threat.eps,
            "steps": self.steps,
            "photos": int(self.result.y.numel()),
            "clean_accuracy": summary["clean_accuracy"],
            "robust_accuracy": summary["robust_accuracy"],
            "time_s": summary["time_s"],
            "forwards": summary["forwards"],
            "backwards": summary["backwards"],
        }


@dataclass(frozen=True)
class RobustnessResult:
    """What :func:`run` measured, with the outcomes the figures draw.

    Attributes:
        plan: the plan that ran.
        x: ``(n, C, H, W)`` the attacked test images; ``y`` their labels.
        class_names: the model's classes.
        sweep: every attack of the sweep at every budget, in run order (L∞, then L2).
        cw: C&W's outcome at the largest L2 budget (``None`` without L2 budgets).
        cw_curve: ``(eps, accuracy)`` for each L2 budget, from C&W's unprojected minimum norms
            (a point is robust at ``eps`` if it is clean-correct and C&W needed more than
            ``eps``).
        suite: the worst-case suite's report at ``plan.suite_eps``.
        imagenet: the ImageNet demo (``None`` if ``plan.imagenet_photos`` is 0).
    """

    plan: RobustnessPlan
    x: Tensor
    y: Tensor
    class_names: tuple[str, ...]
    sweep: tuple[SweepRun, ...]
    cw: AttackResult | None
    cw_curve: tuple[tuple[float, float], ...]
    suite: RobustnessReport
    imagenet: ImagenetDemo | None

    @property
    def cw_config(self) -> str:
        """C&W's budget in words."""
        return f"{self.plan.cw_search_steps} × {self.plan.cw_iterations} iterations"

    @property
    def clean_accuracy(self) -> float:
        """The clean accuracy on the study's examples (0.0 if nothing ran)."""
        if not self.sweep:
            return 0.0
        return self.sweep[-1].result.clean_accuracy or 0.0

    @property
    def grid(self) -> AttackResult | None:
        """PGD's outcome under L∞ at the suite's budget (the adversarial-example grid), if run."""
        for run_ in self.sweep:
            threat = run_.result.threat
            linf_pgd = threat.norm == "linf" and run_.result.attack == "PGD"
            if linf_pgd and threat.eps == self.plan.suite_eps:
                return run_.result
        return None

    @property
    def cw_median_min_norm(self) -> float | None:
        """The median L2 norm of C&W's minimum-norm adversarial examples (``None``: none)."""
        if self.cw is None:
            return None
        norms = self.cw.extras["cw_norms"]
        found = torch.isfinite(norms)
        return float(norms[found].median()) if bool(found.any()) else None

    def curves(self) -> dict[str, dict[str, list[tuple[float, float]]]]:
        """Robust accuracy against eps: ``{norm: {attack: [(eps, accuracy), ...]}}``.

        L∞ ends with the suite's worst case (``"worst case (suite)"``), L2 with C&W's curve
        (``"C&W (min-norm)"``).
        """
        curves: dict[str, dict[str, list[tuple[float, float]]]] = {"linf": {}, "l2": {}}
        for run_ in self.sweep:
            outcome = run_.result
            accuracy = outcome.robust_accuracy or 0.0
            curves[outcome.threat.norm].setdefault(outcome.attack, []).append(
                (outcome.threat.eps, accuracy)
            )
        if self.cw is not None:
            curves["l2"]["C&W (min-norm)"] = list(self.cw_curve)
        curves["linf"]["worst case (suite)"] = [(self.plan.suite_eps, self.suite.robust_accuracy)]
        return curves

    def rows(self) -> list[dict[str, Any]]:
        """The sweep: one row per attack and budget (see :func:`attack_row`), C&W last."""
        rows = [attack_row(run_.result, run_.config) for run_ in self.sweep]
        if self.cw is not None:
            rows.append(attack_row(self.cw, self.cw_config))
        return rows

    def suite_rows(self) -> list[dict[str, Any]]:
        """The suite's stages (see :meth:`~aisec.evaluate.RobustnessReport.rows`)."""
        return self.suite.rows()

    def warning_rows(self) -> list[dict[str, Any]]:
        """The suite's sanity warnings, one row each (``"(none)"`` when there is none)."""
        return [{"warning": message} for message in self.suite.warnings] or [{"warning": "(none)"}]

    def to_dict(self) -> dict[str, Any]:
        """The study's numbers, JSON-friendly (the evasion chapter's ``numbers``).

        Keys, in run order: ``cw.median_min_norm`` (C&W's median minimum norm), ``clean_accuracy``,
        ``sweep`` (``"ATTACK.NORM.EPS"`` -> robust accuracy and success rate, C&W's curve last as
        ``"CW-L2.l2.EPS"`` -> robust accuracy), ``suite`` (the report's
        :meth:`~aisec.evaluate.RobustnessReport.to_dict`) and ``efficientnet-lite0.pgd`` (the
        ImageNet demo, when it ran).
        """
        out: dict[str, Any] = {}
        if self.cw is not None:
            out["cw.median_min_norm"] = self.cw_median_min_norm
        sweep: dict[str, dict[str, float | None]] = {}
        for run_ in self.sweep:
            sweep[run_.key] = {
                "robust_accuracy": run_.result.robust_accuracy,
                "success_rate": run_.result.success_rate,
            }
        for eps, accuracy in self.cw_curve:
            sweep[f"CW-L2.l2.{eps:.3g}"] = {"robust_accuracy": accuracy}
        out["clean_accuracy"] = self.clean_accuracy
        out["sweep"] = sweep
        out["suite"] = self.suite.to_dict()
        if self.imagenet is not None:
            out[f"{IMAGENET_MODEL}.pgd"] = self.imagenet.to_dict()
        return out


def _cw_curve(result: AttackResult, eps_values: Sequence[float]) -> tuple[tuple[float, float], ...]:
    """Accuracy at each eps from C&W's unprojected minimum norms (one run gives the curve)."""
    correct = result.clean_pred == result.y
    norms = result.extras["cw_norms"]
    return tuple((eps, float((correct & (norms > eps)).float().mean())) for eps in eps_values)


def _imagenet_demo(plan: RobustnessPlan) -> ImagenetDemo:
    """PGD on EfficientNet-Lite0 and the first ``plan.imagenet_photos`` bundled photos."""
    from aisec.data import load as load_data

    photos = load_data("imagenet_samples", "test")
    x, y = photos.images[: plan.imagenet_photos], photos.labels[: plan.imagenet_photos]
    model = names.zoo_model(IMAGENET_MODEL)
    attack = PGD(ThreatModel("linf", plan.imagenet_eps), steps=plan.imagenet_steps, seed=plan.seed)
    outcome = attack(model, x, y)
    with torch.no_grad():
        confidence = model(outcome.x_adv).softmax(dim=1).amax(dim=1)
    return ImagenetDemo(x, outcome, confidence, tuple(photos.class_names), plan.imagenet_steps)


def run(plan: RobustnessPlan) -> RobustnessResult:
    """Run the evasion study: the eps sweep, C&W, the worst-case suite, the ImageNet demo.

    Args:
        plan: the sizes and settings (checked when the plan was built).

    Returns:
        A :class:`RobustnessResult`; its ``rows()`` are the sweep's table, ``to_dict()`` its
        numbers.
    """
    task = names.load_task(plan.model, n=plan.n, seed=plan.seed)
    model, x, y = task.model, task.x, task.y

    sweep: list[SweepRun] = []
    cw: AttackResult | None = None
    cw_curve: tuple[tuple[float, float], ...] = ()
    for norm, eps_values in (("linf", plan.linf_eps), ("l2", plan.l2_eps)):
        for eps in eps_values:
            threat = ThreatModel(norm, eps)  # type: ignore[arg-type]
            for attack, config in plan.sweep_attacks(threat):
                sweep.append(SweepRun(config, run_attack(model, x, y, attack)))
        if norm == "l2" and eps_values:
            # C&W is minimum-norm: one run at the largest budget gives the whole curve.
            attack = CarliniWagnerL2(
                ThreatModel("l2", max(eps_values)),
                binary_search_steps=plan.cw_search_steps,
                max_iterations=plan.cw_iterations,
            )
            cw = run_attack(model, x, y, attack)
            cw_curve = _cw_curve(cw, eps_values)

    suite = evaluate_robustness(
        model, x, y, ThreatModel("linf", plan.suite_eps), seed=plan.seed, warn=False
    )
    imagenet = _imagenet_demo(plan) if plan.imagenet_photos else None
    return RobustnessResult(
        plan=plan,
        x=x,
        y=y,
        class_names=tuple(task.class_names),
        sweep=tuple(sweep),
        cw=cw,
        cw_curve=cw_curve,
        suite=suite,
        imagenet=imagenet,
    )
