"""The training loop: config, S fractions, batch losses, samplers, seed batching, CLI, real data."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from emomtl.data.tasks import TASKS
from emomtl.features.task_data import TaskData
from emomtl.sampling import BalancedSampler, ProportionalSampler, fraction_size, subset_indices
from emomtl.train import TrainConfig, _batch_losses, _build_union, _init_model, train

PRIMARY = {"S": "jaccard", "T": "f1_micro", "E": "pearson_mean"}


def synthetic(code: str, n: int, d: int = 12, seed: int = 0) -> TaskData:
    """A learnable random task: train n rows, dev and test n // 4 rows each."""
    g = torch.Generator().manual_seed(seed)
    task = TASKS[code]
    w = torch.randn(d, task.num_labels, generator=g)
    features, targets = {}, {}
    for split, m in (("train", n), ("dev", n // 4), ("test", n // 4)):
        x = torch.randn(m, d, generator=g)
        z = x @ w + 0.5 * torch.randn(m, task.num_labels, generator=g)
        if task.kind == "multilabel":
            y = (z > 0.8).float()
        elif task.kind == "multiclass":
            y = z.argmax(1)
        else:
            y = (3 + 0.4 * z).clamp(1, 5)
        features[split], targets[split] = x, y
    return TaskData(task, features, targets)


def synthetic_spaces() -> dict[str, TaskData]:
    """Learnable S, T and E of different sizes (the protocol and registry tests' data)."""
    return {
        "S": synthetic("S", 200),
        "T": synthetic("T", 96, seed=1),
        "E": synthetic("E", 160, seed=2),
    }


@pytest.fixture(scope="module")
def data() -> dict[str, TaskData]:
    return {
        "S": synthetic("S", 320),
        "T": synthetic("T", 160, seed=1),
        "E": synthetic("E", 256, seed=2),
    }


def test_config_validates_and_round_trips() -> None:
    config = TrainConfig(tasks="0.1semeval+emobank", seeds=[2, 0])
    assert config.tasks == "0.1S+E" and config.seeds == (2, 0)
    assert TrainConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    for bad, match in [
        ({"head": "xx"}, "head 'xx'"),
        ({"weighting": "no_such_method"}, "weighting .no_such_method."),
        ({"tasks": "0.1X"}, "unknown task"),
        ({"seeds": (1, 1)}, "seeds"),
        ({"dropout": 1.0}, "dropout"),
        ({"selection": "max"}, "selection"),
    ]:
        with pytest.raises(ValueError, match=match):
            TrainConfig(**bad)
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"taks": "S"})


def test_fraction_subsets_have_exact_sizes_and_differ_across_seeds() -> None:
    # round half up by hand: 0.1 * 6838 = 683.8 -> 684; 0.5 * 6838 = 3419; 0.25 * 10 = 2.5 -> 3
    assert fraction_size(6838, 0.1) == 684 and fraction_size(6838, 0.5) == 3419
    assert fraction_size(10, 0.25) == 3 and fraction_size(10, 0.01) == 1
    subsets = [subset_indices(6838, 0.1, seed, 0) for seed in range(5)]
    for subset in subsets:
        assert len(subset) == 684 == len(np.unique(subset)) and subset.max() < 6838
    assert all(not np.array_equal(a, b) for i, a in enumerate(subsets) for b in subsets[i + 1 :])
    np.testing.assert_array_equal(subsets[0], subset_indices(6838, 0.1, 0, 0))
    np.testing.assert_array_equal(subset_indices(7, 1.0, 3, 0), np.arange(7))


def test_train_uses_each_seeds_subset(data: dict[str, TaskData]) -> None:
    out = train(TrainConfig(tasks="0.25S+T", seeds=(0, 1), epochs=1), data, num_threads=1)
    for result in out.seeds:
        assert result.train_size == {"S": 80, "T": 160}  # 0.25 * 320 = 80


