"""The paper's figures from saved runs: PNG files written with matplotlib's Agg canvas.

- Fig. 3: GradNorm loss weights lambda_i over training steps (mean over seeds), one panel per
  GradNorm setting.
- Fig. 4/7: the 19 x 19 Pearson correlation matrix of the rows of the shared-embedding weight W_SE
  (mean over seeds of the per-seed matrices), labels grouped Ekman, VAD, SemEval as in the paper.
- Fig. 5/6: S's test Jaccard against its training fraction, with 95% CI bars and the paper's values
  as faint markers.

Each function returns the written path, or None when its inputs are missing (the caller notes it).
``matplotlib.figure.Figure`` is used directly (no pyplot state), so no display is ever needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from emomtl.data.tasks import TASKS
from emomtl.report.collect import Results, Run
from emomtl.report.paper_values import BY_KEY, S_FRACTIONS, SettingKey, s_tasks
from emomtl.stats import mean_ci95

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 150
FONT_SIZE = 11

#: Display order and suffix of each task's labels in the correlation heatmap (paper Fig. 7).
HEATMAP_GROUPS: tuple[tuple[str, str], ...] = (("T", " (Ek)"), ("E", ""), ("S", " (S)"))

#: Series of Fig. 5 (MH-MTL vs STL) and Fig. 6 (modifications): (legend, task partners, method).
FIG5_SERIES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("STL", (), "MH"),
    ("MH xS+T", ("T",), "MH"),
    ("MH xS+E", ("E",), "MH"),
    ("MH xS+T+E", ("T", "E"), "MH"),
)
FIG6_SERIES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("STL", (), "MH"),
    ("MH", ("T", "E"), "MH"),
    ("SE", ("T", "E"), "SE"),
    ("GN", ("T", "E"), "GN"),
    ("SE+GN", ("T", "E"), "SE+GN"),
)


def _figure(width: float, height: float, nrows: int = 1, ncols: int = 1) -> tuple[Figure, list]:
    """A constrained-layout figure and its axes, flattened row by row."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, list(axes.ravel())


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png", dpi=DPI)
    tmp.replace(path)
    return path


