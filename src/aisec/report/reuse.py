"""Reusing a chapter's results when nothing that produced them has changed.

A warm ``aisec tour`` should take seconds, not the minutes of a cold one, without ever showing
stale numbers. A chapter's record (its numbers, tables and figures) is stored in the cache
under a fingerprint of everything that decides it: the chapter key, quick mode, the seed, the
aisec source code (every ``.py`` file of the installed package), and the torch and Python
versions. Any change to one of them misses the cache and the chapter runs again; a record is
only stored for a chapter that succeeded, with all its figures.

A stored chapter is a verified cache entry (:mod:`aisec.cache`): its files and ``record.json``
are written into a staging folder with a manifest of their SHA-256 (written last) and renamed
into place under the entry's lock; loading verifies every file (under the shared lock) before
copying anything into the report, and a stored entry that does not verify is reported and the
chapter runs again. With a read-only cache nothing is reused or stored
(:func:`reuse_unavailable` says why).

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
import warnings
from functools import cache
from pathlib import Path
from typing import Any

import torch

import aisec
from aisec.cache import (
    MANIFEST_NAME,
    CacheNotWritableError,
    CorruptCacheError,
    cache_dir,
    cache_lock,
    folder_digests,
    remove_partial_builds,
    replace_folder,
    verify_folder,
)
from aisec.files import atomic_write_bytes, atomic_write_json

__all__ = [
    "chapter_fingerprint",
    "load_chapter",
    "reuse_unavailable",
    "source_digest",
    "store_chapter",
]

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


def _tour_dir(root: Path | None, *, writable: bool) -> Path:
    return cache_dir("tour", root=root, writable=writable, purpose="the tour's stored results")


def reuse_unavailable(*, root: Path | None = None) -> str | None:
    """Why chapter results cannot be stored (a read-only cache), or ``None`` when they can."""
    try:
        _tour_dir(root, writable=True)
    except CacheNotWritableError as error:
        return str(error)
    return None


def load_chapter(
    key: str, fingerprint: str, out_dir: Path, *, root: Path | None = None
) -> dict[str, Any] | None:
    """The stored record of a chapter, with its files copied into ``out_dir``, or ``None``.

    ``None`` when nothing is stored under this fingerprint, or (with a warning) when the stored
    entry does not verify against its manifest; nothing is copied then.
    """
    entry = _tour_dir(root, writable=False) / f"{key}-{fingerprint}"
    if not entry.is_dir():
        return None
    with cache_lock(entry, shared=True):
        try:
            files = _verified_files(entry)
        except FileNotFoundError:
            return None
        except CorruptCacheError as error:
            warnings.warn(
                f"the stored results of chapter {key!r} do not verify ({error}); running it again",
                stacklevel=3,
            )
            return None
    record: dict[str, Any] = json.loads(files.pop(_RECORD))
    for relative, data in files.items():
        target = out_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, data)
    return record


def _verified_files(entry: Path) -> dict[str, bytes]:
    """Every file of a stored entry by relative path, after checking them against the manifest.

    Raises:
        FileNotFoundError: the entry vanished.
        CorruptCacheError: a file does not match, or the record or a figure is missing.
    """
    manifest = verify_folder(entry)
    files = {relative: (entry / relative).read_bytes() for relative in manifest["files"]}
    try:
        record = json.loads(files[_RECORD])
        figures = [str(figure["path"]) for figure in record.get("figures", [])]
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise CorruptCacheError(f"its {_RECORD} is missing or unreadable ({error})") from None
    missing = [path for path in figures if path not in files]
    if missing:
        raise CorruptCacheError(f"figure {missing[0]} is missing")
    return files


def store_chapter(
    key: str, fingerprint: str, record: dict[str, Any], out_dir: Path, *, root: Path | None = None
) -> None:
    """Store a successful chapter's record and files, atomically (whole or not at all).

    The files are its figures and whatever else it wrote under ``figures/<key>-*`` or
    ``figures/<key>/`` of the report directory. A failure to store (a read-only or full cache)
    is reported with a warning; it only costs the reuse.
    """
    if record.get("status") != "ok":
        return
    try:
        folder = _tour_dir(root, writable=True)
        entry = folder / f"{key}-{fingerprint}"
        with cache_lock(entry):
            _write_entry(entry, key, record, out_dir)
    except (OSError, CacheNotWritableError) as error:
        warnings.warn(
            f"the results of chapter {key!r} are not stored for reuse ({error})", stacklevel=2
        )


def _write_entry(entry: Path, key: str, record: dict[str, Any], out_dir: Path) -> None:
    """Write the entry into a staging folder, its manifest last, and swap it in (lock held)."""
    remove_partial_builds(entry)
    staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.", suffix=".tmp", dir=entry.parent))
    try:
        for relative in _chapter_files(key, record, out_dir):
            target = staging / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(out_dir / relative, target)
        (staging / _RECORD).write_text(json.dumps(record, indent=2, default=str))
        atomic_write_json(staging / MANIFEST_NAME, {"files": folder_digests(staging)})
        replace_folder(staging, entry)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _chapter_files(key: str, record: dict[str, Any], out_dir: Path) -> list[str]:
    """Report-relative paths of the files a chapter wrote."""
    files = {str(figure["path"]) for figure in record.get("figures", [])}
    figures = out_dir / "figures"
    for path in [*figures.glob(f"{key}-*"), *(figures / key).rglob("*")]:
        if path.is_file():
            files.add(path.relative_to(out_dir).as_posix())
    return sorted(files)
