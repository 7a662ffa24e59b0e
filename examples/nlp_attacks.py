"""Text attacks and defenses on offline tweet classifiers.

Run with ``python examples/nlp_attacks.py [--model tweets-minilm] [--n 20]``. The first run
trains the victim (``tweets-bow``: seconds; ``tweets-minilm``: a minute or two on two cores)
and caches it. Needs the ``nlp`` extra (``pip install -e ".[nlp]"`` plus the setup step in the
README's "Text attacks and defenses" section).
"""

from __future__ import annotations

import argparse

from aisec.attacks.text import build_recipe
from aisec.data.tweets import load_tweets
from aisec.defenses.text import Sanitizer
from aisec.evaluate.text import sanitizer_effect
from aisec.models.text import MiniLMEncoder
from aisec.report.text import highlight
from aisec.zoo import load_text_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tweets-bow", help="tweets-bow or tweets-minilm")
    parser.add_argument("--n", type=int, default=20, help="test tweets to attack")
    args = parser.parse_args()

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
