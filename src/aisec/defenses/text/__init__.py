"""Text defenses: input sanitization, embedding-noise training and adversarial training.

The public entry point for services is :class:`Sanitizer`::

    from aisec.defenses.text import Sanitizer

    cleaned, findings = Sanitizer().clean(text)
    if findings:
        log.warning("suspicious input: %s", [f.kind for f in findings])
"""

from __future__ import annotations

from aisec.defenses.text.sanitizer import Finding, Sanitizer

__all__ = ["Finding", "Sanitizer"]
