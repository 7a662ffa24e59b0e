"""Foolbox adapters: configuration, numerical cross-checks against aisec, the contract."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest
import torch

from aisec.attacks import FGSM, PGD
from aisec.evaluate import evaluate_robustness
from aisec.experiments.names import evasion_attack as make_attack
from aisec.threat import ThreatModel

fb = pytest.importorskip("foolbox", reason='needs the foolbox extra: pip install "aisec[foolbox]"')

from aisec.integrations.foolbox import FoolboxAttack, to_foolbox  # noqa: E402

if TYPE_CHECKING:
    from conftest import Digits

LINF = ThreatModel("linf", 0.1)


def test_to_foolbox_bounds_and_device(digits: Digits) -> None:
    fmodel = to_foolbox(digits.model)
    assert tuple(fmodel.bounds) == (0.0, 1.0)
    assert fmodel.device == digits.x.device
    with torch.no_grad():
        torch.testing.assert_close(fmodel(digits.x[:8]), digits.model(digits.x[:8]))
    assert tuple(to_foolbox(digits.model, bounds=(0, 255)).bounds) == (0.0, 255.0)


def test_foolbox_fgsm_equals_aisec_fgsm(digits: Digits) -> None:
    ours = FGSM(LINF)(digits.model, digits.x, digits.y)
    fmodel = to_foolbox(digits.model)
    _, clipped, _ = fb.attacks.FGSM()(fmodel, digits.x, digits.y, epsilons=0.1)
    attacked = ours.clean_pred == ours.y
    assert float((clipped[attacked] - ours.x_adv[attacked]).abs().max()) <= 1e-6
    for p in digits.model.parameters():  # the raw library run above left gradients
        p.grad = None
    through = FoolboxAttack("FGSM", 0.1)(digits.model, digits.x, digits.y)
    assert float((through.x_adv - ours.x_adv).abs().max()) <= 1e-6
    assert through.attack == "foolbox:FGSM"
    assert through.backwards == 1
    assert all(p.requires_grad and p.grad is None for p in digits.model.parameters())


def test_aisec_pgd_matches_foolbox_pgd_step_for_step(digits: Digits) -> None:
    """aisec's PGD (no random start) equals Foolbox's LinfPGD with the same absolute step size.

    aisec keeps an example's first adversarial iterate while Foolbox returns the last one, so
    each aisec output must equal Foolbox's iterate after ``k`` steps, where ``k`` is the first
    step whose iterate fools the model (checked by aisec before steps 1..S-1), else ``S``.
    """
    x, y, steps, alpha = digits.x[:150], digits.y[:150], 8, 0.02
    ours = PGD(LINF, steps=steps, step_size=alpha, random_start=False)(digits.model, x, y)
    fmodel = to_foolbox(digits.model)
    iterates = [x]
    for k in range(1, steps + 1):
        attack = fb.attacks.LinfPGD(steps=k, abs_stepsize=alpha, random_start=False)
        iterates.append(attack(fmodel, x, y, epsilons=0.1)[1])
    with torch.no_grad():
        fooled = torch.stack([digits.model(it).argmax(1) != y for it in iterates])  # (S+1, n)
    checked = fooled[:steps].clone()
    checked[0] = False  # aisec attacks only clean-correct points: iterate 0 is not adversarial
    first = torch.where(checked.any(0), checked.int().argmax(0), torch.full_like(y, steps))
    expected = torch.stack(iterates)[first, torch.arange(len(y))]
    attacked = ours.clean_pred == y
    assert float((ours.x_adv[attacked] - expected[attacked]).abs().max()) <= 1e-6
    through = FoolboxAttack(
        fb.attacks.LinfPGD(steps=steps, abs_stepsize=alpha, random_start=False), 0.1
    )(digits.model, x, y)
    assert float((through.x_adv[attacked] - iterates[-1][attacked]).abs().max()) <= 1e-6


@pytest.mark.parametrize(
    ("attack", "threat"),
    [
        ("LinfPGD", ThreatModel("linf", 0.1)),
        ("L2PGD", ThreatModel("l2", 0.5)),
        ("L2DeepFoolAttack", ThreatModel("l2", 0.3)),
    ],
)
def test_foolbox_attacks_respect_the_threat_model(
    digits: Digits, attack: str, threat: ThreatModel
) -> None:
    x, y = digits.x[:100], digits.y[:100]
    params = {"steps": 10}
    wrapped = FoolboxAttack(attack, threat.eps, seed=1, **params)
    assert wrapped.threat == threat
    first = wrapped(digits.model, x, y)
    assert bool(threat.contains(first.x_adv, x).all())
    assert first.robust_accuracy is not None and first.clean_accuracy is not None
    assert first.robust_accuracy < first.clean_accuracy
    assert torch.equal(wrapped(digits.model, x, y).x_adv, first.x_adv)  # seeded


def test_targeted_foolbox_attack(digits: Digits) -> None:
    x, y = digits.x[:60], digits.y[:60]
    targets = (y + 1) % 10
    result = FoolboxAttack("LinfPGD", 0.3, steps=20)(digits.model, x, y, targets)
    assert result.targeted and result.success_rate is not None and result.success_rate > 0.5


def test_foolbox_attack_runs_in_evaluate_robustness(digits: Digits) -> None:
    x, y = digits.x[:100], digits.y[:100]
    attacks = [FoolboxAttack("LinfPGD", 0.1, steps=10), FoolboxAttack("BoundaryAttack", 0.1)]
    assert attacks[0].uses_gradients and not attacks[1].uses_gradients
    report = evaluate_robustness(digits.model, x, y, LINF, attacks[:1], warn=False)
    assert report.stages[0].attack == "foolbox:LinfPGD"
    assert report.robust_accuracy < report.clean_accuracy
    assert bool(LINF.contains(report.x_adv, x).all())


def test_make_attack_resolves_foolbox_names() -> None:
    attack = make_attack("foolbox:LinfPGD", LINF, steps=5)
    assert isinstance(attack, FoolboxAttack) and attack.threat == LINF
    assert attack.attack.steps == 5
    with pytest.raises(ValueError, match="LinfPGD"):
        make_attack("foolbox:LinfPDG", LINF)
    with pytest.raises(ValueError, match="linf attack"):
        make_attack("foolbox:LinfPGD", ThreatModel("l2", 0.5))


def test_missing_foolbox_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "foolbox" or m.startswith("foolbox.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "aisec\[foolbox\]"'):
        FoolboxAttack("LinfPGD", 0.1)
    with pytest.raises(ValueError, match=r'pip install "aisec\[foolbox\]"'):
        make_attack("foolbox:LinfPGD", LINF)
