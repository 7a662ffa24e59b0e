"""Tiny causal language models for the generative-AI tests (random init, a few hundred tokens)."""

from __future__ import annotations

from typing import Any

import pytest

from tiny_language_model import VOCAB, tiny_llama

TINY_VOCAB = VOCAB


class TinyTokenizer:
    """A whitespace tokenizer over ``TINY_VOCAB`` made-up words ``w0 .. w383``."""

    eos_token_id = None
    pad_token_id = 0
    chat_template = None

    def __len__(self) -> int:
        return TINY_VOCAB

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [int(word[1:]) for word in text.split() if word[1:].isdigit()]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return " ".join(f"w{i}" for i in ids)


def make_tiny_llama(seed: int = 0) -> Any:
    """A random-init 2-layer Llama with a ``TINY_VOCAB`` vocabulary, in eval mode."""
    return tiny_llama(hidden_size=32, layers=2, max_positions=512, seed=seed)


@pytest.fixture()
def tiny_tokenizer() -> TinyTokenizer:
    """The tiny whitespace tokenizer."""
    return TinyTokenizer()


@pytest.fixture(scope="session")
def tiny_lm() -> Any:
    """An :class:`aisec.models.language.LanguageModel` around the tiny Llama."""
    from aisec.models.language import LanguageModel

    return LanguageModel(name="tiny-llama", model=make_tiny_llama(), tokenizer=TinyTokenizer())
