"""The paper's experiment grid as constants: the 20 settings of Table 4 and their subsets.

A :class:`Setting` is one row of the paper's Table 4: a task string, a head (``mh`` or ``se``) and a
loss weighting (``equal`` or ``gradnorm``). Every setting is run over the seeds in :data:`SEEDS`.

- :data:`TABLE4`: all 20 rows, in the paper's order (Appendix, Table 4).
- :data:`TABLE2`: the rows of Table 2 (STL baselines and MH ``xS+T+E``); also the ``--quick`` grid.
- :data:`TABLE3`: the rows of Table 3 (GradNorm, shared embedding and both, on ``0.1S+T+E`` and
  ``S+T+E``).

Settings are plain data; nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emomtl.data.tasks import format_task_spec, parse_task_spec
from emomtl.naming import method_name
from emomtl.report import paper_values

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.train import TrainConfig

#: Training seeds of the full grid (the paper reports 5 runs per setting).
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)
#: Training seeds of the ``--quick`` grid.
QUICK_SEEDS: tuple[int, ...] = (0, 1)

_HEADS = ("mh", "se", "label")  # label: the label-semantic head (issue 14), not in the paper
#: The paper's method name of each (head, loss weighting) pair.
#: (head, weighting) -> the paper's method name (defined with the paper's numbers).
METHODS: dict[tuple[str, str], str] = paper_values.METHOD_NAMES


@dataclass(frozen=True)
class Setting:
    """One experiment setting (a row of the paper's Table 4).

    Attributes:
        tasks: task string, normalised to the canonical form of
            :func:`emomtl.data.tasks.format_task_spec` (e.g. ``"0.1S+T+E"``).
        head: ``mh`` (one head per task) or ``se`` (shared embedding layer).
        weighting: key of :data:`emomtl.weighting.WEIGHTINGS` (``equal`` or ``gradnorm``).
        sampling: the setting's own batch sampling (the methods grid), or ``None`` to take it
            from the run's overrides (the paper grids); part of the slug when set.
    """

    tasks: str
    head: str = "mh"
    weighting: str = "equal"
    sampling: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", format_task_spec(parse_task_spec(self.tasks)))
        if self.head not in _HEADS:
            raise ValueError(f"setting {self.tasks!r}: head {self.head!r} is not one of {_HEADS}")
        if not self.weighting or not self.weighting.replace("_", "").isalnum():
            raise ValueError(f"setting {self.tasks!r}: weighting {self.weighting!r} is not a key")
        if self.sampling is not None and not self.sampling.isalnum():
            raise ValueError(f"setting {self.tasks!r}: sampling {self.sampling!r} is not a key")

    @property
    def codes(self) -> list[str]:
        """Task codes of the setting in canonical order, e.g. ``["S", "T", "E"]``."""
        return [selection.task.code for selection in parse_task_spec(self.tasks)]

    @property
    def is_stl(self) -> bool:
        """True for a single-task (STL) baseline."""
        return len(self.codes) == 1

    @property
    def method(self) -> str:
        """The paper's *Method* column (:func:`emomtl.naming.method_name`): ``MH``, ``GN``,
        ``SE``, ``SE+GN``, or e.g. ``MH+UW`` for a weighting the paper did not use. STL rows are
        ``MH`` as in the paper's Table 4 (the network with one head)."""
        return method_name(self.head, self.weighting)

    @property
    def name(self) -> str:
        """Human-readable row name, e.g. ``"0.1S+T+E SE+GN"``, ``"0.1S+T+E MH+UW [balanced]"``
        with a sampling of its own."""
        name = f"{self.tasks} {self.method}"
        return f"{name} [{self.sampling}]" if self.sampling else name

    @property
    def slug(self) -> str:
        """Directory name of the setting, e.g. ``"mh-equal__0.1S+T+E"``.

        Uses only letters, digits, ``.``, ``+``, ``-`` and ``_``, which are safe on every common
        filesystem, and stays readable. A setting with its own sampling appends it:
        ``"mh-uw__0.1S+T+E__balanced"``.
        """
        slug = f"{self.head}-{self.weighting}__{self.tasks}"
        return f"{slug}__{self.sampling}" if self.sampling else slug

    def train_config(self, seeds: tuple[int, ...] = SEEDS, **overrides: Any) -> TrainConfig:
        """The :class:`~emomtl.train.TrainConfig` of this setting for ``seeds``.

        ``overrides`` set any other field (e.g. ``sampling="balanced"``); they may not change the
        setting's own tasks, head or weighting.
        """
        from emomtl.train import TrainConfig

        clash = {"tasks", "head", "weighting", "seeds"} & overrides.keys()
        if self.sampling is not None and "sampling" in overrides:
            clash.add("sampling")
        if clash:
            raise ValueError(f"overrides may not set {sorted(clash)}; they define the setting")
        if self.sampling is not None:
            overrides = {**overrides, "sampling": self.sampling}
        return TrainConfig(
            tasks=self.tasks,
            head=self.head,
            weighting=self.weighting,
            seeds=tuple(seeds),
            **overrides,
        )


def _row(tasks: str, method: str = "MH") -> Setting:
    head, weighting = next(key for key, value in METHODS.items() if value == method)
    return Setting(tasks, head, weighting)


#: STL baselines (Table 4, rows "T", "E", "(0.1 S)", "(0.5 S)", "S").
STL: tuple[Setting, ...] = (_row("T"), _row("E"), _row("0.1S"), _row("0.5S"), _row("S"))

#: All 20 rows of the paper's Table 4, in its order (the rows of
#: :data:`emomtl.report.paper_values.TABLE4`, the one place the paper's tables are written down).
TABLE4: tuple[Setting, ...] = tuple(_row(*row.key) for row in paper_values.TABLE4)

#: The rows of Table 2: STL baselines and MH-MTL ``xS+T+E`` for x in {0.1, 0.5, 1}.
TABLE2: tuple[Setting, ...] = tuple(_row(*key) for key in paper_values.TABLE2)

#: The rows of Table 3: SE, GN and SE+GN on ``0.1S+T+E`` and ``S+T+E``, in the paper's order.
TABLE3: tuple[Setting, ...] = tuple(_row(*key) for key in paper_values.TABLE3)

#: The ``--quick`` grid: the Table 2 rows (run with :data:`QUICK_SEEDS`).
QUICK: tuple[Setting, ...] = TABLE2

#: The methods grid (issue 12): MTL methods x batch samplings on these task strings.
METHOD_TASKS: tuple[str, ...] = ("0.1S+T+E", "S+T+E")
#: The same grid with GoEmotions as a fourth space (``--grid methods-goemotions``).
METHOD_TASKS_GOEMOTIONS: tuple[str, ...] = ("0.1S+T+E+G", "S+T+E+G")
#: Weightings of the methods grid (``gradnorm`` is the paper's, ``gradnorm_mean`` the variant).
METHOD_WEIGHTINGS: tuple[str, ...] = (
    "equal",
    "gradnorm",
    "gradnorm_mean",
    "uw",
    "dwa",
    "famo",
    "pcgrad",
    "upgrad",
    "cagrad",
    "nash_mtl",
)
#: Weightings that need every task in every batch (gradient aggregators).
AGGREGATORS: tuple[str, ...] = ("pcgrad", "cagrad", "nash_mtl", "upgrad", "aligned_mtl")
#: The slowest weightings (a solver per step): run after every other cell of their task string,
#: so a grid cut short has the rest.
SLOW_WEIGHTINGS: tuple[str, ...] = ("cagrad", "nash_mtl")
#: Samplings of the methods grid. Aggregators cannot use ``proportional`` (a batch may lack a
#: task): in that column they run with ``round`` (one batch of every task per step).
METHOD_SAMPLINGS: tuple[str, ...] = ("balanced", "proportional", "temperature")
#: STL baselines of the methods grid (one per task and S fraction), run with the grid's options.
METHOD_STL: tuple[Setting, ...] = (
    Setting("0.1S"),
    Setting("T"),
    Setting("E"),
    Setting("S"),
    Setting("G"),
)


def method_sampling(weighting: str, sampling: str) -> str:
    """The sampling a methods-grid cell runs with: ``proportional`` becomes ``round`` for the
    gradient aggregators (:data:`AGGREGATORS`), every other pair is unchanged."""
    return "round" if weighting in AGGREGATORS and sampling == "proportional" else sampling


def methods_grid(task_strings: tuple[str, ...]) -> tuple[Setting, ...]:
    """The methods grid on ``task_strings``, in the order a grid cut short is most useful: per
    task string the STL baselines of its spaces (at their fractions), then every sampling
    (balanced first) of every weighting with the MH head; the :data:`SLOW_WEIGHTINGS` (a solver
    per step, several times the others' cost) of every task string after all the others, so
    that a run stopped early has compared every cheap method on every task string."""

    def cells(tasks: str, slow: bool) -> list[Setting]:
        return [
            Setting(tasks, "mh", weighting, method_sampling(weighting, sampling))
            for sampling in METHOD_SAMPLINGS
            for weighting in METHOD_WEIGHTINGS
            if (weighting in SLOW_WEIGHTINGS) == slow
        ]

    grid: list[Setting] = []
    for tasks in task_strings:
        selections = {sel.task.code: sel for sel in parse_task_spec(tasks)}
        for stl in METHOD_STL:
            (sel,) = parse_task_spec(stl.tasks)
            own = selections.get(sel.task.code)
            if own is not None and own.fraction == sel.fraction and stl not in grid:
                grid.append(stl)
        grid += cells(tasks, slow=False)
    for tasks in task_strings:
        grid += cells(tasks, slow=True)
    return tuple(grid)


#: ``emomtl reproduce --grid methods``: 4 STL + 2 x 3 x 10 MTL settings (run with
#: selection ``per-task``).
METHODS_GRID: tuple[Setting, ...] = methods_grid(METHOD_TASKS)
#: ``emomtl reproduce --grid methods-goemotions``: 5 STL (0.1S, T, E, G, S) + 2 x 3 x 10 MTL
#: settings with GoEmotions.
METHODS_GOEMOTIONS_GRID: tuple[Setting, ...] = methods_grid(METHOD_TASKS_GOEMOTIONS)

#: Training options a named grid fixes for every setting, STL baselines included. With the
#: paper's weight decay (1e-3 as Adam L2) and learning rate no head learns GoEmotions' rare
#: labels (macro-F1 0.027 alone, 0.001 in S+T+E+G; README, GoEmotions), so its grid trains
#: every setting with the options under which GoEmotions is learnt (STL macro-F1 0.251 with
#: dev-loss stopping, 0.305 with the grid's per-task selection).
GRID_TRAIN_OPTIONS: dict[str, dict[str, Any]] = {
    "methods-goemotions": {"weight_decay": 0.0, "lr": 1e-3},
}

#: Named grids for the command line.
GRIDS: dict[str, tuple[Setting, ...]] = {
    "table4": TABLE4,
    "table2": TABLE2,
    "table3": TABLE3,
    "quick": QUICK,
    "stl": STL,
    "methods": METHODS_GRID,
    "methods-goemotions": METHODS_GOEMOTIONS_GRID,
}
#: Named grids that are methods grids (``emomtl reproduce --grid``: per-task selection, the
#: methods report).
METHOD_GRIDS: tuple[str, ...] = ("methods", "methods-goemotions")


def setting_from_slug(slug: str) -> Setting:
    """Inverse of :attr:`Setting.slug`: ``"se-gradnorm__S+T+E" -> Setting("S+T+E", "se", ...)``."""
    prefix, sep, rest = slug.partition("__")
    tasks, _, sampling = rest.partition("__")
    head, dash, weighting = prefix.partition("-")
    if not sep or not dash:
        raise ValueError(f"{slug!r} is not a setting directory name like 'mh-equal__0.1S+T+E'")
    return Setting(tasks, head, weighting, sampling or None)
