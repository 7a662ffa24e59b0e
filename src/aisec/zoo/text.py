"""The offline text victims by name: trained on first use, cached and verified.

``load_text_model("tweets-bow")`` trains the bag-of-embeddings tweet classifier the first time
(seconds), ``"tweets-minilm"`` a classification head on the MiniLM encoder; both are cached under
a key that includes a hash of their training recipe, so a changed recipe retrains. Any other name
is loaded as a Hugging Face sequence classifier.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from aisec.cache import cache_dir
from aisec.models.checkpoint import (
    CorruptCheckpointError,
    checkpoint_exists,
    load_checkpoint,
    load_model_weights,
    save_checkpoint,
)
from aisec.models.text import (
    TEXT_MODELS,
    BowClassifier,
    HFTextClassifier,
    MiniLMClassifier,
    MiniLMEncoder,
    TextClassifier,
    TokenClassifier,
)
from aisec.zoo.text_training import recipe_fingerprint, train_tweets_model

__all__ = ["load_text_model", "text_model_info"]

_FORMAT_VERSION = 1


def _checkpoint_path(name: str, noise_std: float) -> Path:
    suffix = "" if noise_std == 0 else f"-noise{noise_std:g}"
    key = f"v{_FORMAT_VERSION}-{recipe_fingerprint(name)}"
    return cache_dir("models", "text") / f"{name}{suffix}-{key}"


def load_text_model(
    name: str,
    *,
    embedding_noise_std: float = 0.0,
    encoder: MiniLMEncoder | None = None,
    progress: bool = False,
) -> TextClassifier:
    """Load a text classifier by name, training and caching the offline victims on first use.

    Args:
        name: ``"tweets-bow"``, ``"tweets-minilm"`` or a Hugging Face model name / folder.
        embedding_noise_std: train with Gaussian noise of this standard deviation added to the
            token embeddings (the embedding-noise defense); cached separately per value.
        encoder: a loaded :class:`MiniLMEncoder` to share (``tweets-minilm`` only).
        progress: show a progress bar while training.

    Returns:
        A :class:`TextClassifier` in eval mode.

    Raises:
        ValueError: an unknown name that is not a loadable Hugging Face model, or missing
            packages (the message names the pip command).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")
    if embedding_noise_std < 0:
        raise ValueError(f"embedding_noise_std must be >= 0, got {embedding_noise_std}")
    if name not in TEXT_MODELS:
        if name.startswith("tweets-"):
            raise ValueError(
                f"unknown text model {name!r}; offline models: {sorted(TEXT_MODELS)}, or a "
                "Hugging Face name such as 'textattack/bert-base-uncased-SST-2'"
            )
        return HFTextClassifier(name)
    path = _checkpoint_path(name, embedding_noise_std)
    if checkpoint_exists(path):
        try:
            return _load_cached(name, path, encoder)
        except CorruptCheckpointError as error:
            warnings.warn(f"{error}; retraining {name}", stacklevel=2)
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


def _load_cached(name: str, path: Path, encoder: MiniLMEncoder | None) -> TokenClassifier:
    tensors, meta = load_checkpoint(path)
    model: TokenClassifier
    if name == "tweets-bow":
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
