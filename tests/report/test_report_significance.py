"""The MTL-vs-STL tests: Welch p-values against scipy, verdicts on constructed results."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from scipy import stats

from emomtl.report.collect import collect
from emomtl.report.paper_values import PaperValue
from emomtl.report.significance import claim_tests, paper_welch_p


def test_paper_p_matches_welch_on_samples_with_those_summaries() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0.38, 0.01, 5), rng.normal(0.31, 0.02, 5)
    t = stats.t.ppf(0.975, 4)

    def summary(x: np.ndarray) -> PaperValue:
        return PaperValue(float(x.mean()), float(t * x.std(ddof=1) / math.sqrt(5)))

    expected = stats.ttest_ind(a, b, equal_var=False).pvalue
    assert math.isclose(paper_welch_p(summary(a), summary(b)), expected, rel_tol=1e-9)


def _write_s_grid(write_run_dir, root: Path, gains: dict[float, float]) -> None:
    """STL xS at 0.40 and every MH xS+... at 0.40 + gain, for each fraction."""
    for fraction, gain in gains.items():
        s = "S" if fraction == 1.0 else f"{fraction:g}S"
        write_run_dir(root, s, "MH", range(4), {"S": 0.40}, sd=0.004)
        for partners in ("T", "E", "T+E"):
            write_run_dir(root, f"{s}+{partners}", "MH", range(4), {"S": 0.40 + gain}, sd=0.004)


def test_claim_holds_when_gain_is_large_and_shrinks(tmp_path: Path, write_run_dir) -> None:
    _write_s_grid(write_run_dir, tmp_path, {0.1: 0.06, 0.5: 0.01, 1.0: 0.0})
    tests = claim_tests(collect(tmp_path))
    assert [t.label for t in tests] == ["0.1S", "0.5S", "S"]
    assert [t.holds for t in tests] == [True, True, True]
    assert all(c.significantly_better for c in tests[0].comparisons)
    assert all(c.p < 0.001 for c in tests[0].comparisons)
    assert "the claim holds here" in tests[0].sentence
    assert math.isclose(tests[0].mean_gain, 0.06, abs_tol=0.01)


def test_claim_fails_when_mtl_hurts_the_smallest_fraction(tmp_path: Path, write_run_dir) -> None:
    _write_s_grid(write_run_dir, tmp_path, {0.1: -0.05, 0.5: 0.03, 1.0: 0.0})
    tests = claim_tests(collect(tmp_path))
    assert tests[0].holds is False
    assert all(c.significantly_worse for c in tests[0].comparisons)
    assert "does not hold" in tests[0].sentence
    assert tests[1].holds is False  # the 0.5S gain is larger than at 0.1S


def test_no_gain_at_the_smallest_fraction_means_nothing_shrinks(
    tmp_path: Path, write_run_dir
) -> None:
    # MTL hurts everywhere, least at 0.5S and S: smaller losses are not a shrinking benefit
    _write_s_grid(write_run_dir, tmp_path, {0.1: -0.08, 0.5: -0.04, 1.0: -0.02})
    tests = claim_tests(collect(tmp_path))
    assert [t.holds for t in tests] == [False, False, False]
    assert "no benefit that shrinks" in tests[1].sentence


def test_missing_stl_cannot_be_tested(tmp_path: Path, write_run_dir) -> None:
    write_run_dir(tmp_path, "0.1S+T", "MH", range(3), {"S": 0.35})
    tests = claim_tests(collect(tmp_path))
    assert all(t.holds is None for t in tests)
    assert "cannot be tested" in tests[0].sentence
