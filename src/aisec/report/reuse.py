"""Reusing a chapter's results when nothing that produced them has changed.

A warm ``aisec tour`` should take seconds, not the minutes of a cold one, without ever showing
stale numbers. A chapter's record (its numbers, tables and figures) is stored in the cache
under a fingerprint of everything that decides it: the chapter key, quick mode, the seed, the
aisec source code (every ``.py`` file of the installed package), and the torch and Python
versions. Any change to one of them misses the cache and the chapter runs again; a record is
only stored for a chapter that succeeded, with all its figures.

The cached zoo models are not part of the fingerprint: the tour trains them from the same code
and seeds, so they follow the source. A model retrained by hand with other settings under a zoo
name (``aisec train signs-cnn --epochs 1``) is not noticed; run ``aisec tour --fresh`` then.
"""

from __future__ import annotations

import hashlib
import json
import platform
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import torch

import aisec
from aisec.cache import cache_dir

__all__ = ["chapter_fingerprint", "load_chapter", "source_digest", "store_chapter"]

_RECORD = "record.json"


@cache
def source_digest() -> str:
    """SHA-256 over the relative path and bytes of every ``.py`` file of the aisec package."""
    root = Path(aisec.__file__).resolve().parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def chapter_fingerprint(key: str, *, quick: bool, seed: int) -> str:
    """A short hex fingerprint of what decides the chapter ``key``'s results."""
    facts = {
        "chapter": key,
        "quick": quick,
        "seed": seed,
        "aisec_source": source_digest(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:20]


def _entry(key: str, fingerprint: str, root: Path | None) -> Path:
    return cache_dir("tour", root=root) / f"{key}-{fingerprint}"


def load_chapter(
    key: str, fingerprint: str, out_dir: Path, *, root: Path | None = None
) -> dict[str, Any] | None:
    """The stored record of a chapter, with its files copied into ``out_dir``, or ``None``.

    ``None`` when nothing is stored under this fingerprint or a stored figure is missing.
    """
    entry = _entry(key, fingerprint, root)
    record_path = entry / _RECORD
    if not record_path.is_file():
        return None
    try:
        record: dict[str, Any] = json.loads(record_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    figures = [str(figure["path"]) for figure in record.get("figures", [])]
    if not all((entry / path).is_file() for path in figures):
        return None
    for source in entry.rglob("*"):
        if source.is_file() and source != record_path:
            target = out_dir / source.relative_to(entry)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return record


def store_chapter(
    key: str, fingerprint: str, record: dict[str, Any], out_dir: Path, *, root: Path | None = None
) -> None:
    """Store a successful chapter's record and files, atomically (whole or not at all).

    The files are its figures and whatever else it wrote under ``figures/<key>-*`` or
    ``figures/<key>/`` of the report directory.
    """
    if record.get("status") != "ok":
        return
    entry = _entry(key, fingerprint, root)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=entry.parent))
    try:
        for relative in _chapter_files(key, record, out_dir):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out_dir / relative, target)
        (staging / _RECORD).write_text(json.dumps(record, indent=2, default=str))
        if entry.exists():
            shutil.rmtree(entry)
        staging.rename(entry)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)


def _chapter_files(key: str, record: dict[str, Any], out_dir: Path) -> list[str]:
    """Report-relative paths of the files a chapter wrote."""
    files = {str(figure["path"]) for figure in record.get("figures", [])}
    figures = out_dir / "figures"
    for path in [*figures.glob(f"{key}-*"), *(figures / key).rglob("*")]:
        if path.is_file():
            files.add(path.relative_to(out_dir).as_posix())
    return sorted(files)
