"""Text attacks and sanitization: ``aisec text-attack`` and ``aisec sanitize``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aisec.cli._common import app, check_out_dir, console, fail
from aisec.cli._execution import ExecutionOptions, with_execution_options

_DEFAULT_VICTIM = {"tweets": "tweets-minilm", "spam": "spam-nb"}


@app.command("text-attack")
@with_execution_options()
def text_attack(
    model: Annotated[
        str | None,
        typer.Option(
            help="tweets-bow, tweets-minilm, spam-nb, spam-tfidf, spam-minilm or hf:FOLDER (a "
            "saved HF classifier); default: tweets-minilm for tweets, spam-nb for spam"
        ),
    ] = None,
    recipe: Annotated[
        str,
        typer.Option(
            help="textfooler, pwws, deepwordbug, bad_characters; on spam also good-words, "
            "good-words-passive, contextual-insertion"
        ),
    ] = "textfooler",
    dataset: Annotated[
        str,
        typer.Option(
            help="tweets (test tweets, class-balanced) or spam (test spam: the goal is ham)"
        ),
    ] = "tweets",
    n: Annotated[int, typer.Option(help="test texts to attack")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the sample")] = 0,
    out: Annotated[Path | None, typer.Option(help="write metrics.json and examples here")] = None,
    search: Annotated[
        str,
        typer.Option(
            help="default (the recipe's), greedy, pwws, beam, or gradient (white-box: "
            "tweets-bow, tweets-minilm)"
        ),
    ] = "default",
    data: Annotated[
        str | None,
        typer.Option(
            help="your own texts: csv:FILE or jsonl:FILE with a text and a label column "
            "(labels: the victim's class names or indices); default: the dataset's test texts"
        ),
    ] = None,
    text_column: Annotated[str, typer.Option(help="the table's column of texts")] = "text",
    label_column: Annotated[str, typer.Option(help="the table's column of labels")] = "label",
    *,
    execution_options: ExecutionOptions,
) -> None:
    """Attack a text classifier on test tweets or spam (or your own texts); print the summary."""
    from aisec.experiments import text as experiment
    from aisec.report.console import print_rows
    from aisec.report.text import write_text_attack

    if n < 1:
        raise fail(ValueError(f"--n must be >= 1, got {n}"))
    if model is None:
        model = _DEFAULT_VICTIM.get(dataset, "tweets-minilm")
    try:
        plan = experiment.TextAttackPlan(
            model=model,
            recipe=recipe,
            dataset=dataset,
            n=n,
            seed=seed,
            search=search,
            data=data,
            text_column=text_column,
            label_column=label_column,
        )
        # the plan checks the recipe, search and model name before the encoder and model load
        out = check_out_dir(out)
        execution = execution_options.execution(out)
        outcome = experiment.run(plan, execution=execution)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    (row,) = outcome.rows()  # one row: shown as one line per column on a narrow terminal
    print_rows(
        console,
        [{"metric": key, "value": value} for key, value in row.items()],
        title=f"{recipe} against {model}"
        + ("" if plan.search == "default" else f" ({plan.search} search)"),
    )
    if out is not None:
        write_text_attack(outcome, out)
        console.print(f"wrote {out / 'metrics.json'} and {out / 'examples.html'}")


@app.command("sanitize")
def sanitize(
    text: Annotated[str, typer.Argument(help="the text to clean")],
    spelling: Annotated[bool, typer.Option(help="also correct misspelled words")] = False,
) -> None:
    """Clean a text of Unicode tricks (and optionally misspellings) and report what was found."""
    from aisec.defenses.text import Sanitizer
    from aisec.report.text import escape_invisible

    try:
        cleaned, findings = Sanitizer(spelling=spelling).clean(text)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    console.print(cleaned, markup=False, highlight=False)
    for finding in findings:
        console.print(f"[yellow]{finding.kind}[/] ({finding.count}): {finding.detail}")
    if findings:
        console.print(f"input as received: {escape_invisible(text)}", markup=False)
    else:
        console.print("[green]no findings[/]")
