"""Model sources: your own models from files and folders, as classifiers aisec can attack.

``parse_model_source("onnx:model.onnx")`` reads the source grammar (see
:mod:`aisec.models.sources.resolve`) and ``load_model_source(source, weights=..., ...)`` gives a
:class:`LoadedModel`: an ``nn.Module`` from ``[0, 1]`` NCHW images to logits with the file's
preprocessing folded in, its input shape, class names, and whether it is white-box. Zoo names
are returned as :class:`ZooName` for :mod:`aisec.zoo` (a higher layer) to resolve.
"""

from __future__ import annotations

from aisec.models.sources.huggingface import HuggingFaceSource
from aisec.models.sources.keras_source import KerasSource, import_keras
from aisec.models.sources.module_source import ModuleSource
from aisec.models.sources.onnx_source import (
    OnnxMismatchError,
    OnnxRuntimeModel,
    OnnxRuntimeSource,
    OnnxSource,
)
from aisec.models.sources.resolve import (
    MODEL_SOURCE_KINDS,
    load_model_source,
    parse_model_source,
)
from aisec.models.sources.spec import (
    LoadedModel,
    LoadOptions,
    ModelSource,
    ModelSourceWarning,
    ZooName,
)
from aisec.models.sources.torchscript import TorchScriptSource
from aisec.models.sources.torchvision_source import TorchvisionSource
from aisec.models.sources.weights import load_weights

__all__ = [
    "MODEL_SOURCE_KINDS",
    "HuggingFaceSource",
    "KerasSource",
    "LoadOptions",
    "LoadedModel",
    "ModelSource",
    "ModelSourceWarning",
    "ModuleSource",
    "OnnxMismatchError",
    "OnnxRuntimeModel",
    "OnnxRuntimeSource",
    "OnnxSource",
    "TorchScriptSource",
    "TorchvisionSource",
    "ZooName",
    "import_keras",
    "load_model_source",
    "load_weights",
    "parse_model_source",
]
