"""Attack recipes: small factories that compose the four parts of a text attack.

=================  ====================  ==========================================  ==========
recipe             transformation        constraints                                 search
=================  ====================  ==========================================  ==========
``textfooler``     WordNet synonyms      no repeat, stopwords, named tokens, <= 25 %  greedy WIR
                                         words, word cosine >= 0.3 (MiniLM input
                                         embeddings), sentence similarity >= 0.8
``pwws``           WordNet synonyms      no repeat, stopwords, named tokens, <= 25 %  PWWS
                                         words
``deepwordbug``    character edits       no repeat, stopwords, named tokens, <= 25 %  greedy WIR
                                         words, one edit per word
``bad_characters`` Unicode bad chars     no repeat, named tokens, <= 25 % words,      greedy WIR
                                         visible text unchanged
=================  ====================  ==========================================  ==========

Differences from the papers, because everything runs offline on a CPU: TextFooler's
counter-fitted embeddings and Universal Sentence Encoder are replaced by WordNet candidates,
MiniLM's input word embeddings and MiniLM sentence embeddings (whole text, not a 15-word
window); every recipe bounds the fraction of words changed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aisec.attacks.text.attack import TextAttack
from aisec.attacks.text.constraints import (
    Constraint,
    MaxWordEditDistance,
    MaxWordsChanged,
    NamedTokenModification,
    RepeatModification,
    SentenceSimilarity,
    StopwordModification,
    VisibleTextUnchanged,
    WordEmbeddingCosine,
)
from aisec.attacks.text.core import GoalFunction, TargetedClassification, UntargetedClassification
from aisec.attacks.text.search import (
    PWWS,
    BeamSearch,
    GradientGuidedGreedy,
    GreedyWordImportance,
    SearchMethod,
)
from aisec.attacks.text.synonyms import SynonymSource, default_synonym_source
from aisec.attacks.text.transformations import BadCharacters, CharacterEdits, WordSwapSynonym
from aisec.models.text import MiniLMEncoder

__all__ = [
    "RECIPES",
    "SEARCHES",
    "bad_characters",
    "build_recipe",
    "check_search",
    "deepwordbug",
    "pwws",
    "textfooler",
]

SEARCHES = ("default", "greedy", "pwws", "beam", "gradient")
"""Search names every recipe accepts (``"default"``: the recipe's own)."""


def check_search(name: str) -> str:
    """``name`` if it is one of :data:`SEARCHES`; otherwise a ``ValueError`` listing them."""
    if name not in SEARCHES:
        raise ValueError(f"unknown search {name!r}; known searches: {', '.join(SEARCHES)}")
    return name


def _goal(target: int | None, query_budget: int | None) -> GoalFunction:
    if target is None:
        return UntargetedClassification(query_budget=query_budget)
    return TargetedClassification(target, query_budget=query_budget)


def _search(name: str, default: SearchMethod) -> SearchMethod:
    check_search(name)
    if name == "default":
        return default
    if name == "greedy":
        return GreedyWordImportance()
    if name == "pwws":
        return PWWS()
    if name == "beam":
        return BeamSearch()
    return GradientGuidedGreedy()


def textfooler(
    *,
    encoder: MiniLMEncoder | None = None,
    synonyms: SynonymSource | None = None,
    max_fraction: float = 0.25,
    min_word_cosine: float = 0.3,
    min_similarity: float = 0.8,
    target: int | None = None,
    query_budget: int | None = None,
    search: str = "default",
) -> TextAttack:
    """TextFooler-style attack: synonym swaps in order of word importance.

    Args:
        encoder: MiniLM, for word-embedding cosine and sentence similarity (loaded if omitted).
        synonyms: candidate source (default WordNet, else MiniLM embedding neighbours).
        max_fraction: most words changed, as a fraction of the text's words.
        min_word_cosine: cosine of a replaced word and its replacement (MiniLM input embeddings).
        min_similarity: sentence-embedding cosine of the adversarial and original texts.
        target: a target class (default: untargeted).
        query_budget: victim queries per example.
        search: ``"default"`` (greedy word importance), ``"greedy"``, ``"pwws"``, ``"beam"``
            or ``"gradient"`` (white-box victims only: :class:`GradientGuidedGreedy`).

    Returns:
        The composed :class:`TextAttack`.

    Reference: Jin et al., "Is BERT Really Robust?", AAAI 2020.
    """
    encoder = encoder if encoder is not None else MiniLMEncoder()
    vocabulary, vectors = encoder.word_vectors()
    source = synonyms if synonyms is not None else default_synonym_source((vocabulary, vectors))
    constraints: list[Constraint] = [
        RepeatModification(),
        StopwordModification(),
        NamedTokenModification(),
        MaxWordsChanged(max_fraction),
        WordEmbeddingCosine(vocabulary, vectors, min_word_cosine),
        SentenceSimilarity(encoder, min_similarity),
    ]
    return TextAttack(
        _goal(target, query_budget),
        WordSwapSynonym(source, max_candidates=50),
        constraints,
        _search(search, GreedyWordImportance()),
        name="textfooler",
    )


def pwws(
    *,
    encoder: MiniLMEncoder | None = None,
    synonyms: SynonymSource | None = None,
    max_fraction: float = 0.25,
    target: int | None = None,
    query_budget: int | None = None,
    search: str = "default",
) -> TextAttack:
    """PWWS-style attack: WordNet synonyms in order of probability-weighted word saliency.

    Args:
        encoder: optional MiniLM, only to report similarity (and for the synonym fallback).
        synonyms: candidate source (default WordNet).
        max_fraction: most words changed, as a fraction of the text's words.
        target: a target class (default: untargeted).
        query_budget: victim queries per example.
        search: ``"default"`` (PWWS), ``"greedy"``, ``"pwws"``, ``"beam"``
            or ``"gradient"`` (white-box victims only: :class:`GradientGuidedGreedy`).

    Returns:
        The composed :class:`TextAttack`.

    Reference: Ren et al., "Generating Natural Language Adversarial Examples through
    Probability Weighted Word Saliency", ACL 2019.
    """
    source = synonyms
    if source is None:
        source = default_synonym_source(encoder.word_vectors() if encoder is not None else None)
    constraints: list[Constraint] = [
        RepeatModification(),
        StopwordModification(),
        NamedTokenModification(),
        MaxWordsChanged(max_fraction),
    ]
    return TextAttack(
        _goal(target, query_budget),
        WordSwapSynonym(source, max_candidates=50),
        constraints,
        _search(search, PWWS()),
        name="pwws",
        encoder=encoder,
    )


def deepwordbug(
    *,
    encoder: MiniLMEncoder | None = None,
    max_fraction: float = 0.25,
    target: int | None = None,
    query_budget: int | None = None,
    seed: int = 0,
    search: str = "default",
) -> TextAttack:
    """DeepWordBug-style attack: one character edit per word, most important words first.

    Args:
        encoder: optional MiniLM, only to report similarity.
        max_fraction: most words changed, as a fraction of the text's words.
        target: a target class (default: untargeted).
        query_budget: victim queries per example.
        seed: seed of the sampled edits.
        search: ``"default"`` (greedy word importance), ``"greedy"``, ``"pwws"``, ``"beam"``
            or ``"gradient"`` (white-box victims only: :class:`GradientGuidedGreedy`).

    Returns:
        The composed :class:`TextAttack`.

    Reference: Gao et al., "Black-box Generation of Adversarial Text Sequences to Evade Deep
    Learning Classifiers", IEEE S&P Workshops 2018.
    """
    constraints: list[Constraint] = [
        RepeatModification(),
        StopwordModification(),
        NamedTokenModification(),
        MaxWordsChanged(max_fraction),
        MaxWordEditDistance(1),
    ]
    return TextAttack(
        _goal(target, query_budget),
        CharacterEdits(seed=seed),
        constraints,
        _search(search, GreedyWordImportance()),
        name="deepwordbug",
        encoder=encoder,
    )


def bad_characters(
    *,
    encoder: MiniLMEncoder | None = None,
    max_fraction: float = 0.25,
    kinds: tuple[str, ...] = BadCharacters.KINDS,
    target: int | None = None,
    query_budget: int | None = None,
    seed: int = 0,
    search: str = "default",
) -> TextAttack:
    """Imperceptible Unicode attack: perturbed words render exactly like the originals.

    Args:
        encoder: optional MiniLM, only to report similarity.
        max_fraction: most words perturbed, as a fraction of the text's words.
        kinds: perturbation families (see :class:`BadCharacters`).
        target: a target class (default: untargeted).
        query_budget: victim queries per example.
        seed: seed of the sampled perturbations.
        search: ``"default"`` (greedy word importance), ``"greedy"``, ``"pwws"``, ``"beam"``
            or ``"gradient"`` (white-box victims only: :class:`GradientGuidedGreedy`).

    Returns:
        The composed :class:`TextAttack`.

    Reference: Boucher et al., "Bad Characters: Imperceptible NLP Attacks", IEEE S&P 2022.
    """
    constraints: list[Constraint] = [
        RepeatModification(),
        NamedTokenModification(),
        MaxWordsChanged(max_fraction),
        VisibleTextUnchanged(),
    ]
    return TextAttack(
        _goal(target, query_budget),
        BadCharacters(kinds, seed=seed),
        constraints,
        _search(search, GreedyWordImportance()),
        name="bad_characters",
        encoder=encoder,
    )


RECIPES: dict[str, Callable[..., TextAttack]] = {
    "textfooler": textfooler,
    "pwws": pwws,
    "deepwordbug": deepwordbug,
    "bad_characters": bad_characters,
}


def build_recipe(name: str, **kwargs: Any) -> TextAttack:
    """Build a recipe by name.

    Raises:
        ValueError: unknown recipe (the message lists the known ones).
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {sorted(RECIPES)}")
    return RECIPES[name](**kwargs)
