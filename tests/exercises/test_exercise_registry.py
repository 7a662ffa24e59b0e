"""The exercise registry: every chapter has its exercises, each with a template and a reference
solution kept apart, and names resolve (or fail) clearly."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

from aisec.exercises import CHAPTERS, EXERCISES, Exercise, exercise_names, get_exercise

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "exercises"
SOLUTIONS = TEMPLATES / "solutions"


def test_every_chapter_has_its_exercises() -> None:
    per_chapter = Counter(exercise.chapter for exercise in EXERCISES)
    assert set(per_chapter) == set(CHAPTERS)
    for chapter in range(5):
        assert 2 <= per_chapter[chapter] <= 3, (chapter, per_chapter[chapter])
    assert per_chapter[5] >= 1 and per_chapter[6] >= 1
    chapters = [exercise.chapter for exercise in EXERCISES]
    assert chapters == sorted(chapters), "the registry is in chapter order"


def test_names_are_unique_identifiers() -> None:
    names = exercise_names()
    assert len(names) == len(set(names))
    for name in names:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name


def test_templates_and_solutions_exist_for_exactly_the_registered_exercises() -> None:
    names = set(exercise_names())
    assert {p.stem for p in TEMPLATES.glob("*.py")} == names
    assert {p.stem for p in SOLUTIONS.glob("*.py")} == names


def _defined(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and not node.name.startswith("_")
    }


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.name)
def test_template_and_solution_define_what_the_exercise_asks_for(exercise: Exercise) -> None:
    asked = {
        re.match(r"(?:class )?([A-Za-z_]\w*)", signature).group(1)  # type: ignore[union-attr]
        for signature in exercise.functions
    }
    template, solution = TEMPLATES / f"{exercise.name}.py", SOLUTIONS / f"{exercise.name}.py"
    assert asked <= _defined(template), (asked, _defined(template))
    assert asked <= _defined(solution), (asked, _defined(solution))
    text = template.read_text("utf-8")
    assert f"aisec exercise check {exercise.name}" in text
    assert exercise.chapter_doc.split("/")[-1] in text
    assert text.count("raise NotImplementedError") >= len(asked)
    assert exercise.statement and exercise.checks and exercise.title
    assert (ROOT / exercise.chapter_doc).exists()


def test_names_resolve_with_dashes_and_unknown_names_list_the_known_ones() -> None:
    assert get_exercise("dlr-loss").name == "dlr_loss"
    with pytest.raises(ValueError, match="unknown exercise 'nope'; known exercises: fgsm, "):
        get_exercise("nope")


def test_every_chapter_lists_its_exercises() -> None:
    for chapter, doc in CHAPTERS.items():
        text = (ROOT / doc).read_text("utf-8")
        section = text.partition("\n## Exercises\n")[2]
        assert section, f"{doc} has no '## Exercises' section"
        for exercise in EXERCISES:
            if exercise.chapter == chapter:
                assert f"aisec exercise check {exercise.name}" in section, (doc, exercise.name)
