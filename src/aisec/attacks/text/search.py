"""Search methods: in which order to try which candidates.

A search receives a :class:`SearchContext` — the original text, the goal state (which counts
queries), the transformation, the constraints and the victim's reach (the slots inside its token
window; later slots are never offered as modifiable) — and returns the best text it found.

- :class:`GreedyWordImportance`: rank slots by how much deleting them moves the goal score,
  then substitute in that order, keeping the best candidate per slot and, among candidates that
  succeed, the most similar one (TextFooler, Jin et al. 2020).
- :class:`PWWS`: rank slots by softmax(word saliency) x best substitution gain and substitute
  in that order (Ren et al. 2019).
- :class:`BeamSearch`: keep the ``width`` best texts, expand each by every candidate of every
  modifiable slot.
- :class:`GradientGuidedGreedy` (white-box): rank slots and candidates by the first-order
  estimate of their effect (one gradient per accepted swap, HotFlip's estimate) and query only
  the few best-estimated candidates of each slot.
- :class:`GreedyInsertion`: with an insertion transformation, insert at each step the piece
  that raises the goal score most (good-word attacks, Lowd & Meek 2005), inside the victim's
  token window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from aisec.attacks.text.constraints import Constraint, SentenceSimilarity
from aisec.attacks.text.core import AttackText, Evaluation, GoalState
from aisec.attacks.text.insertion import InsertionTransformation
from aisec.attacks.text.transformations import Transformation
from aisec.attacks.text.window import TokenCounter, token_counter

__all__ = [
    "PWWS",
    "BeamSearch",
    "GradientGuidedGreedy",
    "GreedyInsertion",
    "GreedyWordImportance",
    "SearchContext",
    "SearchMethod",
]


class SearchContext:
    """What a search may use for one example.

    Args:
        original: the text being attacked.
        state: the goal state (evaluates texts, counts queries).
        transformation: candidate generator.
        constraints: pre- and post-transformation constraints.
        reach: how many leading slots the victim reads (its token window; see
            :func:`~aisec.attacks.text.window.readable_slots`); later slots are never modified.
            ``None``: every slot.

    Raises:
        ValueError: ``reach`` is negative.
    """

    def __init__(
        self,
        original: AttackText,
        state: GoalState,
        transformation: Transformation,
        constraints: Sequence[Constraint],
        *,
        reach: int | None = None,
    ) -> None:
        if reach is not None and (isinstance(reach, bool) or not isinstance(reach, int)):
            raise TypeError(f"reach must be an int or None, got {reach!r}")
        if reach is not None and reach < 0:
            raise ValueError(f"reach must be >= 0 or None, got {reach}")
        self.original = original
        self.state = state
        self.transformation = transformation
        self.constraints = list(constraints)
        self.reach = reach
        self.similarity = next(
            (c for c in self.constraints if isinstance(c, SentenceSimilarity)), None
        )
        self._cheap = [c for c in self.constraints if not isinstance(c, SentenceSimilarity)]
        self._encoder = [c for c in self.constraints if isinstance(c, SentenceSimilarity)]
        self._window: tuple[TokenCounter, int] | bool | None = False  # False: not looked up

    @property
    def window(self) -> tuple[TokenCounter, int] | None:
        """The victim's token counter and window length (``None``: no known window).

        See :func:`~aisec.attacks.text.window.token_counter`; counting tokens is no query.
        """
        if self._window is False:
            self._window = token_counter(self.state.model)
        return self._window  # type: ignore[return-value]

    def read_whole(self, texts: Sequence[AttackText]) -> list[AttackText]:
        """The texts whose inserted text the victim reads entirely (all without a window)."""
        window = self.window
        if window is None or not texts:
            return list(texts)
        count, max_length = window
        counts = count([t.prefix_through_insertions() for t in texts])
        return [t for t, n in zip(texts, counts, strict=True) if n < max_length]

    def modifiable(self, current: AttackText) -> list[int]:
        """Slots of ``current`` inside the victim's window that every constraint lets change."""
        readable = len(current) if self.reach is None else min(self.reach, len(current))
        allowed = set(range(readable))
        for constraint in self.constraints:
            subset = constraint.modifiable(self.original, current)
            if subset is not None:
                allowed &= subset
        return sorted(i for i in allowed if current.words[i])

    def accept(
        self, candidates: Sequence[AttackText], *, cheap_checked: bool = False
    ) -> list[AttackText]:
        """The candidates that satisfy every constraint (cheap constraints first).

        Args:
            candidates: texts to check.
            cheap_checked: the candidates come from :meth:`cheap_neighbours`, so only the
                sentence-similarity constraints (an encoder pass per candidate) remain.
        """
        kept = list(candidates) if cheap_checked else self._passing(candidates, self._cheap)
        return self._passing(kept, self._encoder)

    def _passing(
        self, candidates: Sequence[AttackText], constraints: Sequence[Constraint]
    ) -> list[AttackText]:
        kept = list(candidates)
        for constraint in constraints:
            if not kept:
                break
            kept = [
                c for c, ok in zip(kept, constraint.check(self.original, kept), strict=True) if ok
            ]
        return kept

    def neighbours(self, current: AttackText, index: int) -> list[AttackText]:
        """Acceptable texts that differ from ``current`` in slot ``index`` (for an insertion
        transformation: with one piece more at gap ``index``)."""
        return self.accept(self.cheap_neighbours(current, index), cheap_checked=True)

    def cheap_neighbours(self, current: AttackText, index: int) -> list[AttackText]:
        """Texts that differ from ``current`` in slot ``index`` (:meth:`Transformation.neighbours
        <aisec.attacks.text.transformations.Transformation.neighbours>`) and pass every
        constraint but sentence similarity (which needs an encoder pass per candidate)."""
        return self._passing(self.transformation.neighbours(current, index), self._cheap)

    def has_candidates(self, current: AttackText, index: int) -> bool:
        """Whether slot ``index`` has a candidate that the cheap constraints accept.

        Sentence similarity (an encoder pass per candidate) is not checked here, so a slot
        may pass and still have no acceptable neighbour; no victim query is made.
        """
        return bool(self.cheap_neighbours(current, index))

    def evaluate(self, texts: Sequence[AttackText]) -> list[Evaluation]:
        """The goal's verdicts (counts queries; may raise QueryBudgetExhaustedError)."""
        return self.state.evaluate([t.text for t in texts])

    def most_similar(self, texts: Sequence[AttackText]) -> AttackText:
        """The text most similar to the original (first one when there is no encoder)."""
        if self.similarity is None or len(texts) == 1:
            return texts[0]
        sims = self.similarity.similarities(self.original.text, [t.text for t in texts])
        return texts[max(range(len(texts)), key=sims.__getitem__)]


