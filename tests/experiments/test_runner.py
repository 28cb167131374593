"""Resume, overwrite and failure isolation of the grid runner, with the training stage faked.

The fake trainer counts the (setting, seed) cells it is asked to train; the fake writer writes a
cell's ``metrics.json`` like the store does. Everything the tests assert is counted by the fakes or
read from the files, never taken from the runner's own bookkeeping alone.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from emomtl.experiments.grid import Setting
from emomtl.experiments.runner import missing_seeds, run_grid
from emomtl.features.encoders import EncoderSpec

GRID = (Setting("T"), Setting("0.1S+E"), Setting("S+T+E", "se", "gradnorm"))
SEEDS = (0, 1, 2)


class Killed(BaseException):
    """Stands in for the process being killed (not an ``Exception``, so it is not caught)."""


class FakeTrainer:
    """Records every cell it trains; optionally fails or 'is killed' at a given setting."""

    def __init__(self, *, fail: str | None = None, kill_at_call: int | None = None) -> None:
        self.cells: list[tuple[str, int]] = []
        self.calls = 0
        self.fail = fail
        self.kill_at_call = kill_at_call

    def __call__(self, config: Any, data: dict[str, Any]) -> Any:
        self.calls += 1
        if self.kill_at_call == self.calls:
            raise Killed
        slug = Setting(config.tasks, config.head, config.weighting).slug
        assert sorted(data) == sorted(Setting(config.tasks).codes)
        if slug == self.fail:
            raise RuntimeError("diverged")
        self.cells += [(slug, seed) for seed in config.seeds]
        return SimpleNamespace(config=config, seeds=[SimpleNamespace(seed=s) for s in config.seeds])


def fake_write(
    setting_dir: Path,
    output: Any,
    *,
    config: Any,
    encoder: EncoderSpec,
    data_options: dict[str, Any],
    command: str | None,
) -> None:
    """Writes what the store writes that the runner relies on."""
    payload = {"train": config.to_dict(), "encoder": asdict(encoder), "data": data_options}
    setting_dir.mkdir(parents=True, exist_ok=True)
    (setting_dir / "config.json").write_text(json.dumps(payload))
    (setting_dir / "command.txt").write_text(f"{command}\n")
    for result in output.seeds:
        cell = setting_dir / f"seed_{result.seed}"
        cell.mkdir(exist_ok=True)
        (cell / "metrics.json").write_text(json.dumps({"seed": result.seed}))


class FakeLoader:
    def __init__(self) -> None:
        self.requests: list[list[str]] = []

    def __call__(self, codes: list[str], **kwargs: Any) -> dict[str, str]:
        self.requests.append(list(codes))
        return {code: f"features of {code}" for code in codes}


def grid(tmp_path: Path, trainer: FakeTrainer, loader: FakeLoader | None = None, **kwargs: Any):
    kwargs.setdefault("seeds", SEEDS)
    kwargs.setdefault("report", False)
    return run_grid(
        GRID,
        out_dir=tmp_path / "results",
        encoder=EncoderSpec(),
        progress=False,
        command="emomtl reproduce --test",
        train_fn=trainer,
        load_fn=loader or FakeLoader(),
        write_fn=fake_write,
        **kwargs,
    )


def all_cells() -> set[tuple[str, int]]:
    return {(s.slug, seed) for s in GRID for seed in SEEDS}


def metrics_files(tmp_path: Path) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in (tmp_path / "results").glob("*/seed_*/metrics.json")}


def test_a_killed_grid_resumes_without_recomputing_finished_cells(tmp_path: Path) -> None:
    with pytest.raises(Killed):
        grid(tmp_path, FakeTrainer(kill_at_call=2))
    finished = metrics_files(tmp_path)
    assert {p.parent.parent.name for p in finished} == {GRID[0].slug}
    assert len(finished) == len(SEEDS)

    trainer = FakeTrainer()
    summary = grid(tmp_path, trainer)

    assert set(trainer.cells) == all_cells() - {(GRID[0].slug, s) for s in SEEDS}
    assert len(trainer.cells) == len(set(trainer.cells))
    assert summary.ok and summary.cells_trained == 6 and summary.cells_skipped == 3
    after = metrics_files(tmp_path)
    assert len(after) == len(GRID) * len(SEEDS)
    assert all(after[p] == mtime for p, mtime in finished.items())  # untouched


def test_only_the_missing_seeds_of_a_setting_are_trained(tmp_path: Path) -> None:
    cell = tmp_path / "results" / GRID[1].slug / "seed_1"
    cell.mkdir(parents=True)
    (cell / "metrics.json").write_text("{}")
    (cell.parent / "seed_2").mkdir()  # a started but unfinished cell: no metrics.json

    trainer = FakeTrainer()
    grid(tmp_path, trainer)

    assert set(trainer.cells) == all_cells() - {(GRID[1].slug, 1)}
    assert missing_seeds(cell.parent, SEEDS) == []


def test_a_rerun_of_a_finished_grid_trains_and_encodes_nothing(tmp_path: Path) -> None:
    grid(tmp_path, FakeTrainer())
    trainer, loader = FakeTrainer(), FakeLoader()
    summary = grid(tmp_path, trainer, loader)
    assert trainer.cells == [] and loader.requests == []
    assert summary.cells_skipped == len(all_cells())


def test_overwrite_recomputes_every_cell(tmp_path: Path) -> None:
    grid(tmp_path, FakeTrainer())
    trainer = FakeTrainer()
    grid(tmp_path, trainer, overwrite=True)
    assert sorted(trainer.cells) == sorted(all_cells())


def test_features_are_loaded_once_for_the_union_of_tasks(tmp_path: Path) -> None:
    loader = FakeLoader()
    grid(tmp_path, FakeTrainer(), loader)
    assert loader.requests == [["S", "T", "E"]]

    loader = FakeLoader()  # only "T" is missing now: encode T alone
    (tmp_path / "results" / GRID[0].slug / "seed_0" / "metrics.json").unlink()
    grid(tmp_path, FakeTrainer(), loader)
    assert loader.requests == [["T"]]


def test_a_failing_setting_is_recorded_and_the_others_finish(tmp_path: Path) -> None:
    summary = grid(tmp_path, FakeTrainer(fail=GRID[1].slug))

    assert [o.setting for o in summary.failures] == [GRID[1]]
    assert "diverged" in summary.failures[0].error
    assert not summary.ok
    done = {(p.parent.parent.name, int(p.parent.name[5:])) for p in metrics_files(tmp_path)}
    assert done == all_cells() - {(GRID[1].slug, s) for s in SEEDS}
    timings = json.loads((tmp_path / "results" / "timings.json").read_text())
    assert "diverged" in timings["per_setting"][GRID[1].slug]["error"]
    assert 'raise RuntimeError("diverged")' in timings["per_setting"][GRID[1].slug]["traceback"]

    trainer = FakeTrainer()  # the re-run retries just the failed setting
    assert grid(tmp_path, trainer).ok
    assert set(trainer.cells) == {(GRID[1].slug, s) for s in SEEDS}


def test_results_of_another_configuration_are_not_mixed_in(tmp_path: Path) -> None:
    grid(tmp_path, FakeTrainer(), seeds=(0,))
    trainer = FakeTrainer()
    summary = run_grid(
        GRID[:1],
        out_dir=tmp_path / "results",
        seeds=(0, 1),
        encoder=EncoderSpec(pooling="cls"),
        progress=False,
        report=False,
        train_fn=trainer,
        load_fn=FakeLoader(),
        write_fn=fake_write,
    )
    assert trainer.cells == []
    assert "encoder.pooling" in summary.failures[0].error


def test_timings_machine_and_report_are_written(tmp_path: Path) -> None:
    reported: list[Path] = []

    def report_fn(out_dir: Path) -> Path:
        reported.append(out_dir)
        path = out_dir / "report.md"
        path.write_text("# report\n")
        return path

    summary = grid(tmp_path, FakeTrainer(), report=True, report_fn=report_fn)

    out = tmp_path / "results"
    assert reported == [out] and summary.report_path == out / "report.md"
    timings = json.loads((out / "timings.json").read_text())
    assert set(timings["stages"]) == {"encode", "train", "report"}
    assert timings["total_s"] >= sum(timings["stages"].values()) - 0.01
    assert set(timings["per_setting"]) == {s.slug for s in GRID}
    assert timings["per_setting"][GRID[2].slug]["seeds_trained"] == list(SEEDS)
    machine = json.loads((out / "machine.json").read_text())
    assert {"cpu", "cores", "torch", "python", "platform"} <= machine.keys()
    assert (out / GRID[0].slug / "command.txt").read_text() == "emomtl reproduce --test\n"


def test_a_failing_report_keeps_the_results(tmp_path: Path) -> None:
    def report_fn(out_dir: Path) -> Path:
        raise OSError("disk full")

    summary = grid(tmp_path, FakeTrainer(), report=True, report_fn=report_fn)
    assert summary.report_error == "OSError: disk full" and not summary.ok
    assert len(metrics_files(tmp_path)) == len(all_cells())


def test_seeds_must_be_distinct(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="duplicates"):
        grid(tmp_path, FakeTrainer(), seeds=(0, 0))


class StoreTrainer:
    """Returns real :class:`~emomtl.train.TrainOutput` objects whose T metric is 0.5 + seed / 10."""

    def __init__(self) -> None:
        self.seeds: list[int] = []

    def __call__(self, config: Any, data: dict[str, Any]) -> Any:
        import torch

        from emomtl.train import SeedResult, TrainOutput

        self.seeds += list(config.seeds)
        results = [
            SeedResult(
                seed=seed,
                metrics={split: {"T": {"f1_micro": 0.5 + seed / 10}} for split in ("dev", "test")},
                best_epoch={"T": 1},
                epochs_run=2,
                train_size={"T": 10},
                wall_time_s=0.01,
                state_dict={"base.weight": torch.zeros(2, 3)},
            )
            for seed in config.seeds
        ]
        return TrainOutput(config=config, task_codes=["T"], input_dim=3, seeds=results)


def test_growing_the_seed_list_trains_only_the_new_seeds_with_the_real_store(
    tmp_path: Path,
) -> None:
    out = tmp_path / "results"
    kwargs: dict[str, Any] = {"out_dir": out, "progress": False, "report": False}
    kwargs |= {"load_fn": FakeLoader(), "command": "emomtl reproduce"}
    run_grid([Setting("T")], seeds=(0, 1), train_fn=StoreTrainer(), **kwargs)

    trainer = StoreTrainer()
    summary = run_grid([Setting("T")], seeds=(0, 1, 2), train_fn=trainer, **kwargs)

    assert summary.ok and trainer.seeds == [2]
    run = out / Setting("T").slug
    config = json.loads((run / "config.json").read_text())
    assert config["train"]["seeds"] == [0, 1, 2] and config["encoder"]["name"] == "minilm"
    results = json.loads((run / "results.json").read_text())
    assert results["seeds"] == [0, 1, 2]
    assert results["test"]["T"]["f1_micro"]["mean"] == pytest.approx(0.6)  # (0.5 + 0.6 + 0.7) / 3
    assert (run / "seed_2" / "model.safetensors").is_file()
