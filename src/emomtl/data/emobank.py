"""EmoBank (Buechel & Hahn, 2017): sentences with Valence, Arousal, Dominance on a 1-5 scale.

Files: ``emobank/emobank.csv`` (comma-separated with quoting, header ``id,split,V,A,D,text``) and,
optionally, ``emobank/meta.tsv`` (``id document category subcategory``), whose ``document`` and
``category`` (genre: fiction, blog, newspaper, ...) become per-row metadata.

One row, ``easy_money_13624_13628`` (dev), has no text: the release writes it as the literal
``None`` (which pandas reads as NaN). Two split modes:

- ``official``: the corpus's own ``split`` column, 8062 / 1000 / 1000 rows; the empty-text row is
  dropped with a :class:`~emomtl.data.errors.DataWarning` naming its id (dev becomes 999).
- ``paper`` (the paper's code, Table 1): drop *every* row whose text occurs more than once
  (248 rows; ``pandas.DataFrame.drop_duplicates(keep=False)`` semantics), then a seeded random
  8:1:1 split of the remaining 9814 rows: 7851 / 981 / 982. Those sizes require the empty-text row
  to stay in the pool: a single missing text is not a duplicate, so the paper's code kept it
  (10062 - 248 = 9814; without it 9813 rows give 7850 / 981 / 982). It is therefore kept, with
  text ``""``, in whichever split the seed puts it, and a DataWarning says so.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emomtl.data import paths
from emomtl.data.corpus import SPLITS, Corpus, Split, ratio_split
from emomtl.data.errors import DataError, DataWarning, read_utf8
from emomtl.data.tasks import EMOBANK, EMOBANK_LABELS, Task

EmobankSplit = Literal["official", "paper"]

HEADER = ("id", "split", "V", "A", "D", "text")
#: How the release spells a missing text.
MISSING_TEXTS = frozenset({"", "None"})
SCALE = (1.0, 5.0)
#: Rows per split of the official ``split`` column, before dropping the empty text (data README).
EXPECTED_OFFICIAL_SIZES = {"train": 8062, "dev": 1000, "test": 1000}
#: Paper mode (paper Table 1).
EXPECTED_PAPER_SIZES = {"train": 7851, "dev": 981, "test": 982}
META_KEYS = ("document", "category")


def read_emobank_csv(path: Path) -> tuple[Split, list[str]]:
    """Parse ``emobank.csv`` in file order, keeping every row (also the empty-text one).

    Returns:
        ``(rows, official_split)``: a :class:`Split` with ``targets`` ``(n, 3)`` float32 V, A, D
        (texts of missing-text rows are ``""``), and each row's ``split`` value.

    Raises:
        DataError: naming file, line and row id for a non-UTF-8 file, a wrong or missing header,
            a row without 6 fields, an empty or repeated id, a split other than
            train/dev/test, or a V/A/D value that is missing, not a number or outside 1-5.
    """
    reader = csv.reader(io.StringIO(read_utf8(path), newline=""), strict=True)
    try:
        header = tuple(next(reader, ()))
    except csv.Error as exc:
        raise DataError(path, f"malformed CSV header: {exc}", line=1) from None
    if header != HEADER:
        raise DataError(
            path,
            f"wrong or missing header: expected {','.join(HEADER)}, found {','.join(header)!r}",
            line=1,
        )
    ids: list[str] = []
    texts: list[str] = []
    vad: list[tuple[float, float, float]] = []
    official: list[str] = []
    seen: set[str] = set()
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(path, f"malformed CSV: {exc}", line=reader.line_num) from None
        line = reader.line_num
        if len(fields) != len(HEADER):
            raise DataError(
                path, f"expected 6 fields ({','.join(HEADER)}), found {len(fields)}", line=line
            )
        row_id, split, *values, text = fields
        if not row_id or row_id in seen:
            problem = "empty id" if not row_id else f"id {row_id!r} already used"
            raise DataError(path, f"{problem}; every row needs a unique id", line=line)
        if split not in SPLITS:
            raise DataError(
                path, f"split is {split!r}; expected train, dev or test", line=line, row_id=row_id
            )
        vad.append(
            tuple(
                _score(path, line, row_id, n, v)
                for n, v in zip(EMOBANK_LABELS, values, strict=True)
            )
        )
        seen.add(row_id)
        ids.append(row_id)
        texts.append("" if text in MISSING_TEXTS else text)
        official.append(split)
    targets = np.array(vad, dtype=np.float32).reshape(len(ids), len(EMOBANK_LABELS))
    return Split(ids=ids, texts=texts, targets=targets), official


def _score(path: Path, line: int, row_id: str, name: str, value: str) -> float:
    """One V/A/D value, checked to be a finite number in [1, 5]."""
    try:
        score = float(value)
    except ValueError:
        score = math.nan
    if not SCALE[0] <= score <= SCALE[1]:  # also rejects NaN
        shown = "missing" if not value.strip() else repr(value)
        raise DataError(
            path,
            f"{name} is {shown}; expected a number between 1 and 5",
            line=line,
            row_id=row_id,
        )
    return score


def read_emobank_meta(path: Path) -> dict[str, dict[str, str]]:
    """``meta.tsv`` as ``id -> {"document": ..., "category": ...}``; ``{}`` when the file is absent.

    Raises:
        DataError: for a non-UTF-8 file, or a header without ``id``, ``document``, ``category``.
    """
    if not path.exists():
        return {}
    lines = read_utf8(path).splitlines()
    header = lines[0].split("\t") if lines else []
    if not lines or not {"id", *META_KEYS} <= set(header):
        raise DataError(
            path,
            f"expected a tab-separated header with id, document, category; found {header}",
            line=1,
        )
    cols = {key: header.index(key) for key in ("id", *META_KEYS)}
    meta: dict[str, dict[str, str]] = {}
    for line in lines[1:]:
        fields = line.split("\t")
        if len(fields) > max(cols.values()):
            meta[fields[cols["id"]]] = {key: fields[cols[key]] for key in META_KEYS}
    return meta


def read_emobank(data_dir: Path) -> tuple[Split, list[str]]:
    """All rows of ``emobank.csv`` with ``document``/``category`` metadata (``""`` when unknown),
    and each row's official split."""
    paths.require_paths([paths.emobank_csv(data_dir)], data_dir)
    rows, official = read_emobank_csv(paths.emobank_csv(data_dir))
    meta = read_emobank_meta(paths.emobank_meta(data_dir))
    if meta:
        rows.meta = {key: [meta.get(i, {}).get(key, "") for i in rows.ids] for key in META_KEYS}
    return rows, official


