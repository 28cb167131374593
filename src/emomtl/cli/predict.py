"""``emomtl predict``: analyse texts given on the command line or stream a whole file.

Texts on the command line are shown as a table (or JSON lines with ``--json``). With
``--input FILE --output FILE`` the input is read and written in batches of ``--batch-size`` rows, so
memory stays constant whatever the file size.

Input formats (by extension): ``.txt`` one text per line; ``.csv`` with a header row and the text in
``--column`` (default ``text``); ``.jsonl`` one JSON object per line with the text under
``--column``. Output formats: ``.csv`` (flat columns, see ``Prediction.to_flat``) or ``.jsonl``
(nested records, see ``Prediction.to_dict``); both carry the input ``line`` number and an ``error``
field.

No row is ever dropped: every input row (every line of .txt/.jsonl, every record of .csv) gives
exactly one output row, in order. A row that cannot be analysed - empty or whitespace-only text,
invalid JSON, a JSON value that is not an object, a missing column, a non-string text - is reported
on stderr with its line number and written with its ``error`` field set and no predictions. The
output is written to a temporary file and renamed at the end, so it never holds a partial result.

``--labels "joy,shame,guilt" [--kind multilabel|multiclass]`` also scores that label set zero-shot
with a label-semantic bundle (``emomtl train --head label``): a ``zero_shot`` column / record entry
flagged ``"zero_shot": true`` (see :mod:`emomtl.zero_shot`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from emomtl.cli import app
from emomtl.cli.common import AddressOption, ModelOption, console, err_console, fail
from emomtl.input_rows import INPUT_FORMATS, InputFormatError, InputRow, read_rows

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.data.tasks import Task
    from emomtl.predict import EmotionAnalyzer, Prediction

OUTPUT_FORMATS = (".csv", ".jsonl")
#: Bad rows reported individually on stderr before the rest are only counted.
MAX_REPORTED_ERRORS = 20


# --------------------------------------------------------------------------------------------------
# writing


class RowWriter:
    """Writes one output row per input row, as flat CSV or nested JSON lines."""

    def __init__(self, stream: TextIO, fmt: str, columns: list[str]) -> None:
        if fmt not in OUTPUT_FORMATS:
            raise InputFormatError(f"unsupported output format {fmt!r}; expected {OUTPUT_FORMATS}")
        self.stream, self.fmt = stream, fmt
        self.rows = 0
        self._csv: csv.DictWriter | None = None
        if fmt == ".csv":
            self._csv = csv.DictWriter(stream, fieldnames=["line", "error", *columns])
            self._csv.writeheader()

    def write(self, row: InputRow, prediction: Prediction | None) -> None:
        """Write ``row``; ``prediction`` is None exactly when the row has an error."""
        if self._csv is not None:
            record: dict[str, Any] = {"line": row.line, "error": row.error or ""}
            record.update(prediction.to_flat() if prediction else {"text": row.text or ""})
            self._csv.writerow(record)
        else:
            record = {"line": row.line, "error": row.error}
            record.update(prediction.to_dict() if prediction else {"text": row.text})
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.rows += 1


@dataclass
class FileSummary:
    """What :func:`predict_file` did."""

    rows: int = 0
    errors: int = 0
    truncated: int = 0


def predict_file(
    analyzer: EmotionAnalyzer,
    input_path: Path,
    output_path: Path,
    *,
    column: str = "text",
    batch_size: int = 512,
    progress: bool = True,
    labels: list[str] | None = None,
    kind: str = "multilabel",
) -> FileSummary:
    """Stream ``input_path`` through ``analyzer`` into ``output_path`` in batches.

    Memory holds one batch of rows; the output has exactly one row per input row (see the module
    docstring for the bad-row policy) and appears only once complete (temporary file + rename).

    Raises:
        InputFormatError: unsupported extension or missing CSV column.
    """
    in_fmt, out_fmt = input_path.suffix.lower(), output_path.suffix.lower()
    if in_fmt not in INPUT_FORMATS:
        raise InputFormatError(f"cannot read {input_path.name}: expected one of {INPUT_FORMATS}")
    if out_fmt not in OUTPUT_FORMATS:
        raise InputFormatError(f"cannot write {output_path.name}: expected one of {OUTPUT_FORMATS}")
    summary = FileSummary()
    tmp = output_path.with_name(f".{output_path.name}.partial")
    size = max(input_path.stat().st_size, 1)
    with (
        input_path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as text_in,
        tmp.open("w", encoding="utf-8", newline="") as out,
        _Progress(size, enabled=progress) as bar,
    ):
        writer = RowWriter(out, out_fmt, analyzer.flat_columns(labels, kind))
        zero_shot = None if labels is None else {"labels": labels, "kind": kind}
        batch: list[InputRow] = []
        for row in read_rows(text_in, in_fmt, column):
            batch.append(row)
            if len(batch) >= batch_size:
                _flush(analyzer, batch, writer, summary, input_path, zero_shot)
                bar.update(raw.tell(), summary.rows)
                batch = []
        _flush(analyzer, batch, writer, summary, input_path, zero_shot)
        bar.update(size, summary.rows)
    tmp.replace(output_path)
    return summary


def _flush(
    analyzer: EmotionAnalyzer,
    batch: list[InputRow],
    writer: RowWriter,
    summary: FileSummary,
    source: Path,
    zero_shot: dict[str, Any] | None = None,
) -> None:
    good = [row for row in batch if row.error is None]
    texts = [row.text for row in good]
    predictions = iter(analyzer.predict(texts, **(zero_shot or {})) if good else [])
    for row in batch:
        if row.error is not None:
            summary.errors += 1
            if summary.errors <= MAX_REPORTED_ERRORS:
                err_console.print(f"[yellow]warning:[/] {source.name} line {row.line}: {row.error}")
            elif summary.errors == MAX_REPORTED_ERRORS + 1:
                err_console.print("[yellow]warning:[/] further bad rows are counted, not listed")
            writer.write(row, None)
        else:
            prediction = next(predictions)
            summary.truncated += prediction.truncated
            writer.write(row, prediction)
        summary.rows += 1


class _Progress:
    """A rich progress bar over bytes read, with the row count; silent when disabled."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        self.total, self.enabled = total, enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(
                TextColumn("[bold]predict[/]"),
                BarColumn(),
                TextColumn("{task.percentage:>3.0f}%  {task.fields[rows]:,} rows"),
                TimeElapsedColumn(),
                console=err_console,
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("predict", total=self.total, rows=0)
        return self

    def update(self, done: int, rows: int) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=min(done, self.total), rows=rows)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# --------------------------------------------------------------------------------------------------
