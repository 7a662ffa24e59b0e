"""Zero-shot detection of generated text without a watermark: Fast-DetectGPT and baselines.

For a text ``x_1..x_n`` scored by a causal LM with next-token distributions ``p_j`` (given
``x_<j``):

- **log-likelihood**: ``(1/n) sum_j log p_j(x_j)``; machine text is more likely.
- **log-rank**: ``-(1/n) sum_j log rank_j(x_j)`` (rank 1 = the most likely token).
- **Fast-DetectGPT** (analytic sampling discrepancy, one model for sampling and scoring):
  ``(sum_j log p_j(x_j) - sum_j mu_j) / sqrt(sum_j s2_j)`` with ``mu_j = E_{v~p_j} log p_j(v)``
  and ``s2_j = Var_{v~p_j} log p_j(v)``: how much more likely the text is than typical samples
  of the model itself, in standard deviations. No perturbation model and no sampling needed.

All three are "higher = more likely machine-generated"; :func:`roc_auc` scores them on human vs
model text.

References: G. Bao, Y. Zhao, Z. Teng, L. Yang, Y. Zhang, "Fast-DetectGPT: Efficient Zero-Shot
Detection of Machine-Generated Text via Conditional Probability Curvature", ICLR 2024; E.
Mitchell et al., "DetectGPT", ICML 2023 (log-likelihood and log-rank baselines).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["DETECTORS", "TextScores", "roc_auc", "score_ids", "score_texts"]

DETECTORS: tuple[str, ...] = ("fast_detectgpt", "log_likelihood", "log_rank")
MIN_SCORED_TOKENS = 4


@dataclass(frozen=True)
class TextScores:
    """Per-text detector scores (higher = more likely machine-generated), each ``(N,)``."""

    fast_detectgpt: np.ndarray
    log_likelihood: np.ndarray
    log_rank: np.ndarray
    num_tokens: np.ndarray

    def get(self, name: str) -> np.ndarray:
        """The scores of detector ``name`` (one of :data:`DETECTORS`)."""
        if name not in DETECTORS:
            raise ValueError(f"unknown detector {name!r}; expected one of {DETECTORS}")
        return np.asarray(getattr(self, name))


@torch.no_grad()
def _score_batch(
    model: Any, ids: Tensor, mask: Tensor, scored: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Scores of right-padded ids ``(B, L)``: ``mask`` is the attention mask ``(B, L)`` and
    ``scored`` ``(B, L)`` marks the tokens that are scored (the others are context only).

    The vocabulary-wide work (softmax, moments, ranks) is done on the scored positions only,
    not on context or padding."""
    valid = scored[:, 1:].bool()  # position j predicts token j + 1
    row = valid.nonzero()[:, 0]  # (N,) the sequence of each scored token
    logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1]
    log_probs = logits[valid].float().log_softmax(-1)  # (N, V)
    observed = log_probs.gather(-1, ids[:, 1:][valid][:, None])[:, 0]
    probs = log_probs.exp()
    mu = (probs * log_probs).sum(-1)
    var = (probs * log_probs.square()).sum(-1) - mu.square()
    rank = (log_probs > observed[:, None]).sum(-1) + 1

    def per_text(values: Tensor) -> Tensor:
        return torch.zeros(ids.shape[0], dtype=values.dtype).index_add_(0, row, values)

    num_tokens = valid.sum(1)
    count = num_tokens.clamp_min(1)
    fast = per_text(observed - mu) / per_text(var).clamp_min(1e-12).sqrt()
    ll = per_text(observed) / count
    lr = -per_text(rank.float().log()) / count
    return fast, ll, lr, num_tokens


