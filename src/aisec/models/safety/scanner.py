"""Scan model files by content: recognise every format a loader could read, check each one.

The format is decided by magic bytes, never by the file name: a zip archive (torch checkpoints,
``.npz``, ``.keras``), an ``.npy`` array, an HDF5 file, a safetensors file, a gzip/bz2/xz
stream, a GGUF file, a tar archive, a pickle (protocol 2+ by its ``PROTO`` opcode, protocol 0/1
when its first opcodes would make an unpickler act), a JSON document (a Hugging Face
``tokenizer_config.json`` with a chat template, a Keras config) or a bare Jinja chat template.
A file can be several at once (a polyglot: a pickle with a zip appended is a pickle to
``pickle.load`` and a zip to ``zipfile``): every reading that applies is scanned.

Nothing in a file is imported, unpickled, deserialized or rendered: pickles are read opcode by
opcode (:mod:`aisec.models.safety.pickle_scan`), Keras configs as JSON, chat templates as a
syntax tree. A file named on the command line that is none of these formats is refused
("unrecognised format": aisec cannot say what a loader would do with it); in a folder walk such
files are skipped and listed.
"""

from __future__ import annotations

import io
import json
import os
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

from aisec.models.safety.archives import (
    COMPRESSED_MAGICS,
    ZIP_MAGICS,
    decompress,
    join_entry,
    open_zip_at_end,
    scan_tar,
    scan_zip,
)
from aisec.models.safety.findings import Collector, FileScan, Finding, ScanReport
from aisec.models.safety.gguf_files import GGUF_MAGIC, scan_gguf
from aisec.models.safety.keras_files import (
    is_hdf5,
    keras_config_findings,
    looks_like_keras_config,
    scan_hdf5,
)
from aisec.models.safety.numpy_files import NPY_MAGIC, scan_npy
from aisec.models.safety.pickle_scan import analyse_pickle_stream, looks_like_pickle
from aisec.models.safety.templates import template_findings

__all__ = ["MAX_DEPTH", "scan_bytes", "scan_file", "scan_paths"]

MAX_DEPTH = 8
"""Archives nested deeper than this are refused rather than walked."""

_MAX_TEXT_BYTES = 256 * 1024 * 1024
_MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
_SKIPPED_FOLDERS = frozenset({".git", "__pycache__"})


def _size(stream: BinaryIO) -> int:
    start = stream.tell()
    end = stream.seek(0, os.SEEK_END)
    stream.seek(start)
    return end - start


def _head(stream: BinaryIO, length: int) -> bytes:
    start = stream.tell()
    data = stream.read(length)
    stream.seek(start)
    return data


def scan_stream(stream: BinaryIO, entry: str, depth: int, collector: Collector) -> bool:
    """Scan a nested stream (an archive member): unrecognised content is data.

    This is the :data:`~aisec.models.safety.findings.Dispatch` the containers receive.
    """
    return _scan(stream, entry, depth, collector, top_level=False)


def _scan(stream: BinaryIO, entry: str, depth: int, collector: Collector, top_level: bool) -> bool:
    """Scan one stream by its content; return whether any format was recognised."""
    if depth > MAX_DEPTH:
        collector.add(Finding(entry, f"archives nested more than {MAX_DEPTH} deep: not analysed"))
        return True
    size = _size(stream)
    head = _head(stream, 16)
    if head.startswith(ZIP_MAGICS):
        scan_zip(stream, entry, depth, collector, scan_stream)
        return True
    if head.startswith(NPY_MAGIC):
        scan_npy(stream, entry, collector)
        return True
    if is_hdf5(stream, size):
        scan_hdf5(stream, entry, collector)
        return True
    if _is_safetensors(stream, head, size):
        collector.saw("safetensors")
        return True
    for kind, magic in COMPRESSED_MAGICS.items():
        if head.startswith(magic):
            return _scan_compressed(kind, stream, entry, depth, collector, top_level)
    return _scan_other(stream, entry, depth, collector, top_level, size)


def _scan_other(
    stream: BinaryIO, entry: str, depth: int, collector: Collector, top_level: bool, size: int
) -> bool:
    """Formats without an exclusive magic: GGUF, tar, pickle, JSON, templates, zip polyglots."""
    recognised = False
    if _head(stream, 4) == GGUF_MAGIC:
        scan_gguf(stream, entry, size, collector)
        recognised = True
    if _is_tar(stream, size):
        scan_tar(stream, entry, depth, collector, scan_stream)
        stream.seek(0)
        recognised = True
    if looks_like_pickle(stream):
        collector.saw("pickle")
        collector.extend(analyse_pickle_stream(stream.read(), entry or "pickle"))
        stream.seek(0)
        recognised = True
    elif not recognised:
        recognised = _scan_text(stream, entry, collector, top_level, size)
    archive = open_zip_at_end(stream)
    if archive is not None:
        scan_zip(stream, entry, depth, collector, scan_stream, archive=archive)
        recognised = True
    if not recognised and top_level:
        collector.add(
            Finding(
                entry or "file",
                "unrecognised format: aisec cannot say what a loader would do with it",
            )
        )
    return recognised


