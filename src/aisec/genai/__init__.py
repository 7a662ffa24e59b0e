"""Generative-AI misuse: LLM watermarking (embed, detect, attack) and generated-text detection.

- :mod:`aisec.genai.watermark`: Kirchenbauer et al. green-list and Zhao et al. Unigram schemes,
  a Hugging Face logits processor and a vectorized z-test detector.
- :mod:`aisec.genai.attacks`: edits that try to wash a watermark out (substitution, deletion,
  synonyms, homoglyphs, zero-width and emoji insertion).
- :mod:`aisec.genai.detect`: zero-shot detection without a watermark (Fast-DetectGPT,
  log-likelihood, log-rank) scored by ROC AUC.

The measurements (detection rate against length, false positives on human text, the perplexity
cost of delta, robustness to attacks) are in :mod:`aisec.evaluate.genai`; the whole evaluation
is the experiment :func:`aisec.experiments.genai.run`.
"""
