"""Batch prediction on Ray Data: ``emomtl predict --backend ray``.

The pipeline is ``input files -> rows -> analyzer actors -> part files``:

1. ``from_items(files)``, one item per input file; a ``map_batches`` generator reads each file
   with :func:`emomtl.batchio.iter_rows` (the local backend's reader) and yields *chunks*, one
   row per ``batch_size`` consecutive input rows (``source``, ``chunk``, and the chunk's
   ``lines`` / ``texts`` / ``errors`` as lists): streaming, a file is never held whole. Reading
   asks for no CPU (``num_cpus=0``), so it never waits for the cores the analyzers hold and is
   not fused into them (one file would then be analysed by one actor).
2. ``map_batches(_Analyzer, concurrency=workers, batch_size=1)``: an actor pool holding
   ``threads`` CPUs each; each actor loads the bundle once (encoder included) and turns one chunk
   into a typed Arrow table with :func:`emomtl.batchio.predict_records` - the rows of the local
   backend, bad rows with their ``error`` set. A chunk is exactly a batch the local backend
   predicts together, so the numbers are equal even for a bf16 encoder (whose outputs depend on
   a batch's padding). Memory per worker is one chunk plus the model.
3. ``write_parquet`` / ``write_json`` into ``<output>`` as a directory of part files (Parquet, or
   JSON lines with the same keys), written under a temporary name and renamed when complete.

Failures: a worker process that dies is restarted by Ray and its chunk retried (Ray Data's actor
defaults, ``max_restarts=-1``, ``max_task_retries=-1``); part files are named by dataset and
block, so a retried write replaces its file and no row is duplicated. An exception in a UDF (a
bundle that does not load on a worker, an unreadable file) fails the dataset, and with it the
run, with the first error.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emomtl.batchio import (
    TABLE_OUTPUTS,
    TableInputError,
    TableSummary,
    check_inputs,
    iter_rows,
    predict_records,
    records_table,
)
from emomtl.distributed import require_ray

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

#: Part-file extensions Ray Data writes, per output format.
PART_SUFFIX = {".parquet": ".parquet", ".jsonl": ".json"}


def _chunks_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            pa.field("source", pa.string()),
            pa.field("chunk", pa.int64()),
            pa.field("lines", pa.list_(pa.int64())),
            pa.field("texts", pa.list_(pa.string())),
            pa.field("errors", pa.list_(pa.string())),
        ]
    )


def read_files(batch: pa.Table, *, column: str, batch_rows: int) -> Iterator[pa.Table]:
    """Ray Data UDF: the rows of every file named in ``batch["path"]`` as chunks.

    Each output row is one chunk of at most ``batch_rows`` consecutive input rows - exactly the
    batches the local backend predicts together - with columns ``source`` (absolute path),
    ``chunk`` (its index in the file), ``lines``, ``texts`` (null where not a string) and
    ``errors`` (null on a good row), the last three lists of equal length.
    """
    import pyarrow as pa

    schema = _chunks_schema()
    for path in batch.column("path").to_pylist():
        for index, rows in enumerate(iter_rows(Path(path), column, batch_rows)):
            yield pa.Table.from_pydict(
                {
                    "source": [path],
                    "chunk": [index],
                    "lines": [[row.line for row in rows]],
                    "texts": [[row.text for row in rows]],
                    "errors": [[row.error for row in rows]],
                },
                schema=schema,
            )


class _Analyzer:
    """Ray Data actor: one :class:`~emomtl.predict.EmotionAnalyzer` per worker process, loaded
    once; ``__call__`` maps chunks of rows to a prediction table of ``schema``, one
    :meth:`~emomtl.predict.EmotionAnalyzer.predict` call per chunk (as the local backend does, so
    even bf16 encoders, whose numbers depend on the padding of a batch, give the same values)."""

    def __init__(
        self, bundle: str, threshold: float | None, schema: pa.Schema, threads: int
    ) -> None:
        import torch

        from emomtl.predict import EmotionAnalyzer

        torch.set_num_threads(threads)
        self.analyzer = EmotionAnalyzer.load(bundle, threshold=threshold)
        self.schema = schema

    def __call__(self, batch: pa.Table) -> pa.Table:
        from emomtl.input_rows import InputRow

        records = []
        for chunk in batch.to_pylist():
            rows = [
                InputRow(line, text, error)
                for line, text, error in zip(
                    chunk["lines"], chunk["texts"], chunk["errors"], strict=True
                )
            ]
            records += predict_records(self.analyzer, chunk["source"], rows)
        return records_table(records, self.schema)


def connect(address: str | None) -> bool:
    """Connect this process to Ray: ``address`` (``auto``, ``HOST:PORT``, ``ray://...``), or
    ``$RAY_ADDRESS``, or a new single-machine instance when both are unset.

    Returns:
        True when this call connected (the caller then disconnects with ``ray.shutdown()``),
        False when this process was already connected.
    """
    require_ray()
    import logging

    import ray

    if ray.is_initialized():
        return False
    import os

    from emomtl.data.tasks import CORPORA_ENV

    options: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": True}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        options["include_dashboard"] = False
    if os.environ.get(CORPORA_ENV):  # label spaces from --corpus cards reach every worker
        options["runtime_env"] = {"env_vars": {CORPORA_ENV: os.environ[CORPORA_ENV]}}
    ray.init(address=address, **options)
    return True


def predict_on_ray(
    bundle: Path,
    inputs: Sequence[Path],
    output: Path,
    *,
    schema: pa.Schema,
    column: str = "text",
    address: str | None = None,
    workers: int = 1,
    batch_size: int = 512,
    threads: int = 1,
    threshold: float | None = None,
    progress: bool = True,
) -> TableSummary:
    """Predict every row of ``inputs`` on a Ray cluster into the directory ``output``.

    Args:
        bundle: model bundle directory, readable at the same path on every node.
        inputs: input files (see :func:`emomtl.batchio.resolve_inputs`), on every node.
        output: ``<name>.parquet`` or ``<name>.jsonl``: a directory of part files is written
            there (replaced if it holds an earlier output, refused if it holds anything else).
        schema: the table schema (:func:`emomtl.batchio.table_schema` of the bundle).
        address: the cluster (see :func:`connect`).
        workers: analyzer actors (each holds ``threads`` CPUs and one model).
        batch_size: rows per analyzer call and per block read.
        threshold: SemEval threshold override (default: the bundle's).
        progress: show Ray Data's progress bars.

    Returns:
        Rows, error rows and truncated rows counted from the written output.

    Raises:
        TableInputError: bad inputs or output path (before anything runs).
        Exception: the first error of the Ray job (a ``ray.exceptions.RayError`` subclass).
    """
    fmt = output.suffix.lower()
    if fmt not in TABLE_OUTPUTS:
        raise TableInputError(f"cannot write {output.name}: expected one of {TABLE_OUTPUTS}")
    if workers < 1 or batch_size < 1 or threads < 1:
        raise ValueError(
            f"workers, batch_size, threads must be >= 1: {workers}, {batch_size}, {threads}"
        )
    check_inputs(inputs, column)
    _check_replaceable(output, fmt)
    tmp = output.with_name(f".{output.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)

    owned = connect(address)
    import ray
    import ray.data

    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = progress
        context.enable_operator_progress_bars = progress
        files = ray.data.from_items(
            [{"path": str(p)} for p in inputs], override_num_blocks=max(1, len(inputs))
        )
        rows = files.map_batches(
            read_files,
            fn_kwargs={"column": column, "batch_rows": batch_size},
            batch_size=1,
            batch_format="pyarrow",
            num_cpus=0,
        )
        predicted = rows.map_batches(
            _Analyzer,
            fn_constructor_kwargs={
                "bundle": str(Path(bundle).resolve()),
                "threshold": threshold,
                "schema": schema,
                "threads": threads,
            },
            batch_size=1,  # one chunk of batch_size rows per call
            batch_format="pyarrow",
            concurrency=workers,
            num_cpus=threads,
        )
        # writing is I/O: holding no CPU, it never waits for the analyzers to free theirs
        if fmt == ".parquet":
            predicted.write_parquet(str(tmp), ray_remote_args={"num_cpus": 0})
        else:
            predicted.write_json(str(tmp), ray_remote_args={"num_cpus": 0})
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if owned:
            ray.shutdown()
    if not tmp.exists():  # no input rows: Ray writes no part file
        tmp.mkdir()
    if output.exists():
        shutil.rmtree(output)
    tmp.rename(output)
    summary = summarize(output, fmt)
    summary.files = len(inputs)
    return summary


def _check_replaceable(output: Path, fmt: str) -> None:
    """Refuse to replace anything but an earlier output of this command."""
    if not output.exists():
        return
    if not output.is_dir():
        raise TableInputError(
            f"{output} exists and is a file; the ray backend writes a directory of part files"
        )
    strangers = [
        p.name
        for p in output.iterdir()
        if p.suffix != PART_SUFFIX[fmt] and not p.name.startswith(".")
    ]
    if strangers:
        raise TableInputError(
            f"{output} holds other files ({', '.join(sorted(strangers)[:3])}); "
            "choose another --output"
        )


def summarize(output: Path, fmt: str) -> TableSummary:
    """Rows, error rows and truncated rows of an output directory (reads two columns)."""
    summary = TableSummary()
    for part in sorted(output.glob(f"*{PART_SUFFIX[fmt]}")):
        if fmt == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(part, columns=["error", "truncated"])
            errors = table.column("error").to_pylist()
            truncated = table.column("truncated").to_pylist()
        else:
            with part.open(encoding="utf-8") as handle:
                records = [json.loads(line) for line in handle if line.strip()]
            errors = [r.get("error") for r in records]
            truncated = [r.get("truncated") for r in records]
        summary.rows += len(errors)
        summary.errors += sum(e is not None for e in errors)
        summary.truncated += sum(bool(t) for t in truncated)
    return summary


def wait_for_nodes(count: int, timeout_s: float = 60.0) -> None:
    """Block until the connected cluster has ``count`` alive nodes (raise after ``timeout_s``)."""
    import ray

    deadline = time.monotonic() + timeout_s
    while True:
        alive = sum(1 for node in ray.nodes() if node.get("Alive"))
        if alive >= count:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{alive} of {count} Ray nodes alive after {timeout_s:.0f} s")
        time.sleep(0.5)
