"""Round and temperature sampling (issue 12)."""

from __future__ import annotations

import math

import pytest
import torch

from emomtl.sampling import RoundSampler, TemperatureSampler, temperature_quotas


def _tasks(batch):
    row = batch[0]
    return (
        (row < 20).sum().item(),
        ((row >= 20) & (row < 23)).sum().item(),
        (row >= 23).sum().item(),
    )


def test_round_sampler_gives_one_batch_of_every_task_per_step() -> None:
    pools = [[torch.arange(0, 20), torch.arange(20, 23), torch.arange(23, 30)]] * 2
    gens = [torch.Generator().manual_seed(s) for s in (0, 1)]
    sampler = RoundSampler(pools, 4, gens)
    batches = sampler.epoch()
    assert len(batches) == math.ceil(20 / 4)  # one pass over the largest task
    for batch in batches:
        assert batch.shape == (2, 12)
        assert _tasks(batch) == (4, 4, 4)
    assert sorted(torch.cat([b[0, :4] for b in batches]).tolist()) == list(range(20))


def test_temperature_quotas_by_hand() -> None:
    """n = (684, 965, 8062), 64 rows. T = 2: n^(1/2) = (26.15, 31.06, 89.79), 64 p =
    (11.39, 13.52, 39.09) -> floors (11, 13, 39) + the one left to the largest remainder (.52):
    (11, 14, 39). T = 1 (proportional): 64 n / N = (4.51, 6.36, 53.13) -> (5, 6, 53)."""
    assert temperature_quotas((684, 965, 8062), 64, 2.0) == [11, 14, 39]
    assert temperature_quotas((684, 965, 8062), 64, 1.0) == [5, 6, 53]
    assert temperature_quotas((1, 10**6), 4, 1.0) == [1, 3]  # every task keeps a row
    with pytest.raises(ValueError, match="temperature"):
        TemperatureSampler(
            [[torch.arange(3), torch.arange(3, 5)]], 4, [torch.Generator()], temperature=0
        )


def test_temperature_sampler_fills_its_quotas_every_batch() -> None:
    pools = [[torch.arange(0, 20), torch.arange(20, 23), torch.arange(23, 30)]]
    sampler = TemperatureSampler(pools, 6, [torch.Generator().manual_seed(0)], temperature=2.0)
    quotas = temperature_quotas((20, 3, 7), 6, 2.0)
    assert sampler.quotas == quotas
    for batch in sampler.epoch():
        assert _tasks(batch) == tuple(quotas)
