"""Embedding the watermark: a Hugging Face ``LogitsProcessor`` that adds delta to green logits.

Adding it to generation is one line::

    processor = WatermarkLogitsProcessor(scheme)
    model.generate(input_ids, logits_processor=LogitsProcessorList([processor]), do_sample=True)

For ``simple_1`` (and Unigram) each row's green list is seeded by its last token; for
``selfhash`` the processor follows the reference's rejection rule: each of the 41 highest-scoring
candidates is appended to the row's last three tokens, and the candidate gets the bias iff it is
in the green list that this window seeds. Green lists are computed once per distinct PRF value in
the batch (and cached by the scheme); the bias itself is one vectorized ``scatter_add``.

Reference: Kirchenbauer et al., "A Watermark for Large Language Models", ICML 2023, Alg. 2; the
selfhash rule is Alg. 3 of "On the Reliability of Watermarks for Large Language Models", 2024.
"""

from __future__ import annotations

import torch
from torch import Tensor
from transformers import LogitsProcessor

from aisec.genai.watermark.scheme import WatermarkScheme

__all__ = ["SELFHASH_CANDIDATES", "WatermarkLogitsProcessor", "green_bias_mask"]

SELFHASH_CANDIDATES = 41  # the reference's "fixed_compute" tail rule: candidates 0..40


def green_bias_mask(scheme: WatermarkScheme, input_ids: Tensor, scores: Tensor) -> Tensor:
    """Which logits get the bias: ``(B, V_logits)`` bool for context ``(B, L)``, scores ``(B, V)``.

    Args:
        scheme: the watermark scheme.
        input_ids: ``(B, L)`` ids so far (prompt included).
        scores: ``(B, V_logits)`` next-token scores with ``V_logits >= scheme.vocab_size``
            (models may pad their output layer; padded ids are never green).

    Returns:
        ``(B, V_logits)`` bool mask of the green logits.
    """
    if input_ids.ndim != 2 or scores.ndim != 2 or input_ids.shape[0] != scores.shape[0]:
        raise ValueError(
            f"expected input_ids (B, L) and scores (B, V), got {tuple(input_ids.shape)} and "
            f"{tuple(scores.shape)}"
        )
    width = scores.shape[1]
    if width < scheme.vocab_size:
        raise ValueError(
            f"the model scores {width} tokens but the watermark scheme has vocab_size="
            f"{scheme.vocab_size}; build the scheme with the model tokenizer's size"
        )
    need = scheme.min_prefix
    if input_ids.shape[1] < need:
        raise ValueError(
            f"the {scheme.seeding} seeding needs a prompt of at least {need} token(s), "
            f"got {input_ids.shape[1]}"
        )
    ids = input_ids.detach().to("cpu", torch.long)
    batch = ids.shape[0]
    mask = torch.zeros(batch, width, dtype=torch.bool)
    if not scheme.self_salt:
        windows = ids[:, ids.shape[1] - scheme.context_width :]
        values, inverse = torch.unique(scheme.prf(windows), return_inverse=True)
        mask[:, : scheme.vocab_size] = scheme.green_masks(values)[inverse]
        return mask.to(scores.device)
    k = min(SELFHASH_CANDIDATES, scheme.vocab_size)
    candidates = scores[:, : scheme.vocab_size].detach().topk(k, dim=1).indices.cpu()  # (B, k)
    prefix = ids[:, ids.shape[1] - need :]  # (B, 3)
    windows = torch.cat([prefix[:, None, :].expand(batch, k, need), candidates[..., None]], 2)
    own = scheme.is_green(windows.reshape(batch * k, -1), candidates.reshape(-1))
    rows = torch.arange(batch)[:, None].expand(batch, k)
    mask[rows[own.view(batch, k)], candidates[own.view(batch, k)]] = True
    return mask.to(scores.device)


class WatermarkLogitsProcessor(LogitsProcessor):
    """Add ``scheme.delta`` to the logits of green tokens, for every row of the batch.

    Args:
        scheme: the :class:`WatermarkScheme` (or Unigram scheme) to embed.

    Call with ``input_ids`` ``(B, L)`` and ``scores`` ``(B, V)``; returns the biased scores
    ``(B, V)`` (a new tensor; the input is not modified).
    """

    def __init__(self, scheme: WatermarkScheme) -> None:
        if not isinstance(scheme, WatermarkScheme):
            raise TypeError(f"scheme must be a WatermarkScheme, got {type(scheme).__name__}")
        self.scheme = scheme

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        mask = green_bias_mask(self.scheme, input_ids, scores)
        return scores + mask.to(scores.dtype) * self.scheme.delta
