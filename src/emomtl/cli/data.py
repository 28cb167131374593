"""``emomtl data check`` and ``emomtl data fetch``: validate and download the corpora."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emomtl.cli import app
from emomtl.cli.common import CorpusOption, DataDirOption, console, err_console, fail, use_corpora

data_app = typer.Typer(
    help="Validate (check) and download (fetch) the corpora.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")


@data_app.command()
def check(
    data_dir: DataDirOption = None,
    corpus: CorpusOption = None,
    only: Annotated[
        list[str] | None,
        typer.Option("--task", help="Only this label space (code or name); repeatable."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (for machines).")
    ] = False,
) -> None:
    """Load every label space's corpus in every split mode; print sizes and distributions.

    Built-in spaces (S, T, E, G) and those of --corpus cards are checked.

    Exits with status 1 when a file is missing or malformed, or a size differs from the
    published one.
    """
    import json

    from emomtl.data.check import render, run_check

    use_corpora(corpus)
    try:
        report = run_check(data_dir, tasks=only or None)
    except ValueError as exc:  # an unknown --task
        raise fail(str(exc)) from exc
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        render(report, console)
    if not report.ok:
        raise typer.Exit(1)


@data_app.command()
def fetch(
    dest: Annotated[
        Path | None,
        typer.Option(
            "--dest",
            help="Directory to fill (default: $EMOMTL_DATA_DIR, else ./data).",
            show_default=False,
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            help="Base URL or local directory holding the release files under their original "
            "names (overrides every original location).",
            show_default=False,
        ),
    ] = None,
    corpus: Annotated[
        list[str] | None,
        typer.Option(
            "--corpus",
            help="Only this corpus folder (semeval2018-ec, emobank, alm-tales, goemotions); "
            "repeatable.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download the corpora from their original locations, verify SHA-256, place them atomically."""
    from emomtl.data.fetch import FetchError
    from emomtl.data.fetch import fetch as run_fetch
    from emomtl.data.paths import resolve_data_dir

    target = resolve_data_dir(dest)
    try:
        result = run_fetch(target, source=source, corpora=corpus or None, progress=True)
    except (FetchError, ValueError) as exc:
        raise fail(str(exc)) from None
    for name in result.already_present:
        err_console.print(f"{name}: already present and verified")
    for name in result.fetched:
        err_console.print(f"{name}: fetched and verified")
    console.print(f"corpora in {result.dest}; use --data-dir {result.dest} or EMOMTL_DATA_DIR")
