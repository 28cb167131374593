"""Corpus cards: every layout and kind, every card error and row error, the registry.

Small corpora are written by the tests; the GoEmotions test reads the real files.
"""

from __future__ import annotations

import json
import os
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

from emomtl.data.cards import CardError, load_card
from emomtl.data.errors import DataError, DataWarning, MissingDataError
from emomtl.data.loading import load_corpus
from emomtl.data.tasks import (
    CORPORA_ENV,
    REGISTRY,
    format_task_spec,
    get_task,
    known_tasks,
    parse_task_spec,
    register_cards,
)


@pytest.fixture(autouse=True)
def _registry(clean_registry):
    """Every test starts from the built-in spaces and leaves them as they were."""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


MULTICLASS_CSV = """\
text,emotion,split
I am so happy today,joy,train
This is terrible,anger,train
What a lovely gift,joy,train
I hate waiting,anger,train
Nice weather,joy,dev
So annoying,anger,dev
Great news,joy,test
Awful service,1,test
"""

MULTICLASS_CARD = """\
name = "toy"
title = "Toy (2 classes)"
kind = "multiclass"
licence = "CC0"

[files]
path = "toy.csv"
split_column = "split"

[columns]
text = "text"
label = "emotion"
labels = ["joy", "anger"]

[descriptions]
joy = "joy: feeling great pleasure"
"""


def toy_card(tmp_path: Path, card: str = MULTICLASS_CARD, data: str = MULTICLASS_CSV) -> Path:
    write(tmp_path / "toy.csv", data)
    return write(tmp_path / "toy.toml", card)


# --------------------------------------------------------------------------------------------------
# layouts and kinds


def test_split_column_multiclass_names_and_ids(tmp_path):
    task = load_card(toy_card(tmp_path)).to_task()
    assert (task.name, task.code, task.kind, task.labels) == (
        "toy",
        "toy",
        "multiclass",
        ("joy", "anger"),
    )
    assert (task.primary_metric, task.higher_is_better, task.licence) == ("f1_micro", True, "CC0")
    assert task.label_descriptions == ("joy: feeling great pleasure", "")
    corpus = load_corpus(task, tmp_path)
    assert corpus.sizes() == {"train": 4, "dev": 2, "test": 2}
    assert corpus.splits["train"].targets.tolist() == [0, 1, 0, 1]
    assert corpus.splits["test"].targets.tolist() == [0, 1]  # "1" is the id of "anger"
    assert corpus.splits["dev"].ids == ["toy.csv:6", "toy.csv:7"]  # file:line without an id column


def test_per_split_files_multilabel_delimited(tmp_path):
    for split, rows in {
        "train": "a\tjoy|fear\nb\tfear\nc\t\n",
        "dev": "d\tjoy\n",
        "test": "e\t0|1\n",
    }.items():
        write(tmp_path / f"{split}.tsv", "text\temotions\n" + rows)
    card = write(
        tmp_path / "ml.toml",
        """
        name = "ml"
        code = "M"
        kind = "multilabel"
        [files]
        train = "train.tsv"
        dev = "dev.tsv"
        test = "test.tsv"
        [columns]
        text = "text"
        labels_column = "emotions"
        delimiter = "|"
        labels = ["joy", "fear"]
        """,
    )
    corpus = load_corpus(load_card(card).to_task(), tmp_path)
    assert corpus.splits["train"].targets.tolist() == [[1, 1], [0, 1], [0, 0]]
    assert corpus.splits["test"].targets.tolist() == [[1, 1]]
    assert corpus.task.primary_metric == "jaccard" and corpus.task.code == "M"


