"""Rows differing only in training protocol stay apart; fine-tuned runs get their own claim."""

from __future__ import annotations

import json
from pathlib import Path

from emomtl.naming import protocol_suffix
from emomtl.report.build import build_report
from emomtl.report.collect import collect
from report.conftest import write_run


def _set_train(run_dir: Path, **train) -> Path:
    path = run_dir / "config.json"
    config = json.loads(path.read_text())
    config["train"].update(train)
    path.write_text(json.dumps(config))
    return run_dir


def test_protocol_suffix_names_non_default_sampling_and_selection() -> None:
    assert protocol_suffix({"sampling": "proportional", "selection": "sum"}, 3) == ""
    assert protocol_suffix({"sampling": "balanced", "selection": "per-task"}, 3) == (
        " [balanced, per-task]"
    )
    assert protocol_suffix({"sampling": "balanced", "selection": "per-task"}, 1) == " [per-task]"
    ft = {"finetune": True, "sampling": "temperature", "selection": "mean"}
    assert protocol_suffix(ft, 3) == ""
    assert protocol_suffix({**ft, "sampling": "balanced"}, 3) == " [balanced]"


def test_settings_differing_only_in_sampling_are_separate_rows(tmp_path: Path) -> None:
    for sampling in ("proportional", "balanced", "temperature"):
        run = write_run(tmp_path / sampling, "0.1S+T+E", "GN", (0, 1), {"S": 0.3})
        _set_train(run, sampling=sampling)
        run.rename(tmp_path / f"gn-{sampling}")
    results = collect(tmp_path)
    assert sorted(k[1] for k in results.runs) == ["GN", "GN [balanced]", "GN [temperature]"]
    assert not results.duplicates


def test_fine_tuned_runs_get_their_own_claim_section(tmp_path: Path) -> None:
    write_run(tmp_path, "0.1S", "MH", (0, 1, 2), {"S": 0.40})
    for tasks, s in (("0.1S", 0.50), ("0.1S+T+E", 0.53)):
        run = write_run(tmp_path / "ft", tasks, "MH", (0, 1, 2), {"S": s}, sd=0.002)
        _set_train(run, finetune=True, weighting="ft", sampling="temperature", selection="mean")
        run.rename(tmp_path / f"ft-{tasks}")
    report = build_report(tmp_path).read_text(encoding="utf-8")
    claim = report[report.index("## The central claim with a fine-tuned encoder (MH+FT)") :]
    claim = claim[: claim.index("\n## ")]
    assert "| MTL setting (MH+FT) |" in claim
    row = next(line for line in claim.splitlines() if line.startswith("| 0.1S | 0.1S+T+E |"))
    stl, mtl, diff = (float(cell) for cell in row.split("|")[3:6])
    assert abs(stl - 0.50) < 0.01 and abs(mtl - 0.53) < 0.01 and diff == round(mtl - stl, 3)
    assert "**0.1S**: the claim holds here" in claim
    # the frozen MH claim section compares frozen runs only: its 0.1S+T+E MH was never run
    frozen = report[report.index("## The central claim: MTL helps S") :].split("\n## ")[0]
    row = next(line for line in frozen.splitlines() if line.startswith("| 0.1S | 0.1S+T+E |"))
    assert row.split("|")[4].strip() == "not run" and 0.39 < float(row.split("|")[3]) < 0.41
