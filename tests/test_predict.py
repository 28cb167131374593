"""EmotionAnalyzer: records, DataFrames, policies (fake encoder), and a real trained bundle."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch

from emomtl import EmotionAnalyzer
from emomtl.bundle import CONFIG_FILE, FORMAT_VERSION, WEIGHTS_FILE, BundleError
from emomtl.data.tasks import SEMEVAL_LABELS, TALES_LABELS
from emomtl.predict import Prediction
from test_bundle import FAKE_HASH, FakeEncoder, make_bundle, real_bundle_dir

TEXTS = ["what a wonderful sunny day", "the house was cold and silent", "we lost again"]


@pytest.fixture
def analyzer(tmp_path: Path) -> EmotionAnalyzer:
    return EmotionAnalyzer.load(make_bundle(tmp_path / "b"), encoder=FakeEncoder())


def test_public_import() -> None:
    import emomtl.predict

    assert EmotionAnalyzer is emomtl.predict.EmotionAnalyzer


def test_one_text_gives_one_record_with_every_label_space(analyzer: EmotionAnalyzer) -> None:
    p = analyzer.predict("what a wonderful day")
    assert isinstance(p, Prediction)
    assert list(p["semeval"].scores) == list(SEMEVAL_LABELS)
    assert all(0.0 <= v <= 1.0 for v in p["semeval"].scores.values())
    assert p["semeval"].labels == tuple(k for k, v in p["semeval"].scores.items() if v >= 0.5)
    assert list(p["ekman"].scores) == list(TALES_LABELS)
    assert sum(p["ekman"].scores.values()) == pytest.approx(1.0)
    assert p["ekman"].top == max(p["ekman"].scores, key=p["ekman"].scores.get)
    assert list(p["vad"].scores) == ["V", "A", "D"]
    assert (p.truncated, p.n_tokens) == (False, 6)


def test_values_equal_the_model_applied_to_the_encoder(analyzer: EmotionAnalyzer) -> None:
    features = FakeEncoder().encode(TEXTS)
    with torch.no_grad():
        reference = analyzer.model.activate(analyzer.model(features))
    for row, p in enumerate(analyzer.predict(TEXTS)):
        assert list(p["semeval"].scores.values()) == pytest.approx(
            reference["S"][row].tolist(), abs=1e-6
        )
        assert list(p["ekman"].scores.values()) == pytest.approx(
            reference["T"][row].tolist(), abs=1e-6
        )
        assert list(p["vad"].scores.values()) == pytest.approx(
            reference["E"][row].tolist(), abs=1e-5
        )


def test_batching_does_not_change_results(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b")
    texts = [f"text number {i} " + "word " * i for i in range(7)]
    small = EmotionAnalyzer.load(path, encoder=FakeEncoder(), chunk_size=2)
    large = EmotionAnalyzer.load(path, encoder=FakeEncoder(), chunk_size=64)
    for a, b in zip(small.predict(texts), large.predict(texts), strict=True):
        assert (a["semeval"].labels, a["ekman"].top, a.truncated) == (
            b["semeval"].labels,
            b["ekman"].top,
            b.truncated,
        )
        assert list(a["semeval"].scores.values()) == pytest.approx(
            list(b["semeval"].scores.values()), abs=1e-6
        )
        assert list(a["vad"].scores.values()) == pytest.approx(
            list(b["vad"].scores.values()), abs=1e-5
        )
    assert small.encoder.calls == 4 and large.encoder.calls == 1


def test_to_dict_and_flat_row(analyzer: EmotionAnalyzer) -> None:
    p = analyzer.predict(TEXTS[0])
    record = p.to_dict()
    assert json.loads(json.dumps(record)) == record
    assert set(record) == {"text", "truncated", "n_tokens", "semeval", "ekman", "vad"}
    assert set(record["semeval"]) == {"probabilities", "labels"}
    assert record["ekman"]["top"] == p["ekman"].top
    flat = p.to_flat()
    assert list(flat) == analyzer.flat_columns()
    assert (
        flat["semeval_joy"] == p["semeval"].scores["joy"] and flat["vad_V"] == p["vad"].scores["V"]
    )
    assert flat["semeval_labels"] == ";".join(p["semeval"].labels)


@pytest.mark.parametrize("bad", ["", "   ", "\n\t"])
def test_empty_text_is_an_error_naming_its_index(analyzer: EmotionAnalyzer, bad: str) -> None:
    with pytest.raises(ValueError, match="index 1: text is empty or whitespace-only"):
        analyzer.predict(["fine", bad, "fine too"])
    with pytest.raises(ValueError, match="index 0"):
        analyzer.predict(bad)


def test_non_string_is_a_type_error(analyzer: EmotionAnalyzer) -> None:
    with pytest.raises(TypeError, match="index 1: expected a string, got int"):
        analyzer.predict(["fine", 3])  # type: ignore[list-item]


def test_long_text_is_truncated_and_flagged(analyzer: EmotionAnalyzer) -> None:
    # max_length 8 fake tokens = 6 words + 2 special tokens
    exact, longer = analyzer.predict(["a b c d e f", "a b c d e f g"])
    assert (exact.truncated, exact.n_tokens) == (False, 8)
    assert (longer.truncated, longer.n_tokens) == (True, 9)


def test_threshold_override(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b")
    low = EmotionAnalyzer.load(path, encoder=FakeEncoder(), threshold=0.01).predict(TEXTS[0])
    high = EmotionAnalyzer.load(path, encoder=FakeEncoder(), threshold=0.99).predict(TEXTS[0])
    assert low["semeval"].labels == tuple(SEMEVAL_LABELS)  # sigmoid outputs are all > 0.01 here
    assert high["semeval"].labels == ()
    with pytest.raises(ValueError, match="threshold"):
        EmotionAnalyzer.load(path, encoder=FakeEncoder(), threshold=1.5)


def test_bundle_with_fewer_tasks_gives_only_its_label_spaces(tmp_path: Path) -> None:
    analyzer = EmotionAnalyzer.load(make_bundle(tmp_path / "b", tasks="S+E"), encoder=FakeEncoder())
    p = analyzer.predict(TEXTS[0])
    assert "ekman" not in p and "semeval" in p
    assert set(p.to_dict()) == {"text", "truncated", "n_tokens", "semeval", "vad"}
    assert analyzer.labels == {"semeval": list(SEMEVAL_LABELS), "vad": ["V", "A", "D"]}
    frame = analyzer.predict_dataframe(TEXTS)
    assert not any(c.startswith("ekman") for c in frame.columns)


def test_predict_dataframe(analyzer: EmotionAnalyzer) -> None:
    frame = analyzer.predict_dataframe(TEXTS)
    assert list(frame.columns) == analyzer.flat_columns()
    assert len(frame) == 3 and frame["text"].tolist() == TEXTS
    expected = [p["vad"].scores["A"] for p in analyzer.predict(TEXTS)]
    assert frame["vad_A"].tolist() == pytest.approx(expected)

    source = pd.DataFrame({"id": ["x", "y", "z"], "body": TEXTS}, index=[10, 20, 30])
    framed = analyzer.predict_dataframe(source, column="body")
    assert framed.index.tolist() == [10, 20, 30]
    assert framed["semeval_joy"].tolist() == pytest.approx(frame["semeval_joy"].tolist())
    with pytest.raises(ValueError, match="column= is required"):
        analyzer.predict_dataframe(source)
    with pytest.raises(KeyError, match="'nope' not in the DataFrame"):
        analyzer.predict_dataframe(source, column="nope")


def test_load_checks_encoder_hash(tmp_path: Path) -> None:
    path = make_bundle(tmp_path / "b")
    with pytest.raises(BundleError, match="weights hash"):
        EmotionAnalyzer.load(path, encoder=FakeEncoder(weights_hash="something-else"))
    with pytest.raises(ValueError, match="dimension"):
        EmotionAnalyzer.load(path, encoder=FakeEncoder(dim=7, weights_hash=FAKE_HASH))


def test_default_bundle_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOMTL_MODEL", str(tmp_path / "absent"))
    with pytest.raises(BundleError, match="emomtl train --preset default"):
        EmotionAnalyzer.load(encoder=FakeEncoder())
    make_bundle(tmp_path / "absent")
    assert EmotionAnalyzer.load(encoder=FakeEncoder()).path == tmp_path / "absent"


# --------------------------------------------------------------------------------------------------
# real bundle: MH S+T+E on MiniLM features, 1 seed


@pytest.fixture(scope="module")
def real_path(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path) -> Path:
    return real_bundle_dir(tmp_path_factory, data_dir, cache_dir)


@pytest.fixture(scope="module")
def real(real_path: Path) -> EmotionAnalyzer:
    return EmotionAnalyzer.load(real_path)


JOYFUL = [
    "I am so happy today, this is the best day of my life!",
    "We won the championship! I'm overjoyed and can't stop smiling :)",
    "Just got engaged to the love of my life, so much happiness!",
]
GRIM = [
    "My grandmother died last night and I can't stop crying.",
    "I lost my job and my home, everything feels hopeless and dark.",
    "The funeral was unbearably sad; we buried him in the cold rain.",
]
FURIOUS = [
    "I am absolutely furious, this is outrageous and I hate them for it!",
    "How dare they lie to my face?! I'm so angry I could scream.",
]
TALE_HAPPY = [
    "Then they were married, and the king's daughter laughed with joy, and they lived happily.",
    "The children danced and sang with delight, and there was great rejoicing in the palace.",
]
TALE_SAD = [
    "The poor mother wept bitterly, for her dear little child was dead.",
    "He sat down by the grave and cried, and his heart was full of grief.",
]


@pytest.mark.real
@pytest.mark.slow
def test_semeval_joy_sadness_anger(real: EmotionAnalyzer) -> None:
    for p in real.predict(JOYFUL):
        assert p["semeval"].scores["joy"] > p["semeval"].scores["sadness"], p.text
        assert "joy" in p["semeval"].labels, p.text
    for p in real.predict(GRIM):
        assert p["semeval"].scores["sadness"] > p["semeval"].scores["joy"], p.text
        assert "sadness" in p["semeval"].labels, p.text
    for p in real.predict(FURIOUS):
        ranked = sorted(p["semeval"].scores, key=p["semeval"].scores.get, reverse=True)
        assert "anger" in ranked[:2], (p.text, ranked)
        assert p["semeval"].scores["anger"] > p["semeval"].scores["joy"], p.text


@pytest.mark.real
@pytest.mark.slow
def test_ekman_top_class(real: EmotionAnalyzer) -> None:
    for p in real.predict(TALE_HAPPY + JOYFUL[:1]):
        assert p["ekman"].top == "happy", (p.text, p["ekman"].scores)
    for p in real.predict(TALE_SAD + GRIM[:1]):
        assert p["ekman"].top == "sad", (p.text, p["ekman"].scores)


@pytest.mark.real
@pytest.mark.slow
def test_valence_sides_of_the_midpoint(real: EmotionAnalyzer) -> None:
    for p in real.predict(JOYFUL + TALE_HAPPY):
        assert p["vad"].scores["V"] > 3.0, (p.text, p["vad"].scores)
    for p in real.predict(GRIM + TALE_SAD):
        assert p["vad"].scores["V"] < 3.0, (p.text, p["vad"].scores)
    for p in real.predict(JOYFUL + GRIM):
        assert all(1.0 <= v <= 5.0 for v in p["vad"].scores.values()), p["vad"].scores


@pytest.mark.real
@pytest.mark.slow
def test_real_round_trip_and_truncation(
    real: EmotionAnalyzer, real_path: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(real_path, copy)
    again = EmotionAnalyzer.load(copy)
    texts = [*JOYFUL, *GRIM, "word " * 300]
    first, second = real.predict(texts), again.predict(texts)
    assert [p.to_dict() for p in first] == [p.to_dict() for p in second]
    assert [p.truncated for p in first] == [False] * 6 + [True]
    assert first[-1].n_tokens == 302  # 300 words + [CLS] + [SEP]


@pytest.mark.real
@pytest.mark.slow
def test_real_bad_bundles(real_path: Path, tmp_path: Path) -> None:
    def copy_with(name: str, change: dict) -> Path:
        path = tmp_path / name
        shutil.copytree(real_path, path)
        config = json.loads((path / CONFIG_FILE).read_text())
        config.update(change)
        (path / CONFIG_FILE).write_text(json.dumps(config))
        return path

    with pytest.raises(BundleError, match=r"weights hash 0{64}, but the encoder available here"):
        EmotionAnalyzer.load(copy_with("hash", {"encoder_weights_hash": "0" * 64}))
    with pytest.raises(BundleError, match="newer than this emomtl supports"):
        EmotionAnalyzer.load(copy_with("newer", {"format_version": FORMAT_VERSION + 1}))
    missing = copy_with("missing", {})
    (missing / WEIGHTS_FILE).unlink()
    with pytest.raises(BundleError, match=f"missing {WEIGHTS_FILE}"):
        EmotionAnalyzer.load(missing)
