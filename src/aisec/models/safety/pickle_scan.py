"""Opcode-level analysis of pickle streams: which globals they import and what they call.

The stream is decoded with :func:`pickletools.genops` and run on a *symbolic* stack: every value
is a description (a constant, a tuple of descriptions, a container, an allow-listed global, the
result of calling one), never a Python object, so nothing is imported and nothing runs. This is
what lets the scan

- resolve ``STACK_GLOBAL`` from the strings actually on the stack, wherever they came from
  (``SHORT_BINUNICODE``/``BINUNICODE``/``UNICODE``/``STRING`` constants, values stored with
  ``MEMOIZE``/``PUT``/``BINPUT``/``LONG_BINPUT`` and fetched with ``GET``/``BINGET``/
  ``LONG_BINGET``, in any order), and refuse it when they are not constant strings. Scanners
  that tracked "the last strings seen" instead of the stack were bypassed by memo shuffles
  (picklescan issue 22, 2023; modelscan issue 85, 2024);
- refuse every import of a global outside :mod:`aisec.models.safety.allowlist` (``GLOBAL``,
  ``STACK_GLOBAL``, ``INST``), after mapping Python 2 names as the unpickler does below
  protocol 3;
- refuse calls (``REDUCE``, ``NEWOBJ``, ``NEWOBJ_EX``, ``OBJ``, ``INST``) of anything but a
  callable allow-list entry with arguments of its declared shape, including calls of values the
  pickle built itself (``getattr(...)(...)`` chains, ``functools.partial`` objects);
- refuse ``BUILD``/``APPEND``/``SETITEM`` on a global itself, which sets attributes on an
  imported object (the ``BUILD`` setattr gadget of modelscan issue 85);
- refuse ``EXT1``/``EXT2``/``EXT4``, whose globals come from the process's ``copyreg``
  extension registry rather than from the file;
- analyse every pickle of a stream (several pickles may be concatenated; ``torch.save``'s
  legacy format is five in a row followed by raw storage bytes) and refuse bytes after the
  last ``STOP`` that are not a pickle;
- refuse a stream it cannot decode: the unpickler executes opcodes one by one, so a payload
  placed before a deliberate error still runs (ReversingLabs' "nullifAI" models, 2025, broke
  their pickles right after the payload to crash scanners).
"""

from __future__ import annotations

import io
import pickletools
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from aisec.models.safety.findings import Finding
from aisec.models.safety.pickle_machine import (
    Const,
    GlobalRef,
    Machine,
    MalformedError,
    Sym,
    TupleOf,
)

__all__ = [
    "TORCH_LEGACY_MAGIC",
    "Const",
    "GlobalRef",
    "OnePickle",
    "TupleOf",
    "analyse_one_pickle",
    "analyse_pickle_stream",
    "looks_like_pickle",
]

TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
"""The first pickle of ``torch.save(..., _use_new_zipfile_serialization=False)``."""

_TORCH_LEGACY_PICKLES = 5
"""Magic number, protocol version, sys_info, the object, the storage keys; then raw bytes."""

_SNIFF_WINDOW = 64 * 1024
_IMPORTING_OPCODES = frozenset(
    {
        "GLOBAL",
        "STACK_GLOBAL",
        "INST",
        "OBJ",
        "REDUCE",
        "NEWOBJ",
        "NEWOBJ_EX",
        "BUILD",
        "EXT1",
        "EXT2",
        "EXT4",
        "PERSID",
        "BINPERSID",
    }
)


# --- one pickle, then the stream -------------------------------------------------------------


@dataclass(frozen=True)
class OnePickle:
    """One pickle's findings, the symbolic value it returns, and whether it decoded to STOP."""

    findings: tuple[Finding, ...]
    value: Sym | None
    decoded: bool
    opcodes: int


def _opcodes(buffer: io.BytesIO) -> Iterator[tuple[str, Any, int]]:
    """Decode opcodes; the escape-sequence warnings of protocol-0 strings are not ours to show."""
    decoded = pickletools.genops(buffer)
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            step = next(decoded, None)
        if step is None:
            return
        opcode, arg, position = step
        yield opcode.name, arg, position if position is not None else -1


