"""Prediction tables: the inputs and outputs of batch prediction, shared by both backends.

``emomtl predict --input PATH --output PATH`` runs either in this process (the ``local`` backend,
:func:`predict_table`) or on a Ray cluster (the ``ray`` backend, :mod:`emomtl.distributed.predict`).
Both read their inputs and build their output rows with this module, so they give the same table:

- **Inputs**: ``PATH`` is a file, a directory (its ``.txt`` / ``.csv`` / ``.jsonl`` / ``.parquet``
  files, not recursive, hidden files skipped) or a glob (``corpus/*.parquet``, ``**`` allowed);
  :func:`resolve_inputs`. Text formats are read as by :func:`emomtl.cli.predict.read_rows` (rows
  numbered by their 1-based line in the file); Parquet files by record batches of one column, rows
  numbered from 1.
- **Rows**: one output row per input row, never dropped: ``source`` (the absolute path of the input
  file), ``line`` (the row number above), ``error`` (why the row has no prediction, else null), then
  the analyzer's flat record (:meth:`emomtl.predict.EmotionAnalyzer.flat_columns`, whatever label
  spaces the bundle has; all null on an error row except ``text`` when the row had a string).
- **Outputs**: Parquet (one typed table, :func:`table_schema`) or JSON lines carrying the same
  keys. Column types come from one record the analyzer predicts for a probe text, so nothing here
  knows the label spaces.
"""

from __future__ import annotations

import glob
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from emomtl.input_rows import InputRow
    from emomtl.predict import EmotionAnalyzer

#: Input files read from a directory or glob, by extension.
TABLE_INPUTS = (".txt", ".csv", ".jsonl", ".parquet")
#: Output formats of the table writers.
TABLE_OUTPUTS = (".parquet", ".jsonl")
#: The columns every table starts with, before the analyzer's flat record.
KEY_COLUMNS = ("source", "line", "error")
_PROBE_TEXT = "schema probe"


class TableInputError(ValueError):
    """The inputs cannot be read as a whole: nothing matches, an unsupported file, a missing
    column. The message names the file."""


def resolve_inputs(spec: str | Path) -> list[Path]:
    """The input files named by ``spec``: a file, a directory or a glob, sorted, absolute.

    Raises:
        TableInputError: nothing matches, or a matched file has an unsupported extension.
    """
    text = str(spec)
    path = Path(text)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in TABLE_INPUTS
        )
        if not files:
            raise TableInputError(f"directory {path} holds no {'/'.join(TABLE_INPUTS)} files")
    elif glob.has_magic(text):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not files:
            raise TableInputError(f"no file matches {text}")
    else:
        raise TableInputError(f"input {text} does not exist")
    for file in files:
        if file.suffix.lower() not in TABLE_INPUTS:
            raise TableInputError(f"cannot read {file}: expected one of {TABLE_INPUTS}")
    return [file.resolve() for file in files]


def is_table_input(spec: str | Path) -> bool:
    """True when ``spec`` names a directory or a glob (something only the table path reads)."""
    return Path(spec).is_dir() or glob.has_magic(str(spec))


def check_inputs(files: Sequence[Path], column: str) -> None:
    """Fail early on what would fail a whole file: a CSV header or Parquet schema without
    ``column``. Cheap: reads headers and footers only.

    Raises:
        TableInputError: naming the file and its columns.
    """
    import csv

    import pyarrow.parquet as pq

    for file in files:
        suffix = file.suffix.lower()
        if suffix == ".parquet":
            try:
                names = pq.ParquetFile(file).schema_arrow.names
            except Exception as exc:
                raise TableInputError(f"cannot read {file} as Parquet: {exc}") from exc
        elif suffix == ".csv":
            with file.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
                names = next(csv.reader(handle), None) or []
                if not names:
                    continue  # an empty CSV gives no rows
        else:
            continue
        if column not in names:
            raise TableInputError(
                f"{file} has no column {column!r} (columns: {', '.join(names)}); "
                "choose one with --column"
            )


def iter_rows(path: Path, column: str, batch_rows: int = 1024) -> Iterator[list[InputRow]]:
    """Yield the rows of one input file in lists of at most ``batch_rows``, streaming.

    Text formats go through :func:`emomtl.cli.predict.read_rows` (the local backend's reader, so
    both backends number and judge rows alike); Parquet files are read one record batch at a time
    (the ``column`` alone), rows numbered from 1, and texts checked with
    :func:`emomtl.predict.text_problem`.

    Raises:
        TableInputError: unsupported extension or missing column (naming the file).
    """
    from emomtl.input_rows import InputFormatError, read_rows

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _parquet_rows(path, column, batch_rows)
        return
    if suffix not in TABLE_INPUTS:
        raise TableInputError(f"cannot read {path}: expected one of {TABLE_INPUTS}")
    batch: list[InputRow] = []
    with (
        path.open("rb") as raw,
        io.TextIOWrapper(raw, encoding="utf-8-sig", errors="replace", newline="") as text,
    ):
        try:
            for row in read_rows(text, suffix, column):
                batch.append(row)
                if len(batch) >= batch_rows:
                    yield batch
                    batch = []
        except InputFormatError as exc:
            raise TableInputError(f"{path}: {exc}") from exc
    if batch:
        yield batch


def _parquet_rows(path: Path, column: str, batch_rows: int) -> Iterator[list[InputRow]]:
    import pyarrow.parquet as pq

    from emomtl.input_rows import InputRow
    from emomtl.predict import text_problem

    file = pq.ParquetFile(path)
    if column not in file.schema_arrow.names:
        raise TableInputError(
            f"{path} has no column {column!r} (columns: {', '.join(file.schema_arrow.names)}); "
            "choose one with --column"
        )
    line = 0
    for record_batch in file.iter_batches(batch_size=batch_rows, columns=[column]):
        rows = []
        for value in record_batch.column(0).to_pylist():
            line += 1
            problem = text_problem(value)
            text = value if isinstance(value, str) else None
            rows.append(InputRow(line, text, problem))
        yield rows


