"""Read saved run directories into plain records; the report's only contact with the file system.

A results directory holds one run directory per setting (any direct subdirectory with a
``config.json``, layout in ``docs/design.md``, "Run directory"). Only finished seeds (those with a
``metrics.json``) are read; aggregates are recomputed from them, so ``results.json`` is not needed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from emomtl.data.tasks import canonical_order, format_task_spec, parse_task_spec
from emomtl.naming import run_method
from emomtl.report.paper_values import SettingKey


class ReportError(Exception):
    """The results directory cannot be turned into a report; the message says why and what to do."""


@dataclass
class SeedRun:
    """One finished (setting, seed) cell.

    Attributes:
        seed: the training seed.
        metrics: ``{"dev"|"test": {task code: {metric: float}}}`` from ``metrics.json``.
        record: the whole ``metrics.json`` (best_epoch, epochs_run, train_size, wall_time_s, ...).
        lambdas: GradNorm only: (steps, n_tasks) loss weights applied at each step.
        se_weight: SE head only: (sum l_i, hidden) rows of W_SE in canonical S, T, E label order.
    """

    seed: int
    metrics: dict[str, dict[str, dict[str, float]]]
    record: dict[str, Any]
    lambdas: np.ndarray | None = None
    se_weight: np.ndarray | None = None


@dataclass
class Run:
    """One setting's run directory and its finished seeds.

    Attributes:
        path: the run directory.
        tasks: canonical task string (``"0.1S+T+E"``).
        method: ``MH``, ``GN``, ``SE``, ``SE+GN``, ``MH+UW``, ``MH+FT``, ... plus the
            :func:`~emomtl.naming.protocol_suffix` of a non-default sampling or selection.
        config: the parsed ``config.json``.
        seeds: finished seeds, sorted by seed.
        planned_seeds: the seeds the config asked for.
    """

    path: Path
    tasks: str
    method: str
    config: dict[str, Any]
    seeds: list[SeedRun] = field(default_factory=list)
    planned_seeds: list[int] = field(default_factory=list)

    @property
    def key(self) -> SettingKey:
        """``(tasks, method)``, the key of :data:`emomtl.report.paper_values.BY_KEY`."""
        return (self.tasks, self.method)

    @property
    def task_codes(self) -> list[str]:
        """Task codes of the setting in canonical order (``["S", "T", "E"]``)."""
        return [s.task.code for s in parse_task_spec(self.tasks)]

    def s_fraction(self) -> float | None:
        """The S training fraction of the setting, or None when S is not one of its tasks."""
        for sel in parse_task_spec(self.tasks):
            if sel.task.code == "S":
                return sel.fraction
        return None

    def values(self, code: str, metric: str, split: str = "test") -> list[float]:
        """Per-seed values of one metric (seeds missing the metric or with NaN are left out)."""
        out = []
        for seed in self.seeds:
            value = seed.metrics.get(split, {}).get(code, {}).get(metric)
            if value is not None and not math.isnan(float(value)):
                out.append(float(value))
        return out


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def _read_tensor(path: Path, name: str) -> np.ndarray | None:
    """Tensor ``name`` of a safetensors file as float64, or None when the file is absent."""
    if not path.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        if name not in f.keys():  # noqa: SIM118 - safe_open is not a mapping
            raise ReportError(f"{path}: no tensor {name!r} (found {sorted(f.keys())})")
        return np.asarray(f.get_tensor(name), dtype=np.float64)


def read_run(path: Path) -> Run:
    """Read one run directory: its config and every finished ``seed_<k>/``.

    Raises:
        ReportError: for a config without a valid ``train.tasks`` or an unreadable file.
    """
    config = _read_json(path / "config.json")
    train = config.get("train", {})
    try:
        selections = parse_task_spec(train["tasks"])
    except (KeyError, ValueError) as exc:
        raise ReportError(f"{path / 'config.json'}: cannot read train.tasks: {exc}") from exc
    run = Run(
        path=path,
        tasks=format_task_spec(selections),
        method=run_method(train),
        config=config,
        planned_seeds=[int(s) for s in train.get("seeds", [])],
    )
    for seed_dir in sorted(path.glob("seed_*")):
        metrics_path = seed_dir / "metrics.json"
        if not metrics_path.is_file():
            continue  # an unfinished cell
        record = _read_json(metrics_path)
        run.seeds.append(
            SeedRun(
                seed=int(record.get("seed", seed_dir.name.removeprefix("seed_"))),
                metrics={split: record.get(split, {}) for split in ("dev", "test")},
                record=record,
                lambdas=_read_tensor(seed_dir / "lambdas.safetensors", "lambdas"),
                se_weight=_read_tensor(seed_dir / "se_weight.safetensors", "W_SE"),
            )
        )
    run.seeds.sort(key=lambda s: s.seed)
    return run


@dataclass
class Results:
    """Everything the report reads from one results directory.

    Attributes:
        root: the results directory.
        runs: setting key -> run (the run with most finished seeds when a setting appears twice).
        duplicates: run directories ignored because another directory holds the same setting.
        timings: ``{"stages": {name: seconds}}`` from ``timings.json``, if present.
        machine: ``machine.json`` (cpu, cores, torch, python, platform), if present.
    """

    root: Path
    runs: dict[SettingKey, Run]
    duplicates: list[Path] = field(default_factory=list)
    timings: dict[str, Any] | None = None
    machine: dict[str, Any] | None = None

    def get(self, key: SettingKey) -> Run | None:
        """The run of a setting with at least one finished seed, else None."""
        run = self.runs.get(key)
        return run if run is not None and run.seeds else None

    def space_codes(self) -> list[str]:
        """Codes of every label space some run trained, in canonical registry order."""
        return canonical_order({code for run in self.runs.values() for code in run.task_codes})


def collect(results_dir: Path) -> Results:
    """Read every run directory directly under ``results_dir``.

    Raises:
        ReportError: when the directory does not exist or holds no run directory.
    """
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        raise ReportError(f"results directory {results_dir} does not exist")
    run_dirs = sorted(p for p in results_dir.iterdir() if (p / "config.json").is_file())
    if not run_dirs:
        raise ReportError(
            f"no runs in {results_dir}: expected subdirectories with a config.json, as written by "
            "`emomtl reproduce --out DIR` or `emomtl train --out DIR/NAME`"
        )
    runs: dict[SettingKey, Run] = {}
    duplicates: list[Path] = []
    for path in run_dirs:
        run = read_run(path)
        previous = runs.get(run.key)
        if previous is not None and len(previous.seeds) >= len(run.seeds):
            duplicates.append(run.path)
            continue
        if previous is not None:
            duplicates.append(previous.path)
        runs[run.key] = run
    timings, machine = (results_dir / "timings.json", results_dir / "machine.json")
    return Results(
        root=results_dir,
        runs=runs,
        duplicates=duplicates,
        timings=_read_json(timings) if timings.is_file() else None,
        machine=_read_json(machine) if machine.is_file() else None,
    )


def tidy(results: Results) -> Iterator[dict[str, Any]]:
    """One flat record per (setting, seed, split, task, metric): for ad-hoc analysis (pandas etc.).

    Keys: ``tasks, method, seed, split, task, metric, value, run_dir``; a metric saved as null
    (the store writes NaN as null) has value NaN.
    """
    for run in results.runs.values():
        for seed in run.seeds:
            for split, per_task in seed.metrics.items():
                for code, metrics in per_task.items():
                    for metric, value in metrics.items():
                        yield {
                            "tasks": run.tasks,
                            "method": run.method,
                            "seed": seed.seed,
                            "split": split,
                            "task": code,
                            "metric": metric,
                            "value": math.nan if value is None else float(value),
                            "run_dir": str(run.path),
                        }
