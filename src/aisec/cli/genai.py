"""Generative AI: ``aisec watermark generate|detect`` and ``aisec detect-generated``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from aisec.cli._common import app, check_out_file, console, fail

watermark_app = typer.Typer(
    help="Watermark a language model's text and detect the watermark.", no_args_is_help=True
)
app.add_typer(watermark_app, name="watermark")

_CHECK_VOCAB = 1000
"""Vocabulary size of the throw-away scheme that checks the options before the model loads."""


@watermark_app.command("generate")
def watermark_generate(
    prompt: Annotated[str, typer.Option(help="the user prompt")],
    max_new_tokens: Annotated[int, typer.Option(help="tokens to generate")] = 200,
    model: Annotated[str, typer.Option(help="smollm2-135m-instruct or a HF name")] = (
        "smollm2-135m-instruct"
    ),
    gamma: Annotated[float, typer.Option(help="green-list fraction")] = 0.25,
    delta: Annotated[float, typer.Option(help="green logit bias")] = 2.0,
    seeding: Annotated[str, typer.Option(help="simple_1, selfhash or unigram")] = "simple_1",
    key: Annotated[int, typer.Option(help="secret watermark key")] = 15485863,
    seed: Annotated[int, typer.Option(help="sampling seed")] = 0,
    out: Annotated[Path | None, typer.Option(help="also write the text to this file")] = None,
) -> None:
    """Generate watermarked text with a language model and print it with its z-score."""
    from aisec.experiments.base import check_int
    from aisec.experiments.names import language_model, watermark_scheme
    from aisec.files import atomic_write_text
    from aisec.genai.watermark import NotEnoughTokensError, WatermarkLogitsProcessor, detect

    try:
        check_int("--max-new-tokens", max_new_tokens, 1)
        check_int("--seed", seed, 0)
        # Check the options on a throw-away scheme before the model loads.
        watermark_scheme(_CHECK_VOCAB, gamma=gamma, delta=delta, seeding=seeding, key=key)
        out = check_out_file(out)
        lm = language_model(model)
        scheme = watermark_scheme(lm.vocab_size, gamma=gamma, delta=delta, seeding=seeding, key=key)
        output = lm.generate(
            lm.chat_prompt(prompt),
            max_new_tokens=max_new_tokens,
            logits_processors=[WatermarkLogitsProcessor(scheme)],
            seed=seed,
        )[0]
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    console.print(output.text, markup=False, highlight=False)
    try:
        found = detect(scheme, output.new_ids)
        console.print(f"[dim]{len(output.new_ids)} tokens, z = {found.z_score:.2f}[/]")
    except NotEnoughTokensError as error:
        console.print(f"[dim]{len(output.new_ids)} tokens ({error})[/]")
    if out is not None:
        atomic_write_text(out, output.text)
        console.print(f"wrote {out}")


@watermark_app.command("detect")
def watermark_detect(
    file: Annotated[Path, typer.Argument(help="text file to test (generated text, no prompt)")],
    model: Annotated[str, typer.Option(help="the tokenizer's model")] = "smollm2-135m-instruct",
    gamma: Annotated[float, typer.Option(help="green-list fraction")] = 0.25,
    seeding: Annotated[str, typer.Option(help="simple_1, selfhash or unigram")] = "simple_1",
    key: Annotated[int, typer.Option(help="secret watermark key")] = 15485863,
    z_threshold: Annotated[float, typer.Option(help="verdict threshold")] = 4.0,
    ignore_repeated: Annotated[
        bool,
        typer.Option(
            "--ignore-repeated/--count-repeated",
            help="count repeated (context, token) pairs once (default: repeated human text is "
            "not called watermarked) or every time (the raw z-score)",
        ),
    ] = True,
    normalize: Annotated[bool, typer.Option(help="undo Unicode/homoglyph tricks first")] = True,
) -> None:
    """Test a text file for the watermark: z, p, verdict and a green/red token view."""
    from rich.text import Text

    from aisec.experiments.base import check_float
    from aisec.experiments.names import language_model, watermark_scheme
    from aisec.genai.watermark import detect_text

    try:
        # Check the options on a throw-away scheme before the file is read and the model loads.
        watermark_scheme(_CHECK_VOCAB, gamma=gamma, delta=0.0, seeding=seeding, key=key)
        check_float("--z-threshold", z_threshold)
        text = _read_text(file)
        if not text.strip():
            raise ValueError("not enough tokens to decide: the file is empty")
        lm = language_model(model)
        scheme = watermark_scheme(lm.vocab_size, gamma=gamma, delta=0.0, seeding=seeding, key=key)
        found, ids = detect_text(
            scheme,
            text,
            lm.tokenizer,
            normalize=normalize,
            ignore_repeated=ignore_repeated,
            z_threshold=z_threshold,
        )
    except (OSError, ValueError, TypeError) as error:
        raise fail(error) from error
    view = Text()
    for index, token in enumerate(ids.tolist()):
        piece = lm.tokenizer.decode([token])
        if not found.scored_mask[index] and not found.green_mask[index]:
            view.append(piece, style="dim")
        else:
            view.append(piece, style="green" if found.green_mask[index] else "red")
    console.print(view)
    verdict = "[bold green]watermarked[/]" if found.watermarked else "[bold]not watermarked[/]"
    console.print(
        f"z = {found.z_score:.2f}, p = {found.p_value:.3g}, green {found.num_green}/"
        f"{found.num_tokens_scored} tokens: {verdict} (threshold z > {z_threshold})"
    )
    if found.num_repeats_ignored:
        console.print(
            f"{found.num_repeats_ignored} repeated (context, token) pair(s) counted once "
            "(--count-repeated counts them every time)"
        )


@app.command("detect-generated")
def detect_generated(
    file: Annotated[Path, typer.Argument(help="text file to score")],
    model: Annotated[str, typer.Option(help="scoring model")] = "smollm2-135m-instruct",
    max_tokens: Annotated[int, typer.Option(help="longest scored prefix")] = 256,
) -> None:
    """Zero-shot scores of a text: Fast-DetectGPT, log-likelihood and log-rank (no watermark)."""
    from aisec.experiments.names import language_model
    from aisec.genai.detect import DETECTORS, MIN_SCORED_TOKENS, score_texts
    from aisec.report.console import print_rows

    if max_tokens <= MIN_SCORED_TOKENS:
        raise fail(ValueError(f"--max-tokens must be > {MIN_SCORED_TOKENS}, got {max_tokens}"))
    try:
        text = _read_text(file)
        if not text.strip():
            raise ValueError("not enough tokens to decide: the file is empty")
        lm = language_model(model)
        scores = score_texts(lm, [text], max_tokens=max_tokens)
    except (OSError, ValueError, TypeError) as error:
        raise fail(error) from error
    rows = [
        {"detector": name, "score (higher = more machine-like)": float(scores.get(name)[0])}
        for name in DETECTORS
    ]
    print_rows(console, rows)
    console.print(
        f"[dim]{int(scores.num_tokens[0])} tokens scored by {lm.name}; Fast-DetectGPT is a "
        "z-like discrepancy (about 0 for human text, clearly positive for this model's own "
        "samples); calibrate thresholds on known human text.[/]"
    )


_MAX_TEXT_BYTES = 8 * 1024 * 1024
"""The largest text file the detectors read (8 MiB: far more than any model's context)."""


def _read_text(file: Path) -> str:
    """A UTF-8 text file's content; a one-line ``ValueError`` for a folder, a binary or huge file.

    Raises:
        OSError: the file cannot be read (missing, no permission).
        ValueError: it is a folder, larger than 8 MiB, or not UTF-8 text.
    """
    if file.is_dir():
        raise ValueError(f"{str(file)!r} is a folder; expected a text file")
    size = file.stat().st_size
    if size > _MAX_TEXT_BYTES:
        raise ValueError(f"{str(file)!r} has {size:,} bytes; the detectors read at most 8 MiB")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{str(file)!r} is not UTF-8 text") from None
