"""Chapter 3's exercises: undoing Unicode "bad characters", and good words against naive Bayes.

``undo_bad_characters`` perturbs English sentences with aisec's own bad-character
transformation (:class:`aisec.attacks.text.transformations.BadCharacters`: every insertable
invisible character, homoglyphs, right-to-left reordering, deletions) and checks that the
learner's function gives back the original text, and leaves clean text alone.
``good_words`` attacks a multinomial naive Bayes spam filter trained in milliseconds on a seeded
synthetic corpus: the checker computes, for every message, the exact best any insertion of ``k``
words can do (the chapter's bound) and asks the learner's attack to reach it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from aisec.exercises.base import Checks, Exercise, LearnerError, Solution, pct

__all__ = ["GOOD_WORDS", "UNDO_BAD_CHARACTERS"]

_SENTENCES = (
    "The meeting moved to Thursday afternoon.",
    "Please send the invoice before Friday, thanks!",
    "I loved this film: the music was wonderful.",
    "Worst service ever, never ordering again",
    "Your account was locked after three failed logins.",
    "Claim your free prize now at the front desk",
    "The café on Main Street serves naïve coffee art.",
    "Temperatures will drop below zero tonight.",
    "Can you review my pull request when you have time?",
    "Battery life is great but the screen scratches easily.",
    "Tabs\tand new lines\nare layout, not tricks.",
    "Order 66 arrived with 2 broken cups and 1 plate.",
)
"""English texts, some with accents, digits, a tab and a newline that must survive."""

_KINDS = ("invisible", "homoglyph", "reorder", "deletion")
_KIND_NAMES = {
    "invisible": "invisible characters",
    "homoglyph": "homoglyphs",
    "reorder": "right-to-left reordering",
    "deletion": "deletion controls",
}
_GOOD_WORDS_BUDGET = 10
_GOOD_WORDS_MESSAGES = 30


def _perturb(text: str, kinds: Sequence[str], rng: random.Random) -> str:
    """``text`` with one word per entry of ``kinds`` perturbed by that kind of bad character."""
    from aisec.attacks.text.core import AttackText
    from aisec.attacks.text.transformations import BadCharacters
    from aisec.unicode import insertable_invisible_characters

    slots = AttackText.from_text(text)
    words = list(slots.words)
    candidates = [i for i, word in enumerate(words) if sum(c.isalpha() for c in word) >= 3]
    chosen = rng.sample(candidates, min(len(kinds), len(candidates)))
    for index, kind in zip(chosen, kinds, strict=False):
        transformation = BadCharacters(
            (kind,),
            max_candidates=8,
            seed=rng.randrange(2**31),
            invisible=insertable_invisible_characters(),
        )
        options = transformation(slots, index)
        if options:
            words[index] = rng.choice(options)
    return (
        "".join(gap + word for gap, word in zip(slots.gaps, words, strict=False)) + (slots.gaps[-1])
    )


def _check_undo(solution: Solution, checks: Checks) -> None:
    try:
        from aisec.unicode import confusable_fold_table

        confusable_fold_table()
    except (ImportError, ValueError) as error:
        checks.fail("the checker's Unicode tables are installed", str(error))
        return
    from aisec.unicode import visible_text

    unchanged = 0
    for text in _SENTENCES:
        result = solution.call("undo", text)
        if not isinstance(result, str):
            raise LearnerError(f"undo must return a str, got {type(result).__name__}")
        unchanged += result == text
    checks.expect(
        "clean text comes back unchanged",
        unchanged == len(_SENTENCES),
        f"{unchanged} of {len(_SENTENCES)} (accents, digits, tabs and newlines stay)",
    )
    rng = random.Random(0)
    cases: list[tuple[str, tuple[str, ...]]] = [(_KIND_NAMES[k], (k, k)) for k in _KINDS]
    cases.append(("all four kinds in one text", _KINDS))
    for label, kinds in cases:
        restored, first_miss, stable = 0, "", 0
        for text in _SENTENCES:
            attacked = _perturb(text, kinds, rng)
            if attacked == text or visible_text(attacked) != visible_text(text):
                raise RuntimeError(f"the checker's perturbation of {text!r} is not invisible")
            result = solution.call("undo", attacked)
            if not isinstance(result, str):
                raise LearnerError(f"undo must return a str, got {type(result).__name__}")
            restored += result == text
            stable += solution.call("undo", result) == result
            if result != text and not first_miss:
                first_miss = f"; e.g. {attacked!a} gave {result!a}"
        checks.expect(
            f"restores text attacked with {label}",
            restored == len(_SENTENCES),
            f"{restored} of {len(_SENTENCES)}{first_miss}",
        )
        checks.expect(
            f"undo(undo(t)) == undo(t), {label}",
            stable == len(_SENTENCES),
            f"{stable} of {len(_SENTENCES)}",
        )


_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"


@dataclass(frozen=True)
class _Filter:
    """A fitted naive Bayes filter on the synthetic mail."""

    vectorizer: Any  # a fitted scikit-learn CountVectorizer
    model: Any  # a fitted scikit-learn MultinomialNB
    vocabulary: tuple[str, ...]
    test_spam: tuple[str, ...]

    def log_odds(self, texts: Sequence[str]) -> np.ndarray:
        """``log P(spam | text) − log P(ham | text)`` per text."""
        joint = self.model.predict_joint_log_proba(self.vectorizer.transform(texts))
        return np.asarray(joint[:, 1] - joint[:, 0])

    def log_proba(self, texts: Sequence[str]) -> Tensor:
        """``(n, 2)`` float64 log-probabilities of (ham, spam)."""
        probs = self.model.predict_log_proba(self.vectorizer.transform(texts))
        return torch.from_numpy(np.asarray(probs, dtype=np.float64))

    def word_weights(self) -> dict[str, float]:
        """How much one more copy of each known word moves the log-odds."""
        log_prob = self.model.feature_log_prob_
        names = self.vectorizer.get_feature_names_out()
        return {str(w): float(log_prob[1, i] - log_prob[0, i]) for i, w in enumerate(names)}


def _synthetic_filter(seed: int = 0) -> _Filter:
    """A multinomial naive Bayes filter trained on seeded synthetic ham and spam."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.naive_bayes import MultinomialNB

    rng = np.random.default_rng(seed)
    words: list[str] = []
    seen: set[str] = set()
    while len(words) < 300:
        syllables = int(rng.integers(2, 4))
        word = "".join(
            str(rng.choice(list(_CONSONANTS))) + str(rng.choice(list(_VOWELS)))
            for _ in range(syllables)
        )
        if word not in seen:
            seen.add(word)
            words.append(word)
    frequency = 1.0 / np.arange(1, len(words) + 1) ** 0.8
    ham = frequency * rng.lognormal(0.0, 1.0, len(words))
    spam = frequency * rng.lognormal(0.0, 1.0, len(words))
    ham, spam = ham / ham.sum(), spam / spam.sum()

    def messages(p: np.ndarray, count: int) -> list[str]:
        lengths = rng.integers(40, 100, count)
        return [" ".join(rng.choice(words, size=n, p=p)) for n in lengths]

    train = messages(ham, 300) + messages(spam, 300)
    labels = np.array([0] * 300 + [1] * 300)
    vectorizer = CountVectorizer(token_pattern=r"[a-z]+")
    model = MultinomialNB(alpha=1.0).fit(vectorizer.fit_transform(train), labels)
    fitted = _Filter(vectorizer, model, tuple(words), ())
    candidates = messages(spam, 200)
    detected = [
        t for t, odds in zip(candidates, fitted.log_odds(candidates), strict=True) if odds > 0
    ]
    return _Filter(vectorizer, model, tuple(words), tuple(detected[:_GOOD_WORDS_MESSAGES]))


