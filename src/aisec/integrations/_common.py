"""Helpers shared by the ART and Foolbox adapters: lazy imports, model wrapping, devices."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

import torch
from torch import Tensor, nn

from aisec.models.plumbing import Model

__all__ = ["CallableModule", "frozen_parameters", "import_optional", "model_device", "seeded"]


def import_optional(module: str, *, extra: str, package: str) -> ModuleType:
    """Import ``module`` of an optional dependency, or fail with the install command.

    Raises:
        ImportError: naming ``pip install "aisec[extra]"`` if the package (or one of its
            undeclared dependencies, such as ART's ``packaging``) is missing.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ImportError(
            f"{package} is needed for this feature but could not be imported ({error}); "
            f'install it with: pip install "aisec[{extra}]"'
        ) from error


class CallableModule(nn.Module):
    """An ``nn.Module`` around any classifier callable (such as a call-counting wrapper).

    The wrapped callable is *not* registered as a sub-module, so libraries that call
    ``.train()``/``.eval()``/``.to()`` on this module never change the caller's model.
    """

    def __init__(self, fn: Model) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: Tensor) -> Tensor:
        return self.fn(x)


def model_device(model: object, default: torch.device | str | None = None) -> torch.device:
    """The device of ``model``'s first parameter or buffer, else ``default``, else the CPU."""
    if default is not None:
        return torch.device(default)
    if isinstance(model, nn.Module):
        for tensor in (*model.parameters(), *model.buffers()):
            return tensor.device
    return torch.device("cpu")


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed NumPy's and torch's global generators for a library that uses them, then restore.

    ART and Foolbox draw their random starts from the global generators; this keeps their runs
    reproducible without leaving the caller's global random state changed.
    """
    import numpy as np

    state = np.random.get_state()
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            np.random.seed(seed)
            yield
    finally:
        np.random.set_state(state)


@contextmanager
def frozen_parameters(model: object) -> Iterator[None]:
    """Stop gradients to ``model``'s parameters for the duration (restored afterwards).

    ART computes input gradients with ``loss.backward()``, which would also compute (and leave
    behind in ``.grad``) every parameter's gradient: slower, and a side effect on the caller's
    model. ``model`` may be an ``nn.Module`` or a wrapper with a ``.model`` attribute (such as
    aisec's call-counting wrapper); anything else is left alone.
    """
    module = model if isinstance(model, nn.Module) else getattr(model, "model", None)
    params = (
        [p for p in module.parameters() if p.requires_grad] if isinstance(module, nn.Module) else []
    )
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)
