"""``emomtl report DIR`` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from emomtl.cli import app
from emomtl.report.paper_values import TABLE4

runner = CliRunner()


def test_report_command_writes_report(tmp_path: Path, write_tree) -> None:
    rows = [r for r in TABLE4 if r.key in {("S", "MH"), ("S+T+E", "MH")}]
    root = write_tree(tmp_path / "results", rows=rows, seeds=(0, 1))
    result = runner.invoke(app, ["report", str(root), "--title", "CLI report"])
    assert result.exit_code == 0, result.output
    report = (root / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# CLI report")
    assert "report.md" in result.output


def test_report_command_without_runs_fails_clearly(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code != 0
    assert "no runs in" in result.output
    assert not (tmp_path / "report.md").exists()
