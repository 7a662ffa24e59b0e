"""Keras models: the ``config.json`` of a ``.keras`` archive and configs inside HDF5 files.

Keras rebuilds a model from its JSON config by importing ``module`` and looking up
``class_name`` in it, so the config decides which Python code runs at load time:

- ``Lambda`` layers carry Python bytecode (CVE-2024-3660; Keras 3 refuses them only while
  ``safe_mode=True``, and the legacy HDF5 path ignored ``safe_mode``, CVE-2025-9905);
- ``module``/``class_name`` pairs outside Keras reach any importable callable with arguments
  from the file (CVE-2025-1550), and so do helpers inside Keras's own namespace such as
  ``keras.utils.get_file`` (CVE-2025-8747, JFrog 2025);
- custom objects (``registered_name`` ``"package>Name"``) need code from outside the file.

The check is an allow-list: ``module`` must be one of Keras's layer, model, initializer,
regularizer, constraint, activation, optimizer, loss, metric or dtype-policy packages;
``class_name`` must be a class name (CamelCase), not one of the layers that wrap code
(``Lambda``, ``TFSMLayer``, ``TorchModuleWrapper``, ``JaxLayer``, ``FlaxLayer``); functions are
admitted only as Keras's built-in activations. The JSON is read with :mod:`json`; nothing is
deserialized by Keras and Keras need not be installed.

Legacy ``.h5`` models keep their config as a JSON string in the root attribute
``model_config`` (and ``training_config``); without an HDF5 library, the scan finds every
``"class_name"`` key in the file's bytes and decodes the JSON object around it, whatever order
its keys are in. Weights-only HDF5 files (``model.weights.h5``) hold no config.
"""

from __future__ import annotations

import json
import re
from typing import BinaryIO

from aisec.models.safety.findings import Collector, Finding

__all__ = [
    "HDF5_MAGIC",
    "is_hdf5",
    "keras_config_findings",
    "looks_like_keras_config",
    "scan_hdf5",
]

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_HDF5_SUPERBLOCK_OFFSETS = (0, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)

_KERAS_PACKAGES = (
    "layers",
    "models",
    "initializers",
    "regularizers",
    "constraints",
    "activations",
    "optimizers",
    "losses",
    "metrics",
    "dtype_policies",
    "engine",
    "saving",
)
"""Keras subpackages whose classes a config may name (``keras.X`` and ``keras.src.X...``)."""

_CODE_LAYERS = {
    "Lambda": "a Lambda layer carries Python bytecode that Keras runs (CVE-2024-3660 class)",
    "TFSMLayer": "a TFSMLayer loads a TensorFlow SavedModel, with its own graph, from a path",
    "TorchModuleWrapper": "a TorchModuleWrapper holds a pickled torch module (torch.load)",
    "JaxLayer": "a JaxLayer wraps Python callables",
    "FlaxLayer": "a FlaxLayer wraps a Python module",
}

_ACTIVATIONS = frozenset(
    {
        "celu",
        "elu",
        "exponential",
        "gelu",
        "glu",
        "hard_shrink",
        "hard_sigmoid",
        "hard_silu",
        "hard_swish",
        "hard_tanh",
        "leaky_relu",
        "linear",
        "log_sigmoid",
        "log_softmax",
        "mish",
        "relu",
        "relu6",
        "selu",
        "sigmoid",
        "silu",
        "soft_shrink",
        "softmax",
        "softplus",
        "softsign",
        "sparse_plus",
        "sparsemax",
        "squareplus",
        "swish",
        "tanh",
        "tanh_shrink",
        "threshold",
    }
)
_DATA_MARKERS = frozenset(
    {
        "__keras_tensor__",
        "__tensor__",
        "__numpy__",
        "__bytes__",
        "__typespec__",
        "__ellipsis__",
        "__slice__",
    }
)
"""Keras's markers for serialized data (a tensor reference, an array, bytes): not code."""
_CLASS_NAME = re.compile(r"[A-Z][A-Za-z0-9_]*")
_MAX_DEPTH = 200


def _keras_module(module: str) -> bool:
    """Whether ``module`` is ``keras`` or one of its model-building packages."""
    if module == "keras":
        return True
    parts = module.split(".")
    if parts[0] != "keras" or len(parts) < 2:
        return False
    if parts[1] == "src":
        return len(parts) >= 3 and parts[2] in _KERAS_PACKAGES
    return parts[1] in _KERAS_PACKAGES


def looks_like_keras_config(value: object) -> bool:
    """Whether a JSON value is a Keras model config (``class_name`` and ``config`` keys)."""
    return isinstance(value, dict) and "class_name" in value and "config" in value


def keras_config_findings(config: object, entry: str) -> list[Finding]:
    """Check every object of a Keras config that names a class or function.

    Args:
        config: the decoded JSON.
        entry: where the config is (``"model.keras!config.json"``), for the findings.

    Returns:
        One finding per object that would make Keras run code from outside its own layers.
    """
    findings: list[Finding] = []
    _walk(config, "", entry, findings, 0)
    return findings


