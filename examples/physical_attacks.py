"""Physical-world attacks, offline: a stop sign that the signs model reads as "speed limit 30".

The whole scenario of Eykholt et al. (CVPR 2018), on aisec's procedural traffic signs:

1. optimise RP2 stickers (two bars above and below "STOP") over Expectation-over-Transformation
   views of the sign — viewing angle, distance, rotation, lighting, blur, noise, occlusion,
   street backgrounds — with a non-printability score against a printer palette;
2. quantize the sticker to the palette: ``sticker.png`` is what you would print;
3. read the clean sign, the sign with the printed sticker and the sign with a control sticker
   (same shape, random printable colours) under 200 *held-out* conditions, drawn with another
   seed than the optimisation's, and under the signs dataset's own renderer;
4. train a universal adversarial patch (Brown et al., 2017) on sign scenes and test it on
   held-out scenes and placements (and, with ``--imagenet``, one on EfficientNet-Lite0 with the
   bundled photos, e.g. -> "toaster"; slow on a CPU).

Run with ``python examples/physical_attacks.py [--out DIR] [--imagenet]`` (under 3 minutes on
two cores once the signs model is cached; the first run trains it, about a minute or two).
It writes into DIR (default ``physical-attacks/``): ``sticker.png``, ``signs.png`` (clean vs
attacked vs control), ``views.png`` (held-out views with the model's predictions),
``patch_signs.png``, ``patch_views.png`` and ``metrics.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from aisec.experiments.physical import PhysicalPlan, run
from aisec.report.physical import unmet_targets, write_physical_outputs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("physical-attacks"))
    parser.add_argument("--source", default="stop")
    parser.add_argument("--target", default="speed limit 30")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--imagenet", action="store_true", help="also attack EfficientNet-Lite0")
    args = parser.parse_args()

    began = time.perf_counter()
    plan = PhysicalPlan(
        model="signs-cnn",
        source=args.source,
        target=args.target,
        seed=args.seed,
        eval_seed=args.seed + 1,
        imagenet_patch=args.imagenet,
    )
    result = run(plan)
    paths = write_physical_outputs(result, args.out)
    metrics = result.metrics()

    print(
        f"RP2 sticker: {metrics['sticker_area']:.0%} of the sign, "
        f"{len(result.rp2.palette)} printable colours, {result.rp2.time_s:.0f} s"
    )
    print(f"held-out conditions: {metrics['n_conditions']} (seed {plan.eval_seed})")
    print(f"{'':>10} {'read as ' + repr(args.target):>28} {'read as ' + repr(args.source):>16}")
    for variant in ("clean", "rp2", "control"):
        record = metrics[variant]
        print(
            f"{variant:>10} {record['targeted_success']:>28.1%} {record['source_accuracy']:>16.1%}"
        )
    if "dataset_renderer" in metrics:
        dataset = metrics["dataset_renderer"]
        print(
            "dataset renderer: RP2 read as target in "
            f"{dataset['rp2']['targeted_success']:.1%}, control in "
            f"{dataset['control']['targeted_success']:.1%}, clean read as source in "
            f"{dataset['clean']['source_accuracy']:.1%}"
        )
    if "patch_signs" in metrics:
        held_out = metrics["patch_signs"]["held_out"]
        print(
            f"signs patch on held-out scenes: read as target in "
            f"{held_out['patch']['targeted_success']:.1%} "
            f"(control patch {held_out['control']['targeted_success']:.1%}, "
            f"no patch {held_out['clean']['targeted_success']:.1%})"
        )
    if "patch_imagenet" in metrics:
        photos = metrics["patch_imagenet"]["held_out_photos"]
        print(
            f"ImageNet patch on held-out photos: read as {photos['target']!r} in "
            f"{photos['patch']['targeted_success']:.1%} "
            f"(control patch {photos['control']['targeted_success']:.1%})"
        )
    for line in unmet_targets(metrics):
        print(f"target NOT reached: {line}")
    print(f"wrote {', '.join(str(path) for path in paths.values())}")
    print(f"total {time.perf_counter() - began:.0f} s on {torch.get_num_threads()} threads")


if __name__ == "__main__":
    main()
