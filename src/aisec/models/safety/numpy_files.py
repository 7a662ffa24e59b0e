"""``.npy`` files (and the ``.npy`` members of ``.npz`` archives): object arrays hold pickles.

A ``.npy`` file is a magic string, a header that is a Python dict literal, then the array's raw
bytes, except when the dtype holds Python objects: then ``numpy.save`` writes a pickle of the
array, which ``numpy.load(..., allow_pickle=True)`` unpickles (CVE-2019-6446 made
``allow_pickle=False`` the default). The header is read with :func:`ast.literal_eval`, which
evaluates literals only, and the pickle goes through the opcode analysis like any other.
"""

from __future__ import annotations

import ast
import struct
from typing import Any, BinaryIO

import numpy as np

from aisec.models.safety.findings import Collector, Finding
from aisec.models.safety.pickle_scan import analyse_pickle_stream

__all__ = ["NPY_MAGIC", "scan_npy"]

NPY_MAGIC = b"\x93NUMPY"
_MAX_HEADER_BYTES = 64 * 1024
"""numpy refuses headers over 10,000 bytes unless told otherwise; more is not a real array."""


class _NpyHeaderError(ValueError):
    """The header is not the dict literal numpy writes."""


def _read_header(stream: BinaryIO) -> dict[str, object]:
    """Read the magic, version and header dict; leave the stream at the array's bytes."""
    if stream.read(len(NPY_MAGIC)) != NPY_MAGIC:
        raise _NpyHeaderError("missing magic string")
    version = stream.read(2)
    if len(version) != 2 or version[0] not in (1, 2, 3):
        raise _NpyHeaderError(f"unknown format version {tuple(version)}")
    length_format = "<H" if version[0] == 1 else "<I"
    length_bytes = stream.read(struct.calcsize(length_format))
    (length,) = struct.unpack(length_format, length_bytes)
    if length > _MAX_HEADER_BYTES:
        raise _NpyHeaderError(f"header of {length} bytes is larger than {_MAX_HEADER_BYTES}")
    encoding = "utf-8" if version[0] == 3 else "latin-1"
    header = ast.literal_eval(stream.read(length).decode(encoding))
    if not isinstance(header, dict) or "descr" not in header:
        raise _NpyHeaderError("header is not a dict with a 'descr' key")
    return header


def scan_npy(stream: BinaryIO, entry: str, collector: Collector) -> None:
    """Scan one ``.npy`` stream: its header, and its pickle when the dtype holds objects."""
    label = entry or "npy"
    collector.saw("npy")
    try:
        header = _read_header(stream)
        descr: Any = header["descr"]
        dtype = np.lib.format.descr_to_dtype(descr)
    except (ValueError, TypeError, SyntaxError, struct.error, MemoryError, RecursionError) as error:
        collector.add(Finding(label, f"npy header cannot be analysed ({error})"))
        return
    if dtype.hasobject:
        collector.saw("pickle")
        collector.extend(analyse_pickle_stream(stream.read(), f"{label} (object array)"))
