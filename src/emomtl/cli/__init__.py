"""The ``emomtl`` command line: a thin typer shell over the library.

Each command group lives in its own module and registers itself on :data:`app`; every command
parses its options, builds a config and makes one library call. Heavy imports happen inside the
command functions so ``emomtl --help`` is instant.
"""

from __future__ import annotations

import typer

app = typer.Typer(
    name="emomtl",
    help="Multi-task text emotion detection across disparate label spaces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _register() -> None:
    import importlib

    for module in ("data", "encode", "train", "reproduce", "report", "predict", "serve"):
        try:
            importlib.import_module(f"emomtl.cli.{module}")
        except ModuleNotFoundError as exc:  # a command module not written yet
            if exc.name != f"emomtl.cli.{module}":
                raise


_register()
