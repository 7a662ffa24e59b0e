"""The ``aisec`` command line: thin wrappers that parse, call the library and print with rich."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="aisec",
    help="aisec: attack, defend and evaluate AI systems — offline, on a CPU.",
    no_args_is_help=True,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect the bundled and procedural datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()


def _fail(error: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {error}")
    return typer.Exit(code=2)


@data_app.command("list")
def data_list() -> None:
    """List the datasets and whether they work offline."""
    from aisec.data import list_datasets

    table = Table("dataset", "offline", "description")
    for info in list_datasets():
        table.add_row(info.name, "yes" if info.offline else "no (needs internet)", info.description)
    console.print(table)


@data_app.command("show")
def data_show(
    name: Annotated[str, typer.Argument(help="dataset name, e.g. signs")],
    out: Annotated[Path, typer.Option(help="PNG file to write")] = Path("dataset.png"),
    split: Annotated[str, typer.Option(help="train or test")] = "test",
    n: Annotated[int, typer.Option(help="images in the grid")] = 48,
    seed: Annotated[int, typer.Option(help="seed of the choice / generation")] = 0,
) -> None:
    """Write a labelled grid of a dataset's images to a PNG."""
    from aisec.data import dataset_info
    from aisec.data import load as load_data
    from aisec.report.figures import save_image_grid

    try:
        info = dataset_info(name)
        # For the procedural signs, generate just what is shown; fixed datasets are subsampled.
        dataset = load_data(name, split, n=n if name == "signs" else None, seed=seed)
        shown = dataset.subset(min(n, len(dataset)), seed=seed)
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    titles = [shown.class_names[int(c)] for c in shown.labels]
    path = save_image_grid(shown.images, out, titles=titles, suptitle=f"{info.name} ({split})")
    console.print(f"wrote {len(shown)} images of [bold]{name}[/] to {path}")


@app.command("models")
def models() -> None:
    """List the model zoo with the state of the cache."""
    from aisec.models import list_models

    table = Table("model", "dataset", "cached", "test accuracy", "description")
    for status in list_models():
        acc = "-" if status.test_accuracy is None else f"{status.test_accuracy:.2%}"
        table.add_row(
            status.name, status.dataset, "yes" if status.cached else "no", acc, status.description
        )
    console.print(table)


@app.command("train")
def train(
    name: Annotated[str, typer.Argument(help="zoo model, e.g. signs-cnn")],
) -> None:
    """Train a zoo model (resuming an interrupted run) and cache it."""
    from aisec.models import train as train_model

    try:
        _, metadata = train_model(name)
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    console.print(
        f"trained [bold]{name}[/] on {metadata['train_examples']} examples in "
        f"{metadata['train_seconds']:.1f} s: test accuracy {metadata['test_accuracy']:.2%}"
    )


@app.command("tour")
def tour(
    out: Annotated[Path, typer.Option(help="report directory")] = Path("report"),
    only: Annotated[list[str] | None, typer.Option(help="run only this chapter")] = None,
    quick: Annotated[bool, typer.Option(help="small sizes, for CI")] = False,
    seed: Annotated[int, typer.Option(help="seed for every chapter")] = 0,
) -> None:
    """Run the tutorial tour and write report/index.html and report/results.json."""
    from aisec.report.chapters import CHAPTERS
    from aisec.report.tour import run_tour

    def announce(key: str, record: dict[str, object]) -> None:
        mark = "[green]ok[/]" if record["status"] == "ok" else f"[red]failed[/] {record['error']}"
        console.print(f"chapter [bold]{key}[/]: {mark} ({record['seconds']} s)")

    try:
        result = run_tour(CHAPTERS, out, only=only, quick=quick, seed=seed, on_chapter=announce)
    except ValueError as error:
        raise _fail(error) from error
    console.print(f"report: {out / 'index.html'}  results: {out / 'results.json'}")
    if result.failed:
        raise typer.Exit(code=1)


def main() -> None:
    """Entry point of the ``aisec`` console script."""
    app()


if __name__ == "__main__":
    main()
