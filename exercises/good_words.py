"""Exercise ``good_words`` (chapter 3, docs/03-text-attacks.md): good words against naive Bayes.

A multinomial naive Bayes spam filter is a black box: log_proba(texts) returns the (n, 2)
log-probabilities of (ham, spam). For a spam message, append at most max_words words from the
given vocabulary (the message, a space, then the words separated by spaces) so that the filter
reads it as ham. Naive Bayes is linear in word counts, so one added copy of a word moves the
log-odds by the same amount in any message: the best k-word insertion is known exactly, and your
attack must get through every message that it gets through, within (k + 1) × |vocabulary|
queried texts per message. Return the message unchanged if you give up.

Check it:  aisec exercise check good_words
"""

from collections.abc import Callable

from torch import Tensor


def good_words(
    log_proba: Callable[[list[str]], Tensor], text: str, vocabulary: list[str], max_words: int
) -> str:
    """``text`` followed by at most ``max_words`` vocabulary words that make the filter say ham."""
    raise NotImplementedError
