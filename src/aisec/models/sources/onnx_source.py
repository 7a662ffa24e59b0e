"""``onnx:FILE.onnx`` (white-box, converted) and ``onnxrt:FILE.onnx`` (black-box, onnxruntime).

- ``onnx:`` converts the graph to PyTorch with ``onnx2torch``, so gradients flow and every
  white-box attack applies. A conversion can be wrong (an operator with subtly different
  semantics), so the converted model is cross-checked against ``onnxruntime`` on probe images
  (the user's ``check_inputs``, by default a few seeded random images of the input size): the
  largest logit difference must stay within ``tolerance · max(1, max |logit|)`` (tolerance
  ``1e-4`` by default), otherwise the file is refused with the difference measured. Graphs that
  ``onnx2torch`` cannot convert are refused with a pointer to ``onnxrt:``. Export with opset
  ≤ 18 and the legacy exporter (``torch.onnx.export(..., dynamo=False, opset_version=17)``).
- ``onnxrt:`` wraps an ``onnxruntime.InferenceSession`` as a black-box ``nn.Module``
  (:class:`OnnxRuntimeModel`): it returns scores but no gradient, and raises ``TypeError`` when
  called on an input that requires a gradient. Only score-based attacks (Square) apply.

Both read the input size from the graph when it is static (a dynamic size needs
``input_size``) and accept NCHW or NHWC graphs (told apart by where the 1, 3 or 4 channels
stand; NCHW when ambiguous). ONNX files are protobuf: reading one runs no code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import Tensor, nn

from aisec.models.sources.common import (
    Preprocess,
    check_file,
    finish,
    infer_layout,
    probe_images,
    refuse_weights,
    require_package,
    resolve_input_size,
)
from aisec.models.sources.spec import LoadedModel, LoadOptions, ModelSource

__all__ = ["OnnxMismatchError", "OnnxRuntimeModel", "OnnxRuntimeSource", "OnnxSource"]

_EXTRA = "onnx"
_FLOAT_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


class OnnxMismatchError(ValueError):
    """The converted model's logits differ from onnxruntime's beyond the tolerance."""


@dataclass(frozen=True)
class _GraphInput:
    name: str
    dims: tuple[int | None, int | None, int | None]
    dtype: Any
    output: str
    outputs: int


@dataclass(frozen=True)
class OnnxSource(ModelSource):
    """An ONNX file converted to PyTorch (white-box), e.g. ``onnx:model.onnx``.

    Attributes:
        path: the ``.onnx`` file.
    """

    path: Path
    kind: ClassVar[str] = "onnx"
    needs: ClassVar[str] = (
        "an ONNX file that onnx2torch converts (opset <= 18); the input size when the graph's "
        "is dynamic; optional pixel scale, mean/std and class names"
    )

    def __str__(self) -> str:
        return f"onnx:{self.path}"

    def load(self, options: LoadOptions) -> LoadedModel:
        """Convert the graph, cross-check it against onnxruntime and put the adapter in front.

        Raises:
            OnnxMismatchError: the conversion's logits differ from onnxruntime's.
            ValueError: missing packages or file, a graph that does not convert, or an input
                that is not one image tensor.
        """
        check_file(self.path, str(self), (".onnx",))
        refuse_weights(self, options)
        session = _runtime_session(self.path, str(self))
        graph_input = _graph_input(session, str(self))
        network = _convert_to_torch(self.path, str(self))
        preprocess, input_shape, notes = _adapter(self, options, graph_input)
        images = probe_images(self, options, input_shape)
        difference = _cross_check(
            network, session, graph_input, preprocess(images), options.tolerance, str(self)
        )
        notes.append(
            f"converted with onnx2torch; matches onnxruntime on {images.shape[0]} images "
            f"(largest logit difference {difference:.2e})"
        )
        return finish(
            self,
            network,
            preprocess,
            options,
            input_shape=input_shape,
            class_names=None,
            white_box=True,
            notes=notes,
        )


@dataclass(frozen=True)
class OnnxRuntimeSource(ModelSource):
    """An ONNX file run by onnxruntime as a black box, e.g. ``onnxrt:model.onnx``.

    Attributes:
        path: the ``.onnx`` file.
    """

    path: Path
    kind: ClassVar[str] = "onnxrt"
    needs: ClassVar[str] = (
        "an ONNX file; the input size when the graph's is dynamic; optional pixel scale, "
        "mean/std and class names. Black box: score-based attacks only"
    )

    def __str__(self) -> str:
        return f"onnxrt:{self.path}"

    def load(self, options: LoadOptions) -> LoadedModel:
        """Open an onnxruntime session and wrap it as a black-box module.

        Raises:
            ValueError: missing package or file, or an input that is not one image tensor.
        """
        check_file(self.path, str(self), (".onnx",))
        refuse_weights(self, options)
        session = _runtime_session(self.path, str(self))
        graph_input = _graph_input(session, str(self))
        preprocess, input_shape, notes = _adapter(self, options, graph_input)
        notes.append("black box (onnxruntime): scores only, no gradients")
        return finish(
            self,
            OnnxRuntimeModel(session, graph_input.name, graph_input.output, graph_input.dtype),
            preprocess,
            options,
            input_shape=input_shape,
            class_names=None,
            white_box=False,
            notes=notes,
        )


def _adapter(
    source: ModelSource, options: LoadOptions, graph_input: _GraphInput
) -> tuple[Preprocess, tuple[int, int, int], list[str]]:
    dims = graph_input.dims
    channels_last = infer_layout(dims, default_channels_last=False)
    channels, height, width = (dims[2], dims[0], dims[1]) if channels_last else dims
    size = resolve_input_size(source, options, (height, width))
    notes = [] if options.mean else ["no normalisation given: the graph must take [0, 1] images"]
    if graph_input.outputs > 1:
        notes.append(f"the graph has {graph_input.outputs} outputs; the first is the logits")
    preprocess = Preprocess(
        scale=options.pixel_scale or 1.0,
        mean=options.mean,
        std=options.std,
        channels_last=channels_last,
    )
    return preprocess, (channels or options.channels or 3, *size), notes


def _runtime_session(path: Path, source: str) -> Any:
    ort = require_package("onnxruntime", _EXTRA)
    try:
        return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types for bad graphs
        raise ValueError(f"{source}: onnxruntime cannot open the file: {error}") from error


def _graph_input(session: Any, source: str) -> _GraphInput:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1:
        names = [i.name for i in inputs]
        raise ValueError(f"{source}: the graph has {len(inputs)} inputs {names}; aisec needs one")
    graph_input = inputs[0]
    if graph_input.type not in _FLOAT_TYPES:
        raise ValueError(f"{source}: the input is {graph_input.type}; an image input is float")
    shape = list(graph_input.shape)
    if len(shape) != 4:
        raise ValueError(
            f"{source}: the input has shape {shape}; an image classifier takes 4 dimensions "
            "(batch, channels, height, width) or (batch, height, width, channels)"
        )
    dims = [d if isinstance(d, int) and d > 0 else None for d in shape[1:]]
    return _GraphInput(
        name=graph_input.name,
        dims=(dims[0], dims[1], dims[2]),
        dtype=_FLOAT_TYPES[graph_input.type],
        output=outputs[0].name,
        outputs=len(outputs),
    )


def _convert_to_torch(path: Path, source: str) -> nn.Module:
    """The graph as a PyTorch module, converted by onnx2torch."""
    onnx = require_package("onnx", _EXTRA)
    onnx2torch = require_package("onnx2torch", _EXTRA)
    try:
        proto = onnx.load(str(path))
    except Exception as error:  # protobuf's DecodeError and onnx's own errors
        raise ValueError(f"{source}: cannot read the ONNX file: {error}") from error
    try:
        network: nn.Module = onnx2torch.convert(proto)
    except Exception as error:  # onnx2torch raises NotImplementedError, KeyError, ...
        raise ValueError(
            f"{source}: onnx2torch cannot convert this graph ({type(error).__name__}: {error}); "
            "export with opset <= 18 and the legacy exporter, or attack it as a black box with "
            f"onnxrt:{path}"
        ) from error
    return network


def _run_session(session: Any, graph_input: _GraphInput, x: Tensor) -> np.ndarray:
    array = x.detach().cpu().numpy().astype(graph_input.dtype)
    (out,) = session.run([graph_input.output], {graph_input.name: array})
    return np.asarray(out, dtype=np.float32)


def _cross_check(
    network: nn.Module,
    session: Any,
    graph_input: _GraphInput,
    inputs: Tensor,
    tolerance: float,
    source: str,
) -> float:
    """The largest |converted − onnxruntime| logit on ``inputs``; raises beyond tolerance."""
    with torch.no_grad():
        converted = network.eval()(inputs)
    if not isinstance(converted, Tensor):
        raise ValueError(f"{source}: the converted graph returns {type(converted).__name__}")
    reference = torch.from_numpy(_run_session(session, graph_input, inputs))
    if converted.shape != reference.shape:
        raise OnnxMismatchError(
            f"{source}: the converted graph returns shape {tuple(converted.shape)}, "
            f"onnxruntime {tuple(reference.shape)}"
        )
    difference = float((converted.float() - reference).abs().max())
    scale = max(1.0, float(reference.abs().max()))
    if not difference <= tolerance * scale:
        raise OnnxMismatchError(
            f"{source}: the converted model differs from onnxruntime by up to {difference:.3g} "
            f"on {inputs.shape[0]} images (tolerance {tolerance:g} x {scale:.3g}); the "
            f"conversion is not faithful, so white-box results would be about another model. "
            f"Attack it as a black box with onnxrt:{source.split(':', 1)[1]}"
        )
    return difference


class OnnxRuntimeModel(nn.Module):
    """An onnxruntime session as a black-box classifier: scores, never gradients.

    Args:
        session: an ``onnxruntime.InferenceSession``.
        input_name: the graph's image input.
        output_name: the graph's logits output.
        dtype: the numpy dtype the input takes.

    Calling it on a tensor that requires a gradient (with grad mode on) raises ``TypeError``:
    onnxruntime computes no gradients, so only score-based attacks apply.
    """

    def __init__(self, session: Any, input_name: str, output_name: str, dtype: Any) -> None:
        super().__init__()
        self.session = session
        self._input = _GraphInput(input_name, (None, None, None), dtype, output_name, 1)

    def forward(self, x: Tensor) -> Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise TypeError(
                "this model is a black box (onnxrt: onnxruntime gives scores, not gradients); "
                "use a score-based attack such as Square, or load the file with onnx: to "
                "convert it for white-box attacks"
            )
        return torch.from_numpy(_run_session(self.session, self._input, x)).to(x.device)

    def extra_repr(self) -> str:
        return f"input={self._input.name!r}, output={self._input.output!r}"
