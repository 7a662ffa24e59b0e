"""Every chapter of the tutorial as a Jupyter notebook, generated from its Markdown.

``python tools/notebooks.py`` writes ``notebooks/NN-name.ipynb`` for each chapter
``docs/NN-name.md`` with jupytext: the prose becomes Markdown cells and each ```python block a
code cell, in order. A block fenced ```python no-run (it needs the network or minutes of
compute) becomes a code cell tagged ``skip-execution``, which nbclient leaves alone. The
notebooks are committed without outputs, so that a reader of the repository can open them;
``--check`` fails when one differs from what its chapter generates.

``--execute DIR`` also runs each notebook headless (nbclient, a ``python3`` kernel of this
interpreter, working directory a fresh folder) and writes the executed copy to ``DIR``; a cell
that raises stops the run with the cell's traceback. ``make notebooks`` does both.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbformat import NotebookNode

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
NOTEBOOKS = ROOT / "notebooks"
SKIP_TAG = "skip-execution"
NO_RUN = "no-run"


def chapters() -> list[Path]:
    """The numbered chapters ``docs/NN-*.md``, in order."""
    return sorted(path for path in DOCS.glob("[0-9][0-9]-*.md"))


def notebook_for(chapter: Path) -> NotebookNode:
    """The notebook of one chapter: its prose and its code, the no-run blocks tagged."""
    notebook = jupytext.reads(chapter.read_text("utf-8"), fmt="md")
    source = chapter.resolve()
    origin = source.relative_to(ROOT).as_posix() if source.is_relative_to(ROOT) else source.name
    for index, cell in enumerate(notebook.cells):
        cell.id = f"cell-{index}"  # stable ids: the committed notebooks only change with the docs
        if cell.cell_type != "code":
            continue
        # jupytext keeps the words after ```python that are not key=value pairs as they are.
        if cell.metadata.get("incorrectly_encoded_metadata") == NO_RUN:
            del cell.metadata["incorrectly_encoded_metadata"]
            cell.metadata["tags"] = [*cell.metadata.get("tags", []), SKIP_TAG]
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "aisec": {"generated_from": origin},
    }
    nbformat.validate(notebook)
    return notebook


def render(notebook: NotebookNode) -> str:
    """The notebook as the JSON text committed under ``notebooks/``."""
    return nbformat.writes(notebook) + "\n"


def target(chapter: Path) -> Path:
    return NOTEBOOKS / f"{chapter.stem}.ipynb"


def execute(notebook: NotebookNode, workdir: Path, timeout: int = 600) -> NotebookNode:
    """Run ``notebook`` in a fresh kernel with ``workdir`` as working directory (in place)."""
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        skip_cells_with_tag=SKIP_TAG,
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    return notebook


def stale() -> list[Path]:
    """The notebooks that are missing or differ from what their chapters generate."""
    return [
        target(chapter)
        for chapter in chapters()
        if not target(chapter).exists()
        or target(chapter).read_text("utf-8") != render(notebook_for(chapter))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="notebooks", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument("--execute", type=Path, metavar="DIR", help="run them, write to DIR")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell (600)")
    args = parser.parse_args(argv)
    if args.check:
        behind = stale()
        for path in behind:
            print(f"{path.relative_to(ROOT)} is stale: run `make notebooks`", file=sys.stderr)
        return 1 if behind else 0
    NOTEBOOKS.mkdir(exist_ok=True)
    for chapter in chapters():
        text = render(notebook_for(chapter))
        path = target(chapter)
        if not path.exists() or path.read_text("utf-8") != text:
            tmp = path.with_suffix(".ipynb.tmp")
            tmp.write_text(text, "utf-8")
            tmp.replace(path)  # atomic: a reader never sees half a notebook
            print(f"wrote {path.relative_to(ROOT)}")
    if args.execute is not None:
        args.execute.mkdir(parents=True, exist_ok=True)
        for chapter in chapters():
            notebook = notebook_for(chapter)
            with tempfile.TemporaryDirectory() as workdir:
                execute(notebook, Path(workdir), args.timeout)
            out = args.execute / target(chapter).name
            nbformat.write(notebook, out)
            print(f"ran {chapter.relative_to(ROOT)} -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
