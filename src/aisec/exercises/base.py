"""The exercise contract: an exercise, its checker's result, and the learner's solution.

An :class:`Exercise` names the function(s) a learner writes (with their exact signatures), says
what its checker checks, and holds the checker: a function ``(solution, checks) -> None`` that
calls the learner's code through a :class:`Solution` and records each guarantee with
:meth:`Checks.expect`. The learner's code runs only through :meth:`Solution.call`, which turns
anything it does wrong — a template that still raises ``NotImplementedError``, an exception, a
missing function — into a :class:`LearnerError`: one line for the learner, never a traceback.
:func:`run_exercise` loads a solution file (a fresh module, by path) and runs the checker.
"""

from __future__ import annotations

import math
import sys
import time
import traceback
import types
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "CHAPTERS",
    "CheckOutcome",
    "CheckResult",
    "Checks",
    "Exercise",
    "LearnerError",
    "Solution",
    "check_solution_path",
    "load_solution",
    "one_thread",
    "run_exercise",
]

CHAPTERS: dict[int, str] = {
    0: "docs/00-threat-models.md",
    1: "docs/01-physical-attacks.md",
    2: "docs/02-vision-defenses.md",
    3: "docs/03-text-attacks.md",
    4: "docs/04-generative-ai.md",
    5: "docs/05-tools.md",
    6: "docs/06-your-own-model.md",
}
"""The tutorial's chapters, by number: where each exercise's background is explained."""


class LearnerError(Exception):
    """The learner's code did not do its part; the message is one line for the learner."""


@dataclass(frozen=True)
class CheckOutcome:
    """One checked guarantee: its name, whether it held, and what was measured."""

    name: str
    passed: bool
    detail: str = ""

    def line(self) -> str:
        """``✓ name (detail)`` or ``✗ name: detail``, on one line."""
        detail = " ".join(self.detail.split())
        if self.passed:
            return f"✓ {self.name}" + (f" ({detail})" if detail else "")
        return f"✗ {self.name}" + (f": {detail}" if detail else "")


@dataclass(frozen=True)
class CheckResult:
    """The verdict on one solution: every outcome in order, and the time the check took."""

    exercise: str
    solution: Path
    outcomes: tuple[CheckOutcome, ...]
    seconds: float

    @property
    def passed(self) -> bool:
        """Every check held (and there was at least one)."""
        return bool(self.outcomes) and all(o.passed for o in self.outcomes)

    def failures(self) -> list[str]:
        """One line per failed check."""
        return [o.line() for o in self.outcomes if not o.passed]

    def lines(self) -> list[str]:
        """One line per check, passed or failed."""
        return [o.line() for o in self.outcomes]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "exercise": self.exercise,
            "solution": str(self.solution),
            "passed": self.passed,
            "seconds": self.seconds,
            "checks": [
                {"name": o.name, "passed": o.passed, "detail": o.detail} for o in self.outcomes
            ],
        }


class Checks:
    """The outcomes a checker records, in order."""

    def __init__(self) -> None:
        self.outcomes: list[CheckOutcome] = []

    def expect(self, name: str, ok: bool, detail: str = "") -> bool:
        """Record that ``name`` held (``ok``) or not, with what was measured; return ``ok``."""
        self.outcomes.append(CheckOutcome(name, bool(ok), detail))
        return bool(ok)

    def fail(self, name: str, detail: str) -> None:
        """Record a failed check."""
        self.expect(name, False, detail)


class Solution:
    """The learner's module: its functions, called so that their failures become one line.

    Args:
        module: the imported solution file.
        path: where it was read from (for the line numbers in the messages).
    """

    def __init__(self, module: types.ModuleType, path: Path) -> None:
        self.module = module
        self.path = path

    def attribute(self, name: str) -> Any:
        """The solution's ``name``.

        Raises:
            LearnerError: the file does not define it.
        """
        if not hasattr(self.module, name):
            raise LearnerError(f"{self.path.name} defines no {name!r}; see the template")
        return getattr(self.module, name)

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the solution's function ``name``; torch's global generator is seeded with 0 for
        the call and restored afterwards, so an attack that uses it is repeatable.

        Raises:
            LearnerError: the function is missing, not callable, not implemented yet or raised.
        """
        function = self.attribute(name)
        if not callable(function):
            raise LearnerError(f"{name} in {self.path.name} is not a function")
        with self.running(name):
            return function(*args, **kwargs)

    def raises(self, name: str, expected: type[Exception], *args: Any, **kwargs: Any) -> str | None:
        """Call ``name`` where it must raise ``expected``: ``None`` if it did, else what happened.

        Raises:
            LearnerError: the function is missing or not implemented yet.
        """
        try:
            self.call(name, *args, **kwargs)
        except LearnerError as failure:
            cause = failure.__cause__
            if isinstance(cause, expected) and not isinstance(cause, NotImplementedError):
                return None
            if isinstance(cause, NotImplementedError) or cause is None:
                raise
            return f"raised {type(cause).__name__} instead of {expected.__name__}"
        return f"returned instead of raising {expected.__name__}"

    @contextmanager
    def running(self, what: str) -> Iterator[None]:
        """Run the learner's code for ``what`` (seeded, restored); turn its errors into a
        :class:`LearnerError`."""
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)
                yield
        except LearnerError:
            raise
        except NotImplementedError as error:
            raise LearnerError(
                f"{what} is not implemented yet (it raises NotImplementedError): write it in "
                f"{self.path}"
            ) from error
        except Exception as error:  # the learner's code may raise anything: report it
            where = _learner_line(error, self.path)
            message = " ".join(str(error).split()) or "(no message)"
            raise LearnerError(f"{what} raised {type(error).__name__}: {message}{where}") from error


def _learner_line(error: BaseException, path: Path) -> str:
    """`` (line N of FILE)``: the last line of the learner's file in the traceback, if any."""
    resolved = str(path.resolve())
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename in (str(path), resolved)
    ]
    return f" (line {lines[-1]} of {path.name})" if lines and lines[-1] else ""


