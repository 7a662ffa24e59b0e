"""Safe loading: scan model files against an allow-list, then load them through it.

Loading someone else's model file is an attack surface: ``torch.load`` of a pickle runs code,
Keras configs import modules, GGUF chat templates are rendered. Block-list scanners (picklescan,
modelscan) have been bypassed again and again (more than a dozen published bypasses since 2025:
``pip.main``, CVE-2025-1716; ``pkgutil.resolve_name``, GHSA-vvpj-8cmc-gx39; zip tricks,
CVE-2025-1944/1945/10156; odd extensions, CVE-2025-1889/10155; ``asyncio`` internals,
CVE-2025-10157; standard-library helpers, CVE-2026-56315). This package inverts the burden:

- :func:`scan_paths` / :func:`scan_file` judge files by content (torch zip and legacy
  checkpoints, pickles, ``.npy``/``.npz``, safetensors, ``.keras`` and HDF5, GGUF, tokenizer
  JSON, nested and compressed archives) and refuse every pickle global outside
  :data:`ALLOWED_GLOBALS`, without importing, unpickling, deserializing or rendering anything;
- :func:`safe_torch_load` loads a checkpoint only when the scan is clean, through
  :class:`RestrictedUnpickler`; ``trust_pickle=True`` is the logged escape hatch.

Example:
    >>> from aisec.models.safety import safe_torch_load, scan_paths
    >>> report = scan_paths(["downloads/model.bin"])          # doctest: +SKIP
    >>> state = safe_torch_load("downloads/model.bin")          # doctest: +SKIP
"""

from __future__ import annotations

from aisec.models.safety.allowlist import ALLOWED_GLOBALS, AllowedGlobal
from aisec.models.safety.findings import FileScan, Finding, ScanReport, Verdict
from aisec.models.safety.scanner import scan_bytes, scan_file, scan_paths
from aisec.models.safety.unpickler import RestrictedUnpickler, UnsafeModelError, safe_torch_load

__all__ = [
    "ALLOWED_GLOBALS",
    "AllowedGlobal",
    "FileScan",
    "Finding",
    "RestrictedUnpickler",
    "ScanReport",
    "UnsafeModelError",
    "Verdict",
    "safe_torch_load",
    "scan_bytes",
    "scan_file",
    "scan_paths",
]
