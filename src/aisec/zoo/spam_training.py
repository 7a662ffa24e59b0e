"""The training recipes of the spam victims ``spam-nb``, ``spam-tfidf`` and ``spam-minilm``.

All three learn from the SpamAssassin train split (:mod:`aisec.data.spam`) and are measured on
the whole test split, where they record their ``test_accuracy`` and ``ham_false_positive_rate``
(the share of test ham classified as spam: the error a mail user notices).

- ``spam-nb``: multinomial naive Bayes on word counts (words in at least 2 messages), trained
  on the whole train split — the classic Bayesian spam filter.
- ``spam-tfidf``: logistic regression (``C = 10``) on sublinear TF-IDF, L2-normalised, trained
  on the whole train split.
- ``spam-minilm``: the frozen all-MiniLM-L6-v2 encoder reading the first 64 WordPiece tokens
  of a message (its subject and the start of its body) and a linear head, trained with
  :func:`~aisec.zoo.text_training.train_on_tensors` on the sentence features of a seeded
  subset of 2,000 train messages (the class ratio of the corpus), so that a cold start —
  features and head — takes well under a minute on two CPU cores.

A recipe's fingerprint (:func:`spam_recipe_fingerprint`) covers its hyperparameters, the
corpus's SHA-256 and the version of the text extraction, so a change of any retrains.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from aisec.models.linear_text import (
    LinearTextClassifier,
    fit_logistic_regression,
    fit_naive_bayes,
)
from aisec.models.text import MiniLMClassifier, MiniLMEncoder, TextClassifier
from aisec.models.training import TrainConfig
from aisec.zoo.text_training import train_on_tensors

__all__ = [
    "SPAM_RECIPES",
    "spam_error_rates",
    "spam_recipe_fingerprint",
    "train_spam_model",
]

SPAM_RECIPES: dict[str, dict[str, Any]] = {
    "spam-nb": {"alpha": 1.0, "min_df": 2},
    "spam-tfidf": {"C": 10.0, "min_df": 2, "seed": 0},
    "spam-minilm": {
        "config": TrainConfig(epochs=60, batch_size=256, lr=2e-2, weight_decay=1e-4, seed=0),
        "n_train": 1_200,
        "max_length": 64,
    },
}


def spam_recipe_fingerprint(name: str) -> str:
    """A short hash of a spam victim's recipe, corpus and text extraction (its cache key)."""
    from aisec.data.spam import SPAM_FORMAT_VERSION, SPAM_SHA256

    if name not in SPAM_RECIPES:
        raise ValueError(f"no spam recipe for {name!r}; known: {sorted(SPAM_RECIPES)}")
    recipe = SPAM_RECIPES[name]
    record = {k: dataclasses.asdict(v) if k == "config" else v for k, v in recipe.items()}
    record |= {"corpus": SPAM_SHA256, "text_format": SPAM_FORMAT_VERSION}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:10]


@torch.no_grad()
def spam_error_rates(
    model: TextClassifier, texts: Sequence[str], labels: np.ndarray
) -> tuple[float, float]:
    """Accuracy and ham false-positive rate of a ham/spam classifier (ham = 0, spam = 1).

    Args:
        model: a classifier whose classes are ``("ham", "spam")``.
        texts: messages.
        labels: their int labels ``(N,)``.

    Returns:
        ``(accuracy, ham_false_positive_rate)``: the share of messages classified correctly and
        the share of ham messages classified as spam (``nan`` when there is none).
    """
    if len(texts) != len(labels):
        raise ValueError(f"need one label per text, got {len(labels)} for {len(texts)}")
    if len(texts) == 0:
        return float("nan"), float("nan")
    predicted = model.predict_proba(list(texts)).argmax(1).numpy()
    ham = labels == 0
    accuracy = float((predicted == labels).mean())
    fpr = float((predicted[ham] == 1).mean()) if ham.any() else float("nan")
    return accuracy, fpr


def _seeded_init(layer: torch.nn.Linear, seed: int) -> None:
    """PyTorch's default ``nn.Linear`` initialisation, drawn from a seeded generator."""
    generator = torch.Generator().manual_seed(seed)
    bound = 1.0 / math.sqrt(layer.in_features)
    with torch.no_grad():
        layer.weight.uniform_(-bound, bound, generator=generator)
        layer.bias.uniform_(-bound, bound, generator=generator)


def train_spam_model(
    name: str,
    *,
    encoder: MiniLMEncoder | None = None,
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
) -> LinearTextClassifier | MiniLMClassifier:
    """Train a spam victim with its recipe (:data:`SPAM_RECIPES`) and measure it on the test split.

    Args:
        name: ``"spam-nb"``, ``"spam-tfidf"`` or ``"spam-minilm"``.
        encoder: a loaded MiniLM encoder to share (``spam-minilm``).
        checkpoint_dir: per-epoch checkpoints of the head's training, for resuming
            (``spam-minilm``; default: none).
        progress: show a progress bar (``spam-minilm``'s head).

    Returns:
        The trained model (eval mode for ``spam-minilm``) with ``test_accuracy`` and
        ``ham_false_positive_rate`` set.

    Raises:
        ValueError: an unknown name, or the corpus is not in the cache (the message names
            ``aisec data fetch spam``).
    """
    from aisec.data.spam import load_spam_splits

    if name not in SPAM_RECIPES:
        raise ValueError(f"no spam recipe for {name!r}; known: {sorted(SPAM_RECIPES)}")
    recipe = SPAM_RECIPES[name]
    train, test = load_spam_splits()
    model: LinearTextClassifier | MiniLMClassifier
    if name == "spam-nb":
        model = fit_naive_bayes(
            train.texts,
            train.labels,
            train.class_names,
            alpha=recipe["alpha"],
            min_df=recipe["min_df"],
        )
    elif name == "spam-tfidf":
        model = fit_logistic_regression(
            train.texts,
            train.labels,
            train.class_names,
            C=recipe["C"],
            min_df=recipe["min_df"],
            seed=recipe["seed"],
        )
    else:
        config: TrainConfig = recipe["config"]
        keep = np.random.default_rng(config.seed).permutation(len(train))[: recipe["n_train"]]
        model = MiniLMClassifier(
            train.class_names,
            encoder=encoder,
            max_length=recipe["max_length"],
            warn_truncation=False,
        )
        _seeded_init(model.head, config.seed)
        features = model.features([train.texts[i] for i in keep])
        train_on_tensors(
            model.head,
            (features,),
            torch.as_tensor(train.labels[keep]),
            config,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            description=f"training {name} head",
        )
        model.eval()
    model.test_accuracy, model.ham_false_positive_rate = spam_error_rates(
        model, test.texts, test.labels
    )
    return model
