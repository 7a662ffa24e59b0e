"""Experiments: a typed plan in, a typed result out, one module per topic.

Each topic module (``robustness``, ``defenses``, ``physical``, ``certify``, ``text``,
``poisoning``, ``genai``) defines a frozen ``Plan`` dataclass holding every size and setting, and
``run(plan) -> Result``, whose result serialises with ``to_dict()`` and gives its table rows with
``rows()``. The tour's chapters, the command line and the user's own scripts all run experiments
this way; a chapter's quick mode is a smaller plan, a test's a tiny one. This layer is also the
one place where names become objects (:mod:`aisec.experiments.names`).
"""

from __future__ import annotations

from aisec.experiments.base import ExperimentResult

__all__ = ["ExperimentResult"]
