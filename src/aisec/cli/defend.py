"""``aisec defend``: preprocessing defenses under non-adaptive and adaptive attacks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aisec.cli._common import app, check_out_dir, console, fail
from aisec.cli._model import ModelOption, with_model_options

if TYPE_CHECKING:
    from aisec.experiments.targets import ModelOptions


@app.command("defend")
@with_model_options()
def defend(
    model: ModelOption = "signs-cnn",
    defense: Annotated[
        list[str] | None,
        typer.Option(
            help="a preprocessing defense per table row (repeatable): jpeg:75, blur:3:1.0, "
            "median:3, bits:4 or resize-pad:0.8; join with + to stack (jpeg:75+bits:4). "
            "Default: all five"
        ),
    ] = None,
    norm: Annotated[str, typer.Option(help="linf or l2")] = "linf",
    eps: Annotated[str, typer.Option(help="perturbation budget, e.g. 8/255")] = "8/255",
    n: Annotated[int, typer.Option(help="test examples to evaluate")] = 200,
    steps: Annotated[int, typer.Option(help="PGD (transfer) and APGD (adaptive) steps")] = 100,
    eot_samples: Annotated[
        int, typer.Option(help="random draws averaged per forward pass (EOT)")
    ] = 8,
    square_queries: Annotated[
        int, typer.Option(help="Square attack's query budget (0: no Square)")
    ] = 1000,
    batch_size: Annotated[int, typer.Option(help="examples per attack call")] = 256,
    seed: Annotated[int, typer.Option(help="seed of the data sample, defenses and attacks")] = 0,
    out: Annotated[Path | None, typer.Option(help="write metrics.json here")] = None,
    *,
    options: ModelOptions,
) -> None:
    """Preprocessing defenses evaluated honestly: clean, non-adaptive and adaptive accuracy.

    Non-adaptive: PGD on the bare model, examples fed through the defense (what naive
    evaluations report). Adaptive: APGD-CE, APGD-T and Square on the defended model, with BPDA
    for non-differentiable defenses and EOT for randomized ones; worst case per example (the
    transfer examples included), judged by the real defended model.

    metrics.json keys: "model"; "threat" (norm, eps, bounds); "n"; "settings" (steps,
    eot_samples, square_queries, seed, transfer_attack, adaptive_attacks); "rows", a list with one
    entry per defense, the bare model first as "no defense", each with "name", "defenses" (the
    specs), "differentiable", "randomized", "bpda", "eot_samples", "clean_accuracy",
    "undefended_clean_accuracy", "non_adaptive_accuracy", "adaptive_accuracy", "robust_accuracy"
    (equal to the adaptive one), "transfer_attack", "stages" (per adaptive attack: attack,
    attacked, broken, robust_accuracy, time_s), "naive_gradient_warnings", "warnings", "time_s".
    """
    from aisec.evaluate import DefenseReport
    from aisec.experiments.defend import DefendPlan, run_defend
    from aisec.report.console import print_rows

    def announce(report: DefenseReport) -> None:
        console.print(
            f"{report.name}: clean {report.clean_accuracy:.1%}, non-adaptive "
            f"{report.non_adaptive_accuracy:.1%}, adaptive {report.adaptive_accuracy:.1%} "
            f"({report.time_s:.1f} s)"
        )

    try:
        for name, value in (("--n", n), ("--steps", steps), ("--eot-samples", eot_samples)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if square_queries < 0:
            raise ValueError(f"--square-queries must be >= 0, got {square_queries}")
        if batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
        plan = DefendPlan(
            model=model,
            norm=norm,
            eps=eps,
            n=n,
            steps=steps,
            eot_samples=eot_samples,
            square_queries=square_queries,
            batch_size=batch_size,
            seed=seed,
            options=options,
            **({} if defense is None else {"defenses": tuple(defense)}),
        )
        out = check_out_dir(out)
        rows = len(plan.defenses) + 1
        with console.status(f"evaluating {rows} rows on {n} {model} images ..."):
            result = run_defend(plan, on_row=announce)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    threat = result.table.threat
    print_rows(
        console,
        result.rows(),
        title=f"{model}: {threat.norm} eps={threat.eps:.4g}, {result.table.n} points",
    )
    console.print(
        "[dim]robust accuracy is the adaptive column; the non-adaptive one is what an evaluation "
        "that ignores the defense would report.[/]"
    )
    if out is not None:
        from aisec.files import atomic_write_json

        atomic_write_json(out / "metrics.json", result.to_dict())
        console.print(f"wrote {out / 'metrics.json'}")
