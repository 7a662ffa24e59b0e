"""Tour chapter "evasion": digital evasion attacks and the worst-case robustness evaluation.

On the signs CNN (``digits-cnn`` in quick mode) it runs FGSM, PGD, APGD-CE and Square in L∞ and
PGD, APGD-CE and C&W in L2 over a few budgets, the :func:`~aisec.evaluate.evaluate_robustness`
default suite with its sanity checks at one budget, and a few PGD steps on EfficientNet-Lite0 and
the bundled ImageNet photos. Budgets are reduced from the published defaults (stated in each
row) so that the chapter stays within about two minutes on two cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from aisec.attacks import (
    APGD,
    FGSM,
    PGD,
    AttackResult,
    CarliniWagnerL2,
    EvasionAttack,
    SquareAttack,
)
from aisec.evaluate import RobustnessReport, evaluate_robustness, load_task, run_attack
from aisec.report.figures import save_figure
from aisec.report.grid import save_attack_grid
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table
from aisec.threat import ThreatModel

__all__ = ["run_evasion"]

KEY = "evasion"


@dataclass(frozen=True)
class _Plan:
    """Sizes of one run of the chapter (full or quick)."""

    model: str
    n: int
    linf_eps: tuple[float, ...]
    l2_eps: tuple[float, ...]
    suite_eps: float
    pgd_steps: int
    apgd_steps: int
    square_queries: int
    cw_search_steps: int
    cw_iterations: int
    imagenet_photos: int
    imagenet_eps: float
    imagenet_steps: int


_FULL = _Plan(
    model="signs-cnn",
    n=64,
    linf_eps=(1 / 255, 2 / 255, 4 / 255, 8 / 255),
    l2_eps=(0.1, 0.25, 0.5),
    suite_eps=4 / 255,
    pgd_steps=20,
    apgd_steps=50,
    square_queries=500,
    cw_search_steps=5,
    cw_iterations=50,
    imagenet_photos=7,
    imagenet_eps=1 / 255,
    imagenet_steps=5,
)
_QUICK = _Plan(
    model="digits-cnn",
    n=32,
    linf_eps=(8 / 255, 16 / 255, 32 / 255),
    l2_eps=(0.25, 0.5, 1.0),
    suite_eps=32 / 255,
    pgd_steps=10,
    apgd_steps=20,
    square_queries=200,
    cw_search_steps=4,
    cw_iterations=30,
    imagenet_photos=2,
    imagenet_eps=1 / 255,
    imagenet_steps=1,
)


def _eps_text(threat: ThreatModel) -> str:
    if threat.norm == "linf":
        return f"{threat.eps * 255:.3g}/255"
    return f"{threat.eps:.3g}"


def _row(result: AttackResult, config: str) -> dict[str, Any]:
    summary = result.summary()
    return {
        "attack": result.attack,
        "norm": result.threat.norm,
        "eps": _eps_text(result.threat),
        "config": config,
        "clean accuracy": summary["clean_accuracy"],
        "robust accuracy": summary["robust_accuracy"],
        "success rate": summary["success_rate"],
        "mean norm": summary["mean_norm"],
        "max norm": summary["max_norm"],
        "time (s)": round(summary["time_s"], 3),
        "forwards": summary["forwards"],
        "backwards": summary["backwards"],
    }


def _attacks(plan: _Plan, threat: ThreatModel, seed: int) -> list[tuple[EvasionAttack, str]]:
    """The attacks of the sweep for one threat model, with a short description of each."""
    attacks: list[tuple[EvasionAttack, str]] = []
    if threat.norm == "linf":
        attacks.append((FGSM(threat), "one step"))
    attacks.append((PGD(threat, steps=plan.pgd_steps, seed=seed), f"{plan.pgd_steps} steps"))
    attacks.append((APGD(threat, steps=plan.apgd_steps, seed=seed), f"{plan.apgd_steps} steps"))
    if threat.norm == "linf":
        square = SquareAttack(threat, n_queries=plan.square_queries, seed=seed)
        attacks.append((square, f"{plan.square_queries} queries"))
    return attacks


def _plot_curves(
    curves: dict[str, dict[str, list[tuple[float, float]]]],
    clean: float,
    path: Any,
    model: str,
) -> None:
    """Robust accuracy against eps, one panel per norm, one line per attack."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    figure = MplFigure(figsize=(10, 3.8))
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(curves), squeeze=False)[0]
    for axis, (norm, lines) in zip(axes, curves.items(), strict=True):
        scale = 255.0 if norm == "linf" else 1.0
        for name, points in lines.items():
            xs = [0.0] + [eps * scale for eps, _ in points]
            ys = [clean] + [acc for _, acc in points]
            style = "k--" if name.startswith("worst") else "-o"
            axis.plot(xs, ys, style, label=name, markersize=4)
        axis.set_xlabel("ε (×1/255)" if norm == "linf" else "ε (L2)")
        axis.set_ylabel("accuracy")
        axis.set_ylim(-0.02, 1.02)
        axis.set_title(f"{model}: {'L∞' if norm == 'linf' else 'L2'}")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    save_figure(figure, path, dpi=100)


