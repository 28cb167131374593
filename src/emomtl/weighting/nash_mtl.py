"""Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022, Alg. 1 and
Eq. 4): weights ``alpha`` solving ``G^T G alpha = 1 / alpha`` (the Nash bargaining solution),
approximated by a sequence of convex programs; the update ``G alpha`` is clipped to norm
``max_norm``. TorchJD's ``NashMTL`` weighting (cvxpy + ECOS, ``optim_niter`` 20, ``max_norm`` 1,
``update_weights_every`` 1 - the paper's defaults), one stateful instance per seed. It reads the
Jacobian only through ``J J^T`` and ``||J^T alpha||``, so it is given the symmetric square root of
each seed's Gramian (same weights). Deviation: Jacobian of the shared layer only (as
``mtl_backward``); TorchJD warns its port of the official code "has some flaws"."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from torch import Tensor

from emomtl.weighting.aggregation import GramianAggregation


class NashMTL(GramianAggregation):
    """Nash-MTL aggregation; hyper-parameters as TorchJD's ``NashMTL``."""

    matrix_input = True
    hyperparameters: ClassVar[Mapping[str, Any]] = {
        "max_norm": 1.0,
        "update_weights_every": 1,
        "optim_niter": 20,
    }

    def make_weighting(self, n_tasks: int, **options: object) -> Callable[[Tensor], Tensor]:
        from torchjd.aggregation import NashMTL as _NashMTL

        aggregator = _NashMTL(n_tasks=n_tasks, **options)  # type: ignore[arg-type]
        return aggregator.weighting
