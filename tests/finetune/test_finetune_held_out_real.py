"""Leave-one-space-out with fine-tuning, on a small real slice (MiniLM, fp32): a label-head model
trained on T+E scores S, which it never saw, from S's label texts - and the scores it records are
the ones its saved bundle gives for the same label set through ``EmotionAnalyzer.predict``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from emomtl.data.loading import load_corpus
from emomtl.data.tasks import TASKS
from emomtl.finetune.config import FinetuneConfig
from emomtl.finetune.run import run_finetune
from emomtl.metrics import task_metrics
from emomtl.predict import EmotionAnalyzer

pytestmark = [pytest.mark.real, pytest.mark.slow]

LIMIT = {"train": 64, "dev": 48, "test": 48}
CONFIG = FinetuneConfig(
    tasks="T+E",
    head="label",
    seeds=(0,),
    epochs=1,
    max_length=32,
    evals_per_epoch=1,
    precision="fp32",
)


@pytest.fixture(scope="module")
def held_out_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ft-held-out") / "run"
    run = run_finetune(CONFIG, out, data_dir=data_dir, limit=LIMIT, held_out=["S"])
    return out, run, run.save_bundle(out.parent / "bundle")


def test_held_out_scores_are_stored_per_seed_and_aggregated(held_out_run) -> None:
    out, run, _ = held_out_run
    record = json.loads((out / "seed_0" / "metrics.json").read_text())
    assert set(record["test"]) == {"T", "E"}  # S is not a trained space
    assert set(record["zero_shot"]["test"]) == set(record["zero_shot"]["dev"]) == {"S"}
    assert 0.0 <= record["zero_shot"]["test"]["S"]["jaccard"] <= 1.0
    summary = run.results["zero_shot"]["test"]["S"]["jaccard"]
    assert summary["mean"] == pytest.approx(record["zero_shot"]["test"]["S"]["jaccard"])
    assert json.loads((out / "config.json").read_text())["held_out"] == ["S"]


def test_recorded_zero_shot_metrics_are_what_the_saved_bundle_predicts(
    held_out_run, data_dir: Path
) -> None:
    """The run's zero-shot Jaccard on S test equals the Jaccard of the bundle's ``labels=``
    probabilities for S's label texts on the same rows (same encoder, same head)."""
    from emomtl.model.label_head import label_texts

    _, run, bundle = held_out_run
    task = TASKS["S"]
    test = load_corpus(task, data_dir).splits["test"]
    n = LIMIT["test"]
    analyzer = EmotionAnalyzer.load(bundle)
    records = analyzer.predict(list(test.texts[:n]), labels=label_texts(task), kind="multilabel")
    assert all(r.spaces["zero_shot"].zero_shot for r in records)
    probs = torch.tensor([list(r.spaces["zero_shot"].scores.values()) for r in records])
    targets = torch.as_tensor(test.targets[:n])
    expected = task_metrics(task, targets, probs)["jaccard"]
    recorded = run.best.zero_shot["test"]["S"]["jaccard"]
    assert recorded == pytest.approx(expected, abs=1e-6)


def test_held_out_needs_the_label_head_and_an_untrained_space(tmp_path: Path) -> None:
    mh = FinetuneConfig(tasks="T", head="mh", seeds=(0,))
    with pytest.raises(ValueError, match="--head label"):
        run_finetune(mh, tmp_path / "mh", held_out=["S"])