def _cw_curve(result: AttackResult, eps_values: tuple[float, ...]) -> list[tuple[float, float]]:
    """Accuracy at each eps from C&W's unprojected minimum norms (one run gives the curve)."""
    correct = result.clean_pred == result.y
    norms = result.extras["cw_norms"]
    return [(eps, float((correct & (norms > eps)).float().mean())) for eps in eps_values]


def _imagenet(
    context: ChapterContext, plan: _Plan, result: ChapterResult
) -> tuple[AttackResult, Tensor, tuple[str, ...]]:
    from aisec.data import load as load_data
    from aisec.models import load as load_model

    photos = load_data("imagenet_samples", "test")
    x, y = photos.images[: plan.imagenet_photos], photos.labels[: plan.imagenet_photos]
    model: nn.Module = load_model("efficientnet-lite0")
    threat = ThreatModel("linf", plan.imagenet_eps)
    attack = PGD(threat, steps=plan.imagenet_steps, seed=context.seed)
    outcome = attack(model, x, y)
    with torch.no_grad():
        confidence = model(outcome.x_adv).softmax(dim=1).amax(dim=1)
    names = photos.class_names
    result.tables.append(
        Table(
            f"EfficientNet-Lite0 on the bundled photos under PGD (L∞ ε = "
            f"{_eps_text(threat)}, {plan.imagenet_steps} steps): the top-1 class before and "
            f"after the attack.",
            [
                {
                    "true class": names[int(t)],
                    "clean prediction": names[int(c)],
                    "adversarial prediction": names[int(a)],
                    "adversarial confidence": float(p),
                    "L∞ norm ×255": float(nrm) * 255,
                }
                for t, c, a, p, nrm in zip(
                    y, outcome.clean_pred, outcome.adv_pred, confidence, outcome.norms, strict=True
                )
            ],
        )
    )
    summary = outcome.summary()
    result.numbers["efficientnet-lite0.pgd"] = {
        "eps": threat.eps,
        "steps": plan.imagenet_steps,
        "photos": int(y.numel()),
        "clean_accuracy": summary["clean_accuracy"],
        "robust_accuracy": summary["robust_accuracy"],
        "time_s": summary["time_s"],
        "forwards": summary["forwards"],
        "backwards": summary["backwards"],
    }
    return outcome, x, names


