"""The methods report: MTL - STL per cell, Welch p from scipy, Holm over the grid, statement."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scipy import stats

from emomtl.report.methods import build_methods_report, compare, winners

PRIMARY = {"S": "jaccard", "T": "f1_micro", "E": "pearson_mean"}


def _run(root: Path, name: str, tasks: str, weighting: str, sampling: str, values: dict) -> None:
    run = root / name
    run.mkdir()
    train = {"tasks": tasks, "head": "mh", "weighting": weighting, "sampling": sampling}
    train["seeds"] = list(range(len(next(iter(values.values())))))
    (run / "config.json").write_text(json.dumps({"train": train}))
    for seed in train["seeds"]:
        (run / f"seed_{seed}").mkdir()
        test = {code: {PRIMARY[code]: v[seed]} for code, v in values.items()}
        record = {"seed": seed, "test": test, "dev": test, "wall_time_s": 2.0 + seed}
        (run / f"seed_{seed}" / "metrics.json").write_text(json.dumps(record))


@pytest.fixture
def results(tmp_path: Path) -> Path:
    _run(tmp_path, "stl_s", "0.1S", "equal", "proportional", {"S": [0.44, 0.45, 0.46]})
    _run(tmp_path, "stl_t", "T", "equal", "proportional", {"T": [0.70, 0.69, 0.71]})
    _run(tmp_path, "stl_e", "E", "equal", "proportional", {"E": [0.50, 0.49, 0.50]})
    good = {"S": [0.50, 0.51, 0.50], "T": [0.68, 0.69, 0.67], "E": [0.49, 0.49, 0.48]}
    _run(tmp_path, "mtl_uw", "0.1S+T+E", "uw", "balanced", good)
    same = {"S": [0.45, 0.44, 0.46], "T": [0.70, 0.71, 0.69], "E": [0.50, 0.50, 0.49]}
    _run(tmp_path, "mtl_eq", "0.1S+T+E", "equal", "balanced", same)
    return tmp_path


def test_cells_compare_with_the_stl_of_the_same_fraction(results: Path) -> None:
    cells = compare(results)
    assert len(cells) == 6
    cell = next(c for c in cells if c.weighting == "uw" and c.task == "S")
    assert cell.mean == pytest.approx(0.5033333, abs=1e-6)
    assert cell.diff == pytest.approx(0.5033333 - 0.45, abs=1e-6)
    expected = stats.ttest_ind([0.50, 0.51, 0.50], [0.44, 0.45, 0.46], equal_var=False).pvalue
    assert cell.p == pytest.approx(expected)
    assert cell.wall_s == pytest.approx(3.0)  # mean of 2, 3, 4 s per seed
    smallest = min(cells, key=lambda c: c.p)
    assert smallest.p_holm == pytest.approx(min(1.0, 6 * smallest.p))
    assert all(c.p_holm >= c.p for c in cells)


def test_statement_names_the_winner_and_its_cost(results: Path) -> None:
    cells = compare(results)
    (win,) = winners(cells, "0.1S+T+E", "S")
    assert (win.weighting, win.sampling) == ("uw", "balanced")
    text = build_methods_report(results).read_text()
    assert "uw / balanced beats STL by +0.053" in text
    assert "other spaces: T -0.020" in text
    assert (results / "methods.json").is_file()
