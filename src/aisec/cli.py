"""The ``aisec`` command line: thin wrappers that parse, call the library and print with rich."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(
    name="aisec",
    help="aisec: attack, defend and evaluate AI systems — offline, on a CPU.",
    no_args_is_help=True,
    add_completion=False,
)
data_app = typer.Typer(help="Inspect the bundled and procedural datasets.", no_args_is_help=True)
app.add_typer(data_app, name="data")

console = Console()


def _fail(error: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {error}")
    return typer.Exit(code=2)


def _zoo_model(name: str) -> Any:
    """The zoo model ``name`` (trained and cached on first use); one seam for the tests."""
    from aisec.models import load

    return load(name)


@data_app.command("list")
def data_list() -> None:
    """List the datasets and whether they work offline."""
    from aisec.data import list_datasets

    table = Table("dataset", "offline", "description")
    table.columns[0].no_wrap = True
    for info in list_datasets():
        table.add_row(info.name, "yes" if info.offline else "no (needs internet)", info.description)
    console.print(table)


@data_app.command("show")
def data_show(
    name: Annotated[str, typer.Argument(help="dataset name, e.g. signs")],
    out: Annotated[Path, typer.Option(help="PNG file to write")] = Path("dataset.png"),
    split: Annotated[str, typer.Option(help="train or test")] = "test",
    n: Annotated[int, typer.Option(help="images in the grid")] = 48,
    seed: Annotated[int, typer.Option(help="seed of the choice / generation")] = 0,
) -> None:
    """Write a labelled grid of a dataset's images to a PNG."""
    from aisec.data import dataset_info
    from aisec.data import load as load_data
    from aisec.report.figures import save_image_grid

    try:
        info = dataset_info(name)
        # For the procedural signs, generate just what is shown; fixed datasets are subsampled.
        dataset = load_data(name, split, n=n if name == "signs" else None, seed=seed)
        shown = dataset.subset(min(n, len(dataset)), seed=seed)
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    titles = [shown.class_names[int(c)] for c in shown.labels]
    path = save_image_grid(shown.images, out, titles=titles, suptitle=f"{info.name} ({split})")
    console.print(f"wrote {len(shown)} images of [bold]{name}[/] to {path}")


@app.command("models")
def models() -> None:
    """List the model zoo with the state of the cache."""
    from aisec.models import list_models

    table = Table("model", "dataset", "cached", "test accuracy", "description")
    for column in table.columns[:4]:
        column.no_wrap = True
    for status in list_models():
        acc = "-" if status.test_accuracy is None else f"{status.test_accuracy:.2%}"
        table.add_row(
            status.name, status.dataset, "yes" if status.cached else "no", acc, status.description
        )
    console.print(table)


@app.command("train")
def train(
    name: Annotated[str, typer.Argument(help="zoo model, e.g. signs-cnn")],
    adv: Annotated[
        str | None,
        typer.Option(
            help="train a robust variant: pgd (PGD-AT), trades, fast (FGSM-RS AT) or noise "
            "(Gaussian noise, for randomized smoothing)"
        ),
    ] = None,
    eps: Annotated[
        str | None, typer.Option(help="L∞ radius of pgd/trades/fast, e.g. 8/255 (default)")
    ] = None,
    sigma: Annotated[
        str | None, typer.Option(help="noise level of --adv noise (default 0.25)")
    ] = None,
    steps: Annotated[int | None, typer.Option(help="attack steps of pgd/trades")] = None,
    beta: Annotated[float | None, typer.Option(help="TRADES's beta (default 6)")] = None,
    epochs: Annotated[
        int | None, typer.Option(help="epochs (default: the zoo entry's or base's)")
    ] = None,
) -> None:
    """Train a zoo model (resuming an interrupted run) and cache it.

    With --adv, train NAME's robust variant instead. If the settings match a zoo entry, it is
    that entry (signs-cnn --adv pgd --eps 8/255 is signs-cnn-at, PGD-2 AT; --adv noise is
    signs-cnn-noise / digits-cnn-noise, sigma 0.25). Otherwise the model is cached under a
    derived name BASE+METHOD-PARAMS (p = decimal point), e.g. signs-cnn+pgd-eps0p01569-steps7,
    which --model and aisec.models.load accept. The name is printed at the end.
    """
    from aisec.models import train as train_model

    options = {"--eps": eps, "--sigma": sigma, "--steps": steps, "--beta": beta}
    try:
        if adv is None:
            given = [k for k, v in (*options.items(), ("--epochs", epochs)) if v is not None]
            if given:
                raise ValueError(f"{', '.join(given)} need --adv (pgd, trades, fast or noise)")
            _, metadata = train_model(name)
        else:
            from aisec.defenses.training import train_variant

            result = train_variant(
                name, adv, eps=eps, sigma=sigma, steps=steps, beta=beta, epochs=epochs
            )
            name, metadata = result.name, result.metadata
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    console.print(
        f"trained [bold]{name}[/] on {metadata['train_examples']} examples in "
        f"{metadata['train_seconds']:.1f} s: test accuracy {metadata['test_accuracy']:.2%}"
    )
    if adv is not None:
        from aisec.cache import cache_dir

        console.print(
            f"cached as [bold]{name}[/] in {cache_dir('models')}; load it with "
            f"aisec.models.load({name!r}) or --model {name}"
        )