def test_wide_multilabel_and_labels_file(tmp_path):
    write(tmp_path / "names.txt", "joy\n\nfear")  # no trailing newline, a blank line
    write(
        tmp_path / "w.csv",
        "text,joy,fear,split\nx,1,0,train\ny,0,1,train\nz,1,1,dev\nq,0,0,test\n",
    )
    card = write(
        tmp_path / "w.toml",
        """
        name = "wide"
        kind = "multilabel"
        metric = "f1_macro"
        [files]
        path = "w.csv"
        split_column = "split"
        [columns]
        text = "text"
        label_columns = ["joy", "fear"]
        labels_file = "names.txt"
        """,
    )
    task = load_card(card).to_task()
    assert task.labels == ("joy", "fear") and task.primary_metric == "f1_macro"
    corpus = load_corpus(task, tmp_path)
    assert corpus.splits["dev"].targets.tolist() == [[1, 1]]


def test_ratio_split_regression_jsonl_is_seeded(tmp_path):
    rows = [{"text": f"text {i}", "v": i / 10, "a": 1.0} for i in range(50)]
    write(tmp_path / "r.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n")
    card = write(
        tmp_path / "r.toml",
        """
        name = "reg"
        kind = "regression"
        [files]
        path = "r.jsonl"
        split = "ratio"
        [columns]
        text = "text"
        targets = ["v", "a"]
        """,
    )
    task = load_card(card).to_task()
    assert task.labels == ("v", "a") and task.primary_metric == "pearson_mean"
    first = load_corpus(task, tmp_path, split_seed=3)
    again = load_corpus(task, tmp_path, split_seed=3)
    other = load_corpus(task, tmp_path, split_seed=4)
    assert first.sizes() == {"train": 40, "dev": 5, "test": 5}
    assert first.splits["test"].ids == again.splits["test"].ids != other.splits["test"].ids
    assert first.splits["train"].targets.dtype == np.float32
    assert first.splits["train"].targets.shape == (40, 2)


def test_ratio_split_is_stratified_for_multiclass(tmp_path):
    lines = ["text,label"] + [f"t{i},{'a' if i % 5 else 'b'}" for i in range(100)]
    write(tmp_path / "s.csv", "\n".join(lines) + "\n")
    card = write(
        tmp_path / "s.toml",
        """
        name = "strat"
        kind = "multiclass"
        [files]
        path = "s.csv"
        split = "ratio"
        [columns]
        text = "text"
        label = "label"
        labels = ["a", "b"]
        """,
    )
    corpus = load_corpus(load_card(card).to_task(), tmp_path)
    # 20% "b" overall; stratification keeps exactly that share in each split
    assert [int((corpus.splits[s].targets == 1).sum()) for s in ("train", "dev", "test")] == [
        16,
        2,
        2,
    ]


# --------------------------------------------------------------------------------------------------
# card errors: each names the card file and the key


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        (("multiclass", "sentiment"), "kind", "unknown kind 'sentiment'"),
        (('name = "toy"', 'name = "Toy!"'), "name", "must match"),
        (
            ('licence = "CC0"', 'licence = "CC0"\nmetric = "pearson_mean"'),
            "metric",
            "not a multiclass metric",
        ),
        (('split_column = "split"', 'split_column = "split"\ntrain = "toy.csv"'), "files", "both"),
        (('path = "toy.csv"\nsplit_column = "split"', ""), "files", "no layout"),
        (
            ('split_column = "split"', 'split_column = "split"\nsplit = "ratio"'),
            "files",
            "exactly one",
        ),
        (
            ('label = "emotion"', 'label = "emotion"\ntargets = ["x"]'),
            "columns.targets",
            "not used",
        ),
        (('title = "Toy (2 classes)"', 'title = "Toy"\ncolour = "red"'), "colour", "unknown key"),
        (('labels = ["joy", "anger"]', 'labels = ["joy", "joy"]'), "columns.labels", "repeated"),
        (('joy = "joy', 'fear = "fear'), "descriptions", "unknown label"),
        (
            ('split_column = "split"', 'split_column = "split"\nheader = false'),
            "files.names",
            "names",
        ),
    ],
)
def test_card_errors_name_file_and_key(tmp_path, change, key, message):
    card = toy_card(tmp_path, MULTICLASS_CARD.replace(*change))
    with pytest.raises(CardError) as info:
        load_card(card)
    assert info.value.path == card and info.value.key == key
    assert str(info.value).startswith(f"{card}: [{key}]") and message in str(info.value)


