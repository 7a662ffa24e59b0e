"""The shard task of a text-attack campaign (``aisec text-attack``): a recipe against a
victim on texts ``start … stop−1``, each text attacked on its own (see
:mod:`aisec.experiments.sharded`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from aisec.attacks.text import AttackRun, TextAttack, TextAttackResult
from aisec.attacks.text.attack import summarize
from aisec.experiments.shards import ShardOutput, fingerprint
from aisec.models.text import TextClassifier

__all__ = ["TextAttackTask", "attack_run_of"]

_TUPLES = ("changed_indices", "original_words", "adversarial_words")


def _result_of(record: dict[str, Any]) -> TextAttackResult:
    """A :class:`~aisec.attacks.text.TextAttackResult` from its ``to_dict()``."""
    values = {f.name: record[f.name] for f in fields(TextAttackResult)}
    for name in _TUPLES:
        values[name] = tuple(values[name])
    values["insertions"] = tuple((int(slot), str(word)) for slot, word in values["insertions"])
    return TextAttackResult(**values)


@dataclass
class TextAttackTask:
    """A text attack on texts ``start … stop−1`` (every text is attacked on its own, and the
    recipes' random choices are keyed by ``(seed, word, slot)``, so a shard gives its texts
    what the whole campaign gives them).

    Attributes:
        attack: the configured recipe.
        model: the victim.
        texts: all the texts.
        labels: their classes.
        plan: the plan (its fingerprint keys the checkpoints).
        progress: show a progress bar per shard.
    """

    attack: TextAttack
    model: TextClassifier
    texts: Sequence[str]
    labels: Sequence[int]
    plan: object
    progress: bool = False

    def run_shard(self, start: int, stop: int) -> ShardOutput:
        """Attack texts ``start … stop−1``."""
        run = self.attack.run(
            self.model, self.texts[start:stop], self.labels[start:stop], progress=self.progress
        )
        seconds = run.summary.seconds if run.summary is not None else 0.0
        return ShardOutput(meta={"results": [r.to_dict() for r in run.results], "seconds": seconds})

    def to(self, device: str) -> TextAttackTask:
        """This task (text victims run where they were loaded)."""
        del device
        return self

    def fingerprint(self) -> str:
        """The plan, the recipe's configuration and the texts."""
        return fingerprint(
            "text-attack", self.plan, self.attack.describe(), list(self.texts), list(self.labels)
        )


def attack_run_of(attack: TextAttack, outputs: Sequence[ShardOutput]) -> AttackRun:
    """The campaign's :class:`~aisec.attacks.text.AttackRun` from its shards, in order
    (``seconds``: the shards' total)."""
    results = [_result_of(record) for output in outputs for record in output.meta["results"]]
    seconds = sum(float(output.meta["seconds"]) for output in outputs)
    return AttackRun(
        recipe=attack.name,
        results=results,
        summary=summarize(results, seconds),
        config=attack.describe(),
    )
