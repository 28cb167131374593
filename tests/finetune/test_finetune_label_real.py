"""The label-semantic head fine-tuned with the encoder, on a small real slice (MiniLM, fp32).

Checks what the design promises: label texts go through the trained encoder in every step (the
head's buffers hold the selected encoder's embeddings of them), the run is stored and reported as
``LABEL+FT``, and the bundle's own encoder embeds new labels in the space the head was trained in:
T's label names scored zero-shot reproduce the trained T distribution once T's biases are equal.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from emomtl.data.tasks import TASKS
from emomtl.finetune.config import FinetuneConfig
from emomtl.finetune.run import run_finetune
from emomtl.model.label_head import embed_labels, label_texts
from emomtl.naming import run_name
from emomtl.predict import EmotionAnalyzer

pytestmark = [pytest.mark.real, pytest.mark.slow]

LIMIT = {"train": 96, "dev": 64, "test": 64}
CONFIG = FinetuneConfig(
    tasks="S+T+E",
    head="label",
    seeds=(0,),
    epochs=1,
    max_length=32,
    evals_per_epoch=1,
    precision="fp32",
)
TEXTS = ["I can't believe we won the final!", "The house was cold and silent.", "ok"]


@pytest.fixture(scope="module")
def label_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ft-label") / "run"
    run = run_finetune(CONFIG, out, data_dir=data_dir, limit=LIMIT, evaluate_untrained=True)
    return out, run, run.save_bundle(out.parent / "bundle")


def test_the_run_is_stored_and_named_as_a_label_head_run(label_run) -> None:
    from emomtl.report.collect import read_run

    out, run, _ = label_run
    assert json.loads((out / "config.json").read_text())["train"]["head"] == "label"
    assert read_run(out).method == "LABEL+FT"
    assert run_name(CONFIG.to_dict()) == "S+T+E LABEL+FT" == run.results["setting"]
    assert all(torch.isfinite(torch.tensor(h["score"])) for h in run.best.history)


def test_head_buffers_hold_the_trained_encoders_label_embeddings(label_run) -> None:
    _, run, _ = label_run
    model = run.best.model
    before = {c: model.head.label_features(c).clone() for c in "STE"}
    model.eval()
    with torch.no_grad():
        raw = model.label_embeddings()
    for code in "STE":
        expected = embed_labels(raw[code], model.head.label_center)
        torch.testing.assert_close(before[code], expected, rtol=1e-5, atol=1e-5)


def test_label_features_receive_gradients_in_training(label_run) -> None:
    """The loss reaches the encoder through the label texts, not only through the inputs."""
    _, run, _ = label_run
    model = run.best.model
    model.train()
    try:
        ids = model.label_input_ids[:2]
        mask = model.label_attention_mask[:2]
        model.zero_grad()
        features = model.embed(ids, mask).detach()  # no gradient path through the inputs
        out = model.head(features, label_features=model.label_embeddings())["T"]
        out.sum().backward()
        grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
        assert grads and any(float(g.abs().sum()) > 0 for g in grads)
    finally:
        model.zero_grad()
        model.eval()


def test_bundle_scores_new_labels_in_the_trained_label_space(label_run) -> None:
    _, _, bundle = label_run
    config = json.loads((bundle / "config.json").read_text())
    assert config["head"] == "label" and config["label_texts"]["T"] == label_texts(TASKS["T"])
    analyzer = EmotionAnalyzer.load(bundle)
    with torch.no_grad():
        analyzer.model.label_bias["T"].fill_(0.25)  # zero-shot labels share one bias
    for record in analyzer.predict(TEXTS, labels=list(TASKS["T"].labels), kind="multiclass"):
        zero, trained = record["zero_shot"], record["ekman"]
        assert list(zero.scores.values()) == pytest.approx(list(trained.scores.values()), abs=1e-4)
    new = analyzer.predict(TEXTS, labels=["guilt", "shame", "relief"], kind="multilabel")
    assert all(0.0 < v < 1.0 for r in new for v in r["zero_shot"].scores.values())
