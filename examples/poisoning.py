"""Backdoor poisoning end to end: poison, train, measure, detect, clean, retrain, measure.

Run with ``python examples/poisoning.py [--dataset digits] [--attack badnets] [--rate 0.05]``.
On the digits (the default) the whole loop takes well under a minute on two cores; with
``--dataset signs --train-n 8000 --epochs 5`` it trains three signs models (a few minutes).
"""

from __future__ import annotations

import argparse
import json

from aisec.defenses.detect import penultimate_features, spectral_signatures
from aisec.experiments.poisoning import PoisoningPlan, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="digits", help="digits or signs")
    parser.add_argument("--attack", default="badnets", help="badnets, sticker or clean-label")
    parser.add_argument("--rate", type=float, default=0.05, help="fraction to poison")
    parser.add_argument("--target", default=None, help="target class (default 0 / speed limit 30)")
    parser.add_argument("--train-n", type=int, default=None, help="training images")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs")
    args = parser.parse_args()
    target = args.target or ("0" if args.dataset == "digits" else "speed limit 30")

    # The whole loop in one call: a clean and a poisoned model with the same initialisation,
    # attack success, spectral signatures / activation clustering, cleaning and retraining.
    plan = PoisoningPlan(
        dataset=args.dataset,
        attack=args.attack,
        rate=args.rate,
        target=target,
        train_n=args.train_n,
        epochs=args.epochs,
    )
    result = run(plan, progress=True)
    print(json.dumps(result.to_dict(), indent=2))
    report = result.report

    # The pieces are there to reuse: e.g. rank the poisoned training set by spectral score.
    assert report.artifacts is not None
    poisoned = report.artifacts.poisoned
    features = penultimate_features(report.artifacts.models["poisoned"], poisoned.x)
    detection = spectral_signatures(
        features, poisoned.y, expected_fraction=report.expected_fraction or 0.1, score="signed"
    )
    top = detection.scores.argsort(descending=True)[: len(poisoned.indices)]
    hits = len(set(top.tolist()) & set(poisoned.indices.tolist()))
    print(f"{hits} of the {len(top)} highest-scoring samples are poisoned")
    # The gap selection flags a class only where its scores split into two populations.
    gap = spectral_signatures(
        features,
        poisoned.y,
        expected_fraction=report.expected_fraction or 0.1,
        score="signed",
        select="gap",
    )
    valleys = {c: round(info["valley"], 2) for c, info in gap.per_class.items() if "valley" in info}
    print(f"valley per class (<= 0.85: two populations, upper one flagged): {valleys}")


if __name__ == "__main__":
    main()
