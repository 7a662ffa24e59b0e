"""Reference solution of the ``certify_counts`` exercise (chapter 2)."""

import torch
from scipy import stats
from torch import Tensor


def certify_from_counts(
    selection: Tensor, estimation: Tensor, sigma: float, alpha: float
) -> tuple[Tensor, Tensor]:
    """(prediction (N,) int64 with −1 for abstain, radius (N,) float64) from counts (N, K)."""
    n = estimation.sum(dim=1)
    c_a = selection.argmax(dim=1)  # the first of equal maxima: the smallest index
    k = estimation.gather(1, c_a[:, None]).squeeze(1)
    p_lower = torch.zeros(len(k), dtype=torch.float64)
    some = k > 0
    p_lower[some] = torch.from_numpy(
        stats.beta.ppf(alpha, k[some].numpy(), (n - k + 1)[some].numpy())
    ).double()
    abstain = p_lower < 0.5
    radius = sigma * torch.from_numpy(stats.norm.ppf(p_lower.clamp(min=0.5).numpy()))
    prediction = torch.where(abstain, torch.tensor(-1), c_a)
    return prediction, radius.masked_fill(abstain, 0.0)
