"""The model zoo: ``aisec models`` lists it, ``aisec train`` trains an entry or a robust variant."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from aisec.cli._common import app, console, fail


@app.command("models")
def models() -> None:
    """List the model zoo with the state of the cache."""
    from aisec.zoo import list_models

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
    which --model and aisec.zoo.load accept. The name is printed at the end.
    """
    from aisec.experiments.base import check_budget, check_float, check_int
    from aisec.zoo import train as train_model

    options = {"--eps": eps, "--sigma": sigma, "--steps": steps, "--beta": beta}
    try:
        for option, value in (("--steps", steps), ("--epochs", epochs)):
            if value is not None:
                check_int(option, value, 1)
        if beta is not None:
            check_float("--beta", beta, minimum=0.0)
        noise = None if sigma is None else check_budget("--sigma", sigma)
        if adv is None:
            given = [k for k, v in (*options.items(), ("--epochs", epochs)) if v is not None]
            if given:
                raise ValueError(f"{', '.join(given)} need --adv (pgd, trades, fast or noise)")
            _, metadata = train_model(name)
        else:
            from aisec.zoo import train_variant

            result = train_variant(
                name, adv, eps=eps, sigma=noise, steps=steps, beta=beta, epochs=epochs
            )
            name, metadata = result.name, result.metadata
    except (ValueError, TypeError) as error:
        raise fail(error) from error
    console.print(
        f"trained [bold]{name}[/] on {metadata['train_examples']} examples in "
        f"{metadata['train_seconds']:.1f} s: test accuracy {metadata['test_accuracy']:.2%}"
    )
    if adv is not None:
        from aisec.cache import cache_dir

        console.print(
            f"cached as [bold]{name}[/] in {cache_dir('models')}; load it with "
            f"aisec.zoo.load({name!r}) or --model {name}"
        )
