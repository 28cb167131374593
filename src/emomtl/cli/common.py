"""Options and helpers shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Corpora directory (default: $EMOMTL_DATA_DIR, else ./data).",
        show_default=False,
    ),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option(
        "--cache-dir",
        help="Feature cache directory (default: $EMOMTL_CACHE, else the user cache dir).",
        show_default=False,
    ),
]
EncoderOption = Annotated[
    str, typer.Option("--encoder", help="Registry name (minilm, mpnet), model dir or hub id.")
]
PrecisionOption = Annotated[
    str,
    typer.Option(
        "--precision", help="fp32 | bf16 | auto (bf16 where the CPU has avx512_bf16/AMX)."
    ),
]
ModelOption = Annotated[
    Path | None,
    typer.Option(
        "--model",
        "-m",
        help="Bundle directory (default: $EMOMTL_MODEL, else the user cache's "
        "emomtl/models/default).",
        show_default=False,
    ),
]
TalesSplitOption = Annotated[
    str,
    typer.Option(
        "--tales-split",
        help="Tales split: sentence (stratified 8:1:1, the paper's sizes) | story (no story in "
        "two splits).",
    ),
]
EmobankSplitOption = Annotated[
    str,
    typer.Option(
        "--emobank-split",
        help="EmoBank split: official (its split column) | paper (dedupe + random 8:1:1).",
    ),
]


AddressOption = Annotated[
    str | None,
    typer.Option(
        "--address",
        help="Ray cluster: auto | HOST:PORT (default: $RAY_ADDRESS, else a local instance).",
        show_default=False,
    ),
]
CorpusOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--corpus",
        help="Corpus card (TOML) declaring another label space; repeatable. Also read from "
        "$EMOMTL_CORPORA (a path list).",
        show_default=False,
    ),
]


def use_corpora(cards: list[Path] | None) -> None:
    """Register the label spaces of ``--corpus`` cards; a bad card exits with its error."""
    if not cards:
        return
    from emomtl.data.tasks import register_cards

    try:
        register_cards(cards)
    except ValueError as exc:  # CardError, MissingDataError, a name clash
        raise fail(str(exc)) from exc


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error in red to stderr and return the exit to raise."""
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code)
