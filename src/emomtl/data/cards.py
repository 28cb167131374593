"""Corpus cards: a label space and its corpus declared in a TOML file instead of Python code.

A card names the space, its kind, labels and metric, and says how to read the corpus: which file(s),
which format, which columns. Paths are relative to the card's folder (or, with ``base =
"data-dir"``, to the data directory: that is how the built-in GoEmotions card finds
``goemotions/*.tsv``). A complete example::

    name = "isear"                 # [a-z][a-z0-9_-]*: used in task strings, results, predictions
    code = "I"                     # optional short alias (default: the name)
    title = "ISEAR (7 emotions)"   # optional
    kind = "multiclass"            # multilabel | multiclass | regression
    metric = "f1_micro"            # optional; defaults in emomtl.data.tasks.DEFAULT_METRIC
    licence = "..."                # optional, copied into model cards
    citation = "..."               # optional

    [files]                        # exactly one layout:
    path = "isear.csv"             # (a) one file + split column (train / dev / test)
    split_column = "split"
    # train = "a-train.tsv"        # (b) one file per split (dev/test optional: see below)
    # path = "all.jsonl"           # (c) one file, seeded 8:1:1 split (stratified for multiclass)
    # split = "ratio"
    format = "csv"                 # csv | tsv | jsonl; default from the extension (.txt = tsv)
    header = true                  # false needs names = [...]
    # base = "card"                # or "data-dir"

    [columns]
    text = "text"
    label = "emotion"              # multiclass: class names, or ids into `labels`
    # labels_column = "ids"        # multilabel, delimited list of names or ids ...
    # delimiter = ","
    # label_columns = ["anger", "joy"]   # multilabel, one 0/1 column per label
    # targets = ["valence"]               # regression: one numeric column per output
    # labels = ["anger", "joy"]           # names in output order
    # labels_file = "emotions.txt"        # or one name a line (relative to the card)
    # id = "id"                           # optional row-id column (default: file:line)

    [descriptions]                 # optional text per label (label-semantic heads)
    anger = "anger: a strong feeling of annoyance"

    [expected_sizes]               # optional: rows per split, checked by `emomtl data check`
    train = 1000

Row policy: a row with the wrong number of fields, an unknown label, a non-numeric target or a split
value other than train/dev/test is an error naming the file and line; a row whose text is empty or
whitespace-only is skipped with one counted :class:`~emomtl.data.errors.DataWarning` per file
(an emotion cannot be read from nothing). A class or label that occurs in dev/test but never in
train gets a warning.
"""

from __future__ import annotations

import csv
import json
import re
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from emomtl.data.corpus import SPLITS, Corpus, Split, ratio_split
from emomtl.data.errors import DataError, DataWarning, MissingDataError, decode_utf8
from emomtl.data.tasks import DEFAULT_METRIC, KIND_METRICS, KINDS, LOWER_IS_BETTER, Task

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
CODE_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
FORMATS = ("csv", "tsv", "jsonl")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".txt": "tsv", ".jsonl": "jsonl", ".json": "jsonl"}
_TOP_KEYS = {
    "name",
    "code",
    "title",
    "kind",
    "metric",
    "licence",
    "license",
    "citation",
    "description",
    "files",
    "columns",
    "descriptions",
    "expected_sizes",
}
_FILES_KEYS = {
    "path",
    "split_column",
    "split",
    "train",
    "dev",
    "test",
    "format",
    "header",
    "names",
    "base",
}
_COLUMNS_KEYS = {
    "text",
    "id",
    "label",
    "labels_column",
    "delimiter",
    "label_columns",
    "targets",
    "labels",
    "labels_file",
}


class CardError(DataError):
    """A corpus card is malformed; names the card file and the offending key."""

    def __init__(self, path: str | Path, key: str, reason: str) -> None:
        self.key = key
        super().__init__(path, f"[{key}] {reason}" if key else reason)

    def __reduce__(self):
        return (CardError, (self.path, self.key, self.reason.split("] ", 1)[-1]))


