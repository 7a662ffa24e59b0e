"""Deliberately wrong solutions fail the check that concerns them, with one clear line each;
a solution that does not import, raises or returns the wrong thing fails without a traceback."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from aisec.exercises import check_exercise

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "exercises" / "solutions"


def _write(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "solution.py"
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def _variant(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """The reference solution of ``name`` with ``old`` replaced by ``new`` (which must occur)."""
    source = (SOLUTIONS / f"{name}.py").read_text("utf-8")
    assert old in source, f"{old!r} is not in the reference solution of {name}"
    return _write(tmp_path, source.replace(old, new))


def _failed(name: str, path: Path) -> list[str]:
    result = check_exercise(name, path)
    assert not result.passed, "\n".join(result.lines())
    return result.failures()


WRONG: list[tuple[str, str, str, str]] = [
    # (exercise, text of the reference solution, what replaces it, the failed check)
    ("fgsm", "eps * grad.sign()", "2 * eps * grad.sign()", "inside the L∞ ball"),
    ("fgsm", "eps * grad.sign()", "-eps * grad.sign()", "equals aisec's FGSM"),
    (
        "pgd_l2",
        "delta = delta * (eps / norms(delta)).clamp(max=1.0)",
        "delta = delta.clamp(-eps, eps)",  # an L∞ projection
        "inside the L2 ball",
    ),
    ("dlr_loss", "top[:, 0] - top[:, 2] + 1e-12", "top[:, 0] - top[:, 1] + 1e-9", "equals aisec's"),
    (
        "printable_sticker",
        "difference.square().sum(dim=-3) + 1e-12",
        "difference.square().sum(dim=-3)",
        "gradient is finite",
    ),
    (
        "eot_sticker",
        "return torch.where(mask > 0.5, colours.detach().clamp(0, 1), x)",
        "return (x + 0.01 * (1 - mask)).clamp(0, 1)",
        "outside the mask are unchanged",
    ),
    (
        "bpda_jpeg",
        "defense(x_adv.detach()) + (x_adv - x_adv.detach())",
        "defense(x_adv)",  # no BPDA: the defense's output carries no gradient
        "your code runs",
    ),
    (
        "certify_counts",
        "c_a = selection.argmax(dim=1)",
        "c_a = estimation.argmax(dim=1)",  # the class chosen on the estimation counts
        "the class or abstention",
    ),
    (
        "undo_bad_characters",
        'text = _INVISIBLE.sub("", text)',
        "text = text.translate(dict.fromkeys(map(ord, '\\u200b\\u200c\\u200d\\u2060')))",
        "invisible characters",
    ),
    (
        "good_words",
        "added.append(vocabulary[best])",
        "added.append(vocabulary.pop(best))",  # distinct words only: misses the bound
        "gets through every message",
    ),
    (
        "scrub_watermark",
        "if z - z_trial >= needed:",
        "if True:",  # keep every random edit
        "no text is detected",
    ),
    (
        "library_adapter",
        "images.detach().permute(0, 2, 3, 1)",
        "images.detach().permute(0, 3, 2, 1)",  # (N, W, H, C): height and width swapped
        "your code runs",
    ),
    (
        "keyed_random_start",
        "generator = example_generator(seed, index, device=x.device)",
        "generator = shared",
        "batches of 3, 8 and 9",
    ),
]


@pytest.mark.parametrize(("name", "old", "new", "check"), WRONG, ids=[w[0] for w in WRONG])
def test_a_wrong_solution_fails_the_relevant_check(
    tmp_path: Path, name: str, old: str, new: str, check: str
) -> None:
    path = _variant(tmp_path, name, old, new)
    if name == "keyed_random_start":  # one generator for the whole batch, seeded by the seed
        source = path.read_text("utf-8").replace(
            "    rows = []\n", "    rows = []\n    shared = torch.Generator().manual_seed(seed)\n"
        )
        path.write_text(source, encoding="utf-8")
    failures = _failed(name, path)
    assert any(check in line for line in failures), failures
    assert all("\n" not in line and "Traceback" not in line for line in failures)


def test_the_paper_rule_does_not_reach_the_precision_target(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        from aisec.defenses.detect import spectral_signatures

        def flag_poisons(features, labels, budget):
            return spectral_signatures(features, labels, expected_fraction=budget / 1.5).flagged
        """,
    )
    failures = _failed("spectral_precision", path)
    assert any("precision ≥ 90.0%" in line and "precision 1" in line for line in failures)


def test_unpickling_is_caught(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        import pickle

        def pickle_globals(data):
            pickle.loads(data)
            return set()
        """,
    )
    failures = _failed("pickle_globals", path)
    assert any("never runs the pickle" in line for line in failures), failures


def test_a_file_that_does_not_parse_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "def fgsm(model, x, y, eps)\n    return x\n")
    (line,) = _failed("fgsm", path)
    assert "solution.py does not parse" in line and "line 1" in line


def test_an_exception_names_its_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        def dlr_loss(logits, y):
            raise ValueError("boom")


        def targeted_dlr_loss(logits, y, targets):
            return logits[:, 0]
        """,
    )
    (line,) = _failed("dlr_loss", path)
    assert "dlr_loss raised ValueError: boom (line 3 of solution.py)" in line


def test_a_missing_function_and_a_wrong_return_type_are_one_line(tmp_path: Path) -> None:
    (line,) = _failed("fgsm", _write(tmp_path, "def other():\n    pass\n"))
    assert "defines no 'fgsm'" in line
    path = _write(tmp_path, "def fgsm(model, x, y, eps):\n    return x.tolist()\n")
    (line,) = _failed("fgsm", path)
    assert "fgsm must return a torch.Tensor, got list" in line


def test_a_missing_solution_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        check_exercise("fgsm", tmp_path / "nope.py")
    with pytest.raises(ValueError, match="is a folder"):
        check_exercise("fgsm", tmp_path)
