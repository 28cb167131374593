"""Training speed on cached features: the current loop vs the first batched loop, same process.

Run by hand (never a timed assert)::

    EMOMTL_DATA_DIR=... EMOMTL_CACHE=... python benchmarks/train.py [--epochs 4] [--repeats 3]
        [--threads 1] [--profile] [--grid] [--memory]

Default: for MH S+T+E and GN S+T+E (5 seeds, a fixed number of epochs, early stopping off so both
loops run the same steps) it times :func:`emomtl.train.train` against the baseline, the
``train.py`` of git revision ``--baseline-rev`` (the first seed-batched loop, before the
optimisations of issue 6), loaded from git into this process. Runs alternate (baseline, current,
baseline, ...) so machine load hits both alike; it prints each run's wall time and steps/s
(optimiser steps of the batched model; x5 for seed-steps), the median ratio, and the largest
difference of any test metric between the two (float round-off only).

``--grid``: also trains the whole Table 4 grid (20 settings x 5 seeds, 100 epochs, patience 10, as
``emomtl reproduce`` does, nothing written) with the current loop and prints its wall time,
per-setting times and the baseline's estimate (the grid's time x the MH/GN ratios above).
``--profile``: the top of a cProfile of one current MH S+T+E run. ``--memory``: the old
measurement, peak RSS of batched vs a per-seed loop, each in a fresh subprocess.

Always quote the load (printed from ``os.getloadavg``) with the numbers: the machine is shared.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BASELINE_REV = "4b1c4f88af419385bd95eab14df51a394a9e6473"  # the first seed-batched train.py
SETTINGS = {"MH S+T+E": {"tasks": "S+T+E"}, "GN S+T+E": {"tasks": "S+T+E", "weighting": "gradnorm"}}
SEEDS = (0, 1, 2, 3, 4)
PRIMARY = {"S": "jaccard", "T": "f1_micro", "E": "pearson_mean"}


def _load() -> dict:
    from emomtl.features.task_data import load_task_data

    warnings.simplefilter("ignore")  # the EmoBank "row has no text" data warning
    return load_task_data("STE")


def _load_avg() -> str:
    return "load " + " ".join(f"{v:.2f}" for v in os.getloadavg())


def baseline_module(rev: str) -> ModuleType:
    """``src/emomtl/train.py`` at git revision ``rev``, imported as a module of its own.

    It runs against the current ``emomtl`` package (model, weighting, sampling), whose changes in
    issue 6 keep the old calling conventions.
    """
    source = subprocess.run(
        ["git", "-C", str(REPO), "show", f"{rev}:src/emomtl/train.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp(prefix="emomtl-baseline-")) / "baseline_train.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("emomtl_baseline_train", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def _steps(output: Any, batch_size: int) -> int:
    """Optimiser steps of the batched model: the longest-running seed's epochs x batches."""
    sizes = output.seeds[0].train_size
    per_epoch = math.ceil(sum(sizes.values()) / batch_size)
    return max(r.epochs_run for r in output.seeds) * per_epoch


def _primary(output: Any) -> dict[str, list[float]]:
    return {
        code: [r.metrics["test"][code][metric] for r in output.seeds]
        for code, metric in PRIMARY.items()
        if code in output.task_codes
    }


def compare(data: dict, baseline: ModuleType, epochs: int, repeats: int, threads: int) -> dict:
    """Alternate baseline and current runs of each setting; print and return the median ratios."""
    from emomtl.train import TrainConfig, train

    ratios = {}
    for name, fields in SETTINGS.items():
        walls: dict[str, list[float]] = {"baseline": [], "current": []}
        results = {}
        for _ in range(repeats):
            for mode, module_train, config_cls in (
                ("baseline", baseline.train, baseline.TrainConfig),
                ("current", train, TrainConfig),
            ):
                config = config_cls(**fields, seeds=SEEDS, epochs=epochs, patience=epochs + 1)
                start = time.perf_counter()
                output = module_train(config, data, num_threads=threads)
                wall = time.perf_counter() - start
                walls[mode].append(wall)
                results[mode] = output
                steps = _steps(output, config.batch_size)
                print(
                    f"{name:9s} {mode:8s} {wall:6.2f} s  {steps / wall:6.1f} steps/s "
                    f"({steps} steps x {len(SEEDS)} seeds)  [{_load_avg()}]",
                    flush=True,
                )
        ratio = statistics.median(walls["baseline"]) / statistics.median(walls["current"])
        old, new = _primary(results["baseline"]), _primary(results["current"])
        diff = max(abs(a - b) for code in old for a, b in zip(old[code], new[code], strict=True))
        print(
            f"{name:9s} baseline/current median wall = {ratio:.2f}x; "
            f"max |test primary metric difference| = {diff:.2e}"
        )
        ratios[name] = ratio
    return ratios


