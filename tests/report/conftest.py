"""A fake results tree in the exact layout of docs/design.md ("Run directory"), for report tests.

The numbers are made up around the paper's means (fixture data for testing the report, not
science): each (setting, seed) gets every metric key of docs/design.md "Metrics", GradNorm runs get
``lambdas.safetensors`` with a different step count per seed (early stopping), SE runs get
``se_weight.safetensors``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from emomtl.data.tasks import TASKS, parse_task_spec
from emomtl.report.paper_values import TABLE4

HEADS = {
    "MH": ("mh", "equal"),
    "GN": ("mh", "gradnorm"),
    "SE": ("se", "equal"),
    "SE+GN": ("se", "gradnorm"),
}
PRIMARY_DEFAULT = {"S": 0.40, "T": 0.68, "E": 0.48}
HIDDEN = 16


def _task_metrics(code: str, primary: float, rng: np.random.Generator) -> dict[str, float]:
    """Every metric key of one task around ``primary`` (its primary metric's value)."""
    if code == "S":
        return {
            "jaccard": primary,
            "jaccard_paper": primary - 0.02,
            "f1_micro": primary + 0.12,
            "f1_macro": primary + 0.03,
            "loss": 0.35,
        }
    if code == "T":
        return {"f1_micro": primary, "accuracy": primary, "f1_macro": primary - 0.1, "loss": 0.9}
    dims = primary + rng.normal(0, 0.02, 3)
    return {
        "pearson_mean": float(dims.mean()),
        "pearson_V": float(dims[0]),
        "pearson_A": float(dims[1]),
        "pearson_D": float(dims[2]),
        "rmse": 0.33,
        "rmse_V": 0.35,
        "rmse_A": 0.30,
        "rmse_D": 0.34,
        "loss": 0.8,
    }


def write_run(
    root: Path,
    tasks: str,
    method: str,
    seeds: Iterable[int],
    means: Mapping[str, float],
    *,
    sd: float = 0.005,
    unfinished: Iterable[int] = (),
) -> Path:
    """Write one run directory; ``means`` maps task code -> mean of its primary metric."""
    head, weighting = HEADS[method]
    codes = [s.task.code for s in parse_task_spec(tasks)]
    seeds, unfinished = list(seeds), list(unfinished)
    run_dir = root / f"{tasks}_{method}".replace("+", "-").lower()
    run_dir.mkdir(parents=True)
    config = {
        "train": {
            "tasks": tasks,
            "head": head,
            "weighting": weighting,
            "seeds": seeds + unfinished,
            "epochs": 100,
            "patience": 10,
            "batch_size": 64,
            "lr": 3e-4,
            "weight_decay": 1e-3,
            "hidden_dim": HIDDEN,
            "dropout": 0.0,
            "sampling": "proportional",
            "selection": "sum",
            "gradnorm_alpha": 1.0,
            "gradnorm_lr": 1e-3,
        },
        "encoder": {"name": "minilm", "pooling": "mean", "max_length": 128, "precision": "fp32"},
        "data": {"tales_split": "sentence", "emobank_split": "official", "split_seed": 0},
        "emomtl_version": "0.1.0",
    }
    (run_dir / "config.json").write_text(json.dumps(config))
    (run_dir / "command.txt").write_text(f"emomtl train --tasks {tasks}\n")
    for seed in seeds:
        rng = np.random.default_rng([seed, len(tasks), len(method)])
        seed_dir = run_dir / f"seed_{seed}"
        seed_dir.mkdir()
        split_metrics = {
            split: {
                c: _task_metrics(c, means.get(c, PRIMARY_DEFAULT[c]) + rng.normal(0, sd), rng)
                for c in codes
            }
            for split in ("dev", "test")
        }
        record = {
            "seed": seed,
            **split_metrics,
            "best_epoch": {c: 12 for c in codes},
            "epochs_run": 22,
            "train_size": {c: 100 for c in codes},
            "wall_time_s": 3.5,
            "finished_at": f"2025-01-0{seed + 1}T10:00:00+00:00",
        }
        (seed_dir / "metrics.json").write_text(json.dumps(record))
        if weighting == "gradnorm":
            steps = 200 + 40 * seed
            drift = np.linspace(0, 1, steps)[:, None] * rng.normal(0, 0.5, len(codes))
            lam = np.exp(drift)
            lam = lam / lam.sum(axis=1, keepdims=True) * len(codes)
            save_file({"lambdas": lam.astype(np.float32)}, str(seed_dir / "lambdas.safetensors"))
        if head == "se":
            rows = sum(TASKS[c].num_labels for c in codes)
            w = rng.normal(0, 1, (rows, HIDDEN)).astype(np.float32)
            save_file({"W_SE": w}, str(seed_dir / "se_weight.safetensors"))
    for seed in unfinished:  # a started cell without metrics.json
        (run_dir / f"seed_{seed}").mkdir()
    return run_dir


def paper_means(row) -> dict[str, float]:
    """The paper's mean per task of a Table 4 row (fixture values centred on the paper)."""
    return {code: value.mean for code, value in row.values.items()}


def write_results_tree(
    root: Path, rows=TABLE4, seeds=(0, 1, 2), means=paper_means, extras: bool = True
) -> Path:
    """One run directory per row, plus ``timings.json`` and ``machine.json`` when ``extras``."""
    root.mkdir(parents=True, exist_ok=True)
    for row in rows:
        write_run(root, row.tasks, row.method, seeds, means(row))
    if extras:
        timings = {
            "stages": {"encode": 61.2, "train": 905.0},
            "total_s": 966.2,
            "cells_trained": len(seeds) * len(rows),
            "cells_skipped": 0,
            "per_setting": {
                f"setting_{i}": {
                    "setting": f"{r.tasks} {r.method}",
                    "wall_time_s": 45.25,
                    "seeds_trained": list(seeds),
                    "seeds_skipped": [],
                    "error": None,
                }
                for i, r in enumerate(rows)
            },
        }
        machine = {
            "cpu": "Fake CPU 9000",
            "cores": 2,
            "torch": "2.13.0",
            "python": "3.12.3",
            "platform": "Linux-x86_64",
        }
        (root / "timings.json").write_text(json.dumps(timings))
        (root / "machine.json").write_text(json.dumps(machine))
    return root


@pytest.fixture
def write_run_dir() -> Callable[..., Path]:
    """:func:`write_run`, for tests that write single run directories."""
    return write_run


@pytest.fixture
def write_tree() -> Callable[..., Path]:
    """:func:`write_results_tree`, for tests that build their own variant of the tree."""
    return write_results_tree


@pytest.fixture(scope="session")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A report built once from every Table 4 row with 3 seeds: (results dir, report text)."""
    from emomtl.report.build import build_report

    root = write_results_tree(tmp_path_factory.mktemp("full"))
    return root, build_report(root).read_text(encoding="utf-8")
