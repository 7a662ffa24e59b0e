"""The symbolic pickle machine: values as descriptions, one handler per opcode.

:class:`Machine` runs a pickle's opcodes on a stack of *descriptions* (:data:`Sym`: a constant,
a tuple of known items, a container, an imported global, the result of calling one, or something
opaque), never on Python objects, so nothing is imported and nothing runs. Importing a global
outside :mod:`aisec.models.safety.allowlist`, calling anything but a callable entry with
arguments of its declared shape, modifying a global, and ``EXT`` opcodes are recorded as
findings; a stream that does not decode raises :class:`MalformedError`.
:mod:`aisec.models.safety.pickle_scan` drives it over whole streams.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aisec.models.safety.allowlist import AllowedGlobal, lookup, resolve_python2_name
from aisec.models.safety.findings import Finding

__all__ = [
    "Const",
    "Container",
    "GlobalRef",
    "Machine",
    "Made",
    "MalformedError",
    "Opaque",
    "Sym",
    "TupleOf",
]


# --- symbolic values -------------------------------------------------------------------------


@dataclass(frozen=True)
class Const:
    """A constant pushed by the stream (str, bytes, int, float, bool or None)."""

    value: object


@dataclass(frozen=True)
class GlobalRef:
    """A global the stream imported; ``allowed`` is its allow-list entry, if any."""

    qualname: str
    allowed: AllowedGlobal | None


@dataclass(frozen=True)
class TupleOf:
    """A tuple whose items are known."""

    items: tuple[Sym, ...]


@dataclass(frozen=True)
class Container:
    """A list, dict, set, frozenset or bytearray (its items are not tracked)."""

    kind: str


@dataclass(frozen=True)
class Made:
    """What calling the allow-listed global ``callee`` returned."""

    callee: str


@dataclass(frozen=True)
class Opaque:
    """A value the scan cannot describe (a persistent id, an out-of-band buffer, ...)."""

    what: str


Sym = Const | GlobalRef | TupleOf | Container | Made | Opaque


class MalformedError(Exception):
    """The stream cannot be decoded as a pickle."""


# --- the symbolic machine --------------------------------------------------------------------


class Machine:
    """Runs one pickle's opcodes on a symbolic stack and records findings."""

    def __init__(self, entry: str) -> None:
        self.entry = entry
        self.stack: list[Sym] = []
        self.metastack: list[list[Sym]] = []
        self.memo: dict[int, Sym] = {}
        self.protocol = 0
        self.offset = 0
        self.findings: dict[tuple[str | None, str], Finding] = {}

    # stack primitives

    def push(self, value: Sym) -> None:
        self.stack.append(value)

    def pop(self) -> Sym:
        if not self.stack:
            raise MalformedError(f"stack underflow at byte {self.offset}")
        return self.stack.pop()

    def top(self) -> Sym:
        if not self.stack:
            raise MalformedError(f"empty stack at byte {self.offset}")
        return self.stack[-1]

    def mark(self) -> None:
        self.metastack.append(self.stack)
        self.stack = []

    def pop_mark(self) -> list[Sym]:
        if not self.metastack:
            raise MalformedError(f"no MARK to pop at byte {self.offset}")
        items = self.stack
        self.stack = self.metastack.pop()
        return items

    # findings

    def flag(self, reason: str, global_name: str | None = None) -> None:
        key = (global_name, reason)
        if key not in self.findings:
            self.findings[key] = Finding(self.entry, reason, global_name, self.offset)

    # globals and calls

    def import_global(self, module: str, name: str) -> GlobalRef:
        mapped_module, mapped_name = resolve_python2_name(module, name, self.protocol)
        qualname = f"{mapped_module}.{mapped_name}"
        allowed = lookup(mapped_module, mapped_name)
        if allowed is None:
            mapped = (mapped_module, mapped_name) != (module, name)
            written = f" (written {module}.{name})" if mapped else ""
            self.flag(f"imports a global that is not on the allow-list{written}", qualname)
        return GlobalRef(qualname, allowed)

    def call(self, function: Sym, args: Sym, opcode: str, kwargs: Sym | None = None) -> None:
        if not isinstance(function, GlobalRef):
            self.flag(f"{opcode} calls a value the pickle built itself, not an allowed global")
            self.push(Opaque(f"result of {opcode}"))
            return
        entry = function.allowed
        if entry is not None and entry.use == "value":
            self.flag(
                f"{opcode} calls a global the allow-list admits only as a value", function.qualname
            )
        elif entry is not None and not _arguments_allowed(entry, args, kwargs):
            shapes = " or ".join(f"({', '.join(shape)})" for shape in entry.args or ())
            self.flag(
                f"{opcode} calls it with arguments outside the allowed form {shapes}",
                function.qualname,
            )
        self.push(Made(function.qualname))

    def modify(self, target: Sym, opcode: str) -> None:
        if isinstance(target, GlobalRef):
            self.flag(
                f"{opcode} modifies an imported global itself (sets its attributes or items)",
                target.qualname,
            )

    # the opcodes

    def step(self, name: str, arg: Any) -> None:
        handler = _HANDLERS.get(name)
        if handler is None:
            raise MalformedError(f"opcode {name} is not handled")
        handler(self, arg)


