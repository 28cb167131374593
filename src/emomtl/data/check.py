"""``emomtl data check``: load every corpus in every split mode, compare with the known facts.

For each (task, split mode) it reports the split sizes and the label distribution (S: positives per
label, T: sentences per class, E: mean V/A/D) and records a *problem* for anything that is not as
published: a missing file, malformed content, split sizes other than the reference ones (data
README, paper Table 1), tales class counts other than 218/166/445/264/114, or a story in two
splits of the story-level tales split. Handled quirks (the EmoBank empty-text row) are *notes*.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from emomtl.data import emobank, semeval, tales
from emomtl.data.corpus import SPLITS, Corpus
from emomtl.data.errors import DataWarning
from emomtl.data.loading import load_corpus
from emomtl.data.paths import resolve_data_dir
from emomtl.data.tasks import TASKS

if TYPE_CHECKING:
    from rich.console import Console

#: EmoBank official sizes after dropping the one empty-text row (README: it is in dev).
EMOBANK_OFFICIAL_LOADED = {**emobank.EXPECTED_OFFICIAL_SIZES, "dev": 999}


@dataclass
class CorpusSummary:
    """Sizes and label distribution of one task under one split mode.

    Attributes:
        task: task code (``S``, ``T``, ``E``).
        split_mode: ``official``, ``sentence``, ``story`` or ``paper``.
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
            values = [round(float(v), 4) for v in y.mean(axis=0)] if len(y) else [float("nan")] * 3
        out[name] = dict(zip(labels, values, strict=True))
    return out


# (task code, split mode, load_corpus keyword arguments, published sizes or None)
MODES: tuple[tuple[str, str, dict[str, str], dict[str, int] | None], ...] = (
    ("S", "official", {}, semeval.EXPECTED_SIZES),
    ("T", "sentence", {"tales_split": "sentence"}, tales.EXPECTED_SIZES),
    ("T", "story", {"tales_split": "story"}, None),
    ("E", "official", {"emobank_split": "official"}, EMOBANK_OFFICIAL_LOADED),
    ("E", "paper", {"emobank_split": "paper"}, emobank.EXPECTED_PAPER_SIZES),
)


def _tales_problems(corpus: Corpus, mode: str) -> list[str]:
    """Sentence mode: class counts other than the README's; story mode: a story in two splits."""
    problems = []
    if mode == "story":
        owner: dict[tuple[str, str], str] = {}
        for name, split in corpus.splits.items():
            for key in zip(split.meta["author"], split.meta["story"], strict=True):
                if owner.setdefault(key, name) != name:
                    problems.append(f"T story split: story {'/'.join(key)} is in two splits")
                    break
        return problems
    counts = np.sum([np.bincount(s.targets, minlength=5) for s in corpus.splits.values()], axis=0)
    found = dict(zip(corpus.task.labels, counts.tolist(), strict=True))
    if found != tales.EXPECTED_CLASS_COUNTS:
        problems.append(
            f"T: sentences per class {found}; expected {tales.EXPECTED_CLASS_COUNTS} (data README)"
        )
    return problems


def run_check(data_dir: Path | None = None, *, split_seed: int = 0) -> CheckReport:
    """Validate all corpora under ``data_dir`` (resolved as usual); never raises for bad data."""
    root = resolve_data_dir(data_dir)
    report = CheckReport(data_dir=str(root))
    failed: set[str] = set()
    for code, mode, kwargs, expected in MODES:
        if code in failed:
            continue
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", DataWarning)
            try:
                corpus = load_corpus(code, root, split_seed=split_seed, **kwargs)
            except ValueError as exc:  # DataError, MissingDataError, or a split that cannot be made
                failed.add(code)
                report.problems.append(f"{code} ({TASKS[code].name}): {exc}")
                continue
        report.notes.extend(
            f"{code} {mode}: {w.message}" for w in caught if issubclass(w.category, DataWarning)
        )
        sizes = corpus.sizes()
        if expected is not None and sizes != expected:
            report.problems.append(
                f"{code} {mode}: split sizes {sizes}; expected {expected} (data README / paper)"
            )
        if code == "T":
            report.problems.extend(_tales_problems(corpus, mode))
        report.summaries.append(CorpusSummary(code, mode, sizes, expected, distribution(corpus)))
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
