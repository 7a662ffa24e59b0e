"""What every model source shares: optional packages, file checks, the input adapter and the probe.

Every source ends in :func:`finish`, which wraps the source's network in :class:`SourceModel`
(the preprocessing adapter followed by the network), puts it in eval mode, runs it once on probe
images (the user's ``check_inputs`` or a few seeded random images) and checks what came out: a
float tensor of logits ``(N, K)`` with ``K >= 2``, finite; as many class names as logits;
gradients reaching the input for a white-box source. Outputs that look like probabilities or
log-probabilities are reported (a :class:`~aisec.models.sources.spec.ModelSourceWarning` and a
note), because gradient attacks on them are weak.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor, nn

from aisec.models.sources.spec import LoadedModel, LoadOptions, ModelSource, ModelSourceWarning

__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Preprocess",
    "SourceModel",
    "check_file",
    "finish",
    "infer_layout",
    "probe_images",
    "refuse_weights",
    "require_package",
    "resolve_input_size",
]

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
_PROBE_IMAGES = 2
_PROBE_SEED = 0


def require_package(module: str, extra: str) -> ModuleType:
    """Import an optional package, or raise a ``ValueError`` that names the extra to install.

    Args:
        module: the module to import, e.g. ``"onnxruntime"``.
        extra: aisec's extra that installs it, e.g. ``"onnx"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise ValueError(
            f"this model source needs the package {module.split('.')[0]!r}: "
            f"pip install 'aisec[{extra}]' ({error})"
        ) from error


