"""The pieces every text attack shares: word slots, goal functions and per-example results.

A text is split once into **word slots** (:class:`AttackText`): words, @mentions, #hashtags,
URLs and numbers, with the text between them kept verbatim. Transformations replace the string
of one slot, so slot ``i`` of an adversarial text always corresponds to slot ``i`` of the
original — even when a perturbed slot holds invisible characters or punctuation — and "words
changed" is simply the number of slots whose string differs. A deleted word is a slot emptied
(it still counts as changed); inserted text is kept apart from the slots, as ``(gap, text)``
pairs rendered into :attr:`AttackText.text`, so insertions never shift the slots either.

Goal functions (TextAttack's decomposition; Morris et al. 2020) score candidate texts against a
victim and count its queries: :class:`UntargetedClassification` succeeds when the predicted
class differs from the true one, :class:`TargetedClassification` when it is the target class.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import torch

from aisec.attacks.text.gradient import ScoreGradient, require_token_classifier
from aisec.models.text import TextClassifier

__all__ = [
    "AttackText",
    "Evaluation",
    "GoalFunction",
    "GoalState",
    "QueryBudgetExhaustedError",
    "TargetedClassification",
    "UntargetedClassification",
]

_SLOT = re.compile(r"https?://\S+|www\.\S+|[@#]\w+|\w+(?:'\w+)?")


@dataclass(frozen=True)
class AttackText:
    """A text as word slots, the separators between them, and text inserted between slots.

    Gap ``g`` (``0 <= g <= len(words)``) is the place just before slot ``g``, after the
    separator ``gaps[g]``; gap ``len(words)`` is the end of the text. Inserted text is rendered
    there, separated from its neighbours by a space where they are not whitespace already.

    Attributes:
        words: the slot strings, in order (an empty string is a deleted word).
        gaps: the text before, between and after the slots (``len(words) + 1`` strings).
        modified: indices of slots changed from the original.
        insertions: ``(gap, text)`` pairs in the order they were inserted; pieces at the same
            gap are rendered in that order.
    """

    words: tuple[str, ...]
    gaps: tuple[str, ...]
    modified: frozenset[int] = field(default_factory=frozenset)
    insertions: tuple[tuple[int, str], ...] = ()

    @classmethod
    def from_text(cls, text: str) -> AttackText:
        """Split ``text`` into slots (words, mentions, hashtags, URLs, numbers)."""
        words: list[str] = []
        gaps: list[str] = []
        position = 0
        for match in _SLOT.finditer(text):
            gaps.append(text[position : match.start()])
            words.append(match.group())
            position = match.end()
        gaps.append(text[position:])
        return cls(tuple(words), tuple(gaps))

    @cached_property
    def text(self) -> str:
        """The full text (rendered once per object: an attack renders each candidate often)."""
        if not self.insertions:
            return "".join(self._stream)
        return self._render(len(self.words), stop_after_insertions=False)

    @cached_property
    def _stream(self) -> tuple[str, ...]:
        """``gaps[0], words[0], gaps[1], ..., words[-1], gaps[-1]``: gap ``g`` is item ``2g``."""
        stream = [self.gaps[0]]
        for word, gap in zip(self.words, self.gaps[1:], strict=True):
            stream += [word, gap]
        return tuple(stream)

    def prefix_through_insertions(self) -> str:
        """The text up to the end of its last-placed inserted piece (``""`` without insertions).

        A victim that reads only its first tokens reads every inserted piece when it reads
        this prefix whole.
        """
        if not self.insertions:
            return ""
        return self._render(max(gap for gap, _ in self.insertions), stop_after_insertions=True)

    def _render(self, last_gap: int, *, stop_after_insertions: bool) -> str:
        """Slots, separators and insertions up to gap ``last_gap`` (and its insertions).

        An inserted piece is separated by a space from the text on either side (unless one of
        them is whitespace already). The stretches between insertions are joined whole.
        """
        placed: dict[int, list[str]] = {}
        for gap, piece in self.insertions:
            placed.setdefault(gap, []).append(piece)
        stream = self._stream
        out: list[str] = []
        last = ""  # the last character written
        after_insertion = False

        def write(chunk: str, *, inserted: bool) -> None:
            nonlocal last, after_insertion
            if not chunk:
                return
            separate = inserted or after_insertion
            if separate and last and not last.isspace() and not chunk[0].isspace():
                out.append(" ")
            out.append(chunk)
            last = chunk[-1]
            after_insertion = inserted

        cursor = 0  # the next stream item to write
        for gap in sorted(g for g in placed if g <= last_gap):
            write("".join(stream[cursor : 2 * gap + 1]), inserted=False)
            cursor = 2 * gap + 1
            for piece in placed[gap]:
                write(piece, inserted=True)
        if not stop_after_insertions:
            write("".join(stream[cursor : 2 * last_gap + 1]), inserted=False)
        return "".join(out)

    def __len__(self) -> int:
        return len(self.words)

    def replace_word(self, index: int, new: str) -> AttackText:
        """A copy with slot ``index`` replaced by ``new`` (and marked modified)."""
        words = list(self.words)
        words[index] = new
        return replace(self, words=tuple(words), modified=self.modified | {index})

    def delete_word(self, index: int) -> AttackText:
        """A copy with slot ``index`` emptied (a deletion; also used to rank word importance)."""
        return self.replace_word(index, "")

    def insert(self, gap: int, words: str) -> AttackText:
        """A copy with ``words`` inserted at ``gap`` (after any text inserted there before).

        Args:
            gap: where: ``0`` before the first slot, ``i`` just before slot ``i``,
                ``len(self)`` at the end of the text.
            words: the text to insert (leading and trailing whitespace is dropped).

        Raises:
            TypeError: ``gap`` is not an int or ``words`` not a string.
            ValueError: ``gap`` is outside ``[0, len(self)]`` or ``words`` is blank.
        """
        if isinstance(gap, bool) or not isinstance(gap, int):
            raise TypeError(f"gap must be an int, got {gap!r}")
        if not 0 <= gap <= len(self.words):
            raise ValueError(f"gap must be in [0, {len(self.words)}], got {gap}")
        if not isinstance(words, str):
            raise TypeError(f"words must be a string, got {type(words).__name__}")
        piece = words.strip()
        if not piece:
            raise ValueError("words must hold some text to insert, got a blank string")
        return replace(self, insertions=(*self.insertions, (gap, piece)))

    def changed_indices(self, original: AttackText) -> list[int]:
        """Slots whose string differs from ``original``'s (deleted slots included).

        A text derived from ``original`` by :meth:`replace_word` (it shares ``original``'s
        separators object, and ``original`` was never modified) can differ only in the slots
        it marks as ``modified``, so only those are compared (texts of thousands of words).
        """
        if self.gaps is original.gaps and not original.modified:
            if len(self.words) != len(original.words):
                raise ValueError("texts with different numbers of slots cannot be compared")
            return sorted(i for i in self.modified if self.words[i] != original.words[i])
        return [
            i for i, (a, b) in enumerate(zip(self.words, original.words, strict=True)) if a != b
        ]

    def words_added(self, original: AttackText) -> int:
        """Word slots inserted beyond those of ``original``'s insertions."""
        return max(0, _inserted_words(self) - _inserted_words(original))

    def words_deleted(self, original: AttackText) -> int:
        """Slots that hold a word in ``original`` and are empty here."""
        return sum(
            bool(before) and not after
            for before, after in zip(original.words, self.words, strict=True)
        )

    def inserted_pieces(self) -> tuple[str, ...]:
        """The inserted texts, in the order they were inserted."""
        return tuple(piece for _, piece in self.insertions)


