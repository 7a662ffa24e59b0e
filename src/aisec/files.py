"""Files that are never half-written: atomic writes and output folders checked before the work.

Every file aisec writes (a result, a report, a cache entry) goes through :func:`atomic_write_bytes`:
the bytes land in a uniquely named temporary file in the target's folder, are flushed to disk
(``fsync``), and replace the target with one ``rename``; the folder entry is then synced too. A
reader therefore sees the old file or the new one, never a mix, and two concurrent writers never
share a temporary file.

:func:`check_output_dir` is what every command calls on its ``--out`` *before* it starts
working, so a wrong or unwritable folder costs one line of error, not the computation.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_output_dir",
    "fsync_dir",
]


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Flush a folder's entries (a rename in it) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _current_umask() -> int:
    """The process's umask, read without changing it where Linux allows (threads stay safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically and durably (unique temporary file, fsync, rename).

    Raises:
        OSError: the folder does not exist or cannot be written; ``path`` is left untouched.
    """
    target = Path(path)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; give it the mode a plain open() would (0666 & ~umask).
        os.fchmod(fd, 0o666 & ~_current_umask())
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    fsync_dir(target.parent)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], value: Any, **dumps_kwargs: Any) -> None:
    """Write ``value`` as indented JSON (with a final newline) to ``path`` atomically.

    The value is serialised before anything touches the disk, so a value JSON cannot encode
    raises ``TypeError``/``ValueError`` and leaves ``path`` as it was.
    """
    options: dict[str, Any] = {"indent": 2} | dumps_kwargs
    atomic_write_text(path, json.dumps(value, **options) + "\n")


def check_output_dir(path: str | os.PathLike[str], *, what: str = "--out") -> Path:
    """Make sure ``path`` is (or can become) a writable folder, before any work starts.

    The folder is created when missing (with its parents), and a probe file is created and
    removed in it, which is the only reliable test of writability (permissions, read-only
    mounts, ``/proc``).

    Args:
        path: the output folder.
        what: how the folder is named in the error (the CLI option, usually).

    Returns:
        The folder's path.

    Raises:
        ValueError: ``path`` is an existing file, cannot be created, or is not writable; the
            message names ``what`` and the reason.
    """
    folder = Path(path).expanduser()
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{what} {str(folder)!r} is a file; expected a folder (new or existing)")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".aisec-write-test-"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise ValueError(
            f"{what} {str(folder)!r} is not a writable folder ({reason}); choose another"
        ) from None
    return folder
