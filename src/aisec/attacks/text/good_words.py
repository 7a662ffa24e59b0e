"""Word and sentence pools for good-word attacks, drawn from the attacker's own corpus.

A good-word attack adds words that a filter associates with legitimate mail ("ham") to a spam
message until the filter lets it through (Lowd & Meek 2005). The attacker does not know the
filter's weights; the words come from mail the attacker has: their own ham and spam.

- :func:`frequent_ham_words` — the words in the most ham messages (Lowd & Meek's "common
  words" baseline: frequent, but often frequent in spam too);
- :func:`ham_indicative_words` — the words with the largest smoothed log ratio of their
  frequency in ham to that in spam (Lowd & Meek's most effective passive list);
- :func:`benign_sentences` — natural sentences of ham messages, for contextual insertion (the
  added text reads like a message, not a word list);
- :func:`ham_indicative_sentences` — those sentences ranked by the summed log ratios of
  their words.

Words follow scikit-learn's default tokenization (``(?u)\\b\\w\\w+\\b`` on lower-cased text),
keeping alphabetic words only (no numbers, no ``_``). Frequencies are *document*
frequencies (the share of messages that contain the word), so one long message cannot make a
word look common.

Reference: Lowd, Meek, "Good Word Attacks on Statistical Spam Filters", CEAS 2005.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Sequence

__all__ = [
    "benign_sentences",
    "check_corpus",
    "frequent_ham_words",
    "ham_indicative_sentences",
    "ham_indicative_words",
    "ham_log_ratios",
    "words_of",
]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(]?[A-Z])")
_HEADER_LINE = re.compile(r"^[A-Za-z][A-Za-z-]*:\s")
_URL_OR_ADDRESS = re.compile(r"https?:|www\.|://|@|\.(com|net|org)\b", re.IGNORECASE)
_MARKUP = set("|=_*<>{}[]#~\\^`$%/")


def words_of(text: str) -> list[str]:
    """The alphabetic words of ``text`` (scikit-learn's token pattern, lower-cased)."""
    return [w for w in _TOKEN.findall(text.lower()) if w.isalpha()]


def check_corpus(texts: object, name: str) -> list[str]:
    """``texts`` as a list of strings; a ``ValueError``/``TypeError`` saying what is expected.

    Raises:
        ValueError: ``texts`` is ``None`` or empty.
        TypeError: ``texts`` is a string or holds something else than strings.
    """
    if texts is None:
        raise ValueError(
            f"{name} is required: the attacker's own messages (a sequence of strings) from "
            "which the words and sentences to insert are drawn"
        )
    if isinstance(texts, str) or not isinstance(texts, Iterable):
        raise TypeError(f"{name} must be a sequence of strings, got {type(texts).__name__}")
    out = list(texts)
    for text in out:
        if not isinstance(text, str):
            raise TypeError(f"{name} must hold strings, got {type(text).__name__}")
    if not out:
        raise ValueError(f"{name} must hold at least one message")
    return out


def _check_size(size: object, name: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int):
        raise TypeError(f"{name} must be an int, got {size!r}")
    if size < 1:
        raise ValueError(f"{name} must be >= 1, got {size}")
    return size


def _document_frequencies(texts: Sequence[str]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(set(words_of(text)))
    return counts


def frequent_ham_words(ham_texts: Sequence[str], size: int) -> list[str]:
    """The ``size`` words found in the most ham messages (ties: alphabetical).

    Args:
        ham_texts: the attacker's ham messages.
        size: how many words.

    Returns:
        Up to ``size`` words, most frequent first.

    Raises:
        TypeError, ValueError: bad ``ham_texts`` or ``size``.
    """
    counts = _document_frequencies(check_corpus(ham_texts, "ham_texts"))
    _check_size(size)
    return [w for w, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:size]]


def ham_log_ratios(
    ham_texts: Sequence[str],
    spam_texts: Sequence[str],
    *,
    min_count: int = 5,
    alpha: float = 1.0,
) -> dict[str, float]:
    """Smoothed log ratio of each word's document frequency in ham to that in spam.

    ``log((h + alpha) / (H + 2 alpha)) - log((s + alpha) / (S + 2 alpha))`` for a word in ``h``
    of ``H`` ham and ``s`` of ``S`` spam messages: positive for ham-indicative words.

    Args:
        ham_texts: the attacker's ham messages.
        spam_texts: the attacker's spam messages.
        min_count: words in fewer messages (ham and spam together) are left out.
        alpha: additive smoothing (> 0).

    Returns:
        word -> log ratio.

    Raises:
        TypeError, ValueError: bad corpora, ``min_count`` below 1 or ``alpha`` not positive.
    """
    ham_list = check_corpus(ham_texts, "ham_texts")
    spam_list = check_corpus(spam_texts, "spam_texts")
    _check_size(min_count, "min_count")
    if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not alpha > 0:
        raise ValueError(f"alpha must be a positive number, got {alpha!r}")
    ham, spam = _document_frequencies(ham_list), _document_frequencies(spam_list)
    n_ham, n_spam = len(ham_list), len(spam_list)
    out: dict[str, float] = {}
    for word in ham.keys() | spam.keys():
        h, s = ham[word], spam[word]
        if h + s >= min_count:
            out[word] = math.log((h + alpha) / (n_ham + 2 * alpha)) - math.log(
                (s + alpha) / (n_spam + 2 * alpha)
            )
    return out


def ham_indicative_words(
    ham_texts: Sequence[str],
    spam_texts: Sequence[str],
    size: int,
    *,
    min_count: int = 5,
    alpha: float = 1.0,
) -> list[str]:
    """The ``size`` words with the largest ham-to-spam log ratio (:func:`ham_log_ratios`).

    Only words found in at least ``min_count`` ham messages and with a positive ratio count.

    Args:
        ham_texts: the attacker's ham messages.
        spam_texts: the attacker's spam messages.
        size: how many words.
        min_count: least number of ham messages a word appears in.
        alpha: additive smoothing.

    Returns:
        Up to ``size`` words, most ham-indicative first (ties: alphabetical).

    Raises:
        TypeError, ValueError: bad corpora or settings.
    """
    _check_size(size)
    ham_list = check_corpus(ham_texts, "ham_texts")
    ratios = ham_log_ratios(ham_list, spam_texts, min_count=min_count, alpha=alpha)
    ham = _document_frequencies(ham_list)
    chosen = [(r, w) for w, r in ratios.items() if r > 0 and ham[w] >= min_count]
    return [w for _, w in sorted(chosen, key=lambda item: (-item[0], item[1]))[:size]]


def _is_benign(sentence: str) -> bool:
    words = sentence.split()
    if not 6 <= len(words) <= 30 or not sentence[0].isupper() or sentence[-1] not in ".!?":
        return False
    if _URL_OR_ADDRESS.search(sentence) or _MARKUP & set(sentence):
        return False
    visible = [c for c in sentence if not c.isspace()]
    digits = sum(c.isdigit() for c in visible)
    letters = sum(c.isalpha() for c in visible)
    return digits <= 0.1 * len(visible) and letters >= 0.75 * len(visible)


def _sentences(text: str) -> list[str]:
    """The sentences of one message: quoted and header-like lines dropped, lines joined."""
    paragraphs: list[list[str]] = [[]]
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            paragraphs.append([])
        elif not stripped.startswith((">", "|")) and not _HEADER_LINE.match(stripped):
            paragraphs[-1].append(stripped)
    out: list[str] = []
    for paragraph in paragraphs:
        joined = " ".join(" ".join(paragraph).split())
        out += [s.strip() for s in _SENTENCE_END.split(joined) if s.strip()]
    return out


def benign_sentences(ham_texts: Sequence[str], size: int | None = None, seed: int = 0) -> list[str]:
    """Natural sentences of ham messages, to insert as benign context.

    A sentence has 6 to 30 words, starts with a capital letter and ends with ``.``, ``!`` or
    ``?``; quoted reply lines (``>``), header-like lines (``Subject: ...``) and sentences
    with a URL, an e-mail address, markup characters, more than 10 % digits or fewer than 75 %
    letters are dropped; duplicates (ignoring case and spacing) are kept once.

    Args:
        ham_texts: the attacker's ham messages.
        size: how many sentences (a seeded sample); ``None``: all, in corpus order.
        seed: seed of the sample.

    Returns:
        The sentences (fewer than ``size`` when the corpus has fewer).

    Raises:
        TypeError, ValueError: bad ``ham_texts`` or ``size``.
    """
    texts = check_corpus(ham_texts, "ham_texts")
    if size is not None:
        _check_size(size)
    found: dict[str, str] = {}
    for text in texts:
        for sentence in _sentences(text):
            if _is_benign(sentence):
                found.setdefault(" ".join(sentence.lower().split()), sentence)
    sentences = list(found.values())
    if size is None or size >= len(sentences):
        return sentences
    return random.Random(seed).sample(sentences, size)


def ham_indicative_sentences(
    ham_texts: Sequence[str],
    spam_texts: Sequence[str],
    size: int,
    *,
    min_count: int = 5,
) -> list[str]:
    """The ``size`` :func:`benign_sentences` whose words are most ham-indicative.

    A sentence's score is the sum of :func:`ham_log_ratios` over its words (each occurrence
    counted; unknown words 0), what the sentence adds to a naive Bayes filter's log odds of
    ham if the attacker's corpus is like the filter's. Only positive scores are kept.

    Args:
        ham_texts: the attacker's ham messages.
        spam_texts: the attacker's spam messages.
        size: how many sentences.
        min_count: see :func:`ham_log_ratios`.

    Returns:
        Up to ``size`` sentences, highest score first (ties: corpus order).

    Raises:
        TypeError, ValueError: bad corpora or settings.
    """
    _check_size(size)
    ham_list = check_corpus(ham_texts, "ham_texts")
    ratios = ham_log_ratios(ham_list, spam_texts, min_count=min_count)
    scored = [
        (sum(ratios.get(w, 0.0) for w in words_of(s)), i, s)
        for i, s in enumerate(benign_sentences(ham_list))
    ]
    ranked = sorted((item for item in scored if item[0] > 0), key=lambda item: (-item[0], item[1]))
    return [s for _, _, s in ranked[:size]]
