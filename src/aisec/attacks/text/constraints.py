"""Constraints: which slots may change, and which candidate texts are acceptable.

A constraint may restrict the slots a search may modify (:meth:`Constraint.modifiable`, applied
before transforming: stopwords, named tokens, already-modified slots, the word budget) and may
reject candidate texts (:meth:`Constraint.check`, applied after transforming and always
against the *original* text: the fraction of words changed, word-embedding cosine, sentence
similarity, edit distance, unchanged visible text, the number of words inserted).
:meth:`Constraint.check` is also what the tests use to verify every returned example.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any, Protocol

from torch import Tensor

from aisec.attacks.text.core import AttackText
from aisec.attacks.text.unicode import visible_text
from aisec.unicode import BIDI_CONTROLS, DELETION_CONTROLS

__all__ = [
    "Constraint",
    "MaxWordEditDistance",
    "MaxWordsAdded",
    "MaxWordsChanged",
    "NamedTokenModification",
    "RepeatModification",
    "SentenceEncoder",
    "SentenceSimilarity",
    "StopwordModification",
    "VisibleTextUnchanged",
    "WordEmbeddingCosine",
    "english_stopwords",
    "levenshtein",
]

_NAMED = re.compile(r"^(https?://|www\.|[@#])|^\d[\d.,:]*$")


def english_stopwords() -> frozenset[str]:
    """scikit-learn's English stopword list (318 words), plus contractions' stems."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | {"s", "t", "don", "didn", "doesn", "isn", "wasn"}


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions) between two strings."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


class SentenceEncoder(Protocol):
    """Anything that embeds sentences, e.g. :class:`aisec.models.text.MiniLMEncoder`."""

    def sentence_embeddings(self, texts: Sequence[str], batch_size: int = 128) -> Tensor:
        """L2-normalized embeddings ``(N, D)``."""
        ...


class Constraint:
    """Base class: allows every slot and every candidate."""

    def modifiable(self, original: AttackText, current: AttackText) -> set[int] | None:
        """Slots that may still change (``None``: no restriction)."""
        return None

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        """Whether each candidate satisfies the constraint relative to ``original``."""
        return [True] * len(candidates)

    def describe(self) -> dict[str, Any]:
        """JSON-ready description."""
        return {"constraint": type(self).__name__}


class RepeatModification(Constraint):
    """A slot is modified at most once."""

    def modifiable(self, original: AttackText, current: AttackText) -> set[int] | None:
        return set(range(len(current))) - set(current.modified)


class StopwordModification(Constraint):
    """Stopwords are never modified.

    Args:
        stopwords: lower-case words to leave alone (default :func:`english_stopwords`).
    """

    def __init__(self, stopwords: frozenset[str] | None = None) -> None:
        self.stopwords = stopwords if stopwords is not None else english_stopwords()

    def modifiable(self, original: AttackText, current: AttackText) -> set[int] | None:
        return {i for i, w in enumerate(original.words) if w.lower() not in self.stopwords}

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        return [
            all(
                original.words[i].lower() not in self.stopwords for i in c.changed_indices(original)
            )
            for c in candidates
        ]


class NamedTokenModification(Constraint):
    """@mentions, #hashtags, URLs and numbers are never modified."""

    @staticmethod
    def is_named(word: str) -> bool:
        """Whether ``word`` is a mention, hashtag, URL or number."""
        return bool(_NAMED.match(word))

    def modifiable(self, original: AttackText, current: AttackText) -> set[int] | None:
        return {i for i, w in enumerate(original.words) if not self.is_named(w)}

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        return [
            all(not self.is_named(original.words[i]) for i in c.changed_indices(original))
            for c in candidates
        ]


class MaxWordsChanged(Constraint):
    """At most ``max_fraction`` of the word slots differ from the original.

    Args:
        max_fraction: in (0, 1]; a text of ``n`` words may change ``floor(max_fraction * n)``.
    """

    def __init__(self, max_fraction: float) -> None:
        if not 0 < max_fraction <= 1:
            raise ValueError(f"max_fraction must be in (0, 1], got {max_fraction}")
        self.max_fraction = max_fraction

    def allowed(self, original: AttackText) -> int:
        """How many slots of ``original`` may change."""
        return int(self.max_fraction * len(original) + 1e-9)

    def modifiable(self, original: AttackText, current: AttackText) -> set[int] | None:
        if len(current.changed_indices(original)) >= self.allowed(original):
            return set(current.changed_indices(original))
        return None

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        limit = self.allowed(original)
        return [len(c.changed_indices(original)) <= limit for c in candidates]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"max_fraction": self.max_fraction}


class MaxWordsAdded(Constraint):
    """At most ``max_words`` word slots are inserted (:meth:`AttackText.words_added`).

    Args:
        max_words: an int >= 1.

    Raises:
        TypeError, ValueError: ``max_words`` is not an int >= 1.

    Reference: Lowd, Meek, "Good Word Attacks on Statistical Spam Filters", CEAS 2005 (the
    number of words added is the good-word attack's cost).
    """

    def __init__(self, max_words: int) -> None:
        if isinstance(max_words, bool) or not isinstance(max_words, int):
            raise TypeError(f"max_words must be an int, got {max_words!r}")
        if max_words < 1:
            raise ValueError(f"max_words must be >= 1, got {max_words}")
        self.max_words = max_words

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        return [c.words_added(original) <= self.max_words for c in candidates]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"max_words": self.max_words}


