"""Watermark detection: count green tokens and run a one-proportion z-test, vectorized.

Under the null hypothesis (text written without knowledge of the key) each scored token is green
with probability ``gamma`` independently, so with ``T`` scored tokens of which ``|s|_G`` are
green, ``z = (|s|_G - gamma T) / sqrt(T gamma (1 - gamma))`` is approximately standard normal and
the one-sided p-value is ``P(Z >= z)``. A token is scored when it has the ``min_prefix`` tokens
its seeding scheme needs before it. The verdict is "watermarked" when ``z > z_threshold``
(strictly, as the reference implementation); the default threshold 4 has a nominal
false-positive rate of ``P(Z > 4) = 3.2e-5``.

Repeated n-grams are counted once by default (``ignore_repeated=True``, the reference's
``ignore_repeated_ngrams``, which its detector also enables by default): a repeated (context,
token) pair is not a new, independent draw, so counting it again breaks the test's independence
assumption. Counting repeats, a human tweet pasted three times scores z of about 4 and a
sentence repeated many times z above 40. :attr:`Detection.num_repeats_ignored` says how many
tokens were left out; ``ignore_repeated=False`` counts every token (for comparison with results
that did).

A leading beginning-of-sequence token is not scored when its id is given (``bos_token_id``;
:func:`detect_text` takes it from the tokenizer), as the reference drops it.

The detector never loops over tokens in Python: PRF values of all windows are computed at once,
the generator is seeded once per *distinct* PRF value, and green status is one gather. Drawing a
green list (a ``randperm`` of the vocabulary) is sequential work of a fraction of a millisecond;
torch would split its vocabulary-sized steps over its intra-op threads, and on a busy machine
each such split waits for a descheduled thread: on a loaded two-core machine, 400 tokens took
0.3-0.4 s on one thread and 2.4 s (median; up to 11 s) on two. So :func:`detect` runs on one
intra-op thread by default (``num_threads=1``) and restores torch's setting afterwards;
``num_threads=None`` leaves it alone (``benchmarks/bench_watermark_threads.py`` measures both).

Reference: Kirchenbauer et al., "A Watermark for Large Language Models", ICML 2023, Sec. 3.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from aisec.genai.watermark.scheme import WatermarkScheme, as_token_ids
from aisec.unicode import normalize

__all__ = [
    "DEFAULT_MIN_TOKENS",
    "DEFAULT_Z_THRESHOLD",
    "Detection",
    "NotEnoughTokensError",
    "check_z_threshold",
    "detect",
    "detect_text",
    "intra_op_threads",
    "normalize_text",
    "z_score",
]

DEFAULT_MIN_TOKENS = 10
DEFAULT_Z_THRESHOLD = 4.0
"""The verdict threshold: "watermarked" when ``z > 4`` (nominal false-positive rate 3.2e-5)."""


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
        green_mask: ``(L,)`` bool, per input token: green (False where not scorable).
        scored_mask: ``(L,)`` bool, per input token: whether it entered the test.
        gamma: the scheme's green fraction.
        z_threshold: the decision threshold (default 4).
        num_repeats_ignored: scorable tokens left out because their (context, token) n-gram
            had been scored before (0 when repeats are counted).
        bos_dropped: whether a leading beginning-of-sequence token was left out.
    """

    z_score: float
    p_value: float
    num_tokens_scored: int
    num_green: int
    green_mask: Tensor
    scored_mask: Tensor
    gamma: float
    z_threshold: float = DEFAULT_Z_THRESHOLD
    num_repeats_ignored: int = 0
    bos_dropped: bool = False

    @property
    def green_fraction(self) -> float:
        """``num_green / num_tokens_scored``."""
        return self.num_green / self.num_tokens_scored

    @property
    def watermarked(self) -> bool:
        """The verdict: ``z_score > z_threshold`` (strictly, as the reference)."""
        return self.z_score > self.z_threshold

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
            "num_repeats_ignored": self.num_repeats_ignored,
            "bos_dropped": self.bos_dropped,
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


def check_z_threshold(z_threshold: object) -> float:
    """``z_threshold`` as a float.

    Raises:
        ValueError: it is not a finite real number.
    """
    if isinstance(z_threshold, bool) or not isinstance(z_threshold, numbers.Real):
        raise ValueError(f"z_threshold must be a finite number, got {z_threshold!r}")
    if not math.isfinite(float(z_threshold)):
        raise ValueError(f"z_threshold must be a finite number, got {z_threshold!r}")
    return float(z_threshold)


def _check_num_threads(num_threads: object) -> None:
    if num_threads is None:
        return
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise ValueError(f"num_threads must be an int >= 1 or None, got {num_threads!r}")