def mean_over_seeds(series: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Mean of (steps_k, n) arrays of unequal length (early stopping) and the seed count per step.

    Returns ``(mean (max_steps, n), count (max_steps,))``: step t averages the seeds reaching it.
    """
    steps = max(a.shape[0] for a in series)
    padded = np.full((len(series), steps, series[0].shape[1]), np.nan)
    for i, a in enumerate(series):
        padded[i, : a.shape[0]] = a
    count = np.isfinite(padded[:, :, 0]).sum(axis=0)
    with np.errstate(invalid="ignore"):
        mean = np.nansum(padded, axis=0) / np.maximum(count, 1)[:, None]
    return mean, count


def plot_lambdas(runs: Sequence[Run], path: Path) -> Path | None:
    """Fig. 3: one panel per run with GradNorm lambdas, one line per task (mean over seeds).

    The line is solid while every seed is still training and faint after the first seed stopped
    early (from there on it averages fewer seeds).
    """
    runs = [r for r in runs if any(s.lambdas is not None for s in r.seeds)]
    if not runs:
        return None
    ncols = min(2, len(runs))
    nrows = -(-len(runs) // ncols)
    fig, axes = _figure(6.0 * ncols, 4.3 * nrows, nrows=nrows, ncols=ncols)
    for ax in axes[len(runs) :]:
        ax.set_visible(False)
    for ax, run in zip(axes, runs, strict=False):
        series = [s.lambdas for s in run.seeds if s.lambdas is not None]
        mean, count = mean_over_seeds(series)
        steps = np.arange(1, mean.shape[0] + 1)
        common = int((count == len(series)).sum())
        for i, code in enumerate(run.task_codes):
            (line,) = ax.plot(
                steps[:common], mean[:common, i], lw=1.6, label=f"{code} ({TASKS[code].name})"
            )
            ax.plot(
                steps[common - 1 :],
                mean[common - 1 :, i],
                lw=1.0,
                alpha=0.35,
                color=line.get_color(),
            )
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_title(
            f"{run.tasks} | {run.method} (mean of {len(series)} seeds)", fontsize=FONT_SIZE
        )
        ax.set_xlabel("training step (batch)", fontsize=FONT_SIZE)
        ax.set_ylabel(r"loss weight $\lambda_i$", fontsize=FONT_SIZE)
        ax.tick_params(labelsize=FONT_SIZE - 1)
        ax.legend(fontsize=FONT_SIZE - 1)
    return _save(fig, path)


def heatmap_order(task_codes: Sequence[str]) -> tuple[list[int], list[str], list[int]]:
    """Row permutation from canonical W_SE order to the paper's display order, with labels.

    Args:
        task_codes: the setting's tasks in canonical order (W_SE rows follow it).

    Returns:
        ``(order, labels, group_sizes)``: ``W[order]`` is in display order (Ekman, VAD, SemEval,
        then any other space in canonical order).
    """
    offsets, start = {}, 0
    for code in task_codes:
        offsets[code] = start
        start += TASKS[code].num_labels
    order, labels, sizes = [], [], []
    shown = [code for code, _ in HEATMAP_GROUPS]
    groups = [*HEATMAP_GROUPS, *((c, f" ({c})") for c in task_codes if c not in shown)]
    for code, suffix in groups:
        if code not in offsets:
            continue
        task = TASKS[code]
        order.extend(range(offsets[code], offsets[code] + task.num_labels))
        labels.extend(f"{label}{suffix}" for label in task.labels)
        sizes.append(task.num_labels)
    return order, labels, sizes


def se_correlation(run: Run) -> np.ndarray | None:
    """Mean over seeds of the row-wise Pearson correlation of W_SE, in display order."""
    weights = [s.se_weight for s in run.seeds if s.se_weight is not None]
    if not weights:
        return None
    order, _, _ = heatmap_order(run.task_codes)
    if any(w.shape[0] != len(order) for w in weights):
        shapes = sorted({w.shape for w in weights})
        raise ValueError(
            f"{run.path}: W_SE has shape(s) {shapes}, expected {len(order)} rows for {run.tasks}"
        )
    return np.mean([np.corrcoef(w[order]) for w in weights], axis=0)


def plot_se_correlation(run: Run, path: Path) -> Path | None:
    """Fig. 4/7: annotated heatmap of the W_SE label correlation matrix of one SE run."""
    corr = se_correlation(run)
    if corr is None:
        return None
    _, labels, sizes = heatmap_order(run.task_codes)
    n = len(labels)
    fig, (ax,) = _figure(0.5 * n + 3.0, 0.5 * n + 2.0)
    image = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(
                j,
                i,
                f"{corr[i, j]:.1f}",
                ha="center",
                va="center",
                fontsize=FONT_SIZE - 3,
                color="white" if abs(corr[i, j]) > 0.6 else "black",
            )
    for edge in np.cumsum(sizes)[:-1]:
        ax.axhline(edge - 0.5, color="black", lw=1.2)
        ax.axvline(edge - 0.5, color="black", lw=1.2)
    ax.set_xticks(range(n), labels, rotation=60, ha="right", fontsize=FONT_SIZE - 1)
    ax.set_yticks(range(n), labels, fontsize=FONT_SIZE - 1)
    n_seeds = sum(s.se_weight is not None for s in run.seeds)
    ax.set_title(
        f"Label correlation of W_SE rows: {run.tasks} | {run.method} (mean of {n_seeds} seeds)",
        fontsize=FONT_SIZE + 1,
    )
    fig.colorbar(image, ax=ax, shrink=0.8).ax.tick_params(labelsize=FONT_SIZE - 1)
    return _save(fig, path)


def plot_s_fraction(
    results: Results,
    path: Path,
    series: Sequence[tuple[str, tuple[str, ...], str]],
    *,
    metric: str = "jaccard",
    title: str = "",
) -> Path | None:
    """Fig. 5/6: S test ``metric`` against S's training fraction, one line per series.

    Args:
        series: (legend, partner task codes, method); STL is ``("STL", (), "MH")``.
    """
    import matplotlib as mpl

    points: list[tuple[str, list[tuple[float, float, float]], list[tuple[float, float]]]] = []
    for legend, partners, method in series:
        ours, paper = [], []
        for fraction in S_FRACTIONS:
            key: SettingKey = (s_tasks(fraction, *partners), method)
            run = results.get(key)
            values = run.values("S", metric) if run is not None else []
            if values:
                mean, half = mean_ci95(values)
                ours.append((fraction, mean, 0.0 if np.isnan(half) else half))
            if key in BY_KEY:
                paper.append((fraction, BY_KEY[key].values["S"].mean))
        if ours:
            points.append((legend, ours, paper))
    if not points:
        return None
    fig, (ax,) = _figure(7.0, 4.8)
    colors = mpl.colormaps["tab10"].colors
    jitter = 0.012 * (np.arange(len(points)) - (len(points) - 1) / 2)
    for k, (legend, ours, paper) in enumerate(points):
        color = colors[k % len(colors)]
        x, y, err = (np.array(v) for v in zip(*ours, strict=True))
        ax.errorbar(
            x + jitter[k], y, yerr=err, marker="o", capsize=4, lw=1.6, color=color, label=legend
        )
        if paper:
            px, py = (np.array(v) for v in zip(*paper, strict=True))
            ax.plot(
                px + jitter[k], py, ls="none", marker="D", ms=7, mfc="none", color=color, alpha=0.45
            )
    ax.plot([], [], ls="none", marker="D", mfc="none", color="grey", alpha=0.6, label="paper")
    ax.set_xticks(S_FRACTIONS, [f"{f:g}" for f in S_FRACTIONS])
    ax.set_xlabel("fraction of S (SemEval) training set", fontsize=FONT_SIZE)
    ax.set_ylabel(f"S test {metric} (mean ± 95% CI)", fontsize=FONT_SIZE)
    ax.tick_params(labelsize=FONT_SIZE - 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 1, loc="lower right")
    if title:
        ax.set_title(title, fontsize=FONT_SIZE + 1)
    return _save(fig, path)
