"""Options that travel as one value: a decorator that adds a group of ``--options`` to a
command and hands the command one object built from them (``aisec.cli._model``'s model and
data options, ``aisec.cli._execution``'s executor and shard options)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from aisec.cli._common import fail

__all__ = ["grouped_options"]

_Command = TypeVar("_Command", bound=Callable[..., None])


def grouped_options(
    added: tuple[tuple[str, Any, object], ...], keyword: str, build: Callable[..., Any]
) -> Callable[[_Command], _Command]:
    """A decorator: the command line sees the options ``added`` (``(name, Annotated type,
    default)``); the command gets, as its keyword ``keyword``, ``build(**their values)``.

    A ``ValueError`` from ``build`` is one line of error (exit code 2). Decorators made by
    this function stack; a keyword whose type the command's module imports only for type
    checking must be consumed by the innermost one (its annotation is never evaluated).
    """

    def decorate(command: _Command) -> _Command:
        signature = inspect.signature(command)
        kept = [
            # typer reads the Annotated options; a stacked decorator's wrapper reads the
            # annotation text in the command's own module.
            _evaluated(parameter, inspect.unwrap(command).__globals__)
            for name, parameter in signature.parameters.items()
            if name != keyword
        ]
        extra = [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind
            )
            for name, kind, default in added
        ]

        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> None:
            values = {name: kwargs.pop(name, default) for name, _, default in added}
            try:
                built = build(**values)
            except ValueError as error:
                raise fail(error) from error
            command(*args, **kwargs, **{keyword: built})

        parameters = [*kept, *extra]
        wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
            parameters=parameters, return_annotation=None
        )
        # typer also reads __annotations__ (copied from the command, with its keyword).
        wrapper.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        return wrapper  # type: ignore[return-value]

    return decorate


def _evaluated(parameter: inspect.Parameter, namespace: dict[str, Any]) -> inspect.Parameter:
    """``parameter`` with its annotation evaluated (modules use postponed annotations)."""
    annotation = parameter.annotation
    if isinstance(annotation, str):
        annotation = eval(annotation, namespace)  # the command module's own annotation text
    return parameter.replace(annotation=annotation)
