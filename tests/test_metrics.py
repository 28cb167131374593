"""Metrics against independent references: hand-computed examples, set arithmetic, numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from emomtl.data.tasks import EMOBANK, SEMEVAL, TALES
from emomtl.metrics import (
    higher_is_better,
    multiclass_metrics,
    multilabel_metrics,
    regression_metrics,
    task_metrics,
)


def _reference_jaccard(gold: np.ndarray, pred: np.ndarray, empty_score: float) -> float:
    """Per-sample |G ∩ P| / |G ∪ P| with Python sets, as the SemEval scorer defines it."""
    scores = []
    for g_row, p_row in zip(gold, pred, strict=True):
        g = {i for i, v in enumerate(g_row) if v}
        p = {i for i, v in enumerate(p_row) if v}
        scores.append(empty_score if not (g | p) else len(g & p) / len(g | p))
    return sum(scores) / len(scores)


def test_jaccard_hand_example_with_empty_rows() -> None:
    gold = np.array([[1, 0, 1], [0, 0, 0], [0, 1, 0], [0, 0, 0]])
    prob = np.array([[0.9, 0.8, 0.1], [0.1, 0.2, 0.3], [0.2, 0.7, 0.6], [0.6, 0.1, 0.1]])
    # rows: {0,2} vs {0,1} -> 1/3; empty vs empty -> 1 (official) / 0 (paper);
    # {1} vs {1,2} -> 1/2; empty vs {0} -> 0
    result = multilabel_metrics(gold, prob)
    assert result["jaccard"] == pytest.approx((1 / 3 + 1 + 1 / 2 + 0) / 4)
    assert result["jaccard_paper"] == pytest.approx((1 / 3 + 0 + 1 / 2 + 0) / 4)


def test_jaccard_matches_set_reference_on_random_data() -> None:
    rng = np.random.default_rng(0)
    gold = (rng.random((300, 11)) < 0.2).astype(int)
    prob = rng.random((300, 11))
    pred = (prob >= 0.5).astype(int)
    result = multilabel_metrics(torch.tensor(gold), torch.tensor(prob, dtype=torch.float32))
    assert result["jaccard"] == pytest.approx(_reference_jaccard(gold, pred, 1.0))
    assert result["jaccard_paper"] == pytest.approx(_reference_jaccard(gold, pred, 0.0))
    assert (gold.sum(1) == 0).any(), "the random data must contain empty gold rows"


def test_multilabel_f1_hand_counts() -> None:
    gold = np.array([[1, 0], [1, 1], [0, 1]])
    pred = np.array([[1, 1], [0, 1], [0, 1]])
    # label 0: tp1 fn1 fp0 ; label 1: tp2 fp1 fn0 ; micro: tp3 fp1 fn1 -> 3/(3+1)=0.75
    result = multilabel_metrics(gold, pred.astype(float))
    assert result["f1_micro"] == pytest.approx(3 / (3 + 0.5 * 2))
    assert result["f1_macro"] == pytest.approx((2 / 3 + 4 / 5) / 2)


def test_multiclass_from_probabilities_and_indices() -> None:
    gold = np.array([0, 1, 2, 2, 1])
    probs = np.eye(3)[[0, 2, 2, 2, 1]]
    result = multiclass_metrics(gold, probs)
    assert result["accuracy"] == pytest.approx(4 / 5)
    assert result["f1_micro"] == pytest.approx(4 / 5)
    # per class F1: c0 1.0; c1 tp1 fn1 -> 2/3; c2 tp2 fp1 -> 4/5
    assert result["f1_macro"] == pytest.approx((1 + 2 / 3 + 4 / 5) / 3)
    assert multiclass_metrics(gold, np.array([0, 2, 2, 2, 1])) == result


def test_regression_against_numpy() -> None:
    rng = np.random.default_rng(1)
    gold = rng.uniform(1, 5, size=(200, 3))
    pred = gold + rng.normal(0, [0.3, 1.0, 2.0], size=(200, 3))
    result = regression_metrics(gold, pred)
    expected_r = [np.corrcoef(gold[:, j], pred[:, j])[0, 1] for j in range(3)]
    for j, name in enumerate("VAD"):
        assert result[f"pearson_{name}"] == pytest.approx(expected_r[j])
        assert result[f"rmse_{name}"] == pytest.approx(
            math.sqrt(((gold[:, j] - pred[:, j]) ** 2).mean())
        )
    assert result["pearson_mean"] == pytest.approx(np.mean(expected_r))
    assert result["rmse"] == pytest.approx(math.sqrt(((gold - pred) ** 2).mean()))


def test_regression_constant_prediction_is_nan() -> None:
    gold = np.array([[1.0, 2, 3], [2, 3, 4], [3, 5, 4]])
    pred = np.array([[3.0, 1, 2], [3, 2, 3], [3, 4, 1]])
    result = regression_metrics(gold, pred)
    assert math.isnan(result["pearson_V"]) and math.isnan(result["pearson_mean"])


def test_task_dispatch_and_shape_errors() -> None:
    assert set(task_metrics(SEMEVAL, np.zeros((2, 11)), np.zeros((2, 11)))) >= {"jaccard"}
    assert "f1_micro" in task_metrics(TALES, np.array([0, 1]), np.eye(5)[[0, 1]])
    assert "pearson_mean" in task_metrics(
        EMOBANK, np.array([[1.0, 2, 3], [2, 1, 3], [3, 3, 1]]), np.eye(3) + 1
    )
    with pytest.raises(ValueError, match=r"\(n, L\)"):
        multilabel_metrics(np.zeros((2, 11)), np.zeros((2, 10)))


def test_directions() -> None:
    assert higher_is_better("jaccard") and higher_is_better("pearson_V")
    assert not higher_is_better("rmse_A") and not higher_is_better("loss")
    with pytest.raises(KeyError):
        higher_is_better("bogus")
