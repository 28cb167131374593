"""``emomtl report DIR``: rebuild DIR/report.md and its figures from saved results (no training)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emomtl.cli import app
from emomtl.cli.common import CorpusOption, console, fail, use_corpora


@app.command()
def report(
    results_dir: Annotated[
        Path,
        typer.Argument(
            help="Results directory: one subdirectory per setting (as written by "
            "`emomtl reproduce --out DIR`).",
            show_default=False,
        ),
    ],
    title: Annotated[
        str | None, typer.Option("--title", help="Report title.", show_default=False)
    ] = None,
    corpus: CorpusOption = None,
) -> None:
    """Write DIR/report.md (the paper's Tables 2-4 beside ours, the MTL-vs-STL significance
    tests, every metric) and its PNG figures, reading only saved results."""
    use_corpora(corpus)
    from emomtl.report.build import build_report
    from emomtl.report.collect import ReportError

    try:
        path = build_report(results_dir, title=title)
    except ReportError as exc:
        raise fail(str(exc)) from exc
    console.print(f"report: [bold]{path}[/]")
