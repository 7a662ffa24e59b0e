"""Exercise ``spectral_precision`` (chapter 4, docs/04-generative-ai.md): precise spectral
signatures.

Tran et al. flag, in every class, the 1.5·ε share of samples with the largest (r̂·v)² (r̂ the
centred features, v the class's top singular vector): every poison and many clean samples, in
every class. Write a detector that flags at most ⌈budget·n_c⌉ samples of each class c but
reaches precision and recall of 90% on backdoored features, and flags (almost) nothing in a
clean set. Decide per class whether a small, far cluster stands out along v (its share and its
separation from the rest), and flag that cluster only. Beware: some clean classes have two
natural sub-populations.

Shapes: features (N, D) float, labels (N,) int64; return (N,) bool.

Check it:  aisec exercise check spectral_precision
"""

from torch import Tensor


def flag_poisons(features: Tensor, labels: Tensor, budget: float) -> Tensor:
    """Which samples look poisoned, at most ⌈budget·n_c⌉ of each class c."""
    raise NotImplementedError
