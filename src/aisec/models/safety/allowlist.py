"""The pickle globals that weights need, and nothing else: the allow-list enforced at scan and load.

Every block-list scanner for pickles has been bypassed by a callable it did not list (picklescan:
``pip.main``, CVE-2025-1716, Sonatype 2025; ``pkgutil.resolve_name``, GHSA-vvpj-8cmc-gx39, a
universal bypass; ``asyncio.unix_events._UnixSubprocessTransport``, CVE-2025-10157, JFrog 2025;
``timeit.timeit``, GHSA-v7x6-rv5q-mhwc; ``ensurepip._run_pip``, GHSA-xp4f-hrf8-rxw7; ``uuid`` and
other standard-library helpers, CVE-2026-56315). An allow-list inverts the burden: a global is
refused unless it is listed here, with the reason a weights file needs it.

Each entry also says *how* it may be used. ``"call"`` entries may be called by ``REDUCE``,
``NEWOBJ``, ``OBJ`` or ``INST``, optionally only with arguments of a given shape; ``"value"``
entries may only be referenced (a storage class inside a persistent id, a dtype, the array class
that numpy's ``_reconstruct`` receives), never called. Argument shapes are tuples of tokens:

- ``"str"``, ``"bool"``, ``"int"``, ``"number"`` (int or float), ``"list"``, ``"tuple"``: a
  value of that type; ``"bytes"``: bytes, including the ``_codecs.encode(text, "latin1")`` form
  that protocol 2 uses for them;
- ``"=text"``: exactly the string ``text``;
- ``"global:module.name"``: exactly that global (referenced, not called).

The torch part is a strict subset of ``torch.load(weights_only=True)``'s own allow-list
(``torch._weights_only_unpickler._get_allowed_globals``): anything aisec loads, torch's
weights-only unpickler loads too, except numpy arrays, which torch admits only after
``torch.serialization.add_safe_globals``. Left out on purpose: ``collections.Counter``,
``torch.Tensor`` and the tensor-subclass rebuilders (``torch._tensor._rebuild_from_type_v2``),
sparse and quantized tensors (``torch.serialization._get_layout``, ``_rebuild_sparse_tensor``,
``_rebuild_qtensor``), numpy scalars (``numpy.core.multiarray.scalar``), ``builtins.slice``,
and ``builtins.frozenset`` and ``builtins.bytes`` (frozensets and empty bytes at protocol 2,
which torch's weights-only unpickler refuses too): no state dict, optimizer state or plain
numpy array needs them.
"""

from __future__ import annotations

import _compat_pickle
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ALLOWED_GLOBALS",
    "AllowedGlobal",
    "Use",
    "lookup",
    "resolve_python2_name",
]

Use = Literal["call", "value"]


@dataclass(frozen=True)
class AllowedGlobal:
    """One global a weights file may reference.

    Attributes:
        module: the module, as the pickle names it after Python 2 names are mapped.
        name: the attribute of the module (never a dotted path).
        use: ``"call"`` (may be called) or ``"value"`` (may only be referenced).
        why: which weights need it.
        args: for ``"call"`` entries, the argument shapes accepted (any one of them); ``None``
            accepts any arguments built from allowed values.
    """

    module: str
    name: str
    use: Use
    why: str
    args: tuple[tuple[str, ...], ...] | None = None

    @property
    def qualname(self) -> str:
        """``module.name``."""
        return f"{self.module}.{self.name}"


_STORAGE_CLASSES = (
    "FloatStorage",
    "DoubleStorage",
    "HalfStorage",
    "BFloat16Storage",
    "LongStorage",
    "IntStorage",
    "ShortStorage",
    "CharStorage",
    "ByteStorage",
    "BoolStorage",
    "ComplexFloatStorage",
    "ComplexDoubleStorage",
)
"""The legacy typed storages that ``torch.save`` names in each tensor's persistent id."""

_DTYPES = (
    "float16",
    "float32",
    "float64",
    "bfloat16",
    "complex32",
    "complex64",
    "complex128",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "bool",
    "uint16",
    "uint32",
    "uint64",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
)
"""Dtypes pickle by name (``torch.float16``); ``_rebuild_tensor_v3`` receives one per tensor."""


