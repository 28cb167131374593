"""EmoBank loader: official and paper split modes, the empty-text quirk, and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from corpus_files import write_emobank

from emomtl.data.emobank import load_emobank, read_emobank_csv
from emomtl.data.errors import DataError, DataWarning, MissingDataError

ROWS = [
    'a_1_10,train,3.0,3.0,3.2,"Remember what she said? """',
    "a_2_20,train,2.8,3.1,2.8,If I wasn't working here.",
    'a_3_30,dev,4.6,1.8,4.2,"Yes, absolutely."',
    "a_4_40,test,1.2,4.4,1.78,No.",
]


def test_official_split_targets_and_quoting(tmp_path):
    write_emobank(tmp_path, ROWS)
    corpus = load_emobank(tmp_path)
    assert corpus.sizes() == {"train": 2, "dev": 1, "test": 1}
    train = corpus.splits["train"]
    assert train.texts == ['Remember what she said? "', "If I wasn't working here."]
    assert corpus.splits["dev"].texts == ["Yes, absolutely."]
    assert train.targets.dtype == np.float32 and train.targets.shape == (2, 3)
    np.testing.assert_allclose(corpus.splits["test"].targets, [[1.2, 4.4, 1.78]], rtol=1e-6)
    assert train.meta == {}


def test_meta_category_when_present(tmp_path):
    meta = [
        "id\tdocument\tcategory\tsubcategory",
        "a_1_10\tdocA\tfiction\t ",
        "a_3_30\tdocB\tblog\t ",
    ]
    write_emobank(tmp_path, ROWS, meta)
    corpus = load_emobank(tmp_path)
    assert corpus.splits["train"].meta["category"] == ["fiction", ""]
    assert corpus.splits["dev"].meta == {"document": ["docB"], "category": ["blog"]}


@pytest.mark.parametrize("missing_text", ["None", '""'])
def test_empty_text_dropped_with_warning_naming_id(tmp_path, missing_text):
    write_emobank(tmp_path, [*ROWS, f"easy_money_1_2,dev,2.78,2.89,2.78,{missing_text}"])
    with pytest.warns(DataWarning, match="easy_money_1_2 .*dev.* no text; dropped"):
        corpus = load_emobank(tmp_path)
    assert corpus.splits["dev"].ids == ["a_3_30"]


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ("b_1,train,,3.0,3.0,Text", "V is missing; expected a number between 1 and 5"),
        ("b_1,train,3.0,5.2,3.0,Text", "A is '5.2'; expected a number between 1 and 5"),
        ("b_1,train,3.0,3.0,0.99,Text", "D is '0.99'; expected a number between 1 and 5"),
        ("b_1,train,3.0,abc,3.0,Text", "A is 'abc'"),
        ("b_1,train,nan,3.0,3.0,Text", "V is 'nan'"),
        ("b_1,validation,3.0,3.0,3.0,Text", "split is 'validation'; expected train, dev or test"),
        ("b_1,train,3.0,3.0,Text", "expected 6 fields"),
        ("a_1_10,train,3.0,3.0,3.0,Text", "already used"),
    ],
)
def test_bad_rows_name_file_line_and_id(tmp_path, row, needle):
    path = write_emobank(tmp_path, [*ROWS, row])
    with pytest.raises(DataError, match=needle) as info:
        load_emobank(tmp_path)
    assert info.value.path == path
    assert info.value.line == 6  # header + 4 good rows + the bad one
    if "fields" not in needle and "already" not in needle:
        assert info.value.row_id == "b_1"
        assert f"{path}:6 (id b_1): " in str(info.value)


@pytest.mark.parametrize("header", ["id,split,V,A,D", "id;split;V;A;D;text", ROWS[0]])
def test_wrong_or_missing_header(tmp_path, header):
    path = write_emobank(tmp_path, ROWS)
    path.write_text("\n".join([header, *ROWS]) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="wrong or missing header") as info:
        read_emobank_csv(path)
    assert info.value.line == 1


