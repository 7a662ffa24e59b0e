"""Weights files for sources that hold only an architecture (``torchvision:``, ``module:``).

Two formats are read:

- **safetensors** (``.safetensors``): tensors only, no code; read with
  :func:`safetensors.torch.load_file`. Preferred.
- **a pickled state dict** (``.pt``, ``.pth``, ``.bin``, ``.ckpt``): read by
  :func:`_load_state_dict` alone, which is the one place in this package that opens a
  pickle-based file. It goes through :func:`aisec.models.safety.safe_torch_load`: the file's
  bytes are scanned against aisec's allow-list of the globals weights need, and the same bytes
  are loaded by a restricted unpickler with that allow-list (a whole pickled ``nn.Module`` or
  arbitrary objects are refused, never executed). ``trust_pickle=True`` is the explicit,
  logged escape hatch.

A checkpoint that wraps its state dict (``{"state_dict": ...}``, ``{"model_state_dict": ...}``,
``{"model": ...}``) is unwrapped, and a ``module.`` prefix left by ``DataParallel`` is removed.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import Tensor, nn

__all__ = ["PICKLE_SUFFIXES", "WEIGHT_SUFFIXES", "apply_state_dict", "load_weights"]

PICKLE_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".bin", ".ckpt")
WEIGHT_SUFFIXES: tuple[str, ...] = (".safetensors", *PICKLE_SUFFIXES)
_WRAPPER_KEYS: tuple[str, ...] = ("state_dict", "model_state_dict", "model")
_SHOWN = 5


def load_weights(path: Path, *, trust_pickle: bool = False) -> dict[str, Tensor]:
    """Read a state dict from a safetensors file or a pickled state dict.

    Args:
        path: a ``.safetensors``, ``.pt``, ``.pth``, ``.bin`` or ``.ckpt`` file.
        trust_pickle: load a pickle the scanner refuses with full pickle (runs its code).

    Returns:
        The parameter and buffer tensors by name, on the CPU.

    Raises:
        ValueError: the file is missing, has another extension, is damaged, or does not hold a
            state dict (e.g. a whole pickled model).
    """
    if not path.is_file():
        raise ValueError(f"the weights file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in WEIGHT_SUFFIXES:
        raise ValueError(
            f"weights must be safetensors or a state dict ({', '.join(WEIGHT_SUFFIXES)}), "
            f"got {path.name!r}"
        )
    if suffix == ".safetensors":
        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as error:
            raise ValueError(f"cannot read the safetensors file {str(path)!r}: {error}") from error
    return _as_state_dict(_load_state_dict(path, trust_pickle=trust_pickle), path)


def _load_state_dict(path: Path, *, trust_pickle: bool = False) -> object:
    """Scan ``path`` and unpickle it with the restricted unpickler. The only pickle reader here.

    Args:
        path: a file written by ``torch.save``.
        trust_pickle: skip the gate (logged): full pickle, which runs any code in the file.

    Returns:
        Whatever the file holds (checked to be a state dict by the caller).

    Raises:
        ValueError: the file is not a ``torch.save`` file, or the scan or the restricted
            unpickler refused it (:class:`aisec.models.safety.UnsafeModelError` names the
            offending globals).
    """
    from aisec.models.safety import UnsafeModelError, safe_torch_load

    try:
        loaded: object = safe_torch_load(path, map_location="cpu", trust_pickle=trust_pickle)
    except UnsafeModelError as error:
        findings = " ".join(str(error).split())  # one line, for the command line
        raise ValueError(
            f"{findings}. A weights file needs nothing of this: save a state dict "
            "(torch.save(model.state_dict(), path)) or, better, safetensors"
        ) from error
    except pickle.UnpicklingError as error:
        raise ValueError(
            f"{str(path)!r} holds more than weights (the restricted unpickler refused it: "
            f"{str(error).strip().splitlines()[0]}). Save a state dict instead: "
            "torch.save(model.state_dict(), path), or better safetensors"
        ) from error
    except (RuntimeError, OSError, EOFError) as error:
        raise ValueError(f"cannot read {str(path)!r} as a torch.save file: {error}") from error
    return loaded


def _as_state_dict(loaded: object, path: Path) -> dict[str, Tensor]:
    if isinstance(loaded, dict):
        for key in _WRAPPER_KEYS:
            inner = loaded.get(key)
            if (
                isinstance(inner, dict)
                and inner
                and all(isinstance(v, Tensor) for v in inner.values())
            ):
                loaded = inner
                break
    if not isinstance(loaded, dict) or not loaded:
        raise ValueError(
            f"{str(path)!r} does not hold a state dict (a mapping of names to tensors), got "
            f"{type(loaded).__name__}"
        )
    if not all(isinstance(k, str) and isinstance(v, Tensor) for k, v in loaded.items()):
        raise ValueError(
            f"{str(path)!r} is a mapping but not a state dict: every key must be a name and "
            "every value a tensor"
        )
    tensors: dict[str, Tensor] = dict(loaded)
    if all(key.startswith("module.") for key in tensors):
        tensors = {key.removeprefix("module."): value for key, value in tensors.items()}
    return tensors


def apply_state_dict(model: nn.Module, tensors: dict[str, Tensor], source: str) -> None:
    """Load ``tensors`` into ``model`` strictly, with a readable error on any mismatch.

    Raises:
        ValueError: missing or unexpected keys, or tensors of the wrong shape.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    wrong = [
        f"{key}: file {tuple(tensors[key].shape)}, model {tuple(expected[key].shape)}"
        for key in expected
        if key in tensors and tensors[key].shape != expected[key].shape
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} ({', '.join(missing[:_SHOWN])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} ({', '.join(unexpected[:_SHOWN])})")
        if wrong:
            parts.append(f"wrong shapes {len(wrong)} ({'; '.join(wrong[:_SHOWN])})")
        raise ValueError(f"{source}: the weights do not fit the architecture: {'; '.join(parts)}")
    model.load_state_dict(tensors, strict=True)