@contextmanager
def intra_op_threads(num_threads: int | None) -> Iterator[None]:
    """Run the block with torch's intra-op thread count set to ``num_threads``, then restore it.

    The one place where aisec changes a thread count, scoped to one detection. A detection
    draws one green list per distinct context: a ``randperm`` of the vocabulary, sequential
    work of a fraction of a millisecond whose vocabulary-sized fill torch splits over its
    intra-op threads. Hundreds of such tiny parallel regions cost more than they save, and on a
    busy machine each one waits for a descheduled thread. The setting is process-wide while the
    block runs; it is restored even when the block raises.

    Args:
        num_threads: threads for the block (``None``: leave torch's setting alone).
    """
    previous = torch.get_num_threads()
    if num_threads is None or num_threads == previous:
        yield
        return
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


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
    ignore_repeated: bool = True,
    *,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    bos_token_id: int | None = None,
    num_threads: int | None = 1,
) -> Detection:
    """Test token ids for the watermark of ``scheme``.

    Args:
        scheme: the :class:`WatermarkScheme` (or Unigram scheme) the text may carry.
        token_ids: ``(L,)`` ids (no prompt), from the scheme's tokenizer.
        ignore_repeated: score each distinct (context, token) n-gram once (the default, as
            the reference's detector); ``False`` counts repeats, which inflates z on
            repetitive text.
        z_threshold: verdict threshold: "watermarked" when ``z > z_threshold`` (4 gives a
            nominal false-positive rate of 3.2e-5).
        min_tokens: fewest scored tokens for which a verdict is given.
        bos_token_id: the tokenizer's beginning-of-sequence id; a leading one is not scored.
        num_threads: torch intra-op threads while detecting (1: see the module docstring;
            ``None``: torch's current setting).

    Returns:
        The :class:`Detection`.

    Raises:
        NotEnoughTokensError: fewer than ``min_tokens`` tokens can be scored ("not enough
            tokens to decide").
        ValueError: ids outside the scheme's vocabulary (a different tokenizer), a threshold
            that is not a finite number, or a bad ``min_tokens`` or ``num_threads``.
    """
    ids = as_token_ids(token_ids)
    threshold = check_z_threshold(z_threshold)
    if min_tokens < 1:
        raise ValueError(f"min_tokens must be >= 1, got {min_tokens}")
    _check_num_threads(num_threads)
    scheme._check_ids(ids)
    length = ids.shape[0]
    bos_dropped = bos_token_id is not None and length > 0 and int(ids[0]) == bos_token_id
    start = int(bos_dropped)
    prefix = scheme.min_prefix
    available = max(0, length - start - prefix)
    if available < min_tokens:
        raise NotEnoughTokensError(
            f"not enough tokens to decide: {length - start} token(s) give {available} "
            f"scorable position(s) with the {scheme.seeding} scheme, at least {min_tokens} needed"
        )
    with intra_op_threads(num_threads):
        grams = ids[start:].unfold(0, prefix + 1, 1)  # (T, prefix + 1): context then target
        windows = grams if scheme.self_salt else grams[:, :-1]
        green = scheme.is_green(windows, grams[:, -1])
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
    green_mask[start + prefix :] = green
    scored_mask = torch.zeros(length, dtype=torch.bool)
    scored_mask[start + prefix :] = counted
    return Detection(
        z_score=z,
        p_value=_p_value(z),
        num_tokens_scored=num_scored,
        num_green=num_green,
        green_mask=green_mask,
        scored_mask=scored_mask,
        gamma=scheme.gamma,
        z_threshold=threshold,
        num_repeats_ignored=available - num_scored,
        bos_dropped=bos_dropped,
    )


def normalize_text(text: str) -> str:
    """Undo Unicode tricks that split tokens without changing how text reads.

    The shared normalisation of :func:`aisec.unicode.normalize`: deletion controls applied,
    bidi overrides resolved, invisible characters removed (every default-ignorable code point:
    zero-width spaces and joiners, soft hyphen, bidi marks, BOM, Hangul fillers, variation
    selectors, tags; other format and control characters; the blank braille pattern), NFKC
    compatibility normalisation (full-width letters, ligatures, ...) and confusable look-alikes
    (Cyrillic, Greek, ...) folded to their ASCII letters, repeated until the text is stable.

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
    ignore_repeated: bool = True,
    z_threshold: float = DEFAULT_Z_THRESHOLD,
    min_tokens: int = DEFAULT_MIN_TOKENS,
    num_threads: int | None = 1,
) -> tuple[Detection, Tensor]:
    """Normalize ``text``, tokenize it without special tokens and :func:`detect` the watermark.

    A leading beginning-of-sequence token (the tokenizer's ``bos_token_id``, e.g. when the
    text starts with its string) is not scored, as in the reference implementation.

    Args:
        scheme: the scheme to test for.
        text: the suspected text (no prompt).
        tokenizer: a Hugging Face tokenizer with ``len(tokenizer) == scheme.vocab_size`` (an
            :class:`aisec.models.language.LanguageModel`'s ``tokenizer``).
        normalize: apply :func:`normalize_text` first (recommended; off to measure its effect).
        ignore_repeated: see :func:`detect` (on by default).
        z_threshold: verdict threshold (``z > z_threshold``).
        min_tokens: fewest scored tokens for a verdict.
        num_threads: see :func:`detect`.

    Returns:
        ``(detection, token_ids)`` with the ``(L,)`` ids of the text (the detection's masks
        are aligned with them).

    Raises:
        NotEnoughTokensError: empty or too-short text.
        ValueError: a tokenizer whose vocabulary size differs from the scheme's, or a threshold
            that is not a finite number.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    check_z_threshold(z_threshold)
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
    bos = getattr(tokenizer, "bos_token_id", None)
    detection = detect(
        scheme,
        ids,
        ignore_repeated,
        z_threshold=z_threshold,
        min_tokens=min_tokens,
        bos_token_id=bos if isinstance(bos, int) else None,
        num_threads=num_threads,
    )
    return detection, ids