# display


def prediction_table(predictions: list[Prediction], spaces: list[Task]) -> Any:
    """A rich table: the text, then one column per label space, shaped by its kind.

    multilabel: the labels at or above the threshold with their probabilities (or the most
    probable one, dimmed, when none is); multiclass: the top class and its probability;
    regression: one column per target.
    """
    from rich.table import Table

    table = Table(show_lines=True)
    table.add_column("#", justify="right", style="dim")
    table.add_column("text", max_width=48, overflow="fold")
    for task in spaces:
        if task.kind == "regression":
            for target in task.labels:
                table.add_column(target, justify="right")
        else:
            table.add_column(f"{task.title} (p)")
    for index, p in enumerate(predictions, start=1):
        text = p.text + ("\n[yellow](truncated)[/]" if p.truncated else "")
        cells = [str(index), text]
        for task in spaces:
            space = p[task.record_key]
            if task.kind == "multilabel":
                shown = space.labels or ()
                if shown:
                    cells.append(", ".join(f"{k} {space.scores[k]:.2f}" for k in shown))
                else:
                    best = max(space.scores, key=space.scores.__getitem__)
                    cells.append(f"[dim]none (max {best} {space.scores[best]:.2f})[/]")
            elif task.kind == "multiclass":
                cells.append(f"{space.top} {space.scores[space.top]:.2f}")
            else:
                cells += [f"{space.scores[t]:.2f}" for t in task.labels]
        table.add_row(*cells)
    return table


# --------------------------------------------------------------------------------------------------
# command


