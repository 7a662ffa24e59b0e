"""Every attack and defense class cites a paper that resources/research_papers.md lists.

The rule: every class exported (``__all__``) by a subpackage of :mod:`aisec.attacks` or
:mod:`aisec.defenses` is a technique unless it is named in :data:`NOT_TECHNIQUES` (results,
configuration values and abstract bases). A technique's docstring must name a reference that is
an entry of ``resources/research_papers.md``: the entry's arXiv id, or its first author's
surname together with its year. A new class is therefore checked by default.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

import aisec.attacks
import aisec.defenses

PAPERS = Path(__file__).resolve().parents[2] / "resources" / "research_papers.md"

# Exported classes that are not techniques: results, values, bases, parts of a composition.
NOT_TECHNIQUES = {
    # evasion plumbing: losses, projections and the shared PGD loop's iterate
    "BallProjector",
    "ExactProjector",
    "FromLogits",
    "InputLoss",
    "Iterate",
    "LogitLoss",
    "LossContext",
    "Projection",
    # physical
    "ConditionBatch",
    "Palette",
    "PatchResult",
    # language-model poisoning: the contract and its result; ONION's per-word value
    "InstructionBackdoor",
    "PoisonedInstructions",
    "WordSuspicion",
    "PhysicalConditions",
    "RP2Result",
    # poisoning
    "PoisonResult",
    "PoisoningAttack",
    "Trigger",
    "TriggeredSet",
    # text
    "AttackRun",
    "AttackSummary",
    "AttackText",
    "GoalFunction",
    "TargetedClassification",
    "TextAttackResult",
    "UntargetedClassification",
    "Finding",
    "SanitizedClassifier",
    "TriggerOutcome",
    "TriggerSearch",
    # certify / detect / preprocess / training
    "Certificate",
    "CertifiedAccuracyCurve",
    "SmoothedPrediction",
    "BackdoorDetection",
    "DetectionMetrics",
    "Preprocessor",
    "PreprocessedModel",
    "CountLearner",
    "RoniResult",
}

# Techniques whose docstrings (in files other helpers are editing) do not cite a listed paper
# yet. The test fails when one of them gains a reference, so that it is removed from here.
MISSING_REFERENCES: set[str] = set()

_ARXIV = re.compile(r"\b\d{4}\.\d{4,5}\b")
_YEAR = re.compile(r"(?:19|20)\d\d")


@dataclass(frozen=True)
class Entry:
    """One paper of research_papers.md: its key, first author's surname, years and arXiv id."""

    key: str
    surname: str
    years: frozenset[str]
    arxiv: str | None


def _entries() -> list[Entry]:
    entries: dict[str, Entry] = {}
    for line in PAPERS.read_text(encoding="utf-8").splitlines():
        match = re.match(r"- \*\*(?P<key>[^*]+)\*\* — (?P<body>.+)", line)
        if not match:
            continue
        key = match.group("key")
        arxiv = _ARXIV.search(match.group("body"))
        if key in entries:  # a cross-reference ("see chapter 0")
            continue
        entries[key] = Entry(
            key=key,
            surname=key.split()[0],
            years=frozenset(_YEAR.findall(key)),
            arxiv=arxiv.group(0) if arxiv else None,
        )
    return list(entries.values())


def _techniques() -> dict[str, type]:
    found: dict[str, type] = {}
    for package in (aisec.attacks, aisec.defenses):
        for info in pkgutil.iter_modules(package.__path__):
            if not info.ispkg:
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for name in getattr(module, "__all__", []):
                obj = getattr(module, name)
                if inspect.isclass(obj) and name not in NOT_TECHNIQUES:
                    found[f"{module.__name__}.{name}"] = obj
    return found


def cited(doc: str, entries: list[Entry]) -> list[str]:
    """The keys of the entries that ``doc`` cites (arXiv id, or first author and year)."""
    words = set(re.findall(r"[\w-]+", doc))
    years = set(_YEAR.findall(doc))
    return [
        entry.key
        for entry in entries
        if (entry.arxiv and entry.arxiv in doc) or (entry.surname in words and entry.years & years)
    ]


def test_the_papers_file_is_well_formed() -> None:
    entries = _entries()
    assert len(entries) >= 40
    for line in PAPERS.read_text(encoding="utf-8").splitlines():
        if line.startswith("- **"):
            assert " — " in line, line
            assert '"' in line or "see chapter" in line or "Unicode" in line, line
            assert _YEAR.search(line) or "Unicode" in line, f"no year: {line}"
    for paper in [
        "1706.06083",
        "1901.08573",
        "2001.03994",
        "1902.02918",
        "1802.00420",
        "1704.01155",
        "1711.01991",
        "1711.00117",
        "1608.00853",
    ]:
        assert any(entry.arxiv == paper for entry in entries), paper
    arxiv_ids = [entry.arxiv for entry in entries if entry.arxiv]
    repeated = {a for a in arxiv_ids if arxiv_ids.count(a) > 1}
    assert not repeated, f"listed twice: {repeated}"


def test_the_rule_can_fail() -> None:
    entries = _entries()
    assert cited("Reference: Madry et al., ICLR 2018.", entries) == ["Madry et al. 2018"]
    assert cited("arXiv:1712.09665", entries) == ["Brown et al. 2017"]
    assert cited("Projected gradient descent (Madry et al.).", entries) == []  # no year
    assert cited("Nobody et al., NeurIPS 2019.", entries) == []  # not listed


def test_exempt_and_missing_lists_name_real_classes() -> None:
    exported = {
        name
        for package in (aisec.attacks, aisec.defenses)
        for info in pkgutil.iter_modules(package.__path__)
        if info.ispkg
        for name in getattr(
            importlib.import_module(f"{package.__name__}.{info.name}"), "__all__", []
        )
    }
    stale = (NOT_TECHNIQUES | MISSING_REFERENCES) - exported
    assert not stale, f"no longer exported, remove from the lists: {sorted(stale)}"


@pytest.mark.parametrize("name", sorted(_techniques()))
def test_every_attack_and_defense_class_cites_a_listed_paper(name: str) -> None:
    cls = _techniques()[name]
    keys = cited(inspect.getdoc(cls) or "", _entries())
    short = name.rsplit(".", 1)[1]
    if short in MISSING_REFERENCES:
        assert not keys, f"{short} now cites {keys}: remove it from MISSING_REFERENCES"
        pytest.xfail(f"{short}: docstring has no listed reference yet (owned by another helper)")
    assert keys, (
        f"{name}'s docstring names no paper listed in resources/research_papers.md (cite the "
        "first author and year, or the arXiv id, and add the paper to the file)"
    )
