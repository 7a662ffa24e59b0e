"""Watermark detection: count green tokens and run a one-proportion z-test, vectorized.

Under the null hypothesis (text written without knowledge of the key) each scored token is green
with probability ``gamma`` independently, so with ``T`` scored tokens of which ``|s|_G`` are
green, ``z = (|s|_G - gamma T) / sqrt(T gamma (1 - gamma))`` is approximately standard normal and
the one-sided p-value is ``P(Z >= z)``. A token is scored when it has the ``min_prefix`` tokens
its seeding scheme needs before it. With ``ignore_repeated=True`` each distinct (context, token)
n-gram counts once, which removes the inflation of z by repeated phrases (as the reference's
``ignore_repeated_ngrams``).

The detector never loops over tokens in Python: PRF values of all windows are computed at once,
the generator is seeded once per *distinct* PRF value, and green status is one gather.

Reference: Kirchenbauer et al., "A Watermark for Large Language Models", ICML 2023, Sec. 3.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from aisec.genai.watermark.scheme import WatermarkScheme, as_token_ids
from aisec.unicode import normalize

__all__ = [
    "DEFAULT_MIN_TOKENS",
    "Detection",
    "NotEnoughTokensError",
    "detect",
    "detect_text",
    "normalize_text",
    "z_score",
]

DEFAULT_MIN_TOKENS = 10
DEFAULT_Z_THRESHOLD = 4.0


class NotEnoughTokensError(ValueError):
    """The text is too short for the test to decide either way."""


@dataclass(frozen=True)
class Detection:
    """Outcome of a watermark test on one token sequence.

    Attributes:
        z_score: ``(|s|_G - gamma T) / sqrt(T gamma (1 - gamma))``.
        p_value: one-sided p-value ``P(Z >= z_score)`` under the no-watermark null.
        num_tokens_scored: ``T``, tokens (or distinct n-grams) that entered the test.
        num_green: ``|s|_G``, green tokens among them.
        green_mask: ``(L,)`` bool, per input token: green (False where not scored).
        scored_mask: ``(L,)`` bool, per input token: whether it entered the test.
        gamma: the scheme's green fraction.
        z_threshold: the decision threshold (default 4).
    """

    z_score: float
    p_value: float
    num_tokens_scored: int
    num_green: int
    green_mask: Tensor
    scored_mask: Tensor
    gamma: float
    z_threshold: float = DEFAULT_Z_THRESHOLD

    @property
    def green_fraction(self) -> float:
        """``num_green / num_tokens_scored``."""
        return self.num_green / self.num_tokens_scored

    @property
    def watermarked(self) -> bool:
        """The verdict: ``z_score >= z_threshold``."""
        return self.z_score >= self.z_threshold

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable summary (masks as lists of 0/1)."""
        return {
            "z_score": self.z_score,
            "p_value": self.p_value,
            "num_tokens_scored": self.num_tokens_scored,
            "num_green": self.num_green,
            "green_fraction": self.green_fraction,
            "watermarked": self.watermarked,
            "z_threshold": self.z_threshold,
            "green_mask": self.green_mask.int().tolist(),
            "scored_mask": self.scored_mask.int().tolist(),
        }


def z_score(num_green: int, num_scored: int, gamma: float) -> float:
    """The one-proportion z-statistic of ``num_green`` green among ``num_scored`` tokens."""
    if num_scored < 1:
        raise NotEnoughTokensError("not enough tokens to decide: no token was scored")
    return (num_green - gamma * num_scored) / math.sqrt(num_scored * gamma * (1.0 - gamma))


