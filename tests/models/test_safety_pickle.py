"""Opcode-level guarantees of the pickle analysis and of the restricted unpickler.

Every pickle here is written opcode by opcode, so each test states exactly which construct it
checks. Nothing is unpickled except by :class:`RestrictedUnpickler`, and only where a test says
so; the names used for refused globals do not exist, so a test would fail loudly (with
``ModuleNotFoundError``) if anything tried to import them.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict

import pytest
import torch

import aisec.models.safety.pickle_machine as pickle_machine
import aisec.models.safety.pickle_scan as pickle_scan
from aisec.models.safety import ALLOWED_GLOBALS, RestrictedUnpickler
from aisec.models.safety.findings import Finding
from aisec.models.safety.pickle_scan import TORCH_LEGACY_MAGIC, analyse_pickle_stream

PROTO2, PROTO4, STOP = b"\x80\x02", b"\x80\x04", b"."


def _short(text: str) -> bytes:
    return b"\x8c" + bytes([len(text)]) + text.encode()


def _global(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def _globals(findings: list[Finding]) -> set[str | None]:
    return {finding.global_name for finding in findings}


def _reasons(findings: list[Finding]) -> str:
    return " | ".join(finding.reason for finding in findings)


# --- STACK_GLOBAL and the memo ---------------------------------------------------------------

_MEMO_VARIANTS = {
    "MEMOIZE/BINGET": _short("os") + b"\x94" + _short("system") + b"\x9400h\x00h\x01",
    "BINPUT/BINGET reversed": _short("system") + b"q\x07" + _short("posix") + b"q\x0300h\x03h\x07",
    "LONG_BINPUT/LONG_BINGET": _short("os")
    + b"r\x00\x01\x00\x00"
    + _short("system")
    + b"r\x01\x01\x00\x0000j\x00\x01\x00\x00j\x01\x01\x00\x00",
    "PUT/GET text": _short("os") + b"p9\n" + _short("system") + b"p8\n00g9\ng8\n",
    "DUP": _short("os") + b"2" + b"0" + _short("system"),
}


@pytest.mark.parametrize("variant", list(_MEMO_VARIANTS), ids=str)
def test_stack_global_resolves_memoized_strings(variant: str) -> None:
    decoy = _short("collections") + _short("OrderedDict") + b"00"  # pushed, then dropped
    data = PROTO4 + decoy + _MEMO_VARIANTS[variant] + b"\x93" + _short("x") + b"\x85R" + STOP
    findings = analyse_pickle_stream(data, "p")
    expected = "posix.system" if "reversed" in variant else "os.system"
    assert expected in _globals(findings)
    assert "collections.OrderedDict" not in _globals(findings)


@pytest.mark.parametrize(
    "module_push",
    [
        b"Pposix\n",  # a persistent id
        _global("collections", "OrderedDict") + b")R",  # the result of an allowed call
        b"\x8e" + struct.pack("<Q", 2) + b"os",  # bytes, which STACK_GLOBAL rejects at load
    ],
    ids=["persistent-id", "call-result", "bytes"],
)
def test_stack_global_from_non_constant_strings_is_unsafe(module_push: bytes) -> None:
    data = PROTO4 + module_push + _short("system") + b"\x93" + STOP
    findings = analyse_pickle_stream(data, "p")
    assert "cannot be resolved statically" in _reasons(findings)


# --- what the allow-list admits --------------------------------------------------------------


def _plain_data() -> object:
    return {
        "list": [1, 2.5, "x", None, True],
        "tuple": (1, (2, 3)),
        "set": {1, 2},
        "complex": 1 - 2j,
        "bytes": b"\x00\xff",
        "bytearray": bytearray(b"ab"),
        "ordered": OrderedDict(a=1),
    }


@pytest.mark.parametrize("protocol", range(6))
def test_plain_data_passes_and_loads_at_every_protocol(protocol: int) -> None:
    data = pickle.dumps(_plain_data(), protocol=protocol)
    assert analyse_pickle_stream(data, "p") == []
    assert RestrictedUnpickler(io.BytesIO(data)).load() == _plain_data()


def test_python2_names_are_mapped_only_below_protocol_3() -> None:
    call = _global("__builtin__", "set") + b"]\x85R" + STOP
    assert analyse_pickle_stream(PROTO2 + call, "p") == []
    findings = analyse_pickle_stream(b"\x80\x03" + call, "p")
    assert _globals(findings) == {"__builtin__.set"}
    mapped = analyse_pickle_stream(PROTO2 + _global("commands", "getoutput") + STOP, "p")
    assert _globals(mapped) == {"subprocess.getoutput"}
    assert "written commands.getoutput" in _reasons(mapped)


def test_a_value_only_global_cannot_be_called() -> None:
    findings = analyse_pickle_stream(PROTO2 + _global("torch", "float32") + b")R" + STOP, "p")
    assert "only as a value" in _reasons(findings)
    assert _globals(findings) == {"torch.float32"}


def test_argument_shapes_are_enforced() -> None:
    latin1 = PROTO2 + _global("_codecs", "encode") + _short("x") + _short("latin1") + b"\x86R."
    other = PROTO2 + _global("_codecs", "encode") + _short("x") + _short("rot13") + b"\x86R."
    assert analyse_pickle_stream(latin1, "p") == []
    assert "outside the allowed form" in _reasons(analyse_pickle_stream(other, "p"))
    unknown_args = PROTO2 + _global("_codecs", "encode") + b"Pargs\nR."
    assert "outside the allowed form" in _reasons(analyse_pickle_stream(unknown_args, "p"))
    size = PROTO4 + _global("torch", "Size") + b"K\x02\x85\x85"  # torch.Size((2,))
    assert analyse_pickle_stream(size + b"R.", "p") == []
    kwargs = size + b"}" + _short("k") + b"K\x01s\x92."
    assert "outside the allowed form" in _reasons(analyse_pickle_stream(kwargs, "p"))


def test_calling_a_value_the_pickle_built_is_unsafe() -> None:
    data = PROTO2 + _global("collections", "OrderedDict") + b")R)R" + STOP
    assert "built itself" in _reasons(analyse_pickle_stream(data, "p"))


@pytest.mark.parametrize(
    "mutation",
    [b"N}" + _short("a") + _short("os") + b"s\x86b", b"K\x01a", _short("k") + b"K\x01s"],
    ids=["BUILD", "APPEND", "SETITEM"],
)
def test_modifying_a_global_itself_is_unsafe(mutation: bytes) -> None:
    data = PROTO4 + _global("collections", "OrderedDict") + mutation + STOP
    findings = analyse_pickle_stream(data, "p")
    assert "modifies an imported global" in _reasons(findings)
    built = PROTO4 + _global("collections", "OrderedDict") + b")R" + mutation + STOP
    assert analyse_pickle_stream(built, "p") == []  # the same on an object is fine


@pytest.mark.parametrize("opcode", [b"\x82\x01", b"\x83\x01\x00", b"\x84\x01\x00\x00\x00"])
def test_extension_registry_opcodes_are_unsafe(opcode: bytes) -> None:
    assert "EXT opcode" in _reasons(analyse_pickle_stream(PROTO2 + opcode + STOP, "p"))


def test_dotted_names_never_match_the_allow_list() -> None:
    data = PROTO4 + _short("collections") + _short("OrderedDict.__init__") + b"\x93" + STOP
    assert _globals(analyse_pickle_stream(data, "p")) == {"collections.OrderedDict.__init__"}


# --- streams: malformed, several pickles, legacy torch ---------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps({"a": [1, 2, 3]}, protocol=2)[:-4],  # truncated
        PROTO2 + b"R" + STOP,  # stack underflow
        PROTO2 + b"h\x05" + STOP,  # memo read before write
        PROTO2 + b"\xff" + STOP,  # unknown opcode
        PROTO2 + b"(K\x01d" + STOP,  # DICT with an odd number of items
        b"\x80\x09" + STOP,  # unknown protocol
        b"",
    ],
    ids=["truncated", "underflow", "memo", "opcode", "dict", "protocol", "empty"],
)
def test_a_stream_that_cannot_be_decoded_is_unsafe(data: bytes) -> None:
    assert "cannot be analysed" in _reasons(analyse_pickle_stream(data, "p"))


def test_every_pickle_of_a_stream_is_analysed() -> None:
    benign = pickle.dumps([1, 2], protocol=2)
    assert analyse_pickle_stream(benign + benign, "p") == []
    two = analyse_pickle_stream(benign + PROTO2 + _global("nosuch", "thing") + STOP, "p")
    assert _globals(two) == {"nosuch.thing"}
    assert two[0].entry == f"p (pickle 2 at byte {len(benign)})"
    trailing = analyse_pickle_stream(benign + b"\n\x00", "p")
    assert "2 bytes after the pickle's STOP are not a pickle" in _reasons(trailing)


def test_the_legacy_torch_stream_ends_after_five_pickles() -> None:
    buffer = io.BytesIO()
    torch.save({"w": torch.ones(3)}, buffer, _use_new_zipfile_serialization=False)
    data = buffer.getvalue()
    assert data.startswith(pickle.dumps(TORCH_LEGACY_MAGIC, protocol=2))
    assert analyse_pickle_stream(data, "p") == []  # raw storage bytes follow the 5th pickle
    four = b"".join(pickle.dumps(value, protocol=2) for value in (TORCH_LEGACY_MAGIC, 1001, {}))
    evil = four + PROTO2 + _global("nosuch", "thing") + STOP + pickle.dumps([], protocol=2)
    assert _globals(analyse_pickle_stream(evil, "p")) == {"nosuch.thing"}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"hello world", False),
        (b'{"a": 1}', False),
        (b"lorem ipsum", False),  # LIST then OBJ: the unpickler fails before importing
        (b"# model card\n", False),
        (b"1,2,3\n", False),
        (b"cos\nsystem\n", True),
        (b"(lp0\nI1\na.", True),
        (b"K\x05.", True),
        (b"\x80\x02}.", True),
    ],
)
def test_pickles_without_a_magic_are_recognised(content: bytes, expected: bool) -> None:
    assert pickle_scan.looks_like_pickle(io.BytesIO(content)) is expected


# --- the restricted unpickler ----------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        PROTO2 + _global("nosuch_module", "system") + b")R" + STOP,
        PROTO4 + _short("nosuch_module") + _short("system") + b"\x93" + STOP,
        PROTO4 + _short("collections") + _short("OrderedDict.__init__") + b"\x93" + STOP,
        b"(S'x'\ninosuch_module\nthing\n.",
    ],
    ids=["GLOBAL", "STACK_GLOBAL", "dotted", "INST"],
)
def test_the_restricted_unpickler_refuses_before_importing(data: bytes) -> None:
    # ModuleNotFoundError would mean that the import was attempted.
    with pytest.raises(pickle.UnpicklingError, match="allow-list"):
        RestrictedUnpickler(io.BytesIO(data)).load()


def test_the_restricted_unpickler_enforces_argument_shapes() -> None:
    data = PROTO2 + _global("_codecs", "encode") + _short("x") + _short("rot13") + b"\x86R."
    with pytest.raises(pickle.UnpicklingError, match="outside the allowed form"):
        RestrictedUnpickler(io.BytesIO(data)).load()


def test_the_verdict_comes_from_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    data = PROTO2 + _global("os", "system") + _short("true") + b"\x85R" + STOP
    assert _globals(analyse_pickle_stream(data, "p")) == {"os.system"}
    everything = ALLOWED_GLOBALS["collections", "OrderedDict"]
    monkeypatch.setattr(pickle_machine, "lookup", lambda module, name: everything)
    assert analyse_pickle_stream(data, "p") == []  # so the tests above can fail


def test_the_torch_entries_are_a_subset_of_torch_weights_only() -> None:
    from torch._weights_only_unpickler import _get_allowed_globals

    torch_allowed = set(_get_allowed_globals())
    ours = {entry.qualname for entry in ALLOWED_GLOBALS.values()}
    assert {name for name in ours if not name.startswith("numpy")} <= torch_allowed
    for entry in ALLOWED_GLOBALS.values():
        assert entry.why and "." not in entry.name
        assert entry.use == "call" or entry.args is None