def test_batch_losses_follow_the_papers_share_weighting(data: dict[str, TaskData]) -> None:
    """L_i = mean loss over task i's rows in the batch * (rows of i / batch size), per seed."""
    config = TrainConfig(tasks="S+T+E", seeds=(0, 1))
    tasks = [TASKS[c] for c in "STE"]
    union = _build_union(tasks, data)
    pools = [
        [
            torch.arange(o, o + len(data[t.code].features["train"]))
            for t, o in zip(tasks, union.offsets, strict=True)
        ]
        for _ in range(2)
    ]
    model = _init_model(config, tasks, union, pools, 12)
    idx = torch.stack([torch.tensor([0, 5, 330, 500, 600, 7]), torch.tensor([1, 2, 3, 4, 6, 8])])
    losses, present = _batch_losses(model, tasks, union, idx, None)
    assert present.tolist() == [[True, True, True], [True, False, False]]
    s_rows, t_rows, e_rows = [0, 1, 5], [2], [3, 4]  # of seed 0's batch
    net_raw = model(union.features[idx[0]].unsqueeze(0).expand(2, -1, -1))[0]
    y = {c: data[c].targets["train"] for c in "STE"}
    mean, std = (v[0, 0] for v in model.target_stats("E"))
    ref_s = nn.BCEWithLogitsLoss()(net_raw[s_rows, :11], y["S"][[0, 5, 7]]) * 3 / 6
    ref_t = nn.CrossEntropyLoss()(net_raw[t_rows, 11:16], y["T"][[330 - 320]]) * 1 / 6
    e_target = (y["E"][[500 - 480, 600 - 480]] - mean) / std
    ref_e = nn.MSELoss()(net_raw[e_rows, 16:19], e_target) * 2 / 6
    torch.testing.assert_close(losses[0], torch.stack([ref_s, ref_t, ref_e]))
    assert losses[1, 1] == 0 and losses[1, 2] == 0


def test_proportional_sampler_covers_each_seeds_union_once() -> None:
    pools = [
        [torch.arange(0, 10), torch.arange(10, 15)],
        [torch.arange(20, 30), torch.arange(30, 35)],
    ]
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    batches = ProportionalSampler(pools, 4, gens).epoch()
    assert [b.shape for b in batches] == [(2, 4), (2, 4), (2, 4), (2, 3)]
    order = torch.cat(batches, dim=1)
    assert sorted(order[0].tolist()) == list(range(15))
    assert sorted(order[1].tolist()) == list(range(20, 35))


def test_balanced_sampler_fills_equal_quotas() -> None:
    pools = [[torch.arange(0, 20), torch.arange(20, 23), torch.arange(23, 30)]]
    sampler = BalancedSampler(pools, 7, [torch.Generator().manual_seed(0)])
    assert sampler.quotas == [3, 2, 2] and sampler.n_batches == math.ceil(20 / 3)
    batches = sampler.epoch()
    for batch in batches:
        assert batch.shape == (1, 7)
        row = batch[0]
        assert ((row < 20).sum(), ((row >= 20) & (row < 23)).sum(), (row >= 23).sum()) == (3, 2, 2)
    first_task = torch.cat([b[0, :3] for b in batches])
    assert len(first_task) == 21  # 7 batches * 3: one pass over the largest task + 1 wrapped row
    assert sorted(first_task[:20].tolist()) == list(range(20))


def _assert_same_results(batched, singles, tol: float) -> None:
    for result, single in zip(batched.seeds, singles, strict=True):
        assert result.seed == single.seed
        assert result.best_epoch == single.best_epoch and result.epochs_run == single.epochs_run
        for split in ("dev", "test"):
            for code, metrics in single.metrics[split].items():
                for key, value in metrics.items():
                    assert result.metrics[split][code][key] == pytest.approx(value, abs=tol), key
        for key, value in single.state_dict.items():
            torch.testing.assert_close(result.state_dict[key], value, atol=tol, rtol=0)
        if single.lambdas is not None:
            np.testing.assert_allclose(result.lambdas, single.lambdas, atol=tol)


