"""Exercise ``pickle_globals`` (chapter 6, docs/06-your-own-model.md): a pickle's imports.

A pickle runs whatever callables it imports. Write pickle_globals(data), which returns every
(module, name) a byte string of pickles would import, without unpickling it: walk the opcodes
with pickletools.genops and read GLOBAL and INST (their argument is "module name"), and
STACK_GLOBAL (module and name are the two strings pushed before it: follow the memo for strings
that MEMOIZE stored and BINGET/LONG_BINGET fetch). An attacker can hide a second pickle after the
first STOP: keep reading until the bytes end.

Check it:  aisec exercise check pickle_globals
"""


def pickle_globals(data: bytes) -> set[tuple[str, str]]:
    """Every (module, name) that unpickling ``data`` would import; nothing is unpickled."""
    raise NotImplementedError