def run_evasion(context: ChapterContext) -> ChapterResult:
    """Attack the signs CNN (digits in quick mode) and EfficientNet-Lite0; evaluate worst case."""
    plan = _QUICK if context.quick else _FULL
    seed = context.seed
    result = ChapterResult(
        summary=(
            f"Digital evasion attacks on {plan.model} ({plan.n} held-out test images): "
            "FGSM, PGD, APGD-CE and the black-box Square attack under L∞, PGD, APGD-CE and "
            "Carlini–Wagner under L2, at several budgets; then the worst case per example "
            "under evaluate_robustness's default suite (APGD-CE, APGD-T, Square with the "
            "published budgets), with its sanity checks; and a few PGD steps on "
            "EfficientNet-Lite0 and real photos. The model is undefended, so small budgets "
            "already break it."
        )
    )
    task = load_task(plan.model, n=plan.n, seed=seed)
    model, x, y = task.model, task.x, task.y

    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, list[tuple[float, float]]]] = {"linf": {}, "l2": {}}
    clean = 0.0
    grid_source: AttackResult | None = None
    sweep: dict[str, dict[str, float | None]] = {}
    for norm, eps_values in (("linf", plan.linf_eps), ("l2", plan.l2_eps)):
        for eps in eps_values:
            threat = ThreatModel(norm, eps)  # type: ignore[arg-type]
            for attack, config in _attacks(plan, threat, seed):
                outcome = run_attack(model, x, y, attack)
                rows.append(_row(outcome, config))
                accuracy = outcome.robust_accuracy or 0.0
                clean = outcome.clean_accuracy or 0.0
                curves[norm].setdefault(attack.name, []).append((eps, accuracy))
                sweep[f"{attack.name}.{norm}.{_eps_text(threat)}"] = {
                    "robust_accuracy": outcome.robust_accuracy,
                    "success_rate": outcome.success_rate,
                }
                if norm == "linf" and attack.name == "PGD" and eps == plan.suite_eps:
                    grid_source = outcome
        if norm == "l2":
            # C&W is minimum-norm: one run at the largest budget gives the whole curve.
            threat = ThreatModel("l2", max(eps_values))
            cw = CarliniWagnerL2(
                threat,
                binary_search_steps=plan.cw_search_steps,
                max_iterations=plan.cw_iterations,
            )
            outcome = run_attack(model, x, y, cw)
            config = f"{plan.cw_search_steps} × {plan.cw_iterations} iterations"
            rows.append(_row(outcome, config))
            curves["l2"]["C&W (min-norm)"] = _cw_curve(outcome, eps_values)
            found = torch.isfinite(outcome.extras["cw_norms"])
            result.numbers["cw.median_min_norm"] = (
                float(outcome.extras["cw_norms"][found].median()) if bool(found.any()) else None
            )
            for eps, accuracy in curves["l2"]["C&W (min-norm)"]:
                sweep[f"CW-L2.l2.{eps:.3g}"] = {"robust_accuracy": accuracy}
    result.numbers["clean_accuracy"] = clean
    result.numbers["sweep"] = sweep
    result.tables.append(
        Table(
            f"Attacks on {plan.model} ({plan.n} test images). Success rate: the fraction of "
            "correctly classified images that the attack flips. Norms are of x_adv − x; time "
            "and model calls (batched forward and backward passes) for the whole set. C&W runs "
            "once at the largest L2 budget (its solutions are projected onto that ball); its "
            "curve in the figure comes from its unprojected minimum norms.",
            rows,
        )
    )

    suite_threat = ThreatModel("linf", plan.suite_eps)
    report: RobustnessReport = evaluate_robustness(model, x, y, suite_threat, seed=seed, warn=False)
    curves["linf"]["worst case (suite)"] = [(plan.suite_eps, report.robust_accuracy)]
    result.tables.append(
        Table(
            f"evaluate_robustness's default suite on {plan.model} at L∞ ε = "
            f"{_eps_text(suite_threat)}: each attack runs only on the points every earlier "
            f"attack failed on; accuracy after is the worst case per example so far.",
            [{"attack": "clean", "attacked": report.n, "accuracy after": report.clean_accuracy}]
            + [
                {
                    "attack": stage.attack,
                    "black box": stage.black_box,
                    "attacked": stage.attacked,
                    "broken": stage.broken,
                    "accuracy after": stage.robust_accuracy,
                    "time (s)": round(stage.time_s, 3),
                    "forwards": stage.forwards,
                    "backwards": stage.backwards,
                }
                for stage in report.stages
            ],
        )
    )
    result.tables.append(
        Table(
            "Sanity warnings of the evaluation (an empty list: no sign of gradient masking, "
            "probability outputs or randomness).",
            [{"warning": message} for message in report.warnings] or [{"warning": "(none)"}],
        )
    )
    result.numbers["suite"] = report.to_dict()

    path, relative = context.figure_path(KEY, "robust-accuracy.png")
    _plot_curves(curves, clean, path, plan.model)
    result.figures.append(
        Figure(
            relative,
            "Robust accuracy against the budget ε (ε = 0 is the clean accuracy); the dashed "
            "point is the worst case under the default suite.",
        )
    )
    if grid_source is not None:
        path, relative = context.figure_path(KEY, "signs-grid.png")
        save_attack_grid(
            x,
            grid_source.x_adv,
            grid_source.y,
            grid_source.clean_pred,
            grid_source.adv_pred,
            path,
            class_names=task.class_names,
            title=f"PGD on {plan.model}, L∞ ε = {_eps_text(grid_source.threat)}",
        )
        result.figures.append(
            Figure(
                relative,
                "PGD adversarial examples: clean images, adversarial images (red: the "
                "prediction flipped) and the perturbation, amplified.",
            )
        )

    outcome, photos, names = _imagenet(context, plan, result)
    path, relative = context.figure_path(KEY, "imagenet-grid.png")
    save_attack_grid(
        photos,
        outcome.x_adv,
        outcome.y,
        outcome.clean_pred,
        outcome.adv_pred,
        path,
        class_names=names,
        title=f"PGD on EfficientNet-Lite0, L∞ ε = {_eps_text(outcome.threat)}",
    )
    result.figures.append(
        Figure(relative, "EfficientNet-Lite0: real photos and imperceptible PGD perturbations.")
    )
    return result
