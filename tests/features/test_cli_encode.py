"""``emomtl encode`` through typer's test runner (fake encoder, temporary cache)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from emomtl.cli import app

runner = CliRunner()


@pytest.mark.real
def test_encode_reports_miss_then_hit(data_dir: Path, tmp_path: Path, fake_encode) -> None:
    args = ["encode", "--tasks", "T", "--data-dir", str(data_dir), "--cache-dir", str(tmp_path)]
    first = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert first.exit_code == 0, first.output
    assert "T (tales)" in first.output and "1207 (965/120/122)" in first.output
    assert "miss" in first.output and "384" in first.output
    second = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert second.exit_code == 0 and "hit" in second.output
    assert fake_encode.calls == 1


def test_encode_rejects_bad_options(tmp_path: Path) -> None:
    bad_pooling = runner.invoke(app, ["encode", "--pooling", "max", "--cache-dir", str(tmp_path)])
    assert bad_pooling.exit_code == 1
    assert "pooling must be one of mean, cls, pooler" in bad_pooling.output
    bad_task = runner.invoke(app, ["encode", "--tasks", "S,X", "--cache-dir", str(tmp_path)])
    assert bad_task.exit_code == 1 and "unknown task 'X'" in bad_task.output