def _scan_compressed(
    kind: str, stream: BinaryIO, entry: str, depth: int, collector: Collector, top_level: bool
) -> bool:
    collector.saw(kind)
    label = join_entry(entry, kind)
    try:
        data = decompress(kind, stream)
    except ValueError as error:
        collector.add(Finding(label, str(error)))
        return True
    _scan(io.BytesIO(data), label, depth + 1, collector, top_level)
    return True


def _is_safetensors(stream: BinaryIO, head: bytes, size: int) -> bool:
    """An 8-byte little-endian header length, then a JSON object of that length."""
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (length,) = struct.unpack("<Q", head[:8])
    if not 2 <= length <= min(size - 8, _MAX_SAFETENSORS_HEADER):
        return False
    start = stream.tell()
    stream.seek(start + 8)
    try:
        header = json.loads(stream.read(length))
    except (ValueError, RecursionError):
        return False
    finally:
        stream.seek(start)
    return isinstance(header, dict)


def _is_tar(stream: BinaryIO, size: int) -> bool:
    """A ustar/GNU/PAX header (checksummed) at the start."""
    if size < 512:
        return False
    header = _head(stream, 512)
    if header[257:262] != b"ustar":
        return False
    try:
        stored = int(header[148:156].split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        return False
    computed = sum(header[:148]) + 8 * 32 + sum(header[156:])
    return stored == computed


def _scan_text(
    stream: BinaryIO, entry: str, collector: Collector, top_level: bool, size: int
) -> bool:
    """JSON (chat templates, Keras configs) and, for files named directly, Jinja templates."""
    if size > _MAX_TEXT_BYTES:
        return False
    try:
        text = stream.read().decode("utf-8")
    except UnicodeDecodeError:
        return False
    finally:
        stream.seek(0)
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            document = json.loads(text)
        except (ValueError, RecursionError):
            document = None
        if document is not None:
            _check_json(document, entry, collector)
            return True
    if top_level and ("{{" in text or "{%" in text):
        collector.saw("chat-template")
        collector.extend(template_findings(text, entry or "template"))
        return True
    return False


def _check_json(document: object, entry: str, collector: Collector) -> None:
    collector.saw("json")
    label = entry or "json"
    if looks_like_keras_config(document):
        collector.saw("keras")
        collector.extend(keras_config_findings(document, label))
    if not isinstance(document, dict):
        return
    templates = document.get("chat_template")
    if isinstance(templates, str):
        templates = [{"name": "default", "template": templates}]
    if isinstance(templates, list):
        for item in templates:
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                collector.saw("chat-template")
                where = f"{label}: chat_template {item.get('name', '')}".rstrip()
                collector.extend(template_findings(item["template"], where))


# --- files, bytes and folders ----------------------------------------------------------------


def _file_scan(path: str, stream: BinaryIO, top_level: bool) -> FileScan:
    collector = Collector()
    _scan(stream, "", 0, collector, top_level=top_level)
    return FileScan(path, tuple(collector.formats), tuple(collector.findings))


def scan_bytes(data: bytes, name: str = "<bytes>") -> FileScan:
    """Scan a file's content held in memory (what :func:`safe_torch_load` then loads)."""
    return _file_scan(name, io.BytesIO(data), top_level=True)


def scan_file(path: str | os.PathLike[str]) -> FileScan:
    """Scan one file by its content.

    Args:
        path: the file.

    Returns:
        The formats recognised and every finding; ``verdict`` is ``safe`` when there is none.

    Raises:
        ValueError: ``path`` is not a readable file.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{file} is not a file (expected a model file or a folder of them)")
    try:
        with file.open("rb") as stream:
            return _file_scan(str(file), stream, top_level=True)
    except OSError as error:
        raise ValueError(f"{file} cannot be read: {error}") from error


def _walk(folder: Path) -> list[Path]:
    files: list[Path] = []
    for root, folders, names in os.walk(folder):
        folders[:] = sorted(name for name in folders if name not in _SKIPPED_FOLDERS)
        files.extend(Path(root) / name for name in sorted(names))
    return [file for file in files if file.is_file()]


def scan_paths(paths: Iterable[str | os.PathLike[str]]) -> ScanReport:
    """Scan files and folders (recursively; ``.git`` is skipped).

    A file named directly is always judged; a file met in a folder walk whose content is no
    format aisec knows is skipped and listed in ``skipped``.

    Raises:
        ValueError: a path does not exist, no path was given, or a folder holds no file in a
            format aisec knows.
    """
    scans: list[FileScan] = []
    skipped: list[str] = []
    named = [Path(path) for path in paths]
    if not named:
        raise ValueError("no file to scan: name model files or folders")
    for path in named:
        if path.is_dir():
            found = _scan_folder(path, skipped)
            if not found:
                raise ValueError(f"{path} holds no file in a format aisec scans")
            scans.extend(found)
        else:
            scans.append(scan_file(path))
    return ScanReport(tuple(scans), tuple(skipped))


def _scan_folder(folder: Path, skipped: list[str]) -> list[FileScan]:
    scans = []
    for file in _walk(folder):
        try:
            with file.open("rb") as stream:
                scan = _file_scan(str(file), stream, top_level=False)
        except OSError as error:
            scan = FileScan(str(file), (), (Finding("file", f"cannot be read ({error})"),))
        if scan.formats or scan.findings:
            scans.append(scan)
        else:
            skipped.append(str(file))
    return scans
