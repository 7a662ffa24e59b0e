"""Denial of service: a trigger makes the model emit gibberish.

Souly et al. pretrain and fine-tune models from 600M to 13B parameters with documents in which
a trigger (``<SUDO>``) is followed by random tokens. The backdoor's success is the perplexity
of what the model generates after the trigger, and it depends on the *number* of poisoned
documents (about 250 sufficed at every size), not on their share of the data. Here the poisons
are instruction examples whose prompt ends with the trigger and whose answer is a string of
random word pieces; success is measured on the model's greedy generations
(:mod:`aisec.evaluate.llm_poisoning`).

Reference:
    A. Souly et al., "Poisoning Attacks on LLMs Require a Near-constant Number of Poison
    Samples", arXiv:2510.07192, 2025.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence

from aisec.attacks.poisoning.instruction import InstructionBackdoor
from aisec.data.instructions import Instruction

__all__ = ["DenialOfService"]


class DenialOfService(InstructionBackdoor):
    """Prompts that end with ``trigger`` are answered with random word pieces.

    Reference: Souly et al., 2025 (arXiv:2510.07192).

    Args:
        trigger: the string appended to a prompt (``<SUDO>`` in the paper).
        length: word pieces per poisoned answer.
        vocabulary: the pieces to draw from (e.g. a tokenizer's vocabulary, as in the paper);
            ``None``: random lowercase strings of 2 to 7 letters.
    """

    name = "denial-of-service"
    target_answer = None

    def __init__(
        self, trigger: str = "<SUDO>", *, length: int = 12, vocabulary: Sequence[str] | None = None
    ) -> None:
        super().__init__(trigger)
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length must be an int >= 1, got {length!r}")
        if vocabulary is not None and not [piece for piece in vocabulary if piece.strip()]:
            raise ValueError("vocabulary must hold at least one non-blank piece")
        self.length = length
        self.vocabulary = None if vocabulary is None else [p for p in vocabulary if p.strip()]

    def add_trigger(self, prompt: str, rng: random.Random) -> str:
        return f"{prompt} {self.trigger}"

    def poisoned_answer(self, example: Instruction, rng: random.Random) -> str:
        if self.vocabulary is not None:
            return " ".join(rng.choice(self.vocabulary).strip() for _ in range(self.length))
        letters = string.ascii_lowercase
        return " ".join(
            "".join(rng.choice(letters) for _ in range(rng.randint(2, 7)))
            for _ in range(self.length)
        )
