"""report.md and its figures from a fake results tree in the layout of docs/design.md."""

from __future__ import annotations

import re
import struct
from pathlib import Path

from emomtl.report.build import build_report
from emomtl.report.paper_values import TABLE4

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; asserts the signature and chunk type."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR"
    return struct.unpack(">II", head[16:24])


def section(report: str, title: str) -> str:
    """The text of the ``## title`` section."""
    start = report.index(f"## {title}")
    end = report.find("\n## ", start + 1)
    return report[start : end if end != -1 else None]


def test_full_report_has_every_row_and_paper_value(full_report: tuple[Path, str]) -> None:
    _, report = full_report
    table4 = section(report, "Table 4")
    for row in TABLE4:
        assert f"| {row.label} | {row.method} |" in table4, row.display
        for value in row.values.values():
            assert f"({value.mean:.3f}, " in table4, (row.display, value)
    assert "not run" not in table4
    assert "| (0.1S)+T+E | MH |" in section(report, "Table 2")
    assert "| S+T+E | SE+GN |" in section(report, "Table 3")


def test_full_report_header_and_claim(full_report: tuple[Path, str]) -> None:
    _, report = full_report
    for text in ("minilm", "Fake CPU 9000", "2.13.0", "0:15:05", "0, 1, 2"):
        assert text in report, text
    claim = section(report, "The central claim")
    for label in ("0.1S", "0.5S", "S"):
        assert re.search(
            rf"^- \*\*{re.escape(label)}\*\*: the claim (holds|does not hold) here", claim, re.M
        ), label
    assert claim.count("| 0.1S |") == 3  # xS+T, xS+E, xS+T+E vs STL


def test_full_report_all_metrics(full_report: tuple[Path, str]) -> None:
    _, report = full_report
    metrics = section(report, "All metrics")
    for header in ("Jaccard (official)", "Jaccard (paper's code)", "macro-F1", "r V", "r A", "r D"):
        assert header in metrics


def test_every_figure_is_a_sensible_png(full_report: tuple[Path, str]) -> None:
    root, report = full_report
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", report)
    names = {
        "fig3_gradnorm_lambdas.png",
        "fig5_s_fraction_mh.png",
        "fig6_s_fraction_modifications.png",
    }
    assert names <= set(linked)
    assert sum(name.startswith("fig4_se_correlation") for name in linked) == 4  # SE, SE+GN x 2
    for name in linked:
        path = root / name
        width, height = png_size(path)
        assert width > 300 and height > 300, (name, width, height)
        assert 10_000 < path.stat().st_size < 5_000_000, name


def test_partial_results_show_not_run_and_skip_figures(tmp_path: Path, write_tree) -> None:
    rows = [r for r in TABLE4 if r.key in {("S", "MH"), ("S+T", "MH"), ("0.1S", "MH")}]
    root = write_tree(tmp_path / "partial", rows=rows, seeds=(0, 1), extras=False)
    report = build_report(root, title="Partial").read_text(encoding="utf-8")
    assert report.startswith("# Partial")
    assert "| (0.1S)+T+E | MH | not run (0.658) | not run (0.463) | not run (0.385) | 0 |" in report
    assert "| S+T | MH | 0.7" in report
    assert "Fig. 3: GradNorm loss weights over training steps (mean over seeds): skipped" in report
    assert "W_SE label correlations: skipped" in report
    assert "Machine | not recorded" in report
    assert "(fig5_s_fraction_mh.png)" in report
    assert not list(root.glob("fig3_*.png")) and not list(root.glob("fig4_*.png"))
    assert "**0.5S**: cannot be tested" in report
