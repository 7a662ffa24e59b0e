"""The seed's tools/ scripts run offline in their quick mode and agree with aisec's attacks.

Each script runs in a subprocess, as a user runs it, on the digits CNN (trained in seconds) and
two bundled ImageNet photos with EfficientNet-Lite0, and writes its side-by-side rows as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TOOLS = Path(__file__).resolve().parents[2] / "tools"


def _run(script: str, out: Path) -> dict[str, Any]:
    command = [sys.executable, script, "--quick", "--model", "digits-cnn", "--json", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    done = subprocess.run(command, cwd=TOOLS, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results: dict[str, Any] = json.loads(out.read_text())
    assert len(results) == 2, f"expected the digits and the photos workloads, got {list(results)}"
    return results


def _check_rows(rows: list[dict[str, Any]], eps: float) -> None:
    reference = rows[-1]
    assert reference["attack"].startswith("aisec")
    for row in rows:
        assert row["max_linf"] <= eps + 1e-6
        assert row["accuracy_under_attack"] <= row["clean_accuracy"]


@pytest.mark.parametrize("library", ["art", "foolbox"])
def test_quick_mode_runs_offline_and_fgsm_agrees_exactly(library: str, tmp_path: Path) -> None:
    pytest.importorskip(library)
    script = "art_integration.py" if library == "art" else "foolbox_examples.py"
    results = _run(script, tmp_path / "rows.json")
    for workload in results.values():
        tables = workload if isinstance(workload, dict) else {"fgsm": workload}
        assert "fgsm" in tables
        for name, rows in tables.items():
            _check_rows(rows, eps=0.1)
            if name == "fgsm":
                # FGSM is deterministic: the library's examples are aisec's, pixel for pixel.
                for row in rows[:-1]:
                    assert row["x_adv_agree"] == 1.0, row
                    assert row["outcome_agree"] == 1.0, row
            else:
                # PGD keeps a point's first adversarial iterate in aisec; outcomes still agree.
                for row in rows[:-1]:
                    assert row["outcome_agree"] == 1.0, row
