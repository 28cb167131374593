"""Task-homogeneous, length-bucketed batches and the schedule that picks a task for every step.

Multi-task fine-tuning draws one label space per step and a batch from that space alone (each
batch has one loss, one head, one kind of target). Two things are decided here:

**Which task** (``sampling``), for task sizes ``n_i`` (training rows after any fraction)::

    temperature   p_i = n_i^(1/tau) / sum_j n_j^(1/tau)        (default tau = 2: sqrt sizes)
    proportional  p_i = n_i / sum_j n_j                        (tau = 1)
    balanced      p_i = 1 / k                                  (tau -> infinity)

(temperature sampling as in multilingual MT and T5, Raffel et al. 2020 Sec. 3.5.2; Arivazhagan
et al. 2019). An epoch is ``sum_i ceil(n_i / b)`` steps whatever the strategy, so "2 epochs" costs
the same compute under every strategy; under ``proportional`` each task is then seen about once.

``round`` is different: every step holds one batch of *every* task (what gradient aggregators
need: one Jacobian row per task, :mod:`emomtl.finetune.weighting`). An epoch is then
``ceil(sum_i ceil(n_i / b) / k)`` steps of ``k`` batches, the same number of batches as above.

**Which rows** (length bucketing): a task's rows are shuffled, cut into pools of
``bucket_batches * b`` rows, each pool is sorted by token length and cut into batches of ``b``,
and the batches of the whole pass are shuffled. Rows of similar length share a batch (little
padding), yet batches stay random. When a task's pass is used up a fresh one is drawn, so a
small task cycles through its rows as often as the schedule asks.

Everything is a function of the seed (``numpy.random.SeedSequence``): the task schedule and each
task's row order have independent streams, so a task's batches do not depend on the other tasks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np

SAMPLINGS: tuple[str, ...] = ("temperature", "proportional", "balanced", "round")
#: Samplings whose every step holds a batch of every task.
EVERY_TASK_SAMPLINGS: tuple[str, ...] = ("round",)


def task_probabilities(
    sizes: Mapping[str, int], sampling: str = "temperature", tau: float = 2.0
) -> dict[str, float]:
    """Probability of drawing each task for a step (see the module docstring for the formulas).

    Args:
        sizes: task code -> number of training rows (> 0).
        sampling: ``temperature`` | ``proportional`` | ``balanced`` | ``round`` (every task in
            every step: 1/k each).
        tau: temperature (> 0) of ``temperature`` sampling.
    """
    if not sizes:
        raise ValueError("no tasks to sample from")
    bad = {code: n for code, n in sizes.items() if n < 1}
    if bad:
        raise ValueError(f"every task needs at least one training row, got {bad}")
    if sampling == "temperature":
        if tau <= 0:
            raise ValueError(f"tau must be > 0, got {tau}")
        weights = {code: float(n) ** (1.0 / tau) for code, n in sizes.items()}
    elif sampling == "proportional":
        weights = {code: float(n) for code, n in sizes.items()}
    elif sampling in ("balanced", "round"):
        weights = dict.fromkeys(sizes, 1.0)
    else:
        raise ValueError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    total = sum(weights.values())
    return {code: w / total for code, w in weights.items()}


def bucketed_batches(
    lengths: Sequence[int], batch_size: int, bucket_batches: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """One pass over ``range(len(lengths))`` as length-bucketed batches in random order.

    Returns:
        ``ceil(n / batch_size)`` int64 index arrays; together they hold every row exactly once.
        Within a pool of ``bucket_batches * batch_size`` shuffled rows, batches are cut from the
        rows sorted by length (stable), so at most one batch per pool is smaller than
        ``batch_size``.
    """
    if batch_size < 1 or bucket_batches < 1:
        raise ValueError(
            f"batch_size and bucket_batches must be >= 1, got {batch_size}, {bucket_batches}"
        )
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    pool = batch_size * bucket_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), pool):
        rows = order[start : start + pool]
        rows = rows[np.argsort(lengths[rows], kind="stable")]
        batches.extend(rows[i : i + batch_size] for i in range(0, len(rows), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


class TaskBatchSampler:
    """The seeded stream of ``(task code, row indices)`` training batches of a setting.

    Args:
        lengths: task code -> token length of each of its training rows (the rows a batch's
            indices point into).
        batch_size: rows per batch.
        sampling, tau: task-drawing strategy (:func:`task_probabilities`).
        seed: training seed.
        bucket_batches: pool size of :func:`bucketed_batches`, in batches.
    """

    def __init__(
        self,
        lengths: Mapping[str, Sequence[int]],
        batch_size: int,
        *,
        sampling: str = "temperature",
        tau: float = 2.0,
        seed: int = 0,
        bucket_batches: int = 20,
    ) -> None:
        self.codes = list(lengths)
        self.lengths = {code: np.asarray(lengths[code]) for code in self.codes}
        self.batch_size, self.bucket_batches = batch_size, bucket_batches
        sizes = {code: len(v) for code, v in self.lengths.items()}
        self.probabilities = task_probabilities(sizes, sampling, tau)
        self.every_task = sampling in EVERY_TASK_SAMPLINGS
        batches = sum(math.ceil(n / batch_size) for n in sizes.values())
        self.steps_per_epoch = math.ceil(batches / len(sizes)) if self.every_task else batches
        streams = np.random.SeedSequence(seed).spawn(1 + len(self.codes))
        self._schedule_rng = np.random.default_rng(streams[0])
        self._row_rngs = {
            code: np.random.default_rng(s) for code, s in zip(self.codes, streams[1:], strict=True)
        }
        self._queues: dict[str, list[np.ndarray]] = {code: [] for code in self.codes}

    def _next_batch(self, code: str) -> np.ndarray:
        queue = self._queues[code]
        if not queue:
            queue.extend(
                reversed(
                    bucketed_batches(
                        self.lengths[code],
                        self.batch_size,
                        self.bucket_batches,
                        self._row_rngs[code],
                    )
                )
            )
        return queue.pop()

    def __call__(self, steps: int) -> Iterator[tuple[str, np.ndarray]]:
        """Yield the next ``steps`` one-task batches (the stream continues across calls)."""
        if self.every_task:
            raise ValueError("a round sampler yields every task per step: use steps()")
        p = np.array([self.probabilities[c] for c in self.codes])
        for _ in range(steps):
            code = self.codes[int(self._schedule_rng.choice(len(self.codes), p=p))]
            yield code, self._next_batch(code)

    def steps(self, steps: int) -> Iterator[list[tuple[str, np.ndarray]]]:
        """Yield the batches of the next ``steps`` optimiser steps: ``[(code, rows)]`` with one
        drawn task, or with every task in task order under ``round`` sampling."""
        if not self.every_task:
            for batch in self(steps):
                yield [batch]
            return
        for _ in range(steps):
            yield [(code, self._next_batch(code)) for code in self.codes]
