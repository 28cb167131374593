"""Dynamic Weight Average (Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention",
CVPR 2019, Eq. 7): ``lambda_k(t) = K exp(w_k(t-1) / T) / sum_i exp(w_i(t-1) / T)`` with
``w_k(t-1) = L_k(t-1) / L_k(t-2)``, ``L_k`` task k's loss averaged over an epoch, ``T`` = 2 (the
paper's), uniform weights in the first two epochs. TorchJD's ``scalarization.DWA``, one instance
per seed (its softmax runs over all values it is given, so a shared ``(S, k)`` instance would mix
seeds); the trainer's end-of-epoch hook (:meth:`end_epoch`) rolls each seed's history. Recorded
weights: ``lambda_k``.

Deviations, stated: losses are per-task means of the batch (the paper's are the full per-task
training losses); a task absent from a batch enters with its last observed loss
(:class:`~emomtl.weighting.base.LastLosses`), so the epoch averages are over every step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from emomtl.weighting.base import LastLosses, SharedLayer, Weighting


class DynamicWeightAverage(Weighting):
    """DWA with temperature ``T`` (``--weighting-arg temperature=2``)."""

    task_mean = True
    hyperparameters: ClassVar[Mapping[str, Any]] = {"temperature": 2.0}

    def __init__(self, n_seeds: int, n_tasks: int, *, temperature: float = 2.0) -> None:
        super().__init__(n_seeds, n_tasks)
        from torchjd.scalarization import DWA

        self.scalarizers = [DWA(temperature=temperature) for _ in range(n_seeds)]
        self.last = LastLosses(n_seeds, n_tasks)

    def keep_seeds(self, rows: Tensor) -> None:
        super().keep_seeds(rows)
        self.scalarizers = [self.scalarizers[r] for r in rows.tolist()]
        self.last.keep_seeds(rows)

    def end_epoch(self) -> None:
        for scalarizer in self.scalarizers:
            scalarizer.step()

    def backward(self, losses: Tensor, shared: Tensor | SharedLayer, present: Tensor) -> Tensor:
        filled = self.last.fill(losses, present)
        total = torch.stack([dwa(row) for dwa, row in zip(self.scalarizers, filled, strict=True)])
        # the weights lambda_k are d total / d L_k (DWA's weights carry no gradient)
        (weights,) = torch.autograd.grad(total.sum(), filled, retain_graph=True)
        total.sum().backward()
        return weights
