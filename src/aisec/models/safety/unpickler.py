"""Load torch checkpoints through the allow-list: scan first, then a restricted unpickler.

:func:`safe_torch_load` reads the file once into memory, scans those bytes
(:func:`~aisec.models.safety.scanner.scan_bytes`) and, only when the scan finds nothing, loads
the *same* bytes (no second read that an attacker could swap) with ``torch.load``, giving it
:class:`RestrictedUnpickler` as its pickle module, so that every global the pickle imports goes
through :mod:`~aisec.models.safety.allowlist` a second time, at load time. Safetensors files are
loaded with ``safetensors``, which has no code path.

How this relates to ``torch.load(weights_only=True)``: torch's weights-only unpickler is an
allow-list of its own, enforced at load time; aisec's torch entries are a subset of it. The
gate here is aisec's: the scan (which also refuses TorchScript archives, archives that
Python's zip reader rejects but PyTorch's accepts, ``EXT`` opcodes and pickles it cannot
decode, and reports every finding before anything runs) and the restricted unpickler, which
``torch.load`` can only use with ``weights_only=False`` (it refuses a custom pickle module
otherwise). Its ``find_class`` returns an allow-listed object or raises; the allow-list's
argument shapes are enforced by wrapping those callables. Both flags are passed explicitly, so
``TORCH_FORCE_WEIGHTS_ONLY_LOAD``/``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot change them.

``trust_pickle=True`` is the explicit escape hatch: it logs a warning with the findings and
loads with plain ``torch.load(weights_only=False)``, which runs any code the file holds.
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import pickle
import types
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import torch

from aisec.models.safety.allowlist import AllowedGlobal, lookup, resolve_python2_name
from aisec.models.safety.findings import FileScan, Verdict
from aisec.models.safety.pickle_scan import TORCH_LEGACY_MAGIC
from aisec.models.safety.scanner import scan_bytes

__all__ = ["RestrictedUnpickler", "UnsafeModelError", "safe_torch_load"]

_logger = logging.getLogger(__name__)


class UnsafeModelError(ValueError):
    """A model file the scan refused; ``scan`` holds the findings."""

    def __init__(self, scan: FileScan) -> None:
        self.scan = scan
        lines = [
            f"  {finding.entry}: {finding.global_name + ': ' if finding.global_name else ''}"
            f"{finding.reason}"
            for finding in scan.findings
        ]
        super().__init__(
            f"{scan.path} is unsafe to load ({len(lines)} finding(s)); load it with "
            "trust_pickle=True only if you trust its author:\n" + "\n".join(lines)
        )


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` returns only allow-listed globals.

    Anything else raises :class:`pickle.UnpicklingError` before it is imported. Allow-list
    entries with argument shapes are returned wrapped, so that calling them with other
    arguments raises too. Use it alone for plain pickles, after a scan: the ``EXT`` opcodes can
    reach globals that a process cached earlier without calling ``find_class``.
    """

    def find_class(self, module: str, name: str) -> Any:
        """Resolve ``module.name`` if the allow-list admits it; raise otherwise."""
        mapped_module, mapped_name = resolve_python2_name(module, name, protocol=2)
        entry = lookup(mapped_module, mapped_name)
        if entry is None:
            raise pickle.UnpicklingError(
                f"global {module}.{name} is not on aisec's allow-list of weights globals"
            )
        return _resolve(entry)


def _import_attribute(module: str, name: str) -> Any:
    if module.startswith("numpy.core."):  # numpy >= 2 keeps these in numpy._core
        try:
            return getattr(importlib.import_module("numpy._core." + module[11:]), name)
        except ImportError:
            pass
    return getattr(importlib.import_module(module), name)


def _resolve(entry: AllowedGlobal) -> Any:
    value = _import_attribute(entry.module, entry.name)
    if entry.use == "call" and entry.args is not None:
        return _checked(value, entry)
    return value


def _checked(function: Callable[..., Any], entry: AllowedGlobal) -> Callable[..., Any]:
    """Wrap an allow-listed callable so that it accepts only its declared argument shapes."""

    def call(*args: Any, **kwargs: Any) -> Any:
        assert entry.args is not None  # checked by _resolve
        if kwargs or not any(_shape_matches(shape, args) for shape in entry.args):
            raise pickle.UnpicklingError(
                f"{entry.qualname} called with arguments outside the allowed form"
            )
        return function(*args)

    return call