@pytest.mark.parametrize(
    "overrides",
    [
        {"tasks": "0.5S+T+E", "weighting": "gradnorm", "head": "se"},
        {"tasks": "S+T", "sampling": "balanced", "selection": "per-task", "dropout": 0.3},
    ],
)
def test_batched_seeds_equal_separate_single_seed_runs(data, overrides) -> None:
    """Short patience so seeds stop at different epochs: stopped seeds must stay frozen."""
    config = TrainConfig(seeds=(0, 1, 2), epochs=25, patience=2, lr=3e-3, **overrides)
    batched = train(config, data, num_threads=1)
    assert len({r.epochs_run for r in batched.seeds}) > 1, "seeds should stop at different epochs"
    singles = [
        train(TrainConfig(**{**config.to_dict(), "seeds": (seed,)}), data, num_threads=1).seeds[0]
        for seed in config.seeds
    ]
    _assert_same_results(batched, singles, tol=1e-5)


def test_per_task_selection_reports_each_tasks_best_dev_epoch(data) -> None:
    config = TrainConfig(
        tasks="S+T+E", selection="per-task", seeds=(0,), epochs=12, patience=12, lr=3e-3
    )
    result = train(config, data, num_threads=1).seeds[0]
    from emomtl.metrics import task_metrics
    from emomtl.model import MultiTaskNet

    for code in "STE":
        net = MultiTaskNet(12, "STE")
        net.load_state_dict(result.task_state_dicts[code])
        with torch.no_grad():
            out = net.activate(net(data[code].features["test"]))[code]
        expected = task_metrics(TASKS[code], data[code].targets["test"], out)[PRIMARY[code]]
        assert result.metrics["test"][code][PRIMARY[code]] == pytest.approx(expected, abs=1e-6)
        assert 1 <= result.best_epoch[code] <= result.epochs_run


def test_cli_trains_writes_run_and_prints_json(data, tmp_path, monkeypatch) -> None:
    import emomtl.features.task_data as task_data
    from emomtl.cli import app

    monkeypatch.setattr(task_data, "load_task_data", lambda codes, **kw: data)
    out = tmp_path / "run"
    args = [
        "train",
        "--tasks",
        "0.5S+T",
        "--head",
        "se",
        "--weighting",
        "gradnorm",
        "--seeds",
        "2",
        "--epochs",
        "3",
        "--out",
        str(out),
        "--json",
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed == json.loads((out / "results.json").read_text())
    assert printed["setting"] == "0.5S+T SE+GN" and printed["seeds"] == [0, 1]
    assert (out / "seed_1" / "lambdas.safetensors").exists()
    assert (out / "command.txt").exists() and (out / "config.json").exists()

    table = CliRunner().invoke(
        app,
        ["train", "--tasks", "T", "--seeds", "2", "--epochs", "2", "--out", str(tmp_path / "t")],
    )
    assert table.exit_code == 0 and "f1_micro" in table.stdout and "±" in table.stdout


def test_cli_rejects_a_bad_task_string_without_traceback(tmp_path) -> None:
    from emomtl.cli import app

    result = CliRunner().invoke(app, ["train", "--tasks", "0.1S+Q", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown task 'Q'" in result.output and "Traceback" not in result.output


@pytest.fixture(scope="module")
def real_features(data_dir, cache_dir) -> dict[str, TaskData]:
    from emomtl.features.task_data import load_task_data

    return load_task_data("STE", data_dir=data_dir, cache_dir=cache_dir)


@pytest.mark.real
def test_real_stl_semeval_beats_the_papers_stl_jaccard(real_features) -> None:
    out = train(TrainConfig(tasks="S", seeds=(0,)), real_features, num_threads=1)
    jaccard = out.seeds[0].metrics["test"]["S"]["jaccard"]
    assert jaccard > 0.445, f"STL S test Jaccard {jaccard:.4f} <= paper's 0.445"


@pytest.mark.real
def test_real_batched_equals_per_seed_loop(real_features) -> None:
    """0.1S+T on MiniLM features: seeds (0, 1, 2) together vs one by one, metrics within 1e-4."""
    config = TrainConfig(tasks="0.1S+T", seeds=(0, 1, 2), epochs=30)
    batched = train(config, real_features, num_threads=1)
    singles = [
        train(
            TrainConfig(tasks="0.1S+T", seeds=(seed,), epochs=30), real_features, num_threads=1
        ).seeds[0]
        for seed in config.seeds
    ]
    _assert_same_results(batched, singles, tol=1e-4)
