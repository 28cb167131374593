"""Every registered weighting: config handling, one short training run, seed independence.

Parametrised over ``WEIGHTINGS`` itself, so adding a method adds its cases instead of failing.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from emomtl.sampling import EVERY_TASK_SAMPLERS
from emomtl.train import TrainConfig, train
from emomtl.weighting import WEIGHTINGS, Weighting

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from test_train import _assert_same_results, synthetic_spaces


@pytest.fixture(scope="module")
def data():
    return synthetic_spaces()


def _sampling(key: str) -> str:
    return "round" if WEIGHTINGS[key].needs_every_task else "proportional"


@pytest.mark.parametrize("key", sorted(WEIGHTINGS))
def test_every_method_is_a_weighting_with_castable_defaults(key: str) -> None:
    method = WEIGHTINGS[key]
    assert issubclass(method, Weighting)
    assert method.resolve_args({}) == dict(method.hyperparameters)
    with pytest.raises(ValueError, match="no hyper-parameter"):
        method.resolve_args({"no_such_arg": 1})


@pytest.mark.parametrize("key", sorted(WEIGHTINGS))
def test_every_method_trains_and_records_its_weights(data, key: str) -> None:
    config = TrainConfig(
        tasks="0.5S+T+E", weighting=key, sampling=_sampling(key), seeds=(0, 1), epochs=3
    )
    output = train(config, data, num_threads=1)
    for result in output.seeds:
        for code in "STE":
            assert math.isfinite(result.metrics["test"][code]["loss"])
        if not WEIGHTINGS[key].constant:
            assert result.lambdas.shape[1] == 3 and np.isfinite(result.lambdas).all()


@pytest.mark.parametrize("key", sorted(k for k in WEIGHTINGS if k not in {"equal", "gradnorm"}))
def test_batched_seeds_equal_single_seed_runs(data, key: str) -> None:
    """Each seed's method state is its own: 2 seeds batched = 2 single-seed runs."""
    config = TrainConfig(
        tasks="0.5S+T+E",
        weighting=key,
        sampling="temperature" if WEIGHTINGS[key].needs_every_task else "proportional",
        seeds=(0, 1),
        epochs=6,
        patience=2,
        lr=3e-3,
    )
    batched = train(config, data, num_threads=1)
    singles = [
        train(TrainConfig(**{**config.to_dict(), "seeds": (seed,)}), data, num_threads=1).seeds[0]
        for seed in config.seeds
    ]
    _assert_same_results(batched, singles, tol=2e-4)


def test_weighting_args_are_validated_cast_and_recorded() -> None:
    config = TrainConfig(weighting="cagrad", sampling="round", weighting_args={"c": "0.2"})
    assert config.weighting_args == {"c": 0.2}
    assert TrainConfig.from_dict(config.to_dict()).weighting_args == {"c": 0.2}
    with pytest.raises(ValueError, match="is not a float"):
        TrainConfig(weighting="cagrad", sampling="round", weighting_args={"c": "x"})
    with pytest.raises(ValueError, match="no hyper-parameter"):
        TrainConfig(weighting="equal", weighting_args={"c": 1})
    with pytest.raises(ValueError, match="needs every task"):
        TrainConfig(weighting="upgrad", sampling="proportional")
    for sampling in EVERY_TASK_SAMPLERS:
        TrainConfig(weighting="upgrad", sampling=sampling)
