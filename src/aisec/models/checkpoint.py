"""Checkpoints without pickle: one sealed safetensors file, verified as a whole on every load.

A checkpoint ``NAME`` is one file, ``NAME.safetensors`` (written by
:func:`aisec.cache.seal_tensors`): the tensors, and in its header the metadata as JSON (sorted
keys) and a SHA-256 over a canonical serialisation of that metadata string and of every tensor
(its name, dtype, shape and bytes, in name order, each field length-prefixed).

What the check covers: :func:`load_checkpoint` reads the file once, recomputes the SHA-256 from
the tensors and the metadata it is about to return, and compares it with the recorded one. Every
byte that reaches a caller — each tensor value, dtype and shape, and all of the metadata (a
``tweets-bow`` vocabulary, class names, a reported accuracy, a resume state) — is covered, so a
truncated, corrupted or edited checkpoint raises :class:`CorruptCheckpointError` instead of
producing a silently wrong model; nothing else in the file (header layout, padding, other header
keys) influences what is loaded. The SHA-256 is not a signature: it detects damage and edits of
a file, not someone who rewrites a whole checkpoint with a new hash (anyone who can write the
cache can also write its code).

How it is written: through :func:`aisec.files.atomic_write_bytes` (a uniquely named temporary
file, ``fsync``, one ``rename``, then the folder is synced), so a reader sees the previous
checkpoint or the new one, never a mix of two writers, and a process killed while saving leaves
the previous checkpoint in place. Callers that *build* an entry (train, then save) hold
:func:`aisec.cache.cache_lock` so that concurrent builders wait for each other.

Checkpoints of aisec's older two-file format (``NAME.safetensors`` + ``NAME.json`` holding the
metadata and the tensor file's hash) are not trusted, because their metadata was not covered:
:func:`checkpoint_exists` reports them as absent, with a one-line warning, so they are rebuilt,
and the next save replaces them.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from aisec.cache import CorruptCacheError, is_sealed, open_sealed_tensors, seal_tensors
from aisec.files import atomic_write_bytes

__all__ = [
    "CorruptCheckpointError",
    "checkpoint_exists",
    "checkpoint_file",
    "load_checkpoint",
    "load_model_weights",
    "remove_checkpoint",
    "save_checkpoint",
]

_SUFFIX = ".safetensors"
_MAX_HEADER = 100 << 20  # safetensors' own limit on a header's size


class CorruptCheckpointError(CorruptCacheError):
    """A checkpoint exists but is truncated, altered, of an untrusted format, or does not fit."""


def checkpoint_file(path: str | os.PathLike[str]) -> Path:
    """The file of the checkpoint ``path``: ``path`` + ``.safetensors`` (unless it ends so)."""
    base = Path(path)
    return base if base.name.endswith(_SUFFIX) else base.with_name(base.name + _SUFFIX)


def _legacy_metadata_file(path: str | os.PathLike[str]) -> Path:
    file = checkpoint_file(path)
    return file.with_name(file.name[: -len(_SUFFIX)] + ".json")


def _read_header(file: Path) -> bytes:
    """The first bytes of ``file``: the 8-byte length and the safetensors JSON header."""
    with file.open("rb") as handle:
        prefix = handle.read(8)
        size = int.from_bytes(prefix, "little") if len(prefix) == 8 else 0
        return prefix + handle.read(min(size, _MAX_HEADER))


def checkpoint_exists(path: str | os.PathLike[str]) -> bool:
    """Whether a checkpoint is at ``path`` (verified only by :func:`load_checkpoint`).

    A damaged file counts as existing (loading it raises :class:`CorruptCheckpointError`); a
    checkpoint of the old, untrusted two-file format counts as absent, with a warning.
    """
    file = checkpoint_file(path)
    if not file.is_file():
        return False
    try:
        sealed = is_sealed(_read_header(file))
    except (OSError, CorruptCacheError):
        return True
    if not sealed:
        warnings.warn(
            f"ignoring the checkpoint {file}: it has no integrity seal over its metadata (an "
            "older aisec format, not trusted); it is rebuilt when next needed",
            UserWarning,
            stacklevel=2,
        )
    return sealed


def save_checkpoint(
    path: str | os.PathLike[str], tensors: dict[str, Tensor], metadata: dict[str, Any]
) -> None:
    """Write ``tensors`` and JSON-serialisable ``metadata`` as one sealed file, atomically.

    The metadata is serialised first (``TypeError``/``ValueError`` before anything touches the
    disk). A concurrent reader sees the previous checkpoint or this one; a process killed while
    saving leaves the previous one.
    """
    file = checkpoint_file(path)
    text = json.dumps(metadata, sort_keys=True)
    data = seal_tensors(tensors, text)
    file.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(file, data)
    with contextlib.suppress(OSError):  # the metadata file of the old two-file format
        _legacy_metadata_file(path).unlink(missing_ok=True)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read and verify a checkpoint written by :func:`save_checkpoint`.

    Returns:
        The tensors by name and the metadata.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CorruptCheckpointError: the file is truncated, altered or of the untrusted old format.
    """
    file = checkpoint_file(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {file}") from None
    try:
        tensors, text = open_sealed_tensors(data)
    except CorruptCacheError as error:
        raise CorruptCheckpointError(
            f"checkpoint {file} does not verify: {error}; delete it or train again"
        ) from None
    try:
        metadata = json.loads(text)
    except ValueError:
        metadata = None
    if not isinstance(metadata, dict):
        raise CorruptCheckpointError(f"checkpoint {file} holds no metadata object")
    return tensors, metadata


def remove_checkpoint(path: str | os.PathLike[str]) -> None:
    """Delete the checkpoint at ``path`` (and an old-format metadata file), if any."""
    checkpoint_file(path).unlink(missing_ok=True)
    _legacy_metadata_file(path).unlink(missing_ok=True)


def load_model_weights(model: nn.Module, tensors: dict[str, Tensor], prefix: str = "") -> None:
    """Load the entries of ``tensors`` that start with ``prefix`` into ``model``, strictly."""
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CorruptCheckpointError(
            f"checkpoint does not fit the model's architecture: {error}"
        ) from error