@app.command("tour")
def tour(
    out: Annotated[Path, typer.Option(help="report directory")] = Path("report"),
    only: Annotated[list[str] | None, typer.Option(help="run only this chapter")] = None,
    quick: Annotated[bool, typer.Option(help="small sizes, for CI")] = False,
    seed: Annotated[int, typer.Option(help="seed for every chapter")] = 0,
    fresh: Annotated[
        bool, typer.Option(help="run every chapter, even those whose stored results are current")
    ] = False,
) -> None:
    """Run the tutorial tour and write report/index.html and report/results.json.

    A chapter whose code, settings and versions have not changed since its last successful run
    reuses that run's results (marked as reused); --fresh runs everything again.
    """
    from aisec.report.chapters import CHAPTERS
    from aisec.report.tour import run_tour

    def announce(key: str, record: dict[str, object]) -> None:
        mark = "[green]ok[/]" if record["status"] == "ok" else f"[red]failed[/] {record['error']}"
        if record.get("reused"):
            mark += f" (reused: unchanged since a run of {record['seconds']} s)"
        else:
            mark += f" ({record['seconds']} s)"
        console.print(f"chapter [bold]{key}[/]: {mark}")

    try:
        result = run_tour(
            CHAPTERS,
            out,
            only=only,
            quick=quick,
            seed=seed,
            on_chapter=announce,
            reuse=not fresh,
        )
    except ValueError as error:
        raise _fail(error) from error
    console.print(f"report: {out / 'index.html'}  results: {out / 'results.json'}")
    if result.failed:
        raise typer.Exit(code=1)


@app.command("text-attack")
def text_attack(
    model: Annotated[str, typer.Option(help="tweets-bow, tweets-minilm or a HF model name")] = (
        "tweets-minilm"
    ),
    recipe: Annotated[
        str, typer.Option(help="textfooler, pwws, deepwordbug or bad_characters")
    ] = "textfooler",
    n: Annotated[int, typer.Option(help="test tweets to attack")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the tweet sample")] = 0,
    out: Annotated[Path | None, typer.Option(help="write metrics.json and examples here")] = None,
    search: Annotated[
        str,
        typer.Option(
            help="default (the recipe's), greedy, pwws, beam, or gradient (white-box: "
            "tweets-bow, tweets-minilm)"
        ),
    ] = "default",
) -> None:
    """Attack a text classifier on test tweets and print the summary."""
    from aisec.attacks.text import RECIPES
    from aisec.attacks.text.recipes import check_search
    from aisec.defenses.text.evaluation import run_text_attack

    if recipe not in RECIPES:
        raise _fail(ValueError(f"unknown recipe {recipe!r}; known recipes: {sorted(RECIPES)}"))
    if n < 1:
        raise _fail(ValueError(f"--n must be >= 1, got {n}"))
    try:
        check_search(search)  # before the encoder and the model load
        outcome = run_text_attack(
            model, recipe, n=n, seed=seed, out_dir=out, progress=True, search=search
        )
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    table = Table("metric", "value")
    for key, value in outcome.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4g}")
        elif isinstance(value, int | str):
            table.add_row(key, str(value))
    console.print(table)
    if out is not None:
        console.print(f"wrote {out / 'metrics.json'} and {out / 'examples.html'}")


