"""Checkpoints without pickle: tensors in safetensors, metadata in JSON, verified by SHA-256.

A checkpoint ``NAME`` is two files: ``NAME.safetensors`` (tensors) and ``NAME.json``
(metadata plus the tensor file's SHA-256). Loading checks the hash first, so a truncated or
corrupted file raises :class:`CorruptCheckpointError` instead of producing a silently wrong model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import Tensor, nn

__all__ = [
    "CorruptCheckpointError",
    "checkpoint_exists",
    "load_checkpoint",
    "load_model_weights",
    "save_checkpoint",
]


class CorruptCheckpointError(ValueError):
    """A checkpoint exists but its files are missing, truncated or altered."""


def _paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    base = Path(path)
    return base.with_suffix(".safetensors"), base.with_suffix(".json")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def checkpoint_exists(path: str | os.PathLike[str]) -> bool:
    """Whether both files of the checkpoint at ``path`` exist (their integrity is not checked)."""
    tensors, meta = _paths(path)
    return tensors.exists() and meta.exists()


def save_checkpoint(
    path: str | os.PathLike[str], tensors: dict[str, Tensor], metadata: dict[str, Any]
) -> None:
    """Write ``tensors`` and JSON-serialisable ``metadata`` atomically.

    The tensor file is written first and the metadata (with its hash) last, each through a
    temporary file and a rename, so an interrupted save leaves the previous checkpoint intact
    or a detectably incomplete one.
    """
    tensor_path, meta_path = _paths(path)
    tensor_path.parent.mkdir(parents=True, exist_ok=True)
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    partial = tensor_path.with_suffix(".safetensors.partial")
    save_file(contiguous, partial)
    partial.replace(tensor_path)
    record = {"sha256": _sha256(tensor_path), "metadata": metadata}
    partial_meta = meta_path.with_suffix(".json.partial")
    partial_meta.write_text(json.dumps(record, indent=2, sort_keys=True))
    partial_meta.replace(meta_path)


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Read a checkpoint written by :func:`save_checkpoint`, verifying its hash.

    Raises:
        FileNotFoundError: no checkpoint at ``path``.
        CorruptCheckpointError: the files exist but do not match.
    """
    tensor_path, meta_path = _paths(path)
    if not tensor_path.exists() and not meta_path.exists():
        raise FileNotFoundError(f"no checkpoint at {tensor_path} / {meta_path}")
    try:
        record = json.loads(meta_path.read_text())
        expected = record["sha256"]
        metadata = record["metadata"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CorruptCheckpointError(
            f"checkpoint metadata {meta_path} is unreadable: {error}"
        ) from error
    if not tensor_path.exists() or _sha256(tensor_path) != expected:
        raise CorruptCheckpointError(
            f"checkpoint {tensor_path} is missing or does not match its recorded SHA-256 "
            "(truncated or altered); delete it or retrain"
        )
    return load_file(tensor_path), metadata


def load_model_weights(model: nn.Module, tensors: dict[str, Tensor], prefix: str = "") -> None:
    """Load the entries of ``tensors`` that start with ``prefix`` into ``model``, strictly."""
    state = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise CorruptCheckpointError(
            f"checkpoint does not fit the model's architecture: {error}"
        ) from error
