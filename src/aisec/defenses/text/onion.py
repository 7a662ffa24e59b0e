"""ONION: remove the words whose deletion makes a text much more fluent (backdoor triggers).

A textual backdoor trigger (a rare word such as ``cf`` inserted into poisoned examples) makes a
text less fluent, so deleting it lowers a language model's perplexity. For a text of words
``w_1 .. w_n`` (split on whitespace), ``p_0`` is the perplexity of the text and ``p_i`` that of
the text without ``w_i``; the suspicion of word ``i`` is ``f_i = log p_0 - log p_i`` (nats). We
use log-perplexity differences, which do not depend on the scale of the perplexity; the paper
uses ``p_0 - p_i``. Words with ``f_i > threshold`` are removed.

:meth:`Onion.clean` is ONION at inference (one text); :meth:`Onion.trigger_words` and
:meth:`Onion.flag` apply it to a training set by scoring only the words frequent enough to be a
poisoning trigger, on a few texts each.

Reference: F. Qi, Y. Chen, M. Li, Y. Yao, Z. Liu, M. Sun, "ONION: A Simple and Effective Defense
Against Textual Backdoor Attacks", EMNLP 2021.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from aisec.checks import check_int
from aisec.models.language import LanguageModel

__all__ = ["Onion", "WordSuspicion"]


@dataclass(frozen=True)
class WordSuspicion:
    """The suspicion of one word of a text.

    Attributes:
        index: position of the word among the text's whitespace-split words.
        word: the word.
        suspicion: ``log p_0 - log p_i`` in nats: how much removing the word lowers the text's
            log-perplexity (positive: the text is more fluent without it).
    """

    index: int
    word: str
    suspicion: float


def _check_texts(texts: object) -> list[str]:
    """``texts`` as a list of strings, or a ``TypeError`` saying what was wrong."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(
            f"texts must be a sequence of str (e.g. a list), got {type(texts).__name__}"
        )
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{position}] must be a str, got {type(text).__name__}")
    return list(texts)


