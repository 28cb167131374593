"""Statistics over repeated runs (seeds): means, 95% confidence intervals, Welch's t-test.

The paper reports "values with 95% confidence bounds computed over 5 runs"; we use the
t-distribution interval ``mean ± t(0.975, n-1) · sd / sqrt(n)`` with the sample standard deviation
(ddof = 1), which is the standard choice for five runs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats


def _finite(values: Sequence[float]) -> np.ndarray:
    array = np.asarray(list(values), dtype=np.float64)
    return array[np.isfinite(array)]


def mean_ci95(values: Sequence[float]) -> tuple[float, float]:
    """Mean and half-width of the 95% t-interval of ``values`` (NaNs ignored).

    Returns ``(nan, nan)`` for no finite value and ``(mean, nan)`` for a single one.
    """
    array = _finite(values)
    if array.size == 0:
        return math.nan, math.nan
    mean = float(array.mean())
    if array.size < 2:
        return mean, math.nan
    sem = float(array.std(ddof=1)) / math.sqrt(array.size)
    return mean, float(stats.t.ppf(0.975, array.size - 1)) * sem


def summarize(values: Sequence[float]) -> dict[str, float | int | list[float]]:
    """``{"mean", "ci95", "sd", "n", "values"}`` of a list of per-seed values."""
    array = _finite(values)
    mean, half_width = mean_ci95(values)
    sd = float(array.std(ddof=1)) if array.size >= 2 else math.nan
    return {
        "mean": mean,
        "ci95": half_width,
        "sd": sd,
        "n": int(array.size),
        "values": [float(v) for v in values],
    }


def welch_pvalue(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of Welch's unequal-variance t-test of mean(a) == mean(b).

    NaN when either side has fewer than two finite values.
    """
    left, right = _finite(a), _finite(b)
    if left.size < 2 or right.size < 2:
        return math.nan
    return float(stats.ttest_ind(left, right, equal_var=False).pvalue)


def holm_adjust(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (Holm 1979), in the input order; NaNs stay NaN and do
    not count as tests.

    With the m finite p-values sorted ascending ``p_(1) <= ... <= p_(m)``:
    ``p~_(j) = min(1, max_{l <= j} (m - l + 1) p_(l))``; reject at level a where ``p~ < a``.
    (Neither scipy nor the project's dependencies offer it; statsmodels'
    ``multipletests(method="holm")`` computes the same.)
    """
    values = np.asarray(list(pvalues), dtype=np.float64)
    finite = np.flatnonzero(np.isfinite(values))
    out = np.full(values.shape, math.nan)
    m = finite.size
    running = 0.0
    for rank, index in enumerate(finite[np.argsort(values[finite], kind="stable")]):
        running = max(running, (m - rank) * values[index])
        out[index] = min(1.0, running)
    return [float(v) for v in out]
