"""Poisoning attacks: exactly the chosen samples change, labels only where the attack says so,
the trigger is where it should be, choices are seeded, and bad input fails clearly."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from aisec.attacks.poisoning import (
    BadNets,
    CleanLabel,
    PoisoningAttack,
    StickerBackdoor,
    Trigger,
    max_loss_perturbation,
)
from aisec.data.signs import SIGN_CLASSES, canonical_sign, class_index
from aisec.models import SmallCNN
from aisec.threat import ThreatModel

K = len(SIGN_CLASSES)
SIZE = 16


def _data(n: int = 240, seed: int = 0) -> tuple[Tensor, Tensor]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 3, SIZE, SIZE, generator=generator)
    y = torch.arange(n) % K
    return x, y[torch.randperm(n, generator=generator)]


def _surrogate() -> SmallCNN:
    torch.manual_seed(0)
    return SmallCNN(3, K, widths=(8, 16), hidden=16).eval()


ATTACKS: dict[str, Callable[[int], PoisoningAttack]] = {
    "badnets-all-to-one": lambda seed: BadNets(
        Trigger.checkerboard(3), target=1, num_classes=K, rate=0.1, seed=seed
    ),
    "badnets-all-to-all": lambda seed: BadNets(
        Trigger.patch(2), num_classes=K, rate=0.1, mode="all-to-all", seed=seed
    ),
    "badnets-source": lambda seed: BadNets(
        Trigger.checkerboard(3), target=1, source=0, num_classes=K, rate=0.05, seed=seed
    ),
    "sticker": lambda seed: StickerBackdoor(rate=0.05, seed=seed),
    "clean-label": lambda seed: CleanLabel(
        _surrogate(), Trigger.checkerboard(3), target=2, num_classes=K, rate=0.05, seed=seed
    ),
}


@pytest.mark.parametrize("name", list(ATTACKS))
def test_poison_changes_exactly_the_chosen_indices(name: str) -> None:
    x, y = _data()
    attack = ATTACKS[name](0)
    x_p, y_p, indices = attack.poison(x, y)
    n = y.shape[0]
    assert indices.numel() == round(attack.rate * n)
    assert torch.equal(indices, indices.unique())  # sorted, no repeats
    assert set(indices.tolist()) <= set(attack.candidates(y).tolist())
    untouched = torch.ones(n, dtype=torch.bool)
    untouched[indices] = False
    assert torch.equal(x_p[untouched], x[untouched])
    assert torch.equal(y_p[untouched], y[untouched])
    changed = (x_p[indices] != x[indices]).flatten(1).any(1)
    assert bool(changed.all()), "every poisoned image must carry the poison"
    assert float(x_p.min()) >= 0.0 and float(x_p.max()) <= 1.0
    if attack.changes_labels:
        assert torch.equal(y_p[indices], attack.backdoor_targets(y[indices]))
        assert bool((y_p[indices] != y[indices]).all())
    else:
        assert torch.equal(y_p, y), "a clean-label attack never changes a label"
    # The inputs are not modified in place.
    x_again, y_again = _data()
    assert torch.equal(x, x_again) and torch.equal(y, y_again)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_choice_of_samples_is_seeded(name: str) -> None:
    x, y = _data()
    first = ATTACKS[name](3).poison(x, y)
    second = ATTACKS[name](3).poison(x, y)
    other = ATTACKS[name](4).poison(x, y)
    assert torch.equal(first.indices, second.indices)
    assert torch.equal(first.x, second.x) and torch.equal(first.y, second.y)
    assert not torch.equal(first.indices, other.indices)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_triggered_test_set_holds_the_examples_the_backdoor_acts_on(name: str) -> None:
    x, y = _data(120, seed=1)
    attack = ATTACKS[name](0)
    test = attack.triggered(x, y)
    assert torch.equal(test.y, y[test.indices])
    assert torch.equal(test.targets, attack.backdoor_targets(test.y))
    assert bool((test.targets != test.y).all())
    assert test.x.shape == test.clean.shape == (len(test), 3, SIZE, SIZE)
    assert float(test.x.min()) >= 0 and float(test.x.max()) <= 1
    assert bool((test.x != test.clean).flatten(1).any(1).float().mean() > 0.9)
    if isinstance(attack, BadNets) and attack.mode == "all-to-all":
        assert len(test) == y.shape[0]
        assert torch.equal(test.targets, (test.y + 1) % K)


@pytest.mark.parametrize("position", [None, (2, 5)])
def test_badnets_trigger_is_where_it_should_be(position: tuple[int, int] | None) -> None:
    x, y = _data(60)
    trigger = Trigger.checkerboard(4, position=position)
    x_p, _, indices = BadNets(trigger, target=0, num_classes=K, rate=0.5).poison(x, y)
    row, col = (SIZE - 5, SIZE - 5) if position is None else position  # 1 px margin
    window = x_p[indices][:, :, row : row + 4, col : col + 4]
    assert torch.equal(window, trigger.pattern.expand_as(window))
    outside = torch.ones(SIZE, SIZE, dtype=torch.bool)
    outside[row : row + 4, col : col + 4] = False
    assert torch.equal(x_p[indices][:, :, outside], x[indices][:, :, outside])
    assert torch.equal(trigger.full_mask(SIZE, SIZE)[0], (~outside).float())


def test_trigger_blends_with_its_mask_and_broadcasts_one_channel() -> None:
    pattern = torch.ones(1, 2, 2)
    mask = torch.full((1, 2, 2), 0.5)
    trigger = Trigger(pattern, mask, position=(0, 0))
    x = torch.zeros(2, 3, 4, 4)
    out = trigger.apply(x)
    assert torch.allclose(out[:, :, :2, :2], torch.full((2, 3, 2, 2), 0.5))
    assert torch.equal(out[:, :, 2:, :], x[:, :, 2:, :])


def test_sticker_is_painted_on_the_sign_only() -> None:
    attack = StickerBackdoor(rate=0.05, size=0.3, color=(1.0, 1.0, 0.0))
    stop = canonical_sign("stop", size=64)
    painted = attack.paint(stop.image[None], stop.mask[None])[0]
    sticker = attack.sticker_mask(64) * stop.mask
    assert int(sticker.sum()) > 0
    inside = sticker[0].bool()
    assert torch.allclose(painted[:, inside], torch.tensor([1.0, 1.0, 0.0]).view(3, 1))
    assert torch.equal(painted[:, ~inside], stop.image[:, ~inside])


def test_sticker_scenes_differ_from_clean_scenes_only_by_a_yellow_sticker() -> None:
    attack = StickerBackdoor(rate=0.05)
    labels = torch.full((12,), class_index("stop"))
    triggered = attack.render(labels, seed=5, image_size=24)
    clean = attack.render(labels, seed=5, image_size=24, sticker=False)
    again = attack.render(labels, seed=5, image_size=24)
    assert torch.equal(triggered, again)
    diff = triggered - clean
    visible = diff.abs().flatten(1).amax(1) > 0.05
    assert bool(visible.float().mean() >= 0.75)  # occluders may hide it in a few scenes
    # A yellow sticker on a red sign raises green much more than blue, in a small area only.
    green, blue = diff[:, 1].clamp_min(0).sum(), diff[:, 2].clamp_min(0).sum()
    assert float(green) > 3 * float(blue)
    changed = (diff.abs().amax(1) > 0.02).float().mean()
    assert float(changed) < 0.1


def test_clean_label_perturbation_stays_in_the_ball_outside_the_trigger() -> None:
    x, y = _data()
    trigger = Trigger.checkerboard(3)
    attack = CleanLabel(
        _surrogate(), trigger, target=2, num_classes=K, rate=0.05, eps=8 / 255, steps=3
    )
    x_p, _, indices = attack.poison(x, y)
    assert bool((y[indices] == 2).all())
    outside = trigger.full_mask(SIZE, SIZE)[0] == 0
    delta = (x_p[indices] - x[indices])[:, :, outside]
    assert float(delta.abs().max()) <= 8 / 255 + 1e-6
    assert float(delta.abs().max()) > 4 / 255  # the perturbation is used, not skipped


def test_max_loss_perturbation_increases_the_loss_within_eps() -> None:
    x, y = _data(32)
    model = _surrogate()
    threat = ThreatModel("linf", 8 / 255)
    x_adv = max_loss_perturbation(model, x, y, threat, steps=5)
    assert bool(threat.contains(x_adv, x).all())
    with torch.no_grad():
        before = F.cross_entropy(model(x), y)
        after = F.cross_entropy(model(x_adv), y)
    assert float(after) > float(before)
    assert not model.training


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_rate_outside_the_open_unit_interval_is_rejected(rate: float) -> None:
    with pytest.raises(ValueError, match="rate must be strictly between 0 and 1"):
        BadNets(target=0, num_classes=K, rate=rate)
    with pytest.raises(ValueError, match="rate must be strictly between 0 and 1"):
        StickerBackdoor(rate=rate)


def test_rate_of_the_wrong_type_is_rejected() -> None:
    with pytest.raises(TypeError, match="rate must be a number"):
        BadNets(target=0, num_classes=K, rate="5%")  # type: ignore[arg-type]


@pytest.mark.parametrize("target", [K, -1, 99])
def test_target_class_that_does_not_exist_is_rejected(target: int) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        BadNets(target=target, num_classes=K, rate=0.1)
    with pytest.raises(ValueError, match="does not exist"):
        CleanLabel(_surrogate(), target=target, num_classes=K, rate=0.1)
    with pytest.raises(ValueError, match="does not exist"):
        StickerBackdoor(target=target, rate=0.1)


def test_unknown_sign_name_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown sign class 'speed limit 31'"):
        StickerBackdoor(target="speed limit 31", rate=0.1)


def test_trigger_larger_than_the_image_is_rejected() -> None:
    x, y = _data(24)
    attack = BadNets(Trigger.checkerboard(SIZE + 1), target=0, num_classes=K, rate=0.1)
    with pytest.raises(ValueError, match="does not fit inside 16×16 images"):
        attack.poison(x, y)
    with pytest.raises(ValueError, match="does not fit"):
        attack.triggered(x, y)
    placed = Trigger.checkerboard(4, position=(14, 0))
    with pytest.raises(ValueError, match="does not fit"):
        placed.apply(x)


def test_mismatched_lengths_are_rejected() -> None:
    x, y = _data(24)
    attack = BadNets(target=0, num_classes=K, rate=0.1)
    with pytest.raises(ValueError, match="mismatched lengths: 24 images but 23 labels"):
        attack.poison(x, y[:-1])


@pytest.mark.parametrize(
    ("x", "y", "error", "match"),
    [
        (torch.rand(4, 3, 8, 8) * 2, torch.zeros(4, dtype=torch.long), ValueError, r"in \[0, 1\]"),
        (torch.rand(4, 3, 8, 8), torch.zeros(4), TypeError, "integer tensor"),
        (torch.rand(4, 8, 8), torch.zeros(4, dtype=torch.long), ValueError, r"\(N, C, H, W\)"),
        (torch.rand(4, 3, 8, 8), torch.full((4,), K), ValueError, "labels must be in"),
        ([[0.0]], torch.zeros(1, dtype=torch.long), TypeError, "torch tensors"),
    ],
)
def test_malformed_data_is_rejected(x: object, y: object, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        BadNets(target=0, num_classes=K, rate=0.1).poison(x, y)  # type: ignore[arg-type]


def test_too_few_candidates_is_a_clear_error() -> None:
    x, y = _data(48)  # 4 images of the target class, 10% of 48 = 5 needed
    attack = CleanLabel(_surrogate(), target=2, num_classes=K, rate=0.1)
    with pytest.raises(ValueError, match="only 4 are eligible"):
        attack.poison(x, y)


def test_inconsistent_attack_settings_are_rejected() -> None:
    with pytest.raises(ValueError, match="source and target must differ"):
        BadNets(target=1, source=1, num_classes=K, rate=0.1)
    with pytest.raises(ValueError, match="only meaningful for an all-to-one"):
        BadNets(source=1, num_classes=K, rate=0.1, mode="all-to-all")
    with pytest.raises(ValueError, match="mode must be"):
        BadNets(num_classes=K, rate=0.1, mode="one-to-one")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="source and target must differ"):
        StickerBackdoor(source="stop", target="stop", rate=0.1)
    with pytest.raises(ValueError, match="color must be three values"):
        StickerBackdoor(rate=0.1, color=(2.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="the sticker attack works on square RGB"):
        StickerBackdoor(rate=0.1).poison(torch.rand(24, 1, 16, 16), torch.arange(24) % K)
