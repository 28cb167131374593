"""Equal weighting: ``lambda_i = 1`` for every task (paper Eq. 1, the default)."""

from __future__ import annotations

import torch
from torch import Tensor

from emomtl.weighting.base import SharedLayer, Weighting


class EqualWeighting(Weighting):
    """``L = sum_i L_i`` (paper Sec. 3.2, Eq. 1 with all ``lambda_i = 1``)."""

    constant = True

    def backward(self, losses: Tensor, shared: Tensor | SharedLayer, present: Tensor) -> Tensor:
        losses.sum().backward()
        return torch.ones_like(losses, requires_grad=False)
