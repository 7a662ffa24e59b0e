"""The offline text victims by name: trained on first use, cached and verified.

``load_text_model("tweets-bow")`` trains the bag-of-embeddings tweet classifier the first time
(seconds), ``"tweets-minilm"`` a classification head on the MiniLM encoder; the spam filters
``"spam-nb"`` and ``"spam-tfidf"`` (linear bag-of-words models, seconds) and ``"spam-minilm"``
(a head on the MiniLM encoder reading 64 tokens, under a minute) learn from the SpamAssassin
corpus (:mod:`aisec.zoo.spam_training`). All are cached under a key that includes a hash of
their training recipe, so a changed recipe retrains. The cached checkpoint (weights, vocabulary,
class names, test accuracy, and for the spam filters their ham false-positive rate) is verified
as a whole on every load (:mod:`aisec.models.checkpoint`); one that does not verify is reported
and trained again, under the entry's cache lock, so that concurrent processes train it once.

A Hugging Face sequence classifier is named ``hf:FOLDER_OR_NAME`` and loaded offline only (a
local folder, or a hub name already in the local Hugging Face cache); any other name is an error
that lists the offline names, never a network request.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from aisec.cache import cache_dir, cache_lock
from aisec.models.checkpoint import (
    CorruptCheckpointError,
    checkpoint_exists,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
)
from aisec.models.linear_text import LinearTextClassifier
from aisec.models.text import (
    HF_PREFIX,
    TEXT_MODELS,
    BowClassifier,
    HFTextClassifier,
    MiniLMClassifier,
    MiniLMEncoder,
    TextClassifier,
    TokenClassifier,
)
from aisec.zoo.spam_training import SPAM_RECIPES, spam_recipe_fingerprint, train_spam_model
from aisec.zoo.text_training import recipe_fingerprint, train_tweets_model

__all__ = ["load_text_model", "text_model_info"]

_FORMAT_VERSION = 1


def _entry_name(name: str, noise_std: float) -> str:
    suffix = "" if noise_std == 0 else f"-noise{noise_std:g}"
    fingerprint = (
        spam_recipe_fingerprint(name) if name in SPAM_RECIPES else recipe_fingerprint(name)
    )
    return f"{name}{suffix}-v{_FORMAT_VERSION}-{fingerprint}"


def _checkpoint_path(name: str, noise_std: float) -> Path:
    """Where a victim is cached, for reading (the folder may not exist)."""
    return cache_dir("models", "text", writable=False) / _entry_name(name, noise_std)


def _unknown_text_model_error(name: str) -> ValueError:
    """The error for a name that is neither an offline victim nor an ``hf:`` name."""
    return ValueError(
        f"unknown text model {name!r}; offline models: {sorted(TEXT_MODELS)}. A Hugging Face "
        f"sequence classifier is named '{HF_PREFIX}FOLDER_OR_NAME' (a local folder, or a hub "
        "name already in the local Hugging Face cache: aisec never downloads), e.g. "
        f"'{HF_PREFIX}./my-sst2-model'"
    )


def load_text_model(
    name: str,
    *,
    embedding_noise_std: float = 0.0,
    encoder: MiniLMEncoder | None = None,
    progress: bool = False,
) -> TextClassifier:
    """Load a text classifier by name, training and caching the offline victims on first use.

    Args:
        name: ``"tweets-bow"``, ``"tweets-minilm"``, ``"spam-nb"``, ``"spam-tfidf"``,
            ``"spam-minilm"``, or ``"hf:FOLDER_OR_NAME"`` for a Hugging Face sequence classifier
            (loaded offline: a local folder, or a hub name already in the local Hugging Face
            cache).
        embedding_noise_std: train with Gaussian noise of this standard deviation added to the
            token embeddings (the embedding-noise defense; tweets victims only); cached
            separately per value.
        encoder: a loaded :class:`MiniLMEncoder` to share (``tweets-minilm``, ``spam-minilm``).
        progress: show a progress bar while training.

    Returns:
        A :class:`TextClassifier` in eval mode.

    Raises:
        ValueError: an unknown name (listing the offline ones), an ``hf:`` model that is not
            available offline, missing packages (the message names the pip command), or a
            victim that must be trained while the cache is not writable (naming
            ``AISEC_CACHE``), a spam victim whose corpus is not fetched (naming ``aisec data
            fetch spam``), or embedding noise for a spam victim.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if embedding_noise_std < 0:
        raise ValueError(f"embedding_noise_std must be >= 0, got {embedding_noise_std}")
    if name.startswith(HF_PREFIX):
        if embedding_noise_std:
            raise ValueError(
                "embedding_noise_std trains an offline victim; it does not apply to "
                f"{name!r} (a Hugging Face model is used as it is)"
            )
        return HFTextClassifier(name)
    if name not in TEXT_MODELS:
        raise _unknown_text_model_error(name)
    if name in SPAM_RECIPES and embedding_noise_std:
        raise ValueError(
            f"embedding_noise_std applies to the tweets victims, not to {name!r} (the spam "
            "filters have no embedding-noise recipe)"
        )
    cached = _load_verified(name, _checkpoint_path(name, embedding_noise_std), encoder, warn=True)
    if cached is not None:
        return cached
    folder = cache_dir("models", "text", purpose=f"the trained text model {name!r}")
    path = folder / _entry_name(name, embedding_noise_std)
    with cache_lock(path):
        cached = _load_verified(name, path, encoder, warn=False)  # trained while we waited?
        if cached is not None:
            return cached
        if name in SPAM_RECIPES:
            return _train_and_save_spam(name, path, encoder, progress)
        model = train_tweets_model(
            name, embedding_noise_std=embedding_noise_std, encoder=encoder, progress=progress
        )
        tensors = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")}
        meta: dict[str, Any] = {
            "name": name,
            "class_names": list(model.class_names),
            "embedding_noise_std": embedding_noise_std,
            "test_accuracy": model.test_accuracy,
        }
        if isinstance(model, BowClassifier):
            meta["vocabulary"] = model.vocabulary
            meta["dim"] = model.embedding.embedding_dim
        save_checkpoint(path, tensors, meta)
    return model


