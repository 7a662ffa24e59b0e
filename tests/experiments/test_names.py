"""Names become objects in one place, and a wrong name is refused before anything loads."""

from __future__ import annotations

import pytest
from torch import nn

from aisec.attacks import APGD, PGD, CarliniWagnerL2, SquareAttack
from aisec.attacks.poisoning import BadNets
from aisec.defenses.preprocess import JPEGCompression
from aisec.experiments import names
from aisec.threat import ThreatModel

LINF = ThreatModel("linf", 8 / 255)


@pytest.mark.parametrize(
    ("name", "kind"),
    [("pgd", PGD), ("APGD", APGD), ("apgd-t", APGD), ("square", SquareAttack)],
)
def test_evasion_attacks_by_name_get_their_published_defaults(name: str, kind: type) -> None:
    attack = names.evasion_attack(name, LINF, seed=3)
    assert isinstance(attack, kind)
    assert attack.threat == LINF


def test_a_step_budget_reaches_the_attack_it_belongs_to() -> None:
    assert names.evasion_attack("pgd", LINF, steps=7).steps == 7  # type: ignore[attr-defined]
    cw = names.evasion_attack("cw", ThreatModel("l2", 0.5), steps=9)
    assert isinstance(cw, CarliniWagnerL2) and cw.max_iterations == 9


def test_unknown_names_list_what_is_accepted() -> None:
    with pytest.raises(ValueError, match="choose one of fgsm, pgd"):
        names.evasion_attack("pgdd", LINF)
    with pytest.raises(ValueError, match="known attacks"):
        names.poisoning_attack("trojan", rate=0.1, target=0, class_names=["a", "b"], image_size=8)
    with pytest.raises(ValueError, match="jpeg:QUALITY"):
        names.preprocessing_defense("jpg:75")
    with pytest.raises(ValueError, match="known classes: 'a', 'b'"):
        names.resolve_class("c", ["a", "b"])
    with pytest.raises(TypeError, match="string"):
        names.check_evasion_attack(3)  # type: ignore[arg-type]


def test_defenses_and_poisoning_attacks_by_name() -> None:
    assert isinstance(names.preprocessing_defense("jpeg:75"), JPEGCompression)
    attack = names.poisoning_attack(
        "badnets", rate=0.1, target="b", class_names=["a", "b"], image_size=8, channels=1
    )
    assert isinstance(attack, BadNets)


def test_load_task_goes_through_the_one_model_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []
    tiny = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))

    def zoo_model(name: str) -> nn.Module:
        loaded.append(name)
        return tiny

    monkeypatch.setattr(names, "zoo_model", zoo_model)
    task = names.load_task("digits-cnn", n=5)
    assert loaded == ["digits-cnn"] and task.model is tiny
    assert task.x.shape[0] == task.y.shape[0] == 5
    with pytest.raises(ValueError, match="unknown model"):
        names.load_task("resnet-9000", n=5)
    with pytest.raises(ValueError, match="n must be"):
        names.load_task("digits-cnn", n=0)
    assert loaded == ["digits-cnn"]
