"""Every ```python block in the README and docs/ runs against the library as it is.

Each block runs in a fresh namespace (in this process, so imports are shared and the test cache
of ``AISEC_CACHE`` is used), with a temporary working directory. A block fenced ```python no-run
is skipped: keep those for examples that need the network or minutes of compute.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_FENCE = re.compile(r"^```python(?P<flags>[^\n]*)\n(?P<code>.*?)^```\s*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    """One fenced Python block: where it is, its code, and whether it is marked no-run."""

    path: Path
    line: int
    code: str
    run: bool

    @property
    def name(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def python_blocks(text: str, path: Path) -> list[Block]:
    """The ```python blocks of a Markdown text, in order."""
    return [
        Block(
            path=path,
            line=text.count("\n", 0, match.start()) + 1,
            code=match.group("code"),
            run="no-run" not in match.group("flags").split(),
        )
        for match in _FENCE.finditer(text)
    ]


BLOCKS = [block for path in FILES for block in python_blocks(path.read_text("utf-8"), path)]


def test_blocks_are_found_and_no_run_is_rare() -> None:
    sample = "x\n```python\nprint(1)\n```\n```python no-run\nimport net\n```\n```text\nno\n```\n"
    found = python_blocks(sample, ROOT / "x.md")
    assert [(b.line, b.code, b.run) for b in found] == [
        (2, "print(1)\n", True),
        (5, "import net\n", False),
    ]
    runnable = [block for block in BLOCKS if block.run]
    assert len(runnable) >= 8, "the README and docs should show runnable code"
    assert len(BLOCKS) - len(runnable) <= 4, "no-run is for online-only or very slow examples"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.run], ids=lambda b: b.name)
def test_docs_code_block_runs(
    block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert os.environ.get("AISEC_CACHE"), "tests/conftest.py sets the test cache"
    monkeypatch.chdir(tmp_path)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the blocks use tiny models: a second thread costs more than it saves
    try:
        exec(compile(block.code, block.name, "exec"), {"__name__": "__docs__"})
    finally:
        torch.set_num_threads(threads)
