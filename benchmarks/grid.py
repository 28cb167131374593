"""Wall time of the paper's grid: per-seed loop vs batched seeds, and ``reproduce`` from cold.

Three measurements, same invocation, same machine:

1. **batched** - the Table 4 grid (20 settings x 5 seeds) on cached features, every setting's
   seeds trained as one batched model (:func:`emomtl.train.train` with all seeds), through
   :func:`emomtl.experiments.runner.run_grid` (writes included, report excluded); one setting
   after another in this process, torch's default threads (one per core).
2. **workers** (``--workers 2 ...``) - the same, with that many settings side by side in worker
   processes (``reproduce --workers``), cores / workers threads each.
3. **per-seed loop** - the same grid and seeds, ``train()`` called once per seed (the baseline).
4. **cold reproduce** - ``emomtl reproduce --quick`` in a subprocess with an empty temporary
   feature cache, so the encoder runs (and the model files are resolved) from scratch.

Run by hand, e.g.::

    EMOMTL_DATA_DIR=../shared/data python benchmarks/grid.py
    python benchmarks/grid.py --loop-grid table2   # a cheaper baseline subset (say so in quotes)

With ``--loop-grid`` the batched time of that subset is the sum of its settings' times inside the
full batched run. Speed-ups are against the per-seed loop on the same grid when it ran, and against
the one-process batched run for the worker rows.

Features for (1) and (2) come from ``$EMOMTL_CACHE`` (encoded first if missing, not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from emomtl.experiments.grid import GRIDS, QUICK, QUICK_SEEDS
from emomtl.experiments.runner import machine_info, run_grid
from emomtl.features.encoders import EncoderSpec
from emomtl.features.task_data import load_task_data
from emomtl.train import TrainOutput, train

console = Console()


def per_seed_train(config: Any, data: Any) -> TrainOutput:
    """The baseline: ``train()`` once per seed, results joined into one :class:`TrainOutput`."""
    outputs = [train(replace(config, seeds=(seed,)), data) for seed in config.seeds]
    return replace(outputs[0], config=config, seeds=[s for o in outputs for s in o.seeds])


def time_grid(
    grid: str,
    seeds: tuple[int, ...],
    data: dict,
    *,
    loop: bool,
    epochs: int | None,
    workers: int = 1,
) -> tuple[float, int, dict[str, float]]:
    """Run ``grid`` on in-memory features into a temporary directory.

    Returns:
        (training stage seconds, cells trained, {setting slug: seconds}).
    """
    overrides = {} if epochs is None else {"epochs": epochs}
    with tempfile.TemporaryDirectory(prefix="emomtl-bench-") as tmp:
        summary = run_grid(
            GRIDS[grid],
            out_dir=Path(tmp),
            seeds=seeds,
            train_overrides=overrides,
            progress=False,
            report=False,
            load_fn=lambda codes, **_: {c: data[c] for c in codes},
            train_fn=per_seed_train if loop else train,
            workers=workers,
        )
    if summary.failures:
        raise RuntimeError(
            f"settings failed: {[(o.setting.name, o.error) for o in summary.failures]}"
        )
    per_setting = {o.setting.slug: o.wall_time_s for o in summary.outcomes}
    return summary.stages["train"], summary.cells_trained, per_setting


def time_cold_reproduce(data_dir: Path | None, precision: str) -> tuple[float, dict]:
    """``emomtl reproduce --quick`` with an empty feature cache; return (seconds, timings.json)."""
    with tempfile.TemporaryDirectory(prefix="emomtl-cold-") as tmp:
        env = {**os.environ, "EMOMTL_CACHE": str(Path(tmp) / "cache")}
        cmd = [str(Path(sys.executable).with_name("emomtl")), "reproduce", "--quick"]
        cmd += ["--out", str(Path(tmp) / "paper"), "--precision", precision]
        if data_dir is not None:
            cmd += ["--data-dir", str(data_dir)]
        t0 = time.perf_counter()
        subprocess.run(cmd, env=env, check=True)
        seconds = time.perf_counter() - t0
        timings = json.loads((Path(tmp) / "paper" / "timings.json").read_text())
    return seconds, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="table4", choices=sorted(GRIDS))
    parser.add_argument(
        "--loop-grid",
        default=None,
        choices=sorted(GRIDS),
        help="grid of the per-seed baseline (default: --grid)",
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=None, help="override (default: paper's)")
    parser.add_argument(
        "--workers", type=int, nargs="*", default=[], help="also time these worker counts (> 1)"
    )
    parser.add_argument("--skip-loop", action="store_true")
    parser.add_argument("--skip-cold", action="store_true")
    parser.add_argument("--precision", default="auto", help="encoder precision of the cold run")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    seeds = tuple(range(args.seeds))
    loop_grid = args.loop_grid or args.grid

    machine = machine_info()
    console.print(
        f"machine: {machine['cpu']}, {machine['cores']} cores, torch "
        f"{machine['torch']} ({machine['torch_threads']} threads), "
        f"python {machine['python']}"
    )
    t0 = time.perf_counter()
    data = load_task_data(
        ["S", "T", "E"], spec=EncoderSpec(), data_dir=args.data_dir, progress=True
    )
    console.print(f"features loaded in {time.perf_counter() - t0:.1f} s (not timed below)")

    rows: list[tuple[str, str, int, float]] = []
    batched_s, cells, per_setting = time_grid(
        args.grid, seeds, data, loop=False, epochs=args.epochs
    )
    rows.append(("batched seeds", args.grid, cells, batched_s))
    console.print(f"batched: {batched_s:.1f} s for {cells} cells")
    for workers in args.workers:
        seconds, n, _ = time_grid(
            args.grid, seeds, data, loop=False, epochs=args.epochs, workers=workers
        )
        rows.append((f"batched seeds, {workers} workers", args.grid, n, seconds))
        console.print(f"{workers} workers: {seconds:.1f} s for {n} cells")
    if loop_grid != args.grid:  # the loop's subset, timed inside the batched run above
        subset = [s.slug for s in GRIDS[loop_grid]]
        if not set(subset) <= per_setting.keys():
            raise SystemExit(f"--loop-grid {loop_grid} is not a subset of --grid {args.grid}")
        sub_s = sum(per_setting[slug] for slug in subset)
        rows.append(("batched seeds (within)", loop_grid, len(subset) * len(seeds), sub_s))
    if not args.skip_loop:
        loop_s, loop_cells, _ = time_grid(loop_grid, seeds, data, loop=True, epochs=args.epochs)
        rows.append(("per-seed loop", loop_grid, loop_cells, loop_s))
        console.print(f"per-seed loop: {loop_s:.1f} s for {loop_cells} cells")

    table = Table(title=f"Grid training on cached features ({len(seeds)} seeds per setting)")
    for column in ("mode", "grid", "cells", "wall s", "s / cell", "speed-up", "against"):
        left = column in ("mode", "grid", "against")
        table.add_column(column, justify="left" if left else "right")
    loop_by_grid = {grid: s for mode, grid, _, s in rows if mode == "per-seed loop"}
    for mode, grid, n, seconds in rows:
        if "workers" in mode:
            reference, against = batched_s, "batched seeds"
        elif grid in loop_by_grid:
            reference, against = loop_by_grid[grid], "per-seed loop"
        else:
            reference, against = seconds, "-"
        speed = f"{reference / seconds:.2f}x"
        table.add_row(mode, grid, str(n), f"{seconds:.1f}", f"{seconds / n:.2f}", speed, against)
    console.print(table)

    if not args.skip_cold:
        cold_s, timings = time_cold_reproduce(args.data_dir, args.precision)
        cold = Table(
            title=f"`emomtl reproduce --quick` from a cold cache ({len(QUICK)} settings "
            f"x {len(QUICK_SEEDS)} seeds, encoder precision {args.precision})"
        )
        cold.add_column("stage")
        cold.add_column("wall s", justify="right")
        for stage, seconds in timings["stages"].items():
            cold.add_row(stage, f"{seconds:.1f}")
        cold.add_row("[bold]process total[/]", f"[bold]{cold_s:.1f}[/]")
        console.print(cold)


if __name__ == "__main__":
    main()