def check_file(path: Path, source: str, suffixes: Sequence[str]) -> Path:
    """``path`` if it is an existing file with one of ``suffixes``; ``ValueError`` otherwise."""
    if not path.exists():
        raise ValueError(f"{source}: the file {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"{source}: {str(path)!r} is not a file")
    if path.suffix.lower() not in suffixes:
        raise ValueError(
            f"{source}: expected a file ending in {' or '.join(suffixes)}, got {path.name!r}"
        )
    return path


def refuse_weights(source: ModelSource, options: LoadOptions) -> None:
    """Raise when ``--weights`` is given to a source whose file already holds its weights."""
    if options.weights is not None:
        raise ValueError(
            f"{source}: the file carries its own weights; weights={str(options.weights)!r} is "
            "only for torchvision: and module: sources"
        )


def resolve_input_size(
    source: ModelSource,
    options: LoadOptions,
    from_file: tuple[int | None, int | None] | None,
    default: tuple[int, int] | None = None,
) -> tuple[int, int]:
    """The model's ``(H, W)``: from the file when static (the user's value must agree), else the
    user's, else ``default``; a ``ValueError`` naming ``--input-size`` when none is known."""
    if from_file is not None and from_file[0] is not None and from_file[1] is not None:
        static = (from_file[0], from_file[1])
        if options.input_size is not None and options.input_size != static:
            raise ValueError(
                f"{source}: the file fixes the input size to {static[0]}x{static[1]}, but "
                f"input_size={options.input_size[0]}x{options.input_size[1]} was given"
            )
        return static
    if options.input_size is not None:
        return options.input_size
    if default is not None:
        return default
    raise ValueError(
        f"{source} needs the model's input size: give input_size (--input-size H W). "
        f"It needs: {source.needs}"
    )


def infer_layout(dims: Sequence[int | None], default_channels_last: bool) -> bool:
    """Whether a static ``(C?, H?, W?)`` triple (batch left out) is channels-last.

    Decided by where a channel count (1, 3 or 4) stands when only one end has one; otherwise
    the source's convention (``default_channels_last``).
    """
    first, last = dims[0], dims[-1]
    first_is_channels = first in (1, 3, 4)
    last_is_channels = last in (1, 3, 4)
    if last_is_channels and not first_is_channels:
        return True
    if first_is_channels and not last_is_channels:
        return False
    return default_channels_last


class Preprocess(nn.Module):
    """The input adapter: ``[0, 1]`` NCHW images to what the network takes.

    Computes ``((x · scale) − mean) / std`` per channel, then permutes to NHWC for a
    channels-last network. Differentiable, so gradients reach the ``[0, 1]`` images.

    Args:
        scale: a factor applied first (``255`` for networks that take ``[0, 255]``).
        mean: per-channel means in the scaled units, or ``None``.
        std: per-channel standard deviations in the scaled units, or ``None``.
        channels_last: permute ``(N, C, H, W)`` to ``(N, H, W, C)`` at the end.
    """

    mean: Tensor | None
    std: Tensor | None

    def __init__(
        self,
        *,
        scale: float = 1.0,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.scale = float(scale)
        self.channels_last = channels_last
        self.register_buffer("mean", None if mean is None else _per_channel(mean))
        self.register_buffer("std", None if std is None else _per_channel(std))

    def forward(self, x: Tensor) -> Tensor:
        if self.scale != 1.0:
            x = x * self.scale
        if self.mean is not None and self.std is not None:
            x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.permute(0, 2, 3, 1).contiguous()
        return x

    def extra_repr(self) -> str:
        normalised = "" if self.mean is None else ", normalise per channel"
        return f"scale={self.scale:g}{normalised}, channels_last={self.channels_last}"


def _per_channel(values: Sequence[float]) -> Tensor:
    return torch.tensor([float(v) for v in values], dtype=torch.float32).view(1, -1, 1, 1)


class SourceModel(nn.Module):
    """A loaded network behind its input adapter: ``[0, 1]`` NCHW images to logits.

    Args:
        preprocess: the input adapter (:class:`Preprocess`).
        network: the source's network, taking the adapter's output and returning logits.
    """

    def __init__(self, preprocess: Preprocess, network: nn.Module) -> None:
        super().__init__()
        self.preprocess = preprocess
        self.network = network

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.network(self.preprocess(x))
        return out


def finish(
    source: ModelSource,
    network: nn.Module,
    preprocess: Preprocess,
    options: LoadOptions,
    *,
    input_shape: tuple[int, int, int],
    class_names: Sequence[str] | None,
    white_box: bool,
    notes: Sequence[str] = (),
) -> LoadedModel:
    """Wrap, probe and check a loaded network; see the module docstring.

    Args:
        source: the source, for messages.
        network: the network behind the adapter.
        preprocess: the input adapter.
        options: the user's options (their class names win over ``class_names``).
        input_shape: ``(C, H, W)`` of the images the model takes.
        class_names: names from the file, or ``None``.
        white_box: whether gradients are expected to reach the input.
        notes: what the source assumed so far.

    Raises:
        ValueError: the model fails on the probe, returns no logits, or the number of class
            names differs from the number of logits.
    """
    _check_channels(source, options, preprocess, input_shape[0])
    model = SourceModel(preprocess, network).eval()
    probe = probe_images(source, options, input_shape)
    logits, gradient = _probe(source, model, probe, white_box)
    notes = list(notes)
    names = _class_names(source, options.class_names or class_names, int(logits.shape[1]), notes)
    if white_box and (gradient is None or not bool(gradient.abs().sum() > 0)):
        _warn(
            notes,
            f"{source}: no gradient reaches the input on the probe images; gradient attacks "
            "will fail (a sign of gradient masking or of a non-differentiable model)",
        )
    _note_probabilities(source, logits, notes)
    return LoadedModel(
        model=model,
        source=source,
        input_shape=input_shape,
        class_names=tuple(names),
        white_box=white_box,
        notes=tuple(notes),
    )


def _check_channels(
    source: ModelSource, options: LoadOptions, preprocess: Preprocess, channels: int
) -> None:
    """The user's channel count and the mean/std lengths must match the model's channels."""
    if preprocess.mean is not None and preprocess.mean.numel() != channels:
        raise ValueError(
            f"{source}: mean and std have {preprocess.mean.numel()} values but the model takes "
            f"{channels} channels; give one value per channel"
        )
    if options.channels is not None and options.channels != channels:
        raise ValueError(
            f"{source}: the model takes {channels} channels, but {options.channels} were given"
        )


def probe_images(
    source: ModelSource, options: LoadOptions, input_shape: tuple[int, int, int]
) -> Tensor:
    """The images a model is probed on: the user's ``check_inputs`` (checked against
    ``input_shape``) or a few seeded random images ``(N, C, H, W)`` in ``[0, 1]``."""
    if options.check_inputs is None:
        generator = torch.Generator().manual_seed(_PROBE_SEED)
        return torch.rand((_PROBE_IMAGES, *input_shape), generator=generator)
    if tuple(options.check_inputs.shape[1:]) != input_shape:
        raise ValueError(
            f"{source}: check_inputs have shape (C, H, W) = "
            f"{tuple(options.check_inputs.shape[1:])}, but the model takes {input_shape}"
        )
    return options.check_inputs


def _probe(
    source: ModelSource, model: nn.Module, images: Tensor, white_box: bool
) -> tuple[Tensor, Tensor | None]:
    x = images.clone().requires_grad_(white_box)
    try:
        with torch.set_grad_enabled(white_box):
            out = model(x)
    except (RuntimeError, ValueError, TypeError, IndexError) as error:
        raise ValueError(
            f"{source}: the model fails on images of shape {tuple(images.shape)} "
            f"(N, C, H, W): {_first_line(error)}. Check input_size and the channels"
        ) from error
    logits = _check_output(source, out, images.shape[0])
    gradient = None
    if white_box and logits.requires_grad:
        # The top logit against the mean: its gradient vanishes only where the model's does
        # (a plain sum would vanish on softmax outputs, which always sum to 1).
        target = (logits.max(dim=1).values - logits.mean(dim=1)).sum()
        (gradient,) = torch.autograd.grad(target, x, allow_unused=True)
    return logits.detach(), gradient


def _check_output(source: ModelSource, out: object, n: int) -> Tensor:
    if not isinstance(out, Tensor):
        raise ValueError(
            f"{source}: the model must return one tensor of logits (N, num_classes), got "
            f"{type(out).__name__}"
        )
    if out.ndim != 2 or out.shape[0] != n or out.shape[1] < 2 or not out.is_floating_point():
        raise ValueError(
            f"{source}: the model must return float logits of shape (N, num_classes) = "
            f"({n}, K) with K >= 2, got {out.dtype} of shape {tuple(out.shape)}"
        )
    if not bool(torch.isfinite(out.detach()).all()):
        raise ValueError(f"{source}: the model returns NaN or infinite logits on the probe images")
    return out


def _class_names(
    source: ModelSource, names: Sequence[str] | None, num_classes: int, notes: list[str]
) -> list[str]:
    if names is None:
        notes.append(
            f"no class names given: the {num_classes} classes are named 0..{num_classes - 1}"
        )
        return [str(i) for i in range(num_classes)]
    if len(names) != num_classes:
        raise ValueError(
            f"{source}: {len(names)} class names were given but the model outputs "
            f"{num_classes} logits; give exactly one name per logit"
        )
    return list(names)


def _note_probabilities(source: ModelSource, logits: Tensor, notes: list[str]) -> None:
    sums = logits.double().sum(dim=1)
    if bool((logits >= 0).all()) and bool(torch.allclose(sums, torch.ones_like(sums), atol=1e-4)):
        kind = "probabilities (non-negative, each row sums to 1)"
    else:
        log_sums = torch.logsumexp(logits.double(), dim=1)
        if not bool(torch.allclose(log_sums, torch.zeros_like(log_sums), atol=1e-4)):
            return
        kind = "log-probabilities (each row's logsumexp is 0)"
    _warn(
        notes,
        f"{source}: the outputs look like {kind}; attacks need logits (a softmax flattens the "
        "gradients, so robustness would be over-reported). Remove the final softmax and save "
        "the model again",
    )


def _warn(notes: list[str], message: str) -> None:
    notes.append(message)
    warnings.warn(message, ModelSourceWarning, stacklevel=3)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