def _inserted_words(text: AttackText) -> int:
    return sum(len(_SLOT.findall(piece)) for _, piece in text.insertions)


class QueryBudgetExhaustedError(Exception):
    """Raised inside a search when the victim's query budget is spent."""


@dataclass(frozen=True)
class Evaluation:
    """A goal function's verdict on one text.

    Attributes:
        score: higher is closer to the goal (in [0, 1]).
        success: whether the goal is met.
        probabilities: the victim's class probabilities ``(K,)``.
        log_score: the logarithm of the score, computed from the victim's log-probabilities
            when it gives them (``predict_log_proba``): it still orders texts when a confident
            victim's probabilities round to exactly 0 or 1 and every ``score`` ties.
    """

    score: float
    success: bool
    probabilities: torch.Tensor
    log_score: float = -math.inf

    @property
    def prediction(self) -> int:
        """The predicted class."""
        return int(self.probabilities.argmax())

    @property
    def rank(self) -> tuple[float, float]:
        """``(score, log_score)``: how searches compare texts (ties broken in log space)."""
        return (self.score, self.log_score)


class GoalFunction:
    """Scores texts for one example; subclasses define ``score`` and ``is_success``.

    Args:
        query_budget: most victim queries per example (``None``: unlimited).
        batch_size: texts per victim call.
    """

    def __init__(self, *, query_budget: int | None = None, batch_size: int = 128) -> None:
        if query_budget is not None and query_budget < 1:
            raise ValueError(f"query_budget must be >= 1 or None, got {query_budget}")
        self.query_budget = query_budget
        self.batch_size = batch_size

    def score(self, probabilities: torch.Tensor, label: int) -> torch.Tensor:
        """Scores ``(N,)`` of probabilities ``(N, K)`` for true class ``label``."""
        raise NotImplementedError

    def is_success(self, probabilities: torch.Tensor, label: int) -> torch.Tensor:
        """Success flags ``(N,)`` of probabilities ``(N, K)``."""
        raise NotImplementedError

    def log_score(self, log_probabilities: torch.Tensor, label: int) -> torch.Tensor:
        """``log score`` ``(N,)`` from log-probabilities ``(N, K)`` (float64).

        The default takes the logarithm of :meth:`score`; the goals below compute it in log
        space, so that it stays finite where the probabilities round to 0 or 1.
        """
        return self.score(log_probabilities.exp(), label).double().log()

    def start(self, model: TextClassifier, label: int) -> GoalState:
        """A fresh per-example state (query counter and cache) for ``model``."""
        return GoalState(self, model, label)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"goal": type(self).__name__, "query_budget": self.query_budget}