def test_missing_column_names_the_card_and_file(tmp_path):
    card = toy_card(tmp_path, MULTICLASS_CARD.replace('label = "emotion"', 'label = "feeling"'))
    with pytest.raises(CardError, match=r"\[columns\] column\(s\) \['feeling'\] not in .*toy.csv"):
        load_corpus(load_card(card).to_task(), tmp_path)


def test_empty_split_is_a_card_error(tmp_path):
    data = MULTICLASS_CSV.replace("Great news,joy,test\nAwful service,1,test\n", "")
    card = toy_card(tmp_path, data=data)
    with pytest.raises(CardError, match=r"the test split of toy has no rows"):
        load_corpus(load_card(card).to_task(), tmp_path)


def test_missing_card_and_missing_corpus_file(tmp_path):
    with pytest.raises(MissingDataError, match=r"nope\.toml"):
        load_card(tmp_path / "nope.toml")
    card = write(tmp_path / "toy.toml", MULTICLASS_CARD)
    with pytest.raises(MissingDataError, match=r"toy\.csv"):
        load_corpus(load_card(card).to_task(), tmp_path)


def test_invalid_toml_names_the_card(tmp_path):
    card = write(tmp_path / "bad.toml", 'name = "x"\nkind = \n')
    with pytest.raises(CardError, match=r"bad\.toml: not valid TOML"):
        load_card(card)


# --------------------------------------------------------------------------------------------------
# row errors: each names file and line


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (
            "Too many,joy,train,extra",
            "expected 3 comma-separated fields (text, emotion, split), found 4",
        ),
        ("Unknown,love,train", "unknown label 'love'; valid labels: joy, anger"),
        (
            "Wrong split,joy,validation",
            "split column 'split' is 'validation'; expected train, dev or test",
        ),
    ],
)
def test_row_errors_name_file_and_line(tmp_path, bad_line, message):
    data = MULTICLASS_CSV.replace("I hate waiting,anger,train", bad_line)
    card = toy_card(tmp_path, data=data)
    with pytest.raises(DataError) as info:
        load_corpus(load_card(card).to_task(), tmp_path)
    assert str(info.value) == f"{tmp_path / 'toy.csv'}:5: {message}"


def test_non_numeric_target_names_file_and_line(tmp_path):
    write(tmp_path / "r.csv", "text,v,split\na,1.5,train\nb,high,train\nc,2,dev\nd,3,test\n")
    card = write(
        tmp_path / "r.toml",
        """
        name = "reg"
        kind = "regression"
        [files]
        path = "r.csv"
        split_column = "split"
        [columns]
        text = "text"
        targets = ["v"]
        """,
    )
    with pytest.raises(
        DataError, match=r"r\.csv:3: target 'v' is 'high'; expected a finite number"
    ):
        load_corpus(load_card(card).to_task(), tmp_path)


def test_empty_texts_are_skipped_with_a_counted_warning(tmp_path):
    data = MULTICLASS_CSV.replace("I hate waiting", "   ").replace("Nice weather", "")
    card = toy_card(tmp_path, data=data)
    with pytest.warns(
        DataWarning, match=r"toy\.csv: 2 row\(s\) with empty text skipped \(line\(s\) 5, 6\)"
    ):
        corpus = load_corpus(load_card(card).to_task(), tmp_path)
    assert corpus.sizes() == {"train": 3, "dev": 1, "test": 2}


def test_class_seen_only_in_test_warns(tmp_path):
    data = MULTICLASS_CSV.replace("This is terrible,anger", "This is terrible,joy").replace(
        "I hate waiting,anger", "I hate waiting,joy"
    )
    card = toy_card(tmp_path, data=data)
    with pytest.warns(DataWarning, match=r"\['anger'\] occur in dev but never in train"):
        load_corpus(load_card(card).to_task(), tmp_path)


