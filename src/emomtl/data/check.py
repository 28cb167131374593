"""``emomtl data check``: load every label space's corpus in every split mode, compare with facts.

For each (space, split mode) it reports the split sizes and the label distribution (multilabel:
positives per label, multiclass: rows per class, regression: mean per target) and records a
*problem* for anything that is not as published: a missing file, malformed content, split sizes
other than the space's ``expected_sizes`` (data README, paper Table 1, a card's
``[expected_sizes]``), or what a reader's own ``check_problems`` finds (tales class counts, a story
in two splits). Handled quirks (the EmoBank empty-text row, skipped empty rows of a card) are
*notes*.

A reader module may declare ``CHECK_MODES``: ``(mode, load options, expected sizes or None)`` per
split mode; a space without it is checked once, in mode ``default``, against ``expected_sizes``.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emomtl.data.corpus import SPLITS, Corpus
from emomtl.data.errors import DataWarning
from emomtl.data.loading import load_corpus
from emomtl.data.paths import resolve_data_dir
from emomtl.data.tasks import Task, get_task, known_tasks

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class CorpusSummary:
    """Sizes and label distribution of one task under one split mode.

    Attributes:
        task: the space's code (``S``, ``T``, ``E``, ``G``, a card's code).
        split_mode: ``official``, ``sentence``, ``story``, ``paper`` or ``default``.
        sizes: split -> rows.
        expected_sizes: split -> published rows, or ``None`` where nothing is published.
        distribution: split -> label -> positives (S), sentences (T) or mean score (E).
    """

    task: str
    split_mode: str
    sizes: dict[str, int]
    expected_sizes: dict[str, int] | None
    distribution: dict[str, dict[str, float]]


@dataclass
class CheckReport:
    """Everything ``emomtl data check`` found; ``ok`` is false when any problem was recorded."""

    data_dir: str
    summaries: list[CorpusSummary] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"data_dir", "ok", "problems", "notes", "corpora": [...]}``."""
        return {
            "data_dir": self.data_dir,
            "ok": self.ok,
            "problems": self.problems,
            "notes": self.notes,
            "corpora": [asdict(s) for s in self.summaries],
        }


def distribution(corpus: Corpus) -> dict[str, dict[str, float]]:
    """Split -> label -> positives (multilabel), count (multiclass) or mean (regression)."""
    labels = corpus.task.labels
    out: dict[str, dict[str, float]] = {}
    for name in SPLITS:
        y = corpus.splits[name].targets
        if corpus.task.kind == "multilabel":
            values = y.sum(axis=0).tolist()
        elif corpus.task.kind == "multiclass":
            values = np.bincount(y, minlength=len(labels)).tolist()
        else:
            values = (
                [round(float(v), 4) for v in y.mean(axis=0)]
                if len(y)
                else [float("nan")] * len(labels)
            )
        out[name] = dict(zip(labels, values, strict=True))
    return out


def check_modes(task: Task) -> list[tuple[str, dict[str, str], Any]]:
    """``(mode, load_corpus options, expected sizes or None)`` to check ``task`` in."""
    reader = importlib.import_module(task.reader) if task.reader else None
    modes = getattr(reader, "CHECK_MODES", None)
    if modes:
        return [(mode, dict(options), expected) for mode, options, expected in modes]
    expected = dict(task.expected_sizes) if task.expected_sizes else None
    return [("default", {}, expected)]


def _reader_problems(task: Task, corpus: Corpus, mode: str) -> list[str]:
    reader = importlib.import_module(task.reader) if task.reader else None
    hook = getattr(reader, "check_problems", None)
    return list(hook(corpus, mode)) if hook is not None else []


def run_check(
    data_dir: Path | None = None, *, tasks: Iterable[str] | None = None, split_seed: int = 0
) -> CheckReport:
    """Validate the corpora of ``tasks`` (default: every registered space) under ``data_dir``.

    Never raises for bad data: every problem is recorded in the report.
    """
    root = resolve_data_dir(data_dir)
    report = CheckReport(data_dir=str(root))
    selected = list(known_tasks().values()) if tasks is None else [get_task(t) for t in tasks]
    for task in selected:
        for mode, options, expected in check_modes(task):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", DataWarning)
                try:
                    corpus = load_corpus(task, root, split_seed=split_seed, **options)
                except ValueError as exc:  # DataError, MissingDataError, CardError, bad split
                    report.problems.append(f"{task.code} ({task.name}): {exc}")
                    break
            report.notes.extend(
                f"{task.code} {mode}: {w.message}"
                for w in caught
                if issubclass(w.category, DataWarning)
            )
            sizes = corpus.sizes()
            if expected is not None and sizes != dict(expected):
                report.problems.append(
                    f"{task.code} {mode}: split sizes {sizes}; expected {dict(expected)}"
                )
            report.problems.extend(_reader_problems(task, corpus, mode))
            report.summaries.append(
                CorpusSummary(
                    task.code, mode, sizes, expected and dict(expected), distribution(corpus)
                )
            )
    return report


def render(report: CheckReport, console: Console) -> None:
    """Print ``report`` as a rich table plus its notes and problems."""
    from rich.table import Table

    table = Table(title=f"Corpora in {report.data_dir}")
    for column in ("task", "split mode", "split", "rows", "expected", "label distribution"):
        table.add_column(column, justify="right" if column in ("rows", "expected") else "left")
    for s in report.summaries:
        for name in SPLITS:
            expected = "-" if s.expected_sizes is None else str(s.expected_sizes[name])
            ok = s.expected_sizes is None or s.expected_sizes[name] == s.sizes[name]
            dist = ", ".join(
                f"{label} {value:.2f}" if isinstance(value, float) else f"{label} {value}"
                for label, value in s.distribution[name].items()
            )
            rows = str(s.sizes[name]) if ok else f"[red]{s.sizes[name]}[/]"
            table.add_row(s.task, s.split_mode, name, rows, expected, dist)
        table.add_section()
    if report.summaries:
        console.print(table)
    for note in report.notes:
        console.print(f"[yellow]note:[/] {note}")
    for problem in report.problems:
        console.print(f"[bold red]problem:[/] {problem}")
    verdict = (
        "[green]all corpora OK[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]"
    )
    console.print(verdict)
