"""Exercise ``dlr_loss`` (chapter 0, docs/00-threat-models.md): APGD's DLR loss.

Write Croce & Hein's Difference of Logits Ratio, DLR(z, y) = −(z_y − max_{i≠y} z_i) /
(z_π1 − z_π3), and the targeted DLR-T(z, y, t) = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2), where π
sorts the logits from the largest down. Both take logits (N, K) and return (N,) per-example
losses that autograd can differentiate; DLR needs K ≥ 3 and DLR-T K ≥ 4: raise ValueError
otherwise.

Check it:  aisec exercise check dlr_loss
"""

from torch import Tensor


def dlr_loss(logits: Tensor, y: Tensor) -> Tensor:
    """DLR per example, (N,), for logits (N, K) and labels (N,)."""
    raise NotImplementedError


def targeted_dlr_loss(logits: Tensor, y: Tensor, targets: Tensor) -> Tensor:
    """Targeted DLR per example, (N,), towards ``targets`` (N,)."""
    raise NotImplementedError