def _entries() -> tuple[AllowedGlobal, ...]:
    """Build the allow-list (a function, so that the table reads top to bottom)."""
    tensors = (
        AllowedGlobal(
            "collections",
            "OrderedDict",
            "call",
            "state dicts are OrderedDicts, and so is their `_metadata` and each tensor's "
            "(empty) backward-hooks argument",
        ),
        AllowedGlobal(
            "torch._utils",
            "_rebuild_tensor_v2",
            "call",
            "rebuilds every dense tensor from (storage, offset, size, stride, requires_grad, "
            "hooks); the storage comes from torch's persistent_load, not from the pickle",
        ),
        AllowedGlobal(
            "torch._utils",
            "_rebuild_tensor_v3",
            "call",
            "the same for dtypes without a legacy storage class (uint16/32/64, float8)",
        ),
        AllowedGlobal(
            "torch._utils",
            "_rebuild_parameter",
            "call",
            "an nn.Parameter saved as such (a module's parameters outside a state dict)",
        ),
        AllowedGlobal(
            "torch",
            "Size",
            "call",
            "shapes kept in a checkpoint's metadata",
            args=(("tuple",),),
        ),
        AllowedGlobal(
            "torch",
            "device",
            "call",
            "devices kept in a checkpoint's metadata",
            args=(("str",), ("str", "int")),
        ),
        AllowedGlobal(
            "torch.storage",
            "UntypedStorage",
            "value",
            "the storage class in the persistent id of a tensor saved by _rebuild_tensor_v3",
        ),
    )
    storages = tuple(
        AllowedGlobal(
            "torch", name, "value", "the storage class in a tensor's persistent id (torch.save)"
        )
        for name in _STORAGE_CLASSES
    )
    dtypes = tuple(
        AllowedGlobal("torch", name, "value", "a dtype, pickled by name") for name in _DTYPES
    )
    builtins = (
        AllowedGlobal("builtins", "set", "call", "sets at protocol <= 3", args=(("list",),)),
        AllowedGlobal(
            "builtins",
            "complex",
            "call",
            "complex numbers (e.g. a complex hyperparameter)",
            args=(("number", "number"),),
        ),
        AllowedGlobal(
            "builtins", "bytearray", "call", "bytearrays at protocol <= 4", args=(("bytes",),)
        ),
        AllowedGlobal(
            "_codecs",
            "encode",
            "call",
            "bytes at protocol <= 2 (torch.save's default protocol): encode(text, 'latin1') "
            "only, since other codecs import modules and transform data",
            args=(("str", "=latin1"),),
        ),
    )
    reconstruct = tuple(
        AllowedGlobal(
            module,
            "_reconstruct",
            "call",
            "numpy arrays (object .npy files, arrays inside torch.save): an empty "
            "numpy.ndarray, whose state BUILD then sets",
            args=(("global:numpy.ndarray", "tuple", "bytes"),),
        )
        for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    )
    arrays = (
        AllowedGlobal("numpy", "ndarray", "value", "the array class that _reconstruct receives"),
        AllowedGlobal(
            "numpy",
            "dtype",
            "call",
            "an array's dtype: dtype(code, align, copy), whose state BUILD then sets",
            args=(("str", "bool", "bool"),),
        ),
    )
    return tensors + storages + dtypes + builtins + reconstruct + arrays


ALLOWED_GLOBALS: dict[tuple[str, str], AllowedGlobal] = {
    (entry.module, entry.name): entry for entry in _entries()
}
"""The allow-list, keyed by ``(module, name)``; read-only by convention."""


def lookup(module: str, name: str) -> AllowedGlobal | None:
    """The allow-list entry of ``module.name``, or ``None`` when it is not allowed.

    The match is exact: a dotted ``name`` (``"OrderedDict.__init__"``, which protocol 4
    resolves attribute by attribute) is never allowed.
    """
    return ALLOWED_GLOBALS.get((module, name))


def resolve_python2_name(module: str, name: str, protocol: int) -> tuple[str, str]:
    """The global that ``pickle`` really imports for a ``(module, name)`` pair.

    Below protocol 3, the unpickler maps Python 2 names to Python 3 ones
    (``__builtin__.set`` -> ``builtins.set``, and also ``commands`` -> ``subprocess``), so the
    scan must judge the mapped name, as :mod:`pickle` does with ``fix_imports=True``.
    """
    if protocol >= 3:
        return module, name
    if (module, name) in _compat_pickle.NAME_MAPPING:
        mapped: tuple[str, str] = _compat_pickle.NAME_MAPPING[(module, name)]
        return mapped
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name
