"""Which training rows each seed sees: S-fraction subsets and per-epoch batch orders.

All indices point into the *union* of the setting's training sets (one contiguous feature tensor,
see :mod:`emomtl.train`). Each seed has its own ``torch.Generator``, so seed ``s``'s batches do not
depend on which other seeds are trained alongside it.

Samplers (``SAMPLERS``), each yielding per epoch a list of ``(S, b)`` index tensors:

* ``proportional`` (paper Sec. 4): every epoch a fresh random permutation of the seed's union, cut
  into batches of ``batch_size`` (the last one smaller); a task's share of a batch follows its share
  of the union.
* ``balanced``: each batch holds ``batch_size // k`` samples of every task (the first
  ``batch_size % k`` tasks one more); an epoch has ``max_i ceil(n_i / q_i)`` batches, i.e. one pass
  over the largest task; smaller tasks cycle through fresh permutations as often as needed.

* ``round`` (issue 12): every step holds one batch of ``batch_size`` rows of *each* task
  (``(S, k * batch_size)``); an epoch is one pass over the largest task, smaller tasks cycle.
  Gradient aggregators need every task in every step.
* ``temperature`` (issue 12): task i fills ``q_i`` rows of every batch, ``q_i`` proportional to
  ``p_i = n_i^(1/T) / sum_j n_j^(1/T)`` (temperature-scaled mixing, Arivazhagan et al. 2019;
  ``T`` = 1 is proportional, ``T`` -> inf balanced; default 2), rounded by largest remainder with
  every ``q_i >= 1``; an epoch is one pass over the task with the most batches ``ceil(n_i / q_i)``.

``balanced``, ``round`` and ``temperature`` put every task in every batch
(:data:`EVERY_TASK_SAMPLERS`); ``proportional`` does not. All have ``keep_seeds(rows)``: the
trainer drops seeds that stopped early; each remaining seed keeps its own generator, so its
batches are unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def fraction_size(n: int, fraction: float) -> int:
    """Rows kept of an ``n``-row training set: ``floor(fraction * n + 0.5)`` (half rounds up), >= 1.

    e.g. 0.1 of SemEval's 6838 -> 684, 0.5 -> 3419.
    """
    return max(1, min(n, math.floor(fraction * n + 0.5)))


def subset_indices(n: int, fraction: float, seed: int, task_index: int) -> np.ndarray:
    """Sorted random subset of ``range(n)``, :func:`fraction_size` rows, for training seed ``seed``.

    Drawn without replacement by ``numpy.random.default_rng([seed, task_index])``, so it depends
    only on the seed and the task (not on the other tasks, the head or the weighting) and differs
    between seeds. ``fraction == 1`` returns every row.
    """
    if fraction >= 1.0:
        return np.arange(n)
    rng = np.random.default_rng([seed, task_index])
    return np.sort(rng.choice(n, size=fraction_size(n, fraction), replace=False))


def seed_generator(seed: int, stream: int) -> torch.Generator:
    """An independent ``torch.Generator`` for (training seed, stream) via ``numpy.SeedSequence``."""
    state = int(np.random.SeedSequence([seed, stream]).generate_state(1, dtype=np.uint64)[0])
    return torch.Generator().manual_seed(state & ((1 << 63) - 1))


class ProportionalSampler:
    """Uniform batches from each seed's union (the paper's sampling).

    Args:
        pools: ``pools[s][i]`` int64 indices (into the union tensor) of task i's rows for seed s;
            every seed's union must have the same size.
        batch_size: rows per batch.
        generators: one per seed.
    """

    def __init__(
        self,
        pools: Sequence[Sequence[Tensor]],
        batch_size: int,
        generators: Sequence[torch.Generator],
    ) -> None:
        self.unions = [torch.cat(list(p)) for p in pools]
        if len({u.numel() for u in self.unions}) != 1:
            raise ValueError("every seed's training union must have the same size")
        self.batch_size, self.generators = batch_size, list(generators)

    def keep_seeds(self, rows: Sequence[int]) -> None:
        """Draw batches for seeds ``rows`` only (positions in the current seed order)."""
        self.unions = [self.unions[r] for r in rows]
        self.generators = [self.generators[r] for r in rows]

    def epoch(self) -> list[Tensor]:
        """This epoch's batches: ``ceil(N / batch_size)`` tensors of shape ``(S, b)``."""
        order = torch.stack(
            [
                u[torch.randperm(u.numel(), generator=g)]
                for u, g in zip(self.unions, self.generators, strict=True)
            ]
        )
        return list(torch.split(order, self.batch_size, dim=1))


