"""The grid constants against the paper's tables (rows typed in by hand from the paper)."""

from __future__ import annotations

import re

import pytest

from emomtl.experiments.grid import (
    GRIDS,
    QUICK,
    QUICK_SEEDS,
    SEEDS,
    TABLE2,
    TABLE3,
    TABLE4,
    Setting,
    setting_from_slug,
)

# The paper's Appendix, Table 4: (Dataset, Method) of each row, in order; "(0.1 S)" written 0.1S.
PAPER_TABLE4 = [
    ("T", "MH"),
    ("E", "MH"),
    ("0.1S", "MH"),
    ("0.1S+T", "MH"),
    ("0.1S+E", "MH"),
    ("0.1S+T+E", "MH"),
    ("0.5S", "MH"),
    ("0.5S+T", "MH"),
    ("0.5S+E", "MH"),
    ("0.5S+T+E", "MH"),
    ("S", "MH"),
    ("S+T", "MH"),
    ("S+E", "MH"),
    ("S+T+E", "MH"),
    ("0.1S+T+E", "GN"),
    ("S+T+E", "GN"),
    ("0.1S+T+E", "SE"),
    ("S+T+E", "SE"),
    ("0.1S+T+E", "SE+GN"),
    ("S+T+E", "SE+GN"),
]
# Table 2: the Dataset column.
PAPER_TABLE2 = ["T", "E", "0.1S", "0.1S+T+E", "0.5S", "0.5S+T+E", "S", "S+T+E"]
# Table 3: (Dataset, Method).
PAPER_TABLE3 = [
    ("0.1S+T+E", "SE"),
    ("0.1S+T+E", "GN"),
    ("0.1S+T+E", "SE+GN"),
    ("S+T+E", "SE"),
    ("S+T+E", "GN"),
    ("S+T+E", "SE+GN"),
]


def test_table4_has_the_papers_twenty_rows_in_order() -> None:
    assert len(TABLE4) == 20
    assert [(s.tasks, s.method) for s in TABLE4] == PAPER_TABLE4


def test_table2_and_table3_are_the_papers_rows() -> None:
    assert [s.tasks for s in TABLE2] == PAPER_TABLE2
    assert all(s.method == "MH" for s in TABLE2)
    assert sorted((s.tasks, s.method) for s in TABLE3) == sorted(PAPER_TABLE3)
    assert set(TABLE2) | set(TABLE3) <= set(TABLE4)


def test_methods_map_to_head_and_weighting() -> None:
    expected = {
        "MH": ("mh", "equal"),
        "GN": ("mh", "gradnorm"),
        "SE": ("se", "equal"),
        "SE+GN": ("se", "gradnorm"),
    }
    for setting in TABLE4:
        assert (setting.head, setting.weighting) == expected[setting.method]


def test_stl_rows_are_the_five_single_task_baselines() -> None:
    assert [s.tasks for s in TABLE4 if s.is_stl] == ["T", "E", "0.1S", "0.5S", "S"]


def test_seeds_and_quick_grid() -> None:
    assert SEEDS == (0, 1, 2, 3, 4)
    assert len(QUICK_SEEDS) == 2 and set(QUICK_SEEDS) <= set(SEEDS)
    assert QUICK == TABLE2
    assert GRIDS["table4"] == TABLE4


def test_slugs_are_unique_filesystem_safe_and_readable() -> None:
    slugs = [s.slug for s in TABLE4]
    assert len(set(slugs)) == len(slugs)
    assert len({slug.lower() for slug in slugs}) == len(slugs)  # case-insensitive filesystems
    for setting, slug in zip(TABLE4, slugs, strict=True):
        assert re.fullmatch(r"[A-Za-z0-9.+_-]+", slug), slug
        assert setting.tasks in slug
        assert setting_from_slug(slug) == setting
    assert Setting("0.1S+T+E").slug == "mh-equal__0.1S+T+E"
    assert Setting("S+T+E", "se", "gradnorm").slug == "se-gradnorm__S+T+E"


def test_setting_normalises_the_task_string() -> None:
    setting = Setting("emobank+0.1semeval + t")
    assert setting.tasks == "0.1S+T+E"
    assert setting.codes == ["S", "T", "E"]
    assert setting == Setting("0.1S+T+E")


@pytest.mark.parametrize(
    ("args", "message"),
    [(("S+X",), "unknown task"), (("S", "xx"), "head"), (("S", "mh", ""), "weighting")],
)
def test_invalid_settings_name_the_bad_value(args: tuple[str, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Setting(*args)


def test_setting_from_slug_rejects_other_names() -> None:
    with pytest.raises(ValueError, match="setting directory"):
        setting_from_slug("results")


def test_train_config_carries_the_setting_and_seeds() -> None:
    config = Setting("0.5S+E", "se", "gradnorm").train_config((3, 4), epochs=7)
    assert (config.tasks, config.head, config.weighting) == ("0.5S+E", "se", "gradnorm")
    assert tuple(config.seeds) == (3, 4)
    assert config.epochs == 7
    with pytest.raises(ValueError, match="head"):
        Setting("S").train_config(head="se")
