"""The on-disk cache for generated datasets, trained models and stored tour results.

The cache lives in ``$AISEC_CACHE`` when that variable is set, else ``~/.cache/aisec``. Nothing
is cached at import time; callers ask for a sub-directory when they need one.

Every cache entry is written so that it can be neither lost, nor mixed, nor forged unnoticed:

- **Atomic**: an entry is written to a uniquely named temporary file (or folder) and renamed
  into place (:func:`aisec.files.atomic_write_bytes`), so a reader sees the old entry or the new
  one, never half of one, and a killed writer leaves the previous entry intact.
- **Locked**: a writer holds :func:`cache_lock` (an exclusive ``flock`` on ``NAME.lock`` beside
  the entry) while it checks, builds and writes the entry, so concurrent builders of one entry
  wait for each other and the later ones find the first one's result. Readers of single-file
  entries need no lock (a rename is atomic); readers of folders take the shared lock.
- **Verified**: a tensor entry is *sealed* (:func:`seal_tensors`): one safetensors file whose
  header holds the entry's JSON metadata and a SHA-256 over a canonical serialisation of that
  metadata and of every tensor (name, dtype, shape and bytes); :func:`open_sealed_tensors`
  recomputes it. A folder entry (a converted language model, a stored tour chapter) carries a
  manifest, written last, with the SHA-256 of every file in it (:func:`folder_digests`);
  :func:`verify_folder` rejects a changed, missing or unexpected file. An entry that does not
  verify raises :class:`CorruptCacheError`, and its owner rebuilds it with a warning.
- **Read-only caches**: ``cache_dir(..., writable=False)`` gives the path without creating or
  probing it, so entries already cached can be read from a cache the user cannot write; building
  an entry there raises :class:`CacheNotWritableError` naming ``AISEC_CACHE``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import Tensor

__all__ = [
    "CACHE_ENV_VAR",
    "MANIFEST_NAME",
    "CacheNotWritableError",
    "CorruptCacheError",
    "UnsealedCacheError",
    "cache_dir",
    "cache_lock",
    "folder_digests",
    "is_sealed",
    "open_sealed_tensors",
    "remove_partial_builds",
    "replace_folder",
    "seal_tensors",
    "sha256_file",
    "tensors_digest",
    "verify_folder",
]

CACHE_ENV_VAR = "AISEC_CACHE"
MANIFEST_NAME = "aisec-manifest.json"
"""The file, inside a folder entry, that lists the SHA-256 of every other file of the entry."""

_SEAL_FORMAT = "aisec-sealed-tensors-1"
_FORMAT_KEY = "aisec.format"
_METADATA_KEY = "aisec.metadata"
_DIGEST_KEY = "aisec.sha256"


class CorruptCacheError(ValueError):
    """A cache entry exists but is truncated, altered or incomplete: rebuild it."""


class UnsealedCacheError(CorruptCacheError):
    """A tensor file without aisec's seal (e.g. written by an older aisec): not trusted."""


class CacheNotWritableError(ValueError):
    """Something must be written to the cache, and the cache folder is not writable."""


