"""The pieces every text attack shares: word slots, goal functions and per-example results.

A text is split once into **word slots** (:class:`AttackText`): words, @mentions, #hashtags,
URLs and numbers, with the text between them kept verbatim. Transformations replace the string
of one slot, so slot ``i`` of an adversarial text always corresponds to slot ``i`` of the
original — even when a perturbed slot holds invisible characters or punctuation — and "words
changed" is simply the number of slots whose string differs.

Goal functions (TextAttack's decomposition; Morris et al. 2020) score candidate texts against a
victim and count its queries: :class:`UntargetedClassification` succeeds when the predicted
class differs from the true one, :class:`TargetedClassification` when it is the target class.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
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
    """A text as word slots and the separators between them.

    Attributes:
        words: the slot strings, in order.
        gaps: the text before, between and after the slots (``len(words) + 1`` strings).
        modified: indices of slots changed from the original.
    """

    words: tuple[str, ...]
    gaps: tuple[str, ...]
    modified: frozenset[int] = field(default_factory=frozenset)

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

    @property
    def text(self) -> str:
        """The full text."""
        parts = [self.gaps[0]]
        for word, gap in zip(self.words, self.gaps[1:], strict=True):
            parts += [word, gap]
        return "".join(parts)

    def __len__(self) -> int:
        return len(self.words)

    def replace_word(self, index: int, new: str) -> AttackText:
        """A copy with slot ``index`` replaced by ``new`` (and marked modified)."""
        words = list(self.words)
        words[index] = new
        return replace(self, words=tuple(words), modified=self.modified | {index})

    def delete_word(self, index: int) -> AttackText:
        """A copy with slot ``index`` emptied (used to rank word importance)."""
        return self.replace_word(index, "")

    def changed_indices(self, original: AttackText) -> list[int]:
        """Slots whose string differs from ``original``'s."""
        return [
            i for i, (a, b) in enumerate(zip(self.words, original.words, strict=True)) if a != b
        ]


class QueryBudgetExhaustedError(Exception):
    """Raised inside a search when the victim's query budget is spent."""


@dataclass(frozen=True)
class Evaluation:
    """A goal function's verdict on one text.

    Attributes:
        score: higher is closer to the goal (in [0, 1]).
        success: whether the goal is met.
        probabilities: the victim's class probabilities ``(K,)``.
    """

    score: float
    success: bool
    probabilities: torch.Tensor

    @property
    def prediction(self) -> int:
        """The predicted class."""
        return int(self.probabilities.argmax())


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
        for start in range(0, len(new), self.goal.batch_size):
            chunk = new[start : start + self.goal.batch_size]
            probabilities = self.model.predict_proba(chunk).float()
            scores = self.goal.score(probabilities, self.label)
            success = self.goal.is_success(probabilities, self.label)
            for i, text in enumerate(chunk):
                self._cache[text] = Evaluation(
                    float(scores[i]), bool(success[i]), probabilities[i].clone()
                )
            self.queries += len(chunk)
        return [self._cache[t] for t in texts]

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
