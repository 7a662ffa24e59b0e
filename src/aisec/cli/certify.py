"""``aisec certify``: randomized-smoothing certificates of a zoo model or your own."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aisec.cli._common import app, check_out_dir, console, fail
from aisec.cli._execution import ExecutionOptions, with_execution_options
from aisec.cli._model import with_model_options

if TYPE_CHECKING:
    from aisec.experiments.targets import ModelOptions


@app.command("certify")
@with_execution_options()
@with_model_options()
def certify(
    model: Annotated[
        str,
        typer.Option(
            help="the base classifier: a zoo model (the *-noise ones are trained for it) or "
            "your own (torchvision:, module:, torchscript:, hf:, keras:, onnx:, onnxrt:, with "
            "--data)"
        ),
    ] = "digits-cnn-noise",
    sigma: Annotated[float, typer.Option(help="noise standard deviation σ (inputs in [0, 1])")] = (
        0.25
    ),
    n: Annotated[int, typer.Option(help="noisy copies to estimate p_A (and for PREDICT)")] = 1000,
    n0: Annotated[int, typer.Option(help="noisy copies to select the class")] = 100,
    alpha: Annotated[float, typer.Option(help="error probability of each certificate")] = 0.001,
    points: Annotated[int, typer.Option(help="test points to certify")] = 100,
    batch_size: Annotated[int, typer.Option(help="noisy copies per forward pass")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the data sample and the noise")] = 0,
    predict: Annotated[bool, typer.Option(help="also run PREDICT with n copies")] = True,
    out: Annotated[
        Path | None,
        typer.Option(help="write metrics.json and certified_accuracy.png here (and shards)"),
    ] = None,
    *,
    options: ModelOptions,
    execution_options: ExecutionOptions,
) -> None:
    """Randomized smoothing (Cohen et al. 2019): certified accuracy against L2 radius.

    Each certificate holds with probability at least 1 - alpha: the smoothed classifier keeps
    its class within the certified L2 radius. metrics.json holds the settings, the certified
    accuracy per radius, the abstain rate, the smoothed classifier's clean accuracy and times.
    """
    from aisec.experiments.certify import CertifyPlan, run
    from aisec.report.certify import write_smoothing_outputs
    from aisec.report.console import print_rows

    try:
        plan = CertifyPlan(
            model=model,
            sigma=sigma,
            n_points=points,
            data_seed=seed,
            n0=n0,
            n=n,
            alpha=alpha,
            batch_size=batch_size,
            seed=seed,
            predict=predict,
            options=options,
        )
        out = check_out_dir(out)
        execution = execution_options.execution(out)
        console.print(f"certifying {points} points with {n0} + {n} noisy copies ...")
        result = run(plan, execution=execution)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    evaluation, curve = result.evaluation, result.curve
    print_rows(
        console,
        result.rows(),
        title=f"{model}, σ={sigma:g}: n0={n0}, n={n}, α={alpha:g}, {curve.n_points} points",
    )
    line = (
        f"smoothed clean accuracy {curve.clean_accuracy:.1%} (certify), abstained on "
        f"{curve.abstain_rate:.1%}; base model {evaluation.base_clean_accuracy:.1%} clean, "
        f"{evaluation.base_noisy_accuracy:.1%} under noise"
    )
    if evaluation.prediction is not None:
        line += (
            f"; PREDICT {evaluation.prediction.accuracy(evaluation.labels):.1%} correct, "
            f"{float(evaluation.prediction.abstained.double().mean()):.1%} abstained"
        )
    console.print(line + f"; {evaluation.time_s:.1f} s")
    if out is not None:
        paths = write_smoothing_outputs(evaluation, out)
        console.print(f"wrote {paths['metrics']} and {paths['figure']}")
