"""``run_grid(workers=N)``: settings trained in worker processes give the in-process results,
and a setting that fails in a worker is recorded while the others are written."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path
from typing import Any

import pytest

from emomtl.experiments.grid import Setting
from emomtl.experiments.runner import run_grid
from emomtl.experiments.workers import TrainJob, run_in_processes
from emomtl.features.encoders import EncoderSpec
from emomtl.features.task_data import TaskData
from emomtl.train import TrainConfig, train
from synthetic import SMALL_GRID, learnable_task

GRID = SMALL_GRID


def _grid(out: Path, data: dict[str, TaskData], workers: int) -> Any:
    return run_grid(
        GRID,
        out_dir=out,
        seeds=(0, 1),
        encoder=EncoderSpec(),
        train_overrides={"epochs": 4, "hidden_dim": 8},
        progress=False,
        report=False,
        workers=workers,
        load_fn=lambda codes, **_: {c: data[c] for c in codes},
    )


def _test_metrics(out: Path) -> dict[str, dict]:
    return {
        str(path.relative_to(out)): json.loads(path.read_text())["test"]
        for path in sorted(out.glob("*/seed_*/metrics.json"))
    }


def test_workers_write_the_same_results_as_one_process(tmp_path: Path) -> None:
    data = {"T": learnable_task("T", 300, 8, 0), "E": learnable_task("E", 300, 8, 1)}
    one = _grid(tmp_path / "one", data, workers=1)
    two = _grid(tmp_path / "two", data, workers=2)
    assert one.ok and two.ok and two.cells_trained == one.cells_trained == 8
    assert [o.setting for o in two.outcomes] == list(GRID)  # grid order, whatever finished first
    expected, got = _test_metrics(tmp_path / "one"), _test_metrics(tmp_path / "two")
    assert sorted(got) == sorted(expected) and len(got) == 8
    for cell, metrics in expected.items():
        for code, values in metrics.items():
            for name, value in values.items():
                assert got[cell][code][name] == pytest.approx(value, rel=1e-5, abs=1e-6), cell
    timings = json.loads((tmp_path / "two" / "timings.json").read_text())
    assert timings["workers"] == 2 and timings["train_threads"] >= 1


def test_a_setting_failing_in_a_worker_is_recorded_and_the_others_are_written(
    tmp_path: Path,
) -> None:
    data = {
        "T": learnable_task("T", 300, 8, 0),
        "E": learnable_task("E", 300, 6, 1),
    }  # T+E: widths differ
    summary = _grid(tmp_path / "out", data, workers=2)
    failed = {o.setting for o in summary.failures}
    assert failed == {Setting("T+E"), Setting("T+E", "mh", "gradnorm")}
    for outcome in summary.failures:
        assert "different widths" in outcome.error
        assert "_check_data" in outcome.traceback  # the worker's own traceback came back
    for setting in (Setting("T"), Setting("E")):
        assert len(list((tmp_path / "out" / setting.slug).glob("seed_*/metrics.json"))) == 2


def test_run_in_processes_yields_each_job_once_with_its_output() -> None:
    data = {"T": learnable_task("T", 200, 8, 2)}
    jobs = [
        TrainJob(seed, train, TrainConfig(tasks="T", seeds=(seed,), epochs=2, hidden_dim=4), data)
        for seed in (3, 4, 5)
    ]
    results = list(run_in_processes(jobs, workers=2))
    assert sorted(r.key for r in results) == [3, 4, 5]
    for result in results:
        assert result.error is None and result.seconds > 0
        assert [s.seed for s in result.output.seeds] == [result.key]
    with pytest.raises(ValueError, match="workers"):
        list(run_in_processes(jobs, workers=0))


def test_stopping_early_terminates_the_workers_at_once() -> None:
    """Ctrl-C in the parent (here: closing the generator) must not wait for jobs in flight."""
    data = {"T": learnable_task("T", 200, 8, 2)}
    quick = TrainConfig(tasks="T", seeds=(0,), epochs=1, hidden_dim=4)
    endless = TrainConfig(tasks="T", seeds=(1,), epochs=10**6, patience=10**6, hidden_dim=4)
    jobs = [TrainJob("endless", train, endless, data), TrainJob("quick", train, quick, data)]
    results = run_in_processes(jobs, workers=2)
    first = next(results)
    assert first.key == "quick" and first.error is None
    start = time.perf_counter()
    results.close()
    while multiprocessing.active_children() and time.perf_counter() - start < 10:
        time.sleep(0.05)
    assert not multiprocessing.active_children()
    assert time.perf_counter() - start < 10
