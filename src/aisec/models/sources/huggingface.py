"""``hf:DIR``: a Hugging Face image classifier saved on disk, with its processor folded in.

The model is loaded with ``AutoModelForImageClassification.from_pretrained(DIR,
local_files_only=True, use_safetensors=True)``: nothing is downloaded, no remote code runs
(``trust_remote_code`` stays off) and the weights come only from safetensors files (a folder
with only ``pytorch_model.bin`` is refused with the command that converts it). ``DIR`` may also
be a hub name already in the local Hugging Face cache.

The image processor (``AutoImageProcessor``, ``preprocessor_config.json``) gives the
preprocessing, which becomes the model's first layer: ``rescale_factor`` (the model's input is
``x · 255 · rescale_factor`` for ``x`` in ``[0, 1]``, so the usual ``1/255`` is the identity),
``image_mean``/``image_std`` and the input size (``crop_size`` when the processor center-crops,
else ``size``). The user's mean/std/input size override it; without a processor they are
required. The model returns ``.logits``; class names come from ``config.id2label``.

Resizing is the data's job: images must arrive at the input size (the data sources' ``size``).
Text classifiers in such folders are loaded by the text commands
(:class:`aisec.models.text.HFTextClassifier`), not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from torch import Tensor, nn

from aisec.models.sources.common import (
    Preprocess,
    finish,
    refuse_weights,
    require_package,
    resolve_input_size,
)
from aisec.models.sources.spec import LoadedModel, LoadOptions, ModelSource

__all__ = ["HFImageLogits", "HuggingFaceSource"]

_EXTRA = "nlp"
_UNIT_RESCALE = 1 / 255


@dataclass(frozen=True)
class HuggingFaceSource(ModelSource):
    """A Hugging Face image classifier in a folder (or the local HF cache), e.g. ``hf:./vit``.

    Attributes:
        location: the folder, or a hub name already cached locally.
    """

    location: str
    kind: ClassVar[str] = "hf"
    needs: ClassVar[str] = (
        "a folder with config.json, model.safetensors and preprocessor_config.json (without "
        "the processor: mean/std and the input size)"
    )

    def __str__(self) -> str:
        return f"hf:{self.location}"

    def load(self, options: LoadOptions) -> LoadedModel:
        """Load the classifier offline and fold its processor's preprocessing in.

        Raises:
            ValueError: transformers missing, the model not available offline, not an image
                classifier, weights only in a pickle file, or preprocessing unknown.
        """
        refuse_weights(self, options)
        transformers = require_package("transformers", _EXTRA)
        hf_model = self._load_model(transformers)
        processor = self._load_processor(transformers)
        settings = _processor_settings(processor)
        notes: list[str] = []
        mean, std = options.mean or settings.mean, options.std or settings.std
        if options.mean and settings.mean:
            notes.append("the given mean/std replace the processor's")
        if mean is None and processor is None:
            raise ValueError(
                f"{self} has no image processor (preprocessor_config.json): give mean and std "
                "(--mean, --std) and the input size (--input-size)"
            )
        config = hf_model.config
        size = resolve_input_size(
            self, options, None, default=settings.size or _config_size(config)
        )
        channels = int(getattr(config, "num_channels", None) or options.channels or 3)
        preprocess = Preprocess(scale=options.pixel_scale or settings.scale, mean=mean, std=std)
        labels = getattr(config, "id2label", None) or {}
        names = [str(labels[i]) for i in sorted(labels)] if labels else None
        return finish(
            self,
            HFImageLogits(hf_model),
            preprocess,
            options,
            input_shape=(channels, *size),
            class_names=names,
            white_box=True,
            notes=notes,
        )

    def _load_model(self, transformers: Any) -> nn.Module:
        try:
            model: nn.Module = transformers.AutoModelForImageClassification.from_pretrained(
                self.location, local_files_only=True, use_safetensors=True
            )
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(self._model_error(error)) from error
        return model.eval()

    def _model_error(self, error: BaseException) -> str:
        folder = Path(self.location)
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if folder.is_dir() and not any(folder.glob("*.safetensors")) and any(folder.glob("*.bin")):
            return (
                f"{self}: the folder has only pickle weights (pytorch_model.bin); aisec loads "
                "Hugging Face weights from safetensors only. Convert them once: "
                "model.save_pretrained(DIR, safe_serialization=True)"
            )
        if "Unrecognized configuration class" in str(error):
            return (
                f"{self} is not an image classifier ({reason}); Hugging Face text classifiers "
                "are loaded by the text commands (aisec text ... --model hf:DIR)"
            )
        return (
            f"cannot load the Hugging Face image classifier {self.location!r} offline "
            f"({reason}); give a local folder with config.json and model.safetensors (aisec "
            "never downloads)"
        )

    def _load_processor(self, transformers: Any) -> Any:
        try:
            return transformers.AutoImageProcessor.from_pretrained(
                self.location, local_files_only=True
            )
        except (OSError, ValueError, KeyError):
            return None


@dataclass(frozen=True)
class _Settings:
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    size: tuple[int, int] | None
    scale: float


def _processor_settings(processor: Any) -> _Settings:
    """Mean/std, input size and pixel scale from an image processor (``None`` values where the
    processor has no opinion)."""
    if processor is None:
        return _Settings(None, None, None, 1.0)
    mean = std = None
    if getattr(processor, "do_normalize", False) and getattr(processor, "image_mean", None):
        mean, std = _per_channel(processor.image_mean), _per_channel(processor.image_std)
    rescale = float(getattr(processor, "rescale_factor", _UNIT_RESCALE))
    scale = 255.0 * rescale if getattr(processor, "do_rescale", True) else 255.0
    return _Settings(mean, std, _processor_size(processor), scale)


def _per_channel(values: Any) -> tuple[float, ...]:
    """A processor's mean or std as per-channel values (a single number means all three)."""
    if isinstance(values, (int, float)):
        return (float(values),) * 3
    return tuple(float(v) for v in values)


def _processor_size(processor: Any) -> tuple[int, int] | None:
    for attribute in ("crop_size", "size"):
        if attribute == "crop_size" and not getattr(processor, "do_center_crop", False):
            continue
        size = _as_mapping(getattr(processor, attribute, None))
        if size.get("height") and size.get("width"):
            return int(size["height"]), int(size["width"])
        if size.get("shortest_edge"):
            edge = int(size["shortest_edge"])
            return edge, edge
    return None


def _config_size(config: Any) -> tuple[int, int] | None:
    size = getattr(config, "image_size", None)
    if isinstance(size, int):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    return None


def _as_mapping(size: Any) -> dict[str, Any]:
    if size is None:
        return {}
    if isinstance(size, int):
        return {"height": size, "width": size}
    if isinstance(size, dict):
        return size
    return {key: getattr(size, key, None) for key in ("height", "width", "shortest_edge")}


class HFImageLogits(nn.Module):
    """A Hugging Face image classifier as ``pixel_values -> logits``.

    Args:
        model: an ``AutoModelForImageClassification`` model.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: Tensor) -> Tensor:
        logits: Tensor = self.model(pixel_values=pixel_values).logits
        return logits