@app.command("sanitize")
def sanitize(
    text: Annotated[str, typer.Argument(help="the text to clean")],
    spelling: Annotated[bool, typer.Option(help="also correct misspelled words")] = False,
) -> None:
    """Clean a text of Unicode tricks (and optionally misspellings) and report what was found."""
    from aisec.attacks.text.report import escape_invisible
    from aisec.defenses.text import Sanitizer

    try:
        cleaned, findings = Sanitizer(spelling=spelling).clean(text)
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    console.print(cleaned, markup=False, highlight=False)
    for finding in findings:
        console.print(f"[yellow]{finding.kind}[/] ({finding.count}): {finding.detail}")
    if findings:
        console.print(f"input as received: {escape_invisible(text)}", markup=False)
    else:
        console.print("[green]no findings[/]")


@app.command("attack")
def attack(
    model: Annotated[
        str, typer.Option(help="zoo model: signs-cnn, digits-cnn or efficientnet-lite0")
    ] = "signs-cnn",
    attack_name: Annotated[
        str,
        typer.Option(
            "--attack",
            help=(
                "fgsm, pgd, apgd-ce, apgd-dlr, apgd-t, square or cw; or an ART / Foolbox attack "
                "as art:CLASS (e.g. art:ProjectedGradientDescent, needs aisec[art]) or "
                "foolbox:CLASS (e.g. foolbox:LinfPGD, needs aisec[foolbox])"
            ),
        ),
    ] = "pgd",
    norm: Annotated[str, typer.Option(help="linf or l2")] = "linf",
    eps: Annotated[str, typer.Option(help="perturbation budget, e.g. 8/255")] = "8/255",
    n: Annotated[int, typer.Option(help="test examples to attack")] = 1000,
    steps: Annotated[
        int | None, typer.Option(help="iterations (Square: queries); default: the paper's")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="examples per attack call")] = 256,
    seed: Annotated[int, typer.Option(help="seed of the data sample and the attack")] = 0,
    out: Annotated[Path | None, typer.Option(help="write attack.json and attack.png here")] = None,
) -> None:
    """Attack a zoo model on test images and print accuracy, norms, time and model calls."""
    import json

    from aisec.evaluate import load_task, make_attack, run_attack
    from aisec.report.grid import save_attack_grid
    from aisec.threat import ThreatModel

    try:
        threat = ThreatModel(norm, eps)  # type: ignore[arg-type]
        chosen = make_attack(attack_name, threat, steps=steps, seed=seed)
        task = load_task(model, n=n, seed=seed)
        with console.status(f"{chosen.name} on {len(task.y)} {model} test images ..."):
            result = run_attack(task.model, task.x, task.y, chosen, batch_size=batch_size)
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    summary = result.summary()
    table = Table(
        "metric", "value", title=f"{chosen.name} on {model}: {threat.norm} eps={threat.eps:.4g}"
    )
    labels = {
        "clean_accuracy": "clean accuracy",
        "robust_accuracy": "robust accuracy",
        "success_rate": "success rate",
        "mean_norm": f"mean {threat.norm} norm",
        "max_norm": f"max {threat.norm} norm",
        "time_s": "time (s)",
        "forwards": "model forward passes",
        "backwards": "model backward passes",
    }
    for key, label in labels.items():
        value = summary[key]
        percent = key in ("clean_accuracy", "robust_accuracy", "success_rate")
        text = "-" if value is None else f"{value:.2%}" if percent else f"{value:.4g}"
        table.add_row(label, text)
    console.print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        record = {"model": model, "attack": repr(chosen), **result.to_dict(per_example=True)}
        (out / "attack.json").write_text(json.dumps(record, indent=2) + "\n")
        save_attack_grid(
            task.x,
            result.x_adv,
            result.y,
            result.clean_pred,
            result.adv_pred,
            out / "attack.png",
            class_names=task.class_names,
            title=f"{chosen.name} on {model}, {threat.norm} eps={threat.eps:.4g}",
        )
        console.print(f"wrote {out / 'attack.json'} and {out / 'attack.png'}")


