"""A tiny character-level Llama and its tokenizer: a language model for tests (random weights,
one token per character), shared by the genai chapter's and the sharding tests."""

from __future__ import annotations

from typing import Any

import torch

VOCAB = 384


class CharTokenizer:
    """One token per character (code points below ``VOCAB``)."""

    eos_token_id = None
    bos_token_id = None
    pad_token_id = 0
    chat_template = None

    def __len__(self) -> int:
        return VOCAB

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        return {"input_ids": [min(ord(c), VOCAB - 1) for c in text]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids)


def tiny_llama(
    *, hidden_size: int = 16, layers: int = 1, max_positions: int = 1024, seed: int = 0
) -> Any:
    """A random-init Llama over ``VOCAB`` token ids (no BOS/EOS, pad 0), seeded, in eval mode."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model: Any = LlamaForCausalLM(config)
    return model.eval()


def tiny_lm() -> Any:
    """The tiny character model (seeded weights, eval mode) as an aisec ``LanguageModel``."""
    from aisec.models.language import LanguageModel

    return LanguageModel(name="tiny-char-llama", model=tiny_llama(), tokenizer=CharTokenizer())


def tiny_chat_lm(layers: int = 3) -> Any:
    """A tiny character Llama deep enough for top-layer LoRA (``layers`` decoder layers)."""
    from aisec.models.language import LanguageModel

    model = tiny_llama(hidden_size=32, layers=layers)
    return LanguageModel(name="tiny-char-llama", model=model, tokenizer=CharTokenizer())
