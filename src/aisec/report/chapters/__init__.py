"""The tour's chapters, in reading order."""

from __future__ import annotations

from aisec.report.chapters.defenses import run_defenses
from aisec.report.chapters.evasion import run_evasion
from aisec.report.chapters.foundation import run_foundation
from aisec.report.chapters.genai import run_genai
from aisec.report.chapters.llm_poisoning import run_llm_poisoning
from aisec.report.chapters.physical import run_physical
from aisec.report.chapters.poisoning import run_poisoning_chapter
from aisec.report.chapters.text import run_text
from aisec.report.tour import Chapter

__all__ = ["CHAPTERS"]

CHAPTERS: tuple[Chapter, ...] = (
    Chapter(
        "foundation", "Foundation: data, models and the offline ImageNet model", run_foundation
    ),
    Chapter("evasion", "Evasion attacks and worst-case robustness evaluation", run_evasion),
    Chapter("physical", "Physical attacks: stickers and patches that fool a camera", run_physical),
    Chapter("defenses", "Vision defenses, evaluated against adaptive attacks", run_defenses),
    Chapter(
        "text",
        "Text attacks and defenses: words, typos, invisible characters and spam filters",
        run_text,
    ),
    Chapter(
        "poisoning", "Data poisoning: backdoors, their detection and removal", run_poisoning_chapter
    ),
    Chapter("genai", "Generative AI: LLM watermarks and generated-text detection", run_genai),
    Chapter(
        "llm_poisoning",
        "Poisoning a language model: backdoors in SmolLM2's fine-tuning data",
        run_llm_poisoning,
    ),
)
