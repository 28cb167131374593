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
    METHODS_GRID,
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
    assert {s.sampling for s in METHODS_GRID[3:13]} == {"balanced"}


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
