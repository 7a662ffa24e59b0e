"""Edits that try to wash a watermark out of text, at token or character level.

Token-level edits act on ids ``(L,)``: random substitution and deletion at a rate (the
"copy-paste / edit" model of Kirchenbauer et al.). Text-level edits act on strings: synonym swaps
(a small offline dictionary), homoglyphs (Cyrillic look-alikes), zero-width characters and emoji
insertion. :class:`EmojiInterleaveProcessor` reproduces the "emoji attack" faithfully: the
generator is made to emit a separator after every word token and the separators are deleted
afterwards, so that no scored token keeps the context it was generated with.

Each edit takes an explicit seed; none touches global random state.

Reference: Kirchenbauer et al., "A Watermark for Large Language Models", ICML 2023, Sec. 6 (the
emoji attack) and Sec. 7 (substitution).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

import torch
from torch import Tensor
from transformers import LogitsProcessor

from aisec.unicode import INVISIBLE_CHARACTERS

__all__ = [
    "SYNONYMS",
    "EmojiInterleaveProcessor",
    "delete_tokens",
    "insert_emojis",
    "insert_homoglyphs",
    "insert_zero_width",
    "strip_token",
    "substitute_tokens",
    "swap_synonyms",
    "text_edits",
]

_HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "y": "у", "x": "х", "i": "і"}
_EMOJIS = ("😀", "🙂", "🚗", "✨", "🔥", "👍", "🌍", "📚")
SYNONYMS: dict[str, tuple[str, ...]] = {
    "big": ("large", "huge"),
    "large": ("big", "huge"),
    "small": ("little", "tiny"),
    "little": ("small",),
    "good": ("fine", "great"),
    "great": ("excellent", "good"),
    "bad": ("poor", "awful"),
    "fast": ("quick", "rapid"),
    "quick": ("fast",),
    "slow": ("sluggish",),
    "important": ("crucial", "vital"),
    "many": ("numerous",),
    "help": ("assist", "aid"),
    "use": ("employ", "utilize"),
    "make": ("create", "produce"),
    "show": ("display", "reveal"),
    "start": ("begin", "commence"),
    "begin": ("start",),
    "end": ("finish", "conclude"),
    "get": ("obtain", "acquire"),
    "buy": ("purchase",),
    "need": ("require",),
    "also": ("additionally", "too"),
    "very": ("extremely", "really"),
    "often": ("frequently",),
    "about": ("regarding", "concerning"),
    "car": ("vehicle", "auto"),
    "cars": ("vehicles", "autos"),
    "people": ("individuals", "persons"),
    "city": ("town",),
    "world": ("globe", "planet"),
    "happy": ("glad", "joyful"),
    "sad": ("unhappy",),
    "simple": ("easy", "basic"),
    "easy": ("simple",),
    "hard": ("difficult", "tough"),
    "difficult": ("hard",),
    "think": ("believe", "reckon"),
    "idea": ("notion", "concept"),
    "way": ("method", "manner"),
    "problem": ("issue", "difficulty"),
    "answer": ("reply",),
    "new": ("novel", "fresh"),
    "old": ("ancient", "aged"),
    "main": ("primary", "chief"),
    "change": ("alter", "modify"),
    "keep": ("retain", "maintain"),
    "part": ("portion",),
    "often.": ("frequently.",),
    "like": ("such as",),
    "because": ("since", "as"),
    "however": ("nevertheless", "yet"),
    "therefore": ("thus", "hence"),
    "can": ("may",),
    "allow": ("permit", "let"),
    "important.": ("crucial.",),
    "beautiful": ("lovely",),
    "friend": ("companion", "pal"),
    "house": ("home", "dwelling"),
    "food": ("meal", "fare"),
}


def _check_rate(rate: float) -> float:
    if not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must be in [0, 1], got {rate!r}")
    return float(rate)


def _check_ids(ids: Tensor) -> Tensor:
    if ids.ndim != 1 or ids.dtype.is_floating_point:
        raise ValueError(f"token ids must be an integer tensor (L,), got {tuple(ids.shape)}")
    return ids


def substitute_tokens(ids: Tensor, rate: float, vocab_size: int, *, seed: int = 0) -> Tensor:
    """Replace each token with a uniformly random one with probability ``rate``.

    Args:
        ids: ``(L,)`` token ids.
        rate: per-token substitution probability in [0, 1].
        vocab_size: draw replacements from ``[0, vocab_size)``.
        seed: seed of the edit.

    Returns:
        ``(L,)`` edited ids.
    """
    rate = _check_rate(rate)
    ids = _check_ids(ids)
    generator = torch.Generator().manual_seed(seed)
    hit = torch.rand(ids.shape, generator=generator) < rate
    replacement = torch.randint(0, vocab_size, ids.shape, generator=generator)
    return torch.where(hit, replacement, ids)


def delete_tokens(ids: Tensor, rate: float, *, seed: int = 0) -> Tensor:
    """Delete each token with probability ``rate``; returns ``(L',)`` ids with ``L' <= L``."""
    rate = _check_rate(rate)
    ids = _check_ids(ids)
    generator = torch.Generator().manual_seed(seed)
    return ids[torch.rand(ids.shape, generator=generator) >= rate]


def swap_synonyms(text: str, rate: float = 1.0, *, seed: int = 0) -> str:
    """Replace words that have an entry in :data:`SYNONYMS` with a synonym, each with ``rate``."""
    rate = _check_rate(rate)
    rng = random.Random(seed)

    def swap(match: re.Match[str]) -> str:
        word = match.group(0)
        options = SYNONYMS.get(word.lower())
        if not options or rng.random() >= rate:
            return word
        choice = rng.choice(options)
        return choice.capitalize() if word[0].isupper() else choice

    return re.sub(r"[A-Za-z]+\.?", swap, text)


def insert_homoglyphs(text: str, rate: float = 0.5, *, seed: int = 0) -> str:
    """Replace Latin letters that have a Cyrillic look-alike, each with probability ``rate``."""
    rate = _check_rate(rate)
    rng = random.Random(seed)
    return "".join(
        _HOMOGLYPHS[ch] if ch in _HOMOGLYPHS and rng.random() < rate else ch for ch in text
    )


def insert_zero_width(text: str, rate: float = 0.5, *, seed: int = 0) -> str:
    """Insert an invisible zero-width character after each letter with probability ``rate``."""
    rate = _check_rate(rate)
    rng = random.Random(seed)
    return "".join(
        ch + rng.choice(INVISIBLE_CHARACTERS) if ch.isalpha() and rng.random() < rate else ch
        for ch in text
    )


def insert_emojis(text: str, rate: float = 0.5, *, seed: int = 0) -> str:
    """Insert an emoji after each word with probability ``rate`` (text-level emoji insertion)."""
    rate = _check_rate(rate)
    rng = random.Random(seed)
    words = text.split(" ")
    return " ".join(
        f"{word} {rng.choice(_EMOJIS)}" if word and rng.random() < rate else word for word in words
    )


class EmojiInterleaveProcessor(LogitsProcessor):
    """Force ``separator_id`` at every other generated step (the emoji attack's generation half).

    Args:
        separator_id: the token the model is made to emit between real tokens (an emoji).
        prompt_length: length ``P`` of the prompt, so that steps are counted from generation.

    The attacker then deletes the separators (:func:`strip_token`): each remaining token was
    generated with the separator as its context, which the detector never sees.
    """

    def __init__(self, separator_id: int, prompt_length: int) -> None:
        self.separator_id = int(separator_id)
        self.prompt_length = int(prompt_length)

    def __call__(self, input_ids: Tensor, scores: Tensor) -> Tensor:
        step = input_ids.shape[1] - self.prompt_length
        if step % 2 == 0:
            return scores
        forced = torch.full_like(scores, float("-inf"))
        forced[:, self.separator_id] = 0.0
        return forced


def strip_token(ids: Tensor, token_ids: int | Sequence[int]) -> Tensor:
    """Remove every occurrence of ``token_ids`` from ``(L,)`` ids."""
    values = [token_ids] if isinstance(token_ids, int) else list(token_ids)
    return ids[~torch.isin(ids, torch.tensor(values, dtype=ids.dtype))]


def text_edits(seed: int) -> dict[str, Callable[[str], str]]:
    """The text-level edits the evaluations apply, by name, each seeded with ``seed``."""
    return {
        "synonym swaps": lambda t: swap_synonyms(t, 1.0, seed=seed),
        "homoglyphs 50%": lambda t: insert_homoglyphs(t, 0.5, seed=seed),
        "zero-width 50%": lambda t: insert_zero_width(t, 0.5, seed=seed),
        "emoji insertion 50%": lambda t: insert_emojis(t, 0.5, seed=seed),
    }
