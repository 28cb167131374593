"""Label spaces: the :class:`Task` value, the registry every space is looked up in, task strings.

A *task* is a label space together with its corpus. A :class:`Task` is data: its kind, label names,
primary metric, record key and the module that reads its corpus. Everything downstream (losses,
activations, metrics, reports, bundles, prediction records) is chosen from these fields, never from
the space's name. Three spaces have Python loaders because their formats need them - SemEval-2018
E-c (``S``), Alm's fairy tales (``T``), EmoBank (``E``) - and every other space, GoEmotions
(``G``) included, is declared by a TOML corpus card (:mod:`emomtl.data.cards`). All of them live in
one registry: :func:`get_task` resolves a code or name (case-insensitive), :func:`known_tasks` lists
them in canonical order (built-ins first, then cards in the order they were registered).

The task-string grammar used on the command line and in configs::

    spec      := selection ("+" selection)*
    selection := [fraction] name
    fraction  := a number in (0, 1], e.g. 0.1 or 0.5 (a seeded random subset of the training set)
    name      := a registered code or name, e.g. S | T | E | G | semeval | goemotions | isear

e.g. ``"S"``, ``"0.1S+T+E"``, ``"0.5semeval+emobank+goemotions"``.
"""

from __future__ import annotations

import importlib
import os
import re
import threading
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.data.corpus import Corpus

TaskKind = Literal["multilabel", "multiclass", "regression"]
KINDS: tuple[str, ...] = ("multilabel", "multiclass", "regression")

#: Metric keys :mod:`emomtl.metrics` produces for each kind that can serve as a primary metric.
KIND_METRICS: dict[str, tuple[str, ...]] = {
    "multilabel": ("jaccard", "jaccard_paper", "f1_micro", "f1_macro"),
    "multiclass": ("f1_micro", "f1_macro", "accuracy"),
    "regression": ("pearson_mean", "rmse"),
}
#: Primary metric of a kind when a card names none.
DEFAULT_METRIC: dict[str, str] = {
    "multilabel": "jaccard",
    "multiclass": "f1_micro",
    "regression": "pearson_mean",
}
#: Metrics where lower is better (the rest of :data:`KIND_METRICS` are higher-is-better).
LOWER_IS_BETTER = frozenset({"rmse"})
#: Environment variable: card paths (``os.pathsep``-separated) registered on first registry use.
CORPORA_ENV = "EMOMTL_CORPORA"