@dataclass(frozen=True)
class Exercise:
    """One exercise: what to write, what is checked, and the checker.

    Attributes:
        name: the exercise's name (``aisec exercise check NAME``; the template is
            ``exercises/NAME.py``).
        chapter: the tutorial chapter it belongs to (a key of :data:`CHAPTERS`).
        title: one line.
        statement: one paragraph: the task and its rules.
        functions: the exact signatures of what the learner writes.
        checks: what the checker checks, one guarantee each.
        checker: ``(solution, checks) -> None``; records every guarantee in ``checks``.
    """

    name: str
    chapter: int
    title: str
    statement: str
    functions: tuple[str, ...]
    checks: tuple[str, ...]
    checker: Callable[[Solution, Checks], None]

    @property
    def chapter_doc(self) -> str:
        """The chapter's page, e.g. ``docs/00-threat-models.md``."""
        return CHAPTERS[self.chapter]

    @property
    def template(self) -> str:
        """Where the learner's template is, relative to the repository: ``exercises/NAME.py``."""
        return f"exercises/{self.name}.py"


def check_solution_path(path: Path) -> Path:
    """``path`` if it is an existing file.

    Raises:
        ValueError: it does not exist or is a folder.
    """
    file = path.expanduser()
    if file.is_dir():
        raise ValueError(f"solution {str(file)!r} is a folder; expected a Python file")
    if not file.is_file():
        raise ValueError(
            f"solution file {str(file)!r} does not exist; copy the exercise's template there or "
            "give --solution FILE"
        )
    return file


def load_solution(path: Path) -> types.ModuleType:
    """Import the Python file ``path`` as a fresh module (a new name each time, no bytecode
    written next to it).

    Raises:
        LearnerError: the file is not UTF-8 text or raises while it is imported.
    """
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise LearnerError(f"cannot read {path}: {error}") from error
    name = f"aisec_exercise_solution_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and typing look their module up while it runs
    try:
        code = compile(source, str(path), "exec")
        exec(code, module.__dict__)
    except SyntaxError as error:
        sys.modules.pop(name, None)
        raise LearnerError(
            f"{path.name} does not parse: {error.msg} (line {error.lineno})"
        ) from error
    except Exception as error:
        sys.modules.pop(name, None)
        message = " ".join(str(error).split()) or "(no message)"
        where = _learner_line(error, path)
        raise LearnerError(
            f"importing {path.name} raised {type(error).__name__}: {message}{where}"
        ) from error
    return module


@contextmanager
def one_thread() -> Iterator[None]:
    """Run a check on one torch intra-op thread, restoring the count afterwards.

    The checkers' models are tiny: on a busy two-core machine a second thread made training the
    digits classifier several times slower, not faster (as for the docs' code blocks and the
    watermark detector).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_exercise(exercise: Exercise, path: Path) -> CheckResult:
    """Load the solution at ``path`` and run ``exercise``'s checker on it.

    A failure of the learner's code ends the check with one failed outcome saying what went
    wrong; the outcomes recorded before it are kept.

    Raises:
        ValueError: ``path`` does not exist or is a folder.
    """
    file = check_solution_path(path)
    began = time.perf_counter()
    checks = Checks()
    module: types.ModuleType | None = None
    try:
        with one_thread():
            module = load_solution(file)
            exercise.checker(Solution(module, file), checks)
    except LearnerError as failure:
        checks.fail("your code runs", str(failure))
    finally:
        if module is not None:
            sys.modules.pop(module.__name__, None)
    return CheckResult(exercise.name, file, tuple(checks.outcomes), time.perf_counter() - began)


# -- helpers the checkers share --------------------------------------------------------------


def as_tensor(
    value: object,
    what: str,
    *,
    shape: tuple[int, ...] | None = None,
    floating: bool | None = None,
) -> Tensor:
    """The learner's return value ``value`` as a detached tensor, checked.

    Raises:
        LearnerError: not a tensor, the wrong shape or kind, or NaN/inf in a float tensor.
    """
    if not isinstance(value, Tensor):
        raise LearnerError(f"{what} must return a torch.Tensor, got {type(value).__name__}")
    if shape is not None and tuple(value.shape) != shape:
        raise LearnerError(f"{what} must return shape {shape}, got {tuple(value.shape)}")
    if floating is True and not value.is_floating_point():
        raise LearnerError(f"{what} must return a floating-point tensor, got {value.dtype}")
    if floating is False and value.is_floating_point():
        raise LearnerError(f"{what} must return an integer or bool tensor, got {value.dtype}")
    value = value.detach()
    if value.is_floating_point() and not bool(torch.isfinite(value).all()):
        raise LearnerError(f"{what} returned NaN or infinite values")
    return value


def pct(value: float) -> str:
    """``0.8125`` as ``"81.2%"``."""
    return f"{100 * value:.1f}%" if math.isfinite(value) else str(value)