def _check_good_words(solution: Solution, checks: Checks) -> None:
    spam_filter = _synthetic_filter()
    k = _GOOD_WORDS_BUDGET
    vocabulary = list(spam_filter.vocabulary)
    weights = spam_filter.word_weights()
    best = min(weights.get(w, 0.0) for w in vocabulary)
    savable = spam_filter.log_odds(list(spam_filter.test_spam)) + k * best < 0
    queries = [0]

    def log_proba(texts: list[str]) -> Tensor:
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("log_proba takes a list of str")
        queries[0] += len(texts)
        return spam_filter.log_proba(texts)

    outputs: list[str] = []
    for text in spam_filter.test_spam:
        result = solution.call("good_words", log_proba, text, list(vocabulary), k)
        if not isinstance(result, str):
            raise LearnerError(f"good_words must return a str, got {type(result).__name__}")
        outputs.append(result)
    known = set(vocabulary)
    bad_form = [
        i
        for i, (text, out) in enumerate(zip(spam_filter.test_spam, outputs, strict=True))
        if not out.startswith(text)
        or len(out[len(text) :].split()) > k
        or not set(out[len(text) :].split()) <= known
    ]
    checks.expect(
        f"only adds words: the message, then at most {k} words of the vocabulary",
        not bad_form,
        f"{len(bad_form)} of {len(outputs)} outputs break the rule"
        + (f" (e.g. message {bad_form[0]})" if bad_form else ""),
    )
    through = spam_filter.log_odds(outputs) < 0
    count, ceiling = int(through.sum()), int(savable.sum())
    missed = int((savable & ~through).sum())
    checks.expect(
        f"gets through every message that some {k}-word insertion can get through",
        missed == 0 and not bad_form,
        f"{count} of {len(outputs)} let through; the exact bound allows {ceiling}"
        f" ({pct(ceiling / len(outputs))})",
    )
    budget = len(outputs) * (k + 1) * len(vocabulary)
    checks.expect(
        "stays within the query budget",
        queries[0] <= budget,
        f"{queries[0]} texts queried, budget {budget} ((k + 1) × vocabulary per message)",
    )


