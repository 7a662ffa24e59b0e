"""The model under test and its data: a zoo name or the user's own model, aisec's data or theirs.

``aisec attack``, ``evaluate`` and ``defend`` take ``--model`` as a zoo name (``signs-cnn``) or a
model source (``torchvision:resnet18``, ``module:pkg.mod:factory``, ``torchscript:FILE``,
``hf:DIR``, ``keras:FILE.keras``, ``onnx:FILE.onnx``, ``onnxrt:FILE.onnx``; see
:mod:`aisec.models.sources`), and ``--data`` as one of aisec's datasets or the user's
(``imagefolder:DIR``, ``csv:FILE``, ``jsonl:FILE``; see :mod:`aisec.data.user`).
:class:`ModelOptions` holds everything beyond the model's name; :func:`check_target` checks a
name with its options before anything loads, and :func:`load_target` loads the model and
``n`` examples of its data.

A zoo model is tested on its own dataset's test split unless ``data`` names another; a model
source has no dataset of its own, so it needs ``data``. The user's data is resized to the
model's input size and its labels are mapped to the model's class names. An ``onnx:`` model's
conversion is cross-checked against onnxruntime on the user's first images, not only on random
ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch import Tensor, nn

from aisec.data.user import DatasetName, load_image_source, parse_data_source
from aisec.models.sources import (
    LoadedModel,
    LoadOptions,
    ModelSource,
    ModuleSource,
    OnnxRuntimeSource,
    OnnxSource,
    TorchvisionSource,
    ZooName,
    parse_model_source,
)
from aisec.threat import ThreatModel

__all__ = [
    "ModelOptions",
    "Target",
    "check_attack_access",
    "check_target",
    "load_source_model",
    "load_target",
]

_CROSS_CHECK_IMAGES = 8
"""How many of the user's images an ``onnx:`` conversion is cross-checked on."""


@dataclass(frozen=True)
class ModelOptions:
    """What a model source needs beyond its name, and the data to test it on.

    Attributes:
        weights: a weights file for ``torchvision:`` and ``module:`` (safetensors or a state
            dict, read through the scanner's restricted unpickler).
        input_size: ``(H, W)`` or ``(C, H, W)`` when the file does not fix it.
        mean: per-channel mean of the model's normalisation (applied after ``pixel_scale``).
        std: per-channel standard deviation.
        class_names: one name per logit.
        pixel_scale: multiply ``[0, 1]`` images by this first (``255`` for ``[0, 255]`` models).
        trust_pickle: load a weights file the scanner refuses with full pickle (runs its code).
        data: the data to test on: an aisec dataset (``signs``, ``digits``,
            ``imagenet_samples``) or ``imagefolder:DIR``, ``csv:FILE``, ``jsonl:FILE``;
            ``None``: a zoo model's own test split.
        image_column: a table's column of image paths.
        label_column: a table's column of labels.
    """

    weights: str | None = None
    input_size: tuple[int, ...] | None = None
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    class_names: tuple[str, ...] | None = None
    pixel_scale: float | None = None
    trust_pickle: bool = False
    data: str | None = None
    image_column: str = "filename"
    label_column: str = "label"

    @property
    def source_options_given(self) -> list[str]:
        """The options that only a model source takes, as their command-line names."""
        given = {
            "--weights": self.weights is not None,
            "--input-size": self.input_size is not None,
            "--mean": self.mean is not None,
            "--std": self.std is not None,
            "--class-names": self.class_names is not None,
            "--pixel-scale": self.pixel_scale is not None,
            "--trust-pickle": self.trust_pickle,
        }
        return [name for name, present in given.items() if present]

    def load_options(self, check_inputs: Tensor | None = None) -> LoadOptions:
        """The options as :class:`~aisec.models.sources.LoadOptions` (validated)."""
        return LoadOptions.create(
            weights=self.weights,
            input_size=self.input_size,
            mean=self.mean,
            std=self.std,
            class_names=self.class_names,
            pixel_scale=self.pixel_scale,
            check_inputs=check_inputs,
            trust_pickle=self.trust_pickle,
        )


