"""Alm's tales loader: parsing, bad input, and the sentence- and story-level seeded splits."""

from __future__ import annotations

import numpy as np
import pytest
from corpus_files import write_tales

from emomtl.data.errors import DataError, MissingDataError
from emomtl.data.tales import load_tales, read_agree_file, read_tales
from emomtl.data.tasks import TALES_LABELS

SMALL = {
    "Grimms": {
        "the_mouse,_the_bird,_and_the_sausage.agree": (
            '3@2@"Away with him!"\n7@4@They lived happily ever after.\n'
        ),
        "22_the_riddle.agree": "",  # empty files are part of the release
    },
    "HCAndersen": {"little_red-cap_[x].agree": "0@6@She wept.\n12@7@Oh, look!\n"},
    "Potter": {"tittlemouse.agree": "5@3@The cat crept closer.\n"},
}


def test_parses_codes_ids_and_metadata(tmp_path):
    write_tales(tmp_path, SMALL)
    rows = read_tales(tmp_path)
    assert rows.ids == [
        "Grimms/the_mouse,_the_bird,_and_the_sausage#3",
        "Grimms/the_mouse,_the_bird,_and_the_sausage#7",
        "HCAndersen/little_red-cap_[x]#0",
        "HCAndersen/little_red-cap_[x]#12",
        "Potter/tittlemouse#5",
    ]
    assert rows.texts[0] == '"Away with him!"'
    # codes 2, 4, 6, 7, 3 -> anger-disgust, happy, sad, surprise, fear (data README)
    names = [TALES_LABELS[i] for i in rows.targets]
    assert names == ["anger-disgust", "happy", "sad", "surprise", "fear"]
    assert rows.targets.dtype == np.int64
    assert rows.meta["author"] == ["Grimms", "Grimms", "HCAndersen", "HCAndersen", "Potter"]
    assert rows.meta["story"][2] == "little_red-cap_[x]"


def _broken(tmp_path, content: str):
    path = tmp_path / "story.agree"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_agree_file(path, "Grimms")
    assert info.value.path == path
    return info.value


@pytest.mark.parametrize("code", ["5", "1", "8", "N", ""])
def test_unknown_code(tmp_path, code):
    err = _broken(tmp_path, f"0@4@Fine.\n1@{code}@Not fine.\n")
    assert err.line == 2 and "unknown emotion code" in str(err)


@pytest.mark.parametrize("line", ["just a sentence", "4@a sentence with one at", "@@"])
def test_line_without_the_at_fields(tmp_path, line):
    err = _broken(tmp_path, f"0@4@Fine.\n{line}\n")
    assert err.line == 2
    assert any(s in str(err) for s in ("without the '@' fields", "not a number"))


def test_empty_sentence_and_repeated_id(tmp_path):
    assert "empty sentence" in str(_broken(tmp_path, "0@4@ \n"))
    assert "repeated" in str(_broken(tmp_path, "0@4@One.\n0@3@Two.\n"))


def test_non_utf8(tmp_path):
    err = _broken(tmp_path, "0@4@Fine.\n1@3@Caf\xe9.\n")
    assert err.line == 2 and "not valid UTF-8" in str(err)


def test_missing_author_folders_listed_together(tmp_path):
    write_tales(tmp_path, SMALL)
    for author in ("HCAndersen", "Potter"):
        (tmp_path / "alm-tales" / author / "agree-sent" / next(iter(SMALL[author]))).unlink()
        (tmp_path / "alm-tales" / author / "agree-sent").rmdir()
    with pytest.raises(MissingDataError) as info:
        read_tales(tmp_path)
    assert [p.parent.name for p in info.value.missing] == ["HCAndersen", "Potter"]
    assert "emomtl data fetch --dest DIR" in str(info.value)


def test_no_sentences_at_all(tmp_path):
    write_tales(tmp_path, {"Grimms": {"22_the_riddle.agree": ""}})
    with pytest.raises(DataError, match="no sentences in any"):
        read_tales(tmp_path)


def test_unknown_split_mode(tmp_path):
    write_tales(tmp_path, {"Potter": {"a.agree": "".join(f"{i}@4@S{i}.\n" for i in range(20))}})
    with pytest.raises(ValueError, match="unknown tales split 'chapter'"):
        load_tales(tmp_path, split="chapter")


# ---- the real corpus -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_sentence_split(data_dir):
    return load_tales(data_dir, split="sentence", split_seed=0)


@pytest.mark.real
def test_real_sizes_and_class_counts(real_sentence_split):
    corpus = real_sentence_split
    # paper Table 1: 965 / 120 / 122
    assert corpus.sizes() == {"train": 965, "dev": 120, "test": 122}
    total = sum(np.bincount(s.targets, minlength=5) for s in corpus.splits.values())
    # issue 2 / data README: 1207 sentences, 218/166/445/264/114 per class
    assert dict(zip(TALES_LABELS, total.tolist(), strict=True)) == dict(
        zip(TALES_LABELS, [218, 166, 445, 264, 114], strict=True)
    )
    ids = [i for s in corpus.splits.values() for i in s.ids]
    assert len(set(ids)) == 1207
    authors = {a for s in corpus.splits.values() for a in s.meta["author"]}
    assert authors == {"Grimms", "HCAndersen", "Potter"}


@pytest.mark.real
def test_real_sentence_split_is_stratified(real_sentence_split):
    totals = np.array([218, 166, 445, 264, 114]) / 1207
    for name, split in real_sentence_split.splits.items():
        counts = np.bincount(split.targets, minlength=5)
        # stratified: every class within one sentence of its proportional share
        assert np.all(np.abs(counts - totals * len(split)) < 1), (name, counts)


@pytest.mark.real
def test_real_sentence_split_deterministic_and_seeded(data_dir, real_sentence_split):
    again = load_tales(data_dir, split="sentence", split_seed=0)
    other = load_tales(data_dir, split="sentence", split_seed=1)
    for name in ("train", "dev", "test"):
        assert again.splits[name].ids == real_sentence_split.splits[name].ids
    assert set(other.splits["test"].ids) != set(real_sentence_split.splits["test"].ids)
    assert other.sizes() == real_sentence_split.sizes()


@pytest.mark.real
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_real_story_split_keeps_stories_whole(data_dir, seed):
    corpus = load_tales(data_dir, split="story", split_seed=seed)
    stories = {
        name: {f"{a}/{s}" for a, s in zip(sp.meta["author"], sp.meta["story"], strict=True)}
        for name, sp in corpus.splits.items()
    }
    assert not stories["train"] & stories["dev"]
    assert not stories["train"] & stories["test"]
    assert not stories["dev"] & stories["test"]
    assert sum(corpus.sizes().values()) == 1207
    # ten folds of whole stories: dev and test each hold roughly a tenth of the sentences
    for name in ("dev", "test"):
        assert 0.05 * 1207 < corpus.sizes()[name] < 0.15 * 1207
    again = load_tales(data_dir, split="story", split_seed=seed)
    assert again.splits["test"].ids == corpus.splits["test"].ids


@pytest.mark.real
def test_real_story_split_depends_on_seed(data_dir):
    a = load_tales(data_dir, split="story", split_seed=0).splits["test"].meta["story"]
    b = load_tales(data_dir, split="story", split_seed=1).splits["test"].meta["story"]
    assert set(a) != set(b)
