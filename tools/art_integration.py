"""The seed's ART example path, checked against aisec: PyTorchClassifier + FastGradientMethod.

For the offline signs CNN and for EfficientNet-Lite0 on the bundled ImageNet photos, this wraps
the model with ``aisec.integrations.art.to_art`` (a ``PyTorchClassifier``), runs ART's
``FastGradientMethod(eps=0.1)`` as the seed did, runs the same attack through aisec's contract
(``ArtAttack``) and aisec's own ``FGSM``, and prints a side-by-side table: clean accuracy,
accuracy under attack, mean and max L∞ perturbation, time, the fraction of examples whose
adversarial example agrees with aisec's (every pixel within 1e-6) and the fraction where the
outcome (fooled or not) agrees.

aisec's attacks leave examples the model already misclassifies unchanged, while ART's
``generate`` perturbs every example, so the raw ART row can only disagree on those. ART's
``loss.backward()`` also computes every parameter's gradient, which makes its raw row slower;
``ArtAttack`` freezes the parameters during the run.

Run: ``python tools/art_integration.py`` (``--quick`` for CI; needs ``pip install "aisec[art]"``).
"""

from __future__ import annotations

import argparse
from typing import Any

import torch
from _crosscheck import Workload, make_console, parse_args, report, timed, workloads, write_json
from rich.console import Console

from aisec.attacks import FGSM
from aisec.integrations.art import ArtAttack, to_art
from aisec.threat import ThreatModel


def compare(work: Workload, args: argparse.Namespace, console: Console) -> list[dict[str, Any]]:
    """ART's FGSM (raw and through aisec) and aisec's FGSM on one workload."""
    from art.attacks.evasion import FastGradientMethod

    threat = ThreatModel("linf", args.eps)
    classifier = to_art(work.model, sample=work.x)  # the seed's PyTorchClassifier, configured

    def art_generate() -> torch.Tensor:
        attack = FastGradientMethod(estimator=classifier, eps=args.eps)
        return torch.as_tensor(attack.generate(x=work.x.cpu().numpy(), y=work.y.cpu().numpy()))

    def art_through_aisec() -> torch.Tensor:
        return ArtAttack(FastGradientMethod, threat)(work.model, work.x, work.y).x_adv

    def aisec_fgsm() -> torch.Tensor:
        return FGSM(threat)(work.model, work.x, work.y).x_adv

    ours = timed("aisec FGSM", work, aisec_fgsm)
    rows = [
        timed("ART FastGradientMethod.generate", work, art_generate),
        timed("ART FGM via aisec ArtAttack", work, art_through_aisec),
        ours,
    ]
    return report(console, f"{work.title}, L∞ eps={args.eps:g}", rows, ours)


def main() -> None:
    args = parse_args(__doc__.splitlines()[0] if __doc__ else "")
    console = make_console()
    results = {
        work.title: compare(work, args, console)
        for work in workloads(32 if args.quick else args.n, 2 if args.quick else 7, args.model)
    }
    write_json(args.json, results)


if __name__ == "__main__":
    main()
