"""Quickstart: load the offline data and models, and measure clean accuracy.

Run with ``python examples/quickstart.py`` (the first run trains the signs model, about a
minute on two cores, and caches it).
"""

from __future__ import annotations

import torch

import aisec.data
import aisec.zoo
from aisec.models import accuracy


def main() -> None:
    test = aisec.data.load("signs", "test", n=500, seed=0)
    model = aisec.zoo.load("signs-cnn")
    clean = accuracy(model, test.images, test.labels)
    print(f"signs-cnn clean accuracy on {len(test)} signs: {clean:.1%}")

    photos = aisec.data.load("imagenet_samples")
    net = aisec.zoo.load("efficientnet-lite0")
    with torch.no_grad():
        predictions = net(photos.images).argmax(1)
    for label, prediction in zip(photos.labels, predictions, strict=True):
        print(f"  {photos.class_names[label]:>14} -> {photos.class_names[prediction]}")


if __name__ == "__main__":
    main()
