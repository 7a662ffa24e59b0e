"""Datasets: procedural traffic signs, bundled digits and photos, online loaders, text corpora.

``aisec.data.load(name, split=..., n=..., seed=...)`` returns an :class:`ImageDataset` whose
images are float tensors in [0, 1], NCHW, or for the text corpora ``"spam"`` and ``"tweets"`` a
:class:`TextDataset` (texts, int64 labels, class names).
"""

from __future__ import annotations

from aisec.data.base import ImageDataset, TextDataset
from aisec.data.registry import (
    TEXT_DATASETS,
    DatasetInfo,
    dataset_info,
    list_datasets,
    load,
    load_text,
)

__all__ = [
    "TEXT_DATASETS",
    "DatasetInfo",
    "ImageDataset",
    "TextDataset",
    "dataset_info",
    "list_datasets",
    "load",
    "load_text",
]
