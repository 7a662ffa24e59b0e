"""Reference solution of the ``spectral_precision`` exercise (chapter 4).

Per class: project the centred features on the top singular vector, oriented so that the
minority (the side with the positive third moment) scores high; split the sorted scores in two
where Otsu's between-group variance is largest, allowing at most the budget on the high side;
flag that side only if it stands at least 4 standard deviations of the rest away from it.
"""

import math

import torch
from torch import Tensor

SEPARATION = 4.0


def flag_poisons(features: Tensor, labels: Tensor, budget: float) -> Tensor:
    """Which samples look poisoned, at most ⌈budget·n_c⌉ of each class c."""
    flagged = torch.zeros(labels.shape[0], dtype=torch.bool)
    for c in labels.unique().tolist():
        members = (labels == c).nonzero().squeeze(1)
        limit = min(math.floor(budget * members.numel()), members.numel() - 2)
        if limit < 1:
            continue
        centred = features[members].double() - features[members].double().mean(0)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        scores = centred @ vh[0]
        if float((scores**3).sum()) < 0:  # the minority side scores high
            scores = -scores
        order = scores.argsort(descending=True)
        ranked = scores[order]
        n = ranked.numel()
        sizes = torch.arange(1, limit + 1, dtype=torch.float64)
        top_means = ranked.cumsum(0)[:limit] / sizes
        rest_means = (ranked.sum() - ranked.cumsum(0)[:limit]) / (n - sizes)
        between = sizes * (n - sizes) * (top_means - rest_means) ** 2  # Otsu's criterion
        k = int(between.argmax()) + 1
        rest = ranked[k:]
        if float((ranked[:k].mean() - rest.mean()) / rest.std()) >= SEPARATION:
            flagged[members[order[:k]]] = True
    return flagged
