"""Robust training of text classifiers: embedding noise and adversarial training.

- **Embedding-noise training** adds Gaussian noise ``N(0, σ²)`` to every token embedding during
  training (eval is noise-free), so the decision does not hinge on the exact embedding of one
  word — the "embedding regularization" of the tutorial's seed. ``load_text_model(name,
  embedding_noise_std=σ)`` trains and caches such a victim; :func:`noise_trained_model` is a
  convenience wrapper.
- **Adversarial training with generated examples** attacks part of the training set with a
  recipe, adds the successful adversarial texts with their true labels, and retrains
  (Goodfellow et al. 2015's augmentation view; TextAttack's ``attack-augment``).

Reference: Miyato, Dai, Goodfellow, "Adversarial Training Methods for Semi-Supervised Text
Classification", ICLR 2017 (perturbations in the embedding space).
"""

from __future__ import annotations

from typing import Any

from aisec.attacks.text import build_recipe
from aisec.models.text import MiniLMEncoder, TextClassifier, TokenClassifier
from aisec.zoo.text import load_text_model
from aisec.zoo.text_training import train_tweets_model

__all__ = ["adversarially_trained_model", "noise_trained_model"]

DEFAULT_NOISE = {"tweets-bow": 1.0, "tweets-minilm": 0.02}
"""Noise σ per victim, relative to its embedding scale (bow: N(0,1) init; MiniLM: ~0.05)."""


def noise_trained_model(
    name: str, std: float | None = None, *, encoder: MiniLMEncoder | None = None
) -> TextClassifier:
    """A victim trained with Gaussian noise on its token embeddings (cached).

    Args:
        name: ``tweets-bow`` or ``tweets-minilm``.
        std: the noise σ (default :data:`DEFAULT_NOISE`).
        encoder: a loaded MiniLM to share.
    """
    if name not in DEFAULT_NOISE:
        raise ValueError(f"noise training supports {sorted(DEFAULT_NOISE)}, got {name!r}")
    sigma = DEFAULT_NOISE[name] if std is None else std
    if name == "tweets-minilm":
        return load_text_model(name, embedding_noise_std=sigma, encoder=encoder)
    return load_text_model(name, embedding_noise_std=sigma)


def adversarially_trained_model(
    name: str,
    recipes: tuple[str, ...] = ("deepwordbug", "bad_characters"),
    *,
    n_attack: int = 500,
    seed: int = 0,
    encoder: MiniLMEncoder | None = None,
    progress: bool = False,
) -> tuple[TokenClassifier, dict[str, Any]]:
    """Retrain a victim on its training set plus adversarial examples generated against it.

    Args:
        name: ``tweets-bow`` or ``tweets-minilm``.
        recipes: recipes that generate the examples (each attacks ``n_attack`` train tweets).
        n_attack: training tweets attacked per recipe.
        seed: seed of the attacked subset.
        encoder: MiniLM for recipes that need it.
        progress: show progress bars.

    Returns:
        The retrained model and a record (examples added per recipe, test accuracy).
    """
    from aisec.data.tweets import load_tweets

    base = (
        load_text_model(name, encoder=encoder)
        if name == "tweets-minilm"
        else (load_text_model(name))
    )
    subset = load_tweets("train", n=n_attack, seed=seed)
    extra_texts: list[str] = []
    extra_labels: list[int] = []
    added: dict[str, int] = {}
    for recipe in recipes:
        run = build_recipe(recipe, encoder=encoder).run(
            base, list(subset.texts), subset.labels.tolist(), progress=progress
        )
        good = [r for r in run.results if r.status == "succeeded"]
        extra_texts += [r.adversarial for r in good]
        extra_labels += [r.label for r in good]
        added[recipe] = len(good)
    model = train_tweets_model(
        name,
        encoder=encoder,
        extra_texts=extra_texts,
        extra_labels=extra_labels,
        progress=progress,
    )
    return model, {"added": added, "test_accuracy": model.test_accuracy}
