"""The transcription of the paper's Table 4, spot-checked against numbers read from the paper."""

from __future__ import annotations

import pytest

from emomtl.report.paper_values import BY_KEY, TABLE2, TABLE3, TABLE4, s_tasks

# (Dataset, Method, task, mean, +-) read from Table 4 of the paper (appendix).
SPOT_CHECKS = [
    ("T", "MH", "T", 0.668, 0.017),
    ("E", "MH", "E", 0.513, 0.005),
    ("0.1S", "MH", "S", 0.310, 0.006),
    ("0.1S+E", "MH", "S", 0.366, 0.018),
    ("0.1S+T+E", "MH", "S", 0.385, 0.007),
    ("0.5S+T", "MH", "T", 0.691, 0.014),
    ("0.5S+T+E", "MH", "E", 0.484, 0.003),
    ("S+T", "MH", "T", 0.715, 0.003),
    ("S+T+E", "MH", "E", 0.500, 0.004),
    ("0.1S+T+E", "GN", "T", 0.689, 0.042),
    ("S+T+E", "GN", "E", 0.442, 0.005),
    ("0.1S+T+E", "SE", "S", 0.382, 0.015),
    ("S+T+E", "SE+GN", "S", 0.454, 0.008),
    ("S+T+E", "SE+GN", "E", 0.474, 0.005),
]

# Table 2 of the paper (means only), row by row: (Dataset, F1, r, Jaccard), None for "-".
PAPER_TABLE2 = [
    ("T", 0.668, None, None),
    ("E", None, 0.513, None),
    ("0.1S", None, None, 0.310),
    ("0.1S+T+E", 0.658, 0.463, 0.385),
    ("0.5S", None, None, 0.422),
    ("0.5S+T+E", 0.682, 0.484, 0.431),
    ("S", None, None, 0.445),
    ("S+T+E", 0.689, 0.500, 0.438),
]

# Table 3 of the paper: (Dataset, Method, F1, r, Jaccard).
PAPER_TABLE3 = [
    ("0.1S+T+E", "SE", 0.664, 0.459, 0.382),
    ("0.1S+T+E", "GN", 0.689, 0.384, 0.381),
    ("0.1S+T+E", "SE+GN", 0.670, 0.436, 0.377),
    ("S+T+E", "SE", 0.693, 0.495, 0.445),
    ("S+T+E", "GN", 0.707, 0.442, 0.445),
    ("S+T+E", "SE+GN", 0.713, 0.474, 0.454),
]


def test_table4_has_the_papers_20_distinct_rows() -> None:
    assert len(TABLE4) == 20
    assert len(BY_KEY) == 20
    assert [row.display for row in TABLE4[:4]] == [
        "T | MH",
        "E | MH",
        "(0.1S) | MH",
        "(0.1S)+T | MH",
    ]


@pytest.mark.parametrize(("tasks", "method", "code", "mean", "ci"), SPOT_CHECKS)
def test_spot_checks(tasks: str, method: str, code: str, mean: float, ci: float) -> None:
    value = BY_KEY[(tasks, method)].values[code]
    assert (value.mean, value.ci95) == (mean, ci)


def test_rows_only_hold_the_tasks_they_trained() -> None:
    for row in TABLE4:
        assert set(row.values) == set(row.tasks.replace("0.1", "").replace("0.5", "").split("+"))


def test_tables_2_and_3_are_subsets_of_table4_with_the_same_means() -> None:
    assert [k[0] for k in TABLE2] == [r[0] for r in PAPER_TABLE2]
    for key, (_, f1, r, jaccard) in zip(TABLE2, PAPER_TABLE2, strict=True):
        values = BY_KEY[key].values
        assert key[1] == "MH"
        for code, expected in (("T", f1), ("E", r), ("S", jaccard)):
            assert (values[code].mean if code in values else None) == expected
    for key, (tasks, method, f1, r, jaccard) in zip(TABLE3, PAPER_TABLE3, strict=True):
        assert key == (tasks, method)
        values = BY_KEY[key].values
        assert (values["T"].mean, values["E"].mean, values["S"].mean) == (f1, r, jaccard)


def test_s_tasks_builds_canonical_strings() -> None:
    assert s_tasks(0.1) == "0.1S"
    assert s_tasks(1.0, "T", "E") == "S+T+E"
    assert s_tasks(0.5, "E") == "0.5S+E"