class SearchMethod:
    """Base class of search methods."""

    def __call__(self, context: SearchContext) -> AttackText:
        """The best text found (the original when nothing helped)."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"search": type(self).__name__}


Rank = tuple[float, float]
"""``(score, log_score)`` of an :class:`Evaluation`: searches compare texts by it, so that a
confident victim whose probabilities round to 0 or 1 still tells them apart."""


def _best(texts: Sequence[AttackText], evals: Sequence[Evaluation]) -> tuple[AttackText, Rank]:
    i = max(range(len(texts)), key=lambda k: evals[k].rank)
    return texts[i], evals[i].rank


def _gain(evaluation: Evaluation, base: Rank) -> Rank:
    """How much ``evaluation`` raises the rank over ``base`` (0 where both logs are -inf)."""
    log_gain = evaluation.log_score - base[1]
    return (evaluation.score - base[0], log_gain if math.isfinite(log_gain) else 0.0)


class GreedyWordImportance(SearchMethod):
    """Greedy substitution in order of word importance (TextFooler's search).

    The importance of slot ``i`` is the increase of the goal score when the slot is deleted
    (Jin et al. 2020, eq. 2, for an untargeted goal: the drop of the true class's probability).
    Slots are then visited in decreasing importance; at each, the best candidate is kept if it
    raises the score. Two query savings that do not change which texts can be reached:

    - only slots with at least one candidate (transformation and the constraints other than
      sentence similarity, checked on the original text; no query) are ranked — deleting a
      word that can never be replaced tells the search nothing;
    - a slot's candidates are queried ``candidate_batch`` at a time, and the search stops at
      the first batch with a successful text (returning the most similar successful text of
      that batch), instead of querying every candidate of the last slot.

    Args:
        candidate_batch: candidates queried at a time (``None``: all of a slot's at once,
            as TextFooler does).

    Reference: Jin, Jin, Zhou, Szolovits, "Is BERT Really Robust? A Strong Baseline for Natural
    Language Attack on Text Classification and Entailment", AAAI 2020.
    """

    def __init__(self, candidate_batch: int | None = 8) -> None:
        if candidate_batch is not None and candidate_batch < 1:
            raise ValueError(f"candidate_batch must be >= 1 or None, got {candidate_batch}")
        self.candidate_batch = candidate_batch

    def __call__(self, context: SearchContext) -> AttackText:
        current = context.original
        score = context.evaluate([current])[0].rank
        slots = [i for i in context.modifiable(current) if context.has_candidates(current, i)]
        if not slots:
            return current
        deleted = [current.delete_word(i) for i in slots]
        importance = [_gain(e, score) for e in context.evaluate(deleted)]
        order = [
            slots[k] for k in sorted(range(len(slots)), key=lambda k: importance[k], reverse=True)
        ]
        for index in order:
            if index not in context.modifiable(current):
                continue
            candidates = context.neighbours(current, index)
            if not candidates:
                continue
            step = self.candidate_batch or len(candidates)
            evals: list[Evaluation] = []
            for start in range(0, len(candidates), step):
                batch = candidates[start : start + step]
                batch_evals = context.evaluate(batch)
                winners = [c for c, e in zip(batch, batch_evals, strict=True) if e.success]
                if winners:
                    return context.most_similar(winners)
                evals += batch_evals
            best, best_score = _best(candidates, evals)
            if best_score > score:
                current, score = best, best_score
        return current

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"candidate_batch": self.candidate_batch}


class GradientGuidedGreedy(SearchMethod):
    """Greedy substitution guided by the victim's gradient (white-box, few queries).

    At the current text, one gradient of the goal's log-score with respect to the victim's
    token embeddings estimates the effect of every candidate swap to first order (HotFlip's
    estimate; see :mod:`aisec.attacks.text.gradient`). Slots are visited in decreasing order
    of their best estimate. At each, only the ``candidates_per_slot`` best-estimated
    candidates that pass every constraint are queried; the best is kept if it raises the
    score, and then the gradient is taken again at the new text. The search stops at the
    first queried batch with a successful text and returns its most similar one.

    The estimate replaces the queries that a black-box search spends on ranking words
    (one per word) and on candidates that cannot help. It is exact for a bag-of-embeddings
    victim with a linear head when a swap keeps the number of tokens; for deeper victims it is
    a ranking, and a larger ``candidates_per_slot`` makes up for its errors.

    Cost per example: one query for the original text, at most ``candidates_per_slot``
    queries per visited slot, and one gradient (not a query; counted in the result's
    ``gradients``) per accepted swap plus one.

    Args:
        candidates_per_slot: acceptable candidates queried per visited slot.
        min_estimate: slots whose best estimated log-score gain is at most this are not
            visited (``None``: visit every slot with a candidate).

    Raises:
        TypeError: (when called) the victim is not a
            :class:`~aisec.models.text.TokenClassifier`.

    Reference: Ebrahimi, Rao, Lowd, Dou, "HotFlip: White-Box Adversarial Examples for Text
    Classification", ACL 2018 (first-order swap estimates).
    """

    def __init__(self, candidates_per_slot: int = 5, min_estimate: float | None = 0.0) -> None:
        if isinstance(candidates_per_slot, bool) or not isinstance(candidates_per_slot, int):
            raise TypeError(
                f"candidates_per_slot must be an int, got {type(candidates_per_slot).__name__}"
            )
        if candidates_per_slot < 1:
            raise ValueError(f"candidates_per_slot must be >= 1, got {candidates_per_slot}")
        if min_estimate is not None and (
            isinstance(min_estimate, bool) or not isinstance(min_estimate, int | float)
        ):
            raise TypeError(f"min_estimate must be a number or None, got {min_estimate!r}")
        self.candidates_per_slot = candidates_per_slot
        self.min_estimate = min_estimate

    def __call__(self, context: SearchContext) -> AttackText:
        current = context.original
        score = context.evaluate([current])[0].rank
        visited: set[int] = set()
        ranked = self._rank(context, current, visited)
        while ranked:
            index, candidates = ranked.pop(0)
            visited.add(index)
            chosen = self._acceptable(context, candidates)
            if not chosen:
                continue
            evals = context.evaluate(chosen)
            winners = [c for c, e in zip(chosen, evals, strict=True) if e.success]
            if winners:
                return context.most_similar(winners)
            best, best_score = _best(chosen, evals)
            if best_score > score:
                current, score = best, best_score
                ranked = self._rank(context, current, visited)
        return current

    def _rank(
        self, context: SearchContext, current: AttackText, visited: set[int]
    ) -> list[tuple[int, list[AttackText]]]:
        """Unvisited slots with their candidates, both in decreasing estimated gain."""
        options = {
            i: context.cheap_neighbours(current, i)
            for i in context.modifiable(current)
            if i not in visited
        }
        options = {i: texts for i, texts in options.items() if texts}
        if not options:
            return []
        gradient = context.state.score_gradient(current.text)
        flat = [text for texts in options.values() for text in texts]
        estimates = iter(gradient.estimate([text.text for text in flat]))
        ranked: list[tuple[float, int, list[AttackText]]] = []
        for index, texts in options.items():
            gains = [next(estimates) for _ in texts]
            order = sorted(range(len(texts)), key=lambda k: -gains[k])
            best = gains[order[0]]
            if self.min_estimate is None or best > self.min_estimate:
                ranked.append((best, index, [texts[k] for k in order]))
        ranked.sort(key=lambda item: -item[0])
        return [(index, texts) for _, index, texts in ranked]

    def _acceptable(self, context: SearchContext, candidates: list[AttackText]) -> list[AttackText]:
        """The first ``candidates_per_slot`` candidates that pass every constraint."""
        chosen: list[AttackText] = []
        step = self.candidates_per_slot
        for start in range(0, len(candidates), step):
            chosen += context.accept(candidates[start : start + step], cheap_checked=True)
            if len(chosen) >= step:
                break
        return chosen[:step]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "candidates_per_slot": self.candidates_per_slot,
            "min_estimate": self.min_estimate,
        }


class PWWS(SearchMethod):
    """Probability-weighted word saliency (PWWS).

    For every slot ``i``: the saliency ``S_i`` is the score gain of replacing the word with
    ``unknown``; the best substitute ``w*_i`` is the candidate with the largest gain
    ``Δ_i``. Slots are substituted in decreasing order of ``softmax(S)_i · Δ_i`` until the goal
    is met (Ren et al. 2019, eqs. 7-9).

    Args:
        unknown: the token that stands for an unknown word.

    Reference: Ren, Deng, He, Che, "Generating Natural Language Adversarial Examples through
    Probability Weighted Word Saliency", ACL 2019.
    """

    def __init__(self, unknown: str = "[UNK]") -> None:
        self.unknown = unknown

    def __call__(self, context: SearchContext) -> AttackText:
        original = context.original
        base = context.evaluate([original])[0].score
        slots = context.modifiable(original)
        if not slots:
            return original
        saliency = [
            e.score - base
            for e in context.evaluate([original.replace_word(i, self.unknown) for i in slots])
        ]
        best_words: dict[int, str] = {}
        gains: dict[int, float] = {}
        for index in slots:
            candidates = context.neighbours(original, index)
            if not candidates:
                continue
            best, best_rank = _best(candidates, context.evaluate(candidates))
            best_words[index], gains[index] = best.words[index], best_rank[0] - base
        if not best_words:
            return original
        peak = max(saliency)
        weights = [math.exp(s - peak) for s in saliency]
        total = sum(weights)
        priority = {
            i: w / total * gains[i] for i, w in zip(slots, weights, strict=True) if i in gains
        }
        current = original
        for index in sorted(priority, key=lambda i: -priority[i]):
            if index not in context.modifiable(current):
                continue
            candidate = context.accept([current.replace_word(index, best_words[index])])
            if not candidate:
                continue
            current = candidate[0]
            if context.evaluate([current])[0].success:
                return current
        return current

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"unknown": self.unknown}


class BeamSearch(SearchMethod):
    """Beam search over single-slot substitutions.

    Args:
        width: texts kept per step.
    """

    def __init__(self, width: int = 4) -> None:
        if width < 1:
            raise ValueError(f"width must be >= 1, got {width}")
        self.width = width

    def __call__(self, context: SearchContext) -> AttackText:
        best = context.original
        best_score = context.evaluate([best])[0].rank
        beam = [best]
        while True:
            expansions: list[AttackText] = []
            seen: set[str] = set()
            for text in beam:
                for index in context.modifiable(text):
                    for candidate in context.neighbours(text, index):
                        if candidate.text not in seen:
                            seen.add(candidate.text)
                            expansions.append(candidate)
            if not expansions:
                return best
            evals = context.evaluate(expansions)
            winners = [c for c, e in zip(expansions, evals, strict=True) if e.success]
            if winners:
                return context.most_similar(winners)
            ranked = sorted(range(len(expansions)), key=lambda k: evals[k].rank, reverse=True)
            if evals[ranked[0]].rank <= best_score:
                return best
            best, best_score = expansions[ranked[0]], evals[ranked[0]].rank
            beam = [expansions[k] for k in ranked[: self.width]]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"width": self.width}


class GreedyInsertion(SearchMethod):
    """Greedy insertion: at each step, insert the piece that raises the goal score most.

    Needs an :class:`~aisec.attacks.text.insertion.InsertionTransformation`. Every piece goes
    to the same gap, the one the transformation's position names, so the added text is one
    block. At each step every candidate (the current text with one more piece) that passes the
    constraints is queried in one batch; the search stops at the first step with a successful
    text (returning the most similar successful one), when no candidate raises the score
    (unless ``require_gain`` is off), after ``max_steps`` steps, or when the query budget is
    spent (the last step then queries only the candidates the budget allows, in order, and the
    best text so far is returned).

    A victim that reads only its first tokens must read what is inserted: when the victim's
    token window is known (:func:`~aisec.attacks.text.window.token_counter`; counting tokens
    is no query), the block moves to an earlier gap until ``max_steps`` copies of the longest
    piece (failing that, one copy) end inside the window, and a candidate whose inserted text
    would not be read whole is never queried.

    Args:
        max_steps: most pieces inserted.
        require_gain: stop when the best candidate does not raise the score. With ``False``
            the best candidate is inserted anyway; with an ordered
            :class:`~aisec.attacks.text.insertion.InsertWords` (one candidate per step) this
            is a passive attack: words in a fixed order, one query per word count, no feedback
            used but success.

    Raises:
        TypeError, ValueError: ``max_steps`` is not an int >= 1; (when called) the
            transformation is not an insertion.

    Reference: Lowd, Meek, "Good Word Attacks on Statistical Spam Filters", CEAS 2005.
    """

    def __init__(self, max_steps: int = 10, *, require_gain: bool = True) -> None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int):
            raise TypeError(f"max_steps must be an int, got {max_steps!r}")
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        self.max_steps = max_steps
        self.require_gain = bool(require_gain)

    def __call__(self, context: SearchContext) -> AttackText:
        transformation = context.transformation
        if not isinstance(transformation, InsertionTransformation):
            raise TypeError(
                "GreedyInsertion needs an insertion transformation (InsertWords or "
                f"InsertSentences), got {type(transformation).__name__}"
            )
        current = context.original
        first = context.evaluate([current])[0]
        if first.success:
            return current
        score = first.rank
        gap = self._gap(context, transformation)
        for _ in range(self.max_steps):
            candidates = context.read_whole(_distinct(context.cheap_neighbours(current, gap)))
            candidates = _affordable(context.state, context.accept(candidates, cheap_checked=True))
            if not candidates:
                break
            evals = context.evaluate(candidates)
            winners = [c for c, e in zip(candidates, evals, strict=True) if e.success]
            if winners:
                return context.most_similar(winners)
            best, best_score = _best(candidates, evals)
            if self.require_gain and best_score <= score:
                break
            current, score = best, best_score
        return current

    def _gap(self, context: SearchContext, transformation: InsertionTransformation) -> int:
        """The gap of the block: the position's, moved earlier until the victim reads it."""
        original = context.original
        gap = transformation.gap(original, context.reach)
        window = context.window
        pieces = transformation.all_pieces()
        if window is None or not pieces:
            return gap
        count, max_length = window

        def fits(block: str, at: int) -> bool:
            return count([original.insert(at, block).prefix_through_insertions()])[0] < max_length

        longest = max(pieces, key=len)
        for block in (" ".join([longest] * self.max_steps), longest):
            if fits(block, gap):
                return gap
            if not fits(block, 0):
                continue
            low, high = 0, gap  # fits at low, not at high
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if fits(block, middle) else (low, middle)
            return low
        return gap

    def describe(self) -> dict[str, Any]:
        return super().describe() | {
            "max_steps": self.max_steps,
            "require_gain": self.require_gain,
        }


def _distinct(texts: Sequence[AttackText]) -> list[AttackText]:
    """``texts`` without repeated renderings (first kept)."""
    seen: set[str] = set()
    out: list[AttackText] = []
    for text in texts:
        if text.text not in seen:
            seen.add(text.text)
            out.append(text)
    return out


def _affordable(state: GoalState, texts: Sequence[AttackText]) -> list[AttackText]:
    """The leading ``texts`` that the query budget left can evaluate (cached ones are free)."""
    left = state.budget_left
    if left is None:
        return list(texts)
    out: list[AttackText] = []
    for text in texts:
        if not state.is_cached(text.text):
            if left == 0:
                break
            left -= 1
        out.append(text)
    return out
