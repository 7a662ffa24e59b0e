"""The tour: run every chapter, collect its numbers and figures, write JSON and HTML.

A chapter is a function ``run(context) -> ChapterResult``. The tour runs each chapter in turn;
a chapter that raises is recorded as failed (with its error) in the page and the JSON, and the
others still run. ``results.json`` holds every number the report shows, with provenance. With
``reuse=True`` (the CLI's default) a chapter whose code, settings and versions are unchanged since
its last successful run is not run again: its stored record and figures are used, marked
``"reused": true`` (see :mod:`aisec.report.reuse`); with a read-only aisec cache the tour runs
every chapter and says why in one warning, instead of failing.
"""

from __future__ import annotations

import json
import os
import platform
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

import aisec
from aisec.files import atomic_write_text
from aisec.report.format import json_rows, json_value
from aisec.report.reuse import (
    chapter_fingerprint,
    load_chapter,
    reuse_unavailable,
    store_chapter,
)

__all__ = [
    "Chapter",
    "ChapterContext",
    "ChapterResult",
    "Figure",
    "Table",
    "TourResult",
    "chapter_record",
    "run_tour",
]


@dataclass(frozen=True)
class Figure:
    """A PNG written by a chapter, relative to the report directory."""

    path: str
    caption: str


@dataclass(frozen=True)
class Table:
    """A table of rows (dicts with the same keys) with a caption."""

    caption: str
    rows: list[dict[str, Any]]


@dataclass
class ChapterResult:
    """What a chapter produced: prose, numbers, tables, figures and its targets.

    ``targets_checked`` counts the targets (from the chapter's issues) that this run measured;
    ``targets_not_reached`` has one plain-language line per target it missed, with the measured
    value. Both go into ``results.json`` under ``targets`` (``checked``, ``not_reached``), where
    the chapter's doc quotes the missed ones (``r:CHAPTER/targets/not_reached:list``).
    """

    summary: str = ""
    numbers: dict[str, Any] = field(default_factory=dict)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    targets_checked: int = 0
    targets_not_reached: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChapterContext:
    """What a chapter may use: where to write, how big to run, the seed, progress display."""

    out_dir: Path
    quick: bool = False
    seed: int = 0
    progress: bool = True

    def figure_path(self, chapter: str, name: str) -> tuple[Path, str]:
        """An absolute path for a chapter's figure and its path relative to the report."""
        relative = f"figures/{chapter}-{name}"
        path = self.out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path, relative


@dataclass(frozen=True)
class Chapter:
    """A tour chapter: a key for ``--only``, a title, and the function that runs it."""

    key: str
    title: str
    run: Callable[[ChapterContext], ChapterResult]


@dataclass
class TourResult:
    """Every chapter's outcome plus provenance; serialised as ``results.json``."""

    provenance: dict[str, Any]
    chapters: dict[str, dict[str, Any]]

    @property
    def failed(self) -> list[str]:
        return [key for key, chapter in self.chapters.items() if chapter["status"] != "ok"]


def provenance(seed: int, quick: bool) -> dict[str, Any]:
    """Versions, machine and settings that produced a report."""
    return {
        "aisec": aisec.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "cpu_threads": torch.get_num_threads(),
        "seed": seed,
        "quick": quick,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "aisec_cache": os.environ.get("AISEC_CACHE", "~/.cache/aisec"),
    }


def run_tour(
    chapters: Sequence[Chapter],
    out_dir: str | Path,
    *,
    only: Sequence[str] | None = None,
    quick: bool = False,
    seed: int = 0,
    progress: bool = True,
    on_chapter: Callable[[str, dict[str, Any]], None] | None = None,
    reuse: bool = False,
) -> TourResult:
    """Run ``chapters`` (or the ``only`` ones) and write ``results.json`` and ``index.html``.

    Args:
        chapters: the chapters, in order.
        out_dir: the report directory (created).
        only: chapter keys to run; ``ValueError`` for unknown keys.
        quick: small sizes (for CI).
        seed: passed to every chapter.
        progress: show progress bars inside chapters.
        on_chapter: called with ``(key, record)`` after each chapter.
        reuse: use a chapter's stored results when nothing that decides them changed, and store
            the results of the chapters that run. With a read-only cache, reuse is turned off
            with a one-line warning that says why.

    Returns:
        The :class:`TourResult` that was written.
    """
    known = [chapter.key for chapter in chapters]
    if only:
        unknown = [key for key in only if key not in known]
        if unknown:
            raise ValueError(f"unknown chapter(s) {unknown}; known chapters: {known}")
        chapters = [chapter for chapter in chapters if chapter.key in only]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    context = ChapterContext(out_dir=out, quick=quick, seed=seed, progress=progress)
    result = TourResult(provenance=provenance(seed, quick), chapters={})
    if reuse:
        problem = reuse_unavailable()
        if problem is not None:
            warnings.warn(f"every chapter runs, none is reused: {problem}", stacklevel=2)
            reuse = False
    for chapter in chapters:
        fingerprint = chapter_fingerprint(chapter.key, quick=quick, seed=seed) if reuse else ""
        stored = load_chapter(chapter.key, fingerprint, out) if reuse else None
        if stored is not None:
            record = stored | {"title": chapter.title, "reused": True}
        else:
            record = _run_chapter(chapter, context)
            if reuse:
                store_chapter(chapter.key, fingerprint, record, out)
        result.chapters[chapter.key] = record
        if on_chapter is not None:
            on_chapter(chapter.key, record)
    atomic_write_text(out / "results.json", json.dumps(asdict(result), indent=2, default=str))
    from aisec.report.html import render_html

    atomic_write_text(out / "index.html", render_html(result, out))
    return result


def chapter_record(outcome: ChapterResult) -> dict[str, Any]:
    """A chapter's outcome as JSON-friendly values (rates keep their sample size)."""
    return {
        "summary": outcome.summary,
        "numbers": json_value(outcome.numbers),
        "tables": [
            {"caption": table.caption, "rows": json_rows(table.rows)} for table in outcome.tables
        ],
        "figures": [asdict(figure) for figure in outcome.figures],
        "targets": {
            "checked": outcome.targets_checked,
            "not_reached": list(outcome.targets_not_reached),
        },
    }


def _run_chapter(chapter: Chapter, context: ChapterContext) -> dict[str, Any]:
    began = time.perf_counter()
    record: dict[str, Any] = {"title": chapter.title}
    try:
        outcome = chapter.run(context)
        record |= {"status": "ok"} | chapter_record(outcome)
    except Exception as error:  # a failing chapter is reported; the others still run
        record |= {
            "status": "failed",
            "error": f"{type(error).__name__}: {error}",
            "traceback": traceback.format_exc(),
        }
    record["seconds"] = round(time.perf_counter() - began, 2)
    return record
