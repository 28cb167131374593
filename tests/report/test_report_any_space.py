"""The report for label spaces beyond S/T/E, and the claim's verdict without a significant gain."""

from __future__ import annotations

import json
from pathlib import Path

from emomtl.report.build import build_report
from emomtl.report.collect import collect
from emomtl.report.significance import claim_tests
from report.conftest import write_run


def _goemotions_run(root: Path, name: str, head: str, f1_macro: list[float]) -> None:
    run = root / name
    run.mkdir(parents=True)
    train = {"tasks": "G", "head": head, "weighting": "equal", "seeds": [0, 1]}
    (run / "config.json").write_text(json.dumps({"train": train}))
    for seed, value in enumerate(f1_macro):
        (run / f"seed_{seed}").mkdir()
        metrics = {"f1_macro": value, "f1_micro": value + 0.2, "jaccard": 0.3, "loss": 0.1}
        record = {"seed": seed, "test": {"G": metrics}, "dev": {"G": metrics}}
        (run / f"seed_{seed}" / "metrics.json").write_text(json.dumps(record))


def test_a_goemotions_only_results_directory_gets_its_metric_table(tmp_path: Path) -> None:
    _goemotions_run(tmp_path, "mh", "mh", [0.25, 0.26])
    _goemotions_run(tmp_path, "label", "label", [0.21, 0.22])
    report = build_report(tmp_path).read_text(encoding="utf-8")
    table = report[report.index("| Dataset | Method | macro-F1 |") :].split("\n\n")[0]
    assert "micro-F1" in table.splitlines()[0] and "loss" not in table
    assert "| G | MH | 0.255" in table and "| G | Label | 0.215" in table


def test_no_significant_gain_at_the_smallest_fraction_means_nothing_shrinks(tmp_path) -> None:
    write_run(tmp_path, "0.1S", "MH", (0, 1, 2), {"S": 0.45}, sd=0.01)
    write_run(tmp_path, "0.1S+T+E", "MH", (0, 1, 2), {"S": 0.452}, sd=0.01)
    write_run(tmp_path, "S", "MH", (0, 1, 2), {"S": 0.50}, sd=0.01)
    write_run(tmp_path, "S+T+E", "MH", (0, 1, 2), {"S": 0.49}, sd=0.01)
    smallest, _, full = claim_tests(collect(tmp_path))
    assert smallest.holds is False and full.holds is False
    assert "does not clearly help (no significant gain) at 0.1S" in full.sentence