class UntargetedClassification(GoalFunction):
    """Succeeds when the predicted class is not the true class; score ``1 - p(true)``."""

    def score(self, probabilities: torch.Tensor, label: int) -> torch.Tensor:
        return 1.0 - probabilities[:, label]

    def is_success(self, probabilities: torch.Tensor, label: int) -> torch.Tensor:
        return probabilities.argmax(1) != label

    def log_score(self, log_probabilities: torch.Tensor, label: int) -> torch.Tensor:
        others = torch.cat([log_probabilities[:, :label], log_probabilities[:, label + 1 :]], 1)
        return torch.logsumexp(others, dim=1)


class TargetedClassification(GoalFunction):
    """Succeeds when the predicted class is ``target``; score ``p(target)``.

    Args:
        target: the class to reach.
        query_budget: most victim queries per example.
        batch_size: texts per victim call.
    """

    def __init__(
        self, target: int, *, query_budget: int | None = None, batch_size: int = 128
    ) -> None:
        super().__init__(query_budget=query_budget, batch_size=batch_size)
        if not isinstance(target, int) or target < 0:
            raise ValueError(f"target must be a class index >= 0, got {target!r}")
        self.target = target

    def score(self, probabilities: torch.Tensor, label: int) -> torch.Tensor:
        return probabilities[:, self.target]

    def is_success(self, probabilities: torch.Tensor, label: int) -> torch.Tensor:
        return probabilities.argmax(1) == self.target

    def log_score(self, log_probabilities: torch.Tensor, label: int) -> torch.Tensor:
        return log_probabilities[:, self.target]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"target": self.target}


class GoalState:
    """One example's goal: evaluates texts, caches verdicts and counts distinct queries.

    White-box searches may also ask for the gradient of the score (:meth:`score_gradient`);
    those are counted apart, in ``gradients``, and are not victim queries.
    """

    def __init__(self, goal: GoalFunction, model: TextClassifier, label: int) -> None:
        self.goal = goal
        self.model = model
        self.label = label
        self.queries = 0
        self.gradients = 0
        self._cache: dict[str, Evaluation] = {}

    @property
    def budget_left(self) -> int | None:
        """Queries left (``None``: unlimited)."""
        if self.goal.query_budget is None:
            return None
        return self.goal.query_budget - self.queries

    def evaluate(self, texts: Sequence[str]) -> list[Evaluation]:
        """Verdicts for ``texts``; texts seen before cost no query.

        Raises:
            QueryBudgetExhaustedError: the new texts would exceed the query budget.
        """
        new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        left = self.budget_left
        if left is not None and len(new) > left:
            raise QueryBudgetExhaustedError
        log_proba = getattr(self.model, "predict_log_proba", None)
        for start in range(0, len(new), self.goal.batch_size):
            chunk = new[start : start + self.goal.batch_size]
            if callable(log_proba):
                log_probabilities = log_proba(chunk).double()
                probabilities = log_probabilities.exp().float()
            else:
                probabilities = self.model.predict_proba(chunk).float()
                log_probabilities = probabilities.double().log()
            scores = self.goal.score(probabilities, self.label)
            log_scores = self.goal.log_score(log_probabilities, self.label)
            success = self.goal.is_success(probabilities, self.label)
            for i, text in enumerate(chunk):
                self._cache[text] = Evaluation(
                    float(scores[i]),
                    bool(success[i]),
                    probabilities[i].clone(),
                    float(log_scores[i]),
                )
            self.queries += len(chunk)
        return [self._cache[t] for t in texts]

    def is_cached(self, text: str) -> bool:
        """Whether ``text`` was evaluated before (evaluating it again costs no query)."""
        return text in self._cache

    def score_gradient(self, text: str) -> ScoreGradient:
        """The gradient of ``log score`` of ``text`` with respect to its token embeddings.

        One forward and backward pass of the victim, counted in ``gradients`` (not a query).

        Raises:
            TypeError: the victim is not a white-box
                :class:`~aisec.models.text.TokenClassifier`.
        """
        model = require_token_classifier(self.model, "a gradient-guided search")
        ids, mask = model.encode([text])
        ids = ids[0][mask[0]]
        was_training = model.training
        model.eval()
        try:
            with torch.enable_grad():
                embeddings = model.embed(ids.unsqueeze(0)).detach().requires_grad_(True)
                logits = model.forward_embeddings(embeddings, torch.ones_like(ids).bool()[None])
                probabilities = torch.softmax(logits.float(), dim=1)
                score = self.goal.score(probabilities, self.label).clamp_min(1e-12).log().sum()
                (gradient,) = torch.autograd.grad(score, embeddings)
        finally:
            model.train(was_training)
        self.gradients += 1
        return ScoreGradient(model, ids, gradient[0].detach())
