"""``emomtl label-map BUNDLE``: the cross-scheme label map of a label-semantic bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from emomtl.cli import app
from emomtl.cli.common import console, fail


@app.command("label-map")
def label_map(
    bundle: Annotated[
        Path,
        typer.Argument(help="A bundle trained with --head label.", show_default=False),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Output directory (default: BUNDLE/label_map)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Nearest labels per other space.")] = 3,
) -> None:
    """For every label of every trained space, its nearest labels in the other spaces (from the
    label head's label vectors): label_map.md, label_map.csv and label_map.png."""
    from emomtl.bundle import BundleError
    from emomtl.report.label_map import write_label_map

    try:
        paths = write_label_map(bundle, out or bundle / "label_map", k=k)
    except BundleError as exc:
        raise fail(str(exc)) from exc
    for path in paths:
        console.print(f"wrote [bold]{path}[/]")