_Handler = Callable[[Machine, Any], None]


def _const(machine: Machine, arg: Any) -> None:
    machine.push(Const(arg))


def _string(machine: Machine, arg: Any) -> None:
    # Python 3 decodes protocol-0/1 strings to str (with the unpickler's encoding).
    machine.push(Const(arg.decode("latin-1") if isinstance(arg, bytes) else arg))


def _fixed(value: Sym) -> _Handler:
    def handler(machine: Machine, arg: Any) -> None:
        machine.push(value)

    return handler


def _tuple_n(count: int) -> _Handler:
    def handler(machine: Machine, arg: Any) -> None:
        items = [machine.pop() for _ in range(count)][::-1]
        machine.push(TupleOf(tuple(items)))

    return handler


def _mark(machine: Machine, arg: Any) -> None:
    machine.mark()


def _tuple(machine: Machine, arg: Any) -> None:
    machine.push(TupleOf(tuple(machine.pop_mark())))


def _collection(kind: str) -> _Handler:
    def handler(machine: Machine, arg: Any) -> None:
        items = machine.pop_mark()
        if kind == "dict" and len(items) % 2:
            raise MalformedError(f"DICT with an odd number of items at byte {machine.offset}")
        machine.push(Container(kind))

    return handler


def _append(machine: Machine, arg: Any) -> None:
    machine.pop()
    machine.modify(machine.top(), "APPEND")


def _setitem(machine: Machine, arg: Any) -> None:
    machine.pop()
    machine.pop()
    machine.modify(machine.top(), "SETITEM")


def _marked_update(opcode: str) -> _Handler:
    def handler(machine: Machine, arg: Any) -> None:
        items = machine.pop_mark()
        if opcode == "SETITEMS" and len(items) % 2:
            raise MalformedError(f"SETITEMS with an odd number of items at byte {machine.offset}")
        machine.modify(machine.top(), opcode)

    return handler


def _build(machine: Machine, arg: Any) -> None:
    machine.pop()
    machine.modify(machine.top(), "BUILD")


def _pop(machine: Machine, arg: Any) -> None:
    if machine.stack:
        machine.stack.pop()
    else:
        machine.pop_mark()


def _pop_mark(machine: Machine, arg: Any) -> None:
    machine.pop_mark()


def _dup(machine: Machine, arg: Any) -> None:
    machine.push(machine.top())


def _get(machine: Machine, arg: Any) -> None:
    if arg not in machine.memo:
        raise MalformedError(f"memo key {arg} read before it is written (byte {machine.offset})")
    machine.push(machine.memo[arg])


def _put(machine: Machine, arg: Any) -> None:
    if not isinstance(arg, int) or arg < 0:
        raise MalformedError(f"invalid memo key {arg!r} at byte {machine.offset}")
    machine.memo[arg] = machine.top()


def _memoize(machine: Machine, arg: Any) -> None:
    machine.memo[len(machine.memo)] = machine.top()


def _global(machine: Machine, arg: Any) -> None:
    module, _, name = str(arg).partition(" ")
    machine.push(machine.import_global(module, name))


def _stack_global(machine: Machine, arg: Any) -> None:
    name = machine.pop()
    module = machine.pop()
    if not (
        isinstance(module, Const)
        and isinstance(module.value, str)
        and isinstance(name, Const)
        and isinstance(name.value, str)
    ):
        machine.flag(
            "STACK_GLOBAL's module and name are not constant strings: the global it "
            "imports cannot be resolved statically"
        )
        machine.push(Opaque("unresolved global"))
        return
    machine.push(machine.import_global(module.value, name.value))


def _inst(machine: Machine, arg: Any) -> None:
    module, _, name = str(arg).partition(" ")
    args = machine.pop_mark()
    machine.call(machine.import_global(module, name), TupleOf(tuple(args)), "INST")


def _obj(machine: Machine, arg: Any) -> None:
    items = machine.pop_mark()
    if not items:
        raise MalformedError(f"OBJ without a class at byte {machine.offset}")
    machine.call(items[0], TupleOf(tuple(items[1:])), "OBJ")


def _reduce(machine: Machine, arg: Any) -> None:
    args = machine.pop()
    machine.call(machine.pop(), args, "REDUCE")


def _newobj(machine: Machine, arg: Any) -> None:
    args = machine.pop()
    machine.call(machine.pop(), args, "NEWOBJ")


def _newobj_ex(machine: Machine, arg: Any) -> None:
    kwargs = machine.pop()
    args = machine.pop()
    machine.call(machine.pop(), args, "NEWOBJ_EX", kwargs)


def _persid(machine: Machine, arg: Any) -> None:
    machine.push(Opaque("persistent id"))


def _binpersid(machine: Machine, arg: Any) -> None:
    machine.pop()
    machine.push(Opaque("persistent id"))