def _p_value(z: float) -> float:
    """Upper tail of the standard normal, ``P(Z >= z)``."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def _first_occurrences(rows: Tensor) -> Tensor:
    """``(N,)`` bool: whether each row of ``rows`` ``(N, k)`` is the first of its kind."""
    if rows.shape[0] == 0:
        return torch.zeros(0, dtype=torch.bool)
    _, inverse = torch.unique(rows, dim=0, return_inverse=True)
    positions = torch.arange(rows.shape[0])
    first = torch.full((int(inverse.max()) + 1,), rows.shape[0], dtype=torch.long)
    first = first.scatter_reduce(0, inverse, positions, reduce="amin")
    return first[inverse] == positions


def detect(
    scheme: WatermarkScheme,
    token_ids: Tensor | Sequence[int],
    ignore_repeated: bool = False,
    *,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    min_tokens: int = DEFAULT_MIN_TOKENS,
) -> Detection:
    """Test token ids for the watermark of ``scheme``.

    Args:
        scheme: the :class:`WatermarkScheme` (or Unigram scheme) the text may carry.
        token_ids: ``(L,)`` ids (no prompt, no BOS), from the scheme's tokenizer.
        ignore_repeated: score each distinct (context, token) n-gram once.
        z_threshold: verdict threshold on z (4 gives a false-positive rate of about 3e-5).
        min_tokens: fewest scored tokens for which a verdict is given.

    Returns:
        The :class:`Detection`.

    Raises:
        NotEnoughTokensError: fewer than ``min_tokens`` tokens can be scored ("not enough
            tokens to decide").
        ValueError: ids outside the scheme's vocabulary (a different tokenizer).
    """
    ids = as_token_ids(token_ids)
    if min_tokens < 1:
        raise ValueError(f"min_tokens must be >= 1, got {min_tokens}")
    scheme._check_ids(ids)
    prefix = scheme.min_prefix
    length = ids.shape[0]
    available = max(0, length - prefix)
    if available < min_tokens:
        raise NotEnoughTokensError(
            f"not enough tokens to decide: {length} token(s) give {available} scorable "
            f"position(s) with the {scheme.seeding} scheme, at least {min_tokens} needed"
        )
    ngram = prefix + 1
    grams = ids.unfold(0, ngram, 1)  # (T, ngram): context then target
    targets = grams[:, -1]
    windows = grams if scheme.self_salt else grams[:, :-1]
    green = scheme.is_green(windows, targets)
    counted = _first_occurrences(grams) if ignore_repeated else torch.ones_like(green)
    num_scored = int(counted.sum())
    num_green = int((green & counted).sum())
    if num_scored < min_tokens:
        raise NotEnoughTokensError(
            f"not enough tokens to decide: {num_scored} distinct n-gram(s) after ignoring "
            f"repeats, at least {min_tokens} needed"
        )
    z = z_score(num_green, num_scored, scheme.gamma)
    green_mask = torch.zeros(length, dtype=torch.bool)
    green_mask[prefix:] = green
    scored_mask = torch.zeros(length, dtype=torch.bool)
    scored_mask[prefix:] = counted
    return Detection(
        z_score=z,
        p_value=_p_value(z),
        num_tokens_scored=num_scored,
        num_green=num_green,
        green_mask=green_mask,
        scored_mask=scored_mask,
        gamma=scheme.gamma,
        z_threshold=z_threshold,
    )


def normalize_text(text: str) -> str:
    """Undo Unicode tricks that split tokens without changing how text reads.

    The shared normalisation of :func:`aisec.unicode.normalize`: deletion controls applied,
    bidi overrides resolved, invisible characters removed (zero-width spaces and joiners, soft
    hyphen, bidi marks, BOM, tags, other format and control characters), NFKC compatibility
    normalisation (full-width letters, ligatures, ...) and confusable look-alikes (Cyrillic,
    Greek, ...) folded to their ASCII letters, repeated until the text is stable.

    Raises:
        TypeError: ``text`` is not a string.
        ValueError: the package ``confusable-homoglyphs`` is not installed.
    """
    return normalize(text)


def detect_text(
    scheme: WatermarkScheme,
    text: str,
    tokenizer: Any,
    *,
    normalize: bool = True,
    ignore_repeated: bool = False,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    min_tokens: int = DEFAULT_MIN_TOKENS,
) -> tuple[Detection, Tensor]:
    """Normalize ``text``, tokenize it without special tokens and :func:`detect` the watermark.

    Args:
        scheme: the scheme to test for.
        text: the suspected text (no prompt).
        tokenizer: a Hugging Face tokenizer with ``len(tokenizer) == scheme.vocab_size`` (an
            :class:`aisec.models.language.LanguageModel`'s ``tokenizer``).
        normalize: apply :func:`normalize_text` first (recommended; off to measure its effect).
        ignore_repeated: see :func:`detect`.
        z_threshold: verdict threshold.
        min_tokens: fewest scored tokens for a verdict.

    Returns:
        ``(detection, token_ids)`` with the ``(L,)`` ids that were scored.

    Raises:
        NotEnoughTokensError: empty or too-short text.
        ValueError: a tokenizer whose vocabulary size differs from the scheme's.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    size = len(tokenizer)
    if size != scheme.vocab_size:
        raise ValueError(
            f"the tokenizer has {size} tokens but the watermark scheme expects vocab_size="
            f"{scheme.vocab_size}; use the tokenizer of the model that generated the text"
        )
    if normalize:
        text = normalize_text(text)
    if not text.strip():
        raise NotEnoughTokensError("not enough tokens to decide: the text is empty")
    ids = torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"], dtype=torch.long)
    detection = detect(scheme, ids, ignore_repeated, z_threshold=z_threshold, min_tokens=min_tokens)
    return detection, ids
