"""Reading run directories and formatting table cells (expected numbers computed by hand)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from emomtl.naming import method_name
from emomtl.report.collect import ReportError, collect, tidy
from emomtl.report.paper_values import PaperValue
from emomtl.report.tables import DAGGER, fmt_mean_ci, paper_cell, paper_layout_table

# mean of [0.30, 0.32, 0.34] is 0.32, sd 0.02; t(0.975, 2) = 4.3027 (t-table), so the 95%
# half-width is 4.3027 * 0.02 / sqrt(3) = 0.04968.
VALUES = [0.30, 0.32, 0.34]


def test_method_names_follow_the_paper() -> None:
    assert method_name("mh", "equal") == "MH"
    assert method_name("mh", "gradnorm") == "GN"
    assert method_name("se", "equal") == "SE"
    assert method_name("se", "gradnorm") == "SE+GN"


def test_collect_reads_finished_seeds_only(tmp_path: Path, write_run_dir) -> None:
    write_run_dir(tmp_path, "0.1S+T+E", "SE+GN", (0, 1), {"S": 0.38}, unfinished=(2,))
    results = collect(tmp_path)
    run = results.get(("0.1S+T+E", "SE+GN"))
    assert run is not None
    assert [s.seed for s in run.seeds] == [0, 1]
    assert run.planned_seeds == [0, 1, 2]
    assert run.task_codes == ["S", "T", "E"]
    assert run.s_fraction() == 0.1
    assert len(run.values("S", "jaccard")) == 2
    assert all(s.lambdas is not None and s.lambdas.shape[1] == 3 for s in run.seeds)
    assert all(s.se_weight is not None and s.se_weight.shape[0] == 19 for s in run.seeds)
    records = list(tidy(results))
    assert {r["split"] for r in records} == {"dev", "test"}
    assert {r["task"] for r in records} == {"S", "T", "E"}


def test_collect_without_runs_raises(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="no runs"):
        collect(tmp_path)
    with pytest.raises(ReportError, match="does not exist"):
        collect(tmp_path / "missing")


def test_cell_formats() -> None:
    assert fmt_mean_ci(VALUES) == "0.320 ± 0.050"
    assert fmt_mean_ci([0.3]) == "0.300 (n=1)"
    assert fmt_mean_ci([]) == "n/a"
    assert paper_cell(VALUES, PaperValue(0.310, 0.006)) == "0.320 ± 0.050 (0.310, +0.010)"
    outside = paper_cell(VALUES, PaperValue(0.385, 0.007))
    assert outside == f"0.320 ± 0.050 (0.385, -0.065) {DAGGER}"
    # no interval from one seed: never a dagger
    assert DAGGER not in paper_cell([0.3], PaperValue(0.9, 0.01))


def test_missing_rows_are_not_run(tmp_path: Path, write_run_dir) -> None:
    write_run_dir(tmp_path, "S", "MH", (0, 1), {"S": 0.44})
    table = paper_layout_table(collect(tmp_path), [("S", "MH"), ("S+T", "MH")])
    lines = table.splitlines()
    assert lines[2].startswith("| S | MH | - | - | 0.4")
    assert lines[3] == "| S+T | MH | not run (0.715) | - | not run (0.435) | 0 |"
    assert not math.isnan(float(lines[2].split("|")[5].split("±")[0]))


def test_null_metrics_are_left_out(tmp_path: Path, write_run_dir) -> None:
    import json

    run_dir = write_run_dir(tmp_path, "E", "MH", (0, 1, 2), {"E": 0.5})
    path = run_dir / "seed_1" / "metrics.json"
    record = json.loads(path.read_text())
    record["test"]["E"]["pearson_mean"] = None  # the store writes NaN as null
    path.write_text(json.dumps(record))
    results = collect(tmp_path)
    assert len(results.runs[("E", "MH")].values("E", "pearson_mean")) == 2
    values = [r["value"] for r in tidy(results) if r["metric"] == "pearson_mean"]
    assert sum(math.isnan(v) for v in values) == 1


def test_s_is_compared_with_the_paper_on_jaccard_paper_with_the_official_beside(
    tmp_path: Path, write_run_dir
) -> None:
    """The comparison with the paper uses jaccard_paper; the official jaccard is shown beside."""
    import json

    from emomtl.report.paper_values import BY_KEY

    run_dir = write_run_dir(tmp_path, "S", "MH", (0, 1), {"S": 0.44})
    seeds = [json.loads((run_dir / f"seed_{s}" / "metrics.json").read_text()) for s in (0, 1)]
    paper_mean = sum(r["test"]["S"]["jaccard_paper"] for r in seeds) / 2
    official_mean = sum(r["test"]["S"]["jaccard"] for r in seeds) / 2
    assert abs(paper_mean - official_mean) > 0.01  # the fixture makes them differ
    row = paper_layout_table(collect(tmp_path), [("S", "MH")]).splitlines()[2]
    cell = row.split("|")[5].strip()
    paper = BY_KEY[("S", "MH")].values["S"].mean
    assert cell.startswith(f"{paper_mean:.3f} ± ")
    assert f"({paper:.3f}, {paper_mean - paper:+.3f})" in cell
    assert cell.split("; jaccard: ")[1].startswith(f"{official_mean:.3f} ± ")
