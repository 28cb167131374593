"""One threshold rule (p >= t) in predictions and metrics; per-label thresholds tuned on dev and
stored in bundles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emomtl import EmotionAnalyzer
from emomtl.bundle import CONFIG_FILE
from emomtl.data.tasks import SEMEVAL_LABELS
from emomtl.thresholds import tune_thresholds
from test_bundle import FakeEncoder, make_bundle

TEXT = "a b c"


def test_tuned_threshold_maximises_each_labels_f1_by_hand() -> None:
    """Label 0: positives at 0.9 and 0.3, negatives at 0.2 and 0.1: every t in (0.2, 0.3]
    gives F1 = 1; of the grid's 0.25 and 0.30 the one closest to 0.5 wins. Label 1 has no
    positive: F1 is 0 everywhere and it keeps 0.5."""
    gold = np.array([[1, 0], [1, 0], [0, 0], [0, 0]])
    probs = np.array([[0.9, 0.7], [0.3, 0.2], [0.2, 0.6], [0.1, 0.1]])
    assert tune_thresholds(gold, probs) == [0.3, 0.5]


def _scores(path: Path) -> dict[str, float]:
    return EmotionAnalyzer.load(path, encoder=FakeEncoder()).predict(TEXT)["semeval"].scores


def test_bundle_label_thresholds_apply_with_p_greater_or_equal(tmp_path: Path) -> None:
    scores = _scores(make_bundle(tmp_path / "plain"))
    # even labels: t = p exactly (reported: p >= t); odd labels: t just above p (not reported)
    thresholds = [
        scores[label] if i % 2 == 0 else min(scores[label] + 0.01, 0.999)
        for i, label in enumerate(SEMEVAL_LABELS)
    ]
    path = make_bundle(tmp_path / "tuned", label_thresholds={"S": thresholds})
    saved = json.loads((path / CONFIG_FILE).read_text())["label_thresholds"]
    assert saved == {"S": thresholds}
    tuned = EmotionAnalyzer.load(path, encoder=FakeEncoder())
    assert tuned.predict(TEXT)["semeval"].labels == tuple(SEMEVAL_LABELS[0::2])
    # an explicit threshold overrides the tuned ones
    low = EmotionAnalyzer.load(path, encoder=FakeEncoder(), threshold=0.01)
    assert low.predict(TEXT)["semeval"].labels == tuple(SEMEVAL_LABELS)


def test_label_thresholds_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a multilabel task"):
        make_bundle(tmp_path / "a", label_thresholds={"T": [0.5] * 5})
    with pytest.raises(ValueError, match="thresholds in"):
        make_bundle(tmp_path / "b", label_thresholds={"S": [0.5] * 3})
