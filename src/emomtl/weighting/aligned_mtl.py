"""Aligned-MTL (Senushkin et al., "Independent Component Alignment for Multi-Task Learning", CVPR
2023, Alg. 1, Eq. 8-10): with ``J J^T = V Lambda V^T`` the balance transformation
``B = sqrt(lambda_min) V Lambda^{-1/2} V^T`` makes the tasks' gradients orthogonal with equal
norms (condition number 1) and the update is ``J^T B w``, ``w = 1/k`` (the mean). TorchJD's
``AlignedMTLWeighting`` (``scale_mode="min"``, the paper's), per seed. Deviation: Jacobian of the
shared layer only (as ``mtl_backward``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from torch import Tensor

from emomtl.weighting.aggregation import GramianAggregation


class AlignedMTL(GramianAggregation):
    """Aligned-MTL aggregation; ``scale_mode`` min | median | rmse."""

    hyperparameters: ClassVar[Mapping[str, Any]] = {"scale_mode": "min"}

    def make_weighting(self, n_tasks: int, **options: object) -> Callable[[Tensor], Tensor]:
        from torchjd.aggregation import AlignedMTLWeighting

        mode = str(options["scale_mode"])
        if mode not in {"min", "median", "rmse"}:
            raise ValueError(f"aligned_mtl scale_mode {mode!r} is not one of min, median, rmse")
        return AlignedMTLWeighting(scale_mode=mode)  # type: ignore[arg-type]
