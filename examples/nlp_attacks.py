"""Text attacks and defenses on offline tweet classifiers and spam filters.

Run with ``python examples/nlp_attacks.py [--model tweets-minilm] [--n 20]`` for the tweets, or
``python examples/nlp_attacks.py --spam [--n 20]`` for the spam filters (the corpus must be in
the data cache: ``make spam-data``). The first run trains the victim (``tweets-bow``,
``spam-nb``: seconds; the MiniLM victims: a minute or two on two cores) and caches it. Needs
the ``nlp`` extra (``pip install -e ".[nlp]"`` plus the setup step in the README's "Text
attacks and defenses" section).
"""

from __future__ import annotations

import argparse

from aisec.attacks.text import UniversalTrigger, build_recipe, trigger_success
from aisec.data.spam import load_spam_splits
from aisec.data.tweets import load_tweets
from aisec.defenses.text import Sanitizer
from aisec.evaluate.text import sanitizer_effect
from aisec.models.text import MiniLMEncoder, TokenClassifier
from aisec.report.text import highlight
from aisec.zoo import load_text_model


def spam(n: int) -> None:
    """Good words and sentences against naive Bayes; a universal trigger against MiniLM."""
    train, test = load_spam_splits()
    corpus = {
        "ham_texts": [t for t, y in zip(train.texts, train.labels, strict=True) if y == 0],
        "spam_texts": [t for t, y in zip(train.texts, train.labels, strict=True) if y == 1],
    }
    test_spam = [t for t, y in zip(test.texts, test.labels, strict=True) if y == 1][:n]
    nb = load_text_model("spam-nb")
    accuracy = getattr(nb, "test_accuracy", None)
    false_positives = getattr(nb, "ham_false_positive_rate", None)
    print(f"spam-nb: test accuracy {accuracy}, ham called spam {false_positives}")
    for recipe in ("good-words-passive", "good-words", "contextual-insertion"):
        run = build_recipe(recipe, **corpus).run(nb, test_spam, [1] * len(test_spam))
        assert run.summary is not None
        print(
            f"{recipe:>22}: {run.summary.success_rate:.0%} of detected spam through, "
            f"{run.summary.mean_words_added:.1f} words added, "
            f"{run.summary.mean_queries:.0f} queries"
        )
    minilm = load_text_model("spam-minilm")
    assert isinstance(minilm, TokenClassifier)
    search = UniversalTrigger(3, iterations=2, candidates=5, batch_size=12).find(
        minilm, corpus["spam_texts"][:100], [1] * 100, target=0
    )
    for name, model in (("spam-minilm", minilm), ("spam-nb", nb)):
        outcome = trigger_success(model, test_spam, [1] * len(test_spam), search.phrase, target=0)
        print(f"trigger {search.phrase!r} on {name}: {outcome.flipped}/{outcome.n} flipped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tweets-bow", help="tweets-bow or tweets-minilm")
    parser.add_argument("--n", type=int, default=20, help="test texts to attack")
    parser.add_argument("--spam", action="store_true", help="attack the spam filters instead")
    args = parser.parse_args()
    if args.spam:
        spam(args.n)
        return

    encoder = MiniLMEncoder()  # sentence similarity, word vectors, and the MiniLM victim
    model = (
        load_text_model(args.model, encoder=encoder)
        if args.model == "tweets-minilm"
        else load_text_model(args.model)
    )
    data = load_tweets("test", n=args.n, seed=0)
    accuracy = getattr(model, "test_accuracy", None)
    print(f"{args.model}: test accuracy {accuracy}")
    for recipe in ("textfooler", "pwws", "deepwordbug", "bad_characters"):
        run = build_recipe(recipe, encoder=encoder).run(
            model, list(data.texts), data.labels.tolist()
        )
        assert run.summary is not None
        s = run.summary
        effect = sanitizer_effect(model, run)
        print(
            f"\n{recipe:>15}: success {s.success_rate:.0%}, accuracy under attack "
            f"{s.accuracy_under_attack:.0%}, {s.mean_queries:.0f} queries, "
            f"{s.mean_words_changed_pct:.0f}% words changed; after the sanitizer: "
            f"{effect.accuracy.value:.0%} accurate"
        )
        example = next((r for r in run.results if r.status == "succeeded"), None)
        if example is not None:
            print(f"  {highlight(example)}")

    cleaned, findings = Sanitizer().clean("I \u202eevol\u202c this p\u0430yp\u0430l d\u200beal")
    print(f"\nsanitized: {cleaned!r}; findings: {[f.kind for f in findings]}")


if __name__ == "__main__":
    main()