@app.command("evaluate")
def evaluate(
    model: Annotated[
        str, typer.Option(help="zoo model: signs-cnn, digits-cnn or efficientnet-lite0")
    ] = "signs-cnn",
    norm: Annotated[str, typer.Option(help="linf or l2")] = "linf",
    eps: Annotated[str, typer.Option(help="perturbation budget, e.g. 8/255")] = "8/255",
    n: Annotated[int, typer.Option(help="test examples to evaluate")] = 500,
    batch_size: Annotated[int, typer.Option(help="examples per attack call")] = 256,
    seed: Annotated[int, typer.Option(help="seed of the data sample and the attacks")] = 0,
    out: Annotated[
        Path | None, typer.Option(help="write evaluation.json and evaluation.png here")
    ] = None,
) -> None:
    """Worst-case robust accuracy under APGD-CE, APGD-T and Square, with sanity checks."""
    import json

    from aisec.evaluate import AttackStage, evaluate_robustness, load_task
    from aisec.report.grid import save_attack_grid
    from aisec.threat import ThreatModel

    def announce(stage: AttackStage) -> None:
        console.print(
            f"{stage.attack}: broke {stage.broken} of {stage.attacked} points in "
            f"{stage.time_s:.1f} s, accuracy now {stage.robust_accuracy:.2%}"
        )

    try:
        threat = ThreatModel(norm, eps)  # type: ignore[arg-type]
        task = load_task(model, n=n, seed=seed)
        report = evaluate_robustness(
            task.model,
            task.x,
            task.y,
            threat,
            batch_size=batch_size,
            seed=seed,
            warn=False,
            on_stage=announce,
        )
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    table = Table(
        "attack",
        "attacked",
        "broken",
        "accuracy after",
        "time (s)",
        "forwards",
        "backwards",
        title=f"{model}: {threat.norm} eps={threat.eps:.4g}, {report.n} points",
    )
    table.add_row("clean", str(report.n), "-", f"{report.clean_accuracy:.2%}", "-", "-", "-")
    for stage in report.stages:
        table.add_row(
            stage.attack,
            str(stage.attacked),
            str(stage.broken),
            f"{stage.robust_accuracy:.2%}",
            f"{stage.time_s:.1f}",
            str(stage.forwards),
            str(stage.backwards),
        )
    console.print(table)
    console.print(
        f"worst-case robust accuracy [bold]{report.robust_accuracy:.2%}[/] "
        f"(clean {report.clean_accuracy:.2%}) in {report.time_s:.1f} s"
    )
    for message in report.warnings:
        console.print(f"[yellow]warning:[/] {message}")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        record = {"model": model, **report.to_dict(per_example=True)}
        (out / "evaluation.json").write_text(json.dumps(record, indent=2) + "\n")
        save_attack_grid(
            task.x,
            report.x_adv,
            report.y,
            report.clean_pred,
            report.adv_pred,
            out / "evaluation.png",
            class_names=task.class_names,
            title=f"worst case on {model}, {threat.norm} eps={threat.eps:.4g}",
        )
        console.print(f"wrote {out / 'evaluation.json'} and {out / 'evaluation.png'}")


