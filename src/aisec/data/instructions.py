"""An instruction-tuning set built offline, with answers that can be checked exactly.

Three tasks, each a short prompt with a short answer:

* ``sentiment``: "Is the sentiment of this tweet positive or negative?" over the CrowdFlower
  tweets (:mod:`aisec.data.tweets`); the answer is ``positive`` or ``negative``.
* ``signs``: a question about one of the twelve traffic signs of :mod:`aisec.data.signs` (its
  shape, its main colour, or which sign a description names); the answer is a word or a sign's
  name.
* ``numbers``: which of two integers below 100 is larger or smaller, or which comes right
  after one; the answer is the number.

The train and test splits never share a source: tweets come from their fixed splits, number
questions are split by a hash of the question, and sign questions by a hash of the question (a test
question asks a fact that training asks in other words). A set is a
seeded, task-balanced sample of a split. Language-model poisoning
(:mod:`aisec.attacks.poisoning.instruction`) turns some examples into poisons; fine-tuning
(:mod:`aisec.genai.finetune`) trains on the answer tokens only.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from aisec.data.signs import SIGN_CLASSES
from aisec.data.tweets import TWEET_CLASSES, load_tweets

__all__ = ["INSTRUCTION_TASKS", "SIGN_FACTS", "Instruction", "load_instructions"]

INSTRUCTION_TASKS: tuple[str, ...] = ("sentiment", "signs", "numbers")
"""The tasks of :func:`load_instructions`, in the order of their round-robin sampling."""

SIGN_FACTS: dict[str, tuple[str, str, str]] = {
    "stop": ("octagon", "red", "vehicles must come to a complete halt"),
    "speed limit 30": ("circle", "white", "the maximum speed is 30 km/h"),
    "speed limit 50": ("circle", "white", "the maximum speed is 50 km/h"),
    "speed limit 80": ("circle", "white", "the maximum speed is 80 km/h"),
    "yield": ("triangle", "white", "drivers must give way to crossing traffic"),
    "no entry": ("circle", "red", "vehicles may not enter this road"),
    "priority road": ("diamond", "yellow", "this road has priority at junctions"),
    "ahead only": ("circle", "blue", "drivers may only continue straight on"),
    "turn right ahead": ("circle", "blue", "drivers must turn right ahead"),
    "keep right": ("circle", "blue", "drivers must pass on the right of the sign"),
    "general caution": ("triangle", "white", "a danger lies ahead"),
    "pedestrian crossing": ("triangle", "white", "pedestrians may cross the road ahead"),
}
"""Each sign's shape, main colour and meaning, for the ``signs`` questions."""

_NUMBERS = 100
_SENTIMENT = "Is the sentiment of this tweet positive or negative? Answer in one word.\nTweet: {}"
_SIGN_TEMPLATES: dict[str, tuple[str, ...]] = {
    "shape": (
        "What shape is the {} sign? Answer in one word.",
        "Which shape does a {} sign have? One word.",
        "Name the shape of a {} sign.",
    ),
    "colour": (
        "What is the main colour of the {} sign? Answer in one word.",
        "Which colour dominates a {} sign? One word.",
        "Name the main colour of a {} sign.",
    ),
    "meaning": (
        "Which traffic sign means that {}? Give its name.",
        "Name the road sign that tells you that {}.",
        "Which sign tells drivers that {}? Give its name.",
    ),
}


@dataclass(frozen=True)
class Instruction:
    """One fine-tuning example: a task's prompt and the answer the model should give.

    Attributes:
        task: one of :data:`INSTRUCTION_TASKS` (a poisoned example keeps the task it came from).
        prompt: the user's message.
        answer: the assistant's reply.
        label: the class of a classification answer (``positive``/``negative``, a shape, a
            colour, a sign's name), ``None`` for an open answer (a number); a poison keeps the
            label of the clean example it was made from.
    """

    task: str
    prompt: str
    answer: str
    label: str | None = None


def load_instructions(n: int, *, split: str = "train", seed: int = 0) -> tuple[Instruction, ...]:
    """A seeded sample of ``n`` examples of one split, the tasks in turn (as equal as ``n`` lets).

    Args:
        n: number of examples, at least 1.
        split: ``"train"`` or ``"test"``; no prompt source is shared between them.
        seed: seed of the sample and of its order.

    Returns:
        ``n`` :class:`Instruction` s in a seeded order.

    Raises:
        ValueError: ``n < 1`` or an unknown split.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    counts = {task: n // len(INSTRUCTION_TASKS) for task in INSTRUCTION_TASKS}
    for task in INSTRUCTION_TASKS[: n % len(INSTRUCTION_TASKS)]:
        counts[task] += 1
    rng = random.Random(f"instructions:{split}:{seed}")
    examples = (
        _sentiment(counts["sentiment"], split, seed)
        + _signs(counts["signs"], split, rng)
        + _numbers(counts["numbers"], split, rng)
    )
    rng.shuffle(examples)
    return tuple(examples)


def _sentiment(n: int, split: str, seed: int) -> list[Instruction]:
    if n == 0:
        return []
    tweets = load_tweets(split, n=n, seed=seed)
    return [
        Instruction("sentiment", _SENTIMENT.format(text), name, name)
        for text, name in zip(
            tweets.texts, (TWEET_CLASSES[int(label)] for label in tweets.labels), strict=True
        )
    ]


def _signs(n: int, split: str, rng: random.Random) -> list[Instruction]:
    pool: list[Instruction] = []
    for sign in SIGN_CLASSES:
        shape, colour, meaning = SIGN_FACTS[sign]
        for attribute, (subject, answer) in {
            "shape": (sign, shape),
            "colour": (sign, colour),
            "meaning": (meaning, sign),
        }.items():
            for template in _SIGN_TEMPLATES[attribute]:
                prompt = template.format(subject)
                if _in_test(prompt) == (split == "test"):
                    pool.append(Instruction("signs", prompt, answer, answer))
    # The pool is small (about a hundred questions): a larger set repeats it, as instruction
    # sets do; a test question is never asked in training (its fact is, in other words).
    return [pool[i % len(pool)] for i in rng.sample(range(max(n, len(pool))), n)]


def _numbers(n: int, split: str, rng: random.Random) -> list[Instruction]:
    examples: list[Instruction] = []
    while len(examples) < n:
        a, b, kind = rng.randrange(_NUMBERS), rng.randrange(_NUMBERS), rng.randrange(3)
        if a == b:
            continue
        if _in_test(f"{kind}:{a}:{b}" if kind < 2 else f"{kind}:{a}") != (split == "test"):
            continue
        if kind == 0:
            question, answer = f"Which number is larger, {a} or {b}?", max(a, b)
        elif kind == 1:
            question, answer = f"Which number is smaller, {a} or {b}?", min(a, b)
        else:
            question, answer = f"What number comes right after {a}?", a + 1
        examples.append(
            Instruction("numbers", f"{question} Answer with the number only.", str(answer))
        )
    return examples


def _in_test(key: str) -> bool:
    """A fixed fifth of the questions, by hash, form the test split."""
    return hashlib.sha256(key.encode()).digest()[0] % 5 == 0
