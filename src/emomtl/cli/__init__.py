"""The ``emomtl`` command line: a thin typer shell over the library.

Each command group lives in its own module and registers itself on :data:`app`; every command
parses its options, builds a config and makes one library call. Heavy imports happen inside the
command functions so ``emomtl --help`` is instant.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="emomtl",
    help="Multi-task text emotion detection across disparate label spaces.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


# Each command module registers its commands on `app` when imported (light imports only);
# importing them in workflow order keeps `emomtl --help` in that order.
for _module in (
    "data",
    "encode",
    "train",
    "reproduce",
    "report",
    "label_map",
    "predict",
    "serve",
):
    importlib.import_module(f"emomtl.cli.{_module}")
