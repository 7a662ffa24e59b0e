"""``keras:FILE.keras``: a Keras 3 model run on Keras's PyTorch backend, as an ``nn.Module``.

With ``KERAS_BACKEND=torch`` a Keras model *is* a ``torch.nn.Module`` and autograd flows through
it, so every white-box attack applies. The backend is fixed when keras is first imported, so
:func:`import_keras`:

- sets ``KERAS_BACKEND=torch`` in the process environment **only if keras is not imported yet**
  (and refuses if the variable already names another backend, rather than overriding the
  user's choice);
- refuses (``ValueError``) when keras is already imported with another backend: a process has
  one Keras backend, so run aisec in a process that has not imported keras, or set
  ``KERAS_BACKEND=torch`` before anything imports it.

Loading uses ``keras.saving.load_model(path, safe_mode=True, compile=False)``: ``safe_mode``
refuses ``Lambda`` layers (Python bytecode in the file). Before Keras reads the file, its
``config.json`` is checked for layers that exist only in TensorFlow (``TFOpLambda`` and friends:
``tf.*`` functions recorded by TF-Keras, ``TFSMLayer``, TF-Hub's ``KerasLayer``) and custom
classes whose code is not in the file; each is a ``ValueError`` that names the layer.

The adapter in front of the model permutes NCHW to NHWC (Keras's channels-last convention,
unless the model's input shape is clearly channels-first), scales and normalises when asked
(``pixel_scale``, mean/std; a leading ``Rescaling(1/255)`` layer makes the default
``pixel_scale`` 255, since such a model takes ``[0, 255]`` pixels) and calls the model with
``training=False``.

Logits, not probabilities: attacks need logits (a softmax saturates and hides the gradient). A
model whose last layer applies a softmax (``Dense(..., activation="softmax")``,
``Activation("softmax")`` or a ``Softmax`` layer) is loaded *without* that softmax, so it returns
the logits that fed it; the argmax is unchanged. This is reported as a note and a
:class:`~aisec.models.sources.spec.ModelSourceWarning`.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from torch import Tensor, nn

from aisec.models.sources.common import (
    Preprocess,
    check_file,
    finish,
    infer_layout,
    refuse_weights,
    require_package,
    resolve_input_size,
)
from aisec.models.sources.spec import LoadedModel, LoadOptions, ModelSource, ModelSourceWarning

__all__ = ["KerasLogits", "KerasSource", "import_keras"]

_EXTRA = "keras"
_BACKEND = "torch"
_TF_ONLY_CLASSES = frozenset({"TFOpLambda", "SlicingOpLambda", "TFSMLayer", "KerasLayer"})
_TF_MODULE_PREFIXES = ("tensorflow", "tf.", "tf_keras", "tensorflow_hub")
_BUILTIN_MODULE_PREFIXES = ("keras", "builtins", "numpy")
_PIXEL_RESCALES = (1 / 255, 1 / 127.5)
# Parts of a config that ``load_model(..., compile=False)`` never deserializes.
_UNREAD_KEYS = frozenset({"compile_config"})


def import_keras() -> ModuleType:
    """Import keras on the torch backend; see the module docstring for the environment rule.

    Returns:
        The ``keras`` module, with ``keras.backend.backend() == "torch"``.

    Raises:
        ValueError: keras is not installed, ``KERAS_BACKEND`` names another backend, or keras
            is already imported with another backend.
    """
    keras = sys.modules.get("keras")
    if keras is None:
        requested = os.environ.get("KERAS_BACKEND", "")
        if requested not in ("", _BACKEND):
            raise ValueError(
                f"KERAS_BACKEND is {requested!r}, but aisec runs Keras models on the torch "
                "backend: set KERAS_BACKEND=torch (or unset it) before starting"
            )
        os.environ["KERAS_BACKEND"] = _BACKEND
        keras = require_package("keras", _EXTRA)
    backend = str(keras.backend.backend())
    if backend != _BACKEND:
        raise ValueError(
            f"keras is already imported with the {backend!r} backend; aisec needs Keras's "
            "torch backend (a process has one). Set KERAS_BACKEND=torch before anything "
            "imports keras, or load the model in a fresh process"
        )
    return keras


@dataclass(frozen=True)
class KerasSource(ModelSource):
    """A Keras 3 ``.keras`` file, e.g. ``keras:model.keras``.

    Attributes:
        path: the ``.keras`` archive.
    """

    path: Path
    kind: ClassVar[str] = "keras"
    needs: ClassVar[str] = (
        "a Keras 3 .keras file (no TensorFlow-only layers, no Lambda layers); the input size "
        "when the model's is not fixed; optional pixel scale, mean/std and class names"
    )

    def __str__(self) -> str:
        return f"keras:{self.path}"

    def load(self, options: LoadOptions) -> LoadedModel:
        """Check the file's config, load it on the torch backend and put the adapter in front.

        Raises:
            ValueError: see the module docstring.
        """
        check_file(self.path, str(self), (".keras",))
        refuse_weights(self, options)
        config = _read_config(self.path, str(self))
        _check_config(config, str(self))
        keras = import_keras()
        _check_known_layers(keras, config, str(self))
        model = _load(keras, self.path, str(self))
        notes: list[str] = []
        model = _without_softmax(keras, model, str(self), notes)
        dims = _input_dims(model, str(self))
        channels_last = infer_layout(dims, default_channels_last=True)
        channels, height, width = (dims[2], dims[0], dims[1]) if channels_last else dims
        size = resolve_input_size(self, options, (height, width))
        preprocess = Preprocess(
            scale=options.pixel_scale or _pixel_scale(keras, model, notes),
            mean=options.mean,
            std=options.std,
            channels_last=channels_last,
        )
        return finish(
            self,
            KerasLogits(model),
            preprocess,
            options,
            input_shape=(channels or options.channels or 3, *size),
            class_names=None,
            white_box=True,
            notes=notes,
        )


def _read_config(path: Path, source: str) -> object:
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise ValueError(
            f"{source}: not a Keras 3 .keras archive with a config.json ({error}); legacy "
            "HDF5 (.h5) and SavedModel files need TensorFlow: load them in TF-Keras and save "
            "with model.save('model.keras') under Keras 3"
        ) from error


def _config_objects(config: object) -> Iterator[dict[str, Any]]:
    """Every object (a dict with a ``class_name``) in a Keras config that Keras would build."""
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            stack.extend(v for k, v in node.items() if k not in _UNREAD_KEYS)
            if isinstance(node.get("class_name"), str):
                yield node


def _check_config(config: object, source: str) -> None:
    """Refuse TensorFlow-only layers and custom classes anywhere in a Keras config."""
    for node in _config_objects(config):
        _check_object(node, node["class_name"], source)


def _check_object(node: dict[str, Any], name: str, source: str) -> None:
    module = node.get("module")
    module_text = module if isinstance(module, str) else ""
    settings = node.get("config")
    function = settings.get("function") if isinstance(settings, dict) else None
    if (
        name in _TF_ONLY_CLASSES
        or module_text.startswith(_TF_MODULE_PREFIXES)
        or (isinstance(function, str) and function.startswith("tf."))
    ):
        raise ValueError(
            f"{source}: the layer {name!r} exists only in TensorFlow (TF-Keras ops, tf.* "
            "functions or TF SavedModel layers); Keras 3 on the torch backend cannot run it. "
            "Rebuild that part with Keras 3 layers or keras.ops and save the model again"
        )
    registered = node.get("registered_name")
    if (isinstance(registered, str) and ">" in registered) or (
        module_text and not module_text.startswith(_BUILTIN_MODULE_PREFIXES)
    ):
        raise ValueError(
            f"{source}: the layer {name!r} is a custom class (module {module!r}, registered as "
            f"{registered!r}) whose Python code is not in the file; aisec loads models made of "
            "Keras's built-in layers only"
        )


def _check_known_layers(keras: ModuleType, config: object, source: str) -> None:
    """Refuse layer classes that this Keras does not have (e.g. tf.keras-only layers)."""
    for node in _config_objects(config):
        name = node["class_name"]
        if node.get("module") == "keras.layers" and not hasattr(keras.layers, name):
            raise ValueError(
                f"{source}: unknown layer {name!r}: Keras {keras.__version__} has no such "
                "layer (it may exist only in TensorFlow's tf.keras or in another Keras "
                "version); rebuild that part with Keras 3 layers and save the model again"
            )


def _load(keras: ModuleType, path: Path, source: str) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model = keras.saving.load_model(str(path), safe_mode=True, compile=False)
    except (
        ValueError,
        TypeError,
        KeyError,
        AttributeError,
        OSError,
        RuntimeError,
        NotImplementedError,
    ) as error:
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        raise ValueError(f"{source}: Keras cannot load the model: {reason}") from error
    if not isinstance(model, nn.Module):
        raise ValueError(f"{source}: the loaded object is not a torch module ({type(model)})")
    return model


def _without_softmax(keras: ModuleType, model: Any, source: str, notes: list[str]) -> Any:
    layers = list(getattr(model, "layers", []))
    if not layers:
        return model
    last = layers[-1]
    activation = getattr(last, "activation", None)
    if activation is not None and getattr(activation, "__name__", "") == "softmax":
        last.activation = keras.activations.linear
        _note_softmax(notes, source, f"the softmax of its last layer {last.name!r}")
        return model
    if isinstance(last, keras.layers.Softmax):
        try:
            inner = keras.Model(inputs=model.inputs, outputs=last.input)
        except (ValueError, TypeError, AttributeError) as error:
            raise ValueError(
                f"{source}: the model ends in a Softmax layer that cannot be cut off ({error}); "
                "attacks need logits: save the model without its final softmax"
            ) from error
        _note_softmax(notes, source, f"its final Softmax layer {last.name!r}")
        return inner
    return model


def _note_softmax(notes: list[str], source: str, what: str) -> None:
    message = (
        f"{source}: the model ends in a softmax; aisec removed {what} and attacks the logits "
        "that fed it (the predicted class is unchanged)"
    )
    notes.append(message)
    warnings.warn(message, ModelSourceWarning, stacklevel=4)


def _input_dims(model: Any, source: str) -> tuple[int | None, int | None, int | None]:
    try:
        inputs = list(model.inputs)
    except (AttributeError, ValueError, TypeError):
        return (None, None, None)
    if len(inputs) != 1:
        raise ValueError(
            f"{source}: the model has {len(inputs)} inputs; aisec needs one image input"
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4:
        raise ValueError(
            f"{source}: the model's input has shape {shape}; an image classifier takes "
            "(batch, height, width, channels)"
        )
    dims = tuple(None if d is None else int(d) for d in shape[1:])
    return dims[0], dims[1], dims[2]


def _pixel_scale(keras: ModuleType, model: Any, notes: list[str]) -> float:
    layers = [
        layer
        for layer in getattr(model, "layers", [])
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    first = layers[0] if layers else None
    scale = getattr(first, "scale", None)
    if (
        isinstance(first, keras.layers.Rescaling)
        and isinstance(scale, float)
        and any(abs(scale - value) < 1e-9 for value in _PIXEL_RESCALES)
    ):
        notes.append(
            f"the model starts with Rescaling({scale:.6g}): it takes [0, 255] pixels, "
            "so images are scaled by 255 (pixel_scale)"
        )
        return 255.0
    return 1.0


class KerasLogits(nn.Module):
    """A Keras model (torch backend) as ``NHWC images -> logits``, always in inference mode.

    Args:
        model: a Keras model loaded on the torch backend (itself an ``nn.Module``).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.model(x, training=False)
        return out