def unique_text_rows(texts: list[str]) -> np.ndarray:
    """Indices of rows whose text occurs exactly once (``drop_duplicates(keep=False)``).

    Missing texts (``""``) compare equal to each other, as NaN does in ``pandas.duplicated``: a
    single one is kept, two or more are all dropped.
    """
    counts = Counter(texts)
    keep = [i for i, t in enumerate(texts) if counts[t] == 1]
    return np.array(keep, dtype=np.int64)


def load_emobank(
    data_dir: Path, *, split: EmobankSplit = "official", split_seed: int = 0
) -> Corpus:
    """Load EmoBank and split it (see the module docstring; ``split_seed`` only matters for
    ``paper``).

    Raises:
        MissingDataError: when ``emobank.csv`` is missing.
        DataError: see :func:`read_emobank_csv`.
        ValueError: for an unknown ``split``.
    """
    rows, official = read_emobank(data_dir)
    empty = [i for i, t in enumerate(rows.texts) if t == ""]
    if split == "official":
        for i in empty:
            warnings.warn(
                f"EmoBank row {rows.ids[i]} ({official[i]} split) has no text; dropped",
                DataWarning,
                stacklevel=2,
            )
        index = {s: [i for i, o in enumerate(official) if o == s and rows.texts[i]] for s in SPLITS}
    elif split == "paper":
        pool = unique_text_rows(rows.texts)
        parts = ratio_split(len(pool), split_seed)
        index = {s: pool[parts[s]] for s in SPLITS}
        for s in SPLITS:
            for i in set(empty) & set(index[s].tolist()):
                warnings.warn(
                    f"EmoBank row {rows.ids[i]} has no text; kept as '' in the {s} split of the "
                    "paper mode (the paper's 7851/981/982 sizes include it)",
                    DataWarning,
                    stacklevel=2,
                )
    else:
        raise ValueError(f"unknown EmoBank split {split!r}; expected 'official' or 'paper'")
    return Corpus(task=EMOBANK, splits={s: rows.subset(index[s]) for s in SPLITS})


def required_paths(task: Task, data_dir: Path) -> list[Path]:
    """Reader protocol (:class:`emomtl.data.tasks.Task`): ``emobank.csv`` (meta is optional)."""
    return [paths.emobank_csv(data_dir)]


def load(task: Task, data_dir: Path, options: Mapping[str, Any]) -> Corpus:
    """Reader protocol: :func:`load_emobank` with ``options["emobank_split"]``, ``split_seed``."""
    return load_emobank(
        data_dir,
        split=options.get("emobank_split", "official"),
        split_seed=int(options.get("split_seed", 0)),
    )


#: ``emomtl data check``: the official split (less the empty-text dev row) and the paper's split.
CHECK_MODES = (
    ("official", {"emobank_split": "official"}, {**EXPECTED_OFFICIAL_SIZES, "dev": 999}),
    ("paper", {"emobank_split": "paper"}, EXPECTED_PAPER_SIZES),
)
