"""``emomtl reproduce``: option wiring and exit status (runner faked), and ``--quick`` end to end
on the real corpora and the real MiniLM encoder."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from emomtl.cli import app
from emomtl.cli.reproduce import MAX_AUTO_WORKERS
from emomtl.data.tasks import TASKS
from emomtl.experiments import runner
from emomtl.experiments.grid import QUICK, QUICK_SEEDS, TABLE4, Setting
from emomtl.experiments.runner import GridSummary, SettingOutcome

# Sanity floors well above chance (T has 5 classes) and far below the paper's numbers
# (Jaccard 0.31-0.45, F1 0.66-0.69, r 0.46-0.51): a broken pipeline falls under them.
FLOORS = {"S": 0.2, "T": 0.4, "E": 0.2}


class FakeRunGrid:
    """Stands in for :func:`run_grid`: records its arguments, fails the settings it is told to."""

    def __init__(self, failing: tuple[Setting, ...] = ()) -> None:
        self.failing = failing
        self.calls: list[tuple[tuple[Setting, ...], dict[str, Any]]] = []

    def __call__(self, settings: Any, **kwargs: Any) -> GridSummary:
        self.calls.append((tuple(settings), kwargs))
        outcomes = [
            SettingOutcome(s, error="RuntimeError: diverged" if s in self.failing else None)
            for s in settings
        ]
        return GridSummary(kwargs["out_dir"], outcomes, {"encode": 0.0, "train": 0.0})


@pytest.mark.parametrize(
    ("args", "grid", "seeds"),
    [
        ([], TABLE4, (0, 1, 2, 3, 4)),
        (["--quick"], QUICK, QUICK_SEEDS),
        (["--seeds", "3"], TABLE4, (0, 1, 2)),
        (["--workers", "1"], TABLE4, (0, 1, 2, 3, 4)),
    ],
)
def test_options_select_the_grid_and_seeds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, args: list[str], grid: Any, seeds: Any
) -> None:
    fake = FakeRunGrid()
    monkeypatch.setattr(runner, "run_grid", fake)
    result = CliRunner().invoke(app, ["reproduce", "--out", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    settings, kwargs = fake.calls[0]
    assert settings == tuple(grid) and tuple(kwargs["seeds"]) == seeds
    assert kwargs["out_dir"] == tmp_path and kwargs["overwrite"] is False
    assert kwargs["command"].startswith("emomtl reproduce")
    assert f"--out {tmp_path}" in kwargs["command"]
    assert ("--quick" in kwargs["command"]) == ("--quick" in args)
    auto = max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))  # default --workers 0
    assert kwargs["workers"] == (1 if "--workers" in args else auto)


def test_failed_settings_are_listed_and_exit_non_zero(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(runner, "run_grid", FakeRunGrid(failing=(TABLE4[3],)))
    result = CliRunner().invoke(app, ["reproduce", "--out", str(tmp_path), "--overwrite"])
    assert result.exit_code == 1
    assert "0.1S+T MH" in result.output and "diverged" in result.output
    assert "1 setting(s) failed" in result.output


def test_bad_options_fail_before_anything_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = FakeRunGrid()
    monkeypatch.setattr(runner, "run_grid", fake)
    result = CliRunner().invoke(app, ["reproduce", "--out", str(tmp_path), "--sampling", "nope"])
    assert result.exit_code == 1 and "sampling" in result.output
    assert fake.calls == []


@pytest.mark.real
@pytest.mark.slow
def test_reproduce_quick_writes_every_cell_and_the_report(
    data_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "paper"
    args = ["reproduce", "--quick", "--out", str(out), "--workers", "2"]  # settings in 2 processes
    args += ["--data-dir", str(data_dir), "--cache-dir", str(cache_dir)]

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 0, result.output
    report = out / "report.md"
    assert report.is_file() and report.stat().st_size > 500
    for setting in QUICK:
        setting_dir = out / setting.slug
        assert (setting_dir / "config.json").is_file()
        assert "reproduce --quick" in (setting_dir / "command.txt").read_text()
        for seed in QUICK_SEEDS:
            record = json.loads((setting_dir / f"seed_{seed}" / "metrics.json").read_text())
            assert record["seed"] == seed
            for code in setting.codes:
                primary = record["test"][code][TASKS[code].primary_metric]
                assert FLOORS[code] < primary <= 1.0, (setting.name, seed, code, primary)
    timings = json.loads((out / "timings.json").read_text())
    assert timings["cells_trained"] == len(QUICK) * len(QUICK_SEEDS)
    assert timings["workers"] == 2
    assert {"encode", "train", "report"} <= timings["stages"].keys()
    assert (out / "machine.json").is_file()

    rerun = CliRunner().invoke(app, args)  # everything finished: nothing is trained again

    assert rerun.exit_code == 0, rerun.output
    assert json.loads((out / "timings.json").read_text())["cells_trained"] == 0
