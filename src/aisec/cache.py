"""The on-disk cache for generated datasets and trained models.

The cache lives in ``$AISEC_CACHE`` when that variable is set, else ``~/.cache/aisec``. Nothing
is cached at import time; callers ask for a sub-directory when they need one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["CACHE_ENV_VAR", "cache_dir"]

CACHE_ENV_VAR = "AISEC_CACHE"


def _default_root() -> Path:
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "aisec"


def cache_dir(*parts: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Return (and create) a writable cache sub-directory.

    Args:
        *parts: sub-directory names below the cache root, e.g. ``("models",)``.
        root: override for the cache root; default ``$AISEC_CACHE`` or ``~/.cache/aisec``.

    Returns:
        The directory's path; it exists and is writable.

    Raises:
        ValueError: if the directory cannot be created or written, with the variable to set.
    """
    base = Path(root).expanduser() if root is not None else _default_root()
    path = base.joinpath(*parts)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True):
            pass
    except OSError as error:
        raise ValueError(
            f"the aisec cache directory {str(path)!r} is not writable ({error.strerror or error}); "
            f"set {CACHE_ENV_VAR} to a writable directory, e.g. "
            f"`export {CACHE_ENV_VAR}=/tmp/aisec-cache`"
        ) from error
    return path