def grid(data: dict, threads: int, ratios: dict[str, float]) -> None:
    """Train the Table 4 grid (5 seeds, paper defaults) once with the current loop."""
    from emomtl.experiments.grid import SEEDS as GRID_SEEDS
    from emomtl.experiments.grid import TABLE4
    from emomtl.train import train

    total, baseline_estimate = 0.0, 0.0
    print(f"Table 4 grid: {len(TABLE4)} settings x {len(GRID_SEEDS)} seeds  [{_load_avg()}]")
    for setting in TABLE4:
        config = setting.train_config(GRID_SEEDS)
        start = time.perf_counter()
        output = train(config, data, num_threads=threads)
        wall = time.perf_counter() - start
        total += wall
        ratio = ratios.get("GN S+T+E" if setting.weighting == "gradnorm" else "MH S+T+E", 1.0)
        baseline_estimate += wall * ratio
        epochs = [r.epochs_run for r in output.seeds]
        print(f"  {setting.name:18s} {wall:6.1f} s  epochs {epochs}", flush=True)
    print(f"Table 4 grid, current loop: {total:.1f} s  [{_load_avg()}]")
    if ratios:
        print(f"Table 4 grid, baseline estimate (x the ratios above): {baseline_estimate:.1f} s")


def profile(data: dict, epochs: int, threads: int) -> None:
    import cProfile
    import pstats

    from emomtl.train import TrainConfig, train

    config = TrainConfig(tasks="S+T+E", seeds=SEEDS, epochs=epochs, patience=epochs + 1)
    profiler = cProfile.Profile()
    profiler.runcall(train, config, data, num_threads=threads)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(setting: str, mode: str, epochs: int, threads: int) -> dict:
    """Train ``setting`` batched or as a loop over seeds; wall time and peak RSS growth."""
    from emomtl.train import TrainConfig, train

    data = _load()
    base = _rss_mib()
    start = time.perf_counter()
    config = TrainConfig(**SETTINGS[setting], seeds=SEEDS, epochs=epochs)
    if mode == "batched":
        train(config, data, num_threads=threads)
    else:
        for s in SEEDS:
            train(TrainConfig(**{**config.to_dict(), "seeds": (s,)}), data, num_threads=threads)
    return {"wall_s": time.perf_counter() - start, "peak_rss_growth_mib": _rss_mib() - base}


def memory(epochs: int, threads: int) -> None:
    for setting in SETTINGS:
        rows = {}
        for mode in ("batched", "loop"):
            cmd = [sys.executable, __file__, "--one", setting, mode, "--epochs", str(epochs)]
            cmd += ["--threads", str(threads)]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows[mode] = r = json.loads(done.stdout.strip().splitlines()[-1])
            print(
                f"{setting:9s} {mode:8s} wall {r['wall_s']:7.1f} s  "
                f"peak RSS +{r['peak_rss_growth_mib']:6.1f} MiB  [{_load_avg()}]"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4, help="epochs per timed run")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per loop and setting")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--grid", action="store_true", help="also train the Table 4 grid")
    parser.add_argument("--no-compare", action="store_true", help="skip the baseline runs")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--memory", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("SETTING", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_memory(*args.one, args.epochs, args.threads)))
        return
    if args.memory:
        memory(args.epochs, args.threads)
        return
    data = _load()
    if args.profile:
        profile(data, args.epochs, args.threads)
        return
    print(f"cpus={os.cpu_count()} threads={args.threads} epochs={args.epochs} seeds={SEEDS}")
    ratios = {}
    if not args.no_compare:
        ratios = compare(
            data, baseline_module(args.baseline_rev), args.epochs, args.repeats, args.threads
        )
    if args.grid:
        grid(data, args.threads, ratios)


if __name__ == "__main__":
    main()
