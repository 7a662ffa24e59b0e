"""Feature squeezing: detect adversarial examples by how much squeezing changes the prediction.

A squeezer (bit-depth reduction, median smoothing) removes detail an adversary relies on but a
natural image does not need. Xu et al. score an input by the largest L1 distance between the
model's softmax on it and on each squeezed version, and flag inputs whose score exceeds a
threshold chosen for a target false-positive rate on clean data.

The score is differentiable — through the non-differentiable squeezers' BPDA views (exact
forward, straight-through backward) and the others' exact gradients — so an attacker who knows
the detector can attack it, and should: see :func:`aisec.evaluate.evaluate_feature_squeezing`,
whose adaptive attack lowers the score while fooling the model.

Reference:
    W. Xu, D. Evans, Y. Qi, "Feature Squeezing: Detecting Adversarial Examples in Deep Neural
    Networks", NDSS 2018.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from aisec.defenses.preprocess import BitDepthReduction, MedianFilter, Preprocessor, check_images

__all__ = ["FeatureSqueezing", "roc_auc"]


class FeatureSqueezing(nn.Module):
    """The feature-squeezing detector: ``score(x) = max_s ‖softmax f(x) − softmax f(s(x))‖₁``.

    Args:
        model: the classifier (logits out) the detector protects.
        squeezers: the squeezing preprocessors (default: 4-bit depth and a 2×2 median filter).
        threshold: scores above it are flagged; set it with :meth:`calibrate`.

    Raises:
        TypeError / ValueError: for a model that is not a module, squeezers that are not
            :class:`~aisec.defenses.preprocess.Preprocessor` s, none at all, or a bad threshold.

    Reference:
        W. Xu, D. Evans, Y. Qi, "Feature Squeezing: Detecting Adversarial Examples in Deep
        Neural Networks", NDSS 2018 (arXiv:1704.01155).
    """

    def __init__(
        self,
        model: nn.Module,
        squeezers: Sequence[Preprocessor] | None = None,
        *,
        threshold: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
        if squeezers is None:
            squeezers = (BitDepthReduction(4), MedianFilter(2))
        squeezers = list(squeezers)
        if not squeezers:
            raise ValueError("feature squeezing needs at least one squeezer")
        for s in squeezers:
            if not isinstance(s, Preprocessor):
                raise TypeError(f"squeezers must be Preprocessors, got {type(s).__name__}")
        self.model = model
        self.squeezers = nn.ModuleList(s.with_bpda(not s.differentiable) for s in squeezers)
        self.threshold = None if threshold is None else _check_threshold(threshold)

    def specs(self) -> list[str]:
        """The squeezers' specs, e.g. ``["bits:4", "median:2"]``."""
        return [s.spec() for s in self.squeezers if isinstance(s, Preprocessor)]

    def view_logits(self, x: Tensor) -> list[Tensor]:
        """The model's logits ``(N, K)`` on ``x`` and on each squeezed version, in that order."""
        x = check_images(x)
        return [self.model(x), *(self.model(squeeze(x)) for squeeze in self.squeezers)]

    @staticmethod
    def score_from_logits(views: Sequence[Tensor]) -> Tensor:
        """Scores ``(N,)`` from :meth:`view_logits`' output (the first entry is unsqueezed)."""
        reference = views[0].softmax(dim=1)
        distances = [(reference - v.softmax(dim=1)).abs().sum(dim=1) for v in views[1:]]
        return torch.stack(distances).amax(dim=0)

    def score(self, x: Tensor) -> Tensor:
        """Detection scores ``(N,)`` in ``[0, 2]`` of images ``(N, C, H, W)`` (differentiable)."""
        return self.score_from_logits(self.view_logits(x))

    def forward(self, x: Tensor) -> Tensor:
        """:meth:`score`."""
        return self.score(x)

    def scores(self, x: Tensor, batch_size: int = 256) -> Tensor:
        """Scores ``(N,)`` without gradients, in batches."""
        x = check_images(x)
        with torch.no_grad():
            parts = [self.score(x[i : i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        return torch.cat(parts) if parts else x.new_zeros(0)

    def calibrate(self, x_clean: Tensor, *, fpr: float = 0.05, batch_size: int = 256) -> float:
        """Set the threshold so that at most a fraction ``fpr`` of ``x_clean`` is flagged.

        Args:
            x_clean: ``(N, C, H, W)`` clean images (held out from the evaluation if possible).
            fpr: the target false-positive rate, in ``(0, 1)``.
            batch_size: images per forward pass.

        Returns:
            The threshold (also stored in :attr:`threshold`).
        """
        if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 < fpr < 1:
            raise ValueError(f"fpr must be a number in (0, 1), got {fpr!r}")
        scores = self.scores(x_clean, batch_size)
        if scores.numel() == 0:
            raise ValueError("calibrate needs at least one clean image")
        # The smallest score such that at most fpr·N clean scores lie strictly above it.
        ordered = scores.double().sort().values
        index = min(scores.numel() - 1, max(0, math.ceil((1 - fpr) * scores.numel()) - 1))
        self.threshold = float(ordered[index])
        return self.threshold

    def detect(self, x: Tensor, batch_size: int = 256) -> Tensor:
        """Which images ``(N, C, H, W)`` are flagged adversarial, ``(N,)`` bool (score > threshold).

        Raises:
            ValueError: if the detector has no threshold yet (call :meth:`calibrate`).
        """
        if self.threshold is None:
            raise ValueError("the detector has no threshold: call calibrate(x_clean) first")
        return self.scores(x, batch_size) > self.threshold


def _check_threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"threshold must be a number, got {type(value).__name__}")
    if not math.isfinite(float(value)):
        raise ValueError(f"threshold must be finite, got {value!r}")
    return float(value)


def roc_auc(negative: Tensor, positive: Tensor) -> float:
    """Area under the ROC curve of scores: the probability that a positive outscores a negative.

    Computed exactly as the Mann–Whitney statistic, ties counting one half.

    Args:
        negative: ``(M,)`` scores of negatives (e.g. clean images).
        positive: ``(P,)`` scores of positives (e.g. adversarial examples).

    Returns:
        The AUC in ``[0, 1]`` (0.5: no better than chance).

    Raises:
        ValueError: if either set is empty or contains NaN.
    """
    neg = torch.as_tensor(negative).detach().double().flatten().cpu()
    pos = torch.as_tensor(positive).detach().double().flatten().cpu()
    if neg.numel() == 0 or pos.numel() == 0:
        raise ValueError("roc_auc needs at least one negative and one positive score")
    if bool(torch.isnan(neg).any()) or bool(torch.isnan(pos).any()):
        raise ValueError("roc_auc got NaN scores")
    ordered = neg.sort().values
    below = torch.searchsorted(ordered, pos, right=False).double()
    at_or_below = torch.searchsorted(ordered, pos, right=True).double()
    wins = below + 0.5 * (at_or_below - below)
    return float(wins.sum() / (neg.numel() * pos.numel()))
