"""``emomtl predict --input PATH --output PATH`` on prediction tables (:mod:`emomtl.batchio`).

Used for every ``--backend ray`` run and, with the local backend, whenever the input is Parquet,
a directory or a glob, or the output is Parquet. (A single ``.txt`` / ``.csv`` / ``.jsonl`` input
written to ``.csv`` / ``.jsonl`` keeps the line-by-line path of :mod:`emomtl.cli.predict`.)
The local backend writes one file; the ray backend writes a directory of part files at the output
path. Both give the same rows: ``source``, ``line``, ``error`` and the flat record.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from emomtl.cli.common import err_console, fail

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.predict import EmotionAnalyzer


def uses_tables(input_path: Path, output_path: Path | None) -> bool:
    """True when the local backend must take the table path for these paths."""
    from emomtl.batchio import is_table_input

    suffixes = {input_path.suffix.lower(), output_path.suffix.lower() if output_path else ""}
    return is_table_input(input_path) or ".parquet" in suffixes


def predict_tables(
    analyzer: EmotionAnalyzer,
    bundle: Path,
    input_path: Path,
    output_path: Path,
    *,
    column: str,
    batch_size: int,
    backend: str,
    address: str | None,
    workers: int,
    threshold: float | None,
) -> None:
    """Resolve the inputs, run the backend, print the summary (errors exit non-zero)."""
    from emomtl.batchio import (
        TableInputError,
        resolve_inputs,
        table_schema,
    )

    try:
        inputs = resolve_inputs(input_path)
        if backend == "ray":
            from emomtl.distributed.predict import predict_on_ray

            err_console.print(
                f"[bold]predict on Ray[/]: {len(inputs)} file(s), {workers} worker(s), "
                f"batches of {batch_size} -> {output_path}/"
            )
            summary = predict_on_ray(
                bundle,
                inputs,
                output_path,
                schema=table_schema(analyzer),
                column=column,
                address=address,
                workers=workers,
                batch_size=batch_size,
                threshold=threshold,
            )
        else:
            summary = _predict_local(analyzer, inputs, output_path, column, batch_size)
    except TableInputError as exc:
        raise fail(str(exc)) from exc
    except ImportError as exc:
        raise fail(str(exc)) from exc
    except Exception as exc:
        if type(exc).__module__.startswith("ray"):  # the first error of the Ray job
            raise fail(f"the Ray job failed: {_first_line(exc)}") from exc
        raise
    note = f", {summary.truncated} truncated" if summary.truncated else ""
    style = "yellow" if summary.errors else "green"
    err_console.print(
        f"[{style}]wrote {summary.rows} rows from {summary.files} file(s) to {output_path}[/] "
        f"({summary.errors} with errors{note})"
    )


def _predict_local(
    analyzer: EmotionAnalyzer, inputs: list[Path], output: Path, column: str, batch_size: int
):
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from emomtl.batchio import predict_table

    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]predict[/] {task.fields[rows]:,} rows"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("predict", total=None, rows=0)
        return predict_table(
            analyzer,
            inputs,
            output,
            column=column,
            batch_size=batch_size,
            on_batch=lambda rows: bar.update(task, rows=rows),
        )


def _first_line(exc: BaseException) -> str:
    """The innermost error's message: Ray wraps a worker's exception with its traceback."""
    cause = getattr(exc, "cause", None) or exc.__cause__
    while cause is not None and (getattr(cause, "cause", None) or cause.__cause__) is not None:
        cause = getattr(cause, "cause", None) or cause.__cause__
    text = str(cause if cause is not None else exc).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
