"""``aisec tour``: run the tutorial's chapters and write the report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aisec.cli._common import app, console, fail


@app.command("tour")
def tour(
    out: Annotated[Path, typer.Option(help="report directory")] = Path("report"),
    only: Annotated[list[str] | None, typer.Option(help="run only this chapter")] = None,
    quick: Annotated[bool, typer.Option(help="small sizes, for CI")] = False,
    seed: Annotated[int, typer.Option(help="seed for every chapter")] = 0,
    fresh: Annotated[
        bool, typer.Option(help="run every chapter, even those whose stored results are current")
    ] = False,
) -> None:
    """Run the tutorial tour and write report/index.html and report/results.json.

    A chapter whose code, settings and versions have not changed since its last successful run
    reuses that run's results (marked as reused); --fresh runs everything again.
    """
    from aisec.experiments.base import check_int
    from aisec.files import check_output_dir
    from aisec.report.tutorial import check_chapters, run_tutorial

    def announce(key: str, record: dict[str, object]) -> None:
        mark = "[green]ok[/]" if record["status"] == "ok" else f"[red]failed[/] {record['error']}"
        if record.get("reused"):
            mark += f" (reused: unchanged since a run of {record['seconds']} s)"
        else:
            mark += f" ({record['seconds']} s)"
        console.print(f"chapter [bold]{key}[/]: {mark}")
        targets = record.get("targets")
        if isinstance(targets, dict):
            for line in targets.get("not_reached", []):
                console.print(f"  [yellow]target not reached:[/] {line}")

    try:
        check_int("--seed", seed, 0)
        check_chapters(only)
        out = check_output_dir(out)
        result = run_tutorial(
            out,
            only=only,
            quick=quick,
            seed=seed,
            on_chapter=announce,
            reuse=not fresh,
        )
    except ValueError as error:
        raise fail(error) from error
    console.print(f"report: {out / 'index.html'}  results: {out / 'results.json'}")
    if result.failed:
        raise typer.Exit(code=1)
