"""A keyword 'naive Bayes' spam filter and a tiny mail corpus for the insertion tests."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import Tensor

_TOKEN = re.compile(r"\w+")

HAM_TEXTS = [
    "Subject: project meeting\n\nThanks for the notes. The project meeting moves to tomorrow "
    "after lunch, in the usual room.",
    "Subject: lunch\n\nThanks, see you at lunch tomorrow. We can talk about the project "
    "notes then.",
    "Subject: re: meeting\n\n> an old quoted line about the meeting\nThanks again for the "
    "meeting notes, they were really helpful for the whole team.",
    "Subject: notes\n\nI read the project notes this morning and they look fine to me. "
    "See you tomorrow at the meeting.",
    "Subject: tomorrow\n\nThe meeting tomorrow starts at ten, please bring the project notes "
    "with you.\nVisit http://intranet.example.org for the agenda.",
]
SPAM_TEXTS = [
    "Subject: free money\n\nClick here to claim your free money now, winner!",
    "Subject: offer\n\nFree offer for every winner, click now to claim the money.",
    "Subject: winner\n\nYou are a winner: free money is waiting, click the link today.",
]


class KeywordSpamFilter:
    """Spam log-odds = the sum of keyword weights of the words read (``\\w+``, lower case).

    Args:
        max_length: read only the first ``max_length`` words (a token window, one token per
            word, exposed through ``tokenizer`` as a Hugging Face classifier does); ``None``:
            read everything.
    """

    class_names: tuple[str, ...] = ("ham", "spam")
    WEIGHTS: ClassVar[dict[str, float]] = {
        "free": 1.0,
        "money": 1.0,
        "click": 0.8,
        "winner": 1.0,
        "offer": 0.8,
        "meeting": -1.5,
        "thanks": -1.5,
        "project": -1.2,
        "lunch": -1.0,
        "tomorrow": -1.0,
        "notes": -0.8,
    }

    def __init__(self, max_length: int | None = None) -> None:
        self.calls = 0
        if max_length is not None:
            self.max_length = max_length

    def tokenizer(
        self, texts: Sequence[str], truncation: bool = False, max_length: int | None = None
    ) -> dict[str, list[list[int]]]:
        rows = [[1] * len(_TOKEN.findall(t)) for t in texts]
        if truncation and max_length is not None:
            rows = [row[:max_length] for row in rows]
        return {"input_ids": rows}

    def spam_log_odds(self, text: str) -> float:
        words = _TOKEN.findall(text.lower())
        limit = getattr(self, "max_length", None)
        if limit is not None:
            words = words[:limit]
        return sum(self.WEIGHTS.get(w, 0.0) for w in words)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        self.calls += len(texts)
        spam = torch.tensor([self.spam_log_odds(t) for t in texts], dtype=torch.float64).sigmoid()
        return torch.stack([1 - spam, spam], dim=1).float()