class Onion:
    """ONION's word suspicions under a causal language model, and the filters built on them.

    Reference: Qi et al., "ONION: A Simple and Effective Defense Against Textual Backdoor
    Attacks", EMNLP 2021.
    """

    def __init__(self, lm: LanguageModel, *, threshold: float = 1.0, batch_size: int = 32) -> None:
        """Set up the defense.

        Args:
            lm: the language model whose perplexity measures fluency.
            threshold: words with suspicion (a log-perplexity drop, nats) above it are removed.
            batch_size: texts per forward pass.

        Raises:
            TypeError: ``lm`` is not a ``LanguageModel``, ``threshold`` is not a real number
                or ``batch_size`` not an int.
            ValueError: ``threshold`` is NaN or ``batch_size < 1``.
        """
        if not isinstance(lm, LanguageModel):
            raise TypeError(
                f"lm must be an aisec.models.language.LanguageModel, got {type(lm).__name__}"
            )
        if isinstance(threshold, bool) or not isinstance(threshold, Real):
            raise TypeError(f"threshold must be a real number, got {type(threshold).__name__}")
        if math.isnan(float(threshold)):
            raise ValueError("threshold must be a number, got NaN")
        self.lm: LanguageModel = lm
        self.threshold: float = float(threshold)
        self.batch_size: int = check_int("batch_size", batch_size, 1)

    def _pad_id(self) -> int:
        """A valid id to pad with (masked out, so its value does not matter)."""
        for value in (self.lm.tokenizer.pad_token_id, self.lm.eos_token_id):
            if value is not None:
                return int(value)
        return 0

    @torch.no_grad()
    def log_perplexities(self, texts: Sequence[str]) -> Tensor:
        """Mean token negative log-likelihood of each text under the language model.

        Tokens ``2 .. L`` are predicted from their prefix; a text of fewer than 2 tokens gets
        0.0. Texts are sorted by length, batched with right padding and an attention mask.

        Args:
            texts: ``N`` texts.

        Returns:
            ``(N,)`` float64 log-perplexities (nats per token), in the input order.

        Raises:
            TypeError: ``texts`` is not a sequence of str.
        """
        texts = _check_texts(texts)
        ids = [self.lm.encode(text) for text in texts]
        result = torch.zeros(len(texts), dtype=torch.float64)
        order = sorted((i for i in range(len(ids)) if len(ids[i]) >= 2), key=lambda i: len(ids[i]))
        model: Any = self.lm.model
        device = next(model.parameters()).device
        pad = self._pad_id()
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(ids[i]) for i in rows)
            batch = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for row, i in enumerate(rows):
                batch[row, : len(ids[i])] = ids[i]
                mask[row, : len(ids[i])] = 1
            batch, mask = batch.to(device), mask.to(device)
            logits = model(input_ids=batch, attention_mask=mask).logits[:, :-1].float()
            log_probs = torch.log_softmax(logits, dim=-1)
            token_ll = log_probs.gather(-1, batch[:, 1:, None]).squeeze(-1).double()
            targets = mask[:, 1:].double()
            nll = -(token_ll * targets).sum(dim=1) / targets.sum(dim=1)
            result[torch.tensor(rows)] = nll.cpu()
        return result

    def word_suspicions(self, text: str) -> list[WordSuspicion]:
        """The suspicion ``log p_0 - log p_i`` of every word of ``text``.

        ``p_0`` is the perplexity of the words joined by single spaces, ``p_i`` that of the same
        without word ``i``; all ``n + 1`` variants are scored in batches.

        Args:
            text: the text, split into words on whitespace.

        Returns:
            One :class:`WordSuspicion` per word, in text order; ``[]`` for fewer than 2 words.

        Raises:
            TypeError: ``text`` is not a str.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        words = text.split()
        if len(words) < 2:
            return []
        variants = [" ".join(words)]
        variants += [" ".join(words[:i] + words[i + 1 :]) for i in range(len(words))]
        scores = self.log_perplexities(variants).tolist()
        return [
            WordSuspicion(index=i, word=word, suspicion=scores[0] - scores[i + 1])
            for i, word in enumerate(words)
        ]

    def clean(self, text: str) -> tuple[str, list[WordSuspicion]]:
        """ONION at inference: remove the words whose suspicion exceeds the threshold.

        Args:
            text: the text, split into words on whitespace.

        Returns:
            The remaining words joined by single spaces, and the removed words (text order).

        Raises:
            TypeError: ``text`` is not a str.
        """
        suspicions = self.word_suspicions(text)
        removed = [s for s in suspicions if s.suspicion > self.threshold]
        dropped = {s.index for s in removed}
        kept = [word for i, word in enumerate(text.split()) if i not in dropped]
        return " ".join(kept), removed

    def trigger_words(
        self,
        texts: Sequence[str],
        *,
        min_count: int = 3,
        samples_per_word: int = 4,
        seed: int = 0,
    ) -> dict[str, float]:
        """ONION on a training set: the frequent words whose removal makes texts more fluent.

        A poisoning trigger must occur in many examples, so only words occurring in at least
        ``min_count`` texts are candidates. A candidate's suspicion in one text is
        ``log p(text) - log p(text with every occurrence of the word removed)``, averaged over
        up to ``samples_per_word`` texts containing it (a seeded choice). All variants are
        scored together, in batches: a few forward passes per distinct word, not per example.

        Args:
            texts: the training texts, split into words on whitespace.
            min_count: least number of texts a candidate occurs in.
            samples_per_word: most texts a candidate's suspicion is averaged over.
            seed: seed of the choice of texts (``random.Random(f"onion:{seed}")``).

        Returns:
            The candidates whose mean suspicion exceeds the threshold, mapped to their mean
            suspicion (nats), most suspicious first.

        Raises:
            TypeError: ``texts`` is not a sequence of str, or a count or the seed is not an int.
            ValueError: ``min_count < 1`` or ``samples_per_word < 1``.
        """
        texts = _check_texts(texts)
        min_count = check_int("min_count", min_count, 1)
        samples_per_word = check_int("samples_per_word", samples_per_word, 1)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        words = [text.split() for text in texts]
        containing: dict[str, list[int]] = {}
        for i, text_words in enumerate(words):
            for word in set(text_words):
                containing.setdefault(word, []).append(i)
        rng = random.Random(f"onion:{seed}")
        chosen = {
            word: rng.sample(containing[word], min(samples_per_word, len(containing[word])))
            for word in sorted(containing)
            if len(containing[word]) >= min_count
        }
        sources = sorted({i for rows in chosen.values() for i in rows})
        variants = [" ".join(words[i]) for i in sources]
        source_row = {i: row for row, i in enumerate(sources)}
        for word, rows in chosen.items():
            variants += [" ".join(w for w in words[i] if w != word) for i in rows]
        scores = self.log_perplexities(variants).tolist()
        means: dict[str, float] = {}
        position = len(sources)
        for word, rows in chosen.items():
            drops = [scores[source_row[i]] - scores[position + k] for k, i in enumerate(rows)]
            position += len(rows)
            means[word] = sum(drops) / len(drops)
        found = [(word, mean) for word, mean in means.items() if mean > self.threshold]
        found.sort(key=lambda item: (-item[1], item[0]))
        return dict(found)

    def flag(
        self, texts: Sequence[str], **trigger_words_kwargs: Any
    ) -> tuple[Tensor, dict[str, float]]:
        """Flag the training texts containing a trigger word found by :meth:`trigger_words`.

        Args:
            texts: ``N`` training texts.
            **trigger_words_kwargs: ``min_count``, ``samples_per_word``, ``seed``.

        Returns:
            ``(N,)`` bool, true for the texts containing a trigger word (as a whitespace-split
            word), and the trigger words with their mean suspicions.

        Raises:
            TypeError, ValueError: as :meth:`trigger_words`.
        """
        texts = _check_texts(texts)
        triggers = self.trigger_words(texts, **trigger_words_kwargs)
        flags = [not triggers.keys().isdisjoint(text.split()) for text in texts]
        return torch.tensor(flags, dtype=torch.bool), triggers
