"""``torchscript:FILE`` (or a ``.pt``/``.ts`` path): a TorchScript archive.

A TorchScript archive carries its architecture as TorchScript code and its weights; no Python
class is needed. It is loaded with ``torch.jit.load``, which does **not** unpickle arbitrary
Python globals: the archive's pickles are read by TorchScript's own unpickler, which can only
build TorchScript types. The residual risk is that the archive's *code* is TorchScript, run by
the TorchScript interpreter: at load time (``__setstate__`` methods) and at every forward pass
it executes whatever operators the code calls, and the operator set includes more than maths
(e.g. printing, and any custom operators registered by libraries loaded in the process). A
malformed archive has also triggered memory-safety bugs in the C++ reader in the past. Load
TorchScript files from people you would trust to run code, or convert them to safetensors.

A ``torch.save`` file (a state dict or a pickled module) is not TorchScript: it is refused with
a message that says how to load it (``module:`` or ``torchvision:`` with ``--weights``).
"""

from __future__ import annotations

import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from aisec.models.sources.common import (
    Preprocess,
    check_file,
    finish,
    refuse_weights,
    resolve_input_size,
)
from aisec.models.sources.spec import LoadedModel, LoadOptions, ModelSource

__all__ = ["TORCHSCRIPT_SUFFIXES", "TorchScriptSource"]

TORCHSCRIPT_SUFFIXES: tuple[str, ...] = (".pt", ".ts", ".pth", ".zip", ".torchscript")


@dataclass(frozen=True)
class TorchScriptSource(ModelSource):
    """A TorchScript archive written by ``torch.jit.save`` (``torch.jit.script``/``trace``).

    Attributes:
        path: the archive.
    """

    path: Path
    kind: ClassVar[str] = "torchscript"
    needs: ClassVar[str] = (
        "the input size; optional mean/std (else the model takes [0, 1] images) and class names"
    )

    def __str__(self) -> str:
        return f"torchscript:{self.path}"

    def load(self, options: LoadOptions) -> LoadedModel:
        """Load the archive on the CPU and put the adapter in front of it.

        Raises:
            ValueError: a missing file, a file that is not TorchScript, no input size, or
                ``weights`` given (the archive holds its weights).
        """
        check_file(self.path, str(self), TORCHSCRIPT_SUFFIXES)
        refuse_weights(self, options)
        size = resolve_input_size(self, options, None)
        network = _load_archive(self.path, str(self))
        notes = (
            [] if options.mean else ["no normalisation given: the model must take [0, 1] images"]
        )
        preprocess = Preprocess(
            scale=options.pixel_scale or 1.0, mean=options.mean, std=options.std
        )
        return finish(
            self,
            network,
            preprocess,
            options,
            input_shape=(options.channels or 3, *size),
            class_names=None,
            white_box=True,
            notes=notes,
        )


def _load_archive(path: Path, source: str) -> nn.Module:
    _check_is_torchscript(path, source)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit is deprecated upstream
            network: nn.Module = torch.jit.load(str(path), map_location="cpu")
    except RuntimeError as error:
        raise ValueError(f"{source}: torch.jit.load failed: {error}") from error
    return network


def _check_is_torchscript(path: Path, source: str) -> None:
    """Refuse files that are not TorchScript archives before ``torch.jit.load`` reads them."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        raise ValueError(
            f"{source}: not a TorchScript archive (not a zip file: {error}); save one with "
            "torch.jit.save(torch.jit.script(model), path)"
        ) from error
    if any(name.endswith("/constants.pkl") or name == "constants.pkl" for name in names):
        return
    if any(name.endswith("data.pkl") for name in names):
        raise ValueError(
            f"{source}: this is a torch.save file (a state dict or a pickled model), not "
            "TorchScript; load its weights into an architecture instead: "
            "module:pkg.mod:factory or torchvision:NAME with weights=FILE (--weights FILE)"
        )
    raise ValueError(f"{source}: not a TorchScript archive (no constants.pkl inside)")
