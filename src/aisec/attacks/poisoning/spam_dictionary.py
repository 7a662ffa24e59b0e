"""Poisoning a spam filter through its training mail: the dictionary and the focused attacks.

A spam filter is retrained on the mail its users receive, and an attacker can send mail that
will be labelled spam. Nelson et al. (2008) exploit that with *causative availability* attacks,
e-mails built to be trained on as spam so that the retrained filter misclassifies ham and
becomes useless (the user switches it off, and spam gets through):

* :func:`dictionary_attack`: every attack e-mail holds a whole dictionary, the words the
  attacker expects in the victim's ham (:func:`attacker_dictionary`: the most frequent words of
  a corpus the attacker has; Nelson et al. used GNU Aspell's English dictionary and the most
  common words of a Usenet corpus). With 1% of the training mail, SpamBayes misclassifies most
  ham as spam or unsure.
* :func:`focused_attack`: the attacker wants one *target* ham message (a competitor's bid)
  blocked and knows part of its words (:func:`guessed_words`: each known with probability
  ``known_fraction`` in the paper; here a seeded sample of that share); the attack e-mails hold
  the known words, so the target's own words turn spammy.

The attack e-mails look like what the victims see (``"Subject: ...\\n\\nbody"``) and must enter
training labelled spam (label 1). They are only word lists: bag-of-words filters ignore order,
and an attacker would add a real spam's headers and text (``filler``) to pass as spam.

Which filter the dictionary attack hurts, and how, depends on the learner: SpamBayes' token
probabilities come from per-class *document* frequencies (:mod:`aisec.models.spambayes`), so
every dictionary word becomes spammier and ham turns spam; a multinomial naive Bayes is instead
diluted (its spam word distribution is spread over the whole dictionary) and misses spam; a
discriminative TF-IDF logistic regression barely moves. :mod:`aisec.evaluate.spam_poisoning`
measures it; :class:`aisec.defenses.detect.roni.RONI` is the defense of the same authors.

References:
    B. Nelson, M. Barreno, F. J. Chi, A. D. Joseph, B. I. P. Rubinstein, U. Saini, C. Sutton,
    J. D. Tygar, K. Xia, "Exploiting Machine Learning to Subvert Your Spam Filter", LEET 2008;
    M. Barreno, B. Nelson, A. D. Joseph, J. D. Tygar, "The security of machine learning",
    Machine Learning 81, 2010.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from aisec.models.spambayes import token_set, tokenize

__all__ = [
    "attacker_dictionary",
    "dictionary_attack",
    "focused_attack",
    "guessed_words",
]

_WORDS_PER_LINE = 12
_SUBJECT_WORDS = 5


def attacker_dictionary(texts: Sequence[str], size: int | None = None) -> list[str]:
    """The attacker's dictionary: the words of its own corpus that most messages contain.

    Args:
        texts: the attacker's corpus (e.g. its own ham and spam, or any general text).
        size: how many words to keep (``None``: all of them).

    Returns:
        Distinct lower-case words (sklearn's pattern ``(?u)\\b\\w\\w+\\b``), by decreasing
        number of messages that contain them, ties alphabetical.

    Raises:
        TypeError: texts that are not a list of strings.
        ValueError: ``size`` not ``None`` or an int >= 1.

    Reference:
        Nelson et al., "Exploiting Machine Learning to Subvert Your Spam Filter", LEET 2008
        (their dictionaries: GNU Aspell's English words and the most frequent Usenet words).
    """
    corpus = _check_texts(texts, "texts")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be None or an int >= 1, got {size!r}")
    frequency: Counter[str] = Counter()
    for text in corpus:
        frequency.update(token_set(text))
    words = sorted(frequency, key=lambda word: (-frequency[word], word))
    return words if size is None else words[:size]


def dictionary_attack(words: Sequence[str], n_emails: int, *, seed: int = 0) -> list[str]:
    """Attack e-mails that each contain every word of the dictionary (to be trained as spam).

    Args:
        words: the dictionary (e.g. from :func:`attacker_dictionary`): non-empty strings
            without whitespace; repeated words are used once.
        n_emails: how many e-mails (Nelson et al.: 1% of the training mail is enough).
        seed: the word order of each e-mail (a bag-of-words filter ignores it).

    Returns:
        ``n_emails`` texts ``"Subject: <5 words>\\n\\n<all words, 12 a line>"``, each in its own
        seeded order; the same seed gives the same e-mails.

    Raises:
        ValueError: an empty dictionary, a word with whitespace or no word characters,
            ``n_emails`` < 0.

    Reference:
        Nelson et al., "Exploiting Machine Learning to Subvert Your Spam Filter", LEET 2008.
    """
    vocabulary = _check_words(words, "words")
    count = _check_count(n_emails)
    rng = random.Random(_check_seed(seed))
    return [_email(vocabulary, (), rng) for _ in range(count)]


def guessed_words(target_text: str, known_fraction: float = 0.5, *, seed: int = 0) -> list[str]:
    """The target's words the attacker knows: a seeded sample of its distinct words.

    Args:
        target_text: the ham message the attacker wants blocked.
        known_fraction: the share of its distinct words the attacker knows, in ``[0, 1]``;
            ``round(known_fraction · n)`` words are drawn.
        seed: which words.

    Returns:
        The known words, in the order they first appear in the target.

    Raises:
        TypeError: ``target_text`` is not a string.
        ValueError: ``known_fraction`` outside ``[0, 1]``.
    """
    if not isinstance(target_text, str):
        raise TypeError(f"target_text must be a str, got {type(target_text).__name__}")
    fraction = known_fraction
    if (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0 <= fraction <= 1
    ):
        raise ValueError(f"known_fraction must be a number in [0, 1], got {known_fraction!r}")
    distinct = list(dict.fromkeys(tokenize(target_text)))
    rng = random.Random(_check_seed(seed))
    chosen = set(rng.sample(range(len(distinct)), round(fraction * len(distinct))))
    return [word for i, word in enumerate(distinct) if i in chosen]


def focused_attack(
    target_text: str,
    n_emails: int,
    *,
    known_fraction: float = 0.5,
    filler: Sequence[str] = (),
    seed: int = 0,
) -> list[str]:
    """Attack e-mails that contain the words of one target ham message the attacker knows.

    Trained as spam, they make the known words of the target spammy, so that the retrained
    filter blocks the target (and mail like it) while the rest of the ham is barely affected.

    Args:
        target_text: the ham message to be blocked.
        n_emails: how many e-mails.
        known_fraction: the share of the target's distinct words the attacker knows
            (:func:`guessed_words`; the same words in every e-mail).
        filler: more words in every e-mail (e.g. a real spam's words, so that the e-mails pass
            as spam); none by default.
        seed: which words are known, and each e-mail's word order.

    Returns:
        ``n_emails`` texts ``"Subject: ...\\n\\n<known words and filler>"``; deterministic by
        seed. With no known word and no filler the e-mails are empty (``"Subject: \\n\\n"``).

    Raises:
        TypeError: ``target_text`` is not a string.
        ValueError: ``known_fraction`` outside ``[0, 1]``, ``n_emails`` < 0, a bad filler word.

    Reference:
        Nelson et al., "Exploiting Machine Learning to Subvert Your Spam Filter", LEET 2008
        (the focused attack).
    """
    known = guessed_words(target_text, known_fraction, seed=seed)
    extra = _check_words(filler, "filler", allow_empty=True)
    count = _check_count(n_emails)
    rng = random.Random(_check_seed(seed) + 1)
    return [_email(known, extra, rng) for _ in range(count)]


def _email(words: Sequence[str], extra: Sequence[str], rng: random.Random) -> str:
    body = list(words) + list(extra)
    rng.shuffle(body)
    subject = " ".join(body[:_SUBJECT_WORDS])
    lines = [
        " ".join(body[start : start + _WORDS_PER_LINE])
        for start in range(0, len(body), _WORDS_PER_LINE)
    ]
    return f"Subject: {subject}\n\n" + "\n".join(lines)


def _check_texts(texts: Sequence[str], name: str) -> list[str]:
    if isinstance(texts, (str, bytes)) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{index}] must be a str, got {type(text).__name__}")
    return list(texts)


def _check_words(words: Sequence[str], name: str, *, allow_empty: bool = False) -> list[str]:
    items = _check_texts(words, name)
    for word in items:
        if tokenize(word) != [word.lower()] or word != word.strip():
            raise ValueError(
                f"{name} must hold single words (two or more word characters, no whitespace or "
                f"punctuation), got {word!r}"
            )
    unique = list(dict.fromkeys(items))
    if not unique and not allow_empty:
        raise ValueError(f"{name} must hold at least one word")
    return unique


def _check_count(n_emails: int) -> int:
    if isinstance(n_emails, bool) or not isinstance(n_emails, int) or n_emails < 0:
        raise ValueError(f"n_emails must be an int >= 0, got {n_emails!r}")
    return n_emails


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return seed
