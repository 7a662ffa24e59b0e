"""The part of a text the victim reads: the word slots inside its token window.

Victims truncate long inputs to their first ``max_length`` tokens, so an edit after the window
changes nothing the victim sees and costs the attack queries for nothing (and, kept, a change
that a reader sees but the victim never did). :func:`readable_slots` finds how many leading word
slots of a text the victim reads at least in part, from the victim's own tokenization (no victim
query):

- a :class:`~aisec.models.text.TokenClassifier` (``encode`` and ``max_length``): the tokens its
  ``encode`` keeps;
- a Hugging Face classifier (``tokenizer`` and ``max_length``): its tokenizer, truncating at
  ``max_length``;
- a wrapper that transforms texts before its inner victim (``model`` and ``preprocess``, e.g.
  :class:`~aisec.defenses.text.SanitizedClassifier`): the inner victim's window on the
  transformed texts;
- any other victim (no ``max_length``, or no way to count its tokens): no known window, every
  slot is attackable.

Slot ``k`` is read when the tokens kept of the text up to and including slot ``k`` outnumber
those kept up to slot ``k - 1``: once the window is full, later slots add nothing. This assumes
what every victim here does: truncation keeps the *first* tokens, and an edit of a slot does not
change how the text before it is tokenized.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

from aisec.attacks.text.core import AttackText

__all__ = ["readable_slots", "token_counter"]

TokenCounter = Callable[[Sequence[str]], list[int]]


def _positive_int(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        return None
    return value


def _encode_counter(encode: Callable[[list[str]], Any]) -> TokenCounter:
    def count(texts: Sequence[str]) -> list[int]:
        with warnings.catch_warnings():  # the victim's truncation warning is expected here
            warnings.simplefilter("ignore")
            _, mask = encode(list(texts))
        return [int(n) for n in mask.sum(1).tolist()]

    return count


def _tokenizer_counter(tokenizer: Callable[..., Any], max_length: int) -> TokenCounter:
    def count(texts: Sequence[str]) -> list[int]:
        encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
        return [len(ids) for ids in encoded["input_ids"]]

    return count


def token_counter(model: object) -> tuple[TokenCounter, int] | None:
    """How to count the tokens ``model`` keeps of texts, and its window ``max_length``.

    Args:
        model: a text victim.

    Returns:
        ``(count, max_length)``: ``count(texts)`` gives the tokens kept of each text (at most
        ``max_length``); ``None`` when the victim has no known window.
    """
    inner, preprocess = getattr(model, "model", None), getattr(model, "preprocess", None)
    if inner is not None and callable(preprocess):
        return _preprocessed_counter(inner, preprocess)
    max_length = _positive_int(getattr(model, "max_length", None))
    if max_length is None:
        return None
    encode = getattr(model, "encode", None)
    if callable(encode):
        return _encode_counter(encode), max_length
    tokenizer = getattr(model, "tokenizer", None)
    if callable(tokenizer):
        return _tokenizer_counter(tokenizer, max_length), max_length
    return None


def _preprocessed_counter(
    inner: object, preprocess: Callable[[list[str]], list[str]]
) -> tuple[TokenCounter, int] | None:
    """The inner victim's counter, applied to the wrapper's transformed texts."""
    found = token_counter(inner)
    if found is None:
        return None
    count, max_length = found

    def count_preprocessed(texts: Sequence[str]) -> list[int]:
        return count(preprocess(list(texts)))

    return count_preprocessed, max_length


def _prefix(text: AttackText, slots: int) -> str:
    """The text up to the end of its first ``slots`` slots."""
    parts = [text.gaps[0]]
    for word, gap in zip(text.words[:slots], text.gaps[1:slots], strict=False):
        parts += [word, gap]
    if slots:
        parts.append(text.words[slots - 1])
    return "".join(parts)


def readable_slots(model: object, text: AttackText) -> int | None:
    """How many leading slots of ``text`` the victim reads (at least their first token).

    Args:
        model: the victim.
        text: the text to attack.

    Returns:
        The number of slots the victim reads, which is below ``len(text)`` only when the text
        fills the victim's window; ``None`` when the victim has no known window (every slot
        counts as read).
    """
    found = token_counter(model)
    if found is None:
        return None
    count, max_length = found
    full = count([text.text])[0]
    if full < max_length:
        return len(text)
    # The smallest k whose prefix already fills what the victim keeps of the whole text.
    low, high = 0, len(text)
    if count([_prefix(text, high)])[0] < full:
        return len(text)  # the text after the last slot still adds tokens: all slots are read
    while low < high:
        middle = (low + high) // 2
        if count([_prefix(text, middle)])[0] >= full:
            high = middle
        else:
            low = middle + 1
    return low
