"""Reference solution of the ``good_words`` exercise (chapter 3).

Lowd & Meek's active attack: at each step, query the message with each vocabulary word appended
and keep the word that lowers the spam log-odds most, until the filter says ham. Against naive
Bayes the best word is the same at every step, so this finds the exact best insertion.
"""

from collections.abc import Callable

from torch import Tensor


def good_words(
    log_proba: Callable[[list[str]], Tensor], text: str, vocabulary: list[str], max_words: int
) -> str:
    """``text`` followed by at most ``max_words`` vocabulary words that make the filter say ham."""
    added: list[str] = []
    for _ in range(max_words):
        current = " ".join([text, *added])
        candidates = [f"{current} {word}" for word in vocabulary]
        scores = log_proba(candidates)
        log_odds = scores[:, 1] - scores[:, 0]  # log P(spam) − log P(ham): lower is better
        best = int(log_odds.argmin())
        added.append(vocabulary[best])
        if float(log_odds[best]) < 0:  # the filter now says ham
            return candidates[best]
    return text
