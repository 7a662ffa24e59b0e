"""A seeded, resumable training loop for text classifiers, and the recipes of the tweet victims.

:func:`train_on_tensors` is the text counterpart of :func:`aisec.models.training.train_classifier`:
inputs are pre-tokenized tensors (ids and mask, or sentence features), the shuffling order of an
epoch and the learning rate of a step are pure functions of ``(seed, epoch, step)``, and a
checkpoint after every epoch lets an interrupted run resume to the same weights.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from aisec.models.checkpoint import (
    CorruptCheckpointError,
    checkpoint_exists,
    load_checkpoint,
    save_checkpoint,
)
from aisec.models.text import (
    BowClassifier,
    MiniLMClassifier,
    MiniLMEncoder,
    TokenClassifier,
)
from aisec.models.training import (
    TrainConfig,
    _learning_rate,
    _optimizer_tensors,
    _progress_bar,
    _restore_optimizer,
)

__all__ = [
    "TWEETS_RECIPES",
    "recipe_fingerprint",
    "text_accuracy",
    "train_on_tensors",
    "train_tweets_model",
]

TWEETS_RECIPES: dict[str, dict[str, Any]] = {
    "tweets-bow": {
        "config": TrainConfig(epochs=5, batch_size=128, lr=1e-2, weight_decay=0.0, seed=0),
        "dim": 64,
        "min_count": 2,
    },
    "tweets-minilm": {
        "config": TrainConfig(epochs=30, batch_size=256, lr=5e-3, weight_decay=1e-4, seed=0),
        "n_train": 4_000,
        "noise_n_train": 2_000,
        "noise_epochs": 2,
        "n_test": 1_000,
    },
}


def recipe_fingerprint(name: str) -> str:
    """A short hash of a victim's training recipe (part of its cache key)."""
    recipe = TWEETS_RECIPES[name]
    record = {k: dataclasses.asdict(v) if k == "config" else v for k, v in recipe.items()}
    return hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:10]


