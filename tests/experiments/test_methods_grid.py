"""The methods grid (issue 12): composition, slugs, configs, CLI validation."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from emomtl.cli.train import parse_weighting_args
from emomtl.experiments.grid import (
    AGGREGATORS,
    METHOD_SAMPLINGS,
    METHOD_TASKS,
    METHOD_WEIGHTINGS,
    METHODS_GOEMOTIONS_GRID,
    METHODS_GRID,
    SLOW_WEIGHTINGS,
    Setting,
    setting_from_slug,
)
from emomtl.sampling import EVERY_TASK_SAMPLERS
from emomtl.weighting import WEIGHTINGS


def test_grid_holds_every_method_sampling_and_task_string_once_plus_stl() -> None:
    mtl = [s for s in METHODS_GRID if not s.is_stl]
    assert len(mtl) == len(METHOD_TASKS) * len(METHOD_SAMPLINGS) * len(METHOD_WEIGHTINGS)
    assert len({s.slug for s in METHODS_GRID}) == len(METHODS_GRID)
    assert {s.tasks for s in METHODS_GRID if s.is_stl} == {"0.1S", "S", "T", "E"}
    assert set(METHOD_WEIGHTINGS) <= set(WEIGHTINGS)
    for s in mtl:
        config = s.train_config(selection="per-task")
        assert config.sampling == s.sampling
        if s.weighting in AGGREGATORS:
            assert s.sampling in EVERY_TASK_SAMPLERS  # proportional became round
    # the most informative part runs first: STL of 0.1S+T+E, then its balanced column
    assert [s.tasks for s in METHODS_GRID[:3]] == ["0.1S", "T", "E"]
    fast = len(METHOD_WEIGHTINGS) - len(SLOW_WEIGHTINGS)
    assert {s.sampling for s in METHODS_GRID[3 : 3 + fast]} == {"balanced"}
    # the solver-per-step weightings come after every other cell of every task string
    slow = len(METHOD_TASKS) * len(SLOW_WEIGHTINGS) * len(METHOD_SAMPLINGS)
    assert {s.weighting for s in METHODS_GRID[-slow:]} == set(SLOW_WEIGHTINGS)
    assert not {s.weighting for s in METHODS_GRID[:-slow]} & set(SLOW_WEIGHTINGS)
    assert [s.tasks for s in METHODS_GRID[-slow:]] == sorted(
        (s.tasks for s in METHODS_GRID[-slow:]), key=METHOD_TASKS.index
    )


def test_goemotions_grid_adds_g_to_every_task_string_and_its_stl_baseline() -> None:
    stl = [s.tasks for s in METHODS_GOEMOTIONS_GRID if s.is_stl]
    assert stl == ["0.1S", "T", "E", "G", "S"]
    mtl = [s for s in METHODS_GOEMOTIONS_GRID if not s.is_stl]
    assert {s.tasks for s in mtl} == {"0.1S+T+E+G", "S+T+E+G"}
    assert len(mtl) == len(METHODS_GRID) - 4
    # the same cells as the grid without G, one for one
    without_g = {(s.tasks, s.weighting, s.sampling) for s in METHODS_GRID if not s.is_stl}
    assert {(s.tasks.removesuffix("+G"), s.weighting, s.sampling) for s in mtl} == without_g


def test_slug_with_sampling_round_trips_and_clashes_are_refused() -> None:
    setting = Setting("0.1S+T+E", "mh", "nash_mtl", "round")
    assert setting.slug == "mh-nash_mtl__0.1S+T+E__round"
    assert setting_from_slug(setting.slug) == setting
    assert setting_from_slug("mh-equal__S") == Setting("S")
    with pytest.raises(ValueError, match="sampling"):
        setting.train_config(sampling="balanced")


def test_weighting_args_parse() -> None:
    assert parse_weighting_args(["c=0.4", " lr = 0.1 "]) == {"c": "0.4", "lr": "0.1"}
    with pytest.raises(ValueError, match="key=value"):
        parse_weighting_args(["c"])
    with pytest.raises(ValueError, match="twice"):
        parse_weighting_args(["c=1", "c=2"])


def test_reproduce_methods_refuses_a_global_sampling(tmp_path) -> None:
    from emomtl.cli import app

    result = CliRunner().invoke(
        app, ["reproduce", "--grid", "methods", "--sampling", "balanced", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "sets sampling per setting" in result.output


def test_the_goemotions_grid_trains_every_setting_with_its_own_options() -> None:
    """GoEmotions is only learnt without the paper's weight decay; its grid fixes the options
    for every cell, STL baselines included, so each comparison is like for like."""
    from emomtl.experiments.grid import GRID_TRAIN_OPTIONS, GRIDS, METHOD_GRIDS

    assert set(GRID_TRAIN_OPTIONS) <= set(METHOD_GRIDS) <= set(GRIDS)
    options = GRID_TRAIN_OPTIONS["methods-goemotions"]
    configs = [s.train_config(selection="per-task", **options) for s in METHODS_GOEMOTIONS_GRID]
    assert {(c.weight_decay, c.lr) for c in configs} == {(0.0, 1e-3)}


def test_a_sampling_in_brackets_is_printed_as_text_not_taken_for_rich_markup(monkeypatch) -> None:
    import io

    from rich.console import Console

    from emomtl.cli.train import _print_tables
    from emomtl.experiments.runner import SettingOutcome, _print_outcome

    out = io.StringIO()
    console = Console(file=out, width=200, color_system=None)
    setting = Setting("0.1S+T+E", "mh", "uw", "balanced")
    _print_outcome(console, SettingOutcome(setting, trained=[0, 1], wall_time_s=1.0))
    _print_outcome(console, SettingOutcome(setting, skipped=[0, 1]))
    assert out.getvalue().count("0.1S+T+E MH+UW [balanced]") == 2

    import emomtl.cli.train as cli_train

    results = {
        "setting": "S+T+E MH+FT+UPGRAD [round]",
        "seeds": [0],
        "test": {"T": {"f1_micro": {"mean": 0.8, "ci95": None, "sd": None, "n": 1}}},
    }
    printed = io.StringIO()
    monkeypatch.setattr(cli_train, "console", Console(file=printed, width=200, color_system=None))
    _print_tables(results)
    assert "S+T+E MH+FT+UPGRAD [round]" in " ".join(printed.getvalue().split())  # title wraps
