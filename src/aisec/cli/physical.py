"""``aisec physical``: the printable-sticker scenario on the stop sign."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from aisec.cli._common import app, console, fail
from aisec.cli._model import with_model_options

if TYPE_CHECKING:
    from aisec.experiments.targets import ModelOptions


@app.command("physical")
@with_model_options(data=False)
def physical(
    source: Annotated[str, typer.Option(help="sign class the sticker goes on")] = "stop",
    target: Annotated[
        str, typer.Option(help="class the sign should be read as; 'none' for untargeted")
    ] = "speed limit 30",
    out: Annotated[Path, typer.Option(help="directory for the sticker, figures, metrics.json")] = (
        Path("physical")
    ),
    mask: Annotated[
        str, typer.Option(help="bars, thin-bars, rectangles, full, or a 256x256 PNG mask")
    ] = "bars",
    steps: Annotated[int, typer.Option(help="RP2 optimisation steps")] = 300,
    conditions: Annotated[int, typer.Option(help="held-out physical conditions")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the optimisation (held-out: seed + 1)")] = 0,
    patch: Annotated[bool, typer.Option(help="also train a universal patch on sign scenes")] = (
        True
    ),
    imagenet: Annotated[
        bool, typer.Option(help="also train a patch on EfficientNet-Lite0 (slow on a CPU)")
    ] = False,
    model: Annotated[
        str,
        typer.Option(
            help="the signs classifier: signs-cnn (or a variant of it), or your own model "
            "source (torchvision:, module:, torchscript:, hf:, keras:, onnx:) taking 3x32x32 "
            "scenes and giving logits over the sign classes in aisec's order"
        ),
    ] = "signs-cnn",
    *,
    options: ModelOptions,
) -> None:
    """RP2 stickers on a sign (stop -> speed limit 30), held-out evaluation, printable PNG."""
    from aisec.experiments.physical import PhysicalPlan, run
    from aisec.files import check_output_dir
    from aisec.report.console import print_rows
    from aisec.report.physical import unmet_targets, write_physical_outputs

    try:
        plan = PhysicalPlan(
            source=source,
            target=None if target.lower() == "none" else target,
            mask=mask,
            steps=steps,
            n_conditions=conditions,
            seed=seed,
            eval_seed=seed + 1,
            signs_patch=patch,
            imagenet_patch=imagenet,
            model=model,
            options=options,
        )
        folder = check_output_dir(out)
        with console.status("optimising the sticker and evaluating held-out conditions ..."):
            result = run(plan)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    paths = write_physical_outputs(result, folder)
    title = (
        f"{result.evaluation.n_conditions} held-out conditions, sticker "
        f"{result.sticker_area:.0%} of the sign"
    )
    print_rows(console, result.rows(), title=title)
    for line in unmet_targets(result.metrics()):
        console.print(f"[yellow]target not reached:[/] {line}")
    console.print(f"wrote {paths['sticker']} (printable) and {paths['metrics']}")