def _train_and_save_spam(
    name: str, path: Path, encoder: MiniLMEncoder | None, progress: bool
) -> TextClassifier:
    """Train a spam victim and write its checkpoint (the caller holds the entry's lock)."""
    model = train_spam_model(name, encoder=encoder, progress=progress)
    meta: dict[str, Any]
    if isinstance(model, LinearTextClassifier):
        tensors, meta = model.to_tensors()
    else:
        tensors = {f"head.{k}": v for k, v in model.head.state_dict().items()}
        meta = {"class_names": list(model.class_names), "max_length": model.max_length}
    meta |= {
        "name": name,
        "embedding_noise_std": 0.0,
        "test_accuracy": model.test_accuracy,
        "ham_false_positive_rate": model.ham_false_positive_rate,
    }
    save_checkpoint(path, tensors, meta)
    return model


def _load_verified(
    name: str, path: Path, encoder: MiniLMEncoder | None, *, warn: bool
) -> TokenClassifier | LinearTextClassifier | None:
    """The cached victim at ``path`` if it verifies; else ``None`` (with a warning if ``warn``)."""
    if not checkpoint_exists(path):
        return None
    try:
        return _load_cached(name, path, encoder)
    except CorruptCheckpointError as error:
        if warn:
            warnings.warn(f"{error}; retraining {name}", stacklevel=3)
        return None


def _load_cached(
    name: str, path: Path, encoder: MiniLMEncoder | None
) -> TokenClassifier | LinearTextClassifier:
    tensors, meta = load_checkpoint(path)
    if meta.get("name", name) != name:
        raise CorruptCheckpointError(f"checkpoint {path} holds {meta.get('name')!r}, not {name!r}")
    if name in ("spam-nb", "spam-tfidf"):
        try:
            linear = LinearTextClassifier.from_tensors(tensors, meta)
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptCheckpointError(
                f"checkpoint {path} does not fit {name}: {error}"
            ) from error
        linear.test_accuracy = meta.get("test_accuracy")
        linear.ham_false_positive_rate = meta.get("ham_false_positive_rate")
        return linear
    model: TokenClassifier
    if name == "spam-minilm":
        model = MiniLMClassifier(
            meta["class_names"],
            encoder=encoder,
            max_length=int(meta["max_length"]),
            warn_truncation=False,
        )
        load_model_weights(model.head, tensors, prefix="head.")
        model.ham_false_positive_rate = meta.get("ham_false_positive_rate")
    elif name == "tweets-bow":
        model = BowClassifier(meta["vocabulary"], meta["class_names"], dim=int(meta["dim"]))
        load_model_weights(model, tensors)
    else:
        model = MiniLMClassifier(meta["class_names"], encoder=encoder)
        load_model_weights(model.head, tensors, prefix="head.")
    model.test_accuracy = meta.get("test_accuracy")
    model.eval()
    return model


def text_model_info(name: str) -> dict[str, Any] | None:
    """Metadata of a cached offline text model (``None`` when it is not cached)."""
    path = _checkpoint_path(name, 0.0)
    if not checkpoint_exists(path):
        return None
    try:
        return load_checkpoint(path)[1]
    except CorruptCheckpointError:
        return None