# --------------------------------------------------------------------------------------------------
# rows and tables


def table_schema(analyzer: EmotionAnalyzer) -> pa.Schema:
    """The Arrow schema of a prediction table: :data:`KEY_COLUMNS`, then the flat record.

    Types are read off one record predicted for a probe text (bool, int64, float64 or string),
    so the schema follows whatever label spaces the bundle has.
    """
    import pyarrow as pa

    probe = analyzer.predict([_PROBE_TEXT])[0].to_flat()
    fields = [
        pa.field("source", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("error", pa.string()),
    ]
    for name in analyzer.flat_columns():
        fields.append(pa.field(name, _arrow_type(probe.get(name))))
    return pa.schema(fields)


def _arrow_type(value: Any) -> pa.DataType:
    import pyarrow as pa

    if isinstance(value, bool):
        return pa.bool_()
    if isinstance(value, int):
        return pa.int64()
    if isinstance(value, float):
        return pa.float64()
    return pa.string()


def predict_records(
    analyzer: EmotionAnalyzer, source: str, rows: Sequence[InputRow]
) -> list[dict[str, Any]]:
    """One record per row, in order: the key columns and the flat prediction (or the error).

    Rows with an ``error`` are not analysed; the others are predicted together in one call.
    """
    good = [row for row in rows if row.error is None]
    predictions = iter(analyzer.predict([row.text for row in good]) if good else [])
    records = []
    for row in rows:
        record: dict[str, Any] = {"source": source, "line": row.line, "error": row.error}
        if row.error is None:
            record.update(next(predictions).to_flat())
        else:
            record["text"] = row.text
        records.append(record)
    return records


def records_table(records: list[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    """``records`` as a table of ``schema`` (missing keys are null)."""
    import pyarrow as pa

    columns = {name: [r.get(name) for r in records] for name in schema.names}
    return pa.Table.from_pydict(columns, schema=schema)


class TableWriter:
    """Writes prediction tables to one Parquet or JSON-lines file, batch by batch.

    The file is written under a temporary name and renamed by :meth:`close`, so it never holds a
    partial result; :meth:`abort` removes the temporary file.
    """

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.fmt = path.suffix.lower()
        if self.fmt not in TABLE_OUTPUTS:
            raise TableInputError(f"cannot write {path.name}: expected one of {TABLE_OUTPUTS}")
        self.path, self.schema = path, schema
        self.tmp = path.with_name(f".{path.name}.partial")
        self.rows = self.errors = self.truncated = 0
        self._parquet: Any = None
        self._jsonl: Any = None
        if self.fmt == ".parquet":
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetWriter(self.tmp, schema)
        else:
            self._jsonl = self.tmp.open("w", encoding="utf-8")

    def write(self, table: pa.Table) -> None:
        """Append ``table`` (of :attr:`schema`)."""
        if self._parquet is not None:
            self._parquet.write_table(table)
        else:
            for record in table.to_pylist():
                self._jsonl.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.rows += table.num_rows
        self.errors += table.num_rows - table.column("error").null_count
        if "truncated" in table.column_names:
            self.truncated += sum(bool(v) for v in table.column("truncated").to_pylist())

    def close(self) -> None:
        """Finish the file and move it into place."""
        self._close_handles()
        self.tmp.replace(self.path)

    def abort(self) -> None:
        """Drop the partial file."""
        self._close_handles()
        self.tmp.unlink(missing_ok=True)

    def _close_handles(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None


@dataclass
class TableSummary:
    """What a table prediction did (both backends)."""

    rows: int = 0
    errors: int = 0
    truncated: int = 0
    files: int = 0


def predict_table(
    analyzer: EmotionAnalyzer,
    inputs: Sequence[Path],
    output: Path,
    *,
    column: str = "text",
    batch_size: int = 512,
    on_batch: Any = None,
) -> TableSummary:
    """The local backend's table path: every file of ``inputs`` through ``analyzer`` into one
    Parquet or JSON-lines ``output``, ``batch_size`` rows at a time (memory holds one batch).

    Args:
        on_batch: called with the running row count after each batch (progress).

    Raises:
        TableInputError: unsupported output, or an input that cannot be read (naming the file).
    """
    check_inputs(inputs, column)
    writer = TableWriter(output, table_schema(analyzer))
    try:
        for path in inputs:
            for rows in iter_rows(path, column, batch_size):
                records = predict_records(analyzer, str(path), rows)
                writer.write(records_table(records, writer.schema))
                if on_batch is not None:
                    on_batch(writer.rows)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return TableSummary(writer.rows, writer.errors, writer.truncated, len(inputs))


def read_table(path: Path) -> pa.Table:
    """Read a prediction table written by either backend: a Parquet or JSON-lines file, or a
    directory of such part files (the ray backend's output)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    files = (
        sorted(p for p in path.iterdir() if not p.name.startswith(".")) if path.is_dir() else [path]
    )
    tables = []
    for file in files:
        if file.suffix.lower() == ".parquet":
            tables.append(pq.read_table(file))
        elif file.suffix.lower() in (".jsonl", ".json"):
            with file.open(encoding="utf-8") as handle:
                tables.append(
                    pa.Table.from_pylist([json.loads(line) for line in handle if line.strip()])
                )
    if not tables:
        raise TableInputError(f"no .parquet / .jsonl table at {path}")
    return pa.concat_tables(tables, promote_options="permissive")