@dataclass(frozen=True)
class CorpusCard:
    """A parsed, validated card (see the module docstring for the keys).

    Attributes:
        path: the card file (absolute).
        name, code, title, kind, metric, licence, citation, description: as in the card.
        labels: label / class / target names in output order.
        descriptions: label -> description text (may be empty).
        layout: ``column`` (one file + split column), ``files`` (one file per split) or ``ratio``.
        files: ``{"path": p}`` (column, ratio) or ``{"train": p, "dev": p, "test": p}``, paths as
            written in the card (resolved against :attr:`base`).
        split_column: the split column of the ``column`` layout, else None.
        base: ``card`` or ``data-dir``.
        format: ``csv`` | ``tsv`` | ``jsonl`` per file key.
        header: whether delimited files start with a header row.
        names: column names of header-less delimited files.
        columns: the ``[columns]`` table.
        expected_sizes: ``{split: rows}`` or None.
    """

    path: Path
    name: str
    code: str
    title: str
    kind: str
    metric: str
    licence: str
    citation: str
    description: str
    labels: tuple[str, ...]
    descriptions: Mapping[str, str]
    layout: str
    files: Mapping[str, str]
    split_column: str | None
    base: str
    format: Mapping[str, str]
    header: bool
    names: tuple[str, ...]
    columns: Mapping[str, Any] = field(default_factory=dict)
    expected_sizes: Mapping[str, int] | None = None

    def to_task(self) -> Task:
        """The registry's :class:`Task` for this card (corpus read by this module)."""
        descriptions = tuple(self.descriptions.get(label, "") for label in self.labels)
        return Task(
            code=self.code,
            name=self.name,
            kind=self.kind,  # type: ignore[arg-type]
            labels=self.labels,
            primary_metric=self.metric,
            higher_is_better=self.metric not in LOWER_IS_BETTER,
            description=self.description or self.title,
            record_key=self.name,
            title=self.title,
            licence=self.licence,
            citation=self.citation,
            label_descriptions=descriptions if any(descriptions) else (),
            reader="emomtl.data.cards",
            card=self,
            expected_sizes=self.expected_sizes,
        )

    def resolve(self, relative: str, data_dir: Path) -> Path:
        """Absolute path of a file named in the card."""
        root = data_dir if self.base == "data-dir" else self.path.parent
        return (Path(root) / relative).expanduser()


def builtin_card_path(filename: str) -> Path:
    """Path of a card shipped inside the package (``emomtl/data/cards/<filename>``)."""
    return Path(str(resources.files("emomtl.data") / "cards" / filename))


# --------------------------------------------------------------------------------------------------
# parsing the card


def load_card(path: str | Path) -> CorpusCard:
    """Read and validate a card.

    Raises:
        MissingDataError: the card file does not exist.
        CardError: naming the card and the key, for any malformed or missing key.
    """
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise MissingDataError(path.parent, [path])
    try:
        data = tomllib.loads(decode_utf8(path.read_bytes(), path))
    except tomllib.TOMLDecodeError as exc:
        raise CardError(path, "", f"not valid TOML: {exc}") from exc
    return parse_card(data, path)


