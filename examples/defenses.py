"""Vision defenses evaluated honestly: preprocessing vs adaptive attacks, adversarial training,
feature squeezing and randomized smoothing.

Run with ``python examples/defenses.py`` (the signs models: the first run trains signs-cnn,
signs-cnn-at and signs-cnn-noise, several minutes on two cores; later runs reuse the cache) or
``python examples/defenses.py --quick`` (the digits models, about a minute). Writes
``defenses/metrics.json`` and ``defenses/certified_accuracy.png`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from aisec.defenses.detect import FeatureSqueezing
from aisec.defenses.preprocess import parse_defense
from aisec.evaluate import DefenseCase, compare_defenses, evaluate_feature_squeezing
from aisec.evaluate.certify import evaluate_smoothing
from aisec.experiments.names import load_task
from aisec.report.figures import plot_certified_accuracy
from aisec.threat import ThreatModel
from aisec.zoo import load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the digits models, small budgets")
    parser.add_argument("--n", type=int, default=100, help="test images per evaluation")
    parser.add_argument("--out", type=Path, default=Path("defenses"), help="output directory")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    if args.quick:
        from aisec.zoo import train_variant

        name, eps, steps = "digits-cnn", 0.1, 10
        variant = train_variant(name, "pgd", eps=eps, steps=3)
        robust_name, robust = variant.name, variant.model.eval()
        noise_name, squeezers = "digits-cnn-noise", ["bits:2"]
    else:
        name, eps, steps = "signs-cnn", 8 / 255, 50
        robust_name, noise_name, squeezers = "signs-cnn-at", "signs-cnn-noise", ["bits:4"]
        robust = load(robust_name)
    threat = ThreatModel("linf", eps)
    task = load_task(name, n=args.n)
    model = task.model

    # 1. Each defense against a naive (transferred PGD) and an adaptive attacker (APGD-CE,
    #    APGD-T, Square through BPDA / EOT), worst case per example.
    jpeg = parse_defense("jpeg:75")
    cases = [
        DefenseCase("no defense", model),
        DefenseCase("jpeg:75", model, (jpeg,)),
        DefenseCase("bits:4", model, (parse_defense("bits:4"),)),
        DefenseCase("resize-pad:0.8", model, (parse_defense("resize-pad:0.8"),)),
        DefenseCase(f"adversarial training ({robust_name})", robust),
        DefenseCase("adversarial training + jpeg:75", robust, (jpeg,)),
    ]
    table = compare_defenses(cases, task.x, task.y, threat, steps=steps, square_queries=1000)
    width = max(len(row.name) for row in table.rows)
    print(f"{'defense':{width}}  clean  non-adaptive  adaptive")
    for row in table.rows:
        print(
            f"{row.name:{width}}  {row.clean_accuracy:5.1%}  {row.non_adaptive_accuracy:12.1%}  "
            f"{row.adaptive_accuracy:8.1%}"
        )

    # 2. Feature squeezing: detected when the attacker ignores it, evaded when it does not.
    detector = FeatureSqueezing(model, [parse_defense(spec) for spec in squeezers])
    half = task.x.shape[0] // 2
    squeezing = evaluate_feature_squeezing(
        detector, task.x[half:], task.y[half:], threat, x_calibration=task.x[:half], steps=steps
    )
    for outcome in squeezing.outcomes:
        print(
            f"feature squeezing vs {outcome.attack}: AUC {outcome.auc}, detection rate "
            f"{outcome.detection_rate}, fools and evades {outcome.fool_and_evade:.1%}"
        )

    # 3. Randomized smoothing: certified accuracy against the L2 radius.
    noise_task = load_task(noise_name, n=args.n)
    smoothing = evaluate_smoothing(
        noise_task.model, noise_task.x, noise_task.y, sigma=0.25, n=1000, name=noise_name
    )
    plot_certified_accuracy(
        {f"{noise_name}, σ = 0.25": smoothing.curve}, args.out / "certified_accuracy.png"
    )
    print(f"smoothing: certified accuracy at radius 0: {smoothing.curve.clean_accuracy:.1%}")

    metrics = {
        "defenses": table.to_dict(),
        "feature_squeezing": squeezing.to_dict(),
        "smoothing": smoothing.curve.to_dict(),
    }
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {args.out / 'metrics.json'}")


if __name__ == "__main__":
    main()