def _walk(value: object, path: str, entry: str, findings: list[Finding], depth: int) -> None:
    if depth > _MAX_DEPTH:
        findings.append(Finding(entry, f"config nested deeper than {_MAX_DEPTH} at {path}"))
        return
    if isinstance(value, dict):
        if isinstance(value.get("class_name"), str):
            findings.extend(_check_object(value, path, entry))
        for key, item in value.items():
            _walk(item, f"{path}.{key}" if path else str(key), entry, findings, depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", entry, findings, depth + 1)


def _check_object(obj: dict[str, object], path: str, entry: str) -> list[Finding]:
    """The findings of one ``{"class_name": ..., "module": ...}`` object."""
    class_name = str(obj["class_name"])
    module = obj.get("module")
    where = f"{entry}: {path or 'top'} ({class_name})"
    name = f"{module}.{class_name}" if isinstance(module, str) else class_name
    if class_name in _CODE_LAYERS:
        return [Finding(where, _CODE_LAYERS[class_name], name)]
    if class_name in _DATA_MARKERS:
        return []
    if class_name == "__lambda__":
        return [Finding(where, "a serialized Python lambda (bytecode) that Keras runs", name)]
    if class_name == "function":
        return _check_function(obj, module, where)
    findings: list[Finding] = []
    if module is not None and not (isinstance(module, str) and _keras_module(module)):
        findings.append(
            Finding(
                where,
                "module outside Keras's model-building packages: Keras imports it and calls "
                "class_name with arguments from the file (CVE-2025-1550, CVE-2025-8747 class)",
                name,
            )
        )
    if not _CLASS_NAME.fullmatch(class_name):
        findings.append(Finding(where, "class_name is not a class: a function call", name))
    registered = obj.get("registered_name")
    if isinstance(registered, str) and ">" in registered:
        findings.append(
            Finding(where, f"custom object {registered!r}: its code is not in the file", name)
        )
    return findings


def _check_function(obj: dict[str, object], module: object, where: str) -> list[Finding]:
    """A ``"class_name": "function"`` object: only Keras's activations are admitted."""
    function = obj.get("config")
    activation_module = isinstance(module, str) and module.split(".")[-1] == "activations"
    if activation_module and _keras_module(str(module)) and function in _ACTIVATIONS:
        return []
    return [
        Finding(
            where,
            "a function reference other than a Keras activation: Keras imports and calls it",
            f"{module}.{function}",
        )
    ]


def is_hdf5(stream: BinaryIO, size: int) -> bool:
    """Whether the stream has an HDF5 superblock signature where HDF5 allows one."""
    start = stream.tell()
    try:
        for offset in _HDF5_SUPERBLOCK_OFFSETS:
            if offset + len(HDF5_MAGIC) > size:
                return False
            stream.seek(start + offset)
            if stream.read(len(HDF5_MAGIC)) == HDF5_MAGIC:
                return True
        return False
    finally:
        stream.seek(start)


_CLASS_KEY = b'"class_name"'
_CHUNK = 8 * 1024 * 1024
_LOOK_BACK = 1024 * 1024
_MAX_CONFIG_BYTES = 64 * 1024 * 1024
_MAX_KEYS = 1000
_MAX_CANDIDATES = 10_000


def _find_all(stream: BinaryIO, needle: bytes) -> list[int]:
    """Offsets of ``needle`` in the stream, read in chunks (at most ``_MAX_KEYS``)."""
    offsets: list[int] = []
    stream.seek(0)
    carry = b""
    base = 0
    while len(offsets) < _MAX_KEYS:
        chunk = stream.read(_CHUNK)
        if not chunk:
            break
        data = carry + chunk
        index = data.find(needle)
        while index != -1 and len(offsets) < _MAX_KEYS:
            offsets.append(base + index)
            index = data.find(needle, index + 1)
        carry = data[-(len(needle) - 1) :]
        base += len(data) - len(carry)
    return offsets


def _enclosing_object(stream: BinaryIO, offset: int) -> tuple[int, int, object] | None:
    """The innermost JSON object around the byte ``offset``: ``(start, end, value)``.

    The text is read as latin-1 (one character per byte, so offsets stay byte offsets) and
    decoded from each ``{`` before ``offset``, nearest first, until one covers ``offset``.
    """
    start = max(0, offset - _LOOK_BACK)
    stream.seek(start)
    text = stream.read(offset - start + _MAX_CONFIG_BYTES).decode("latin-1")
    target = offset - start
    decoder = json.JSONDecoder()
    candidate = text.rfind("{", 0, target)
    for _ in range(_MAX_CANDIDATES):
        if candidate == -1:
            return None
        try:
            value, end = decoder.raw_decode(text, candidate)
        except (ValueError, RecursionError):
            value, end = None, candidate
        if isinstance(value, dict) and end > target:
            return start + candidate, start + end, value
        candidate = text.rfind("{", 0, candidate)
    return None


def scan_hdf5(stream: BinaryIO, entry: str, collector: Collector) -> None:
    """Scan an HDF5 file for Keras model configs (legacy ``.h5`` models).

    Every ``"class_name"`` key in the file's bytes must sit in a JSON object that decodes and
    passes :func:`keras_config_findings`; one that does not is a finding.
    """
    label = entry or "hdf5"
    collector.saw("hdf5")
    checked: list[tuple[int, int]] = []
    for offset in _find_all(stream, _CLASS_KEY):
        if any(start <= offset < end for start, end in checked):
            continue  # inside a config already checked
        found = _enclosing_object(stream, offset)
        if found is None:
            reason = f"a Keras class_name at byte {offset} is in no JSON object that decodes"
            collector.add(Finding(label, reason))
            continue
        start, end, config = found
        checked.append((start, end))
        collector.saw("keras")
        collector.extend(keras_config_findings(config, f"{label}: JSON at byte {start}"))
    stream.seek(0)
