"""Markdown tables: the paper's Tables 2-4 with our numbers beside the paper's, and all metrics.

Every cell is computed from per-seed test metrics with :func:`emomtl.stats.mean_ci95`. A cell of
Tables 2-4 reads ``ours mean ± 95% half-width (paper value, ours - paper)``, with a dagger when
the paper's value lies outside our interval.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from emomtl.data.tasks import TASKS
from emomtl.report.collect import Results, Run
from emomtl.report.paper_values import BY_KEY, PAPER_COLUMNS, TABLE4, PaperValue, SettingKey
from emomtl.stats import mean_ci95

#: Marker of a cell whose published value lies outside our 95% interval.
DAGGER = "†"

#: The metric a task's published value is compared with, where it is not the task's primary
#: metric: the paper's code scored an empty gold set with an empty prediction as 0
#: (``jaccard_paper``; 75 of SemEval's 3259 test tweets have no emotion), so the paper's S
#: numbers are compared with that variant and the official Jaccard is shown beside it.
PAPER_METRIC: dict[str, str] = {"S": "jaccard_paper"}

#: Columns of the metric tables: task code -> ((metric key, column header), ...).
#: Column titles of metric keys (any label space; keys not listed are shown as they are).
METRIC_TITLES: dict[str, str] = {
    "jaccard": "Jaccard (official)",
    "jaccard_paper": "Jaccard (paper's code)",
    "f1_micro": "micro-F1",
    "f1_macro": "macro-F1",
    "accuracy": "accuracy",
    "pearson_mean": "r (mean)",
    "rmse": "RMSE (target scale)",
}


def metric_columns(primary: str, runs: Sequence[Run], code: str) -> list[tuple[str, str]]:
    """``(metric key, title)`` of every metric the runs recorded for space ``code``: the primary
    metric first, then the others in the order first recorded; the loss and per-target RMSEs are
    left out (per-target Pearson r stay: ``pearson_V`` -> "r V")."""
    keys = [primary]
    for run in runs:
        for seed in run.seeds:
            for key in seed.metrics.get("test", {}).get(code, {}):
                if key not in keys and key != "loss" and not key.startswith("rmse_"):
                    keys.append(key)
    return [(key, metric_title(key)) for key in keys]


def metric_title(key: str) -> str:
    """A metric key's column title: :data:`METRIC_TITLES`, ``pearson_V`` -> "r V", else the key."""
    if key in METRIC_TITLES:
        return METRIC_TITLES[key]
    if key.startswith("pearson_"):
        return f"r {key.removeprefix('pearson_')}"
    return key


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table (first two columns left-aligned, the rest right)."""
    align = [":--" if i < 2 else "--:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(str(c) for c in line) + " |" for line in lines)


def fmt_signed(x: float, digits: int = 3) -> str:
    """``0.0123 -> "+0.012"``, ``-0.02 -> "-0.020"`` (a true minus would break copy-paste)."""
    return f"{0.0 if round(x, digits) == 0 else x:+.{digits}f}"


def fmt_mean_ci(values: Sequence[float], digits: int = 3) -> str:
    """``"0.372 ± 0.012"``; ``"0.372 (n=1)"`` for one seed; ``"n/a"`` for none."""
    if not values:
        return "n/a"
    mean, half = mean_ci95(values)
    if math.isnan(half):
        return f"{mean:.{digits}f} (n={len(values)})"
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def paper_outside(values: Sequence[float], paper: PaperValue) -> bool:
    """True when the paper's mean lies outside our 95% interval (False if we have no interval)."""
    mean, half = mean_ci95(values)
    if math.isnan(half):
        return False
    return abs(paper.mean - mean) > half


def paper_cell(values: Sequence[float], paper: PaperValue | None) -> str:
    """One cell of Tables 2-4: ours, then the paper's value and our difference to it."""
    if paper is None:
        return fmt_mean_ci(values) if values else "-"
    if not values:
        return f"n/a ({paper.mean:.3f})"
    mean, _ = mean_ci95(values)
    mark = f" {DAGGER}" if paper_outside(values, paper) else ""
    return f"{fmt_mean_ci(values)} ({paper.mean:.3f}, {fmt_signed(mean - paper.mean)}){mark}"


def setting_label(key: SettingKey) -> tuple[str, str]:
    """(dataset label, method) as the paper prints them; the task string for other settings."""
    row = BY_KEY.get(key)
    return (row.label, row.method) if row is not None else key


def table_order(keys: Sequence[SettingKey]) -> list[SettingKey]:
    """Table 4's row order first, then settings the paper did not run, sorted."""
    paper_order = {row.key: i for i, row in enumerate(TABLE4)}
    return sorted(keys, key=lambda k: (paper_order.get(k, len(paper_order)), k))


def paper_layout_table(
    results: Results, keys: Sequence[SettingKey], *, s_metric: str | None = None
) -> str:
    """Table 2, 3 or 4 in the paper's layout for the given setting keys, in the given order.

    Args:
        results: the collected runs.
        keys: the rows; keys absent from the paper get cells without a paper value.
        s_metric: metric for the Jaccard column (default: S's primary metric, ``jaccard``).
    """
    primary = {code: TASKS[code].primary_metric for code, _ in PAPER_COLUMNS}
    metric = {code: PAPER_METRIC.get(code, primary[code]) for code in primary}
    if s_metric is not None:
        metric["S"] = s_metric
    header = ["Dataset", "Method", *(f"{name} ({code})" for code, name in PAPER_COLUMNS), "seeds"]
    rows = []
    for key in keys:
        paper = BY_KEY.get(key)
        paper_values = paper.values if paper is not None else {}
        run = results.get(key)
        label, method = setting_label(key)
        if run is None:
            cells = [
                f"not run ({paper_values[code].mean:.3f})" if code in paper_values else "-"
                for code, _ in PAPER_COLUMNS
            ]
            rows.append([label, method, *cells, "0"])
            continue
        cells = [
            _compared_cell(run, code, metric[code], primary[code], paper_values.get(code))
            if code in run.task_codes
            else "-"
            for code, _ in PAPER_COLUMNS
        ]
        rows.append([label, method, *cells, str(len(run.seeds))])
    return markdown_table(header, rows)


def _compared_cell(run: Run, code: str, metric: str, primary: str, paper: PaperValue | None) -> str:
    """:func:`paper_cell` on ``metric``; the primary metric beside it when they differ."""
    cell = paper_cell(run.values(code, metric), paper)
    if metric == primary:
        return cell
    return f"{cell}; {primary}: {fmt_mean_ci(run.values(code, primary))}"


def metrics_table(results: Results, code: str, split: str = "test") -> str | None:
    """Every metric of task ``code`` for every setting that trained it; None when none did."""
    runs: list[Run] = [
        results.runs[k] for k in table_order(list(results.runs)) if results.get(k) is not None
    ]
    runs = [r for r in runs if code in r.task_codes]
    if not runs:
        return None
    columns = metric_columns(TASKS[code].primary_metric, runs, code)
    header = ["Dataset", "Method", *(name for _, name in columns), "seeds"]
    rows = [
        [
            *setting_label(run.key),
            *(fmt_mean_ci(run.values(code, metric, split)) for metric, _ in columns),
            str(len(run.seeds)),
        ]
        for run in runs
    ]
    return markdown_table(header, rows)