@dataclass(frozen=True)
class Target:
    """A loaded model with ``n`` examples to test it on.

    Attributes:
        model_name: the zoo name or the model source as given.
        model: the model (eval mode), images in ``[0, 1]`` to logits.
        x: ``(n, C, H, W)`` images in ``[0, 1]``.
        y: ``(n,)`` labels.
        class_names: a name per class.
        white_box: whether gradients reach the input (``False`` for ``onnxrt:``).
        notes: what aisec assumed or changed while loading a model source.
    """

    model_name: str
    model: nn.Module
    x: Tensor
    y: Tensor
    class_names: tuple[str, ...]
    white_box: bool = True
    notes: tuple[str, ...] = ()


def check_target(
    model: str,
    options: ModelOptions,
    threat: ThreatModel | None = None,
    *,
    needs_data: bool = True,
) -> ZooName | ModelSource:
    """Check a model name with its options and data before anything loads.

    Args:
        model: a zoo name or a model source.
        options: what the source needs and the data.
        threat: the budget, checked against the input's size where it is known now.
        needs_data: whether a model source needs ``data`` (``False`` for experiments that
            make their own inputs, such as the physical one).

    Returns:
        The parsed model: a :class:`~aisec.models.sources.ZooName` or a model source.

    Raises:
        ValueError, TypeError: an unknown zoo name, a malformed source, options a zoo model
            does not take, invalid option values, a model source without ``data``, an unknown
            dataset name, or a budget larger than the input box.
    """
    from aisec.data import list_datasets
    from aisec.experiments.base import check_threat_for_model
    from aisec.zoo import model_spec

    if not isinstance(model, str):
        raise TypeError(f"model must be a zoo name or a model source, got {model!r}")
    if not isinstance(options, ModelOptions):
        raise TypeError(f"options must be ModelOptions, got {type(options).__name__}")
    parsed = parse_model_source(model)
    data = None if options.data is None else parse_data_source(options.data)
    known = [info.name for info in list_datasets() if info.modality == "image"]
    if isinstance(data, DatasetName) and data.name not in known:
        raise ValueError(
            f"unknown dataset {data.name!r} for an image model; expected one of {known} or "
            "imagefolder:DIR, "
            "csv:FILE, jsonl:FILE (text datasets such as 'spam' go with aisec text-attack)"
        )
    if isinstance(parsed, ZooName):
        model_spec(parsed.name)  # ValueError listing the zoo for an unknown name
        extra = options.source_options_given
        if extra:
            raise ValueError(
                f"{', '.join(extra)} only apply to your own models (torchvision:, module:, "
                f"torchscript:, hf:, keras:, onnx:, onnxrt:), not to the zoo model {model!r}"
            )
        if threat is not None and data is None:
            check_threat_for_model(threat, parsed.name)
        return parsed
    size = options.load_options().input_size  # validates every value of the options
    if data is None and needs_data:
        raise ValueError(
            f"{model} has no test data of its own: give --data (imagefolder:DIR, csv:FILE, "
            "jsonl:FILE, or an aisec dataset such as signs)"
        )
    if isinstance(parsed, (TorchvisionSource, ModuleSource)) and options.weights is None:
        raise ValueError(
            f"{model} is an architecture without weights: give --weights FILE (safetensors or "
            "a state dict); aisec never downloads pretrained weights"
        )
    _check_files_exist(parsed, options)
    if threat is not None and size is not None:
        given = options.input_size or ()
        channels = given[0] if len(given) == 3 else 3
        threat.check_dimension(channels * size[0] * size[1])
    return parsed


def _check_files_exist(model: ModelSource, options: ModelOptions) -> None:
    """A missing model, weights or data file is named before anything loads."""
    files = [getattr(model, "path", None), options.weights]
    if options.data is not None:
        data = parse_data_source(options.data)
        files.append(getattr(data, "path", None))
    for file in files:
        if file is not None and not Path(file).expanduser().exists():
            raise ValueError(f"{file} does not exist")


def check_attack_access(model: ZooName | ModelSource, uses_gradients: bool, what: str) -> None:
    """Refuse a gradient-based attack on a black-box (``onnxrt:``) model before it loads."""
    if uses_gradients and isinstance(model, OnnxRuntimeSource):
        raise ValueError(
            f"{model} is a black-box model (scores only) and {what} needs gradients: use "
            f"aisec attack --attack square, or onnx:{model.path} for white-box attacks"
        )