@dataclass(frozen=True)
class Task:
    """One label space.

    Attributes:
        code: key of the space in task strings, results and bundles (``S``, ``T``, ``E``, ``G``;
            a card's ``code``, else its ``name``).
        name: long name (``semeval``, ``tales``, ``emobank``, ``goemotions``, a card's ``name``).
        kind: ``multilabel`` (sigmoid + BCE), ``multiclass`` (softmax + CE) or ``regression``
            (identity + MSE on standardised targets).
        labels: label / class / target names in the fixed output order of the space's head.
        primary_metric: key of the metric that ranks models on this space.
        higher_is_better: direction of ``primary_metric``.
        description: human-readable corpus description.
        record_key: key of the space in prediction records and the prefix of flat columns
            (``semeval``, ``ekman``, ``vad``; a card's ``name``).
        title: short title for tables and model cards.
        licence: the corpus licence, copied into model cards.
        citation: how to cite the corpus.
        label_descriptions: optional text per label (same order as ``labels``), or empty.
        reader: module that reads the corpus; it provides ``load(task, data_dir, options)`` and
            ``required_paths(task, data_dir)`` (see :meth:`load`).
        card: the :class:`emomtl.data.cards.CorpusCard` of a card-declared space, else None.
        expected_sizes: published ``{split: rows}``, checked by ``emomtl data check``, or None.
    """

    code: str
    name: str
    kind: TaskKind
    labels: tuple[str, ...]
    primary_metric: str
    higher_is_better: bool
    description: str
    record_key: str = ""
    title: str = ""
    licence: str = ""
    citation: str = ""
    label_descriptions: tuple[str, ...] = ()
    reader: str = ""
    card: Any = field(default=None, compare=False, repr=False)
    expected_sizes: Mapping[str, int] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"task {self.name!r}: unknown kind {self.kind!r}; expected {KINDS}")
        if not self.record_key:
            object.__setattr__(self, "record_key", self.name)
        if not self.title:
            object.__setattr__(self, "title", self.description or self.name)

    @property
    def num_labels(self) -> int:
        """Output width ``l_i`` of the task's head (paper Sec. 3.2: 11, 5, 3)."""
        return len(self.labels)

    def _reader(self) -> Any:
        if not self.reader:
            raise ValueError(f"task {self.name!r} has no corpus reader")
        return importlib.import_module(self.reader)

    def load(self, data_dir: Path, options: Mapping[str, Any] | None = None) -> Corpus:
        """Read this space's corpus with its train/dev/test splits.

        ``options`` holds loader options (``split_seed``, ``tales_split``, ``emobank_split``);
        each reader takes the ones it understands and ignores the rest.
        """
        return self._reader().load(self, Path(data_dir), dict(options or {}))

    def required_paths(self, data_dir: Path) -> list[Path]:
        """Files (or directories) the corpus needs; missing ones are reported all at once."""
        return list(self._reader().required_paths(self, Path(data_dir)))

    def to_dict(self) -> dict[str, Any]:
        """The self-describing part of the space (what a bundle stores to predict without it)."""
        return {
            "code": self.code,
            "name": self.name,
            "kind": self.kind,
            "labels": list(self.labels),
            "primary_metric": self.primary_metric,
            "higher_is_better": self.higher_is_better,
            "description": self.description,
            "record_key": self.record_key,
            "title": self.title,
            "licence": self.licence,
            "citation": self.citation,
            "label_descriptions": list(self.label_descriptions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Task:
        """Inverse of :meth:`to_dict` (a space without a corpus reader)."""
        return cls(
            code=str(data["code"]),
            name=str(data["name"]),
            kind=data["kind"],
            labels=tuple(str(v) for v in data["labels"]),
            primary_metric=str(data["primary_metric"]),
            higher_is_better=bool(data.get("higher_is_better", True)),
            description=str(data.get("description", "")),
            record_key=str(data.get("record_key", "")),
            title=str(data.get("title", "")),
            licence=str(data.get("licence", "")),
            citation=str(data.get("citation", "")),
            label_descriptions=tuple(str(v) for v in data.get("label_descriptions", ())),
        )


SEMEVAL_LABELS = (
    "anger",
    "anticipation",
    "disgust",
    "fear",
    "joy",
    "love",
    "optimism",
    "pessimism",
    "sadness",
    "surprise",
    "trust",
)
TALES_LABELS = ("anger-disgust", "fear", "happy", "sad", "surprise")
EMOBANK_LABELS = ("V", "A", "D")

SEMEVAL = Task(
    code="S",
    name="semeval",
    kind="multilabel",
    labels=SEMEVAL_LABELS,
    primary_metric="jaccard",
    higher_is_better=True,
    description="SemEval-2018 Task 1 E-c (English tweets, 11 emotions, multi-label)",
    record_key="semeval",
    title="SemEval-2018 E-c",
    licence="released by the SemEval-2018 Task 1 organisers for research use",
    citation="Mohammad et al. (2018), SemEval-2018 Task 1: Affect in Tweets",
    reader="emomtl.data.semeval",
    expected_sizes={"train": 6838, "dev": 886, "test": 3259},
)
TALES = Task(
    code="T",
    name="tales",
    kind="multiclass",
    labels=TALES_LABELS,
    primary_metric="f1_micro",
    higher_is_better=True,
    description="Alm's fairy tales, high-agreement sentences (5 Ekman classes, single-label)",
    record_key="ekman",
    title="Alm's tales (Ekman)",
    licence="free use and redistribution with the copyright notice and the authors' names kept",
    citation="Alm (2008), Affect in text and speech",
    reader="emomtl.data.tales",
    expected_sizes={"train": 965, "dev": 120, "test": 122},
)
EMOBANK = Task(
    code="E",
    name="emobank",
    kind="regression",
    labels=EMOBANK_LABELS,
    primary_metric="pearson_mean",
    higher_is_better=True,
    description="EmoBank (Valence/Arousal/Dominance, 1-5, regression)",
    record_key="vad",
    title="EmoBank (VAD)",
    licence="CC-BY-SA 4.0",
    citation="Buechel and Hahn (2017), EmoBank",
    # what the label-semantic head embeds instead of the bare names V / A / D
    label_descriptions=(
        "valence: how pleasant or unpleasant, positive or negative the feeling is",
        "arousal: how calm or excited, relaxed or agitated the feeling is",
        "dominance: how much in control or controlled, powerful or powerless one feels",
    ),
    reader="emomtl.data.emobank",
    expected_sizes={"train": 8062, "dev": 999, "test": 1000},
)

#: Cards shipped inside the package (``emomtl/data/cards/*.toml``), registered after S, T, E.
BUILTIN_CARDS: tuple[str, ...] = ("goemotions.toml",)


class _Registry:
    """Code -> :class:`Task`, in canonical order; name and code lookups are case-insensitive.

    Built-ins are registered on first use, then the built-in cards, then ``$EMOMTL_CORPORA``.
    """

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._keys: dict[str, str] = {}  # lower-cased code or name -> code
        self._ready = False
        self._lock = threading.RLock()

    def _ensure(self) -> None:
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            self._ready = True
            for task in (SEMEVAL, TALES, EMOBANK):
                self.add(task)
            from emomtl.data.cards import builtin_card_path, load_card

            for filename in BUILTIN_CARDS:
                self.add(load_card(builtin_card_path(filename)).to_task())
            for path in _env_card_paths():
                self.add_card(path)

    def add(self, task: Task, *, replace: bool = False) -> Task:
        """Register ``task``; its code and name must not clash with another space's."""
        with self._lock:
            self._ensure()
            existing = self._tasks.get(task.code)
            if existing is not None and existing == task:
                return existing
            for key in {task.code.lower(), task.name.lower()}:
                owner = self._keys.get(key)
                if owner is not None and (owner != task.code or not replace):
                    source = self._tasks[owner].card.path if self._tasks[owner].card else "built in"
                    raise ValueError(
                        f"label space {task.name!r} (code {task.code!r}): {key!r} is already "
                        f"used by space {self._tasks[owner].name!r} ({source}); give the card "
                        "another `name` or `code`"
                    )
            self._tasks[task.code] = task
            self._keys[task.code.lower()] = task.code
            self._keys[task.name.lower()] = task.code
            return task

    def add_card(self, path: str | Path) -> Task:
        """Read the card at ``path`` and register its space (the same card twice is a no-op)."""
        from emomtl.data.cards import load_card

        return self.add(load_card(path).to_task())

    def get(self, name_or_code: str) -> Task:
        self._ensure()
        code = self._keys.get(name_or_code.strip().lower())
        if code is None:
            known = ", ".join(f"{t.code} ({t.name})" for t in self._tasks.values())
            raise ValueError(
                f"unknown task {name_or_code!r} (no such label space); known: {known}. Declare "
                "a new one in a "
                f"corpus card and pass it with --corpus CARD.toml (or ${CORPORA_ENV})"
            )
        return self._tasks[code]

    def tasks(self) -> dict[str, Task]:
        self._ensure()
        return dict(self._tasks)


def _env_card_paths() -> list[str]:
    return [p for p in os.environ.get(CORPORA_ENV, "").split(os.pathsep) if p.strip()]


REGISTRY = _Registry()


def get_task(name_or_code: str) -> Task:
    """The registered space with this code (``S``) or name (``semeval``), case-insensitive.

    Raises:
        ValueError: listing every known space, for an unknown name (never a silent fallback).
    """
    return REGISTRY.get(name_or_code)


def known_tasks() -> dict[str, Task]:
    """Code -> task of every registered space, in canonical order."""
    return REGISTRY.tasks()


def register_task(task: Task) -> Task:
    """Register a space defined in code (cards are the usual way: :func:`register_cards`)."""
    return REGISTRY.add(task)


def register_cards(paths: Iterable[str | Path]) -> list[Task]:
    """Register the corpus cards at ``paths`` and return their spaces, in order.

    The absolute card paths are also appended to ``$EMOMTL_CORPORA`` so that worker processes
    started afterwards (``reproduce --workers``) resolve the same spaces.
    """
    tasks = []
    for path in paths:
        resolved = str(Path(path).expanduser().resolve())
        tasks.append(REGISTRY.add_card(resolved))
        current = _env_card_paths()
        if resolved not in current:
            os.environ[CORPORA_ENV] = os.pathsep.join([*current, resolved])
    return tasks


def task_stream(code: str) -> int:
    """A stable integer per space for seeding its random streams (training subsets).

    The built-ins keep their historical indices (``S`` 0, ``T`` 1, ``E`` 2, ``G`` 3) so earlier
    results reproduce; other spaces get ``1000 + crc32(code) % 10**6``, independent of the order
    in which cards were registered.
    """
    builtin = {"S": 0, "T": 1, "E": 2, "G": 3}
    if code in builtin:
        return builtin[code]
    return 1000 + zlib.crc32(code.encode("utf-8")) % 10**6


def canonical_order(codes: Iterable[str]) -> list[str]:
    """``codes`` sorted in registry order (``S, T, E, G``, then cards), without repeats."""
    wanted = set(codes)
    return [code for code in known_tasks() if code in wanted]


class _TasksView(Mapping[str, Task]):
    """Read-only live view of the registry, for code that iterates ``TASKS``."""

    def __getitem__(self, code: str) -> Task:
        tasks = known_tasks()
        if code in tasks:
            return tasks[code]
        return get_task(code)

    def __iter__(self):
        return iter(known_tasks())

    def __len__(self) -> int:
        return len(known_tasks())


#: Every registered space by code, in canonical order (a live view of the registry).
TASKS: Mapping[str, Task] = _TasksView()


@dataclass(frozen=True)
class TaskSelection:
    """A task and the fraction of its training set to use (1.0 = all of it)."""

    task: Task
    fraction: float = 1.0

    def __str__(self) -> str:
        return self.task.code if self.fraction == 1.0 else f"{self.fraction:g}{self.task.code}"


_SELECTION = re.compile(r"^\s*(?P<fraction>\d*\.?\d+)?\s*(?P<name>[A-Za-z][A-Za-z0-9_-]*)\s*$")


def parse_task_spec(spec: str) -> list[TaskSelection]:
    """Parse a task string such as ``"0.1S+T+E"`` into selections in canonical task order.

    Raises:
        ValueError: naming the offending part, for an unknown task, a fraction outside (0, 1],
            a repeated task or an empty string.
    """
    if not spec or not spec.strip():
        raise ValueError("empty task string; expected e.g. 'S', '0.1S+T+E' or 'semeval+tales'")
    selections: dict[str, TaskSelection] = {}
    for part in spec.split("+"):
        match = _SELECTION.match(part)
        if match is None:
            raise ValueError(
                f"cannot parse {part!r} in task string {spec!r}; expected [fraction]name, "
                "e.g. '0.1S', 'T' or 'emobank'"
            )
        task = get_task(match["name"])
        fraction = float(match["fraction"]) if match["fraction"] else 1.0
        if not 0.0 < fraction <= 1.0:
            raise ValueError(
                f"fraction {fraction:g} of task {task.code} in {spec!r} is not in (0, 1]"
            )
        if task.code in selections:
            raise ValueError(f"task {task.code} appears twice in {spec!r}")
        selections[task.code] = TaskSelection(task, fraction)
    return [selections[code] for code in canonical_order(selections)]


def format_task_spec(selections: list[TaskSelection]) -> str:
    """Inverse of :func:`parse_task_spec`: ``[0.1S, T, E] -> "0.1S+T+E"``."""
    return "+".join(str(s) for s in selections)
