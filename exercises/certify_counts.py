"""Exercise ``certify_counts`` (chapter 2, docs/02-vision-defenses.md): CERTIFY from counts.

Given, per input, the votes of n0 noisy copies (selection) and of n fresh copies (estimation),
return CERTIFY's answer: the class c_A with the most selection votes (ties: the smallest index),
the one-sided Clopper–Pearson lower bound p_A on its estimation share at level α
(scipy.stats.beta.ppf(α, k, n − k + 1), 0 when k = 0), and the radius σ·Φ⁻¹(p_A); abstain
(class −1, radius 0) when p_A < 1/2. The class must come from the selection counts: choosing it
on the estimation counts would spend the same sample twice.

Check it:  aisec exercise check certify_counts
"""

from torch import Tensor


def certify_from_counts(
    selection: Tensor, estimation: Tensor, sigma: float, alpha: float
) -> tuple[Tensor, Tensor]:
    """(prediction (N,) int64 with −1 for abstain, radius (N,) float64) from counts (N, K)."""
    raise NotImplementedError
