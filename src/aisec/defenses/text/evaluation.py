"""Evaluate text attacks and defenses on the tweet victims.

- :func:`run_text_attack`: one recipe against one victim on test tweets, plus the effect of the
  :class:`~aisec.defenses.text.Sanitizer` on the adversarial texts it produced (what
  ``aisec text-attack`` runs);
- :class:`SanitizedClassifier`: a victim behind the sanitizer, attacked *adaptively* (the
  attacker queries the defended pipeline, as the design guide's evaluation-integrity rule asks);
- :func:`defense_table`: defense × recipe -> accuracy under attack.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from aisec.attacks.text import build_recipe
from aisec.attacks.text.attack import AttackRun
from aisec.attacks.text.report import write_attack_report
from aisec.defenses.text.sanitizer import Sanitizer
from aisec.models.text import MiniLMEncoder, TextClassifier, load_text_model

__all__ = ["SanitizedClassifier", "defense_table", "run_text_attack", "sanitizer_effect"]


class SanitizedClassifier:
    """A classifier that sanitizes its inputs first.

    Args:
        model: the victim.
        sanitizer: the sanitizer (default :class:`Sanitizer`).
    """

    def __init__(self, model: TextClassifier, sanitizer: Sanitizer | None = None) -> None:
        self.model = model
        self.sanitizer = sanitizer if sanitizer is not None else Sanitizer()
        self.class_names = model.class_names

    def predict_proba(self, texts: Sequence[str], batch_size: int = 256) -> Tensor:
        """Probabilities ``(N, K)`` of the sanitized texts."""
        return self.model.predict_proba(self.sanitizer.clean_batch(list(texts)), batch_size)


def sanitizer_effect(
    model: TextClassifier, run: AttackRun, sanitizer: Sanitizer | None = None
) -> dict[str, float]:
    """Accuracy on a run's adversarial texts after sanitizing, and how many were flagged.

    Returns:
        ``sanitized_accuracy`` (accuracy over all examples of the run, adversarial texts
        sanitized) and ``sanitizer_flagged`` (fraction of successful adversarial texts with
        findings; NaN when none succeeded).
    """
    sanitizer = sanitizer if sanitizer is not None else Sanitizer()
    if not run.results:
        return {"sanitized_accuracy": math.nan, "sanitizer_flagged": math.nan}
    cleaned = [sanitizer.clean(r.adversarial) for r in run.results]
    predictions = model.predict_proba([c for c, _ in cleaned]).argmax(1)
    labels = torch.tensor([r.label for r in run.results])
    succeeded = [
        bool(f) for r, (_, f) in zip(run.results, cleaned, strict=True) if r.status == "succeeded"
    ]
    return {
        "sanitized_accuracy": float((predictions == labels).float().mean()),
        "sanitizer_flagged": sum(succeeded) / len(succeeded) if succeeded else math.nan,
    }


def _encoder_or_none() -> MiniLMEncoder | None:
    try:
        return MiniLMEncoder()
    except (ValueError, ImportError):
        return None


def run_text_attack(
    model_name: str,
    recipe: str,
    *,
    n: int = 200,
    seed: int = 0,
    out_dir: str | Path | None = None,
    encoder: MiniLMEncoder | None = None,
    progress: bool = False,
    search: str = "default",
) -> dict[str, Any]:
    """Attack ``n`` test tweets with a recipe and measure the sanitizer's effect.

    Args:
        model_name: a victim for :func:`~aisec.models.text.load_text_model`.
        recipe: ``textfooler``, ``pwws``, ``deepwordbug`` or ``bad_characters``.
        n: test tweets (class-balanced sample).
        seed: seed of the sample.
        out_dir: if given, write ``metrics.json`` and the example lists there
            (see :mod:`aisec.attacks.text.report` for the keys).
        encoder: a loaded MiniLM (loaded here when needed and available).
        progress: show progress bars.
        search: the recipe's search (``"default"``) or another one by name (see
            :func:`~aisec.attacks.text.recipes.textfooler`).

    Returns:
        A flat dictionary: the summary's numbers plus ``sanitized_accuracy`` and
        ``sanitizer_flagged``, ``model``, ``recipe``.
    """
    from aisec.data.tweets import load_tweets

    if encoder is None and (recipe == "textfooler" or model_name == "tweets-minilm"):
        encoder = MiniLMEncoder()
    elif encoder is None:
        encoder = _encoder_or_none()
    attack = build_recipe(recipe, encoder=encoder, search=search)
    model = (
        load_text_model(model_name, encoder=encoder, progress=progress)
        if model_name == "tweets-minilm"
        else load_text_model(model_name, progress=progress)
    )
    data = load_tweets("test", n=n, seed=seed)
    run = attack.run(model, list(data.texts), data.labels.tolist(), progress=progress)
    effect = sanitizer_effect(model, run)
    assert run.summary is not None
    if out_dir is not None:
        write_attack_report(
            run,
            out_dir,
            model=model_name,
            seed=seed,
            class_names=model.class_names,
            extra=effect,
        )
    return (
        {"model": model_name, "recipe": recipe, "search": search} | run.summary.to_dict() | effect
    )


def defense_table(
    victims: dict[str, TextClassifier],
    recipes: Sequence[str],
    texts: Sequence[str],
    labels: Sequence[int],
    *,
    encoder: MiniLMEncoder | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Accuracy under attack of each defended victim against each recipe.

    Every defense is attacked adaptively: the attack queries the defended model itself (a
    sanitizer in front of the model is part of what the attacker queries).

    Args:
        victims: defense name -> defended classifier (e.g. ``{"none": model,
            "sanitizer": SanitizedClassifier(model)}``).
        recipes: recipe names.
        texts: test texts.
        labels: their labels.
        encoder: MiniLM for the recipes that need it.
        progress: show progress bars.

    Returns:
        One row per defense: ``defense``, ``clean accuracy`` and one column per recipe.
    """
    rows: list[dict[str, Any]] = []
    attacks = {name: build_recipe(name, encoder=encoder) for name in recipes}
    for defense, victim in victims.items():
        row: dict[str, Any] = {"defense": defense}
        for name, attack in attacks.items():
            run = attack.run(victim, texts, labels, progress=progress)
            assert run.summary is not None
            row["clean accuracy"] = run.summary.clean_accuracy
            row[name] = run.summary.accuracy_under_attack
        rows.append(row)
    return rows
