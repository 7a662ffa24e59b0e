"""Digital evasion: ``aisec attack`` runs one attack, ``aisec evaluate`` the worst-case suite.

Both commands build a plan of :mod:`aisec.experiments.robustness` (checked before anything
loads: a bad option exits with code 2 and one line), run it, print its rows and, with
``--out``, write its JSON and the adversarial-example grid.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aisec.cli._common import app, check_out_dir, console, fail
from aisec.cli._execution import ExecutionOptions, with_execution_options
from aisec.cli._model import ModelOption, with_model_options

_ATTACK_LABELS = {
    "clean accuracy": "clean accuracy",
    "robust accuracy": "robust accuracy",
    "success rate": "success rate",
    "mean norm": "mean {norm} norm",
    "max norm": "max {norm} norm",
    "time (s)": "time (s)",
    "forwards": "model forward passes",
    "backwards": "model backward passes",
}


def _metric_rows(row: dict[str, Any], norm: str) -> list[dict[str, Any]]:
    """An attack's row as ``metric, value`` rows (a single run reads better vertically)."""
    return [
        {"metric": label.format(norm=norm), "value": row[key]}
        for key, label in _ATTACK_LABELS.items()
    ]


if TYPE_CHECKING:
    from aisec.experiments.targets import ModelOptions


@app.command("attack")
@with_execution_options()
@with_model_options()
def attack(
    model: ModelOption = "signs-cnn",
    attack_name: Annotated[
        str,
        typer.Option(
            "--attack",
            help=(
                "fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, square or cw; or an ART / Foolbox attack "
                "as art:CLASS (e.g. art:ProjectedGradientDescent, needs aisec[art]) or "
                "foolbox:CLASS (e.g. foolbox:LinfPGD, needs aisec[foolbox])"
            ),
        ),
    ] = "pgd",
    norm: Annotated[str, typer.Option(help="linf or l2")] = "linf",
    eps: Annotated[str, typer.Option(help="perturbation budget, e.g. 8/255")] = "8/255",
    n: Annotated[int, typer.Option(help="test examples to attack")] = 1000,
    steps: Annotated[
        int | None, typer.Option(help="iterations (Square: queries); default: the paper's")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="examples per attack call")] = 256,
    seed: Annotated[int, typer.Option(help="seed of the data sample and the attack")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="write attack.json and attack.png here (and resumable shards)"),
    ] = None,
    *,
    options: ModelOptions,
    execution_options: ExecutionOptions,
) -> None:
    """Attack a zoo model or your own on test images: accuracy, norms, time and model calls."""
    from aisec.experiments.evasion import AttackPlan, run_attack_plan
    from aisec.files import atomic_write_json
    from aisec.report.console import print_rows
    from aisec.report.grid import save_attack_grid
    from aisec.threat import parse_eps

    try:
        plan = AttackPlan(
            model=model,
            attack=attack_name,
            norm=norm,
            eps=parse_eps(eps),
            n=n,
            steps=steps,
            batch_size=batch_size,
            seed=seed,
            options=options,
        )
        out = check_out_dir(out)
        execution = execution_options.execution(out)
        console.print(f"{attack_name} on up to {n} {model} test images ...")
        run = run_attack_plan(plan, execution=execution)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    result = run.result
    threat = result.threat
    print_rows(
        console,
        _metric_rows(run.rows()[0], threat.norm),
        title=f"{result.attack} on {model}: {threat.norm} eps={threat.eps:.4g}",
    )
    if out is not None:
        atomic_write_json(out / "attack.json", run.to_dict())
        save_attack_grid(
            run.x,
            result.x_adv,
            result.y,
            result.clean_pred,
            result.adv_pred,
            out / "attack.png",
            class_names=run.class_names,
            title=f"{result.attack} on {model}, {threat.norm} eps={threat.eps:.4g}",
        )
        console.print(f"wrote {out / 'attack.json'} and {out / 'attack.png'}")


@app.command("evaluate")
@with_execution_options()
@with_model_options()
def evaluate(
    model: ModelOption = "signs-cnn",
    norm: Annotated[str, typer.Option(help="linf or l2")] = "linf",
    eps: Annotated[str, typer.Option(help="perturbation budget, e.g. 8/255")] = "8/255",
    n: Annotated[int, typer.Option(help="test examples to evaluate")] = 500,
    batch_size: Annotated[int, typer.Option(help="examples per attack call")] = 256,
    seed: Annotated[int, typer.Option(help="seed of the data sample and the attacks")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="write evaluation.json and evaluation.png here (and resumable shards)"),
    ] = None,
    *,
    options: ModelOptions,
    execution_options: ExecutionOptions,
) -> None:
    """Worst-case robust accuracy under APGD-CE, APGD-T and Square, with sanity checks."""
    from aisec.evaluate import AttackStage
    from aisec.experiments.evasion import SuitePlan, run_suite
    from aisec.files import atomic_write_json
    from aisec.report.console import print_rows
    from aisec.report.format import format_value
    from aisec.report.grid import save_attack_grid
    from aisec.threat import parse_eps

    def announce(stage: AttackStage) -> None:
        console.print(
            f"{stage.attack}: broke {stage.broken} of {stage.attacked} points in "
            f"{stage.time_s:.1f} s, accuracy now {stage.robust_accuracy:.2%}"
        )

    try:
        plan = SuitePlan(
            model=model,
            norm=norm,
            eps=parse_eps(eps),
            n=n,
            batch_size=batch_size,
            seed=seed,
            options=options,
        )
        out = check_out_dir(out)
        execution = execution_options.execution(out)
        run = run_suite(plan, on_stage=announce, execution=execution)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    report = run.report
    threat = report.threat
    print_rows(
        console,
        run.rows(),
        title=f"{model}: {threat.norm} eps={threat.eps:.4g}, {report.n} points",
    )
    console.print(
        f"worst-case robust accuracy [bold]{format_value(run.robust)}[/] "
        f"(clean {format_value(run.clean)}) in {report.time_s:.1f} s"
    )
    for message in report.warnings:
        console.print(f"[yellow]warning:[/] {message}")
    if out is not None:
        atomic_write_json(out / "evaluation.json", run.to_dict())
        save_attack_grid(
            run.x,
            report.x_adv,
            report.y,
            report.clean_pred,
            report.adv_pred,
            out / "evaluation.png",
            class_names=run.class_names,
            title=f"worst case on {model}, {threat.norm} eps={threat.eps:.4g}",
        )
        console.print(f"wrote {out / 'evaluation.json'} and {out / 'evaluation.png'}")
