"""SemEval-2018 Task 1, subtask E-c (English): tweets with 11 binary emotion flags.

Files (organisers' names, official split): ``semeval2018-ec/2018-E-c-En-{train,dev,test-gold}.txt``,
UTF-8, tab-separated, header ``ID Tweet anger ... trust``, flags ``0``/``1``. Tweets may have no
emotion at all (all zeros). The paper uses the official split (6838 / 886 / 3259).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from emomtl.data import paths
from emomtl.data.corpus import SPLITS, Corpus, Split
from emomtl.data.errors import DataError, read_utf8
from emomtl.data.tasks import SEMEVAL, SEMEVAL_LABELS, Task

HEADER = ("ID", "Tweet", *SEMEVAL_LABELS)
#: Rows per split in the official release (data README; paper Table 1).
EXPECTED_SIZES = {"train": 6838, "dev": 886, "test": 3259}
_FLAGS = {"0": 0, "1": 1}


def read_semeval_file(path: Path) -> Split:
    """Parse one E-c file.

    Returns:
        a :class:`Split` with ``targets`` of shape ``(n, 11)``, int64 in {0, 1}, columns in
        :data:`emomtl.data.tasks.SEMEVAL_LABELS` order, and no metadata.

    Raises:
        DataError: naming file and line for a non-UTF-8 file, a wrong or missing header, a row
            without 13 tab-separated fields, an empty or repeated ID, or a flag other than 0/1.
    """
    lines = read_utf8(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final newline
    if not lines or tuple(lines[0].rstrip("\r").split("\t")) != HEADER:
        found = repr(lines[0][:200]) if lines else "an empty file"
        raise DataError(
            path,
            f"wrong or missing header: expected the tab-separated columns {' '.join(HEADER)}, "
            f"found {found}",
            line=1,
        )
    ids: list[str] = []
    texts: list[str] = []
    flags: list[list[int]] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.rstrip("\r").split("\t")
        if len(fields) != len(HEADER):
            raise DataError(
                path,
                f"expected {len(HEADER)} tab-separated fields (ID, Tweet, 11 flags), "
                f"found {len(fields)}",
                line=lineno,
            )
        row_id, text, *values = fields
        if not row_id or row_id in seen:
            problem = "empty ID" if not row_id else "ID already used on an earlier line"
            raise DataError(path, f"{problem}; every row needs a unique ID", line=lineno)
        try:
            flags.append([_FLAGS[v] for v in values])
        except KeyError:
            bad = next(
                (label, v)
                for label, v in zip(SEMEVAL_LABELS, values, strict=True)
                if v not in _FLAGS
            )
            raise DataError(
                path,
                f"flag {bad[0]!r} is {bad[1]!r}; expected 0 or 1",
                line=lineno,
                row_id=row_id,
            ) from None
        seen.add(row_id)
        ids.append(row_id)
        texts.append(text)
    targets = np.array(flags, dtype=np.int64).reshape(len(ids), len(SEMEVAL_LABELS))
    return Split(ids=ids, texts=texts, targets=targets)


def load_semeval(data_dir: Path) -> Corpus:
    """Load the official train/dev/test split of SemEval-2018 E-c from ``data_dir``.

    Raises:
        MissingDataError: listing every missing file.
        DataError: see :func:`read_semeval_file`.
    """
    paths.require_paths(paths.semeval_paths(data_dir).values(), data_dir)
    files = paths.semeval_paths(data_dir)
    return Corpus(task=SEMEVAL, splits={s: read_semeval_file(files[s]) for s in SPLITS})


def required_paths(task: Task, data_dir: Path) -> list[Path]:
    """Reader protocol (:class:`emomtl.data.tasks.Task`): the three E-c files."""
    return list(paths.semeval_paths(data_dir).values())


def load(task: Task, data_dir: Path, options: Mapping[str, Any]) -> Corpus:
    """Reader protocol: :func:`load_semeval` (the official split has no options)."""
    return load_semeval(data_dir)


#: ``emomtl data check``: the official split and its published sizes.
CHECK_MODES = (("official", {}, EXPECTED_SIZES),)
