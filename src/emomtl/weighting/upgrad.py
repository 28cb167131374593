"""UPGrad (Quinton & Rey, "Jacobian Descent for Multi-Objective Optimization", 2024, Sec. 3 and
Eq. 5): each task's gradient is projected onto the dual cone of the rows of J
(``{v: J v >= 0}``, so the update conflicts with no task) and the projections are averaged.
TorchJD's ``UPGradWeighting`` (quadprog), defaults; per seed (:mod:`emomtl.weighting.aggregation`).
Deviation: the Jacobian is that of the shared base layer (W and b) only, as in ``mtl_backward``."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from emomtl.weighting.aggregation import GramianAggregation


class UPGrad(GramianAggregation):
    """UPGrad aggregation of the per-task gradients, one seed at a time."""

    def make_weighting(self, n_tasks: int, **options: object) -> Callable[[Tensor], Tensor]:
        from torchjd.aggregation import UPGradWeighting

        return UPGradWeighting()