UNDO_BAD_CHARACTERS = Exercise(
    name="undo_bad_characters",
    chapter=3,
    title="Undo Unicode bad characters: give back the text a reader sees",
    statement=(
        "Write undo(text), which turns a text attacked with Boucher et al.'s bad characters "
        "back into the original: resolve right-to-left overrides (U+202E … U+202C: reverse what "
        "they enclose), apply deletion controls (a backspace erases the character before it), "
        "remove every invisible character (every Default_Ignorable_Code_Point, variation "
        "selectors, other format Cf and control Cc characters except tab, newline and carriage "
        "return, and the blanks U+2800 and U+1D159; the regex package knows these properties) "
        "and fold homoglyphs to the ASCII letter they imitate "
        "(aisec.unicode.confusable_fold_table()). The order matters. Clean English text, "
        "accents included, must come back unchanged. Write it yourself: not with aisec's "
        "Sanitizer or aisec.unicode.normalize."
    ),
    functions=("undo(text: str) -> str",),
    checks=(
        "12 clean sentences (accents, digits, a tab, a newline) come back unchanged",
        "the same sentences attacked by aisec's BadCharacters with invisible characters (any "
        "of the ~400 insertable ones), homoglyphs, reordering, deletions, and all four at once, "
        "come back exactly",
        "undo is idempotent on its outputs",
    ),
    checker=_check_undo,
)

GOOD_WORDS = Exercise(
    name="good_words",
    chapter=3,
    title="Good words against naive Bayes: reach the exact bound of a k-word insertion",
    statement=(
        "A multinomial naive Bayes spam filter is a black box: log_proba(texts) returns the "
        "(n, 2) log-probabilities of (ham, spam). For a spam message, append at most k words "
        "from the given vocabulary (the message, a space, then the words separated by spaces) "
        "so that the filter reads it as ham. Naive Bayes is linear in word counts, so one "
        "added copy of a word moves the log-odds by the same amount in any message: the best "
        "k-word insertion is known exactly, and your attack must get through every message "
        "that it gets through, within (k + 1) × |vocabulary| queried texts per message. Return "
        "the message unchanged if you give up."
    ),
    functions=(
        "good_words(log_proba: Callable[[list[str]], Tensor], text: str, "
        "vocabulary: list[str], max_words: int) -> str",
    ),
    checks=(
        "every output is the message followed by at most k = 10 vocabulary words",
        "every message that the exact bound says some k-word insertion gets through gets "
        "through (30 detected spam of a seeded synthetic corpus)",
        "at most (k + 1) × |vocabulary| texts queried per message on average",
    ),
    checker=_check_good_words,
)
