"""Seed statistics against hand-computed values and SciPy's reference t-test."""

from __future__ import annotations

import math

import pytest

from emomtl.stats import mean_ci95, summarize, welch_pvalue


def test_ci95_hand_computed() -> None:
    # values 1..5: mean 3, sd sqrt(2.5), t(0.975, 4) = 2.776445105 (statistical tables)
    mean, half = mean_ci95([1, 2, 3, 4, 5])
    assert mean == 3.0
    assert half == pytest.approx(2.776445105 * math.sqrt(2.5) / math.sqrt(5), rel=1e-8)


def test_ci95_degenerate_cases() -> None:
    assert all(math.isnan(v) for v in mean_ci95([]))
    mean, half = mean_ci95([0.4])
    assert mean == 0.4 and math.isnan(half)
    assert mean_ci95([1.0, float("nan"), 3.0])[0] == 2.0


def test_summarize_keeps_every_value() -> None:
    summary = summarize([0.1, 0.3])
    assert summary["values"] == [0.1, 0.3] and summary["n"] == 2
    assert summary["sd"] == pytest.approx(math.sqrt(0.02))


def test_welch_hand_computed() -> None:
    # a = 1..5 (var 2.5), b = 3..7 shifted by 2 (var 2.5): t = -2 / sqrt(1) = -2, df = 8
    # two-sided p = 2 * (1 - T_8(2)) = 0.080516 (t tables)
    assert welch_pvalue([1, 2, 3, 4, 5], [3, 4, 5, 6, 7]) == pytest.approx(0.0805162, abs=1e-6)
    assert math.isnan(welch_pvalue([1.0], [2.0, 3.0]))
