"""The offline base the tour builds on: the signs data, the zoo's trained models, the photos.

:func:`run` renders each sign class's canonical sign, a preview of the signs test set, measures
the clean test accuracy of the zoo's trained models on their whole test splits, and classifies
the bundled ImageNet photos with EfficientNet-Lite0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from aisec.data import load as load_data
from aisec.data.imagenet_samples import IMAGENET_PHOTOS
from aisec.data.signs import SIGN_CLASSES, canonical_sign
from aisec.experiments import names
from aisec.models import accuracy
from aisec.stats import Rate
from aisec.zoo import model_spec

__all__ = ["FoundationPlan", "FoundationResult", "ModelAccuracy", "PhotoPrediction", "run"]


@dataclass(frozen=True)
class FoundationPlan:
    """What to show and measure.

    Attributes:
        models: zoo models whose clean test accuracy is measured (whole test split).
        preview_n: signs test images generated for the preview (48 are shown).
        template_size: side of the canonical signs, in pixels.
        seed: seed of the signs preview.
    """

    models: tuple[str, ...] = ("digits-cnn", "signs-cnn")
    preview_n: int = 2_000
    template_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.models:
            raise ValueError("models must name at least one zoo model")
        for name in self.models:
            model_spec(name)  # ValueError for an unknown name, before anything loads
        for field, minimum in (("preview_n", 48), ("template_size", 16), ("seed", 0)):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{field} must be an int >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class ModelAccuracy:
    """A zoo model's clean accuracy on its dataset's whole test split."""

    model: str
    dataset: str
    accuracy: Rate


@dataclass(frozen=True)
class PhotoPrediction:
    """EfficientNet-Lite0's top-1 class for one bundled photo."""

    photo: str
    true_class: str
    predicted: str
    confidence: float

    @property
    def correct(self) -> bool:
        return self.true_class == self.predicted


@dataclass(frozen=True)
class FoundationResult:
    """What :func:`run` measured, and the images the report shows.

    Attributes:
        templates: ``(K, 3, S, S)`` the canonical sign of each class, in class order.
        class_names: the signs classes.
        preview: ``(48, 3, 32, 32)`` signs test images; ``preview_labels`` their labels.
        accuracies: one entry per model of the plan.
        photos: one entry per bundled photo.
    """

    plan: FoundationPlan
    templates: Tensor
    class_names: tuple[str, ...]
    preview: Tensor
    preview_labels: Tensor
    accuracies: tuple[ModelAccuracy, ...]
    photos: tuple[PhotoPrediction, ...]

    @property
    def photo_top1(self) -> Rate:
        return Rate(sum(p.correct for p in self.photos), len(self.photos))

    def rows(self) -> list[dict[str, Any]]:
        """The models' clean test accuracy, one row per model."""
        return [
            {
                "model": entry.model,
                "dataset": entry.dataset,
                "test examples": entry.accuracy.total,
                "clean accuracy": entry.accuracy,
            }
            for entry in self.accuracies
        ]

    def photo_rows(self) -> list[dict[str, Any]]:
        """EfficientNet-Lite0's prediction for each photo."""
        return [
            {
                "photo": p.photo,
                "true class": p.true_class,
                "predicted": p.predicted,
                "confidence": p.confidence,
                "correct": p.correct,
            }
            for p in self.photos
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "models": {
                e.model: e.accuracy.to_dict() | {"dataset": e.dataset} for e in self.accuracies
            },
            "photos": self.photo_rows(),
            "photo_top1": self.photo_top1.to_dict(),
        }


def run(plan: FoundationPlan) -> FoundationResult:
    """Render the signs, measure the models, classify the photos (see the module docstring)."""
    templates = torch.stack(
        [canonical_sign(name, size=plan.template_size).image for name in SIGN_CLASSES]
    )
    preview = load_data("signs", "test", n=plan.preview_n, seed=plan.seed)
    shown = preview.subset(48, seed=plan.seed)
    accuracies = []
    for name in plan.models:
        dataset = model_spec(name).dataset
        test = load_data(dataset, "test", seed=0)
        measured = accuracy(names.zoo_model(name), test.images, test.labels)
        accuracies.append(ModelAccuracy(name, dataset, Rate.from_fraction(measured, len(test))))
    photos = load_data("imagenet_samples", "test")
    net = names.zoo_model("efficientnet-lite0")
    with torch.no_grad():
        top = net(photos.images).softmax(1).max(1)
    predictions = tuple(
        PhotoPrediction(
            spec.name,
            photos.class_names[int(label)],
            photos.class_names[int(pred)],
            float(conf),
        )
        for spec, label, pred, conf in zip(
            IMAGENET_PHOTOS, photos.labels, top.indices, top.values, strict=True
        )
    )
    return FoundationResult(
        plan,
        templates,
        tuple(SIGN_CLASSES),
        shown.images,
        shown.labels,
        tuple(accuracies),
        predictions,
    )
