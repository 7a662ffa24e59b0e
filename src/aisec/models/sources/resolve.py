"""The model-source grammar: text to a typed source, and a source to a loaded model.

=========================================  ===============================================
``torchvision:NAME``                       a torchvision architecture + ``weights``
``module:pkg.mod:factory``                 your factory + ``weights``
``module:pkg.mod.factory``                 the same, the last dot separating the factory
``torchscript:FILE`` or ``FILE.pt|.ts``    a TorchScript archive
``hf:DIR``                                 a Hugging Face image classifier in a folder
``keras:FILE.keras`` or ``FILE.keras``     a Keras 3 model on the torch backend
``onnx:FILE.onnx`` or ``FILE.onnx``        ONNX converted by onnx2torch (white-box)
``onnxrt:FILE.onnx``                       ONNX run by onnxruntime (black-box)
anything else                              a zoo name (:class:`ZooName`), for the caller
=========================================  ===============================================

Parsing is syntactic (no file is touched); :func:`load_model_source` checks the options and
the file before loading anything. A bare path to a weights file (``.pth``, ``.safetensors``,
``.bin``, ``.ckpt``) is refused at parse time: weights need an architecture
(``torchvision:`` or ``module:``), given as ``weights``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from torch import Tensor

from aisec.models.sources.huggingface import HuggingFaceSource
from aisec.models.sources.keras_source import KerasSource
from aisec.models.sources.module_source import ModuleSource
from aisec.models.sources.onnx_source import OnnxRuntimeSource, OnnxSource
from aisec.models.sources.spec import LoadedModel, LoadOptions, ModelSource, ZooName
from aisec.models.sources.torchscript import TorchScriptSource
from aisec.models.sources.torchvision_source import TorchvisionSource

__all__ = ["MODEL_SOURCE_KINDS", "load_model_source", "parse_model_source"]

_SOURCES: tuple[type[ModelSource], ...] = (
    TorchvisionSource,
    ModuleSource,
    TorchScriptSource,
    HuggingFaceSource,
    KerasSource,
    OnnxSource,
    OnnxRuntimeSource,
)
MODEL_SOURCE_KINDS: dict[str, str] = {cls.kind: cls.needs for cls in _SOURCES}
"""Each source prefix and what it needs, for help texts."""

_PREFIXES = ", ".join(f"{kind}:" for kind in MODEL_SOURCE_KINDS)
_BARE_SUFFIXES: dict[str, Callable[[Path], ModelSource]] = {
    ".pt": TorchScriptSource,
    ".ts": TorchScriptSource,
    ".keras": KerasSource,
    ".onnx": OnnxSource,
}
_WEIGHTS_ONLY_SUFFIXES = (".pth", ".safetensors", ".bin", ".ckpt")


def parse_model_source(text: str) -> ModelSource | ZooName:
    """Read a model source; see the module docstring for the grammar.

    Args:
        text: e.g. ``"torchvision:resnet18"``, ``"onnx:model.onnx"`` or ``"signs-cnn"``.

    Returns:
        A typed source, or a :class:`ZooName` for anything without a source prefix.

    Raises:
        TypeError: ``text`` is not a string.
        ValueError: an empty location after a prefix, a malformed ``module:`` path, or a bare
            weights file.
    """
    if not isinstance(text, str):
        raise TypeError(f"a model source is a string, got {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ValueError("the model source is empty")
    prefix, colon, rest = text.partition(":")
    if colon and prefix in MODEL_SOURCE_KINDS:
        return _parse_prefixed(prefix, rest.strip(), text)
    suffix = Path(text).suffix.lower()
    if suffix in _BARE_SUFFIXES:
        return _BARE_SUFFIXES[suffix](Path(text))
    if suffix in _WEIGHTS_ONLY_SUFFIXES:
        raise ValueError(
            f"{text!r} holds weights, not an architecture: use torchvision:NAME or "
            f"module:pkg.mod:factory with weights={text!r} (--weights {text})"
        )
    return ZooName(text)


def _parse_prefixed(prefix: str, rest: str, text: str) -> ModelSource:
    if not rest:
        raise ValueError(f"{text!r}: nothing after {prefix}:; {prefix}: needs {_location(prefix)}")
    if prefix == "torchvision":
        return TorchvisionSource(rest)
    if prefix == "module":
        return _parse_module(rest, text)
    if prefix == "hf":
        return HuggingFaceSource(rest)
    path = Path(rest)
    if prefix == "torchscript":
        return TorchScriptSource(path)
    if prefix == "keras":
        return KerasSource(path)
    if prefix == "onnx":
        return OnnxSource(path)
    return OnnxRuntimeSource(path)


def _location(prefix: str) -> str:
    return {
        "torchvision": "an architecture name, e.g. torchvision:resnet18",
        "module": "a factory, e.g. module:mypkg.nets:build",
        "hf": "a folder, e.g. hf:./my-vit",
    }.get(prefix, f"a file, e.g. {prefix}:model{'.onnx' if 'onnx' in prefix else '.keras'}")


def _parse_module(rest: str, text: str) -> ModuleSource:
    module, colon, attribute = rest.partition(":")
    if not colon:
        module, _, attribute = rest.rpartition(".")
    parts = [*module.split("."), *attribute.split(".")]
    if not module or not attribute or not all(part.isidentifier() for part in parts):
        raise ValueError(
            f"{text!r}: expected module:pkg.mod:factory or module:pkg.mod.factory (dotted "
            "Python names)"
        )
    return ModuleSource(module, attribute)


def load_model_source(
    source: ModelSource | str,
    *,
    weights: str | Path | None = None,
    input_size: int | Sequence[int] | None = None,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    class_names: Sequence[str] | None = None,
    pixel_scale: float | None = None,
    check_inputs: Tensor | None = None,
    tolerance: float = 1e-4,
    trust_pickle: bool = False,
) -> LoadedModel:
    """Load a model source as a classifier of ``[0, 1]`` NCHW images.

    Args:
        source: a typed source or its text (:func:`parse_model_source`); zoo names are the
            caller's (``aisec.zoo``), and are refused here.
        weights: a weights file for ``torchvision:`` and ``module:`` (safetensors or a state
            dict); refused by sources whose file holds its weights.
        input_size: ``S``, ``(H, W)`` or ``(C, H, W)``; needed when the file does not fix it.
        mean: per-channel mean, applied after ``pixel_scale`` (overrides the file's).
        std: per-channel standard deviation (with ``mean``).
        class_names: one name per logit (checked against the model's output).
        pixel_scale: multiply ``[0, 1]`` images by this first (``255`` for a model that takes
            ``[0, 255]``).
        check_inputs: ``(N, C, H, W)`` images in ``[0, 1]`` (e.g. the user's data) to probe
            the model on and to cross-check an ONNX conversion; default: seeded random images.
        tolerance: the ONNX cross-check's tolerance, relative to ``max(1, max |logit|)``.
        trust_pickle: load a pickled weights file that the scanner refuses with full pickle,
            which runs any code in it (logged; :func:`aisec.models.safety.safe_torch_load`).

    Returns:
        A :class:`LoadedModel` (model in eval mode, input shape, class names, white/black box).

    Raises:
        TypeError: a wrong type of argument.
        ValueError: a zoo name, invalid options, a missing or unfit file, missing weights or
            input size, class names that do not match the output, and each source's own
            refusals (see the source modules).
    """
    parsed = parse_model_source(source) if isinstance(source, str) else source
    if isinstance(parsed, ZooName):
        raise ValueError(
            f"{parsed.name!r} is not a model source ({_PREFIXES} or a .pt/.ts/.keras/.onnx "
            "file); zoo names are loaded with aisec.zoo.load"
        )
    if not isinstance(parsed, ModelSource):
        raise TypeError(f"source must be a ModelSource or a string, got {type(parsed).__name__}")
    options = LoadOptions.create(
        weights=weights,
        input_size=input_size,
        mean=mean,
        std=std,
        class_names=class_names,
        pixel_scale=pixel_scale,
        check_inputs=check_inputs,
        tolerance=tolerance,
        trust_pickle=trust_pickle,
    )
    return parsed.load(options)
