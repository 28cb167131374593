"""Holm-Bonferroni adjustment against a hand computation."""

from __future__ import annotations

import math

import pytest

from emomtl.stats import holm_adjust


def test_holm_by_hand() -> None:
    """p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005*4 = 0.02, 0.01*3 = 0.03,
    0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.02, 0.03, 0.06, 0.06."""
    assert holm_adjust([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_ignores_nan_and_caps_at_one() -> None:
    """m = 3 finite: 0.01 * 3 = 0.03, 0.6 * 2 = 1.2 -> 1, 0.7 * 1 under the running max -> 1."""
    adjusted = holm_adjust([math.nan, 0.01, 0.6, 0.7])
    assert math.isnan(adjusted[0])
    assert adjusted[1:] == pytest.approx([0.03, 1.0, 1.0])
