"""The tutorial's notebooks: generated from the chapters, committed in sync, and they run.

Each chapter ``docs/NN-*.md`` is also ``notebooks/NN-*.ipynb`` (``tools/notebooks.py``, jupytext).
The tests regenerate every notebook and compare it with the committed one, and execute each in a
fresh ``python3`` kernel (nbclient) with the test cache, as ``make notebooks`` does; the blocks
use the docs' tiny sizes, so a chapter runs in well under two minutes.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType

import pytest

_TOOL = Path(__file__).resolve().parents[2] / "tools" / "notebooks.py"


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aisec_notebooks", _TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


notebooks = _tool()
CHAPTERS = notebooks.chapters()


def test_every_chapter_has_a_notebook_in_sync() -> None:
    assert len(CHAPTERS) >= 7
    assert notebooks.stale() == [], "run `make notebooks` and commit notebooks/"


def test_code_becomes_cells_and_no_run_blocks_are_skipped(tmp_path: Path) -> None:
    chapter = tmp_path / "09-sample.md"
    chapter.write_text(
        "# A chapter\n\nProse.\n\n```python\nx = 1\n```\n\n```text\nnot code\n```\n\n"
        "```python no-run\nimport network_only\n```\n"
    )
    notebook = notebooks.notebook_for(chapter)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.source for cell in code] == ["x = 1", "import network_only"]
    assert code[0].metadata.get("tags", []) == []
    assert code[1].metadata["tags"] == [notebooks.SKIP_TAG]
    prose = "".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "not code" in prose and "Prose." in prose


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda path: path.stem)
def test_chapter_notebook_runs(chapter: Path, tmp_path: Path) -> None:
    assert os.environ.get("AISEC_CACHE"), "tests/conftest.py sets the test cache"
    notebook = notebooks.notebook_for(chapter)
    notebooks.execute(notebook, tmp_path, timeout=300)  # raises CellExecutionError on failure
    ran = [c for c in notebook.cells if c.cell_type == "code" and c.get("execution_count")]
    skipped = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and notebooks.SKIP_TAG in c.metadata.get("tags", [])
    ]
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert len(ran) + len(skipped) == len(code)
    assert all(not c.get("execution_count") for c in skipped)