def test_check_reports_a_card_corpus(tmp_path):
    from emomtl.data.check import run_check

    card = toy_card(
        tmp_path, MULTICLASS_CARD + "\n[expected_sizes]\ntrain = 4\ndev = 2\ntest = 3\n"
    )
    register_cards([card])
    report = run_check(tmp_path, tasks=["toy"])
    (summary,) = report.summaries
    assert summary.sizes == {"train": 4, "dev": 2, "test": 2}
    assert summary.distribution["train"] == {"joy": 2, "anger": 2}
    assert report.problems == [
        "toy default: split sizes {'train': 4, 'dev': 2, 'test': 2}; expected "
        "{'train': 4, 'dev': 2, 'test': 3}"
    ]


# --------------------------------------------------------------------------------------------------
# the registry


def test_registry_resolves_cards_by_name_and_code_in_task_strings(tmp_path):
    (task,) = register_cards([toy_card(tmp_path)])
    assert get_task("TOY") is task and list(known_tasks())[-1] == "toy"
    assert format_task_spec(parse_task_spec("toy+0.5S+E")) == "0.5S+E+toy"
    selection = parse_task_spec("0.25toy")[0]
    assert (selection.task.name, selection.fraction) == ("toy", 0.25)
    assert str(tmp_path / "toy.toml") in os.environ[CORPORA_ENV]  # worker processes see it
    assert register_cards([tmp_path / "toy.toml"]) == [task]  # the same card twice is fine


def test_unknown_name_lists_the_known_spaces():
    with pytest.raises(
        ValueError,
        match=r"unknown task 'isear'.*S \(semeval\), T \(tales\), E \(emobank\), G \(goemotions\)",
    ):
        get_task("isear")


def test_name_clash_is_an_error(tmp_path):
    card = toy_card(tmp_path, MULTICLASS_CARD.replace('name = "toy"', 'name = "tales"'))
    with pytest.raises(ValueError, match="'tales' is already used by space 'tales'"):
        register_cards([card])


def test_env_var_cards_are_registered_on_first_use(tmp_path, monkeypatch):
    toy_card(tmp_path)
    REGISTRY._ready = False
    REGISTRY._tasks, REGISTRY._keys = {}, {}
    monkeypatch.setenv(CORPORA_ENV, str(tmp_path / "toy.toml"))
    assert list(known_tasks()) == ["S", "T", "E", "G", "toy"]


# --------------------------------------------------------------------------------------------------
# GoEmotions: a real, large, awkward corpus carried by the built-in card alone


@pytest.mark.real
def test_goemotions_card_loads_the_release_exactly(data_dir):
    import pandas as pd

    task = get_task("goemotions")
    assert (task.code, task.kind, task.primary_metric, task.num_labels) == (
        "G",
        "multilabel",
        "f1_macro",
        28,
    )
    assert task.reader == "emomtl.data.cards"  # no Python loader of its own
    names = (data_dir / "goemotions" / "emotions.txt").read_text(encoding="utf-8").split("\n")
    assert list(task.labels) == names
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)  # every row is valid, every label in train
        corpus = load_corpus("G", data_dir)
    assert corpus.sizes() == {"train": 43410, "dev": 5426, "test": 5427}
    reference = pd.read_csv(data_dir / "goemotions" / "train.tsv", sep="\t", header=None, dtype=str)
    train = corpus.splits["train"]
    assert train.texts == reference[0].tolist() and train.ids == reference[2].tolist()
    expected = np.zeros((len(reference), 28), dtype=np.int64)
    for row, ids in enumerate(reference[1]):
        expected[row, [int(i) for i in ids.split(",")]] = 1
    assert np.array_equal(train.targets, expected)
    assert sum('"' in t for t in train.texts) == 1097  # CSV-quoted texts come back unquoted
