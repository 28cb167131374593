"""The methods report (issue 12): every MTL method x sampling against STL, with statistics.

Reads a results directory written by ``emomtl reproduce --grid methods`` (one run directory per
setting; the setting's weighting and sampling come from its ``config.json``) and writes
``methods.md`` and ``methods.json`` beside the runs. Per MTL setting and task: the test primary
metric (mean ± 95% t-interval over seeds), MTL - STL against the STL run of the same task and S
fraction, the two-sided Welch p-value and the Holm-corrected p-value over *every* comparison in
the grid (:func:`emomtl.stats.holm_adjust`), and the training wall time per seed. Generic over
tasks: metrics and directions come from each :class:`~emomtl.data.tasks.Task`.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from emomtl.data.tasks import parse_task_spec
from emomtl.report.collect import ReportError, Run, read_run
from emomtl.stats import holm_adjust, mean_ci95, welch_pvalue

#: Significance level of the statement.
ALPHA = 0.05
REPORT_FILE = "methods.md"
JSON_FILE = "methods.json"


@dataclass
class Cell:
    """One (MTL setting, task) comparison against STL."""

    tasks: str
    weighting: str
    sampling: str
    task: str
    metric: str
    n: int
    mean: float
    ci95: float
    stl_mean: float
    stl_ci95: float
    diff: float
    p: float
    p_holm: float = math.nan
    wall_s: float = math.nan  # training wall time per seed of the setting (all its tasks)


def _train_config(run: Run) -> dict[str, Any]:
    return run.config.get("train", {})


def _stl_key(tasks: str, code: str) -> str:
    """The STL task string for task ``code`` of an MTL task string (its own fraction)."""
    for sel in parse_task_spec(tasks):
        if sel.task.code == code:
            return f"{sel.fraction:g}{code}" if sel.fraction < 1 else code
    raise KeyError(code)


def _wall_per_seed(run: Run) -> float:
    times = [float(s.record.get("wall_time_s", math.nan)) for s in run.seeds]
    return sum(times) / len(times) if times else math.nan


def compare(results_dir: Path) -> list[Cell]:
    """Every (MTL setting, task) cell of the results directory, Holm-corrected together."""
    root = Path(results_dir)
    if not root.is_dir():
        raise ReportError(f"results directory {root} does not exist")
    runs = [read_run(p) for p in sorted(root.iterdir()) if (p / "config.json").is_file()]
    runs = [r for r in runs if r.seeds]
    stl = {r.tasks: r for r in runs if len(r.task_codes) == 1}
    cells: list[Cell] = []
    for run in runs:
        if len(run.task_codes) == 1:
            continue
        config = _train_config(run)
        for sel in parse_task_spec(run.tasks):
            task = sel.task
            base = stl.get(_stl_key(run.tasks, task.code))
            values = run.values(task.code, task.primary_metric)
            mean, ci = mean_ci95(values)
            if base is None:
                stl_values: list[float] = []
            else:
                stl_values = base.values(task.code, task.primary_metric)
            stl_mean, stl_ci = mean_ci95(stl_values)
            cells.append(
                Cell(
                    tasks=run.tasks,
                    weighting=config.get("weighting", "equal"),
                    sampling=config.get("sampling", "proportional"),
                    task=task.code,
                    metric=task.primary_metric,
                    n=len(values),
                    mean=mean,
                    ci95=ci,
                    stl_mean=stl_mean,
                    stl_ci95=stl_ci,
                    diff=mean - stl_mean,
                    p=welch_pvalue(values, stl_values),
                    wall_s=_wall_per_seed(run),
                )
            )
    for cell, adjusted in zip(cells, holm_adjust([c.p for c in cells]), strict=True):
        cell.p_holm = adjusted
    return cells


def winners(cells: list[Cell], tasks: str, code: str) -> list[Cell]:
    """Cells of ``tasks`` where task ``code`` is better than STL with Holm p < :data:`ALPHA`
    (the metric's direction from its task)."""
    from emomtl.data.tasks import TASKS

    sign = 1.0 if TASKS[code].higher_is_better else -1.0
    return [
        c
        for c in cells
        if c.tasks == tasks and c.task == code and sign * c.diff > 0 and c.p_holm < ALPHA
    ]


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _fmt_p(value: float) -> str:
    if math.isnan(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def render(cells: list[Cell]) -> str:
    """The markdown report: one table per task string, the statement, the time table."""
    lines = ["# MTL methods against STL", ""]
    lines += [
        "Test primary metric per task (mean ± 95% t-interval over seeds); Δ = MTL − STL of the",
        "same task and S fraction; p: two-sided Welch; p_Holm: Holm-corrected over all "
        f"{len(cells)} comparisons of this grid. Aggregators (pcgrad, cagrad, nash_mtl, upgrad) "
        "run with `round` sampling where the grid says `proportional`.",
        "",
    ]
    by_tasks: dict[str, list[Cell]] = {}
    for cell in cells:
        by_tasks.setdefault(cell.tasks, []).append(cell)
    for tasks, group in by_tasks.items():
        codes = [sel.task.code for sel in parse_task_spec(tasks)]
        lines += [f"## {tasks}", ""]
        stl_row = []
        for code in codes:
            c = next(c for c in group if c.task == code)
            stl_row.append(f"STL {code} ({c.metric}) = {_fmt(c.stl_mean)} ± {_fmt(c.stl_ci95)}")
        lines += ["; ".join(stl_row) + ".", ""]
        header = "| weighting | sampling | " + " | ".join(
            f"{code} | Δ{code} | p {code} | p_Holm {code}" for code in codes
        )
        lines += [header + " | s/seed |", "|---|---|" + "--:|--:|--:|--:|" * len(codes) + "--:|"]
        settings: dict[tuple[str, str], dict[str, Cell]] = {}
        for c in sorted(group, key=_grid_order):
            settings.setdefault((c.weighting, c.sampling), {})[c.task] = c
        for (weighting, sampling), per_task in settings.items():
            parts = []
            for code in codes:
                c = per_task[code]
                parts.append(
                    f"{_fmt(c.mean)} ± {_fmt(c.ci95)} | {c.diff:+.3f} | {_fmt_p(c.p)} | "
                    f"{_fmt_p(c.p_holm)}"
                )
            wall = next(iter(per_task.values())).wall_s
            lines.append(f"| {weighting} | {sampling} | " + " | ".join(parts) + f" | {wall:.0f} |")
        lines.append("")
        lines += _statement(group, tasks, codes)
    return "\n".join(lines) + "\n"


def _grid_order(cell: Cell) -> tuple[int, int, str, str]:
    """Rows in the methods grid's order (weighting, then sampling); unknown ones last."""
    from emomtl.experiments.grid import METHOD_SAMPLINGS, METHOD_WEIGHTINGS

    w = METHOD_WEIGHTINGS.index(cell.weighting) if cell.weighting in METHOD_WEIGHTINGS else 99
    sampling = "proportional" if cell.sampling == "round" else cell.sampling
    s = METHOD_SAMPLINGS.index(sampling) if sampling in METHOD_SAMPLINGS else 99
    return (w, s, cell.weighting, cell.sampling)


def _costs(cells: list[Cell], best: Cell) -> str:
    others = [
        c
        for c in cells
        if (c.tasks, c.weighting, c.sampling) == (best.tasks, best.weighting, best.sampling)
        and c.task != best.task
    ]
    return ", ".join(f"{c.task} {c.diff:+.3f} (p_Holm {_fmt_p(c.p_holm)})" for c in others)


def _statement(cells: list[Cell], tasks: str, codes: list[str]) -> list[str]:
    from emomtl.data.tasks import TASKS

    out = []
    for code in codes:
        wins = winners(cells, tasks, code)
        if not wins:
            sign = 1.0 if TASKS[code].higher_is_better else -1.0
            mine = [c for c in cells if c.task == code and not math.isnan(c.diff)]
            line = f"- **{code}**: no configuration beats STL with Holm-corrected p < {ALPHA}"
            if mine:
                best = max(mine, key=lambda c: sign * c.diff)
                line += (
                    f"; the best Δ is {best.weighting} / {best.sampling}, "
                    f"{best.diff:+.3f} (p {_fmt_p(best.p)}, p_Holm {_fmt_p(best.p_holm)}); "
                    f"other spaces: {_costs(cells, best)}"
                )
            out.append(line + ".")
            continue
        for win in sorted(wins, key=lambda c: -c.diff):
            cost = _costs(cells, win)
            out.append(
                f"- **{code}**: {win.weighting} / {win.sampling} beats STL by {win.diff:+.3f} "
                f"(p_Holm {_fmt_p(win.p_holm)}); other spaces: {cost}."
            )
    return [*out, ""]


def build_methods_report(results_dir: Path) -> Path:
    """Write ``methods.md`` and ``methods.json`` into ``results_dir``; return the markdown path."""
    cells = compare(results_dir)
    if not cells:
        raise ReportError(f"no finished MTL runs in {results_dir}")
    root = Path(results_dir)
    (root / JSON_FILE).write_text(
        json.dumps([asdict(c) for c in cells], indent=2, allow_nan=True), encoding="utf-8"
    )
    path = root / REPORT_FILE
    path.write_text(render(cells), encoding="utf-8")
    return path
