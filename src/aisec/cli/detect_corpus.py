"""``aisec detect-corpus``: the watermark test or the zero-shot detectors on every text of a
corpus, in shards (resumable with ``--out``; on Ray with ``--executor ray``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aisec.cli._common import app, check_out_dir, console, fail
from aisec.cli._execution import ExecutionOptions, with_execution_options


@app.command("detect-corpus")
@with_execution_options()
def detect_corpus(
    corpus: Annotated[
        str,
        typer.Argument(
            help="a folder of .txt files (one text each), or jsonl:FILE / csv:FILE with a text "
            "column"
        ),
    ],
    method: Annotated[
        str, typer.Option(help="watermark (the green-list z-test) or zero-shot")
    ] = "watermark",
    model: Annotated[
        str, typer.Option(help="the tokenizer's (watermark) or scoring (zero-shot) model")
    ] = "smollm2-135m-instruct",
    gamma: Annotated[float, typer.Option(help="green-list fraction (watermark)")] = 0.25,
    seeding: Annotated[str, typer.Option(help="simple_1, selfhash or unigram")] = "simple_1",
    key: Annotated[int, typer.Option(help="secret watermark key")] = 15485863,
    z_threshold: Annotated[float, typer.Option(help="verdict threshold (watermark)")] = 4.0,
    max_tokens: Annotated[int, typer.Option(help="longest scored prefix (zero-shot)")] = 256,
    text_column: Annotated[str, typer.Option(help="the table's column of texts")] = "text",
    out: Annotated[
        Path | None, typer.Option(help="write detections.json here (and resumable shards)")
    ] = None,
    *,
    execution_options: ExecutionOptions,
) -> None:
    """Score every text of a corpus: watermark z-scores and verdicts, or zero-shot scores."""
    from aisec.experiments.text_detection import CorpusDetectionPlan, run
    from aisec.files import atomic_write_json
    from aisec.report.format import format_value

    try:
        plan = CorpusDetectionPlan(
            corpus=corpus,
            method=method,
            model=model,
            gamma=gamma,
            seeding=seeding,
            key=key,
            z_threshold=z_threshold,
            max_tokens=max_tokens,
            text_column=text_column,
        )
        out = check_out_dir(out)
        execution = execution_options.execution(out)
        result = run(plan, execution=execution)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    scored = len(result.decided)
    console.print(f"{len(result.records)} texts, {scored} long enough to score")
    if method == "watermark":
        console.print(f"called watermarked (z > {z_threshold:g}): {format_value(result.flagged())}")
    if out is not None:
        atomic_write_json(out / "detections.json", result.to_dict())
        console.print(f"wrote {out / 'detections.json'}")