def _shape_matches(shape: tuple[str, ...], args: tuple[Any, ...]) -> bool:
    return len(shape) == len(args) and all(
        _token_matches(token, arg) for token, arg in zip(shape, args, strict=True)
    )


def _token_matches(token: str, value: Any) -> bool:
    if token.startswith("="):
        return isinstance(value, str) and value == token[1:]
    if token.startswith("global:"):
        module, _, name = token.removeprefix("global:").rpartition(".")
        return value is _import_attribute(module, name)
    checks: dict[str, Callable[[Any], bool]] = {
        "str": lambda v: isinstance(v, str),
        "bool": lambda v: isinstance(v, bool),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bytes": lambda v: isinstance(v, bytes),
        "list": lambda v: isinstance(v, list),
        "tuple": lambda v: isinstance(v, tuple),
    }
    return token in checks and checks[token](value)


def _restricted_load(file: IO[bytes], **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


def _restricted_pickle_module() -> types.SimpleNamespace:
    """What ``torch.load(pickle_module=...)`` uses: ``Unpickler`` and ``load``."""
    return types.SimpleNamespace(
        __name__=__name__, Unpickler=RestrictedUnpickler, load=_restricted_load
    )


def safe_torch_load(
    path: str | os.PathLike[str],
    *,
    map_location: str | torch.device = "cpu",
    trust_pickle: bool = False,
) -> Any:
    """Load a torch checkpoint (or safetensors file) only if the scan finds nothing in it.

    Args:
        path: a ``torch.save`` file (zip archive, or the legacy pickle format) or a
            safetensors file, whatever its extension.
        map_location: where tensors go (default: the CPU).
        trust_pickle: skip the gate: log a warning with the findings and load with
            ``torch.load(weights_only=False)``, which runs any code in the file. Only for files
            whose author you trust.

    Returns:
        What was saved (a state dict, an optimizer state, a dict of tensors ...).

    Raises:
        UnsafeModelError: the scan found something (its ``scan`` lists the findings).
        ValueError: the file is missing, or is not a torch checkpoint (zip archive or legacy
            stream) or safetensors file; legacy tar checkpoints are scanned but not loaded.
        pickle.UnpicklingError: the restricted unpickler refused a global or its arguments.
    """
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"{file} is not a file (expected a torch checkpoint)")
    data = file.read_bytes()
    scan = scan_bytes(data, str(file))
    if trust_pickle:
        return _load_trusted(data, scan, map_location)
    if scan.verdict is Verdict.UNSAFE:
        raise UnsafeModelError(scan)
    if scan.formats == ("safetensors",):
        return _load_safetensors(data, map_location)
    if not _is_torch_checkpoint(data):
        raise ValueError(
            f"{file} is not a torch checkpoint or safetensors file (found: "
            f"{', '.join(scan.formats) or 'no known format'})"
        )
    return torch.load(
        io.BytesIO(data),
        map_location=map_location,
        pickle_module=_restricted_pickle_module(),
        weights_only=False,
        mmap=False,
    )


def _is_torch_checkpoint(data: bytes) -> bool:
    """A torch zip archive (as ``torch.load`` decides: by its first bytes) or a legacy stream."""
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = archive.namelist()
        except zipfile.BadZipFile:
            return False
        return any(name.count("/") == 1 and name.endswith("/data.pkl") for name in names)
    return any(
        data.startswith(pickle.dumps(TORCH_LEGACY_MAGIC, protocol=protocol))
        for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1)
    )


def _load_trusted(data: bytes, scan: FileScan, map_location: str | torch.device) -> Any:
    findings = "; ".join(
        f"{finding.entry}: {finding.global_name or ''} {finding.reason}".strip()
        for finding in scan.findings
    )
    _logger.warning(
        "trust_pickle=True: loading %s with torch.load(weights_only=False), which runs any "
        "code the file holds; the scan found %d finding(s)%s",
        scan.path,
        len(scan.findings),
        f": {findings}" if findings else "",
    )
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=False)


def _load_safetensors(data: bytes, map_location: str | torch.device) -> dict[str, torch.Tensor]:
    from safetensors.torch import load

    tensors: dict[str, torch.Tensor] = load(data)
    return {name: tensors[name].to(map_location) for name in sorted(tensors)}
