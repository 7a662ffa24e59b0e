"""The model zoo: names that load a ready model, training it (or a robust variant) on first use.

Image classifiers (``signs-cnn``, ``digits-cnn``, ``efficientnet-lite0`` and the robustly trained
``signs-cnn-at``, ``signs-cnn-noise``, ``digits-cnn-noise``) come from :mod:`.catalog`, variants
with other training settings from :mod:`.variants`, and the text victims (``tweets-bow``,
``tweets-minilm``) and their defended variants from :mod:`.text` and :mod:`.text_variants`. The
zoo sits above the defenses because its robust entries are trained with them.
"""

from __future__ import annotations

from aisec.zoo.catalog import (
    ModelSpec,
    ModelStatus,
    list_models,
    load,
    model_spec,
    recipe_mismatch,
    train,
    training_record,
)
from aisec.zoo.text import load_text_model, text_model_info
from aisec.zoo.text_variants import adversarially_trained_model, noise_trained_model
from aisec.zoo.variants import (
    METHODS,
    OverfittingMonitor,
    VariantResult,
    make_objective,
    pgd_accuracy,
    train_variant,
    variant_name,
)

__all__ = [
    "METHODS",
    "ModelSpec",
    "ModelStatus",
    "OverfittingMonitor",
    "VariantResult",
    "adversarially_trained_model",
    "list_models",
    "load",
    "load_text_model",
    "make_objective",
    "model_spec",
    "noise_trained_model",
    "pgd_accuracy",
    "recipe_mismatch",
    "text_model_info",
    "train",
    "train_variant",
    "training_record",
    "variant_name",
]
