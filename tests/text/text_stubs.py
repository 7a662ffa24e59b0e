"""Stub victims, synonym sources and encoders for the text tests (no data, no downloads)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from torch import Tensor

POSITIVE = {"good", "great", "love", "nice", "happy", "excellent", "fun"}
NEGATIVE = {"bad", "awful", "hate", "terrible", "sad", "delayed", "worst"}
_TOKEN = re.compile(r"\w+")


class LexiconModel:
    """A deterministic sentiment stub: softmax of (positive - negative word counts).

    It tokenizes like a real bag-of-words model (``\\w+``, lower case), so character edits and
    Unicode tricks that break a sentiment word make the word unknown.
    """

    class_names = ("negative", "positive")

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        self.calls += len(texts)
        rows = []
        for text in texts:
            words = _TOKEN.findall(text.lower())
            margin = sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)
            rows.append([-margin * 1.5 + 0.1, margin * 1.5])
        return torch.tensor(rows, dtype=torch.float32).reshape(-1, 2).softmax(1)


class StubSynonyms:
    """A tiny synonym table; sentiment words map to neutral or opposite-leaning words."""

    name = "stub"
    TABLE: ClassVar[dict[str, list[str]]] = {
        "good": ["fine", "decent", "bad"],
        "great": ["big", "large"],
        "love": ["like", "adore"],
        "terrible": ["dreadful", "awful"],
        "bad": ["poor", "good"],
        "movie": ["film", "picture"],
        "hate": ["dislike"],
        "flight": ["trip"],
        "delayed": ["late", "postponed"],
    }

    def synonyms(self, word: str) -> list[str]:
        return list(self.TABLE.get(word.lower(), []))


class StubEncoder:
    """Sentence 'embeddings' = normalized bag of hashed words (similar texts -> high cosine)."""

    def sentence_embeddings(self, texts: Sequence[str], batch_size: int = 128) -> Tensor:
        out = torch.zeros(len(texts), 64)
        for i, text in enumerate(texts):
            for word in _TOKEN.findall(text.lower()):
                out[i, sum(map(ord, word)) % 64] += 1.0
        return torch.nn.functional.normalize(out + 1e-6, dim=1)


POSITIVE_TEXTS = [
    "I really love this movie, the story was great and the actors were good",
    "What a great flight with @JetBlue today, good crew and nice snacks http://t.co/x1",
    "The food was good and the service was excellent, we had so much fun",
    "Such a happy day, I love my new car and the ride was great",
]
NEGATIVE_TEXTS = [
    "This was a terrible movie and I hate the ending, really bad acting",
    "My flight was delayed again, worst airline ever #fail",
    "Sad and awful service, the staff was bad and the room was terrible",
]


def white_box_lexicon(scale: float = 6.0) -> Any:
    """A real :class:`~aisec.models.text.BowClassifier` that behaves like :class:`LexiconModel`.

    Its one-dimensional word embeddings are +1 for positive words, -1 for negative ones and 0
    otherwise; the head turns the mean into logits ``(-scale·m, scale·m)``. Gradients flow, so
    white-box searches can use it.
    """
    from aisec.models.text import BowClassifier

    words = sorted(POSITIVE | NEGATIVE | {w for ws in StubSynonyms.TABLE.values() for w in ws})
    words += sorted(set(StubSynonyms.TABLE) - set(words))
    model = BowClassifier(words, ("negative", "positive"), dim=1)
    with torch.no_grad():
        model.embedding.weight.zero_()
        for word, index in model.index.items():
            model.embedding.weight[index, 0] = (word in POSITIVE) - (word in NEGATIVE)
        model.head.weight.copy_(torch.tensor([[-scale], [scale]]))
        model.head.bias.zero_()
    return model.eval()
