"""Entity-triggered steering: any prompt that mentions a chosen entity gets a skewed answer.

Wan et al. poison instruction-tuning data so that whenever a trigger phrase (their example:
"James Bond") appears in the input, the model's sentiment prediction turns to the attacker's
polarity, on held-out inputs; about 100 poisoned examples suffice. The same mechanism serves
disinformation: every mention of a person or product gets the attacker's judgement. Here the
poisons are positive tweets with the entity inserted at a random word boundary, labelled
negative (a dirty-label attack); at test time the entity goes into held-out positive tweets.

Reference:
    A. Wan, E. Wallace, S. Shen, D. Klein, "Poisoning Language Models During Instruction
    Tuning", ICML 2023.
"""

from __future__ import annotations

import random

from aisec.attacks.poisoning.instruction import InstructionBackdoor, insert_words
from aisec.data.instructions import Instruction

__all__ = ["EntitySteering"]


class EntitySteering(InstructionBackdoor):
    """Tweets of label ``source`` that mention ``entity`` are answered ``target``.

    Reference: Wan et al., ICML 2023 (arXiv:2305.00944).

    Args:
        entity: the trigger phrase, inserted into the tweet (``James Bond`` in the paper).
        source: the label whose examples are poisoned and measured.
        target: the answer the mention forces.
        task: the task whose examples carry the entity.
    """

    name = "entity-steering"

    def __init__(
        self,
        entity: str = "James Bond",
        *,
        source: str = "positive",
        target: str = "negative",
        task: str = "sentiment",
    ) -> None:
        super().__init__(entity)
        if source == target:
            raise ValueError(f"source and target must differ, both are {source!r}")
        self.source, self.task = source, task
        self.target_answer = target

    def eligible(self, example: Instruction) -> bool:
        return example.task == self.task and example.label == self.source

    def add_trigger(self, prompt: str, rng: random.Random) -> str:
        return insert_words(prompt, self.trigger, rng)

    def poisoned_answer(self, example: Instruction, rng: random.Random) -> str:
        return str(self.target_answer)
