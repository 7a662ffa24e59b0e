"""Reference solution of the ``pickle_globals`` exercise (chapter 6).

A small symbolic stack: strings are tracked (and memoized) so that STACK_GLOBAL can be resolved;
everything else is an opaque placeholder. Markers keep MARK-based opcodes honest enough for the
two strings before a STACK_GLOBAL.
"""

import io
import pickletools

_STRINGS = {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
            "BINSTRING", "SHORT_BINSTRING"}  # fmt: skip
_GETS = {"GET", "BINGET", "LONG_BINGET"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}


def pickle_globals(data: bytes) -> set[tuple[str, str]]:
    """Every (module, name) that unpickling ``data`` would import; nothing is unpickled."""
    found: set[tuple[str, str]] = set()
    stream = io.BytesIO(data)
    while stream.tell() < len(data):  # one pickle after another, until the bytes end
        stack: list[object] = []
        memo: dict[int, object] = {}
        for opcode, argument, _position in pickletools.genops(stream):
            name = opcode.name
            if name in ("GLOBAL", "INST"):
                module, _space, attribute = str(argument).partition(" ")
                found.add((module, attribute))
                stack.append(None)
            elif name == "STACK_GLOBAL":
                top = stack.pop() if stack else None  # the name, pushed last
                below = stack.pop() if stack else None  # the module
                if isinstance(below, str) and isinstance(top, str):
                    found.add((below, top))
                else:
                    found.add(("?", "?"))  # not constant strings: refuse rather than guess
                stack.append(None)
            elif name in _STRINGS:
                stack.append(argument if isinstance(argument, str) else str(argument))
            elif name == "MEMOIZE":
                memo[len(memo)] = stack[-1] if stack else None
            elif name in _PUTS:
                memo[int(str(argument))] = stack[-1] if stack else None
            elif name in _GETS:
                stack.append(memo.get(int(str(argument))))
            else:
                stack.append(None)  # any other value: only its position matters here
            if name == "STOP":
                break
    return found
