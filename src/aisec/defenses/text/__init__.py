"""Text defenses: input sanitization, and a classifier behind the sanitizer.

The public entry point for services is :class:`Sanitizer`::

    from aisec.defenses.text import Sanitizer

    cleaned, findings = Sanitizer().clean(text)
    if findings:
        log.warning("suspicious input: %s", [f.kind for f in findings])

:class:`SanitizedClassifier` puts the sanitizer in front of a victim, so that an attack queries
the defended pipeline (an adaptive evaluation). Embedding-noise and adversarial training of the
tweet victims live with the zoo (:mod:`aisec.zoo.text_variants`), which trains and caches them.

- :class:`Onion`: ONION (Qi et al., 2021), removing backdoor trigger words whose deletion lowers
  a language model's perplexity, and finding a poisoned training set's trigger words.
"""

from __future__ import annotations

from aisec.defenses.text.onion import Onion, WordSuspicion
from aisec.defenses.text.sanitizer import Finding, SanitizedClassifier, Sanitizer

__all__ = ["Finding", "Onion", "SanitizedClassifier", "Sanitizer", "WordSuspicion"]
