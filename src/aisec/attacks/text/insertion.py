"""Insertion transformations: candidate texts with words or sentences added at one place.

An insertion never moves a word slot (see :class:`~aisec.attacks.text.core.AttackText`): the
inserted text is kept apart and rendered at a *gap*, the place just before a slot. Where the
pieces go is a *position*, resolved to a gap of the text being attacked:

- ``"start"`` — before the first slot;
- ``"end"`` — after the last slot the victim reads: the end of the text for a victim without a
  token window, otherwise inside its window (the search moves the inserted block earlier until
  the victim reads all of it; see :class:`~aisec.attacks.text.search.GreedyInsertion`);
- ``"after-first-line"`` — after the first line (an e-mail's subject line): just before the
  first slot that follows a line break, or the end of a one-line text.

The search inserts every piece at the same gap, so the added text is one block, its pieces in
the order they were chosen.

- :class:`InsertWords` — one word of a list at a time; a word may be inserted again (word
  counts matter to a naive Bayes filter). Good-word attacks (Lowd & Meek 2005).
- :class:`InsertSentences` — one sentence of a list at a time, each at most once (contextual
  insertion of benign text).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aisec.attacks.text.core import AttackText
from aisec.attacks.text.transformations import Transformation

__all__ = [
    "POSITIONS",
    "InsertSentences",
    "InsertWords",
    "InsertionTransformation",
    "check_position",
    "insertion_gap",
]

POSITIONS = ("start", "end", "after-first-line")
"""Where insertions go (see the module docstring)."""


def check_position(position: object) -> str:
    """``position`` if it is one of :data:`POSITIONS`; otherwise a ``ValueError``."""
    if not isinstance(position, str) or position not in POSITIONS:
        raise ValueError(f"position must be one of {', '.join(POSITIONS)}; got {position!r}")
    return position


def insertion_gap(text: AttackText, position: str, reach: int | None = None) -> int:
    """The gap of ``text`` that ``position`` names.

    Args:
        text: the text to insert into.
        position: one of :data:`POSITIONS`.
        reach: how many leading slots the victim reads (``None``: all of them).

    Returns:
        A gap in ``[0, len(text)]``. For ``"end"`` with a victim that does not read every
        slot, the gap after the last slot it reads (a search that knows the victim's token
        window moves the block earlier until it is read).

    Raises:
        ValueError: an unknown ``position`` or a negative ``reach``.
    """
    check_position(position)
    if reach is not None and reach < 0:
        raise ValueError(f"reach must be >= 0 or None, got {reach}")
    end = len(text) if reach is None else min(reach, len(text))
    if position == "start":
        return 0
    if position == "after-first-line":
        for gap in range(1, len(text)):
            if "\n" in text.gaps[gap] or "\r" in text.gaps[gap]:
                return min(gap, end)
    return end


def _pieces(values: object, name: str) -> tuple[str, ...]:
    """``values`` as a tuple of distinct stripped non-blank strings, in order."""
    if isinstance(values, str) or not isinstance(values, Sequence):
        raise TypeError(f"{name} must be a sequence of strings, got {type(values).__name__}")
    out: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise TypeError(f"{name} must hold strings, got {value!r}")
        if not value.strip():
            raise ValueError(f"{name} must not hold blank strings")
        out.append(" ".join(value.split()))
    if not out:
        raise ValueError(f"{name} must hold at least one string")
    return tuple(dict.fromkeys(out))


class InsertionTransformation(Transformation):
    """Base class: candidate texts with one piece inserted at a gap.

    Args:
        position: one of :data:`POSITIONS`.

    Subclasses define :meth:`pieces`. :meth:`neighbours` reads its ``index`` as a gap.
    """

    def __init__(self, position: str = "after-first-line") -> None:
        self.position = check_position(position)

    def __call__(self, text: AttackText, index: int) -> list[str]:
        """No slot replacement: an insertion adds text between slots."""
        return []

    def pieces(self, text: AttackText) -> list[str]:
        """The pieces that may be inserted next into ``text``."""
        raise NotImplementedError

    def all_pieces(self) -> tuple[str, ...]:
        """Every piece this transformation may ever insert."""
        raise NotImplementedError

    def gap(self, text: AttackText, reach: int | None = None) -> int:
        """The gap of ``text`` that :attr:`position` names (see :func:`insertion_gap`)."""
        return insertion_gap(text, self.position, reach)

    def neighbours(self, text: AttackText, index: int) -> list[AttackText]:
        """``text`` with each of :meth:`pieces` inserted at gap ``index``."""
        return [text.insert(index, piece) for piece in self.pieces(text)]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"position": self.position}


class InsertWords(InsertionTransformation):
    """Insert one word of a fixed list (repeats allowed).

    Args:
        words: the candidate words (duplicates are dropped, order kept).
        position: one of :data:`POSITIONS`.
        ordered: insert the words in list order only: the next candidate is always the first
            word not yet inserted, so ``k`` steps insert the list's first ``k`` words (a
            passive attack); otherwise every word is a candidate at every step.

    Raises:
        TypeError, ValueError: ``words`` is not a non-empty sequence of non-blank strings, or
            an unknown ``position``.

    Reference: Lowd, Meek, "Good Word Attacks on Statistical Spam Filters", CEAS 2005.
    """

    def __init__(
        self, words: Sequence[str], *, position: str = "after-first-line", ordered: bool = False
    ) -> None:
        super().__init__(position)
        self.words = _pieces(words, "words")
        self.ordered = bool(ordered)

    def pieces(self, text: AttackText) -> list[str]:
        if not self.ordered:
            return list(self.words)
        done = len(text.insertions)
        return [self.words[done]] if done < len(self.words) else []

    def all_pieces(self) -> tuple[str, ...]:
        return self.words

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"words": len(self.words), "ordered": self.ordered}


class InsertSentences(InsertionTransformation):
    """Insert one sentence of a fixed list (each sentence at most once per text).

    Args:
        sentences: the candidate sentences (whitespace collapsed; duplicates dropped).
        position: one of :data:`POSITIONS`.

    Raises:
        TypeError, ValueError: ``sentences`` is not a non-empty sequence of non-blank
            strings, or an unknown ``position``.

    Reference: Jia, Liang, "Adversarial Examples for Evaluating Reading Comprehension
    Systems", EMNLP 2017 (a distracting sentence added to the input).
    """

    def __init__(self, sentences: Sequence[str], *, position: str = "after-first-line") -> None:
        super().__init__(position)
        self.sentences = _pieces(sentences, "sentences")

    def pieces(self, text: AttackText) -> list[str]:
        used = set(text.inserted_pieces())
        return [s for s in self.sentences if s not in used]

    def all_pieces(self) -> tuple[str, ...]:
        return self.sentences

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"sentences": len(self.sentences)}
