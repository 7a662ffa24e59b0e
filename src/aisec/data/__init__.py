"""Datasets: procedural traffic signs, bundled digits and photos, and online loaders.

``aisec.data.load(name, split=..., n=..., seed=...)`` returns an :class:`ImageDataset` whose
images are float tensors in [0, 1], NCHW.
"""

from __future__ import annotations

from aisec.data.base import ImageDataset
from aisec.data.registry import DatasetInfo, dataset_info, list_datasets, load

__all__ = ["DatasetInfo", "ImageDataset", "dataset_info", "list_datasets", "load"]
