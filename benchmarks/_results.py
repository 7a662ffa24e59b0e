"""What a benchmark records about the machine it ran on, and how it writes its results.

Every ``bench_<name>.py`` writes ``results/<name>.json`` (everything it measured, with
:func:`machine`'s description) and ``results/<name>.md`` (the table the docs quote), both
atomically, so an interrupted run never leaves half a file for ``make docs`` to include.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

from aisec.files import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parent / "results"


def machine(**extra: Any) -> dict[str, Any]:
    """Python, platform, processor, CPU count, torch version and threads, then ``extra``
    (e.g. the versions of the libraries a benchmark compares against)."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
    } | extra


def write_results(
    name: str, results: dict[str, Any], markdown: str | None, directory: Path = RESULTS
) -> None:
    """``directory/NAME.json`` and, unless ``markdown`` is ``None``, ``directory/NAME.md``."""
    directory.mkdir(parents=True, exist_ok=True)
    atomic_write_json(directory / f"{name}.json", results)
    if markdown is not None:
        atomic_write_text(directory / f"{name}.md", markdown)
