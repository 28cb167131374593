"""Label-semantic bundles and zero-shot label sets (fake encoder; a real one in test_label_real)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from emomtl import EmotionAnalyzer
from emomtl.bundle import CONFIG_FILE, write_bundle
from emomtl.data.tasks import TASKS, parse_task_spec
from emomtl.features.encoders import EncoderSpec
from emomtl.model import MultiTaskNet
from emomtl.model.label_head import label_texts
from emomtl.train import SeedResult, TrainConfig, TrainOutput
from emomtl.zero_shot import ZeroShotError, check_label_set
from test_bundle import FAKE_DIM, FAKE_HASH, FakeEncoder, make_bundle

TEXTS = ["what a wonderful sunny day", "the house was cold and silent", "we lost again"]


def label_output(tasks: str = "S+T+E", t_bias: float | None = None) -> TrainOutput:
    """One seed of a randomly initialised label-head net whose label features are the fake
    encoder's features of the label texts (as training would set them)."""
    codes = [s.task.code for s in parse_task_spec(tasks)]
    net = MultiTaskNet(FAKE_DIM, codes, head="label", hidden_dim=8)
    net.reset_parameters(torch.Generator().manual_seed(0))
    encoder = FakeEncoder()
    net.set_label_features({c: encoder.encode(label_texts(TASKS[c])) for c in codes})
    with torch.no_grad():
        net.label_offset.copy_(torch.linspace(-0.5, 0.5, 8))  # a trained u_0 is not zero
        if t_bias is not None:
            net.label_bias["T"].fill_(t_bias)
    metrics = {
        split: {c: {TASKS[c].primary_metric: 0.5} for c in codes} for split in ("dev", "test")
    }
    seed = SeedResult(0, metrics, dict.fromkeys(codes, 1), 1, dict.fromkeys(codes, 3), 0.1, {})
    seed.state_dict = net.state_dict()
    config = TrainConfig(tasks=tasks, head="label", seeds=(0,), hidden_dim=8, epochs=1)
    return TrainOutput(config=config, task_codes=codes, input_dim=FAKE_DIM, seeds=[seed])


def label_bundle(directory: Path, **kwargs) -> Path:
    spec = EncoderSpec(name="fake", max_length=8, precision="fp32")
    return write_bundle(label_output(**kwargs), directory, encoder=spec, weights_hash=FAKE_HASH)


@pytest.fixture
def analyzer(tmp_path: Path) -> EmotionAnalyzer:
    return EmotionAnalyzer.load(label_bundle(tmp_path / "b"), encoder=FakeEncoder())


def test_bundle_records_the_head_and_the_label_texts(tmp_path: Path) -> None:
    config = json.loads((label_bundle(tmp_path / "b") / CONFIG_FILE).read_text())
    assert config["head"] == "label"
    assert config["label_texts"]["T"] == list(TASKS["T"].labels)
    assert config["label_texts"]["E"][0].startswith("valence: ")  # EmoBank's description
    assert "--labels" in (tmp_path / "b" / "README.md").read_text()
    mh = json.loads((make_bundle(tmp_path / "mh") / CONFIG_FILE).read_text())
    assert mh["label_texts"] == {} and "--labels" not in (tmp_path / "mh" / "README.md").read_text()


def test_trained_spaces_are_unchanged_and_the_zero_shot_space_is_flagged(
    analyzer: EmotionAnalyzer,
) -> None:
    plain = analyzer.predict(TEXTS)
    zero = analyzer.predict(TEXTS, labels=["joy", "shame", "guilt"], kind="multilabel")
    for a, b in zip(plain, zero, strict=True):
        assert a.spaces.keys() | {"zero_shot"} == b.spaces.keys()
        assert a["semeval"].scores == b["semeval"].scores
        record = b.to_dict()["zero_shot"]
        assert record["zero_shot"] is True and list(record["probabilities"]) == [
            "joy",
            "shame",
            "guilt",
        ]
        assert record["labels"] == [k for k, v in record["probabilities"].items() if v >= 0.5]
        assert "zero_shot" not in b.to_dict()["semeval"]
        assert b.to_flat()["zero_shot_guilt"] == record["probabilities"]["guilt"]