@app.command("poison")
def poison(
    out: Annotated[Path, typer.Option(help="write metrics.json and PNGs of the samples here")],
    dataset: Annotated[str, typer.Option(help="signs or digits")] = "signs",
    attack_name: Annotated[
        str, typer.Option("--attack", help="badnets, sticker (signs) or clean-label")
    ] = "badnets",
    rate: Annotated[float, typer.Option(help="fraction of the training set to poison")] = 0.05,
    target: Annotated[str, typer.Option(help="target class name or label")] = "speed limit 30",
    source: Annotated[
        str | None, typer.Option(help="source class (default: all others; sticker: stop)")
    ] = None,
    train_n: Annotated[
        int | None, typer.Option(help="training images (default: the model recipe's)")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs (default: the recipe's)")] = None,
    clean_with: Annotated[
        list[str] | None,
        typer.Option(
            help="detector whose flags are removed before a retraining (repeat for several; "
            "none: no cleaning): spectral_signatures, spectral_signatures_signed, "
            "activation_clustering; default the last two"
        ),
    ] = None,
    expected_fraction: Annotated[
        float | None,
        typer.Option(help="detectors' bound on a class's poisoned share (default: the true one)"),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed of data, models and the poisoned samples")] = 0,
) -> None:
    """Poison a training set, train, measure, detect, clean, retrain and measure again."""
    import json

    from aisec.cache import cache_dir
    from aisec.evaluate.poisoning import CLEAN_WITH, ExperimentSetup, poisoning_experiment
    from aisec.report.chapters.poisoning import poisoning_figures

    try:
        setup = ExperimentSetup(dataset=dataset, train_n=train_n, epochs=epochs, seed=seed)
        report = poisoning_experiment(
            attack_name,
            rate=rate,
            target=target,
            source=source,
            setup=setup,
            clean_with=None if clean_with == ["none"] else clean_with or CLEAN_WITH,
            expected_fraction=expected_fraction,
            checkpoint_dir=cache_dir("poisoning"),
        )
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    table = Table(
        "model trained on",
        "clean accuracy",
        "attack success",
        title=(
            f"{attack_name} on {dataset}: {report.poisoned_examples} of {report.train_examples} "
            f"training images poisoned ({report.poison_rate:.2%}), target {report.target!r}"
        ),
    )
    rows = [("clean data", report.clean_model), ("poisoned data", report.poisoned_model)]
    rows += [(f"cleaned with {name}", metrics) for name, metrics in report.cleaning.items()]
    for name, metrics in rows:
        table.add_row(name, f"{metrics['clean_accuracy']:.2%}", f"{metrics['attack_success']:.2%}")
    console.print(table)
    detection = Table("detector", "precision", "recall", "flagged", title="detection")
    for name, found in report.detection.items():
        detection.add_row(
            name, f"{found['precision']:.2%}", f"{found['recall']:.2%}", str(found["flagged"])
        )
    console.print(detection)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    written = [out / "metrics.json"]
    written += [path for path, _ in poisoning_figures(report, out, attack_name)]
    console.print("wrote " + ", ".join(str(path) for path in written))


watermark_app = typer.Typer(
    help="Watermark a language model's text and detect the watermark.", no_args_is_help=True
)
app.add_typer(watermark_app, name="watermark")


def _watermark_scheme(vocab_size: int, gamma: float, delta: float, seeding: str, key: int) -> Any:
    from aisec.genai.watermark import SEEDING_SCHEMES, UnigramScheme, WatermarkScheme

    if seeding not in (*SEEDING_SCHEMES, "unigram"):
        raise ValueError(
            f"unknown seeding {seeding!r}; expected one of {[*SEEDING_SCHEMES, 'unigram']}"
        )
    if seeding == "unigram":
        return UnigramScheme(vocab_size, gamma=gamma, delta=delta, key=key)
    return WatermarkScheme(vocab_size, gamma=gamma, delta=delta, seeding=seeding, key=key)


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
    from aisec.genai.watermark import NotEnoughTokensError, WatermarkLogitsProcessor, detect
    from aisec.models.language import load_language_model

    if max_new_tokens < 1:
        raise _fail(ValueError(f"--max-new-tokens must be >= 1, got {max_new_tokens}"))
    try:
        _watermark_scheme(1000, gamma, delta, seeding, key)  # check the options before loading
        lm = load_language_model(model)
        scheme = _watermark_scheme(lm.vocab_size, gamma, delta, seeding, key)
        output = lm.generate(
            lm.chat_prompt(prompt),
            max_new_tokens=max_new_tokens,
            logits_processors=[WatermarkLogitsProcessor(scheme)],
            seed=seed,
        )[0]
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    console.print(output.text, markup=False, highlight=False)
    try:
        found = detect(scheme, output.new_ids)
        console.print(f"[dim]{len(output.new_ids)} tokens, z = {found.z_score:.2f}[/]")
    except NotEnoughTokensError as error:
        console.print(f"[dim]{len(output.new_ids)} tokens ({error})[/]")
    if out is not None:
        out.write_text(output.text)
        console.print(f"wrote {out}")


@watermark_app.command("detect")
def watermark_detect(
    file: Annotated[Path, typer.Argument(help="text file to test (generated text, no prompt)")],
    model: Annotated[str, typer.Option(help="the tokenizer's model")] = "smollm2-135m-instruct",
    gamma: Annotated[float, typer.Option(help="green-list fraction")] = 0.25,
    seeding: Annotated[str, typer.Option(help="simple_1, selfhash or unigram")] = "simple_1",
    key: Annotated[int, typer.Option(help="secret watermark key")] = 15485863,
    z_threshold: Annotated[float, typer.Option(help="verdict threshold")] = 4.0,
    ignore_repeated: Annotated[bool, typer.Option(help="count repeated n-grams once")] = False,
    normalize: Annotated[bool, typer.Option(help="undo Unicode/homoglyph tricks first")] = True,
) -> None:
    """Test a text file for the watermark: z, p, verdict and a green/red token view."""
    from rich.text import Text

    from aisec.genai.watermark import detect_text
    from aisec.models.language import load_language_model

    try:
        text = file.read_text()
        if not text.strip():
            raise ValueError("not enough tokens to decide: the file is empty")
        _watermark_scheme(1000, gamma, 0.0, seeding, key)  # check the options before loading
        lm = load_language_model(model)
        scheme = _watermark_scheme(lm.vocab_size, gamma, 0.0, seeding, key)
        found, ids = detect_text(
            scheme,
            text,
            lm.tokenizer,
            normalize=normalize,
            ignore_repeated=ignore_repeated,
            z_threshold=z_threshold,
        )
    except (OSError, ValueError, TypeError) as error:
        raise _fail(error) from error
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
        f"{found.num_tokens_scored} tokens: {verdict} (threshold z >= {z_threshold})"
    )


@app.command("detect-generated")
def detect_generated(
    file: Annotated[Path, typer.Argument(help="text file to score")],
    model: Annotated[str, typer.Option(help="scoring model")] = "smollm2-135m-instruct",
    max_tokens: Annotated[int, typer.Option(help="longest scored prefix")] = 256,
) -> None:
    """Zero-shot scores of a text: Fast-DetectGPT, log-likelihood and log-rank (no watermark)."""
    from aisec.genai.detect import DETECTORS, score_texts
    from aisec.models.language import load_language_model

    try:
        text = file.read_text()
        if not text.strip():
            raise ValueError("not enough tokens to decide: the file is empty")
        lm = load_language_model(model)
        scores = score_texts(lm, [text], max_tokens=max_tokens)
    except (OSError, ValueError, TypeError) as error:
        raise _fail(error) from error
    table = Table("detector", "score (higher = more machine-like)")
    for name in DETECTORS:
        table.add_row(name, f"{float(scores.get(name)[0]):.3f}")
    console.print(table)
    console.print(
        f"[dim]{int(scores.num_tokens[0])} tokens scored by {lm.name}; Fast-DetectGPT is a "
        "z-like discrepancy (about 0 for human text, clearly positive for this model's own "
        "samples); calibrate thresholds on known human text.[/]"
    )


@app.command("physical")
def physical(
    source: Annotated[str, typer.Option(help="sign class the sticker goes on")] = "stop",
    target: Annotated[
        str, typer.Option(help="class the sign should be read as; 'none' for untargeted")
    ] = "speed limit 30",
    out: Annotated[Path, typer.Option(help="directory for the sticker, figures, metrics.json")] = (
        Path("physical")
    ),
    mask: Annotated[
        str, typer.Option(help="bars, thin-bars, rectangles, full, or a 256x256 PNG mask")
    ] = "bars",
    steps: Annotated[int, typer.Option(help="RP2 optimisation steps")] = 300,
    conditions: Annotated[int, typer.Option(help="held-out physical conditions")] = 200,
    seed: Annotated[int, typer.Option(help="seed of the optimisation (held-out: seed + 1)")] = 0,
    patch: Annotated[bool, typer.Option(help="also train a universal patch on sign scenes")] = (
        True
    ),
    imagenet: Annotated[
        bool, typer.Option(help="also train a patch on EfficientNet-Lite0 (slow on a CPU)")
    ] = False,
) -> None:
    """RP2 stickers on a sign (stop -> speed limit 30), held-out evaluation, printable PNG."""
    from aisec.attacks.physical.scenario import ScenarioConfig, run_scenario
    from aisec.report.chapters.physical import write_scenario_outputs

    try:
        config = ScenarioConfig(
            source=source,
            target=None if target.lower() == "none" else target,
            mask=mask,
            steps=steps,
            n_conditions=conditions,
            seed=seed,
            eval_seed=seed + 1,
            signs_patch=patch,
            imagenet_patch=imagenet,
        )
        model = _zoo_model("signs-cnn")
        with console.status("optimising the sticker and evaluating held-out conditions ..."):
            result = run_scenario(model, config)
        paths = write_scenario_outputs(result, out)
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    metrics = result.metrics()
    table = Table(
        "sign",
        "read as target",
        f"read as {source!r}",
        title=(
            f"{metrics['n_conditions']} held-out conditions, sticker {metrics['sticker_area']:.0%} "
            "of the sign"
        ),
    )
    for variant in ("clean", "rp2", "control"):
        record = metrics[variant]
        hit = record["targeted_success"]
        table.add_row(
            variant, "-" if hit is None else f"{hit:.1%}", f"{record['source_accuracy']:.1%}"
        )
    console.print(table)
    for line in result.unmet_targets():
        console.print(f"[yellow]target not reached:[/] {line}")
    console.print(f"wrote {paths['sticker']} (printable) and {paths['metrics']}")


@app.command("certify")
def certify(
    model: Annotated[
        str,
        typer.Option(help="zoo model (the base classifier; the *-noise ones are trained for it)"),
    ] = "digits-cnn-noise",
    sigma: Annotated[float, typer.Option(help="noise standard deviation σ (inputs in [0, 1])")] = (
        0.25
    ),
    n: Annotated[int, typer.Option(help="noisy copies to estimate p_A (and for PREDICT)")] = 1000,
    n0: Annotated[int, typer.Option(help="noisy copies to select the class")] = 100,
    alpha: Annotated[float, typer.Option(help="error probability of each certificate")] = 0.001,
    points: Annotated[int, typer.Option(help="test points to certify")] = 100,
    batch_size: Annotated[int, typer.Option(help="noisy copies per forward pass")] = 1000,
    seed: Annotated[int, typer.Option(help="seed of the data sample and the noise")] = 0,
    predict: Annotated[bool, typer.Option(help="also run PREDICT with n copies")] = True,
    out: Annotated[
        Path | None, typer.Option(help="write metrics.json and certified_accuracy.png here")
    ] = None,
) -> None:
    """Randomized smoothing (Cohen et al. 2019): certified accuracy against L2 radius.

    Each certificate holds with probability at least 1 - alpha: the smoothed classifier keeps
    its class within the certified L2 radius. metrics.json holds the settings, the certified
    accuracy per radius, the abstain rate, the smoothed classifier's clean accuracy and times.
    """
    from aisec.data import load as load_data
    from aisec.defenses.certify import evaluate_smoothing, write_smoothing_outputs
    from aisec.models import model_spec

    try:
        if points < 1:
            raise ValueError(f"--points must be >= 1, got {points}")
        spec = model_spec(model)
        if spec.dataset == "signs":
            data = load_data("signs", "test", n=points, seed=seed)
        else:
            data = load_data(spec.dataset, "test")
            data = data.subset(min(points, len(data)), seed=seed)
        base = _zoo_model(model)
        with console.status(f"certifying {len(data)} points with {n0} + {n} noisy copies ..."):
            evaluation = evaluate_smoothing(
                base,
                data.images,
                data.labels,
                sigma=sigma,
                n0=n0,
                n=n,
                alpha=alpha,
                batch_size=batch_size,
                seed=seed,
                predict=predict,
                name=model,
            )
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    curve = evaluation.curve
    table = Table(
        "L2 radius",
        "certified accuracy",
        title=f"{model}, σ={sigma:g}: n0={n0}, n={n}, α={alpha:g}, {curve.n_points} points",
    )
    shown = sorted({round(i * (len(curve.radii) - 1) / 5) for i in range(6)})
    for index in shown:
        table.add_row(f"{curve.radii[index]:.3f}", f"{curve.certified_accuracy[index]:.1%}")
    console.print(table)
    line = (
        f"smoothed clean accuracy {curve.clean_accuracy:.1%} (certify), abstained on "
        f"{curve.abstain_rate:.1%}; base model {evaluation.base_clean_accuracy:.1%} clean, "
        f"{evaluation.base_noisy_accuracy:.1%} under noise"
    )
    if evaluation.prediction is not None:
        line += (
            f"; PREDICT {evaluation.prediction.accuracy(evaluation.labels):.1%} correct, "
            f"{float(evaluation.prediction.abstained.double().mean()):.1%} abstained"
        )
    console.print(line + f"; {evaluation.time_s:.1f} s")
    if out is not None:
        paths = write_smoothing_outputs(evaluation, out)
        console.print(f"wrote {paths['metrics']} and {paths['figure']}")


@app.command("defend")
def defend(
    model: Annotated[
        str, typer.Option(help="zoo model, e.g. signs-cnn, signs-cnn-at or digits-cnn")
    ] = "signs-cnn",
    defense: Annotated[
        list[str] | None,
        typer.Option(
            help="a preprocessing defense per table row (repeatable): jpeg:75, blur:3:1.0, "
            "median:3, bits:4 or resize-pad:0.8; join with + to stack (jpeg:75+bits:4). "
            "Default: all five"
        ),
    ] = None,
    norm: Annotated[str, typer.Option(help="linf or l2")] = "linf",
    eps: Annotated[str, typer.Option(help="perturbation budget, e.g. 8/255")] = "8/255",
    n: Annotated[int, typer.Option(help="test examples to evaluate")] = 200,
    steps: Annotated[int, typer.Option(help="PGD (transfer) and APGD (adaptive) steps")] = 100,
    eot_samples: Annotated[
        int, typer.Option(help="random draws averaged per forward pass (EOT)")
    ] = 8,
    square_queries: Annotated[
        int, typer.Option(help="Square attack's query budget (0: no Square)")
    ] = 1000,
    batch_size: Annotated[int, typer.Option(help="examples per attack call")] = 256,
    seed: Annotated[int, typer.Option(help="seed of the data sample, defenses and attacks")] = 0,
    out: Annotated[Path | None, typer.Option(help="write metrics.json here")] = None,
) -> None:
    """Preprocessing defenses evaluated honestly: clean, non-adaptive and adaptive accuracy.

    Non-adaptive: PGD on the bare model, examples fed through the defense (what naive
    evaluations report). Adaptive: APGD-CE, APGD-T and Square on the defended model, with BPDA
    for non-differentiable defenses and EOT for randomized ones; worst case per example (the
    transfer examples included), judged by the real defended model.

    metrics.json keys: "model"; "threat" (norm, eps, bounds); "n"; "settings" (steps,
    eot_samples, square_queries, seed, transfer_attack, adaptive_attacks); "rows", a list with one
    entry per defense, the bare model first as "no defense", each with "name", "defenses" (the
    specs), "differentiable", "randomized", "bpda", "eot_samples", "clean_accuracy",
    "undefended_clean_accuracy", "non_adaptive_accuracy", "adaptive_accuracy", "robust_accuracy"
    (equal to the adaptive one), "transfer_attack", "stages" (per adaptive attack: attack,
    attacked, broken, robust_accuracy, time_s), "naive_gradient_warnings", "warnings", "time_s".
    """
    from aisec.data import load as load_data
    from aisec.defenses.preprocess import parse_defense
    from aisec.evaluate import DefenseCase, DefenseReport, compare_defenses
    from aisec.models import model_spec
    from aisec.threat import ThreatModel

    specs = defense or ["jpeg:75", "blur:3:1.0", "median:3", "bits:4", "resize-pad:0.8"]
    try:
        threat = ThreatModel(norm, eps)  # type: ignore[arg-type]
        for name, value in (("--n", n), ("--steps", steps), ("--eot-samples", eot_samples)):
            if value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if square_queries < 0:
            raise ValueError(f"--square-queries must be >= 0, got {square_queries}")
        rows = [[parse_defense(part, seed=seed) for part in spec.split("+")] for spec in specs]
        dataset = model_spec(model).dataset
        if dataset == "signs":
            data = load_data("signs", "test", n=n, seed=seed)
        else:
            data = load_data(dataset, "test")
            data = data.subset(min(n, len(data)), seed=seed)
        net = _zoo_model(model).eval()
        cases = [DefenseCase("no defense", net)]
        cases += [DefenseCase(spec, net, tuple(row)) for spec, row in zip(specs, rows, strict=True)]

        def announce(report: DefenseReport) -> None:
            console.print(
                f"{report.name}: clean {report.clean_accuracy:.1%}, non-adaptive "
                f"{report.non_adaptive_accuracy:.1%}, adaptive {report.adaptive_accuracy:.1%} "
                f"({report.time_s:.1f} s)"
            )

        with console.status(f"evaluating {len(cases)} rows on {len(data)} {model} images ..."):
            table = compare_defenses(
                cases,
                data.images,
                data.labels,
                threat,
                steps=steps,
                eot_samples=eot_samples,
                square_queries=square_queries,
                batch_size=batch_size,
                seed=seed,
                on_row=announce,
            )
    except (ValueError, TypeError) as error:
        raise _fail(error) from error
    shown = Table(
        "defense",
        "clean",
        "non-adaptive PGD",
        "adaptive (BPDA/EOT)",
        "gradient",
        title=f"{model}: {threat.norm} eps={threat.eps:.4g}, {table.n} points",
    )
    for report in table.rows:
        kind = "BPDA" if not report.differentiable else "exact"
        if report.randomized:
            kind += f" + EOT×{report.eot_samples}"
        shown.add_row(
            report.name,
            f"{report.clean_accuracy:.1%}",
            f"{report.non_adaptive_accuracy:.1%}",
            f"[bold]{report.adaptive_accuracy:.1%}[/]",
            kind,
        )
    console.print(shown)
    console.print(
        "[dim]robust accuracy is the adaptive column; the non-adaptive one is what an evaluation "
        "that ignores the defense would report.[/]"
    )
    if out is not None:
        import json

        out.mkdir(parents=True, exist_ok=True)
        record = {"model": model, **table.to_dict()}
        (out / "metrics.json").write_text(json.dumps(record, indent=2) + "\n")
        console.print(f"wrote {out / 'metrics.json'}")


def main() -> None:
    """Entry point of the ``aisec`` console script."""
    app()


if __name__ == "__main__":
    main()
