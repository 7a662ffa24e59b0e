"""The offline instruction set: sizes, task balance, disjoint splits, seeding, bad input."""

from __future__ import annotations

import pytest

from aisec.data.instructions import INSTRUCTION_TASKS, SIGN_FACTS, load_instructions


@pytest.mark.parametrize("n", [1, 2, 7, 60])
def test_a_set_has_n_examples_with_the_tasks_in_equal_shares(n: int) -> None:
    examples = load_instructions(n, seed=3)
    assert len(examples) == n
    counts = [sum(e.task == task for e in examples) for task in INSTRUCTION_TASKS]
    assert max(counts) - min(counts) <= 1
    assert all(e.prompt and e.answer for e in examples)


def test_the_splits_share_no_prompt() -> None:
    train = {e.prompt for e in load_instructions(600, seed=0)}
    test = {e.prompt for e in load_instructions(300, split="test", seed=0)}
    assert not train & test


def test_answers_are_checkable() -> None:
    for example in load_instructions(90, seed=1):
        if example.task == "sentiment":
            assert example.answer == example.label and example.label in ("positive", "negative")
        elif example.task == "signs":
            facts = {value for shape, colour, _ in SIGN_FACTS.values() for value in (shape, colour)}
            assert example.answer in facts | set(SIGN_FACTS)
        else:
            assert example.label is None and example.answer.isdigit()
            numbers = [
                int(w.strip("?,")) for w in example.prompt.split() if w.strip("?,").isdigit()
            ]
            if "larger" in example.prompt:
                assert int(example.answer) == max(numbers)
            elif "smaller" in example.prompt:
                assert int(example.answer) == min(numbers)
            else:
                assert int(example.answer) == numbers[0] + 1


def test_a_set_is_a_function_of_its_seed() -> None:
    assert load_instructions(30, seed=5) == load_instructions(30, seed=5)
    assert load_instructions(30, seed=5) != load_instructions(30, seed=6)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n": 0}, "n must be an int >= 1"), ({"n": 5, "split": "dev"}, "split must be")],
)
def test_bad_input_is_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_instructions(**kwargs)  # type: ignore[arg-type]