def train_on_tensors(
    model: nn.Module,
    inputs: tuple[Tensor, ...],
    labels: Tensor,
    config: TrainConfig,
    *,
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
    description: str = "training",
) -> list[dict[str, float]]:
    """Train ``model(*inputs[batch])`` with cross-entropy, checkpointing after every epoch.

    Args:
        model: maps a batch of ``inputs`` to logits ``(B, K)``; only parameters that require
            gradients are optimized (AdamW, warm-up then cosine decay, as ``train_classifier``).
        inputs: tensors whose first dimension indexes the ``N`` training examples.
        labels: int64 labels ``(N,)``.
        config: hyperparameters.
        checkpoint_dir: where the per-epoch checkpoint ``last`` lives (resumed when it matches
            this configuration; a corrupted one warns and restarts).
        progress: show a progress bar.
        description: the progress bar's label.

    Returns:
        Per-epoch metrics (loss and train accuracy). The model is left in eval mode.
    """
    n = int(labels.shape[0])
    if any(int(t.shape[0]) != n for t in inputs):
        raise ValueError("every input tensor must have one row per label")
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = steps_per_epoch * config.epochs
    record = dataclasses.asdict(config) | {"n": n}
    checkpoint = Path(checkpoint_dir) / "last" if checkpoint_dir is not None else None
    trainable = {k for k, p in model.named_parameters() if p.requires_grad}
    history: list[dict[str, float]] = []
    start = 0
    if checkpoint is not None and checkpoint_exists(checkpoint):
        try:
            tensors, meta = load_checkpoint(checkpoint)
            if meta.get("config") == record:
                state = model.state_dict()
                state.update({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
                model.load_state_dict(state)
                _restore_optimizer(optimizer, tensors, meta["param_groups"])
                start, history = int(meta["epoch"]) + 1, list(meta["history"])
        except (CorruptCheckpointError, RuntimeError) as error:
            warnings.warn(f"{error}; training from scratch", stacklevel=2)
    torch.manual_seed(config.seed * 7919 + start)  # the noise of embedding-noise training
    with _progress_bar(progress, description, total_steps, start * steps_per_epoch) as bar:
        for epoch in range(start, config.epochs):
            model.train()
            order = torch.randperm(
                n, generator=torch.Generator().manual_seed(config.seed * 7919 + epoch)
            )
            loss_sum, correct = 0.0, 0
            for step in range(steps_per_epoch):
                index = order[step * config.batch_size : (step + 1) * config.batch_size]
                for group in optimizer.param_groups:
                    group["lr"] = _learning_rate(
                        config, epoch * steps_per_epoch + step, total_steps
                    )
                logits = model(*(t[index] for t in inputs))
                loss = F.cross_entropy(logits, labels[index])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * index.numel()
                correct += int((logits.argmax(1) == labels[index]).sum())
                bar(1)
            history.append({"epoch": float(epoch), "loss": loss_sum / n, "accuracy": correct / n})
            if checkpoint is not None:
                model_tensors = {
                    f"model.{k}": v
                    for k, v in model.state_dict().items()
                    if k in trainable or not k.startswith("encoder.")
                }
                optim_tensors, param_groups = _optimizer_tensors(optimizer)
                save_checkpoint(
                    checkpoint,
                    model_tensors | optim_tensors,
                    {
                        "epoch": epoch,
                        "config": record,
                        "param_groups": param_groups,
                        "history": history,
                    },
                )
    model.eval()
    return history


@torch.no_grad()
def text_accuracy(model: TokenClassifier, texts: Sequence[str], labels: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on ``texts``."""
    if len(texts) == 0:
        return float("nan")
    predicted = model.predict_proba(list(texts)).argmax(1).numpy()
    return float((predicted == labels).mean())


def train_tweets_model(
    name: str,
    *,
    embedding_noise_std: float = 0.0,
    encoder: MiniLMEncoder | None = None,
    extra_texts: Sequence[str] = (),
    extra_labels: Sequence[int] = (),
    checkpoint_dir: str | Path | None = None,
    progress: bool = False,
) -> TokenClassifier:
    """Train a tweets victim with its recipe (:data:`TWEETS_RECIPES`).

    Args:
        name: ``"tweets-bow"`` or ``"tweets-minilm"``.
        embedding_noise_std: Gaussian noise added to the token embeddings during training.
        encoder: a loaded MiniLM encoder to share (``tweets-minilm``).
        extra_texts: additional training texts (adversarial training adds attacks here).
        extra_labels: their labels.
        checkpoint_dir: per-epoch checkpoints for resuming (default: none).
        progress: show a progress bar.

    Returns:
        The trained model in eval mode, with ``test_accuracy`` set.
    """
    from aisec.data.tweets import load_tweets

    if name not in TWEETS_RECIPES:
        raise ValueError(f"no training recipe for {name!r}; known: {sorted(TWEETS_RECIPES)}")
    if len(extra_texts) != len(extra_labels):
        raise ValueError("extra_texts and extra_labels must have the same length")
    recipe = TWEETS_RECIPES[name]
    config: TrainConfig = recipe["config"]
    train, test = load_tweets("train"), load_tweets("test")
    texts = list(train.texts)
    labels = train.labels
    model: TokenClassifier
    if name == "tweets-bow":
        torch.manual_seed(config.seed)
        model = BowClassifier(
            BowClassifier.build_vocabulary(texts, recipe["min_count"]),
            train.class_names,
            dim=recipe["dim"],
        )
        model.embedding_noise_std = embedding_noise_std
        all_texts = texts + list(extra_texts)
        all_labels = torch.as_tensor(np.concatenate([labels, np.asarray(extra_labels, np.int64)]))
        ids, mask = model.encode(all_texts)
        train_on_tensors(
            model,
            (ids, mask),
            all_labels,
            config,
            checkpoint_dir=checkpoint_dir,
            progress=progress,
            description=f"training {name}",
        )
        test_texts, test_labels = list(test.texts), test.labels
    else:
        rng = np.random.default_rng(config.seed)
        noisy = embedding_noise_std > 0
        keep = rng.permutation(len(texts))[: recipe["noise_n_train" if noisy else "n_train"]]
        sub_texts = [texts[i] for i in keep] + list(extra_texts)
        sub_labels = torch.as_tensor(
            np.concatenate([labels[keep], np.asarray(extra_labels, np.int64)])
        )
        torch.manual_seed(config.seed)
        model = MiniLMClassifier(train.class_names, encoder=encoder)
        model.embedding_noise_std = embedding_noise_std
        if noisy:
            # Noise enters at the input embeddings, so every step runs the (frozen) encoder.
            ids, mask = model.encode(sub_texts)
            noise_config = dataclasses.replace(config, epochs=recipe["noise_epochs"], batch_size=32)
            train_on_tensors(
                model,
                (ids, mask),
                sub_labels,
                noise_config,
                checkpoint_dir=checkpoint_dir,
                progress=progress,
                description=f"training {name} (noise)",
            )
        else:
            features = model.features(sub_texts)
            train_on_tensors(
                model.head,
                (features,),
                sub_labels,
                config,
                checkpoint_dir=checkpoint_dir,
                progress=progress,
                description=f"training {name} head",
            )
        test_index = np.random.default_rng(config.seed + 1).permutation(len(test))
        test_index = np.sort(test_index[: recipe["n_test"]])
        test_texts = [test.texts[i] for i in test_index]
        test_labels = test.labels[test_index]
    model.test_accuracy = text_accuracy(model, test_texts, test_labels)
    model.eval()
    return model
