"""The paper's central claim, tested directly on our seeds.

Claim (paper Sec. 5.1): *MH-MTL improves S (SemEval Jaccard) over single-task learning, and the gain
is largest when S has the least training data.* For each S fraction x in {0.1, 0.5, 1} we compare
the MH settings xS+T, xS+E and xS+T+E against STL xS: difference of means and the two-sided
Welch t-test p-value over seeds. The paper's own difference and an approximate p-value
(reconstructed from its mean +- 95% bound over 5 runs) are shown beside ours.

Verdict per fraction:

- smallest fraction: the claim holds when at least one MTL setting is significantly better than STL
  (p < ``ALPHA``), none is significantly worse, and the mean gain over the MTL settings is the
  largest of all fractions tested;
- larger fractions: the claim holds when it holds at the smallest fraction (a significant gain
  there) and the mean gain here is smaller (the benefit shrinks with more S data); without a gain
  at the smallest fraction there is nothing to shrink, and the claim does not hold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as scipy_stats

from emomtl.report.collect import Results
from emomtl.report.paper_values import BY_KEY, PAPER_RUNS, S_FRACTIONS, PaperValue, s_tasks
from emomtl.stats import mean_ci95, welch_pvalue

#: Significance level of the verdicts.
ALPHA = 0.05

#: The MTL partners of S compared against STL, in the paper's order.
PARTNERS: tuple[tuple[str, ...], ...] = (("T",), ("E",), ("T", "E"))


@dataclass
class Comparison:
    """MTL minus STL on S at one fraction.

    Attributes:
        mtl_tasks: the MTL setting's task string (method MH).
        stl: per-seed S values of STL xS (empty when not run).
        mtl: per-seed S values of the MTL setting (empty when not run).
        paper_diff: the paper's MTL mean minus STL mean, when it published both.
        paper_p: Welch p-value reconstructed from the paper's means and 95% bounds (n = 5).
    """

    mtl_tasks: str
    stl: list[float]
    mtl: list[float]
    paper_diff: float | None = None
    paper_p: float | None = None

    @property
    def available(self) -> bool:
        """Both sides have at least one seed."""
        return bool(self.stl) and bool(self.mtl)

    @property
    def diff(self) -> float:
        """mean(MTL) - mean(STL); NaN when a side is missing."""
        if not self.available:
            return math.nan
        return mean_ci95(self.mtl)[0] - mean_ci95(self.stl)[0]

    @property
    def p(self) -> float:
        """Two-sided Welch p-value (NaN with fewer than two seeds on a side)."""
        return welch_pvalue(self.mtl, self.stl)

    @property
    def significantly_better(self) -> bool:
        """MTL mean above STL and p < ALPHA."""
        return self.diff > 0 and self.p < ALPHA

    @property
    def significantly_worse(self) -> bool:
        """MTL mean below STL and p < ALPHA."""
        return self.diff < 0 and self.p < ALPHA


@dataclass
class FractionTest:
    """All comparisons at one S fraction, and the verdict on the claim there."""

    fraction: float
    comparisons: list[Comparison] = field(default_factory=list)
    holds: bool | None = None
    sentence: str = ""

    @property
    def label(self) -> str:
        """``"0.1S"``, ``"0.5S"`` or ``"S"``."""
        return s_tasks(self.fraction)

    @property
    def mean_gain(self) -> float:
        """Mean of the MTL-minus-STL differences over the available comparisons (NaN if none)."""
        diffs = [c.diff for c in self.comparisons if c.available]
        return float(np.mean(diffs)) if diffs else math.nan


def paper_welch_p(a: PaperValue, b: PaperValue, n: int = PAPER_RUNS) -> float:
    """Approximate Welch p-value of two published ``mean ± t(0.975, n-1) sd/sqrt(n)`` values."""
    t = float(scipy_stats.t.ppf(0.975, n - 1))
    sd_a, sd_b = (v.ci95 * math.sqrt(n) / t for v in (a, b))
    if sd_a == 0 and sd_b == 0:
        return math.nan
    return float(
        scipy_stats.ttest_ind_from_stats(a.mean, sd_a, n, b.mean, sd_b, n, equal_var=False).pvalue
    )


def _comparison(
    results: Results, fraction: float, partners: tuple[str, ...], metric: str, method: str
) -> Comparison:
    stl_key, mtl_key = (s_tasks(fraction), method), (s_tasks(fraction, *partners), method)
    stl_run, mtl_run = results.get(stl_key), results.get(mtl_key)
    comparison = Comparison(
        mtl_tasks=mtl_key[0],
        stl=stl_run.values("S", metric) if stl_run else [],
        mtl=mtl_run.values("S", metric) if mtl_run else [],
    )
    stl_paper, mtl_paper = BY_KEY.get(stl_key), BY_KEY.get(mtl_key)
    if stl_paper and mtl_paper:
        comparison.paper_diff = mtl_paper.values["S"].mean - stl_paper.values["S"].mean
        comparison.paper_p = paper_welch_p(mtl_paper.values["S"], stl_paper.values["S"])
    return comparison


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return "n/a"
    return f"{p:.2g}" if p >= 0.001 else "<0.001"


def _p_clause(p: float) -> str:
    """``"p = 0.024"``, ``"p < 0.001"``."""
    text = _fmt_p(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def _evidence(test: FractionTest) -> str:
    """ "2/3 MTL settings significantly better ..." with the best comparison's numbers."""
    available = [c for c in test.comparisons if c.available]
    better = sum(c.significantly_better for c in available)
    worse = sum(c.significantly_worse for c in available)
    best = max(available, key=lambda c: c.diff)
    return (
        f"{better}/{len(available)} MTL settings significantly better than STL, {worse} "
        f"significantly worse at p < {ALPHA:g}; best {best.mtl_tasks} {fmt_diff(best.diff)}, "
        f"{_p_clause(best.p)}; mean gain {fmt_diff(test.mean_gain)}"
    )