class WordEmbeddingCosine(Constraint):
    """Each changed word has cosine >= ``min_cosine`` with the word it replaced.

    Both words must be in the embedding's vocabulary (an unknown word is rejected, so the
    promise holds for every changed word).

    Args:
        vocabulary: lower-case word -> row of ``vectors``.
        vectors: unit-norm word vectors ``(V, D)``, e.g. MiniLM's WordPiece input embeddings.
        min_cosine: the threshold.
    """

    def __init__(self, vocabulary: dict[str, int], vectors: Tensor, min_cosine: float) -> None:
        self.vocabulary = vocabulary
        self.vectors = vectors
        self.min_cosine = min_cosine

    def cosine(self, a: str, b: str) -> float | None:
        """Cosine of two words (``None`` if either is unknown)."""
        i, j = self.vocabulary.get(a.lower()), self.vocabulary.get(b.lower())
        if i is None or j is None:
            return None
        return float(self.vectors[i] @ self.vectors[j])

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        out = []
        for c in candidates:
            ok = True
            for i in c.changed_indices(original):
                cos = self.cosine(original.words[i], c.words[i])
                if cos is None or cos < self.min_cosine - 1e-6:
                    ok = False
                    break
            out.append(ok)
        return out

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"min_cosine": self.min_cosine}


class SentenceSimilarity(Constraint):
    """The candidate's sentence embedding has cosine >= ``min_similarity`` with the original's.

    The stand-in for TextFooler's Universal Sentence Encoder check, with all-MiniLM-L6-v2
    (whole texts, cosine of L2-normalized mean-pooled embeddings).

    Args:
        encoder: a :class:`SentenceEncoder`.
        min_similarity: the threshold in [-1, 1].
    """

    def __init__(self, encoder: SentenceEncoder, min_similarity: float) -> None:
        self.encoder = encoder
        self.min_similarity = min_similarity
        self._reference: tuple[str, Tensor] | None = None

    def similarities(self, original: str, texts: Sequence[str]) -> list[float]:
        """Cosine similarity of each of ``texts`` with ``original``."""
        if not texts:
            return []
        if self._reference is None or self._reference[0] != original:
            self._reference = (original, self.encoder.sentence_embeddings([original])[0])
        embeddings = self.encoder.sentence_embeddings(list(texts))
        return [float(v) for v in embeddings @ self._reference[1]]

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        sims = self.similarities(original.text, [c.text for c in candidates])
        return [s >= self.min_similarity - 1e-6 for s in sims]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"min_similarity": self.min_similarity}


class MaxWordEditDistance(Constraint):
    """Each changed word is within ``max_distance`` character edits of the original word."""

    def __init__(self, max_distance: int) -> None:
        if max_distance < 1:
            raise ValueError(f"max_distance must be >= 1, got {max_distance}")
        self.max_distance = max_distance

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        return [
            all(
                levenshtein(original.words[i], c.words[i]) <= self.max_distance
                for i in c.changed_indices(original)
            )
            for c in candidates
        ]

    def describe(self) -> dict[str, Any]:
        return super().describe() | {"max_distance": self.max_distance}


_BIDI_CLOSERS = frozenset("\u202c\u2069")  # pop directional formatting / isolate
_BIDI_OPENERS = BIDI_CONTROLS & frozenset("\u202a\u202b\u202d\u202e\u2066\u2067\u2068")


class VisibleTextUnchanged(Constraint):
    """The candidate renders exactly as the original (:func:`visible_text`).

    A candidate whose changes are all *self-contained* word slots (bidi controls balanced
    inside the slot, no deletion control erasing past the slot's start, no leading combining
    mark, no insertion) renders as the original exactly when each changed slot renders, between
    its two separators, as the original slot did: that local check costs the length of a word
    instead of the whole text (e-mails are long). Any other candidate is checked on its whole
    text.
    """

    def check(self, original: AttackText, candidates: Sequence[AttackText]) -> list[bool]:
        target: str | None = None
        out: list[bool] = []
        for candidate in candidates:
            changed = candidate.changed_indices(original)
            if not candidate.insertions and all(
                _self_contained(candidate.words[i]) for i in changed
            ):
                out.append(all(_renders_alike(original, candidate, i) for i in changed))
                continue
            if target is None:
                target = visible_text(original.text)
            out.append(visible_text(candidate.text) == target)
        return out


def _self_contained(word: str) -> bool:
    """Whether the rendering of ``word`` cannot reach past its own slot."""
    if word and unicodedata.combining(word[0]):
        return False
    depth = 0
    kept = 0
    for char in word:
        if char in _BIDI_OPENERS:
            depth += 1
        elif char in _BIDI_CLOSERS:
            depth -= 1
            if depth < 0:
                return False
        elif char in DELETION_CONTROLS:
            if kept == 0:
                return False
            kept -= 1
        else:
            kept += 1
    return depth == 0


def _renders_alike(original: AttackText, candidate: AttackText, index: int) -> bool:
    """Slot ``index`` renders alike in both texts, with the separators around it."""
    before, after = original.gaps[index], original.gaps[index + 1]
    return visible_text(before + candidate.words[index] + after) == visible_text(
        before + original.words[index] + after
    )
