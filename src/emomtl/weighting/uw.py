"""Uncertainty weighting (Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh
Losses for Scene Geometry and Semantics", CVPR 2018, Eq. 7 and 10):
``L = sum_i (1 / (2 sigma_i^2)) L_i + log sigma_i`` with learned ``s_i = log sigma_i^2``, i.e.
``sum_i 0.5 exp(-s_i) L_i + 0.5 s_i`` (TorchJD's ``scalarization.UW``). The ``s (S, k)`` are
trained jointly with the network by its optimiser (own param group, no weight decay), initial 0.

Deviations, stated: the paper weights classification losses by ``1 / sigma^2`` (Eq. 10) and
regression by ``1 / (2 sigma^2)``; like TorchJD and LibMTL we use the regression form for every
task. Losses are per-task means; a task absent from a batch enters with its last observed loss
as a constant (:class:`~emomtl.weighting.base.LastLosses`). The weights recorded are
``0.5 exp(-s_i)``. The shape ``(S, k)`` makes TorchJD's sum separable over seeds.
"""

from __future__ import annotations

from torch import Tensor

from emomtl.model.batched import keep_seed_rows
from emomtl.weighting.base import LastLosses, SharedLayer, Weighting


class UncertaintyWeighting(Weighting):
    """Kendall et al. (2018) uncertainty weighting, per seed."""

    task_mean = True

    def __init__(self, n_seeds: int, n_tasks: int) -> None:
        super().__init__(n_seeds, n_tasks)
        from torchjd.scalarization import UW

        self.scalarizer = UW((n_seeds, n_tasks))
        self.last = LastLosses(n_seeds, n_tasks)

    def joint_parameters(self) -> list[Tensor]:
        return [self.scalarizer.log_var]

    def keep_seeds(self, rows: Tensor) -> None:
        super().keep_seeds(rows)
        keep_seed_rows(self.scalarizer.log_var, rows)
        self.last.keep_seeds(rows)

    def backward(self, losses: Tensor, shared: Tensor | SharedLayer, present: Tensor) -> Tensor:
        self.scalarizer(self.last.fill(losses, present)).backward()
        return 0.5 * (-self.scalarizer.log_var.detach()).exp()