def test_non_utf8(tmp_path):
    path = write_emobank(tmp_path, ROWS)
    path.write_bytes(path.read_bytes().replace(b"absolutely", b"absolut\xe9ly"))
    with pytest.raises(DataError, match="not valid UTF-8") as info:
        load_emobank(tmp_path)
    assert info.value.line == 4


def test_missing_csv(tmp_path):
    with pytest.raises(MissingDataError, match=r"emobank\.csv"):
        load_emobank(tmp_path)


def test_paper_mode_drops_every_repeated_text_like_pandas(tmp_path):
    import pandas as pd

    rows = [f"r_{i},train,3.0,3.0,3.0,text {i % 15}" for i in range(20)]  # texts 0-4 repeat
    rows += ["r_empty,dev,3.0,3.0,3.0,None"]
    path = write_emobank(tmp_path, rows)
    with pytest.warns(DataWarning, match="r_empty has no text; kept"):
        corpus = load_emobank(tmp_path, split="paper", split_seed=3)
    reference = pd.read_csv(path).drop_duplicates(subset="text", keep=False)
    loaded = [i for s in corpus.splits.values() for i in s.ids]
    assert sorted(loaded) == sorted(reference["id"])  # 10 unique texts + the single empty one
    assert corpus.sizes() == {"train": 8, "dev": 1, "test": 2}  # floor(8.8), floor(1.1), rest


def test_unknown_split_mode(tmp_path):
    write_emobank(tmp_path, ROWS)
    with pytest.raises(ValueError, match="unknown EmoBank split 'random'"):
        load_emobank(tmp_path, split="random")


# ---- the real corpus -------------------------------------------------------------------------


@pytest.mark.real
def test_real_official_split(data_dir):
    with pytest.warns(DataWarning, match="easy_money_13624_13628 \\(dev split\\) has no text"):
        corpus = load_emobank(data_dir, split="official")
    # data README: 8062 / 1000 / 1000, minus the empty-text row of dev
    assert corpus.sizes() == {"train": 8062, "dev": 999, "test": 1000}
    all_ids = [i for s in corpus.splits.values() for i in s.ids]
    assert "easy_money_13624_13628" not in all_ids and len(set(all_ids)) == 10061
    for split in corpus.splits.values():
        assert split.targets.min() >= 1 and split.targets.max() <= 5
        assert all(split.texts)
    # meta.tsv genres (data README: fiction, blogs, news, essays, letters, travel guides)
    assert {"fiction", "blog", "letters", "essays"} <= set(corpus.splits["train"].meta["category"])


@pytest.mark.real
def test_real_paper_split_matches_the_pandas_sklearn_recipe(data_dir):
    import pandas as pd
    from sklearn.model_selection import train_test_split

    with pytest.warns(DataWarning, match="kept as '' in the"):
        corpus = load_emobank(data_dir, split="paper", split_seed=0)
    # paper Table 1
    assert corpus.sizes() == {"train": 7851, "dev": 981, "test": 982}
    # the recipe: pandas read (the 'None' text becomes NaN), drop every repeated text, then
    # 80/20 and 50/50 with sklearn's train_test_split
    df = pd.read_csv(data_dir / "emobank" / "emobank.csv")
    df = df.drop_duplicates(subset="text", keep=False)
    assert len(df) == 9814
    train, rest = train_test_split(df, test_size=0.2, random_state=0)
    dev, test = train_test_split(rest, test_size=0.5, random_state=0)
    for name, ref in (("train", train), ("dev", dev), ("test", test)):
        assert sorted(corpus.splits[name].ids) == sorted(ref["id"])


@pytest.mark.real
def test_real_paper_split_deterministic_and_seeded(data_dir):
    with pytest.warns(DataWarning):
        a = load_emobank(data_dir, split="paper", split_seed=0)
        b = load_emobank(data_dir, split="paper", split_seed=0)
        c = load_emobank(data_dir, split="paper", split_seed=1)
    assert a.splits["test"].ids == b.splits["test"].ids
    assert set(a.splits["test"].ids) != set(c.splits["test"].ids)
    assert c.sizes() == a.sizes()
