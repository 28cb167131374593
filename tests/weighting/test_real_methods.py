"""MTL methods on the real corpora and MiniLM features (a short run of each kind of method)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import jaccard_score

from emomtl.train import TrainConfig, train


@pytest.fixture(scope="module")
def real_features(data_dir, cache_dir):
    from emomtl.features.task_data import load_task_data

    return load_task_data("STE", data_dir=data_dir, cache_dir=cache_dir)


@pytest.mark.real
@pytest.mark.slow
@pytest.mark.parametrize(("weighting", "sampling"), [("upgrad", "round"), ("famo", "temperature")])
def test_real_methods_beat_trivial_baselines_on_every_space(
    real_features, weighting: str, sampling: str
) -> None:
    """0.1S+T+E, one seed, 6 epochs: each space beats its trivial baseline on test - S the
    Jaccard of predicting no emotion (sklearn), T the majority class's accuracy, E r = 0."""
    config = TrainConfig(
        tasks="0.1S+T+E", weighting=weighting, sampling=sampling, seeds=(0,), epochs=6
    )
    result = train(config, real_features, num_threads=1).seeds[0]
    test = result.metrics["test"]
    gold_s = real_features["S"].targets["test"].numpy().astype(int)
    empty = jaccard_score(gold_s, np.zeros_like(gold_s), average="samples", zero_division=1.0)
    assert test["S"]["jaccard"] > empty + 0.1
    gold_t = real_features["T"].targets["test"].numpy()
    majority = np.bincount(gold_t).max() / len(gold_t)
    assert test["T"]["f1_micro"] > majority
    assert test["E"]["pearson_mean"] > 0.2
    assert np.isfinite(result.lambdas).all() and result.lambdas.shape[1] == 3
