"""The tour's chapters, in reading order."""

from __future__ import annotations

from aisec.report.chapters.foundation import run_foundation
from aisec.report.tour import Chapter

__all__ = ["CHAPTERS"]

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "foundation", "Foundation: data, models and the offline ImageNet model", run_foundation
    ),
)
