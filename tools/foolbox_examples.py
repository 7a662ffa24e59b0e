"""Foolbox's attacks checked against aisec's: FGSM at eps 0.1 and L∞ PGD without random start.

For the offline signs CNN and for EfficientNet-Lite0 on the bundled ImageNet photos, this wraps
the model with ``aisec.integrations.foolbox.to_foolbox`` (a ``foolbox.PyTorchModel``), runs
Foolbox's ``FGSM`` and ``LinfPGD`` (``abs_stepsize = eps/4``, no random start), the same attacks
through aisec's contract (``FoolboxAttack``) and aisec's own ``FGSM`` and ``PGD`` with the same
step size and steps, and prints side-by-side tables: clean accuracy, accuracy under attack, mean
and max L∞ perturbation, time, the fraction of examples whose adversarial example agrees with
aisec's (every pixel within 1e-6) and the fraction where the outcome (fooled or not) agrees.

aisec's attacks leave examples the model already misclassifies unchanged, and aisec's PGD keeps
an example's first adversarial iterate while Foolbox's returns its last one, so x_adv can differ
on exactly those examples while the outcome agrees (tests/integrations/test_foolbox.py checks
that the iterates themselves match step for step).

Run: ``python tools/foolbox_examples.py`` (``--quick`` for CI; needs
``pip install "aisec[foolbox]"``).
"""

from __future__ import annotations

import argparse
from typing import Any

from _crosscheck import Workload, make_console, parse_args, report, timed, workloads, write_json
from rich.console import Console
from torch import Tensor

from aisec.attacks import FGSM, PGD
from aisec.integrations.foolbox import FoolboxAttack, to_foolbox
from aisec.threat import ThreatModel


def compare(
    work: Workload, args: argparse.Namespace, console: Console
) -> dict[str, list[dict[str, Any]]]:
    """Foolbox's FGSM and LinfPGD (raw and through aisec) and aisec's on one workload."""
    import foolbox as fb

    threat = ThreatModel("linf", args.eps)
    steps = 2 if args.quick else 5
    alpha = args.eps / 4
    fmodel = to_foolbox(work.model)
    fb_fgsm = fb.attacks.FGSM()
    fb_pgd = fb.attacks.LinfPGD(steps=steps, abs_stepsize=alpha, random_start=False)
    aisec_pgd = PGD(threat, steps=steps, step_size=alpha, random_start=False)

    def raw(attack: Any) -> Tensor:
        out: Tensor = attack(fmodel, work.x, work.y, epsilons=args.eps)[1]
        return out

    def through_aisec(attack: Any) -> Tensor:
        return FoolboxAttack(attack, args.eps)(work.model, work.x, work.y).x_adv

    title = f"{work.title}, L∞ eps={args.eps:g}"
    ours = timed("aisec FGSM", work, lambda: FGSM(threat)(work.model, work.x, work.y).x_adv)
    rows = [
        timed("Foolbox FGSM", work, lambda: raw(fb_fgsm)),
        timed("Foolbox FGSM via aisec FoolboxAttack", work, lambda: through_aisec(fb_fgsm)),
        ours,
    ]
    out = {"fgsm": report(console, f"FGSM: {title}", rows, ours)}
    ours = timed(
        f"aisec PGD ({steps} steps)", work, lambda: aisec_pgd(work.model, work.x, work.y).x_adv
    )
    rows = [
        timed(f"Foolbox LinfPGD ({steps} steps)", work, lambda: raw(fb_pgd)),
        timed("Foolbox LinfPGD via aisec FoolboxAttack", work, lambda: through_aisec(fb_pgd)),
        ours,
    ]
    out["pgd"] = report(console, f"L∞ PGD: {title}", rows, ours)
    return out


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
