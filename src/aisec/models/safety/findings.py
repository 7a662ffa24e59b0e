"""The typed result of a scan: findings per entry, a verdict per file and for the whole run.

A *finding* says where in a file something that a loader could execute was found (an archive
member, a Keras layer, a GGUF key), which global it names when it is a pickle (``module.name``),
and why it is refused. A file is safe when it has no finding; a scan is safe when every file is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, BinaryIO

__all__ = [
    "Collector",
    "Dispatch",
    "FileScan",
    "Finding",
    "ScanReport",
    "Verdict",
]


class Verdict(str, Enum):
    """Whether every loader aisec knows can read a file without running code from it."""

    SAFE = "safe"
    UNSAFE = "unsafe"


@dataclass(frozen=True)
class Finding:
    """One reason to refuse a file.

    Attributes:
        entry: where in the file: ``"pickle"``, an archive member (nested members joined by
            ``!``, e.g. ``"bundle.zip!model.pth!archive/data.pkl"``), a Keras layer path or a
            GGUF metadata key.
        reason: why it is refused, in one sentence.
        global_name: the pickle global it names (``module.name``), if any.
        offset: byte offset of the opcode inside the entry, for pickle findings.
    """

    entry: str
    reason: str
    global_name: str | None = None
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The finding as JSON-ready values."""
        return {
            "entry": self.entry,
            "global": self.global_name,
            "reason": self.reason,
            "offset": self.offset,
        }


@dataclass(frozen=True)
class FileScan:
    """The scan of one file: the formats recognised in it and what was found."""

    path: str
    formats: tuple[str, ...]
    findings: tuple[Finding, ...]

    @property
    def verdict(self) -> Verdict:
        """Unsafe as soon as there is one finding."""
        return Verdict.UNSAFE if self.findings else Verdict.SAFE

    def to_dict(self) -> dict[str, Any]:
        """The file's scan as JSON-ready values."""
        return {
            "path": self.path,
            "verdict": self.verdict.value,
            "formats": list(self.formats),
            "findings": [finding.to_dict() for finding in self.findings],
        }


@dataclass(frozen=True)
class ScanReport:
    """The scan of every file named, with the files a folder walk skipped."""

    files: tuple[FileScan, ...]
    skipped: tuple[str, ...] = ()

    @property
    def verdict(self) -> Verdict:
        """Safe only when every file is safe."""
        unsafe = any(scan.verdict is Verdict.UNSAFE for scan in self.files)
        return Verdict.UNSAFE if unsafe else Verdict.SAFE

    def rows(self) -> list[tuple[str, str, str, str]]:
        """One row per finding: file, entry, global (or ``-``), reason."""
        return [
            (scan.path, finding.entry, finding.global_name or "-", finding.reason)
            for scan in self.files
            for finding in scan.findings
        ]

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {
            "verdict": self.verdict.value,
            "files": [scan.to_dict() for scan in self.files],
            "skipped": list(self.skipped),
        }


@dataclass
class Collector:
    """What one file's scan gathers while it walks the file's entries (formats, findings)."""

    formats: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def saw(self, format_name: str) -> None:
        """Record that a format was recognised (once per format)."""
        if format_name not in self.formats:
            self.formats.append(format_name)

    def add(self, finding: Finding) -> None:
        """Record a finding, ignoring an exact repeat."""
        if finding not in self.findings:
            self.findings.append(finding)

    def extend(self, findings: list[Finding]) -> None:
        """Record several findings."""
        for finding in findings:
            self.add(finding)


Dispatch = Callable[[BinaryIO, str, int, Collector], bool]
"""Scan a nested stream by its content: ``(stream, entry, depth, collector) -> recognised``.

Containers (zip, tar, compressed streams) receive the dispatcher as an argument instead of
importing it, so the format modules never import each other in a cycle.
"""