def _context_lengths(sequences: Sequence[Tensor], context: Sequence[int] | None) -> list[int]:
    """Per sequence, its leading context-only tokens (1 by default); checks there are enough
    tokens left to score.

    Raises:
        ValueError: a context length below 1, the wrong number of them, or a sequence with
            fewer than :data:`MIN_SCORED_TOKENS` scored tokens ("not enough tokens to decide").
    """
    lengths = [1] * len(sequences) if context is None else list(context)
    if len(lengths) != len(sequences):
        raise ValueError(
            f"context_lengths has {len(lengths)} entries for {len(sequences)} sequences"
        )
    for index, (seq, length) in enumerate(zip(sequences, lengths, strict=True)):
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"context length {index} must be an int >= 1, got {length!r}")
        if seq.ndim != 1 or seq.shape[0] - length < MIN_SCORED_TOKENS:
            raise ValueError(
                f"text {index} has {seq.shape[0] if seq.ndim == 1 else '?'} tokens ({length} "
                f"of them context only): not enough tokens to decide (at least "
                f"{MIN_SCORED_TOKENS} scored tokens needed)"
            )
    return lengths


def score_ids(
    model: Any,
    sequences: Sequence[Tensor],
    *,
    batch_size: int = 8,
    pad_id: int = 0,
    context_lengths: Sequence[int] | None = None,
) -> TextScores:
    """Detector scores of token sequences under a causal LM.

    Args:
        model: a Hugging Face causal LM (``model(input_ids, attention_mask).logits``).
        sequences: ``N`` id tensors ``(L_i,)``.
        batch_size: sequences per forward pass.
        pad_id: id used for right padding (masked out).
        context_lengths: per sequence, how many leading tokens are context only: the model
            reads them but they are not scored, so that a continuation is scored given its
            prefix (``None``: the first token of each sequence, which has no context itself).
            At least :data:`MIN_SCORED_TOKENS` tokens of each sequence must be left to score.

    Returns:
        :class:`TextScores` (``num_tokens``: the scored tokens of each sequence).

    Raises:
        ValueError: no sequences, a bad context length, or a sequence with too few scored
            tokens ("not enough tokens to decide").
    """
    if not sequences:
        raise ValueError("no texts to score")
    context = _context_lengths(sequences, context_lengths)
    outputs: list[list[float]] = [[], [], [], []]
    for start in range(0, len(sequences), batch_size):
        chunk = sequences[start : start + batch_size]
        width = max(int(s.shape[0]) for s in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        mask = torch.zeros(len(chunk), width, dtype=torch.long)
        scored = torch.zeros(len(chunk), width, dtype=torch.long)
        for row, seq in enumerate(chunk):
            ids[row, : seq.shape[0]] = seq
            mask[row, : seq.shape[0]] = 1
            scored[row, context[start + row] : seq.shape[0]] = 1
        for slot, values in zip(outputs, _score_batch(model, ids, mask, scored), strict=True):
            slot.extend(values.tolist())
    fast, ll, lr, n = (np.asarray(v) for v in outputs)
    return TextScores(fast_detectgpt=fast, log_likelihood=ll, log_rank=lr, num_tokens=n)


def score_texts(
    lm: Any, texts: Sequence[str], *, max_tokens: int = 128, batch_size: int = 8
) -> TextScores:
    """Detector scores of ``texts`` under an :class:`aisec.models.language.LanguageModel`.

    Args:
        lm: the scoring (and, for Fast-DetectGPT, sampling) model.
        texts: ``N`` strings; each is tokenized without special tokens and cut to
            ``max_tokens``.
        max_tokens: longest scored prefix.
        batch_size: texts per forward pass.

    Raises:
        ValueError: an empty list or a text with fewer than 5 tokens ("not enough tokens to
            decide").
    """
    sequences = [lm.encode(text)[:max_tokens] for text in texts]
    pad = lm.tokenizer.pad_token_id
    return score_ids(lm.model, sequences, batch_size=batch_size, pad_id=int(pad or 0))


def roc_auc(human: np.ndarray | Sequence[float], machine: np.ndarray | Sequence[float]) -> float:
    """Area under the ROC curve for "machine scores higher than human" (ties count one half)."""
    h = np.asarray(human, dtype=float)
    m = np.asarray(machine, dtype=float)
    if h.size == 0 or m.size == 0:
        raise ValueError("roc_auc needs at least one human and one machine score")
    greater = (m[:, None] > h[None, :]).sum()
    ties = (m[:, None] == h[None, :]).sum()
    return float((greater + 0.5 * ties) / (h.size * m.size))
