"""Inspect the bundled and procedural datasets: ``aisec data list`` and ``aisec data show``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from aisec.cli._common import app, check_out_file, console, fail

data_app = typer.Typer(help="Inspect the bundled and procedural datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("list")
def data_list() -> None:
    """List the datasets and whether they work offline."""
    from aisec.data import list_datasets

    table = Table("dataset", "offline", "description")
    table.columns[0].no_wrap = True
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
    from aisec.experiments.base import check_int
    from aisec.report.figures import save_image_grid

    try:
        info = dataset_info(name)
        if split not in ("train", "test"):
            raise ValueError(f"--split must be 'train' or 'test', got {split!r}")
        check_int("--n", n, 1)
        check_int("--seed", seed, 0)
        out = check_out_file(out)
        # For the procedural signs, generate just what is shown; fixed datasets are subsampled.
        dataset = load_data(name, split, n=n if name == "signs" else None, seed=seed)
        shown = dataset.subset(min(n, len(dataset)), seed=seed)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    titles = [shown.class_names[int(c)] for c in shown.labels]
    path = save_image_grid(shown.images, out, titles=titles, suptitle=f"{info.name} ({split})")
    console.print(f"wrote {len(shown)} images of [bold]{name}[/] to {path}")
