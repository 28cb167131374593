"""The label-semantic head on real data: MiniLM label embeddings, a real bundle, zero-shot."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from emomtl import EmotionAnalyzer
from emomtl.bundle import save_bundle
from emomtl.data.tasks import TASKS
from emomtl.experiments.label_transfer import zero_shot_metrics
from emomtl.features.encoders import EncoderSpec
from emomtl.features.label_text import attach_label_features
from emomtl.features.task_data import TaskData, load_task_data
from emomtl.train import TrainConfig, train

pytestmark = [pytest.mark.real, pytest.mark.slow]


def _head(data: TaskData, n: int) -> TaskData:
    """``data`` with only the first ``n`` training rows."""
    features = {**data.features, "train": data.features["train"][:n]}
    targets = {**data.targets, "train": data.targets["train"][:n]}
    return TaskData(data.task, features, targets, label_features=data.label_features)


def test_zero_shot_tales_from_a_semeval_slice_beats_the_majority_class(
    data_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """Trained on 2000 SemEval tweets only, the label head scores Alm's five Ekman classes from
    their names: test accuracy above always-the-majority-class, through the saved bundle and the
    real encoder, and equal to the library's leave-one-out evaluation on cached features."""
    spec = EncoderSpec()
    data = load_task_data(["S", "T"], spec=spec, data_dir=data_dir, cache_dir=cache_dir)
    attach_label_features(data, spec, cache_dir=cache_dir)
    assert data["S"].label_features.shape == (11, 384)
    train_data = {"S": _head(data["S"], 2000)}
    config = TrainConfig(tasks="S", head="label", seeds=(0,), epochs=30)
    output = train(config, train_data, num_threads=1)

    gold = data["T"].targets["test"]
    majority = float(torch.bincount(gold).max()) / len(gold)
    library = zero_shot_metrics(output, data["T"])[0]["accuracy"]
    assert library > majority + 0.05, (library, majority)

    bundle = save_bundle(output, tmp_path / "label-s", encoder=spec)
    analyzer = EmotionAnalyzer.load(bundle)
    texts = load_tales_test_texts(data_dir)
    records = analyzer.predict(texts, labels=list(TASKS["T"].labels), kind="multiclass")
    top = torch.tensor([TASKS["T"].labels.index(r["zero_shot"].top) for r in records])
    accuracy = float((top == gold).float().mean())
    assert records[0]["zero_shot"].zero_shot and "semeval" in records[0]
    assert abs(accuracy - library) <= 0.03  # live vs cached features: same model, same texts


def load_tales_test_texts(data_dir: Path) -> list[str]:
    from emomtl.data.loading import load_corpus

    return load_corpus("T", data_dir).splits["test"].texts


def test_train_command_with_the_label_head_saves_a_zero_shot_bundle(
    data_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    """`emomtl train --head label --save` (Alm's tales, 2 epochs) writes a run and a bundle that
    `emomtl predict --labels` and `emomtl label-map` accept."""
    import json

    from typer.testing import CliRunner

    from emomtl.cli import app

    runner = CliRunner()
    common = ["--data-dir", str(data_dir), "--cache-dir", str(cache_dir)]
    args = ["train", "--tasks", "T", "--head", "label", "--seeds", "1", "--epochs", "2"]
    out, bundle = tmp_path / "run", tmp_path / "bundle"
    result = runner.invoke(app, [*args, *common, "--out", str(out), "--save", str(bundle)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "config.json").read_text())["train"]["head"] == "label"
    config = json.loads((bundle / "config.json").read_text())
    assert config["label_texts"] == {"T": list(TASKS["T"].labels)}
    result = runner.invoke(
        app, ["predict", "-m", str(bundle), "--json", "--labels", "joy,guilt", "hi"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["zero_shot"]["zero_shot"] is True
    result = runner.invoke(app, ["label-map", str(bundle), "--out", str(tmp_path / "map")])
    assert result.exit_code == 0 and (tmp_path / "map" / "label_map.png").is_file()
