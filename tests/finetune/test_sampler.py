"""Task sampler: probabilities against hand-computed values, batches against their contract."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy.stats import chisquare

from emomtl.finetune.sampler import TaskBatchSampler, bucketed_batches, task_probabilities

SIZES = {"S": 6838, "T": 965, "E": 8062}


def test_temperature_probabilities_match_hand_computation() -> None:
    p = task_probabilities(SIZES, "temperature", tau=2.0)
    roots = {c: math.sqrt(n) for c, n in SIZES.items()}  # 82.69, 31.06, 89.79
    total = sum(roots.values())
    assert p == pytest.approx({c: r / total for c, r in roots.items()})
    assert p["T"] == pytest.approx(31.0644 / (82.6922 + 31.0644 + 89.7886), abs=1e-5)


def test_proportional_is_tau_one_and_balanced_is_uniform() -> None:
    total = sum(SIZES.values())
    assert task_probabilities(SIZES, "proportional") == pytest.approx(
        {c: n / total for c, n in SIZES.items()}
    )
    assert task_probabilities(SIZES, "temperature", tau=1.0) == pytest.approx(
        task_probabilities(SIZES, "proportional")
    )
    assert task_probabilities(SIZES, "balanced") == pytest.approx(dict.fromkeys(SIZES, 1 / 3))


@pytest.mark.parametrize(
    ("sizes", "sampling", "tau", "message"),
    [
        ({}, "temperature", 2.0, "no tasks"),
        ({"S": 0}, "temperature", 2.0, "at least one"),
        ({"S": 3}, "temperature", 0.0, "tau"),
        ({"S": 3}, "uniform", 2.0, "sampling must be"),
    ],
)
def test_bad_sampler_arguments(sizes, sampling, tau, message) -> None:
    with pytest.raises(ValueError, match=message):
        task_probabilities(sizes, sampling, tau)


def test_bucketed_batches_cover_every_row_once_and_bucket_by_length() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 60, size=1000)
    batches = bucketed_batches(lengths, 32, 4, np.random.default_rng(1))
    # 7 pools of 128 rows (4 full batches each) and one of 104 rows (3 full batches + 8 rows)
    assert sorted(len(b) for b in batches) == [8] + [32] * 31
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(1000))
    # padding: the spread of lengths within a batch is far below that of a random batch
    spread = np.mean([np.ptp(lengths[b]) for b in batches if len(b) > 1])
    assert spread < 0.25 * np.ptp(lengths)


def test_bucketed_batches_with_one_pool_equal_sorted_chunks() -> None:
    lengths = [5, 1, 4, 2, 3, 6, 0]
    batches = bucketed_batches(lengths, 3, 10, np.random.default_rng(0))
    chunks = sorted(tuple(lengths[i] for i in b) for b in batches)
    assert chunks == [(0, 1, 2), (3, 4, 5), (6,)]


def _stream(seed: int, steps: int = 200) -> list[tuple[str, list[int]]]:
    lengths = {"S": np.arange(300) % 50, "T": np.arange(40) % 20, "E": np.arange(350) % 30}
    sampler = TaskBatchSampler(lengths, 16, sampling="temperature", tau=2.0, seed=seed)
    return [(code, rows.tolist()) for code, rows in sampler(steps)]


def test_sampler_is_seeded_and_task_homogeneous() -> None:
    assert _stream(0) == _stream(0)
    assert _stream(0) != _stream(1)
    sizes = {"S": 300, "T": 40, "E": 350}
    for code, rows in _stream(0):
        assert all(0 <= r < sizes[code] for r in rows)
        assert 1 <= len(rows) <= 16


def test_sampler_steps_per_epoch_and_task_frequencies() -> None:
    sizes = {"S": 3000, "T": 400, "E": 3500}
    lengths = {c: np.ones(n, dtype=int) for c, n in sizes.items()}
    sampler = TaskBatchSampler(lengths, 32, sampling="temperature", tau=2.0, seed=3)
    assert sampler.steps_per_epoch == 94 + 13 + 110
    steps = 6000
    counts = Counter(code for code, _ in sampler(steps))
    p = task_probabilities(sizes, "temperature", 2.0)
    observed = [counts[c] for c in sizes]
    expected = [p[c] * steps for c in sizes]
    assert chisquare(observed, expected).pvalue > 1e-3


def test_small_task_cycles_through_all_rows_before_repeating() -> None:
    lengths = {"S": np.ones(1000, dtype=int), "T": np.ones(50, dtype=int)}
    sampler = TaskBatchSampler(lengths, 10, sampling="balanced", seed=0)
    t_batches = [rows for code, rows in sampler(400) if code == "T"]
    first_pass = np.concatenate(t_batches[:5])
    assert sorted(first_pass.tolist()) == list(range(50))
