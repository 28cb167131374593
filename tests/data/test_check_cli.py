"""``emomtl data check`` through typer's CliRunner: text and JSON output, exit status."""

from __future__ import annotations

import json

import pytest
from corpus_files import SEMEVAL_NAMES, write_semeval
from typer.testing import CliRunner

from emomtl.cli import app

runner = CliRunner()


def _check(*args: str):
    return runner.invoke(app, ["data", "check", *args])


@pytest.mark.real
def test_check_real_corpora_json(data_dir):
    result = _check("--data-dir", str(data_dir), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["problems"] == []
    sizes = {(c["task"], c["split_mode"]): c["sizes"] for c in report["corpora"]}
    # data README and paper Table 1
    assert sizes[("S", "official")] == {"train": 6838, "dev": 886, "test": 3259}
    assert sizes[("T", "sentence")] == {"train": 965, "dev": 120, "test": 122}
    assert sizes[("E", "official")] == {"train": 8062, "dev": 999, "test": 1000}
    assert sizes[("E", "paper")] == {"train": 7851, "dev": 981, "test": 982}
    assert sum(sizes[("T", "story")].values()) == 1207
    tales = next(c for c in report["corpora"] if c["split_mode"] == "sentence")
    per_class = {
        label: sum(tales["distribution"][s][label] for s in ("train", "dev", "test"))
        for label in ("anger-disgust", "fear", "happy", "sad", "surprise")
    }
    assert list(per_class.values()) == [218, 166, 445, 264, 114]
    assert any("easy_money_13624_13628" in note for note in report["notes"])


@pytest.mark.real
def test_check_real_corpora_table(data_dir):
    result = _check("--data-dir", str(data_dir))
    assert result.exit_code == 0, result.output
    for needle in ("6838", "3259", "965", "122", "7851", "982", "all corpora OK"):
        assert needle in result.output


def test_check_broken_dir_fails_and_lists_problems(tmp_path):
    write_semeval(tmp_path)  # a 3/1/1-row SemEval, no tales, no EmoBank
    result = _check("--data-dir", str(tmp_path), "--json")
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["ok"] is False
    problems = "\n".join(report["problems"])
    assert "S official: split sizes {'train': 3, 'dev': 1, 'test': 1}" in problems
    assert str(tmp_path / "alm-tales" / "Potter" / "agree-sent") in problems
    assert str(tmp_path / "emobank" / "emobank.csv") in problems


def test_check_malformed_file_names_file_and_line(tmp_path):
    write_semeval(tmp_path)
    path = tmp_path / "semeval2018-ec" / SEMEVAL_NAMES["dev"]
    path.write_text(path.read_text(encoding="utf-8").replace("\t1\t", "\t7\t"), encoding="utf-8")
    result = _check("--data-dir", str(tmp_path))
    assert result.exit_code == 1
    flat = "".join(result.output.split())  # undo rich's line wrapping (and drop all spaces)
    needle = f"{path}:2 (id 2018-En-00004): flag 'fear' is '7'; expected 0 or 1"
    assert "".join(needle.split()) in flat
    assert "4problem(s)" in flat  # the bad flag, plus the missing tales, EmoBank and GoEmotions