def analyse_one_pickle(buffer: io.BytesIO, entry: str) -> OnePickle:
    """Run one pickle (up to its STOP) from the buffer's position; leave the buffer after it."""
    machine = Machine(entry)
    count = 0
    try:
        for name, arg, position in _opcodes(buffer):
            machine.offset = position
            if name == "STOP":
                value = machine.stack[-1] if machine.stack else None
                return OnePickle(tuple(machine.findings.values()), value, True, count)
            machine.step(name, arg)
            count += 1
        problem = "no STOP opcode"
    except Exception as error:  # any decoding failure: the stream cannot be analysed
        problem = _describe(error)
    machine.flag(f"malformed pickle: cannot be analysed ({problem})")
    return OnePickle(tuple(machine.findings.values()), None, False, count)


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def analyse_pickle_stream(data: bytes, entry: str) -> list[Finding]:
    """Analyse every pickle in ``data``; return the findings (empty when the stream is safe).

    Args:
        data: the stream's bytes (a ``.pkl`` file, ``data.pkl`` of a torch archive, the payload
            of an object ``.npy``, a legacy ``torch.save`` file).
        entry: where the stream is, for the findings.

    Returns:
        The findings of every pickle in the stream. A legacy ``torch.save`` stream (it starts
        with torch's magic number) is five pickles followed by raw storage bytes, which are not
        analysed; in any other stream, bytes after the last ``STOP`` must be another pickle.
    """
    buffer = io.BytesIO(data)
    findings: list[Finding] = []
    first = analyse_one_pickle(buffer, entry)
    findings.extend(first.findings)
    if not first.decoded:
        return findings
    if first.value == Const(TORCH_LEGACY_MAGIC):
        return findings + _analyse_following(buffer, entry, _TORCH_LEGACY_PICKLES - 1)
    return findings + _analyse_trailing(buffer, entry, len(data))


def _analyse_following(buffer: io.BytesIO, entry: str, count: int) -> list[Finding]:
    findings: list[Finding] = []
    for index in range(2, count + 2):
        start = buffer.tell()
        one = analyse_one_pickle(buffer, f"{entry} (pickle {index} at byte {start})")
        findings.extend(one.findings)
        if not one.decoded:
            break
    return findings


def _analyse_trailing(buffer: io.BytesIO, entry: str, size: int) -> list[Finding]:
    findings: list[Finding] = []
    index = 2
    while buffer.tell() < size:
        start = buffer.tell()
        one = analyse_one_pickle(buffer, f"{entry} (pickle {index} at byte {start})")
        if not one.decoded and one.opcodes == 0:
            findings.append(
                Finding(
                    entry,
                    f"{size - start} bytes after the pickle's STOP are not a pickle: "
                    "cannot be analysed",
                    offset=start,
                )
            )
            break
        findings.extend(one.findings)
        if not one.decoded:
            break
        index += 1
    return findings


def looks_like_pickle(stream: BinaryIO) -> bool:
    """Whether an unpickler would act on the stream: the test for content without a magic.

    True for protocol 2+ (``PROTO`` first), and for protocol 0/1 text when the opcodes it
    starts with import or call something or reach ``STOP``. Text that is not a pickle fails to
    decode before any of that, and so an unpickler would stop before running anything.
    """
    start = stream.tell()
    head = stream.read(2)
    stream.seek(start)
    if len(head) == 2 and head[0] == 0x80 and head[1] <= 5:
        return True
    window = _SNIFF_WINDOW
    while True:
        data = stream.read(window)
        stream.seek(start)
        outcome = _sniff(data, complete=len(data) < window)
        if outcome != "more":
            return outcome == "pickle"
        window *= 4


def _sniff(data: bytes, complete: bool) -> str:
    """``"pickle"``, ``"not"`` or ``"more"`` (the window ended before a decision).

    The opcodes run on the symbolic machine, so that text whose first letters happen to be
    opcodes (``l`` LIST, ``o`` OBJ) is "not" as soon as the unpickler would fail on them.
    """
    machine = Machine("")
    try:
        for name, arg, _ in _opcodes(io.BytesIO(data)):
            if name == "STOP":
                return "pickle" if machine.stack else "not"
            machine.step(name, arg)
            if name in _IMPORTING_OPCODES:
                return "pickle"
    except MalformedError:
        return "not"
    except Exception as error:
        if complete or "unknown" in str(error):
            return "not"
        return "more"
    return "not"
