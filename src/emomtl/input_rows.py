"""Reading texts to predict from files: every input row becomes one :class:`InputRow`.

Formats (by the caller's choice, usually the file extension): ``txt`` one text per line; ``csv``
with a header row and the text in ``column``; ``jsonl`` one JSON object per line with the text
under ``column``. No row is dropped: a row without a usable text (empty, invalid JSON, not an
object, missing column, not a string) is an :class:`InputRow` with its 1-based line number and
the reason in ``error``. A file that cannot be read as a whole (a missing CSV column) raises
:class:`InputFormatError`. Used by ``emomtl predict`` and by :mod:`emomtl.batchio`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TextIO

#: Input formats, as file extensions.
INPUT_FORMATS = (".txt", ".csv", ".jsonl")


@dataclass(frozen=True)
class InputRow:
    """One input row: its 1-based line number, and its text or why it has none."""

    line: int
    text: str | None
    error: str | None = None


class InputFormatError(ValueError):
    """The input file as a whole cannot be read (unknown extension, missing CSV column)."""


def read_rows(stream: TextIO, fmt: str, column: str) -> Iterator[InputRow]:
    """Yield the rows of an input stream of format ``fmt`` (``.txt``, ``.csv`` or ``.jsonl``).

    The stream is consumed lazily, one row at a time. Texts are checked with
    :func:`emomtl.predict.text_problem`, so an empty text becomes an error row.
    """
    from emomtl.predict import text_problem

    if fmt == ".txt":
        rows = _txt_rows(stream)
    elif fmt == ".csv":
        rows = _csv_rows(stream, column)
    elif fmt == ".jsonl":
        rows = _jsonl_rows(stream, column)
    else:
        raise InputFormatError(f"unsupported input format {fmt!r}; expected {INPUT_FORMATS}")
    for row in rows:
        if row.error is None:
            problem = text_problem(row.text)
            if problem is not None:
                row = InputRow(row.line, row.text if isinstance(row.text, str) else None, problem)
        yield row


def _strip_newline(line: str) -> str:
    return line[:-1] if line.endswith("\n") else line


def _txt_rows(stream: TextIO) -> Iterator[InputRow]:
    for number, line in enumerate(stream, start=1):
        yield InputRow(number, _strip_newline(line).rstrip("\r"))


def _csv_rows(stream: TextIO, column: str) -> Iterator[InputRow]:
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    if column not in header:
        raise InputFormatError(
            f"CSV header has no column {column!r} (columns: {', '.join(header)}); "
            "choose one with --column"
        )
    index = header.index(column)
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield InputRow(start, None, f"malformed CSV: {exc}")
            continue
        if index >= len(record):
            yield InputRow(start, None, f"missing column {column!r} (row has {len(record)} fields)")
        else:
            yield InputRow(start, record[index])


def _jsonl_rows(stream: TextIO, column: str) -> Iterator[InputRow]:
    for number, line in enumerate(stream, start=1):
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            reason = "empty line" if not line.strip() else f"invalid JSON ({exc.msg})"
            yield InputRow(number, None, reason)
            continue
        if not isinstance(value, dict):
            yield InputRow(number, None, f"expected a JSON object, got {type(value).__name__}")
        elif column not in value:
            yield InputRow(number, None, f"missing key {column!r}")
        elif not isinstance(value[column], str):
            kind = type(value[column]).__name__
            yield InputRow(number, None, f"{column!r} is {kind}, expected a string")
        else:
            yield InputRow(number, value[column])