@app.command("predict")
def predict(
    texts: Annotated[
        list[str] | None,
        typer.Argument(help="Texts to analyse (or use --input).", show_default=False),
    ] = None,
    model: ModelOption = None,
    input_path: Annotated[
        Path | None,
        typer.Option(
            "--input",
            "-i",
            help="File to analyse: .txt (one text a line), .csv, .jsonl or .parquet; "
            "a directory or a glob of them.",
        ),
    ] = None,
    output_path: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Where to write predictions: .csv, .jsonl or .parquet."
        ),
    ] = None,
    column: Annotated[
        str, typer.Option("--column", "-c", help="Text column of a .csv / key of a .jsonl input.")
    ] = "text",
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size", min=1, help="Rows read, encoded and written together (--input)."
        ),
    ] = 512,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Multi-label probability at or above which a label is listed.",
            show_default="the bundle's, 0.5",
        ),
    ] = None,
    json_lines: Annotated[
        bool, typer.Option("--json", help="Print JSON lines instead of a table.")
    ] = False,
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="Where --input runs: local (this process) | ray (a Ray cluster, Ray Data).",
        ),
    ] = "local",
    address: AddressOption = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Ray analyzer actors (one model each).")
    ] = 1,
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help='Also score this comma-separated label set zero-shot, e.g. "joy,shame,guilt" '
            "(needs a bundle trained with --head label).",
            show_default=False,
        ),
    ] = None,
    kind: Annotated[
        str,
        typer.Option("--kind", help="Kind of the --labels set: multilabel | multiclass."),
    ] = "multilabel",
) -> None:
    """Predict every label space of the model for each text (a table, JSON lines or a file)."""
    from emomtl.batchio import is_table_input
    from emomtl.bundle import BundleError, default_model_dir
    from emomtl.cli.predict_tables import predict_tables, uses_tables
    from emomtl.predict import text_problem

    if texts and input_path is not None:
        raise fail("give texts on the command line or --input FILE, not both")
    if not texts and input_path is None:
        raise fail('nothing to analyse: give texts, e.g. emomtl predict "What a day!", or --input')
    if input_path is not None and output_path is None:
        raise fail("--input needs --output FILE (.csv or .jsonl)")
    if input_path is None and output_path is not None:
        raise fail("--output is only used with --input FILE")
    if input_path is not None and not (input_path.is_file() or is_table_input(input_path)):
        raise fail(f"input file {input_path} does not exist")
    if backend not in ("local", "ray"):
        raise fail(f"--backend must be local or ray, got {backend!r}")
    for number, text in enumerate(texts or [], start=1):
        problem = text_problem(text)
        if problem is not None:
            raise fail(f"text #{number}: {problem}")
    label_set = None
    if labels is not None:
        from emomtl.zero_shot import ZeroShotError, check_label_set

        try:
            label_set = check_label_set([part.strip() for part in labels.split(",")], kind)
        except ZeroShotError as exc:
            raise fail(f"--labels {labels!r}: {exc}") from exc

    path = model if model is not None else default_model_dir()
    if model is None and not path.exists():
        raise fail(
            f"no default model at {path}. Create it with `emomtl train --preset default` "
            "(trains MH-MTL on S+T+E, a few minutes on CPU), or pass --model DIR / set "
            "$EMOMTL_MODEL"
        )
    try:
        analyzer = _load(path, threshold)
        if label_set is not None:  # refuse a bundle without the label head before any work
            from emomtl.zero_shot import require_label_head

            require_label_head(analyzer.model, f"the bundle {path}")
    except (BundleError, ValueError) as exc:
        raise fail(str(exc)) from exc

    if input_path is not None and (backend == "ray" or uses_tables(input_path, output_path)):
        assert output_path is not None
        if label_set is not None:
            raise fail(
                "--labels scores command-line texts and single .txt/.csv/.jsonl files to "
                ".csv/.jsonl; it is not available with --backend ray or Parquet tables"
            )
        predict_tables(
            analyzer, path, input_path, output_path, column=column, batch_size=batch_size,
            backend=backend, address=address, workers=workers, threshold=threshold,
        )  # fmt: skip
        return
    if input_path is not None:
        assert output_path is not None
        try:
            summary = predict_file(
                analyzer,
                input_path,
                output_path,
                column=column,
                batch_size=batch_size,
                labels=label_set,
                kind=kind,
            )
        except InputFormatError as exc:
            raise fail(str(exc)) from exc
        note = f", {summary.truncated} truncated" if summary.truncated else ""
        style = "yellow" if summary.errors else "green"
        err_console.print(
            f"[{style}]wrote {summary.rows} rows to {output_path}[/] "
            f"({summary.errors} with errors{note})"
        )
        return

    assert texts is not None
    predictions = analyzer.predict(texts, labels=label_set, kind=kind)
    if json_lines:
        for p in predictions:
            typer.echo(json.dumps(p.to_dict(), ensure_ascii=False))
    else:
        spaces = list(analyzer.spaces)
        if label_set is not None:
            spaces.append(analyzer.zero_shot_space(label_set, kind))
        console.print(prediction_table(predictions, spaces))


def _load(path: Path, threshold: float | None) -> EmotionAnalyzer:
    from emomtl.predict import EmotionAnalyzer

    with err_console.status(f"loading model {path}"):
        return EmotionAnalyzer.load(path, threshold=threshold)