def _ext(machine: Machine, arg: Any) -> None:
    machine.flag(
        f"EXT opcode (code {arg}): the global comes from the process's copyreg "
        "extension registry, not from the file, and the unpickler may skip find_class"
    )
    machine.push(Opaque("extension"))


def _proto(machine: Machine, arg: Any) -> None:
    if not isinstance(arg, int) or not 0 <= arg <= 5:
        raise MalformedError(f"unsupported protocol {arg!r}")
    machine.protocol = arg


def _nothing(machine: Machine, arg: Any) -> None:
    return None


def _next_buffer(machine: Machine, arg: Any) -> None:
    machine.push(Opaque("out-of-band buffer"))


def _readonly_buffer(machine: Machine, arg: Any) -> None:
    machine.top()


_HANDLERS: dict[str, _Handler] = {
    **{
        name: _const
        for name in (
            "INT",
            "BININT",
            "BININT1",
            "BININT2",
            "LONG",
            "LONG1",
            "LONG4",
            "FLOAT",
            "BINFLOAT",
            "BINBYTES",
            "SHORT_BINBYTES",
            "BINBYTES8",
            "UNICODE",
            "SHORT_BINUNICODE",
            "BINUNICODE",
            "BINUNICODE8",
        )
    },
    **{name: _string for name in ("STRING", "BINSTRING", "SHORT_BINSTRING")},
    "NONE": _fixed(Const(None)),
    "NEWTRUE": _fixed(Const(True)),
    "NEWFALSE": _fixed(Const(False)),
    "BYTEARRAY8": _fixed(Container("bytearray")),
    "EMPTY_LIST": _fixed(Container("list")),
    "EMPTY_DICT": _fixed(Container("dict")),
    "EMPTY_SET": _fixed(Container("set")),
    "EMPTY_TUPLE": _fixed(TupleOf(())),
    "MARK": _mark,
    "TUPLE": _tuple,
    "TUPLE1": _tuple_n(1),
    "TUPLE2": _tuple_n(2),
    "TUPLE3": _tuple_n(3),
    "LIST": _collection("list"),
    "DICT": _collection("dict"),
    "FROZENSET": _collection("frozenset"),
    "APPEND": _append,
    "APPENDS": _marked_update("APPENDS"),
    "SETITEM": _setitem,
    "SETITEMS": _marked_update("SETITEMS"),
    "ADDITEMS": _marked_update("ADDITEMS"),
    "BUILD": _build,
    "POP": _pop,
    "POP_MARK": _pop_mark,
    "DUP": _dup,
    "GET": _get,
    "BINGET": _get,
    "LONG_BINGET": _get,
    "PUT": _put,
    "BINPUT": _put,
    "LONG_BINPUT": _put,
    "MEMOIZE": _memoize,
    "GLOBAL": _global,
    "STACK_GLOBAL": _stack_global,
    "INST": _inst,
    "OBJ": _obj,
    "REDUCE": _reduce,
    "NEWOBJ": _newobj,
    "NEWOBJ_EX": _newobj_ex,
    "PERSID": _persid,
    "BINPERSID": _binpersid,
    "EXT1": _ext,
    "EXT2": _ext,
    "EXT4": _ext,
    "PROTO": _proto,
    "FRAME": _nothing,
    "NEXT_BUFFER": _next_buffer,
    "READONLY_BUFFER": _readonly_buffer,
}


# --- argument shapes -------------------------------------------------------------------------


def _token_matches(token: str, value: Sym) -> bool:
    """Whether a symbolic argument has the shape ``token`` (see the allowlist module)."""
    if token.startswith("="):
        return value == Const(token[1:])
    if token.startswith("global:"):
        return isinstance(value, GlobalRef) and value.qualname == token.removeprefix("global:")
    if token == "tuple":
        return isinstance(value, TupleOf)
    if token == "list":
        return value == Container("list")
    if token == "bytes":
        return _is_bytes(value)
    if not isinstance(value, Const):
        return False
    return _const_matches(token, value.value)


def _is_bytes(value: Sym) -> bool:
    if isinstance(value, Const):
        return isinstance(value.value, bytes)
    return isinstance(value, Made) and value.callee == "_codecs.encode"


def _const_matches(token: str, value: object) -> bool:
    if token == "str":
        return isinstance(value, str)
    if token == "bool":
        return isinstance(value, bool)
    if token == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if token == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return False


def _arguments_allowed(entry: AllowedGlobal, args: Sym, kwargs: Sym | None) -> bool:
    """Whether a call's arguments have one of the entry's shapes (any, if it declares none).

    NEWOBJ_EX's keyword arguments are not tracked: no entry with shapes accepts any.
    """
    if entry.args is None:
        return True
    return kwargs is None and _matches_any(args, entry.args)


def _matches_any(args: Sym, shapes: tuple[tuple[str, ...], ...]) -> bool:
    if not isinstance(args, TupleOf):
        return False
    return any(
        len(shape) == len(args.items)
        and all(_token_matches(token, item) for token, item in zip(shape, args.items, strict=True))
        for shape in shapes
    )