def load_target(model: str, options: ModelOptions, *, n: int, seed: int = 0) -> Target:
    """Load ``model`` and ``n`` examples of its data (a seeded sample of the user's data).

    Raises:
        ValueError, TypeError: see :func:`check_target`, and the loaders' own refusals (a file
            that does not load, labels that are not among the model's classes, an ONNX
            conversion that disagrees with onnxruntime on the data).
    """
    from aisec.experiments import names

    parsed = check_target(model, options)
    if isinstance(parsed, ZooName):
        if options.data is None:
            task = names.load_task(parsed.name, n=n, seed=seed)
            return Target(model, task.model, task.x, task.y, task.class_names)
        x, y, class_names = _zoo_data(parsed.name, options, n=n, seed=seed)
        return Target(model, names.zoo_model(parsed.name), x, y, class_names)
    loaded = parsed.load(options.load_options())
    x, y, class_names = _data_for(loaded, options, n=n, seed=seed)
    if isinstance(parsed, OnnxSource):  # cross-check the conversion on the user's own images
        loaded = parsed.load(options.load_options(check_inputs=x[:_CROSS_CHECK_IMAGES]))
    return Target(model, loaded.model, x, y, class_names, loaded.white_box, loaded.notes)


def load_source_model(model: str, options: ModelOptions) -> LoadedModel:
    """Load a model source (not a zoo name) with its options; see :func:`check_target`."""
    parsed = check_target(model, options, needs_data=False)
    if isinstance(parsed, ZooName):
        raise ValueError(f"{model!r} is a zoo model, not a model source")
    return parsed.load(options.load_options())


def _zoo_data(
    name: str, options: ModelOptions, *, n: int, seed: int
) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """Other data for a zoo model: at its input size, labels in its classes."""
    from aisec.zoo import model_spec

    spec = model_spec(name)
    size, class_names = _zoo_input(spec.dataset)
    return _load_data(options, size=size, channels=None, class_names=class_names, n=n, seed=seed)


def _zoo_input(dataset: str) -> tuple[tuple[int, int], tuple[str, ...]]:
    from aisec.data import load as load_data

    sample = load_data(dataset, "test", n=1) if dataset == "signs" else load_data(dataset, "test")
    return (sample.images.shape[-2], sample.images.shape[-1]), tuple(sample.class_names)


def _data_for(
    loaded: LoadedModel, options: ModelOptions, *, n: int, seed: int
) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    channels, height, width = loaded.input_shape
    return _load_data(
        options,
        size=(height, width),
        channels=channels,
        class_names=loaded.class_names,
        n=n,
        seed=seed,
    )


def _load_data(
    options: ModelOptions,
    *,
    size: tuple[int, int],
    channels: int | None,
    class_names: Sequence[str],
    n: int,
    seed: int,
) -> tuple[Tensor, Tensor, tuple[str, ...]]:
    """``n`` examples of ``options.data`` at ``size``, labels in ``class_names``' order."""
    from aisec.data import load as load_data

    assert options.data is not None
    source = parse_data_source(options.data)
    if isinstance(source, DatasetName):
        if source.name == "signs":
            data = load_data("signs", "test", n=n, seed=seed, image_size=size[0])
        else:
            data = load_data(source.name, "test")
            data = data.subset(min(n, len(data)), seed=seed)
        if tuple(data.images.shape[-2:]) != size:
            raise ValueError(
                f"{source.name} images are {tuple(data.images.shape[-2:])}, the model takes "
                f"{size}: give --data imagefolder:DIR with your own images instead"
            )
        if len(data.class_names) != len(class_names):
            raise ValueError(
                f"{source.name} has {len(data.class_names)} classes, the model "
                f"{len(class_names)}: give data labelled in the model's classes"
            )
    else:
        data = load_image_source(
            source,
            size=size,
            image_column=options.image_column,
            label_column=options.label_column,
            class_names=class_names,
            channels=3 if channels is None else channels,
        )
        data = data.subset(min(n, len(data)), seed=seed)
    if channels is not None and data.images.shape[1] != channels:
        raise ValueError(
            f"the data has {data.images.shape[1]} channel(s), the model takes {channels}"
        )
    return data.images, data.labels, tuple(class_names)
