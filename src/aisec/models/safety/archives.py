"""Archives: torch zip checkpoints (and any zip), legacy torch tar files, compressed streams.

Every member is judged by its content, never by its name or the archive's extension
(picklescan missed pickles with unusual extensions, CVE-2025-1889 and CVE-2025-10155; torch
loads a zip checkpoint whatever the file is called: ``.bin``, ``.ckpt``, ``.pth.tar``, none):

- a member whose name ends in ``.pkl``, at any depth, must be a pickle that passes the analysis;
- every other member is dispatched by its magic bytes like a file (a nested zip, an ``.npy``, a
  pickle under another name ...); content that no format claims is data;
- the tensor records of a torch archive (``<prefix>/data/<number>`` next to a
  ``<prefix>/data.pkl``) are raw bytes that torch reads with ``from_buffer``: not parsed;
- a member that Python's zip reader refuses (a local header whose name differs from the
  central directory's, CVE-2025-1944; flag bits such as "encrypted", CVE-2025-1945; a bad CRC,
  CVE-2025-10156) is refused too: PyTorch's own reader may still load it, so a scanner that
  skips such a member on error is bypassed;
- two members with one name are refused: readers disagree on which one they load;
- an archive with ``constants.pkl`` is TorchScript: ``torch.load`` hands it to
  ``torch.jit.load``, which runs the TorchScript code it holds (CVE-2025-32434 was this path
  with ``weights_only=True``, torch < 2.6).

Tar files of the pre-zip torch format (members ``sys_info``, ``pickle``, ``storages``,
``tensors``) interleave pickles with raw tensor bytes; those members are walked record by record
as ``torch.serialization._legacy_load`` reads them. gzip, bz2 and xz streams (joblib, pandas and
``.tar.gz`` bundles) are decompressed, up to a size limit, and scanned.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import posixpath
import struct
import tarfile
import zipfile
import zlib
from collections import Counter
from typing import BinaryIO

from aisec.models.safety.findings import Collector, Dispatch, Finding
from aisec.models.safety.pickle_scan import (
    Const,
    GlobalRef,
    TupleOf,
    analyse_one_pickle,
    analyse_pickle_stream,
)

__all__ = [
    "COMPRESSED_MAGICS",
    "MAX_MEMBER_BYTES",
    "ZIP_MAGICS",
    "decompress",
    "join_entry",
    "open_zip_at_end",
    "scan_tar",
    "scan_zip",
]

ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
COMPRESSED_MAGICS = {"gzip": b"\x1f\x8b", "bz2": b"BZh", "xz": b"\xfd7zXZ\x00"}
MAX_MEMBER_BYTES = 2 * 1024**3
"""Members (and decompressed streams) larger than this are refused, not read into memory."""

_ZIP_ERRORS = (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError, zlib.error)
_LEGACY_TAR_MEMBERS = ("sys_info", "pickle", "storages", "tensors")
_ELEMENT_SIZES = {
    "torch.FloatStorage": 4,
    "torch.DoubleStorage": 8,
    "torch.HalfStorage": 2,
    "torch.BFloat16Storage": 2,
    "torch.LongStorage": 8,
    "torch.IntStorage": 4,
    "torch.ShortStorage": 2,
    "torch.CharStorage": 1,
    "torch.ByteStorage": 1,
    "torch.BoolStorage": 1,
    "torch.ComplexFloatStorage": 8,
    "torch.ComplexDoubleStorage": 16,
}


def join_entry(entry: str, member: str) -> str:
    """The entry of a member inside ``entry`` (``outer!inner``)."""
    return f"{entry}!{member}" if entry else member


# --- zip -------------------------------------------------------------------------------------


def open_zip_at_end(stream: BinaryIO) -> zipfile.ZipFile | None:
    """A zip archive found from the end of the stream (a polyglot), if one opens with members."""
    start = stream.tell()
    try:
        if not zipfile.is_zipfile(stream):
            return None
        stream.seek(start)
        archive = zipfile.ZipFile(stream)
        return archive if archive.infolist() else None
    except _ZIP_ERRORS:
        return None
    finally:
        stream.seek(start)


def _torch_prefixes(names: list[str]) -> set[str]:
    """The record prefixes of torch archives: the folders that hold a ``data.pkl``."""
    return {posixpath.dirname(name) for name in names if posixpath.basename(name) == "data.pkl"}


def _is_tensor_record(name: str, prefixes: set[str]) -> bool:
    """Whether ``name`` is ``<prefix>/data/<number>``: raw tensor bytes torch never unpickles."""
    folder, key = posixpath.split(name)
    return (
        key.isdigit()
        and posixpath.basename(folder) == "data"
        and (posixpath.dirname(folder) in prefixes)
    )


def scan_zip(
    stream: BinaryIO,
    entry: str,
    depth: int,
    collector: Collector,
    dispatch: Dispatch,
    archive: zipfile.ZipFile | None = None,
) -> None:
    """Scan every member of a zip archive (see the module docstring for the rules)."""
    collector.saw("zip")
    label = entry or "zip"
    try:
        archive = archive or zipfile.ZipFile(stream)
        infos = archive.infolist()
    except _ZIP_ERRORS as error:
        collector.add(Finding(label, f"zip archive cannot be read ({error})"))
        return
    names = [info.filename for info in infos]
    _check_archive_layout(names, entry, collector)
    prefixes = _torch_prefixes(names)
    for info in infos:
        if not info.is_dir():
            _scan_zip_member(archive, info, entry, depth, prefixes, collector, dispatch)


def _check_archive_layout(names: list[str], entry: str, collector: Collector) -> None:
    """Duplicate names, TorchScript, and the formats the layout shows."""
    for name, count in Counter(names).items():
        if count > 1:
            collector.add(
                Finding(
                    join_entry(entry, name),
                    f"{count} members share this name: zip readers disagree on which they load",
                )
            )
    prefixes = _torch_prefixes(names)
    if prefixes:
        collector.saw("torch-zip")
    for prefix in sorted(prefixes):
        if posixpath.join(prefix, "constants.pkl") in names:
            collector.saw("torchscript")
            collector.add(
                Finding(
                    join_entry(entry, posixpath.join(prefix, "constants.pkl")),
                    "TorchScript archive: torch.load hands it to torch.jit.load, which runs the "
                    "TorchScript code it holds",
                )
            )
    if "config.json" in names and "metadata.json" in names:
        collector.saw("keras")


def _scan_zip_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    entry: str,
    depth: int,
    prefixes: set[str],
    collector: Collector,
    dispatch: Dispatch,
) -> None:
    member = join_entry(entry, info.filename)
    is_pickle_name = info.filename.endswith(".pkl")
    try:
        with archive.open(info) as handle:  # checks the local header's name and flags
            if not is_pickle_name and _is_tensor_record(info.filename, prefixes):
                return
            if info.file_size > MAX_MEMBER_BYTES:
                collector.add(Finding(member, f"member of {info.file_size} bytes: too large"))
                return
            data = handle.read()  # checks the size and CRC
    except _ZIP_ERRORS as error:
        collector.add(
            Finding(
                member,
                f"member cannot be read ({error}); another zip reader (PyTorch's) may still "
                "load it",
            )
        )
        return
    if is_pickle_name:
        collector.saw("pickle")
        collector.extend(analyse_pickle_stream(data, member))
    else:
        dispatch(io.BytesIO(data), member, depth + 1, collector)


# --- tar -------------------------------------------------------------------------------------


def scan_tar(
    stream: BinaryIO, entry: str, depth: int, collector: Collector, dispatch: Dispatch
) -> None:
    """Scan every regular member of a tar archive; walk the legacy torch members by record."""
    collector.saw("tar")
    label = entry or "tar"
    try:
        with tarfile.open(fileobj=stream, mode="r:") as archive:
            members = archive.getmembers()
            names = {member.name for member in members}
            legacy = all(name in names for name in _LEGACY_TAR_MEMBERS)
            if legacy:
                collector.saw("torch-legacy-tar")
            for member in members:
                _scan_tar_member(archive, member, entry, depth, legacy, collector, dispatch)
    except (tarfile.TarError, OSError, EOFError) as error:
        collector.add(Finding(label, f"tar archive cannot be read ({error})"))


def _scan_tar_member(
    archive: tarfile.TarFile,
    member: tarfile.TarInfo,
    entry: str,
    depth: int,
    legacy: bool,
    collector: Collector,
    dispatch: Dispatch,
) -> None:
    label = join_entry(entry, member.name)
    special = legacy and member.name in _LEGACY_TAR_MEMBERS
    if not member.isfile():
        if special:
            collector.add(Finding(label, "a torch member that is not a regular file (a link)"))
        return
    if member.size > MAX_MEMBER_BYTES:
        collector.add(Finding(label, f"member of {member.size} bytes: too large"))
        return
    handle = archive.extractfile(member)
    data = handle.read() if handle is not None else b""
    if special and member.name in ("storages", "tensors"):
        collector.extend(_walk_legacy_records(data, label, member.name))
    elif special or member.name.endswith(".pkl"):
        collector.saw("pickle")
        collector.extend(analyse_pickle_stream(data, label))
    else:
        dispatch(io.BytesIO(data), label, depth + 1, collector)


class _RecordError(ValueError):
    """A legacy storages/tensors member does not have the layout torch reads."""


def _walk_legacy_records(data: bytes, entry: str, kind: str) -> list[Finding]:
    """Analyse the pickles of a legacy ``storages``/``tensors`` member, skipping raw bytes."""
    buffer = io.BytesIO(data)
    findings: list[Finding] = []
    try:
        count = _next_pickle(buffer, entry, findings)
        if not (isinstance(count, Const) and isinstance(count.value, int)) or count.value < 0:
            raise _RecordError("the record count is not an integer")
        for _ in range(count.value):
            record = _next_pickle(buffer, entry, findings)
            _skip_raw(buffer, record, kind)
        if kind == "storages":
            _next_pickle(buffer, entry, findings)  # the storage views
    except (_RecordError, struct.error) as error:
        findings.append(Finding(entry, f"legacy torch {kind} cannot be analysed ({error})"))
    return findings


def _next_pickle(buffer: io.BytesIO, entry: str, findings: list[Finding]) -> object:
    start = buffer.tell()
    one = analyse_one_pickle(buffer, f"{entry} (record at byte {start})")
    findings.extend(one.findings)
    if not one.decoded:
        raise _RecordError(f"no pickle at byte {start}")
    return one.value


def _skip_raw(buffer: io.BytesIO, record: object, kind: str) -> None:
    """Skip the raw bytes torch reads after a record's pickle."""
    if not isinstance(record, TupleOf) or len(record.items) != 3:
        raise _RecordError("a record is not a 3-tuple")
    if kind == "storages":
        storage_type = record.items[2]
        if not isinstance(storage_type, GlobalRef) or storage_type.qualname not in _ELEMENT_SIZES:
            raise _RecordError("a storage record does not name a storage class")
        (numel,) = struct.unpack("<q", _read_exactly(buffer, 8))
        _read_exactly(buffer, numel * _ELEMENT_SIZES[storage_type.qualname])
        return
    (ndim,) = struct.unpack("<i", _read_exactly(buffer, 4))
    _read_exactly(buffer, 4 + 16 * ndim + 8)


def _read_exactly(buffer: io.BytesIO, length: int) -> bytes:
    data = buffer.read(length) if length >= 0 else b""
    if len(data) != length:
        raise _RecordError("raw bytes end early")
    return data


# --- compressed streams ----------------------------------------------------------------------


def decompress(kind: str, stream: BinaryIO, limit: int = MAX_MEMBER_BYTES) -> bytes:
    """Decompress a gzip, bz2 or xz stream, refusing output larger than ``limit``.

    Raises:
        ValueError: the stream is corrupt or decompresses to more than ``limit`` bytes.
    """
    opener = {"gzip": gzip.GzipFile, "bz2": bz2.BZ2File, "xz": lzma.LZMAFile}[kind]
    try:
        with opener(fileobj=stream) if kind == "gzip" else opener(stream) as handle:
            data: bytes = handle.read(limit + 1)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as error:
        raise ValueError(f"{kind} stream cannot be decompressed ({error})") from error
    if len(data) > limit:
        raise ValueError(f"{kind} stream decompresses to more than {limit} bytes")
    return data
