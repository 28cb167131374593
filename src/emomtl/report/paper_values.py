"""The paper's published numbers, as data, in one place.

Transcribed from Table 4 (appendix) of *Multi-task learning for Text-based Emotion Detection across
disparate label spaces*: test-set mean +- 95% confidence bound over 5 runs. Tables 2 and 3 of the
paper repeat subsets of these means (without the bounds); they are defined here as lists of row
keys into Table 4, never as separate numbers.

Columns: F1 on Alm's tales (``T``, micro-F1 = accuracy), mean Pearson r over V/A/D on EmoBank
(``E``), Jaccard accuracy on SemEval-2018 E-c (``S``); a row only has values for the tasks it
trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from emomtl.data.tasks import format_task_spec, parse_task_spec

#: Number of runs behind every Table 4 interval (paper, Table 4 caption).
PAPER_RUNS = 5

#: Display order of Table 4's metric columns: (task code, the paper's column header).
PAPER_COLUMNS: tuple[tuple[str, str], ...] = (("T", "F1"), ("E", "r"), ("S", "Jaccard"))

#: The paper's method names (Table 4 "Method" column), in the order of Table 3.
METHODS: tuple[str, ...] = ("MH", "SE", "GN", "SE+GN")

#: (head, weighting) -> the paper's method name; shared by the grid and the report.
METHOD_NAMES: dict[tuple[str, str], str] = {
    ("mh", "equal"): "MH",
    ("mh", "gradnorm"): "GN",
    ("se", "equal"): "SE",
    ("se", "gradnorm"): "SE+GN",
    ("label", "equal"): "Label",  # not the paper's: the label-semantic head
}

SettingKey = tuple[str, str]
"""(canonical task string such as ``"0.1S+T+E"``, method such as ``"SE+GN"``)."""


@dataclass(frozen=True)
class PaperValue:
    """One published number: mean and half-width of its 95% interval."""

    mean: float
    ci95: float

    @property
    def low(self) -> float:
        """Lower end of the published interval."""
        return self.mean - self.ci95

    @property
    def high(self) -> float:
        """Upper end of the published interval."""
        return self.mean + self.ci95


@dataclass(frozen=True)
class PaperRow:
    """One row of Table 4.

    Attributes:
        label: the paper's "Dataset" cell, e.g. ``"(0.1S)+T+E"`` or ``"S+T+E"``.
        method: ``MH``, ``GN``, ``SE`` or ``SE+GN``.
        values: task code -> published value of that task's primary metric.
    """

    label: str
    method: str
    values: Mapping[str, PaperValue] = field(default_factory=dict)

    @property
    def tasks(self) -> str:
        """Canonical task string of the row (``"(0.1S)+T"`` -> ``"0.1S+T"``)."""
        return format_task_spec(parse_task_spec(self.label.replace("(", "").replace(")", "")))

    @property
    def key(self) -> SettingKey:
        """``(tasks, method)``: the identity of the setting."""
        return (self.tasks, self.method)

    @property
    def display(self) -> str:
        """Row label as the tables print it: ``"(0.1S)+T+E | MH"``."""
        return f"{self.label} | {self.method}"


def _row(
    label: str,
    method: str,
    *,
    T: tuple[float, float] | None = None,
    E: tuple[float, float] | None = None,
    S: tuple[float, float] | None = None,
) -> PaperRow:
    values = {code: PaperValue(*v) for code, v in (("T", T), ("E", E), ("S", S)) if v is not None}
    return PaperRow(label, method, MappingProxyType(values))


#: Table 4, row by row, in the paper's order.
TABLE4: tuple[PaperRow, ...] = (
    _row("T", "MH", T=(0.668, 0.017)),
    _row("E", "MH", E=(0.513, 0.005)),
    _row("(0.1S)", "MH", S=(0.310, 0.006)),
    _row("(0.1S)+T", "MH", T=(0.648, 0.015), S=(0.350, 0.007)),
    _row("(0.1S)+E", "MH", E=(0.461, 0.005), S=(0.366, 0.018)),
    _row("(0.1S)+T+E", "MH", T=(0.658, 0.022), E=(0.463, 0.003), S=(0.385, 0.007)),
    _row("(0.5S)", "MH", S=(0.422, 0.007)),
    _row("(0.5S)+T", "MH", T=(0.691, 0.014), S=(0.418, 0.008)),
    _row("(0.5S)+E", "MH", E=(0.488, 0.006), S=(0.430, 0.009)),
    _row("(0.5S)+T+E", "MH", T=(0.682, 0.010), E=(0.484, 0.003), S=(0.431, 0.003)),
    _row("S", "MH", S=(0.445, 0.008)),
    _row("S+T", "MH", T=(0.715, 0.003), S=(0.435, 0.011)),
    _row("S+E", "MH", E=(0.508, 0.005), S=(0.453, 0.005)),
    _row("S+T+E", "MH", T=(0.689, 0.015), E=(0.500, 0.004), S=(0.438, 0.008)),
    _row("0.1S+T+E", "GN", T=(0.689, 0.042), E=(0.384, 0.012), S=(0.381, 0.007)),
    _row("S+T+E", "GN", T=(0.707, 0.015), E=(0.442, 0.005), S=(0.445, 0.006)),
    _row("0.1S+T+E", "SE", T=(0.664, 0.026), E=(0.459, 0.005), S=(0.382, 0.015)),
    _row("S+T+E", "SE", T=(0.693, 0.013), E=(0.495, 0.006), S=(0.445, 0.004)),
    _row("0.1S+T+E", "SE+GN", T=(0.670, 0.025), E=(0.436, 0.007), S=(0.377, 0.015)),
    _row("S+T+E", "SE+GN", T=(0.713, 0.024), E=(0.474, 0.005), S=(0.454, 0.008)),
)

#: Table 4 indexed by setting key.
BY_KEY: Mapping[SettingKey, PaperRow] = MappingProxyType({row.key: row for row in TABLE4})

#: Table 2 (MH-MTL with varying S training size): keys into Table 4, in the paper's order.
TABLE2: tuple[SettingKey, ...] = (
    ("T", "MH"),
    ("E", "MH"),
    ("0.1S", "MH"),
    ("0.1S+T+E", "MH"),
    ("0.5S", "MH"),
    ("0.5S+T+E", "MH"),
    ("S", "MH"),
    ("S+T+E", "MH"),
)

#: Table 3 (modifications: SE, GN, SE+GN): keys into Table 4, in the paper's order.
TABLE3: tuple[SettingKey, ...] = (
    ("0.1S+T+E", "SE"),
    ("0.1S+T+E", "GN"),
    ("0.1S+T+E", "SE+GN"),
    ("S+T+E", "SE"),
    ("S+T+E", "GN"),
    ("S+T+E", "SE+GN"),
)

#: The S training fractions of the paper's central experiment (Sec. 4.2).
S_FRACTIONS: tuple[float, ...] = (0.1, 0.5, 1.0)


def s_tasks(fraction: float, *others: str) -> str:
    """Canonical task string of S at ``fraction`` plus ``others``: ``(0.1, "T") -> "0.1S+T"``."""
    head = "S" if fraction == 1.0 else f"{fraction:g}S"
    return format_task_spec(parse_task_spec("+".join((head, *others))))
