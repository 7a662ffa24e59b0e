"""The options of commands that take the user's own model and data (``attack``, ``evaluate``,
``defend``): ``--model`` as a zoo name or a model source, what a source needs, and ``--data``.

The texts are parsed here into :class:`~aisec.experiments.targets.ModelOptions`; the plan then
checks them with the model before anything loads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from aisec.cli._options import grouped_options

if TYPE_CHECKING:  # experiments (and torch) load when a command runs, not at start-up
    from aisec.experiments.targets import ModelOptions

__all__ = [
    "ClassNamesOption",
    "DataOption",
    "ImageColumnOption",
    "InputSizeOption",
    "LabelColumnOption",
    "MeanOption",
    "ModelOption",
    "PixelScaleOption",
    "StdOption",
    "TrustPickleOption",
    "WeightsOption",
    "model_options",
    "with_model_options",
]

_SOURCES = "Your own model"

MODEL_HELP = (
    "a zoo model (signs-cnn, digits-cnn, efficientnet-lite0, ...) or your own: "
    "torchvision:NAME or module:PKG.MOD:FACTORY (with --weights), torchscript:FILE, "
    "hf:DIR, keras:FILE.keras, onnx:FILE.onnx (white-box), onnxrt:FILE.onnx (black-box); "
    "your own models need --data"
)
ModelOption = Annotated[str, typer.Option(help=MODEL_HELP)]
WeightsOption = Annotated[
    Path | None,
    typer.Option(
        help="weights for torchvision:/module: (safetensors, or a state dict that passes "
        "aisec scan)",
        rich_help_panel=_SOURCES,
    ),
]
InputSizeOption = Annotated[
    str | None,
    typer.Option(
        help="the model's input: S, HxW or CxHxW (when the file does not fix it)",
        rich_help_panel=_SOURCES,
    ),
]
MeanOption = Annotated[
    str | None,
    typer.Option(help="per-channel mean, e.g. 0.485,0.456,0.406", rich_help_panel=_SOURCES),
]
StdOption = Annotated[
    str | None,
    typer.Option(help="per-channel std, e.g. 0.229,0.224,0.225", rich_help_panel=_SOURCES),
]
ClassNamesOption = Annotated[
    str | None,
    typer.Option(
        help="one name per logit: comma-separated, or @FILE with one per line",
        rich_help_panel=_SOURCES,
    ),
]
PixelScaleOption = Annotated[
    float | None,
    typer.Option(help="255 for a model that takes pixels in [0, 255]", rich_help_panel=_SOURCES),
]
TrustPickleOption = Annotated[
    bool,
    typer.Option(
        help="load a weights file that aisec scan refuses, with full pickle: runs its code",
        rich_help_panel=_SOURCES,
    ),
]
DataOption = Annotated[
    str | None,
    typer.Option(
        help="test data: signs, digits, imagenet_samples, or yours: imagefolder:DIR, "
        "csv:FILE, jsonl:FILE (default: a zoo model's own test split)",
        rich_help_panel=_SOURCES,
    ),
]
ImageColumnOption = Annotated[
    str, typer.Option(help="a table's column of image paths", rich_help_panel=_SOURCES)
]
LabelColumnOption = Annotated[
    str, typer.Option(help="a table's column of labels", rich_help_panel=_SOURCES)
]


_Command = TypeVar("_Command", bound=Callable[..., None])

_SOURCE_PARAMETERS: tuple[tuple[str, Any, object], ...] = (
    ("weights", WeightsOption, None),
    ("input_size", InputSizeOption, None),
    ("mean", MeanOption, None),
    ("std", StdOption, None),
    ("class_names", ClassNamesOption, None),
    ("pixel_scale", PixelScaleOption, None),
    ("trust_pickle", TrustPickleOption, False),
)
_DATA_PARAMETERS: tuple[tuple[str, Any, object], ...] = (
    ("data", DataOption, None),
    ("image_column", ImageColumnOption, "filename"),
    ("label_column", LabelColumnOption, "label"),
)


def with_model_options(*, data: bool = True) -> Callable[[_Command], _Command]:
    """Give a command the options of the user's own model (and data), as one ``options``.

    The decorated function takes ``options: ModelOptions`` as a keyword; the command line sees
    ``--weights``, ``--input-size``, ``--mean``, ``--std``, ``--class-names``,
    ``--pixel-scale``, ``--trust-pickle`` and, with ``data``, ``--data``, ``--image-column``
    and ``--label-column``. A value that does not parse is one line of error (exit code 2).
    """
    added = _SOURCE_PARAMETERS + (_DATA_PARAMETERS if data else ())
    return grouped_options(added, "options", model_options)


def model_options(
    *,
    weights: Path | None,
    input_size: str | None,
    mean: str | None,
    std: str | None,
    class_names: str | None,
    pixel_scale: float | None,
    trust_pickle: bool,
    data: str | None = None,
    image_column: str = "filename",
    label_column: str = "label",
) -> ModelOptions:
    """Parse the options' texts into :class:`ModelOptions`.

    Raises:
        ValueError: a size, mean, std or class-name list that does not parse, naming the option.
    """
    from aisec.experiments.targets import ModelOptions

    return ModelOptions(
        weights=None if weights is None else str(weights),
        input_size=_size(input_size),
        mean=_floats("--mean", mean),
        std=_floats("--std", std),
        class_names=_names(class_names),
        pixel_scale=pixel_scale,
        trust_pickle=trust_pickle,
        data=data,
        image_column=image_column,
        label_column=label_column,
    )


def _size(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    if not 1 <= len(parts) <= 3 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(
            f"--input-size must be S, HxW or CxHxW (e.g. 224 or 3x32x32), got {text!r}"
        )
    values = tuple(int(p) for p in parts)
    return (values[0], values[0]) if len(values) == 1 else values


def _floats(option: str, text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(","))
    except ValueError:
        raise ValueError(
            f"{option} must be numbers separated by commas (e.g. 0.5,0.5,0.5), got {text!r}"
        ) from None


def _names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            raise ValueError(
                f"--class-names {text!r}: cannot read {str(path)!r} ({error})"
            ) from None
        names = [line.strip() for line in lines if line.strip()]
    else:
        names = [part.strip() for part in text.split(",")]
    if not names or not all(names):
        raise ValueError(f"--class-names has an empty name: {text!r}")
    return tuple(names)
