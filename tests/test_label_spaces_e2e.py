"""Open label spaces end to end on real data: GoEmotions trained beside S/T/E, and a user's card
trained, saved and predicted through the Python API, the command line and a real HTTP server."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emomtl.cli import app

pytestmark = [pytest.mark.real, pytest.mark.slow]

#: Single-label GoEmotions rows of these emotions become the user's 4-class corpus.
USER_CLASSES = ("joy", "anger", "sadness", "fear")


def _user_corpus(data_dir: Path, out: Path) -> Path:
    """A 4-class corpus (CSV with a split column) from real single-label GoEmotions comments,
    and its card - what a user with their own annotated data would write."""
    names = (data_dir / "goemotions" / "emotions.txt").read_text(encoding="utf-8").split("\n")
    wanted = {names.index(c): c for c in USER_CLASSES}
    rows = []
    for split, limit in (("train", 60), ("dev", 15), ("test", 15)):
        counts = dict.fromkeys(USER_CLASSES, 0)
        with (data_dir / "goemotions" / f"{split}.tsv").open(encoding="utf-8", newline="") as f:
            for text, ids, _ in csv.reader(f, delimiter="\t"):
                label = wanted.get(int(ids)) if ids.isdigit() else None
                if label is not None and counts[label] < limit:
                    counts[label] += 1
                    rows.append({"text": text, "emotion": label, "split": split})
    out.mkdir(parents=True, exist_ok=True)
    with (out / "feelings.csv").open("w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "emotion", "split"])
        writer.writeheader()
        writer.writerows(rows)
    card = out / "feelings.toml"
    card.write_text(
        'name = "feelings"\ntitle = "Feelings (4 classes)"\nkind = "multiclass"\n'
        'licence = "Apache-2.0 (GoEmotions subset)"\n\n'
        '[files]\npath = "feelings.csv"\nsplit_column = "split"\n\n'
        f'[columns]\ntext = "text"\nlabel = "emotion"\nlabels = {json.dumps(USER_CLASSES)}\n',
        encoding="utf-8",
    )
    return card


def test_goemotions_trains_beside_the_paper_spaces(data_dir, cache_dir, tmp_path, clean_registry):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        [
            "train", "--tasks", "0.2S+T+E+goemotions", "--seeds", "1", "--epochs", "2",
            "--data-dir", str(data_dir), "--cache-dir", str(cache_dir), "--out", str(out),
            "--json",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    results = json.loads((out / "results.json").read_text())
    assert list(results["test"]) == ["S", "T", "E", "G"]
    goemotions = results["test"]["G"]
    assert {"f1_macro", "f1_micro", "jaccard"} <= set(goemotions)
    # two epochs on frozen features already beat chance on 28 labels (macro-F1 of all-zero = 0)
    assert goemotions["f1_micro"]["mean"] > 0.2
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["tasks"] == "0.2S+T+E+G"


def test_user_card_bundle_predicts_everywhere(data_dir, cache_dir, tmp_path, clean_registry):
    from emomtl.predict import EmotionAnalyzer
    from emomtl.serve import create_app
    from test_serve import _serve_once

    card = _user_corpus(data_dir, tmp_path / "corpus")
    bundle = tmp_path / "bundle"
    result = CliRunner().invoke(
        app,
        [
            "train", "--corpus", str(card), "--tasks", "feelings+T", "--seeds", "1",
            "--epochs", "30", "--data-dir", str(data_dir), "--cache-dir", str(cache_dir),
            "--out", str(tmp_path / "run"), "--save", str(bundle),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    spaces = json.loads((bundle / "config.json").read_text())["spaces"]
    assert [s["name"] for s in spaces] == ["tales", "feelings"]
    assert spaces[1]["labels"] == list(USER_CLASSES)

    texts = ["I am so happy and grateful, this made my day!", "I am furious, how dare they"]
    analyzer = EmotionAnalyzer.load(bundle)
    records = analyzer.predict(texts)
    assert [r["feelings"].top for r in records] == ["joy", "anger"]
    assert sum(records[0]["feelings"].scores.values()) == pytest.approx(1.0)
    assert "feelings_joy" in analyzer.flat_columns() and "feelings_top" in analyzer.flat_columns()

    # a fresh process knows nothing of the card: the bundle alone describes the space
    env = {k: v for k, v in os.environ.items() if k != "EMOMTL_CORPORA"}
    cli = subprocess.run(
        [sys.executable, "-m", "emomtl", "predict", "--model", str(bundle), "--json", *texts],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert cli.returncode == 0, cli.stderr
    lines = [json.loads(line) for line in cli.stdout.splitlines() if line.strip()]
    assert [line["feelings"]["top"] for line in lines] == ["joy", "anger"]
    for line, record in zip(lines, records, strict=True):
        assert line["feelings"]["probabilities"] == pytest.approx(
            record["feelings"].scores, abs=1e-6
        )

    _, served = _serve_once(create_app(analyzer), texts)
    assert [p["feelings"]["top"] for p in served["predictions"]] == ["joy", "anger"]
    assert served["predictions"][1]["ekman"]["top"] in analyzer.labels["ekman"]