def test_zero_shot_scores_match_a_hand_computation(analyzer: EmotionAnalyzer) -> None:
    """p = sigmoid(q . (P e + u_0) + mean S bias), e centred and normalised, in numpy."""
    labels = ["joy", "shame", "guilt"]
    records = analyzer.predict(TEXTS, labels=labels)
    state = {k: v.numpy().astype(np.float64) for k, v in analyzer.model.state_dict().items()}
    x = FakeEncoder().encode(TEXTS).numpy().astype(np.float64)
    q = np.maximum(x @ state["base.weight"].T + state["base.bias"], 0.0)
    e = FakeEncoder().encode(labels).numpy().astype(np.float64)
    trained = np.concatenate(
        [FakeEncoder().encode(label_texts(TASKS[c])).double().numpy() for c in "STE"]
    )
    m = (trained / np.linalg.norm(trained, axis=1, keepdims=True)).mean(axis=0)
    e = e / np.linalg.norm(e, axis=1, keepdims=True) - m  # centred like the trained labels
    u = (e / np.linalg.norm(e, axis=1, keepdims=True)) @ state["proj.weight"].T
    u = u + state["label_offset"]
    b0 = state["label_bias.S"].mean()  # S is the only multilabel space
    expected = 1.0 / (1.0 + np.exp(-(q @ u.T + b0)))
    got = np.array([list(r["zero_shot"].scores.values()) for r in records])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_trained_label_set_scored_zero_shot_reproduces_the_trained_space(
    tmp_path: Path,
) -> None:
    """With equal biases, T's own label names as a multiclass set give T's distribution."""
    path = label_bundle(tmp_path / "b", t_bias=0.3)
    analyzer = EmotionAnalyzer.load(path, encoder=FakeEncoder())
    labels = list(TASKS["T"].labels)
    for record in analyzer.predict(TEXTS, labels=labels, kind="multiclass"):
        zero, trained = record["zero_shot"], record["ekman"]
        assert list(zero.scores.values()) == pytest.approx(list(trained.scores.values()), abs=1e-6)
        assert zero.top == trained.top and zero.zero_shot and not trained.zero_shot


def test_label_texts_are_encoded_once_per_analyzer(analyzer: EmotionAnalyzer) -> None:
    analyzer.predict(TEXTS, labels=["joy", "guilt"])
    calls = analyzer.encoder.calls
    analyzer.predict(TEXTS, labels=["guilt", "joy"])
    assert analyzer.encoder.calls == calls + 1  # the texts only


def test_a_bundle_without_the_label_head_refuses(tmp_path: Path) -> None:
    analyzer = EmotionAnalyzer.load(make_bundle(tmp_path / "mh"), encoder=FakeEncoder())
    with pytest.raises(ZeroShotError, match=r"MH head.*--head label"):
        analyzer.predict(TEXTS, labels=["joy", "guilt"])
    assert "zero_shot" not in analyzer.predict(TEXTS[0]).spaces


@pytest.mark.parametrize(
    ("labels", "kind", "message"),
    [
        ([], "multilabel", "label list is empty"),
        (["joy", "guilt", "Joy "], "multilabel", r"'Joy' is duplicated \(indices 0 and 2\)"),
        (["joy", "  "], "multilabel", "label at index 1 is empty"),
        (["joy", 3], "multiclass", "label at index 1 is int"),
        ("joy,guilt", "multilabel", "must be a list of strings"),
        (["joy"], "multiclass", "at least two labels"),
        (["joy", "guilt"], "regression", "kind 'regression' is not one of"),
    ],
)
def test_bad_label_lists_are_refused_by_name(
    analyzer: EmotionAnalyzer, labels: object, kind: str, message: str
) -> None:
    with pytest.raises(ZeroShotError, match=message):
        check_label_set(labels, kind)
    with pytest.raises(ZeroShotError, match=message):
        analyzer.predict(TEXTS, labels=labels, kind=kind)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------
# emomtl predict --labels


@pytest.fixture
def cli_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import emomtl.features.encoders

    monkeypatch.setattr(emomtl.features.encoders, "FrozenEncoder", lambda spec: FakeEncoder())
    return label_bundle(tmp_path / "label")


def _run(*args: str):
    from typer.testing import CliRunner

    from emomtl.cli import app

    result = CliRunner().invoke(app, list(args))
    return result, " ".join(result.output.split())


def test_cli_labels_as_json_table_and_file(cli_bundle: Path, tmp_path: Path) -> None:
    result, _ = _run(
        "predict", "-m", str(cli_bundle), "--json", "--labels", "joy, shame,guilt", "hi"
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.splitlines()[0])["zero_shot"]
    assert list(record["probabilities"]) == ["joy", "shame", "guilt"] and record["zero_shot"]
    result, said = _run(
        "predict", "-m", str(cli_bundle), "--labels", "joy,grief", "--kind", "multiclass", "hi"
    )
    assert result.exit_code == 0 and "zero-shot" in said
    source, out = tmp_path / "in.txt", tmp_path / "out.csv"
    source.write_text("a fine day\n\nwe lost\n", encoding="utf-8")
    args = ("predict", "-m", str(cli_bundle), "-i", str(source), "-o", str(out))
    result, _ = _run(*args, "--labels", "joy,guilt")
    assert result.exit_code == 0, result.output
    import csv

    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert {"zero_shot_joy", "zero_shot_guilt", "zero_shot_labels", "ekman_top"} <= set(rows[0])
    assert rows[1]["error"] and rows[1]["zero_shot_joy"] == "" and rows[2]["zero_shot_joy"]


