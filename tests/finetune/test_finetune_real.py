"""A real fine-tune on a small slice of the three corpora (MiniLM, 200 training rows per task, one
epoch, max_length 32, fp32): it beats the untrained model on dev, its run directory is what the
store and the report read, and its bundle round-trips, is refused when tampered with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import pearsonr
from sklearn.metrics import f1_score, jaccard_score

from emomtl.bundle import BundleError, load_bundle
from emomtl.data.loading import load_corpus
from emomtl.data.tasks import TASKS
from emomtl.features.encoders import EncoderSpec
from emomtl.finetune.bundle import in_memory_encoder
from emomtl.finetune.config import FinetuneConfig
from emomtl.finetune.run import FinetuneRunError, run_finetune
from emomtl.predict import EmotionAnalyzer

pytestmark = [pytest.mark.real, pytest.mark.slow]

LIMIT = {"train": 200, "dev": 100, "test": 100}
CONFIG = FinetuneConfig(
    tasks="S+T+E", seeds=(0,), epochs=1, max_length=32, evals_per_epoch=1, precision="fp32"
)
TEXTS = [
    "I can't believe we won the final, best day ever!",
    "The house was cold and silent after the funeral.",
    "ok",
    "He shouted at the waiter and stormed out, furious about the bill. " * 3,
]


@pytest.fixture(scope="module")
def tiny_run(data_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("ft") / "run"
    run = run_finetune(CONFIG, out, data_dir=data_dir, limit=LIMIT, evaluate_untrained=True)
    return out, run


@pytest.fixture(scope="module")
def bundles(tiny_run, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    _, run = tiny_run
    root = tmp_path_factory.mktemp("bundles")
    return {dtype: run.save_bundle(root / dtype, dtype) for dtype in ("fp32", "bf16")}


def test_fine_tuning_beats_the_untrained_model_on_dev(tiny_run) -> None:
    _, run = tiny_run
    history = run.best.history
    assert history[0]["step"] == 0 and history[-1]["step"] == run.best.steps_run
    # the selection score: mean over S, T, E of the primary dev metric
    assert history[-1]["score"] > history[0]["score"] + 0.05, history
    assert history[-1]["dev"]["E"] > history[0]["dev"]["E"]


def test_run_directory_is_read_by_store_and_report(tiny_run, data_dir: Path) -> None:
    from emomtl.report.collect import read_run

    out, run = tiny_run
    config = json.loads((out / "config.json").read_text())
    assert config["runtime"]["precision"] == "fp32" and config["runtime"]["device"] == "cpu"
    assert config["encoder"]["precision"] == "fp32" and config["data"]["limit"] == LIMIT
    report_run = read_run(out)
    assert report_run.tasks == "S+T+E" and [s.seed for s in report_run.seeds] == [0]
    assert report_run.method == "MH+FT"
    assert run.results["test"]["S"]["jaccard"]["n"] == 1
    assert (out / "seed_0" / "model.safetensors").is_file()
    # a second call skips the finished seed; a changed config is refused
    again = run_finetune(CONFIG, out, data_dir=data_dir, limit=LIMIT)
    assert again.trained == [] and again.best is None
    with pytest.raises(FinetuneRunError, match="encoder_lr"):
        run_finetune(
            FinetuneConfig(**{**CONFIG.__dict__, "encoder_lr": 1e-5}),
            out,
            data_dir=data_dir,
            limit=LIMIT,
        )


def test_dev_metrics_match_an_independent_computation(tiny_run, bundles, data_dir) -> None:
    """The loop's dev metrics against sklearn/scipy on the loaded bundle's predictions."""
    _, run = tiny_run
    analyzer = EmotionAnalyzer.load(bundles["fp32"])
    dev = run.best.metrics["dev"]
    for code in ("S", "T", "E"):
        split = load_corpus(code, data_dir).splits["dev"]
        texts, gold = split.texts[: LIMIT["dev"]], np.asarray(split.targets[: LIMIT["dev"]])
        records = [r.to_dict() for r in analyzer.predict(texts)]
        task = TASKS[code]
        values = [list(_space(r, task).values()) for r in records]
        if task.kind == "multilabel":
            pred = (np.array(values) >= 0.5).astype(int)
            ref = jaccard_score(gold, pred, average="samples", zero_division=1.0)
            assert dev[code]["jaccard"] == pytest.approx(ref, abs=0.011)
        elif task.kind == "multiclass":
            ref = f1_score(gold, np.argmax(values, axis=1), average="micro")
            assert dev[code]["f1_micro"] == pytest.approx(ref, abs=0.011)
        else:
            pred = np.array(values)
            ref = np.mean([pearsonr(gold[:, j], pred[:, j]).statistic for j in range(3)])
            assert dev[code]["pearson_mean"] == pytest.approx(ref, abs=1e-4)


def _space(record: dict, task) -> dict[str, float]:
    """The label-space dict of ``task`` in a record, found by its labels (not by its key)."""
    for value in record.values():
        scores = value.get("probabilities", value) if isinstance(value, dict) else None
        if isinstance(scores, dict) and list(scores) == list(task.labels):
            return scores
    raise AssertionError(f"no label space with labels {task.labels} in {record}")


def test_bundle_round_trip_reproduces_predictions_exactly(tiny_run, bundles) -> None:
    _, run = tiny_run
    loaded = EmotionAnalyzer.load(bundles["fp32"])
    spec = EncoderSpec.from_dict(run.encoder_spec)
    config = load_bundle(bundles["fp32"]).config
    in_memory = EmotionAnalyzer(
        run.best.model.head, in_memory_encoder(spec, run.tokenizer, run.best.model.encoder), config
    )
    assert [p.to_dict() for p in loaded.predict(TEXTS)] == [
        p.to_dict() for p in in_memory.predict(TEXTS)
    ]
    assert loaded.predict(TEXTS)[3].truncated  # 3 x 14 words > 32 tokens


def test_bf16_bundle_is_half_the_size_and_close(bundles) -> None:
    sizes = {d: (p / "encoder" / "model.safetensors").stat().st_size for d, p in bundles.items()}
    assert 0.45 < sizes["bf16"] / sizes["fp32"] < 0.55
    fp32 = EmotionAnalyzer.load(bundles["fp32"]).predict_dataframe(TEXTS)
    bf16 = EmotionAnalyzer.load(bundles["bf16"]).predict_dataframe(TEXTS)
    numeric = fp32.select_dtypes("number").columns.drop("n_tokens")
    assert np.abs(fp32[numeric].to_numpy() - bf16[numeric].to_numpy()).max() < 0.05


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (
            lambda d: _flip_byte(d / "encoder" / "model.safetensors"),
            "model.safetensors was altered",
        ),
        (lambda d: (d / "encoder" / "tokenizer.json").unlink(), "missing: tokenizer.json"),
        (lambda d: (d / "encoder" / "pytorch_model.bin").write_bytes(b"x"), "unexpected file"),
        (lambda d: shutil.rmtree(d / "encoder"), "encoder directory .* is missing"),
    ],
    ids=["altered", "missing-file", "extra-file", "no-encoder-dir"],
)
def test_tampered_bundle_is_refused(bundles, tmp_path: Path, tamper, message) -> None:
    bundle = shutil.copytree(bundles["bf16"], tmp_path / "bundle")
    tamper(bundle)
    with pytest.raises(BundleError, match=message):
        EmotionAnalyzer.load(bundle)


def _flip_byte(path: Path) -> None:
    """Change one byte in the middle of a file (a weight, not the header)."""
    with path.open("r+b") as f:
        f.seek(path.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))


def test_cli_rejects_a_bad_save_dtype() -> None:
    from typer.testing import CliRunner

    from emomtl.cli import app

    result = CliRunner().invoke(app, ["train", "--finetune", "--save-dtype", "fp16"])
    assert result.exit_code == 1
    assert "--save-dtype must be one of fp32, bf16" in result.output


def test_model_card_says_the_encoder_is_fine_tuned_and_stored_in_the_bundle(bundles) -> None:
    card = (bundles["bf16"] / "README.md").read_text(encoding="utf-8")
    assert "A sentence encoder fine-tuned together with a multi-task head" in card
    assert "fine-tuned: weights and tokenizer in `encoder/` (bf16)" in card
    assert "frozen" not in card.split("## Model")[1].split("##")[0]
