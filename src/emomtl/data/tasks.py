"""Task specifications: one per label space, plus the task-string grammar.

A *task* is a label space together with its corpus: SemEval-2018 E-c (``S``), Alm's fairy tales
(``T``) and EmoBank (``E``). Everything downstream (losses, activations, metrics, reports) is chosen
from the :class:`Task` spec rather than from ``if code == "S"`` branches.

The task-string grammar used on the command line and in configs::

    spec      := selection ("+" selection)*
    selection := [fraction] name
    fraction  := a number in (0, 1], e.g. 0.1 or 0.5 (a seeded random subset of the training set)
    name      := S | T | E | semeval | tales | emobank   (case-insensitive)

e.g. ``"S"``, ``"0.1S+T+E"``, ``"0.5semeval+emobank"``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

TaskKind = Literal["multilabel", "multiclass", "regression"]


@dataclass(frozen=True)
class Task:
    """One label space.

    Attributes:
        code: one-letter code used in task strings and result keys (``S``, ``T``, ``E``).
        name: long name (``semeval``, ``tales``, ``emobank``).
        kind: ``multilabel`` (sigmoid + BCE), ``multiclass`` (softmax + CE) or ``regression``
            (identity + MSE).
        labels: label names in the fixed output order of the task's head.
        primary_metric: key of the metric the paper reports for this task.
        higher_is_better: direction of ``primary_metric``.
        description: human-readable corpus description.
    """

    code: str
    name: str
    kind: TaskKind
    labels: tuple[str, ...]
    primary_metric: str
    higher_is_better: bool
    description: str

    @property
    def num_labels(self) -> int:
        """Output width ``l_i`` of the task's head (paper Sec. 3.2: 11, 5, 3)."""
        return len(self.labels)


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
)
TALES = Task(
    code="T",
    name="tales",
    kind="multiclass",
    labels=TALES_LABELS,
    primary_metric="f1_micro",
    higher_is_better=True,
    description="Alm's fairy tales, high-agreement sentences (5 Ekman classes, single-label)",
)
EMOBANK = Task(
    code="E",
    name="emobank",
    kind="regression",
    labels=EMOBANK_LABELS,
    primary_metric="pearson_mean",
    higher_is_better=True,
    description="EmoBank (Valence/Arousal/Dominance, 1-5, regression)",
)

#: All tasks in canonical order. The shared-embedding head slices its 19 outputs in this order.
TASKS: dict[str, Task] = {t.code: t for t in (SEMEVAL, TALES, EMOBANK)}
_BY_NAME: dict[str, Task] = {
    **{t.code.lower(): t for t in TASKS.values()},
    **{t.name: t for t in TASKS.values()},
}


def get_task(name_or_code: str) -> Task:
    """Return the task for a code (``S``) or name (``semeval``), case-insensitive."""
    task = _BY_NAME.get(name_or_code.strip().lower())
    if task is None:
        known = ", ".join(f"{t.code} ({t.name})" for t in TASKS.values())
        raise ValueError(f"unknown task {name_or_code!r}; expected one of {known}")
    return task


@dataclass(frozen=True)
class TaskSelection:
    """A task and the fraction of its training set to use (1.0 = all of it)."""

    task: Task
    fraction: float = 1.0

    def __str__(self) -> str:
        return self.task.code if self.fraction == 1.0 else f"{self.fraction:g}{self.task.code}"


_SELECTION = re.compile(r"^\s*(?P<fraction>\d*\.?\d+)?\s*(?P<name>[A-Za-z]+)\s*$")


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
    return [selections[code] for code in TASKS if code in selections]


def format_task_spec(selections: list[TaskSelection]) -> str:
    """Inverse of :func:`parse_task_spec`: ``[0.1S, T, E] -> "0.1S+T+E"``."""
    return "+".join(str(s) for s in selections)
