"""Universal adversarial patch: placement over EOT, held-out evaluation, bad inputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from aisec.attacks.physical import AdversarialPatch, patch_mask
from aisec.data import load as load_data
from aisec.data.signs import class_index
from aisec.evaluate.physical import control_sticker, evaluate_patch

SCENES = 4_000  # the size of the signs_model fixture's training set (already generated)


def test_patch_mask_shapes() -> None:
    circle = patch_mask(16)
    assert circle.shape == (1, 16, 16)
    assert float(circle[0, 8, 8]) == 1.0 and float(circle[0, 0, 0]) == 0.0
    assert torch.equal(patch_mask(8, "square"), torch.ones(1, 8, 8))
    with pytest.raises(ValueError, match="shape must be one of"):
        patch_mask(8, "star")


def test_a_patch_on_signs_beats_a_control_patch_on_held_out_scenes(
    signs_model: nn.Module,
) -> None:
    # The fixture's training scenes (cached): the patch sees the first 400, is tested on others.
    scenes = load_data("signs", "train", n=SCENES, seed=0)
    train_x, train_y = scenes.images[:400], scenes.labels[:400]
    test_x, test_y = scenes.images[400:700], scenes.labels[400:700]
    target = class_index("speed limit 30")
    result = AdversarialPatch(size=16, steps=60, batch_size=16, seed=0)(
        signs_model, train_x, target="speed limit 30", labels=train_y
    )
    assert result.patch.shape == (3, 16, 16) and result.target == target
    assert float(result.patch[:, result.mask[0] < 0.5].abs().max()) == 0.0
    evaluation = evaluate_patch(
        signs_model,
        {
            "clean": None,
            "patch": result.patch,
            "control": control_sticker(result.mask, seed=1, cell=2),
        },
        result.mask,
        test_x,
        target=target,
        labels=test_y,
        n_conditions=200,
        seed=1,
    )
    patch, control = evaluation["patch"].targeted_success, evaluation["control"].targeted_success
    assert patch is not None and control is not None
    assert patch >= control + 0.25, evaluation.to_dict()
    # Scenes of the target class are left out, so "clean" success is the model's own error.
    assert (evaluation["clean"].source_accuracy or 0.0) > 0.6


def test_the_patch_is_seeded_and_restores_the_mode(signs_model: nn.Module) -> None:
    scenes = load_data("signs", "train", n=SCENES, seed=0)
    signs_model.train()
    try:

        def run() -> torch.Tensor:
            attack = AdversarialPatch(size=8, steps=2, batch_size=4, seed=7)
            return attack(signs_model, scenes.images[:40], target=1).patch

        assert torch.equal(run(), run())
        assert signs_model.training
    finally:
        signs_model.eval()


def test_bad_patch_inputs(tiny_model: nn.Module) -> None:
    scenes = torch.rand(4, 3, 32, 32)
    attack = AdversarialPatch(size=8, steps=1, batch_size=2)
    with pytest.raises(ValueError, match="unknown sign class 'toaster'"):
        attack(tiny_model, scenes, target="toaster")
    with pytest.raises(ValueError, match="unknown target class 'toastr'"):
        attack(tiny_model, scenes, target="toastr", class_names=["toaster", "cat"])
    with pytest.raises(ValueError, match="every background is of the target class"):
        attack(tiny_model, scenes, target=1, labels=torch.ones(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"backgrounds must have shape \(M, 3, 32, 32\)"):
        attack(tiny_model, torch.rand(4, 3, 16, 16), target=1)
    with pytest.raises(ValueError, match="beyond the model's 12 classes"):
        attack(tiny_model, scenes, target=30)
    with pytest.raises(ValueError, match="shape must be one of"):
        AdversarialPatch(shape="hexagon")


def test_a_patch_on_the_imagenet_model_resolves_names_and_runs() -> None:
    from aisec.data.imagenet_samples import imagenet_class_names, load_photos
    from aisec.zoo import load as load_model

    photos, labels, _ = load_photos(224)
    model = load_model("efficientnet-lite0")
    attack = AdversarialPatch(size=16, steps=1, batch_size=2, image_size=224, seed=0)
    result = attack(
        model, photos[:2], target="toaster", labels=labels[:2], class_names=imagenet_class_names()
    )
    assert result.target == 859 and result.target_name == "toaster"
    assert result.forwards == 1 and result.backwards == 1
    assert float(result.patch.abs().sum()) > 0
