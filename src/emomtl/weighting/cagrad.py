"""CAGrad (Liu et al., "Conflict-Averse Gradient Descent for Multi-task Learning", NeurIPS 2021,
Eq. 2-3): the update maximises the worst task's improvement within a ball of radius
``c ||g_0||`` around the average gradient ``g_0``; ``d = g_0 + (sqrt(phi) / ||g_w||) g_w`` with
``w`` the solution of the dual over the simplex. TorchJD's ``CAGradWeighting`` (cvxpy + Clarabel),
``c`` = 0.4 (the paper's choice for its multi-task benchmarks), per seed. Deviations: Jacobian of
the shared layer only (as ``mtl_backward``); the paper rescales the update by ``1 / (1 + c)``
for some experiments (``rescale``), TorchJD and we do not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from torch import Tensor

from emomtl.weighting.aggregation import GramianAggregation


class CAGrad(GramianAggregation):
    """CAGrad aggregation; hyper-parameter ``c`` (``--weighting-arg c=0.4``)."""

    hyperparameters: ClassVar[Mapping[str, Any]] = {"c": 0.4}

    def make_weighting(self, n_tasks: int, **options: object) -> Callable[[Tensor], Tensor]:
        from torchjd.aggregation import CAGradWeighting

        return CAGradWeighting(c=float(options["c"]))  # type: ignore[arg-type]
