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

Insertion recipes (spam filters; targeted at the ham class, words drawn from the attacker's own
corpus ``ham_texts``/``spam_texts``, see :mod:`aisec.attacks.text.good_words`):

========================  =============================  ======================  ==============
recipe                    transformation                 constraints             search
========================  =============================  ======================  ==============
``good-words``            insert one of 200 ham-         <= ``max_words`` words  greedy
                          indicative words (repeats ok)  added (10)              insertion
``good-words-passive``    insert the list's next word    <= ``max_words`` words  one query per
                                                         added (10)              word count
``contextual-insertion``  insert one of 50 benign ham    <= 2 sentences          greedy
                          sentences                                              insertion
========================  =============================  ======================  ==============

Differences from the papers, because everything runs offline on a CPU: TextFooler's
counter-fitted embeddings and Universal Sentence Encoder are replaced by WordNet candidates,
MiniLM's input word embeddings and MiniLM sentence embeddings (whole text, not a 15-word
window); every recipe bounds the fraction of words changed (the insertion recipes change no
word, so for them the bound holds trivially).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aisec.attacks.text.attack import TextAttack
from aisec.attacks.text.constraints import (
    Constraint,
    MaxWordEditDistance,
    MaxWordsAdded,
    MaxWordsChanged,
    NamedTokenModification,
    RepeatModification,
    SentenceSimilarity,
    StopwordModification,
    VisibleTextUnchanged,
    WordEmbeddingCosine,
)
from aisec.attacks.text.core import GoalFunction, TargetedClassification, UntargetedClassification
from aisec.attacks.text.good_words import (
    benign_sentences,
    check_corpus,
    frequent_ham_words,
    ham_indicative_sentences,
    ham_indicative_words,
)
from aisec.attacks.text.insertion import InsertSentences, InsertWords, check_position
from aisec.attacks.text.search import (
    PWWS,
    BeamSearch,
    GradientGuidedGreedy,
    GreedyInsertion,
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
    "contextual_insertion",
    "deepwordbug",
    "good_words",
    "good_words_passive",
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


WORD_LISTS = ("ham-indicative", "frequent-ham")
"""The good-word lists: :func:`~aisec.attacks.text.good_words.ham_indicative_words` and
:func:`~aisec.attacks.text.good_words.frequent_ham_words`."""


def _positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    return value


def _insertion_search(search: str, recipe: str) -> None:
    check_search(search)
    if search != "default":
        raise ValueError(
            f"{recipe} inserts text, so only its own search applies (search='default', "
            f"GreedyInsertion); got search={search!r}"
        )


def _insertion_constraints(max_fraction: float, max_words: int | None) -> list[Constraint]:
    constraints: list[Constraint] = [MaxWordsChanged(max_fraction)]
    if max_words is not None:
        constraints.append(MaxWordsAdded(max_words))
    return constraints


def _word_list(
    word_list: str,
    ham_texts: list[str],
    spam_texts: list[str],
    size: int,
    min_count: int,
) -> list[str]:
    if word_list not in WORD_LISTS:
        raise ValueError(f"word_list must be one of {', '.join(WORD_LISTS)}; got {word_list!r}")
    if word_list == "frequent-ham":
        words = frequent_ham_words(ham_texts, size)
    else:
        words = ham_indicative_words(ham_texts, spam_texts, size, min_count=min_count)
    if not words:
        raise ValueError(
            f"the attacker's corpus yields no {word_list} word (min_count={min_count}): "
            "pass more ham_texts and spam_texts or a smaller min_count"
        )
    return words


def good_words(
    *,
    ham_texts: Sequence[str] | None = None,
    spam_texts: Sequence[str] | None = None,
    target: int | None = 0,
    max_words: int = 10,
    pool_size: int = 200,
    word_list: str = "ham-indicative",
    min_count: int = 5,
    query_budget: int | None = None,
    position: str = "after-first-line",
    seed: int = 0,
    encoder: MiniLMEncoder | None = None,
    search: str = "default",
    max_fraction: float = 0.25,
) -> TextAttack:
    """Active good-word attack: add the ham words that lower the filter's spam score most.

    The attacker ranks ``pool_size`` words by how strongly their own corpus ties them to ham
    (:func:`~aisec.attacks.text.good_words.ham_indicative_words`), then, per message, inserts
    one word at a time: each step queries the message with every pool word added (one batch)
    and keeps the best (a word may be added again), until the filter lets the message through,
    no word helps, or ``max_words`` words are added. Every query is counted.

    Args:
        ham_texts: the attacker's own ham messages (required).
        spam_texts: the attacker's own spam messages (required).
        target: the class to reach (``0``: ham); ``None``: any other class than the true one.
        max_words: most words added per message.
        pool_size: candidate words.
        word_list: ``"ham-indicative"`` or ``"frequent-ham"`` (see :data:`WORD_LISTS`).
        min_count: least number of ham messages a candidate word appears in.
        query_budget: victim queries per message.
        position: where the words go: ``"after-first-line"`` (after the subject line: the
            start of the body, which a victim with a short token window reads), ``"start"`` or
            ``"end"`` (see :mod:`aisec.attacks.text.insertion`).
        seed: accepted for a uniform recipe interface (the word list is deterministic).
        encoder: optional MiniLM, only to report similarity.
        search: only ``"default"`` (:class:`~aisec.attacks.text.search.GreedyInsertion`).
        max_fraction: accepted for a uniform recipe interface: no word is replaced, so the
            bound on the fraction changed always holds.

    Returns:
        The composed :class:`TextAttack` (attack spam messages, label 1: a message the filter
        already calls ham is skipped).

    Raises:
        ValueError: a missing or empty corpus, a corpus without candidate words, an unknown
            ``position``, ``word_list`` or ``search``, or bad sizes.
        TypeError: a corpus that is not a sequence of strings, or sizes that are not ints.

    Reference: Lowd, Meek, "Good Word Attacks on Statistical Spam Filters", CEAS 2005.
    """
    ham, spam = check_corpus(ham_texts, "ham_texts"), check_corpus(spam_texts, "spam_texts")
    _positive_int(max_words, "max_words")
    _positive_int(pool_size, "pool_size")
    _insertion_search(search, "good-words")
    constraints = _insertion_constraints(max_fraction, max_words)
    words = _word_list(word_list, ham, spam, pool_size, min_count)
    return TextAttack(
        _goal(target, query_budget),
        InsertWords(words, position=check_position(position)),
        constraints,
        GreedyInsertion(max_words),
        name="good-words",
        encoder=encoder,
    )


def good_words_passive(
    *,
    ham_texts: Sequence[str] | None = None,
    spam_texts: Sequence[str] | None = None,
    target: int | None = 0,
    max_words: int = 10,
    word_list: str = "ham-indicative",
    min_count: int = 5,
    query_budget: int | None = None,
    position: str = "after-first-line",
    seed: int = 0,
    encoder: MiniLMEncoder | None = None,
    search: str = "default",
    max_fraction: float = 0.25,
) -> TextAttack:
    """Passive good-word attack: the same fixed words for every message, no filter feedback.

    The attacker adds the first ``k`` words of a fixed list (the ``max_words`` most
    ham-indicative words of their own corpus) to every message. The filter's answers choose
    nothing: the attack queries ``k = 1, 2, ..., max_words`` in turn only to *report* the
    smallest ``k`` that gets the message through (one query per ``k``, after the one on the
    original message), so the success rate at ``max_words`` is that of a passive attacker
    who always adds all ``max_words`` words, and ``words_added`` is the least ``k`` that
    would have sufficed.

    Args:
        ham_texts: the attacker's own ham messages (required).
        spam_texts: the attacker's own spam messages (required).
        target: the class to reach (``0``: ham); ``None``: any other class than the true one.
        max_words: length of the word list (most words added).
        word_list: ``"ham-indicative"`` or ``"frequent-ham"`` (see :data:`WORD_LISTS`).
        min_count: least number of ham messages a listed word appears in.
        query_budget: victim queries per message.
        position: where the words go (see :func:`good_words`).
        seed: accepted for a uniform recipe interface (the word list is deterministic).
        encoder: optional MiniLM, only to report similarity.
        search: only ``"default"``.
        max_fraction: accepted for a uniform recipe interface (no word is replaced).

    Returns:
        The composed :class:`TextAttack`.

    Raises:
        ValueError, TypeError: as :func:`good_words`.

    Reference: Lowd, Meek, "Good Word Attacks on Statistical Spam Filters", CEAS 2005
    (passive attacks).
    """
    ham, spam = check_corpus(ham_texts, "ham_texts"), check_corpus(spam_texts, "spam_texts")
    _positive_int(max_words, "max_words")
    _insertion_search(search, "good-words-passive")
    constraints = _insertion_constraints(max_fraction, max_words)
    words = _word_list(word_list, ham, spam, max_words, min_count)
    return TextAttack(
        _goal(target, query_budget),
        InsertWords(words, position=check_position(position), ordered=True),
        constraints,
        GreedyInsertion(len(words), require_gain=False),
        name="good-words-passive",
        encoder=encoder,
    )


def contextual_insertion(
    *,
    ham_texts: Sequence[str] | None = None,
    spam_texts: Sequence[str] | None = None,
    target: int | None = 0,
    max_sentences: int = 2,
    max_words: int | None = None,
    pool_size: int = 50,
    ranked: bool = True,
    min_count: int = 5,
    query_budget: int | None = None,
    position: str = "after-first-line",
    seed: int = 0,
    encoder: MiniLMEncoder | None = None,
    search: str = "default",
    max_fraction: float = 0.25,
) -> TextAttack:
    """Contextual insertion: add whole benign sentences from ham, chosen by querying.

    Instead of a list of words, the attacker adds up to ``max_sentences`` natural sentences
    (6 to 30 words) from their own ham
    (:func:`~aisec.attacks.text.good_words.benign_sentences`), so the added text reads like
    part of a message. The pool holds ``pool_size`` sentences: the most ham-indicative ones by
    the attacker's corpus (``ranked``), or a seeded random sample. Per message, each step
    queries every pool sentence added and keeps the best (greedy insertion).

    Args:
        ham_texts: the attacker's own ham messages (required).
        spam_texts: the attacker's own spam messages (required; ranks the pool).
        target: the class to reach (``0``: ham); ``None``: any other class than the true one.
        max_sentences: most sentences added per message.
        max_words: most words added per message (``None``: bounded by the sentences only).
        pool_size: candidate sentences.
        ranked: pick the pool by ham-indicativeness
            (:func:`~aisec.attacks.text.good_words.ham_indicative_sentences`); ``False``: a
            random sample (seed ``seed``).
        min_count: see :func:`~aisec.attacks.text.good_words.ham_log_ratios`.
        query_budget: victim queries per message.
        position: where the sentences go (see :func:`good_words`).
        seed: seed of the random pool (``ranked=False``).
        encoder: optional MiniLM, only to report similarity.
        search: only ``"default"``.
        max_fraction: accepted for a uniform recipe interface (no word is replaced).

    Returns:
        The composed :class:`TextAttack`.

    Raises:
        ValueError, TypeError: as :func:`good_words`; also a corpus without a usable sentence.
    """
    ham, spam = check_corpus(ham_texts, "ham_texts"), check_corpus(spam_texts, "spam_texts")
    _positive_int(max_sentences, "max_sentences")
    _positive_int(pool_size, "pool_size")
    if max_words is not None:
        _positive_int(max_words, "max_words")
    _insertion_search(search, "contextual-insertion")
    constraints = _insertion_constraints(max_fraction, max_words)
    if ranked:
        sentences = ham_indicative_sentences(ham, spam, pool_size, min_count=min_count)
    else:
        sentences = benign_sentences(ham, pool_size, seed)
    if not sentences:
        raise ValueError(
            "the attacker's ham_texts hold no usable sentence (6 to 30 words, no URL or "
            "address" + (", ham-indicative words" if ranked else "") + ")"
        )
    return TextAttack(
        _goal(target, query_budget),
        InsertSentences(sentences, position=check_position(position)),
        constraints,
        GreedyInsertion(max_sentences),
        name="contextual-insertion",
        encoder=encoder,
    )


RECIPES: dict[str, Callable[..., TextAttack]] = {
    "textfooler": textfooler,
    "pwws": pwws,
    "deepwordbug": deepwordbug,
    "bad_characters": bad_characters,
    "good-words": good_words,
    "good-words-passive": good_words_passive,
    "contextual-insertion": contextual_insertion,
}


def build_recipe(name: str, **kwargs: Any) -> TextAttack:
    """Build a recipe by name.

    Raises:
        ValueError: unknown recipe (the message lists the known ones).
    """
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {sorted(RECIPES)}")
    return RECIPES[name](**kwargs)
