"""The layer contracts hold, and they catch what they forbid.

``make test`` runs ``lint-imports`` on the tree; these tests also run it on a copy of the
package with one violation planted, so a contract that stopped checking would be noticed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e '.[dev]')"
)


def _lint(source_root: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"PYTHONPATH": str(source_root)}
    return subprocess.run(
        [str(LINT_IMPORTS), str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of ``src/aisec`` where ``module`` (a path under it) gets ``line`` appended."""
    root = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "aisec", root / "aisec", ignore=shutil.ignore_patterns("*.pyc"))
    target = root / "aisec" / module
    target.write_text(target.read_text() + "\n" + line + "\n")
    return root


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    run = _lint(ROOT / "src", tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "threat.py",
            "def _later() -> None:\n    from aisec.cli import app  # noqa: F401",
            "Layers",
        ),
        ("attacks/evasion/fgsm.py", "import aisec.attacks.evasion.pgd  # noqa: F401", "cycles"),
        ("cli/data.py", "import aisec.report.chapters.evasion  # noqa: F401", "command line"),
    ],
    ids=["upward-import-inside-a-function", "cycle-between-siblings", "cli-runs-a-chapter"],
)
def test_a_planted_violation_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    if module.startswith("attacks/evasion/fgsm"):
        # pgd.py must import fgsm.py for the cycle: plant the other half too.
        root = _copy_with(tmp_path, module, line)
        pgd = root / "aisec" / "attacks" / "evasion" / "pgd.py"
        pgd.write_text(pgd.read_text() + "\nimport aisec.attacks.evasion.fgsm  # noqa: F401\n")
    else:
        root = _copy_with(tmp_path, module, line)
    run = _lint(root, tmp_path)
    assert run.returncode != 0
    _, header, broken = run.stdout.partition("Broken contracts")
    assert header, run.stdout + run.stderr
    assert contract in broken, run.stdout
