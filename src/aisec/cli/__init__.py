"""The ``aisec`` command line: one module per command group.

Each module registers its commands on the one typer app (:mod:`aisec.cli._common`): it parses
and checks the options (exit code 2 and one line before any work), builds an experiment's plan,
runs it, prints the result's rows and writes its JSON.
"""

from __future__ import annotations

import importlib

from aisec.cli._common import app

__all__ = ["COMMAND_MODULES", "app", "main"]

COMMAND_MODULES = (
    "data",
    "models",
    "scan",
    "tour",
    "text",
    "evasion",
    "poison",
    "genai",
    "detect_corpus",
    "physical",
    "certify",
    "defend",
    "exercise",
)
"""The command groups, in the order ``aisec --help`` lists their commands."""


def _register_commands() -> None:
    """Import every command module: importing one adds its commands to the app."""
    for module in COMMAND_MODULES:
        importlib.import_module(f"aisec.cli.{module}")


_register_commands()


def main() -> None:
    """Entry point of the ``aisec`` console script."""
    app()
