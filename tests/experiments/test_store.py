"""The run directory: round trip, aggregates against scipy, per-seed writes, atomicity."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats

from emomtl.data.tasks import TASKS
from emomtl.experiments import store
from emomtl.features.task_data import TaskData
from emomtl.model import MultiTaskNet
from emomtl.train import TrainConfig, TrainOutput, train


def _task(code: str, n: int, seed: int) -> TaskData:
    g = torch.Generator().manual_seed(seed)
    task = TASKS[code]
    x = {s: torch.randn(n, 8, generator=g) for s in ("train", "dev", "test")}
    if task.kind == "multilabel":
        w = torch.randn(8, 11, generator=g)
        y = {s: (v @ w > 0).float() for s, v in x.items()}
    elif task.kind == "multiclass":
        y = {s: v[:, :5].argmax(1) for s, v in x.items()}
    else:
        y = {s: 3 + 0.5 * v[:, :3] for s, v in x.items()}
    return TaskData(task, x, y)


@pytest.fixture(scope="module")
def output() -> TrainOutput:
    data = {"S": _task("S", 96, 0), "T": _task("T", 64, 1)}
    config = TrainConfig(tasks="S+T", head="se", weighting="gradnorm", seeds=(0, 1, 2), epochs=3)
    return train(config, data, num_threads=1)


def test_round_trip(output: TrainOutput, tmp_path) -> None:
    run = store.write_run(
        output,
        tmp_path / "run",
        encoder_spec={"name": "minilm"},
        data_options={"tales_split": "sentence"},
        command="emomtl train ...",
    )
    record = store.read_run(run)
    assert TrainConfig.from_dict(record["config"]["train"]) == output.config
    assert record["config"]["encoder"] == {"name": "minilm"}
    assert (run / "command.txt").read_text() == "emomtl train ...\n"
    assert sorted(record["seeds"]) == [0, 1, 2] == store.finished_seeds(run)
    for result in output.seeds:
        saved = record["seeds"][result.seed]
        assert saved["dev"] == result.metrics["dev"] and saved["test"] == result.metrics["test"]
        assert saved["best_epoch"] == result.best_epoch and saved["epochs_run"] == result.epochs_run
        assert saved["train_size"] == result.train_size and "finished_at" in saved
        tensors = store.load_seed_tensors(run, result.seed)
        net = MultiTaskNet(8, "ST", head="se")
        net.load_state_dict(tensors["state_dict"])
        for key, value in result.state_dict.items():
            assert torch.equal(tensors["state_dict"][key], value)
        np.testing.assert_array_equal(tensors["lambdas"].numpy(), result.lambdas)
        np.testing.assert_array_equal(tensors["se_weight"].numpy(), result.se_weight)


def test_results_aggregate_with_t_interval(output: TrainOutput, tmp_path) -> None:
    run = store.write_run(output, tmp_path / "run")
    results = json.loads((run / "results.json").read_text())
    assert results["setting"] == "S+T SE+GN" and results["seeds"] == [0, 1, 2]
    values = [r.metrics["test"]["S"]["jaccard"] for r in output.seeds]
    summary = results["test"]["S"]["jaccard"]
    sd = float(np.std(values, ddof=1))
    assert summary["values"] == values and summary["n"] == 3
    assert summary["mean"] == pytest.approx(float(np.mean(values)))
    assert summary["ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * sd / math.sqrt(3))
    assert set(results["dev"]["T"]) >= {"f1_micro", "f1_macro", "accuracy", "loss"}


def test_per_seed_writes_and_partial_aggregate(output: TrainOutput, tmp_path) -> None:
    run = tmp_path / "grid-cell"
    store.write_config(run, output.config)
    assert store.finished_seeds(run) == []
    store.write_seed(run, output.seeds[1])
    assert store.finished_seeds(run) == [1]
    results = store.write_results(run)
    assert results["seeds"] == [1]
    assert results["test"]["T"]["f1_micro"]["values"] == [
        output.seeds[1].metrics["test"]["T"]["f1_micro"]
    ]


def test_nan_is_stored_as_null(tmp_path) -> None:
    store.write_json(tmp_path / "x.json", {"r": float("nan"), "v": [1.0, float("inf")]})
    assert json.loads((tmp_path / "x.json").read_text()) == {"r": None, "v": [1.0, None]}


def test_a_failed_write_leaves_no_file_and_no_finished_seed(output, tmp_path, monkeypatch) -> None:
    def partial_then_fail(tmp):
        tmp.write_text('{"seed": 0, "de')  # a half-written file under the temporary name
        raise OSError("disk full")

    with pytest.raises(OSError):
        store._atomic(tmp_path / "metrics.json", partial_then_fail)
    assert list(tmp_path.iterdir()) == []

    import safetensors.torch

    def boom(*args, **kwargs):
        raise OSError("killed")

    monkeypatch.setattr(safetensors.torch, "save_file", boom)
    with pytest.raises(OSError):
        store.write_seed(tmp_path / "run", output.seeds[0])
    assert store.finished_seeds(tmp_path / "run") == []
    assert not any(p.is_file() for p in (tmp_path / "run").rglob("*"))
