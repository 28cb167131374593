"""Data-dir resolution, missing-file reporting, containers, the 8:1:1 split and load_corpus."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from corpus_files import write_semeval

from emomtl.data.corpus import Corpus, Split, ratio_split, ratio_split_sizes
from emomtl.data.errors import DataError, MissingDataError
from emomtl.data.loading import load_corpus
from emomtl.data.paths import missing_paths, require, resolve_data_dir
from emomtl.data.tasks import SEMEVAL, TALES, get_task


def test_data_dir_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("EMOMTL_DATA_DIR", raising=False)
    assert resolve_data_dir() == Path("data")
    monkeypatch.setenv("EMOMTL_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"


def test_missing_data_error_lists_every_file_and_how_to_get_them(tmp_path):
    with pytest.raises(MissingDataError) as info:
        require(["S", "T", "E"], tmp_path)
    err = info.value
    expected = [
        tmp_path / "semeval2018-ec" / "2018-E-c-En-train.txt",
        tmp_path / "semeval2018-ec" / "2018-E-c-En-dev.txt",
        tmp_path / "semeval2018-ec" / "2018-E-c-En-test-gold.txt",
        tmp_path / "alm-tales" / "Grimms" / "agree-sent",
        tmp_path / "alm-tales" / "HCAndersen" / "agree-sent",
        tmp_path / "alm-tales" / "Potter" / "agree-sent",
        tmp_path / "emobank" / "emobank.csv",
    ]
    assert err.missing == expected
    message = str(err)
    assert all(str(p) in message for p in expected)
    assert "7 required corpus file(s) missing" in message
    assert "emomtl data fetch --dest DIR" in message and "EMOMTL_DATA_DIR" in message
    assert isinstance(err, ValueError)


def test_missing_paths_only_reports_what_is_absent(tmp_path):
    write_semeval(tmp_path)
    assert missing_paths(["S"], tmp_path) == []
    assert [p.name for p in missing_paths(["S", "E"], tmp_path)] == ["emobank.csv"]


def test_data_error_location_and_pickling(tmp_path):
    err = DataError(tmp_path / "f.txt", "bad flag", line=7, row_id="x1")
    assert str(err) == f"{tmp_path / 'f.txt'}:7 (id x1): bad flag"
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.line, again.row_id, str(again)) == (
        err.path,
        7,
        "x1",
        str(err),
    )
    missing = pickle.loads(pickle.dumps(MissingDataError(tmp_path, [tmp_path / "a"])))
    assert missing.missing == [tmp_path / "a"]


def test_split_rejects_ragged_fields():
    with pytest.raises(ValueError, match="2 ids but"):
        Split(ids=["a", "b"], texts=["x"], targets=np.zeros(2))
    with pytest.raises(ValueError, match="meta\\['story'\\]"):
        Split(ids=["a"], texts=["x"], targets=np.zeros(1), meta={"story": []})


def test_corpus_needs_exactly_train_dev_test():
    one = Split(ids=["a"], texts=["x"], targets=np.zeros(1))
    with pytest.raises(ValueError, match="expected exactly"):
        Corpus(task=TALES, splits={"train": one, "valid": one, "test": one})


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(1207, (965, 120, 122)), (9814, (7851, 981, 982)), (10, (8, 1, 1)), (19, (15, 1, 3))],
)
def test_ratio_split_sizes(n, sizes):
    # 1207 and 9814: the paper's Table 1; 10 and 19 by hand: floor(0.8n), floor(0.1n), the rest
    assert ratio_split_sizes(n) == sizes


def test_ratio_split_is_a_seeded_partition():
    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    a = ratio_split(100, seed=0, stratify=labels)
    assert np.array_equal(np.sort(np.concatenate(list(a.values()))), np.arange(100))
    assert [len(a[k]) for k in ("train", "dev", "test")] == [80, 10, 10]
    # stratified: 10% of each class in dev and in test (4, 3, 2, 1)
    for name in ("dev", "test"):
        assert np.bincount(labels[a[name]], minlength=4).tolist() == [4, 3, 2, 1]
    b = ratio_split(100, seed=0, stratify=labels)
    c = ratio_split(100, seed=1, stratify=labels)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["test"], c["test"])


def test_load_corpus_accepts_code_name_and_task(tmp_path, monkeypatch):
    write_semeval(tmp_path)
    by_code = load_corpus("S", tmp_path)
    by_name = load_corpus("semeval", tmp_path)
    by_task = load_corpus(SEMEVAL, tmp_path)
    assert by_code.task is by_name.task is by_task.task is get_task("S")
    monkeypatch.setenv("EMOMTL_DATA_DIR", str(tmp_path))
    assert load_corpus("S").sizes() == by_code.sizes()
    with pytest.raises(ValueError, match="unknown task 'X'"):
        load_corpus("X", tmp_path)


def test_load_corpus_reports_missing_files(tmp_path):
    with pytest.raises(MissingDataError, match=r"2018-E-c-En-train\.txt"):
        load_corpus("S", tmp_path)
