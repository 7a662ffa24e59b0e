"""GGUF files: read the metadata header (never the tensors) and check its chat templates.

GGUF (llama.cpp's format) holds no pickle; the code path is the Jinja chat template in the
metadata key ``tokenizer.chat_template`` (and the named ``tokenizer.chat_template.<name>``),
which the runtime renders (CVE-2024-34359). The header is parsed here with :mod:`struct` from a
file handle: magic ``GGUF``, version (2 or 3; either byte order), tensor and key counts, then
``(key, type, value)`` triples. Only the keys are kept; values are skipped with ``seek`` except
the templates, so a 100 MB model costs a few megabytes of reading (its token list).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from aisec.models.safety.findings import Collector, Finding
from aisec.models.safety.templates import template_findings

__all__ = ["GGUF_MAGIC", "scan_gguf"]

GGUF_MAGIC = b"GGUF"
_TEMPLATE_KEY = "tokenizer.chat_template"
_STRING, _ARRAY = 8, 9
_FIXED_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
"""Bytes per value of GGUF's fixed-size types (uint8 ... float64; 7 is bool)."""
_MAX_KEYS = 1 << 20


class _GgufError(ValueError):
    """The header is not a GGUF header aisec can parse."""


class _HeaderReader:
    """Reads GGUF's little- or big-endian integers and strings from a stream of known size."""

    def __init__(self, stream: BinaryIO, size: int, order: str) -> None:
        self.stream = stream
        self.size = size
        self.order = order

    def remaining(self) -> int:
        return self.size - self.stream.tell()

    def unpack(self, code: str) -> int:
        width = struct.calcsize(code)
        data = self.stream.read(width)
        if len(data) != width:
            raise _GgufError("header ends early")
        value: int = struct.unpack(self.order + code, data)[0]
        return value

    def string(self) -> str:
        length = self.unpack("Q")
        if length > self.remaining():
            raise _GgufError(f"a string of {length} bytes runs past the end of the file")
        return self.stream.read(length).decode("utf-8")

    def skip(self, value_type: int) -> None:
        if value_type == _STRING:
            length = self.unpack("Q")
            self.seek_forward(length)
        elif value_type == _ARRAY:
            self.skip_array()
        elif value_type in _FIXED_SIZES:
            self.seek_forward(_FIXED_SIZES[value_type])
        else:
            raise _GgufError(f"unknown value type {value_type}")

    def skip_array(self) -> None:
        item_type = self.unpack("I")
        count = self.unpack("Q")
        if count > self.remaining():
            raise _GgufError(f"an array of {count} items runs past the end of the file")
        if item_type in _FIXED_SIZES:
            self.seek_forward(count * _FIXED_SIZES[item_type])
            return
        for _ in range(count):
            self.skip(item_type)

    def seek_forward(self, length: int) -> None:
        if length > self.remaining():
            raise _GgufError("a value runs past the end of the file")
        self.stream.seek(length, 1)


def _open_header(stream: BinaryIO, size: int) -> tuple[_HeaderReader, int]:
    """Check the magic and version; return the reader and the number of metadata keys."""
    if stream.read(4) != GGUF_MAGIC:
        raise _GgufError("missing GGUF magic")
    raw_version = stream.read(4)
    for order in ("<", ">"):
        if len(raw_version) == 4 and struct.unpack(order + "I", raw_version)[0] in (2, 3):
            reader = _HeaderReader(stream, size, order)
            reader.unpack("Q")  # tensor count
            keys = reader.unpack("Q")
            if keys > _MAX_KEYS:
                raise _GgufError(f"{keys} metadata keys")
            return reader, keys
    raise _GgufError(f"unsupported GGUF version bytes {raw_version!r} (aisec reads 2 and 3)")


def chat_templates(stream: BinaryIO, size: int) -> dict[str, str]:
    """The chat templates in a GGUF header, by key (without reading the tensors)."""
    reader, keys = _open_header(stream, size)
    templates: dict[str, str] = {}
    for _ in range(keys):
        key = reader.string()
        value_type = reader.unpack("I")
        if key.startswith(_TEMPLATE_KEY) and value_type == _STRING:
            templates[key] = reader.string()
        else:
            reader.skip(value_type)
    return templates


def scan_gguf(stream: BinaryIO, entry: str, size: int, collector: Collector) -> None:
    """Scan a GGUF file's metadata: every chat template must pass the template check."""
    collector.saw("gguf")
    start = stream.tell()
    try:
        templates = chat_templates(stream, size)
    except (ValueError, struct.error, OverflowError) as error:
        collector.add(Finding(entry or "gguf", f"GGUF header cannot be parsed ({error})"))
        return
    finally:
        stream.seek(start)
    for key, template in templates.items():
        collector.saw("chat-template")
        label = f"{entry}!{key}" if entry else key
        collector.extend(template_findings(template, label))
