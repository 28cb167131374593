"""Errors raised by the corpus loaders.

Both are ``ValueError`` subclasses so that callers that only care about "bad input" can catch one
type. Their messages always say *where* (file and line, or row id), *what* was expected and, for
missing files, *how to get them*.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

FETCH_HINT = (
    "Get the corpora with `emomtl data fetch --dest DIR`, then point emomtl at DIR with "
    "`--data-dir DIR` or `export EMOMTL_DATA_DIR=DIR`."
)


class DataError(ValueError):
    """A corpus file exists but its content is not what the loader expects.

    Attributes:
        path: the offending file.
        line: 1-based line number in ``path`` (``None`` when the problem is not tied to a line).
        row_id: corpus id of the offending row, when known (e.g. an EmoBank ``id``).
        reason: what was wrong and what was expected, without the location prefix.
    """

    def __init__(
        self,
        path: str | Path,
        reason: str,
        *,
        line: int | None = None,
        row_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.row_id = row_id
        self.reason = reason
        super().__init__(str(self))

    @property
    def location(self) -> str:
        """``file:line`` (plus ``(id ...)`` when a row id is known)."""
        where = str(self.path) if self.line is None else f"{self.path}:{self.line}"
        return where if self.row_id is None else f"{where} (id {self.row_id})"

    def __str__(self) -> str:
        return f"{self.location}: {self.reason}"

    def __reduce__(self):  # keep pickling (multiprocessing) working with keyword-only fields
        return (_rebuild_data_error, (self.path, self.reason, self.line, self.row_id))


def _rebuild_data_error(path: Path, reason: str, line: int | None, row_id: str | None) -> DataError:
    return DataError(path, reason, line=line, row_id=row_id)


class DataWarning(UserWarning):
    """A known quirk of a real corpus file was handled (e.g. a row dropped); names the row."""


class MissingDataError(DataError):
    """One or more required corpus files are absent; lists every one of them.

    Attributes:
        data_dir: the data directory that was searched.
        missing: every missing path (absolute), in a stable order.
    """

    def __init__(self, data_dir: str | Path, missing: Iterable[str | Path]) -> None:
        self.data_dir = Path(data_dir)
        self.missing = [Path(p) for p in missing]
        listing = "\n".join(f"  - {p}" for p in self.missing)
        reason = (
            f"{len(self.missing)} required corpus file(s) missing from data directory "
            f"{self.data_dir}:\n{listing}\n{FETCH_HINT}"
        )
        super().__init__(self.data_dir, reason)

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self):
        return (MissingDataError, (self.data_dir, self.missing))


def decode_utf8(raw: bytes, path: str | Path) -> str:
    """Decode ``raw`` (the bytes of ``path``) as strict UTF-8, dropping a leading BOM.

    Raises:
        DataError: naming the line and byte offset of the first invalid byte sequence.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        bad = raw[exc.start : exc.end].hex(" ")
        raise DataError(
            path,
            f"not valid UTF-8: byte(s) {bad} at byte offset {exc.start} ({exc.reason}); "
            "re-download the file or convert it to UTF-8",
            line=line,
        ) from None
    return text.removeprefix("\ufeff")


def read_utf8(path: Path) -> str:
    """Read a whole file as strict UTF-8 (see :func:`decode_utf8`)."""
    return decode_utf8(path.read_bytes(), path)