def fmt_diff(x: float) -> str:
    """Signed difference with three decimals, ``n/a`` for NaN."""
    if math.isnan(x):
        return "n/a"
    return "+0.000" if round(x, 3) == 0 else f"{x:+.3f}"


def _verdict(test: FractionTest, smallest: FractionTest, tested: list[FractionTest]) -> None:
    """Fill ``test.holds`` and ``test.sentence``."""
    available = [c for c in test.comparisons if c.available]
    if not available:
        test.sentence = (
            f"**{test.label}**: cannot be tested here: STL {test.label} or every MTL setting with "
            f"{test.label} is not run."
        )
        return
    evidence = _evidence(test)
    if test is smallest:
        helps = any(c.significantly_better for c in available) and not any(
            c.significantly_worse for c in available
        )
        others = [t.mean_gain for t in tested if t is not test and not math.isnan(t.mean_gain)]
        largest = all(test.mean_gain > g for g in others)
        test.holds = helps and largest
        reason = ("MTL helps S" if helps else "MTL does not clearly help S") + (
            " and the gain is the largest of all fractions"
            if largest
            else " and the gain is not the largest of all fractions"
        )
    else:
        if math.isnan(smallest.mean_gain):
            test.sentence = (
                f"**{test.label}**: cannot be judged against the smallest fraction "
                f"({smallest.label}), which is not run; {evidence}."
            )
            return
        if smallest.mean_gain <= 0 or not smallest.holds:
            test.holds = False
            how = (
                "does not gain"
                if smallest.mean_gain <= 0
                else "does not clearly help (no significant gain)"
            )
            reason = (
                f"MTL {how} at {smallest.label} ({fmt_diff(smallest.mean_gain)}), "
                "so there is no benefit that shrinks with more data"
            )
        else:
            test.holds = test.mean_gain < smallest.mean_gain
            reason = (
                f"the gain is {'smaller' if test.holds else 'not smaller'} than at "
                f"{smallest.label} ({fmt_diff(smallest.mean_gain)})"
            )
    verdict = "holds" if test.holds else "does not hold"
    test.sentence = f"**{test.label}**: the claim {verdict} here: {reason}; {evidence}."


def claim_tests(
    results: Results, metric: str = "jaccard", method: str = "MH"
) -> list[FractionTest]:
    """Compare MTL with STL on S's ``metric`` at every fraction in :data:`S_FRACTIONS`, both
    trained with ``method`` (``MH``: the paper's frozen-feature MH; ``MH+FT``: fine-tuned)."""
    tests = [
        FractionTest(
            f, [_comparison(results, f, partners, metric, method) for partners in PARTNERS]
        )
        for f in S_FRACTIONS
    ]
    tested = [t for t in tests if any(c.available for c in t.comparisons)]
    smallest = tests[0]
    for test in tests:
        _verdict(test, smallest, tested)
    return tests


def comparisons_table_rows(tests: list[FractionTest]) -> list[list[str]]:
    """Rows for the markdown table of every comparison (fraction, setting, means, diff, p)."""
    rows = []
    for test in tests:
        for c in test.comparisons:
            stl = f"{mean_ci95(c.stl)[0]:.3f}" if c.stl else "not run"
            mtl = f"{mean_ci95(c.mtl)[0]:.3f}" if c.mtl else "not run"
            paper_diff = fmt_diff(c.paper_diff) if c.paper_diff is not None else "-"
            paper_p = _fmt_p(c.paper_p) if c.paper_p is not None else "-"
            rows.append(
                [
                    test.label,
                    c.mtl_tasks,
                    stl,
                    mtl,
                    fmt_diff(c.diff),
                    _fmt_p(c.p),
                    paper_diff,
                    paper_p,
                ]
            )
    return rows


def comparison_header(method: str = "MH") -> tuple[str, ...]:
    """Header matching :func:`comparisons_table_rows` for MTL settings trained with ``method``."""
    return (COMPARISON_HEADER[0], f"MTL setting ({method})", *COMPARISON_HEADER[2:])


#: Header matching :func:`comparisons_table_rows` (the paper's method, MH).
COMPARISON_HEADER = (
    "S fraction",
    "MTL setting (MH)",
    "STL mean",
    "MTL mean",
    "MTL - STL",
    "p (Welch)",
    "paper MTL - STL",
    "paper p (approx.)",
)
