"""Gradient aggregation (Jacobian descent) for the seed-batched trainer, over TorchJD 0.18.

A gradient aggregator replaces the shared parameters' gradient ``sum_i grad L_i`` by
``A(J)``, a function of the per-task gradients ``J = (grad L_1, ..., grad L_k)`` (a ``k x n``
Jacobian); task-specific parameters get their own task's gradient. This is what TorchJD's
``mtl_backward(losses, features)`` + ``jac_to_grad(shared_params, aggregator)`` does; the
aggregators used here (UPGrad, PCGrad, CAGrad, Aligned-MTL, Nash-MTL) are all *weighted*:
``A(J) = J^T w`` with ``w = weighting(J J^T)`` (Nash-MTL: ``weighting(J)``, which reads ``J`` only
through ``J J^T`` and ``||J^T w||``).

Seed batching: ``mtl_backward`` on the stacked parameters would aggregate one Jacobian over all
seeds (``S k`` rows), mixing seeds (e.g. CAGrad's average gradient, Aligned-MTL's eigenvalues). Here
each seed s is aggregated on its own ``(k, k)`` Gramian with its own TorchJD weighting object
(stateful ones such as Nash-MTL keep per-seed state), exactly as if the seed were trained alone:

1. one backward of ``sum_{s,i} L_{s,i}`` gives the task-specific parameters their task's gradient
   and, by a hook, ``g = dL/dz`` at the shared layer's pre-activation;
2. :func:`~emomtl.weighting.shared_grads.owned_gramian` gives each seed's ``J J^T`` over the
   shared parameters W and b (rows of a batch belong to one task each);
3. the TorchJD weighting gives ``w_s``; :func:`~emomtl.weighting.shared_grads.combine_into`
   writes ``J_s^T w_s`` into ``W.grad`` and ``b.grad``.

A test checks W's and b's gradients against ``torchjd.autojac.mtl_backward`` + ``jac_to_grad`` run
on each seed's unbatched network. Aggregators need every task in every batch (a task without rows
has a zero gradient row); use sampling ``round``, ``balanced`` or ``temperature``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch
from torch import Tensor

from emomtl.weighting.base import SharedLayer, Weighting
from emomtl.weighting.shared_grads import capture_output_grad, combine_into, owned_gramian


class GramianAggregation(Weighting):
    """Base of the aggregators: per-seed TorchJD weightings of the shared layer's Gramian.

    Subclasses implement :meth:`make_weighting` (one call per seed); ``matrix_input`` marks a
    weighting that takes a matrix ``M`` with ``M M^T = J J^T`` instead of the Gramian.

    ``backward`` returns the weights ``w (S, k)`` applied to the per-task gradients.
    """

    task_mean = True
    needs_every_task = True
    matrix_input: ClassVar[bool] = False

    def __init__(self, n_seeds: int, n_tasks: int, **options: object) -> None:
        super().__init__(n_seeds, n_tasks)
        self.options = self.resolve_args(options)  # defaults filled in, names a bad key
        self.weightings = [self.make_weighting(n_tasks, **self.options) for _ in range(n_seeds)]

    @abstractmethod
    def make_weighting(self, n_tasks: int, **options: object) -> Callable[[Tensor], Tensor]:
        """A TorchJD weighting object for one seed."""

    def keep_seeds(self, rows: Tensor) -> None:
        super().keep_seeds(rows)
        self.weightings = [self.weightings[r] for r in rows.tolist()]

    def seed_weights(self, gramian: Tensor) -> Tensor:
        """``(S, k)`` weights, each seed's from its own weighting and ``(k, k)`` Gramian."""
        weights = []
        for weighting, gram in zip(self.weightings, gramian.double(), strict=True):
            stat = _gram_root(gram) if self.matrix_input else gram
            weights.append(weighting(stat).to(torch.float32))
        return torch.stack(weights)

    def backward(self, losses: Tensor, shared: Tensor | SharedLayer, present: Tensor) -> Tensor:
        if not isinstance(shared, SharedLayer):
            raise TypeError(f"{type(self).__name__} needs the trainer's SharedLayer")
        grad = capture_output_grad(shared.output, losses.sum())
        gramian = owned_gramian(grad, shared.inputs, shared.owner, bias=shared.bias is not None)
        weights = self.seed_weights(gramian)
        combine_into(shared.weight, shared.bias, grad, shared.inputs, shared.owner, weights)
        return weights.detach()


def _gram_root(gram: Tensor) -> Tensor:
    """A ``(k, k)`` matrix M with ``M M^T = gram`` (symmetric square root, eigenvalues >= 0)."""
    values, vectors = torch.linalg.eigh(gram)
    return vectors * values.clamp_min(0).sqrt()
