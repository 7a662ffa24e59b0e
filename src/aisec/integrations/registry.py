"""Attack names with a library prefix (``art:NAME``, ``foolbox:NAME``) for the CLI and
:func:`aisec.evaluate.make_attack`."""

from __future__ import annotations

import inspect
from typing import Any

from aisec.attacks.base import EvasionAttack
from aisec.threat import ThreatModel

__all__ = ["PREFIXES", "make_library_attack"]

PREFIXES = ("art", "foolbox")


def make_library_attack(
    name: str, threat: ThreatModel, *, steps: int | None = None, seed: int = 0
) -> EvasionAttack:
    """An ART or Foolbox attack by prefixed name, under ``threat``.

    ``art:NAME`` is :class:`~aisec.integrations.art.ArtAttack` of ``art.attacks.evasion.NAME``
    with ``norm``/``eps`` from the threat model (and ``max_iter = steps`` if given);
    ``foolbox:NAME`` is :class:`~aisec.integrations.foolbox.FoolboxAttack` of
    ``foolbox.attacks.NAME`` at ``epsilon = threat.eps`` (and ``steps`` if given). Other
    parameters keep the library's defaults.

    Raises:
        ValueError: for an unknown prefix or name, a norm that differs from the attack's, an
            estimator the model cannot provide, or a library that is not installed (the message
            names ``pip install "aisec[art]"`` / ``"aisec[foolbox]"``).
    """
    prefix, _, attack_name = name.partition(":")
    prefix = prefix.lower()
    if prefix not in PREFIXES or not attack_name:
        raise ValueError(
            f"unknown attack {name!r}; library attacks are named art:CLASS or foolbox:CLASS"
        )
    try:
        if prefix == "art":
            from aisec.integrations.art import ArtAttack, _resolve_attack_class

            cls = _resolve_attack_class(attack_name)
            params: dict[str, Any] = {}
            if steps is not None and "max_iter" in inspect.signature(cls).parameters:
                params["max_iter"] = steps
            return ArtAttack(cls, threat, seed=seed, **params)
        from aisec.integrations.foolbox import FoolboxAttack, _fb

        fb_cls = getattr(_fb("foolbox.attacks"), attack_name, None)
        params = {}
        if (
            steps is not None
            and inspect.isclass(fb_cls)
            and "steps" in inspect.signature(fb_cls).parameters
        ):
            params["steps"] = steps
        attack = FoolboxAttack(attack_name, threat.eps, bounds=threat.bounds, seed=seed, **params)
    except ImportError as error:
        raise ValueError(str(error)) from error
    if attack.threat.norm != threat.norm:
        raise ValueError(
            f"{attack.name} is an {attack.threat.norm} attack, but the threat model is "
            f"{threat.norm}"
        )
    return attack