class BalancedSampler:
    """Batches with (almost) equal rows per task; arguments as :class:`ProportionalSampler`."""

    def __init__(
        self,
        pools: Sequence[Sequence[Tensor]],
        batch_size: int,
        generators: Sequence[torch.Generator],
    ) -> None:
        k = len(pools[0])
        if batch_size < k:
            raise ValueError(f"{type(self).__name__} needs batch_size >= number of tasks ({k})")
        self.pools = [list(p) for p in pools]
        sizes = [p.numel() for p in self.pools[0]]
        self.quotas = self.task_quotas(sizes, batch_size)
        self.n_batches = max(math.ceil(n / q) for n, q in zip(sizes, self.quotas, strict=True))
        self.generators = list(generators)

    def task_quotas(self, sizes: Sequence[int], batch_size: int) -> list[int]:
        """Rows of each task per batch: ``batch_size // k``, the first ``batch_size % k`` one
        more."""
        k = len(sizes)
        return [batch_size // k + (1 if i < batch_size % k else 0) for i in range(k)]

    def keep_seeds(self, rows: Sequence[int]) -> None:
        """Draw batches for seeds ``rows`` only (positions in the current seed order)."""
        self.pools = [self.pools[r] for r in rows]
        self.generators = [self.generators[r] for r in rows]

    def _stream(self, pool: Tensor, length: int, generator: torch.Generator) -> Tensor:
        reps = math.ceil(length / pool.numel())
        perms = [pool[torch.randperm(pool.numel(), generator=generator)] for _ in range(reps)]
        return torch.cat(perms)[:length]

    def epoch(self) -> list[Tensor]:
        """``n_batches`` tensors ``(S, batch_size)``; task i fills ``quotas[i]`` columns."""
        per_seed = []
        for pools, g in zip(self.pools, self.generators, strict=True):
            parts = [
                self._stream(pool, self.n_batches * q, g).view(self.n_batches, q)
                for pool, q in zip(pools, self.quotas, strict=True)
            ]
            per_seed.append(torch.cat(parts, dim=1))
        return list(torch.stack(per_seed).unbind(dim=1))


class RoundSampler(BalancedSampler):
    """One batch of ``batch_size`` rows of every task per step: batches ``(S, k * batch_size)``."""

    def task_quotas(self, sizes: Sequence[int], batch_size: int) -> list[int]:
        return [batch_size] * len(sizes)


class TemperatureSampler(BalancedSampler):
    """Temperature-scaled task quotas (module docstring); ``temperature`` T > 0."""

    def __init__(
        self,
        pools: Sequence[Sequence[Tensor]],
        batch_size: int,
        generators: Sequence[torch.Generator],
        *,
        temperature: float = 2.0,
    ) -> None:
        if not temperature > 0:
            raise ValueError(f"sampling temperature must be > 0, got {temperature!r}")
        self.temperature = temperature
        super().__init__(pools, batch_size, generators)

    def task_quotas(self, sizes: Sequence[int], batch_size: int) -> list[int]:
        return temperature_quotas(sizes, batch_size, self.temperature)


def temperature_quotas(sizes: Sequence[int], batch_size: int, temperature: float) -> list[int]:
    """``q_i`` summing to ``batch_size``: ``batch_size * p_i``, ``p_i`` proportional to
    ``n_i^(1/T)``, rounded down with the remainder to the largest fractional parts, then raised
    to at least 1 (taken from the largest quotas).

    e.g. sizes (684, 965, 8062), 64 rows, T = 2: p = (0.178, 0.211, 0.611) -> (11, 14, 39).
    """
    k = len(sizes)
    if batch_size < k:
        raise ValueError(f"temperature sampling needs batch_size >= number of tasks ({k})")
    weights = np.asarray(sizes, dtype=np.float64) ** (1.0 / temperature)
    exact = batch_size * weights / weights.sum()
    quotas = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - quotas), kind="stable")[: batch_size - quotas.sum()]:
        quotas[i] += 1
    while (quotas < 1).any():
        quotas[int(np.argmax(quotas))] -= 1
        quotas[int(np.argmin(quotas))] += 1
    return [int(q) for q in quotas]


SAMPLERS = {
    "proportional": ProportionalSampler,
    "balanced": BalancedSampler,
    "round": RoundSampler,
    "temperature": TemperatureSampler,
}

#: Samplers that put every task in every batch (what gradient aggregators need).
EVERY_TASK_SAMPLERS = ("balanced", "round", "temperature")