@pytest.mark.parametrize(
    ("labels", "message"),
    [("joy,shame,joy", "'joy' is duplicated (indices 0 and 2)"), ("", "index 0 is empty")],
)
def test_cli_bad_labels_are_refused(cli_bundle: Path, labels: str, message: str) -> None:
    result, said = _run("predict", "-m", str(cli_bundle), "--labels", labels, "hi")
    assert result.exit_code == 1 and message in said


def test_cli_labels_with_an_mh_bundle_refuse(tmp_path: Path, cli_bundle: Path) -> None:
    result, said = _run("predict", "-m", str(make_bundle(tmp_path / "mh")), "--labels", "a,b", "hi")
    assert result.exit_code == 1 and "--head label" in said


# --------------------------------------------------------------------------------------------------
# POST /predict with labels


def test_http_labels_field(analyzer: EmotionAnalyzer, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from emomtl.serve import ServeLimits, create_app

    limits = ServeLimits(max_texts=4, max_chars=40, batch_wait_ms=2)
    with TestClient(create_app(analyzer, limits)) as client:
        body = {"texts": TEXTS[:2], "labels": ["joy", "guilt"], "kind": "multiclass"}
        response = client.post("/predict", json=body)
        assert response.status_code == 200, response.text
        got = response.json()["predictions"]
        want = analyzer.predict(TEXTS[:2], labels=["joy", "guilt"], kind="multiclass")
        for g, w in zip(got, want, strict=True):
            assert (
                g["zero_shot"]["zero_shot"] is True and g["zero_shot"]["top"] == w["zero_shot"].top
            )
            assert g["zero_shot"]["probabilities"] == pytest.approx(w["zero_shot"].scores)
            assert "semeval" in g
        plain = client.post("/predict", json={"texts": TEXTS[:1]}).json()["predictions"][0]
        assert "zero_shot" not in plain
        bad = client.post("/predict", json={"texts": ["hi"], "labels": ["joy", "JOY"]})
        assert bad.status_code == 422 and "'JOY' is duplicated" in bad.text
        empty = client.post("/predict", json={"texts": ["hi"], "labels": []})
        assert empty.status_code == 422 and "label list is empty" in empty.text
        assert client.get("/health").json()["zero_shot"] is True
    mh = EmotionAnalyzer.load(make_bundle(tmp_path / "mh"), encoder=FakeEncoder())
    with TestClient(create_app(mh, limits)) as client:
        response = client.post("/predict", json={"texts": ["hi"], "labels": ["joy", "guilt"]})
        assert response.status_code == 400 and "--head label" in response.json()["detail"]


# --------------------------------------------------------------------------------------------------
# leave-one-space-out evaluation (emomtl.experiments.label_transfer)


def test_zero_shot_metrics_score_the_held_out_space_from_its_label_texts() -> None:
    from emomtl.experiments.label_transfer import zero_shot_metrics
    from emomtl.features.task_data import TaskData

    output = label_output("S+E")
    x = FakeEncoder().encode(TEXTS * 2)
    gold = torch.tensor([0, 1, 2, 3, 4, 2])
    held = TaskData(TASKS["T"], {"test": x}, {"test": gold})
    held.label_features = FakeEncoder().encode(list(TASKS["T"].labels))
    (metrics,) = zero_shot_metrics(output, held)
    state = {k: v.double().numpy() for k, v in output.seeds[0].state_dict.items()}
    q = np.maximum(x.double().numpy() @ state["base.weight"].T + state["base.bias"], 0.0)
    e = held.label_features.double().numpy()
    e = e / np.linalg.norm(e, axis=1, keepdims=True) - state["label_center"]
    u = (e / np.linalg.norm(e, axis=1, keepdims=True)) @ state["proj.weight"].T
    u = u + state["label_offset"]
    top = (q @ u.T).argmax(1)  # softmax and the shared bias do not change the argmax
    assert metrics["accuracy"] == pytest.approx(float((top == gold.numpy()).mean()))
    with pytest.raises(ValueError, match="not held out"):
        zero_shot_metrics(label_output("S+T"), held)


def test_constant_baselines_by_hand() -> None:
    from emomtl.experiments.label_transfer import constant_baseline

    t = constant_baseline(TASKS["T"], torch.tensor([0, 0, 1, 2]), torch.tensor([0, 1, 1, 1]))
    assert t["accuracy"] == pytest.approx(0.25)  # always class 0
    train = torch.zeros(4, 11)
    train[:, 0] = 1.0
    train[:2, 1] = 1.0  # {0} twice, {0, 1} twice: adding label 1 ties (0.75), so only {0}
    test = torch.zeros(2, 11)
    test[0, 0] = 1.0
    test[1, [0, 2, 3]] = 1.0
    s = constant_baseline(TASKS["S"], train, test)
    assert s["labels"] == ["anger"] and s["jaccard"] == pytest.approx((1.0 + 1 / 3) / 2)
    assert constant_baseline(TASKS["E"], torch.zeros(3, 3), torch.zeros(3, 3)) == {}