def _default_root() -> Path:
    env = os.environ.get(CACHE_ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "aisec"


def _probe_writable(path: Path) -> None:
    """Create ``path`` (with parents) and a probe file in it; ``OSError`` when that fails."""
    path.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-", delete=True):
        pass


def cache_dir(
    *parts: str,
    root: str | os.PathLike[str] | None = None,
    writable: bool = True,
    purpose: str | None = None,
) -> Path:
    """Return a cache sub-directory: created and writable, or (``writable=False``) as it is.

    Args:
        *parts: sub-directory names below the cache root, e.g. ``("models",)``.
        root: override for the cache root; default ``$AISEC_CACHE`` or ``~/.cache/aisec``.
        writable: ``True`` (for writers): create the directory and check that it can be
            written. ``False`` (for readers): only compute the path; it may not exist, and it
            is never created, so reading works from a read-only cache.
        purpose: what the caller is about to write, for the error message (e.g.
            ``"the trained model 'signs-cnn'"``).

    Returns:
        The directory's path.

    Raises:
        CacheNotWritableError: (a ``ValueError``) ``writable`` and the directory cannot be
            created or written; the message names the variable to set.
    """
    base = Path(root).expanduser() if root is not None else _default_root()
    path = base.joinpath(*parts)
    if not writable:
        return path
    try:
        _probe_writable(path)
    except OSError as error:
        what = f"cannot write {purpose}: " if purpose else ""
        raise CacheNotWritableError(
            f"{what}the aisec cache directory {str(path)!r} is not writable "
            f"({error.strerror or error}); set {CACHE_ENV_VAR} to a writable directory, e.g. "
            f"`export {CACHE_ENV_VAR}=/tmp/aisec-cache`"
        ) from error
    return path


def _lock_path(entry: Path) -> Path:
    return entry.with_name(entry.name + ".lock")


def _open_lock_file(path: Path, *, shared: bool) -> int | None:
    """A descriptor of the lock file; ``None`` for a reader that cannot open or create it."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        if not shared:
            raise
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None  # a read-only cache without a lock file: nobody can write there either


@contextlib.contextmanager
def cache_lock(entry: str | os.PathLike[str], *, shared: bool = False) -> Iterator[None]:
    """Hold the lock of the cache entry ``entry`` (``flock`` on ``ENTRY.lock`` beside it).

    A writer takes the exclusive lock around "check whether the entry is valid, else build and
    write it", so two processes building one entry wait for each other and the second finds the
    first's result. A reader of a folder entry takes the shared lock while it verifies and reads
    the folder. The lock is released when the block ends, and by the system when the process
    dies, so a killed writer never leaves a stale lock. Locks are per open file: a process must
    not take the lock of an entry it already holds (it would wait for itself).

    Args:
        entry: the entry's path (a file or folder, with or without its suffix); the lock file
            is ``entry`` + ``".lock"`` in the same folder, which must exist for a writer.
        shared: take the shared (reader) lock; a reader that cannot open the lock file (a
            read-only cache) proceeds without it.

    Raises:
        OSError: an exclusive lock whose lock file cannot be created.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no advisory locks
        yield
        return
    fd = _open_lock_file(_lock_path(Path(entry)), shared=shared)
    if fd is None:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _update_field(digest: Any, data: bytes | memoryview) -> None:
    """Feed one length-prefixed field, so that no two serialisations can collide."""
    digest.update(len(data).to_bytes(8, "little"))
    digest.update(data)


def tensors_digest(tensors: Mapping[str, Tensor], metadata: str) -> str:
    """SHA-256 over ``metadata`` and every tensor's name, dtype, shape and bytes.

    The tensors are taken in sorted name order and every field is length-prefixed, so the
    digest depends on the content only, never on how a file lays it out.
    """
    import torch

    digest = hashlib.sha256(_SEAL_FORMAT.encode())
    _update_field(digest, metadata.encode("utf-8"))
    for name in sorted(tensors):
        tensor = tensors[name].detach().cpu().contiguous()
        _update_field(digest, name.encode("utf-8"))
        _update_field(digest, str(tensor.dtype).encode())
        _update_field(digest, json.dumps(list(tensor.shape)).encode())
        raw = tensor.reshape(-1).view(torch.uint8).numpy()
        _update_field(digest, raw.data)
    return digest.hexdigest()


def seal_tensors(tensors: Mapping[str, Tensor], metadata: str) -> bytes:
    """A safetensors file holding ``tensors`` and ``metadata`` (a string), sealed by a SHA-256.

    The header's metadata holds ``metadata`` and :func:`tensors_digest` of the whole content;
    write the bytes with :func:`aisec.files.atomic_write_bytes`.
    """
    from safetensors.torch import save

    contiguous = {name: value.detach().cpu().contiguous() for name, value in tensors.items()}
    header = {
        _FORMAT_KEY: _SEAL_FORMAT,
        _METADATA_KEY: metadata,
        _DIGEST_KEY: tensors_digest(contiguous, metadata),
    }
    return bytes(save(contiguous, metadata=header))


def _header_metadata(data: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file's header (``{}`` when it has none)."""
    if len(data) < 8:
        raise CorruptCacheError("the file is shorter than a safetensors header")
    size = int.from_bytes(data[:8], "little")
    if size > len(data) - 8:
        raise CorruptCacheError("the safetensors header is truncated")
    try:
        header = json.loads(data[8 : 8 + size])
    except ValueError as error:
        raise CorruptCacheError(f"the safetensors header is not JSON ({error})") from None
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(metadata, dict):
        raise CorruptCacheError("the safetensors header is not a JSON object")
    return {str(key): str(value) for key, value in metadata.items()}


def is_sealed(data: bytes) -> bool:
    """Whether ``data`` starts like a file of :func:`seal_tensors` (its content is not checked).

    Raises:
        CorruptCacheError: the header cannot be read.
    """
    return _header_metadata(data).get(_FORMAT_KEY) == _SEAL_FORMAT


def open_sealed_tensors(data: bytes) -> tuple[dict[str, Tensor], str]:
    """The tensors and metadata string of a file written by :func:`seal_tensors`, verified.

    Raises:
        UnsealedCacheError: a readable safetensors file without aisec's seal.
        CorruptCacheError: the file is truncated or altered (its content does not match the
            SHA-256 of its header).
    """
    from safetensors.torch import load

    header = _header_metadata(data)
    if header.get(_FORMAT_KEY) != _SEAL_FORMAT:
        raise UnsealedCacheError(
            "the file has no aisec integrity seal (written by an older aisec, or not by aisec)"
        )
    metadata, expected = header.get(_METADATA_KEY), header.get(_DIGEST_KEY)
    if metadata is None or expected is None:
        raise CorruptCacheError("the seal is incomplete (metadata or SHA-256 missing)")
    try:
        tensors = load(data)
    except Exception as error:  # safetensors raises its own error type for bad files
        raise CorruptCacheError(f"the tensors cannot be read ({error})") from None
    if tensors_digest(tensors, metadata) != expected:
        raise CorruptCacheError("the content does not match its SHA-256 (truncated or altered)")
    return tensors, metadata


def folder_digests(folder: str | os.PathLike[str]) -> dict[str, str]:
    """The SHA-256 of every file below ``folder`` except the manifest, by relative path.

    Write ``{"files": folder_digests(folder), ...}`` as the folder's :data:`MANIFEST_NAME`
    last, atomically; :func:`verify_folder` checks it.
    """
    root = Path(folder)
    return {
        path.relative_to(root).as_posix(): sha256_file(path)
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.relative_to(root).as_posix() != MANIFEST_NAME
    }


def verify_folder(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Check every file of ``folder`` against its manifest; return the manifest.

    The folder must hold exactly the files its manifest lists (no more, no fewer), each with
    the listed SHA-256.

    Raises:
        FileNotFoundError: there is no such folder.
        CorruptCacheError: the manifest is missing or unreadable, or a file was changed,
            removed or added; the message names the file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"no cache entry at {root}")
    try:
        manifest = json.loads((root / MANIFEST_NAME).read_text(encoding="utf-8"))
        expected = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise CorruptCacheError(
            f"its manifest {MANIFEST_NAME} is missing or unreadable ({error})"
        ) from None
    if not isinstance(manifest, dict) or not isinstance(expected, dict):
        raise CorruptCacheError(f"its manifest {MANIFEST_NAME} is not a file list")
    actual = folder_digests(root)
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            raise CorruptCacheError(f"{name} is missing")
        if name not in expected:
            raise CorruptCacheError(f"{name} is not listed in its manifest")
        if actual[name] != expected[name]:
            raise CorruptCacheError(f"{name} does not match its SHA-256 (altered or truncated)")
    return manifest


def _sync_folder(path: Path) -> None:
    """Flush a folder's entries (a rename in it) to disk, where folders can be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def replace_folder(staging: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move the complete folder ``staging`` to ``target``, replacing a previous ``target``.

    Call it holding the entry's exclusive :func:`cache_lock`, with ``staging`` in the same
    folder as ``target`` and its files (manifest last) already written. Readers that hold the
    shared lock never see a half-replaced folder. A process killed between the two renames
    leaves no ``target`` (it is rebuilt on next use) and a hidden ``.NAME.old-*`` folder that
    :func:`remove_partial_builds` deletes.
    """
    staging, target = Path(staging), Path(target)
    old: Path | None = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, old / target.name)
    os.replace(staging, target)
    _sync_folder(target.parent)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_partial_builds(target: str | os.PathLike[str]) -> None:
    """Delete what killed builders of the entry ``target`` left: hidden ``.NAME.*`` siblings.

    Call it holding the entry's exclusive :func:`cache_lock` (only a lock holder creates them).
    """
    target = Path(target)
    for leftover in target.parent.glob(f".{target.name}.*"):
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
