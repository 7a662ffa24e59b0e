"""Peak memory of one benchmark row: GPU memory on CUDA, resident memory on the CPU.

On CUDA, the peak of ``torch.cuda.max_memory_allocated`` during the call, above what was
allocated before it. On a CPU (Linux), the process's resident-set high-water mark (``VmHWM``) is
reset through ``/proc/self/clear_refs`` before the call, after freed memory is handed back to
the system (``malloc_trim``), and the peak is reported above the resident size at the start. It
counts everything the call brings into memory (tensors, autograd graphs, allocator slack), so it
is an upper bound on what the attack itself needs; memory the call reuses from earlier, already
resident pages is not counted. Where neither is available the peak is ``None``.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch

T = TypeVar("T")
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _trim() -> None:
    gc.collect()
    name = ctypes.util.find_library("c")
    if name is not None:
        with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to trim
            ctypes.CDLL(name).malloc_trim(0)


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return True


def peak_memory_mib(run: Callable[[], T], device: torch.device) -> tuple[T, float | None]:
    """``(run(), peak MiB above the memory in use before the call)``; ``None`` if unmeasurable."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        result = run()
        torch.cuda.synchronize(device)
        return result, (torch.cuda.max_memory_allocated(device) - before) / 2**20
    _trim()
    before = _status_kib("VmRSS")
    if before is None or not _reset_high_water_mark():
        return run(), None
    result = run()
    peak = _status_kib("VmHWM")
    return result, None if peak is None else max(peak - before, 0) / 1024
