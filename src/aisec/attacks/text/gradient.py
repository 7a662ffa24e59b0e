"""First-order estimates of how much a word swap moves the goal score (white-box victims).

For a victim whose token embeddings are accessible (:class:`~aisec.models.text.TokenClassifier`),
one forward and backward pass gives the gradient ``g_t`` of the goal's log-score with respect
to each input embedding ``e_t``. Replacing the tokens of a span by others then changes the
log-score by about ``Σ_new e'·g − Σ_old e·g`` (HotFlip's first-order estimate, Ebrahimi et al.
2018). The estimate is exact for a bag-of-embeddings model with a linear head (up to the
softmax, which is monotone in the logit margin) when the swap keeps the number of tokens, and
a ranking heuristic for deeper models: candidates are still verified by real queries.

The changed span is found by comparing token ids, so the estimator works with any tokenizer:
the candidate differs from the current text in one word slot, so its ids share a prefix and a
suffix with the current ids; what lies between them is the span that changed.

Reference: Ebrahimi, Rao, Lowd, Dou, "HotFlip: White-Box Adversarial Examples for Text
Classification", ACL 2018.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from aisec.models.text import TextClassifier, TokenClassifier

__all__ = ["ScoreGradient", "require_token_classifier"]


def require_token_classifier(model: TextClassifier, who: str) -> TokenClassifier:
    """``model`` as a :class:`TokenClassifier`, or a ``TypeError`` that says why it must be one."""
    if not isinstance(model, TokenClassifier):
        raise TypeError(
            f"{who} needs a white-box victim whose token embeddings are accessible (an "
            f"aisec.models.text.TokenClassifier such as tweets-bow or tweets-minilm), got "
            f"{type(model).__name__}; use a black-box search such as GreedyWordImportance"
        )
    return model


@dataclass(frozen=True)
class ScoreGradient:
    """The gradient of a goal's log-score at one text, and first-order swap estimates.

    Attributes:
        model: the victim.
        ids: the text's token ids ``(L,)`` (padding removed).
        gradient: ``∂ log score / ∂ embeddings`` ``(L, D)``.
    """

    model: TokenClassifier
    ids: Tensor
    gradient: Tensor

    def estimate(self, texts: Sequence[str]) -> list[float]:
        """Estimated change of the log-score from this text to each of ``texts``.

        Each text should differ from this one in a single contiguous span of tokens (one word
        slot). When the span keeps its length, new and old tokens are compared position by
        position; otherwise the span's mean gradient is used for the new tokens.
        """
        if not texts:
            return []
        ids, mask = self.model.encode(list(texts))
        base = self.ids.tolist()
        out: list[float] = []
        with torch.no_grad():
            base_embeddings = self.model.embed(self.ids.unsqueeze(0))[0]
            embeddings = self.model.embed(ids)  # one lookup for every candidate
            for row, keep, candidate_embeddings in zip(ids, mask, embeddings, strict=True):
                start, old_end, new_end = _changed_span(base, row[keep].tolist())
                old = base_embeddings[start:old_end]
                new = candidate_embeddings[keep][start:new_end]
                grad_old = self.gradient[start:old_end]
                if new.shape[0] == old.shape[0]:
                    grad_new = grad_old
                else:
                    where = grad_old if old_end > start else self.gradient[start : start + 1]
                    grad_new = where.mean(0, keepdim=True).expand(new.shape[0], -1)
                out.append(float((new * grad_new).sum() - (old * grad_old).sum()))
        return out


def _changed_span(base: list[int], candidate: list[int]) -> tuple[int, int, int]:
    """``(start, base_end, candidate_end)``: the span where two id lists differ."""
    start = 0
    limit = min(len(base), len(candidate))
    while start < limit and base[start] == candidate[start]:
        start += 1
    base_end, candidate_end = len(base), len(candidate)
    while (
        base_end > start
        and candidate_end > start
        and base[base_end - 1] == candidate[candidate_end - 1]
    ):
        base_end -= 1
        candidate_end -= 1
    return start, base_end, candidate_end
