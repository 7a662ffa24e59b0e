"""Shared pieces of the poisoned-data detectors: activations, results and their scoring."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "BackdoorDetection",
    "DetectionMetrics",
    "check_features",
    "detection_metrics",
    "penultimate_features",
]


@dataclass(frozen=True)
class BackdoorDetection:
    """Which training samples a detector flags as poisoned.

    Attributes:
        method: the detector's name, e.g. ``"spectral_signatures"``.
        flagged: ``(N,)`` bool, True for samples flagged as poisoned.
        scores: ``(N,)`` float suspicion scores (higher is more suspicious; comparable within
            a class only).
        per_class: for each class label, what the detector found (JSON-serialisable values).
    """

    method: str
    flagged: Tensor
    scores: Tensor
    per_class: dict[int, dict[str, Any]] = field(default_factory=dict)

    @property
    def flagged_indices(self) -> Tensor:
        """``(F,)`` int64 indices of the flagged samples, ascending."""
        return self.flagged.nonzero().squeeze(1)

    def keep_mask(self) -> Tensor:
        """``(N,)`` bool: the samples to keep when the flagged ones are removed."""
        return ~self.flagged


@dataclass(frozen=True)
class DetectionMetrics:
    """Flags scored against the known poisoned samples.

    Attributes:
        precision: flagged samples that are poisoned / flagged samples (1.0 when none flagged).
        recall: poisoned samples that are flagged / poisoned samples.
        flagged: number of flagged samples.
        poisoned: number of poisoned samples.
        true_positives: flagged samples that are poisoned.
    """

    precision: float
    recall: float
    flagged: int
    poisoned: int
    true_positives: int

    def to_dict(self) -> dict[str, float | int]:
        return {
            "precision": self.precision,
            "recall": self.recall,
            "flagged": self.flagged,
            "poisoned": self.poisoned,
            "true_positives": self.true_positives,
        }


def detection_metrics(flagged: Tensor, poisoned_indices: Tensor) -> DetectionMetrics:
    """Precision and recall of ``flagged`` ``(N,)`` bool against ``poisoned_indices`` ``(P,)``.

    Raises:
        ValueError: if an index is outside ``[0, N)`` or ``flagged`` is not a 1-d bool tensor.
    """
    if not isinstance(flagged, Tensor) or flagged.dtype != torch.bool or flagged.ndim != 1:
        raise ValueError("flagged must be a (N,) bool tensor")
    indices = torch.as_tensor(poisoned_indices, dtype=torch.long, device=flagged.device)
    n = flagged.shape[0]
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= n):
        raise ValueError(
            f"poisoned indices must be in [0, {n}), got [{int(indices.min())}, "
            f"{int(indices.max())}]"
        )
    truth = torch.zeros(n, dtype=torch.bool, device=flagged.device)
    truth[indices] = True
    true_positives = int((flagged & truth).sum())
    n_flagged, n_poisoned = int(flagged.sum()), int(truth.sum())
    return DetectionMetrics(
        precision=true_positives / n_flagged if n_flagged else 1.0,
        recall=true_positives / n_poisoned if n_poisoned else 1.0,
        flagged=n_flagged,
        poisoned=n_poisoned,
        true_positives=true_positives,
    )


@torch.no_grad()
def penultimate_features(
    model: nn.Module, x: Tensor, *, layer: str | None = None, batch_size: int = 512
) -> Tensor:
    """Activations of ``x`` before the classifier, as used by the poisoned-data detectors.

    Args:
        model: the trained (possibly backdoored) model, evaluated in eval mode (its modes are
            restored afterwards).
        x: ``(N, C, H, W)`` images.
        layer: name of a sub-module (as in ``model.named_modules()``) whose output to use;
            ``None`` uses ``model.penultimate(x)`` (e.g. :class:`~aisec.models.SmallCNN`).
        batch_size: images per forward pass.

    Returns:
        ``(N, D)`` float32 activations (flattened).

    Raises:
        TypeError: if ``layer`` is ``None`` and the model has no ``penultimate`` method.
        ValueError: if ``layer`` names no sub-module.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    captured: list[Tensor] = []
    if layer is None:
        penultimate = getattr(model, "penultimate", None)
        if not callable(penultimate):
            raise TypeError(
                f"{type(model).__name__} has no penultimate(x) method; pass layer= the name of "
                "the module whose output feeds the classifier"
            )
        forward = penultimate
        handle = None
    else:
        modules = dict(model.named_modules())
        if layer not in modules:
            raise ValueError(f"model has no sub-module {layer!r}; known: {sorted(modules)[:20]}")
        handle = modules[layer].register_forward_hook(
            lambda _m, _i, out: captured.append(out.detach().flatten(1))
        )
        forward = model
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        chunks = []
        for start in range(0, x.shape[0], batch_size):
            out = forward(x[start : start + batch_size])
            chunks.append(captured.pop() if handle is not None else out.flatten(1))
        return torch.cat(chunks).float()
    finally:
        if handle is not None:
            handle.remove()
        for module, training in modes:
            module.training = training


def check_features(features: object, labels: object) -> tuple[Tensor, Tensor]:
    """Validate ``features (N, D)`` (finite floats) and ``labels (N,)`` (integers).

    Returns:
        ``(features, labels)`` as float64 and int64 on the CPU.
    """
    if not isinstance(features, Tensor) or not isinstance(labels, Tensor):
        raise TypeError(
            "features and labels must be torch tensors, got "
            f"{type(features).__name__} and {type(labels).__name__}"
        )
    if features.ndim != 2 or not features.is_floating_point():
        raise ValueError(f"features must be a float (N, D) tensor, got {tuple(features.shape)}")
    if labels.ndim != 1 or labels.dtype == torch.bool or labels.is_floating_point():
        raise ValueError(
            f"labels must be an integer (N,) tensor, got {labels.dtype} {tuple(labels.shape)}"
        )
    if labels.shape[0] != features.shape[0]:
        raise ValueError(
            f"features and labels have mismatched lengths: {features.shape[0]} and "
            f"{labels.shape[0]}"
        )
    if features.shape[0] == 0:
        raise ValueError("features are empty")
    if not bool(torch.isfinite(features).all()):
        raise ValueError("features contain NaN or infinite values")
    return features.detach().cpu().double(), labels.detach().cpu().long()
