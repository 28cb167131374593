"""SemEval-2018 E-c loader: real sizes and label counts, and every bad-input class."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from corpus_files import SEMEVAL_HEADER, SEMEVAL_NAMES, SEMEVAL_ROWS, write_semeval

from emomtl.data.errors import DataError, MissingDataError
from emomtl.data.semeval import load_semeval, read_semeval_file
from emomtl.data.tasks import SEMEVAL_LABELS


def _train_file(root: Path) -> Path:
    return root / "semeval2018-ec" / SEMEVAL_NAMES["train"]


def test_small_corpus_parses_ids_texts_and_flags(tmp_path):
    write_semeval(tmp_path)
    corpus = load_semeval(tmp_path)
    train = corpus.splits["train"]
    assert corpus.sizes() == {"train": 3, "dev": 1, "test": 1}
    assert train.ids == ["2018-En-00001", "2018-En-00002", "2018-En-00003"]
    assert train.texts[1] == "Love you all \U0001f60d"
    assert train.texts[2] == '"quoted" @someone'
    assert train.targets.dtype == np.int64 and train.targets.shape == (3, 11)
    # row 1 of SEMEVAL_ROWS: anger and disgust; row 2: joy, love, optimism; row 3: none
    expected = np.zeros((3, 11), dtype=np.int64)
    expected[0, [SEMEVAL_LABELS.index("anger"), SEMEVAL_LABELS.index("disgust")]] = 1
    expected[1, [SEMEVAL_LABELS.index(k) for k in ("joy", "love", "optimism")]] = 1
    np.testing.assert_array_equal(train.targets, expected)


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        (SEMEVAL_HEADER.replace("anger", "angry"), "wrong or missing header"),
        (SEMEVAL_HEADER.replace("\t", ","), "wrong or missing header"),
        (SEMEVAL_ROWS["train"][0], "wrong or missing header"),  # header line missing
    ],
)
def test_wrong_or_missing_header(tmp_path, header, needle):
    write_semeval(tmp_path)
    path = _train_file(tmp_path)
    path.write_text("\n".join([header, *SEMEVAL_ROWS["train"]]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=needle) as info:
        load_semeval(tmp_path)
    assert info.value.path == path and info.value.line == 1
    assert str(info.value).startswith(f"{path}:1:")


def test_empty_file_is_a_missing_header(tmp_path):
    write_semeval(tmp_path)
    _train_file(tmp_path).write_text("", encoding="utf-8")
    with pytest.raises(DataError, match="found an empty file"):
        load_semeval(tmp_path)


@pytest.mark.parametrize("flag", ["2", "yes", "", "0.5"])
def test_flag_not_0_or_1(tmp_path, flag):
    rows = dict(SEMEVAL_ROWS)
    bad = SEMEVAL_ROWS["train"][1].split("\t")
    bad[2 + SEMEVAL_LABELS.index("fear")] = flag
    rows["train"] = [SEMEVAL_ROWS["train"][0], "\t".join(bad)]
    write_semeval(tmp_path, rows)
    with pytest.raises(DataError, match=r"flag 'fear' is .*expected 0 or 1") as info:
        load_semeval(tmp_path)
    assert info.value.line == 3  # header, row 1, bad row
    assert info.value.row_id == "2018-En-00002"


def test_row_with_wrong_field_count(tmp_path):
    rows = {**SEMEVAL_ROWS, "dev": ["2018-En-00004\tno flags at all"]}
    write_semeval(tmp_path, rows)
    with pytest.raises(DataError, match=r"expected 13 tab-separated fields.*found 2") as info:
        load_semeval(tmp_path)
    assert info.value.path.name == SEMEVAL_NAMES["dev"] and info.value.line == 2


def test_repeated_id(tmp_path):
    rows = {**SEMEVAL_ROWS, "train": [SEMEVAL_ROWS["train"][0]] * 2}
    write_semeval(tmp_path, rows)
    with pytest.raises(DataError, match="already used") as info:
        load_semeval(tmp_path)
    assert info.value.line == 3


def test_non_utf8_file_names_line_and_byte(tmp_path):
    write_semeval(tmp_path)
    path = _train_file(tmp_path)
    raw = path.read_bytes().replace(b"So angry", b"So \xe9ngry")  # Latin-1 e-acute
    path.write_bytes(raw)
    with pytest.raises(DataError, match="not valid UTF-8") as info:
        read_semeval_file(path)
    assert info.value.line == 2
    offset = raw.index(b"\xe9")
    assert f"byte offset {offset}" in str(info.value)


def test_missing_files_are_listed_together(tmp_path):
    write_semeval(tmp_path)
    for split in ("dev", "test"):
        (tmp_path / "semeval2018-ec" / SEMEVAL_NAMES[split]).unlink()
    with pytest.raises(MissingDataError) as info:
        load_semeval(tmp_path)
    assert [p.name for p in info.value.missing] == [SEMEVAL_NAMES["dev"], SEMEVAL_NAMES["test"]]


@pytest.mark.real
def test_real_sizes_and_label_counts(data_dir):
    import pandas as pd

    corpus = load_semeval(data_dir)
    # data README and paper Sec. 4: the official split has 6838 / 886 / 3259 tweets
    assert corpus.sizes() == {"train": 6838, "dev": 886, "test": 3259}
    for split, name in SEMEVAL_NAMES.items():
        reference = pd.read_csv(data_dir / "semeval2018-ec" / name, sep="\t", quoting=3)
        loaded = corpus.splits[split]
        assert loaded.ids == reference["ID"].tolist()
        np.testing.assert_array_equal(
            loaded.targets.sum(axis=0), reference[list(SEMEVAL_LABELS)].sum()
        )
        # tweets without any emotion exist (data README)
        assert (loaded.targets.sum(axis=1) == 0).any()