def parse_card(data: Mapping[str, Any], path: Path) -> CorpusCard:
    """Validate the parsed TOML ``data`` of the card at ``path`` (see :func:`load_card`)."""
    _no_unknown(path, "", data, _TOP_KEYS)
    name = _string(path, "name", data.get("name"), required=True)
    if not NAME_PATTERN.match(name):
        raise CardError(path, "name", f"{name!r} must match [a-z][a-z0-9_-]*")
    code = _string(path, "code", data.get("code")) or name
    if not CODE_PATTERN.match(code):
        raise CardError(path, "code", f"{code!r} must match [A-Za-z][A-Za-z0-9_-]*")
    kind = _string(path, "kind", data.get("kind"), required=True)
    if kind not in KINDS:
        raise CardError(path, "kind", f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
    metric = _string(path, "metric", data.get("metric")) or DEFAULT_METRIC[kind]
    if metric not in KIND_METRICS[kind]:
        raise CardError(
            path,
            "metric",
            f"{metric!r} is not a {kind} metric; expected one of {', '.join(KIND_METRICS[kind])}",
        )
    files = _table(path, "files", data.get("files"), required=True)
    columns = _table(path, "columns", data.get("columns"), required=True)
    _no_unknown(path, "files", files, _FILES_KEYS)
    _no_unknown(path, "columns", columns, _COLUMNS_KEYS)
    base = _string(path, "files.base", files.get("base")) or "card"
    if base not in ("card", "data-dir"):
        raise CardError(path, "files.base", f"{base!r}; expected 'card' or 'data-dir'")
    layout, file_map = _layout(path, files)
    formats = {key: _format(path, files, rel) for key, rel in file_map.items()}
    header = files.get("header", True)
    if not isinstance(header, bool):
        raise CardError(path, "files.header", f"expected true or false, got {header!r}")
    names = tuple(_string_list(path, "files.names", files.get("names")) or ())
    delimited = any(f != "jsonl" for f in formats.values())
    if delimited and not header and not names:
        raise CardError(path, "files.names", "header = false needs names = [...] (column names)")
    _string(path, "columns.text", columns.get("text"), required=True)
    labels = _labels(path, kind, columns)
    if len(set(labels)) != len(labels):
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        raise CardError(path, "columns.labels", f"repeated label name(s) {dupes}")
    descriptions = _table(path, "descriptions", data.get("descriptions"))
    unknown = sorted(set(descriptions) - set(labels))
    if unknown:
        raise CardError(path, "descriptions", f"unknown label(s) {unknown}; labels are {labels}")
    expected = _table(path, "expected_sizes", data.get("expected_sizes"))
    _no_unknown(path, "expected_sizes", expected, set(SPLITS))
    if not all(isinstance(v, int) and v >= 0 for v in expected.values()):
        raise CardError(path, "expected_sizes", "expected non-negative integers per split")
    title = _string(path, "title", data.get("title")) or name
    licence = _string(path, "licence", data.get("licence", data.get("license"))) or ""
    return CorpusCard(
        path=path,
        name=name,
        code=code,
        title=title,
        kind=kind,
        metric=metric,
        licence=licence,
        citation=_string(path, "citation", data.get("citation")) or "",
        description=_string(path, "description", data.get("description")) or title,
        labels=tuple(labels),
        descriptions={str(k): str(v) for k, v in descriptions.items()},
        layout=layout,
        files=file_map,
        split_column=files.get("split_column") if layout == "column" else None,
        base=base,
        format=formats,
        header=header,
        names=names,
        columns=dict(columns),
        expected_sizes=dict(expected) or None,
    )


def _no_unknown(path: Path, table: str, data: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        where = f"{table}.{unknown[0]}" if table else unknown[0]
        raise CardError(path, where, f"unknown key; expected one of {', '.join(sorted(known))}")


def _string(path: Path, key: str, value: Any, *, required: bool = False) -> str | None:
    if value is None:
        if required:
            raise CardError(path, key, "missing required key")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise CardError(path, key, f"expected a non-empty string, got {value!r}")
    return value


def _string_list(path: Path, key: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise CardError(path, key, f"expected a non-empty list of strings, got {value!r}")
    return list(value)


def _table(path: Path, key: str, value: Any, *, required: bool = False) -> Mapping[str, Any]:
    if value is None:
        if required:
            raise CardError(path, key, f"missing required table [{key}]")
        return {}
    if not isinstance(value, Mapping):
        raise CardError(path, key, f"expected a table, got {value!r}")
    return value


def _layout(path: Path, files: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    per_split = [s for s in SPLITS if s in files]
    single = "path" in files
    if single and per_split:
        raise CardError(
            path, "files", "both `path` and per-split files given; use exactly one layout"
        )
    if not single and not per_split:
        raise CardError(
            path,
            "files",
            'no layout: give `path` with `split_column` or `split = "ratio"`, or '
            "`train`/`dev`/`test`",
        )
    if per_split:
        missing = [s for s in SPLITS if s not in files]
        if missing:
            raise CardError(path, f"files.{missing[0]}", "missing: give train, dev and test")
        if "split_column" in files or "split" in files:
            raise CardError(path, "files", "split_column/split only go with a single `path`")
        return "files", {s: _string(path, f"files.{s}", files[s], required=True) for s in SPLITS}
    rel = _string(path, "files.path", files["path"], required=True)
    has_column, has_ratio = "split_column" in files, "split" in files
    if has_column == has_ratio:
        raise CardError(
            path,
            "files",
            'a single `path` needs exactly one of `split_column = "..."` or `split = "ratio"`',
        )
    if has_ratio:
        if files["split"] != "ratio":
            raise CardError(path, "files.split", f"{files['split']!r}; the only value is 'ratio'")
        return "ratio", {"path": rel}
    _string(path, "files.split_column", files["split_column"], required=True)
    return "column", {"path": rel}


def _format(path: Path, files: Mapping[str, Any], rel: str) -> str:
    given = files.get("format")
    if given is not None:
        if given not in FORMATS:
            raise CardError(path, "files.format", f"{given!r}; expected one of {FORMATS}")
        return given
    suffix = Path(rel).suffix.lower()
    if suffix not in _EXTENSIONS:
        raise CardError(
            path, "files.format", f"cannot tell the format of {rel!r}; set format = csv|tsv|jsonl"
        )
    return _EXTENSIONS[suffix]


def _labels(path: Path, kind: str, columns: Mapping[str, Any]) -> list[str]:
    given = _string_list(path, "columns.labels", columns.get("labels"))
    labels_file = _string(path, "columns.labels_file", columns.get("labels_file"))
    if given and labels_file:
        raise CardError(path, "columns.labels", "give `labels` or `labels_file`, not both")
    label_columns = _string_list(path, "columns.label_columns", columns.get("label_columns"))
    targets = _string_list(path, "columns.targets", columns.get("targets"))
    needed = {
        "multiclass": ("label",),
        "multilabel": ("labels_column", "label_columns"),
        "regression": ("targets",),
    }[kind]
    present = [key for key in needed if columns.get(key) is not None]
    if len(present) != 1:
        raise CardError(
            path,
            f"columns.{needed[0]}",
            f"a {kind} card needs exactly one of {' / '.join(needed)} in [columns]",
        )
    others = {"label", "labels_column", "label_columns", "targets"} - set(needed)
    stray = sorted(k for k in others if k in columns)
    if stray:
        raise CardError(path, f"columns.{stray[0]}", f"not used by a {kind} card")
    if kind == "multilabel" and "labels_column" in columns:
        _string(path, "columns.labels_column", columns["labels_column"], required=True)
    if kind == "multilabel" and "delimiter" in columns:
        delimiter = columns["delimiter"]
        if not isinstance(delimiter, str) or not delimiter:
            raise CardError(
                path, "columns.delimiter", f"expected a non-empty string: {delimiter!r}"
            )
    if kind == "multiclass":
        _string(path, "columns.label", columns["label"], required=True)
    if labels_file:
        return _labels_from_file(path, labels_file)
    if given:
        return given
    if label_columns:
        return label_columns
    if targets:
        return targets
    raise CardError(path, "columns.labels", "missing: give `labels` or `labels_file`")


def _labels_from_file(path: Path, labels_file: str) -> list[str]:
    """Names from ``labels_file`` (relative to the card): one a line, blank lines ignored."""
    file = path.parent / labels_file
    if not file.is_file():
        raise CardError(path, "columns.labels_file", f"{file} does not exist")
    names = [line.strip() for line in decode_utf8(file.read_bytes(), file).splitlines()]
    names = [n for n in names if n]
    if not names:
        raise CardError(path, "columns.labels_file", f"{file} lists no label names")
    return names


# --------------------------------------------------------------------------------------------------
# reading the corpus (the reader protocol of emomtl.data.tasks.Task)


def required_paths(task: Task, data_dir: Path) -> list[Path]:
    """Every file the card's corpus needs."""
    card: CorpusCard = task.card
    return [card.resolve(rel, data_dir) for rel in card.files.values()]


def load(task: Task, data_dir: Path, options: Mapping[str, Any]) -> Corpus:
    """Read the card's corpus and split it (``options["split_seed"]`` seeds the ratio layout).

    Raises:
        MissingDataError: listing every missing file.
        DataError: naming file and line for a malformed row; CardError for an empty split.
    """
    card: CorpusCard = task.card
    files = {key: card.resolve(rel, data_dir) for key, rel in card.files.items()}
    missing = [p for p in files.values() if not p.exists()]
    if missing:
        raise MissingDataError(data_dir if card.base == "data-dir" else card.path.parent, missing)
    if card.layout == "files":
        splits = {s: _read_split(card, files[s], card.format[s], None)[0] for s in SPLITS}
    else:
        rows, split_of = _read_split(card, files["path"], card.format["path"], card.split_column)
        if card.layout == "column":
            index = {s: [i for i, v in enumerate(split_of) if v == s] for s in SPLITS}
        else:
            index = _ratio_index(card, rows, files["path"], int(options.get("split_seed", 0)))
        splits = {s: rows.subset(index[s]) for s in SPLITS}
    for name in SPLITS:
        if len(splits[name]) == 0:
            raise CardError(card.path, "files", f"the {name} split of {task.name} has no rows")
    _warn_unseen(card, splits)
    return Corpus(task=task, splits=splits)


def _ratio_index(card: CorpusCard, rows: Split, file: Path, seed: int) -> dict[str, np.ndarray]:
    stratify = rows.targets if card.kind == "multiclass" else None
    try:
        return ratio_split(len(rows), seed, stratify=stratify)
    except ValueError as exc:
        if stratify is None:
            raise DataError(file, f"cannot split {len(rows)} rows 8:1:1: {exc}") from exc
        warnings.warn(
            f"{file}: cannot stratify the 8:1:1 split ({exc}); split without stratification",
            DataWarning,
            stacklevel=3,
        )
        return ratio_split(len(rows), seed)


def _warn_unseen(card: CorpusCard, splits: Mapping[str, Split]) -> None:
    if card.kind == "regression":
        return

    def present(split: Split) -> set[int]:
        y = split.targets
        if card.kind == "multiclass":
            return set(np.unique(y).tolist())
        return set(np.flatnonzero(y.sum(axis=0) > 0).tolist())

    seen = present(splits["train"])
    for name in ("dev", "test"):
        unseen = sorted(present(splits[name]) - seen)
        if unseen:
            warnings.warn(
                f"{card.name}: label(s) {[card.labels[i] for i in unseen]} occur in {name} but "
                "never in train; the model cannot learn them",
                DataWarning,
                stacklevel=3,
            )


# --------------------------------------------------------------------------------------------------
# rows


@dataclass
class _Row:
    line: int
    fields: Mapping[str, Any]


def _iter_rows(card: CorpusCard, file: Path, fmt: str) -> Iterator[_Row]:
    text = decode_utf8(file.read_bytes(), file)
    if fmt == "jsonl":
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(file, f"not valid JSON: {exc.msg}", line=lineno) from exc
            if not isinstance(value, dict):
                raise DataError(file, "expected a JSON object per line", line=lineno)
            yield _Row(lineno, value)
        return
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    delimiter = "\t" if fmt == "tsv" else ","
    lines = text.splitlines(keepends=True)
    reader = csv.reader(lines, delimiter=delimiter, quotechar='"', doublequote=True, strict=True)
    names: Sequence[str] | None = card.names or None
    previous_end = 0
    try:
        for fields in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip() and names is not None):
                continue
            if names is None:
                names = [f.strip() for f in fields]
                continue
            if len(fields) != len(names):
                raise DataError(
                    file,
                    f"expected {len(names)} {'tab' if fmt == 'tsv' else 'comma'}-separated "
                    f"fields ({', '.join(names)}), found {len(fields)}",
                    line=start,
                )
            yield _Row(start, dict(zip(names, fields, strict=True)))
    except csv.Error as exc:
        raise DataError(file, f"malformed {fmt.upper()}: {exc}", line=reader.line_num) from exc


def _read_split(
    card: CorpusCard, file: Path, fmt: str, split_column: str | None
) -> tuple[Split, list[str]]:
    """Rows of one file as a Split, and each row's split value (``split_column`` layouts)."""
    columns = card.columns
    text_col, id_col = columns["text"], columns.get("id")
    parse_target = _target_parser(card)
    ids: list[str] = []
    texts: list[str] = []
    targets: list[Any] = []
    split_of: list[str] = []
    empty: list[int] = []
    checked_columns = False
    for row in _iter_rows(card, file, fmt):
        if not checked_columns:
            _check_columns(card, file, row, split_column)
            checked_columns = True
        text = row.fields.get(text_col)
        text = "" if text is None else str(text)
        if split_column is not None:
            value = str(row.fields.get(split_column, "")).strip()
            if value not in SPLITS:
                raise DataError(
                    file,
                    f"split column {split_column!r} is {value!r}; expected train, dev or test",
                    line=row.line,
                )
        if not text.strip():
            empty.append(row.line)
            continue
        targets.append(parse_target(file, row))
        texts.append(text)
        ids.append(str(row.fields[id_col]) if id_col else f"{file.name}:{row.line}")
        if split_column is not None:
            split_of.append(value)
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (" ..." if len(empty) > 10 else "")
        warnings.warn(
            f"{file}: {len(empty)} row(s) with empty text skipped (line(s) {shown})",
            DataWarning,
            stacklevel=3,
        )
    if card.kind == "multiclass":
        array = np.asarray(targets, dtype=np.int64).reshape(len(ids))
    elif card.kind == "multilabel":
        array = np.asarray(targets, dtype=np.int64).reshape(len(ids), len(card.labels))
    else:
        array = np.asarray(targets, dtype=np.float32).reshape(len(ids), len(card.labels))
    return Split(ids=ids, texts=texts, targets=array), split_of


def _check_columns(card: CorpusCard, file: Path, row: _Row, split_column: str | None) -> None:
    columns = card.columns
    wanted = [columns["text"]]
    for key in ("id", "label", "labels_column"):
        if columns.get(key):
            wanted.append(columns[key])
    wanted += list(columns.get("label_columns") or []) + list(columns.get("targets") or [])
    if split_column is not None:
        wanted.append(split_column)
    missing = [c for c in wanted if c not in row.fields]
    if missing:
        raise CardError(
            card.path,
            "columns",
            f"column(s) {missing} not in {file} (line {row.line} has {list(row.fields)})",
        )


def _target_parser(card: CorpusCard):
    labels = card.labels
    index = {name: i for i, name in enumerate(labels)}
    valid = ", ".join(labels)
    columns = card.columns

    def label_index(file: Path, line: int, value: Any) -> int:
        key = str(value).strip()
        if key in index:
            return index[key]
        if re.fullmatch(r"\d+", key) and int(key) < len(labels):
            return int(key)
        raise DataError(file, f"unknown label {key!r}; valid labels: {valid}", line=line)

    if card.kind == "multiclass":
        column = columns["label"]
        return lambda file, row: label_index(file, row.line, row.fields[column])
    if card.kind == "multilabel" and columns.get("labels_column"):
        column, delimiter = columns["labels_column"], columns.get("delimiter", ",")

        def delimited(file: Path, row: _Row) -> list[int]:
            flags = [0] * len(labels)
            value = row.fields[column]
            items = value if isinstance(value, list) else str(value).split(delimiter)
            for item in items:
                if str(item).strip():
                    flags[label_index(file, row.line, item)] = 1
            return flags

        return delimited
    if card.kind == "multilabel":
        names = list(columns["label_columns"])

        def wide(file: Path, row: _Row) -> list[int]:
            flags = []
            for name in names:
                value = row.fields[name]
                text = str(value).strip().lower()
                if text in ("1", "1.0", "true"):
                    flags.append(1)
                elif text in ("0", "0.0", "false", ""):
                    flags.append(0)
                else:
                    raise DataError(
                        file, f"column {name!r} is {value!r}; expected 0 or 1", line=row.line
                    )
            return flags

        return wide
    names = list(columns["targets"])

    def numeric(file: Path, row: _Row) -> list[float]:
        values = []
        for name in names:
            value = row.fields[name]
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = float("nan")
            if not np.isfinite(number):
                raise DataError(
                    file, f"target {name!r} is {value!r}; expected a finite number", line=row.line
                )
            values.append(number)
        return values

    return numeric
