"""GradNorm on per-task mean losses: a variant of :mod:`emomtl.weighting.gradnorm` that is sound
when the tasks' datasets differ in size (issue 12). Chen et al. (ICML 2018) Eq. 1-2, with
``alpha`` (default 1) and the lambdas' own Adam (lr 1e-3) as in the paper-faithful version:

* ``G_i(t) = || grad_{W,b} lambda_i(t) L_i(t) ||_2``, ``G_bar(t) = mean_i G_i(t)``
* ``L~_i(t) = L_i(t) / L_i(0)``, ``r_i(t) = L~_i(t) / mean_i L~_i(t)``
* ``L_GN = sum_i | G_i(t) - [G_bar(t) r_i(t)^alpha] |`` (bracket constant), one Adam step on the
  lambdas, then ``lambda_i <- max(lambda_i, 0)`` and renormalise to ``sum_i lambda_i = k``.

How it differs from the paper's GradNorm (``gradnorm``, the reproduction's default), each a choice
made for disparate datasets:

1. ``L_i`` is task i's **mean** loss over its rows of the batch (trainer: ``task_mean``), not the
   paper's sum / batch size (mean times the task's share of the batch). Under proportional
   sampling at 0.1S the share of S moves by row-count noise from batch to batch, and so do the
   paper's ``L_i``, ``r_i`` and ``G_i``.
2. ``L_i(0)`` is the **average of the first** ``initial_batches`` (default 10) batches in which
   task i has rows, not one batch; the lambdas are first updated once every task of the seed has
   its ``L_i(0)`` (the network trains with the current lambdas, initially 1, meanwhile).
3. ``lambda_i >= 0``: clamped after every step (the paper's lambdas are never clamped and can go
   negative, which turns a task's loss into a reward).
4. ``G_i`` includes the shared layer's **bias** b besides W (both are the shared parameters).

The per-task norms come from one extra backward through the heads only
(``autograd.grad(sum L, z)``), because the weighted network gradient cannot give ``G_i`` once a
lambda is 0; rows belong to one task each, so :func:`~emomtl.weighting.shared_grads.owned_gramian`
gives every ``||grad_{W,b} L_i||`` of every seed. Tested against a hand computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from emomtl.model.batched import keep_optimizer_rows, keep_seed_rows
from emomtl.weighting.base import SharedLayer, Weighting
from emomtl.weighting.shared_grads import owned_gramian


class GradNormMean(Weighting):
    """GradNorm variant with per-seed lambdas ``(S, k)`` initialised to 1."""

    task_mean = True
    hyperparameters: ClassVar[Mapping[str, Any]] = {"alpha": 1.0, "lr": 1e-3, "initial_batches": 10}

    def __init__(
        self,
        n_seeds: int,
        n_tasks: int,
        *,
        alpha: float = 1.0,
        lr: float = 1e-3,
        initial_batches: int = 10,
    ) -> None:
        super().__init__(n_seeds, n_tasks)
        if alpha < 0 or lr <= 0 or initial_batches < 1:
            raise ValueError(
                f"gradnorm_mean needs alpha >= 0, lr > 0, initial_batches >= 1; got {alpha}, "
                f"{lr}, {initial_batches}"
            )
        self.alpha, self.initial_batches = alpha, initial_batches
        self.lambdas = torch.ones(n_seeds, n_tasks, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.lambdas], lr=lr)
        self.initial_sum = torch.zeros(n_seeds, n_tasks)
        self.initial_count = torch.zeros(n_seeds, n_tasks)

    def parameters(self) -> list[Tensor]:
        return [self.lambdas]

    def keep_seeds(self, rows: Tensor) -> None:
        super().keep_seeds(rows)
        keep_seed_rows(self.lambdas, rows)
        keep_optimizer_rows(self.optimizer, rows)
        self.initial_sum, self.initial_count = self.initial_sum[rows], self.initial_count[rows]

    def gradnorm_loss(self, norms: Tensor, losses: Tensor, present: Tensor) -> Tensor:
        """``sum_s L_GN(s)`` as a function of :attr:`lambdas`; ``norms (S, k)`` are the unweighted
        ``||grad_{W,b} L_i||``, ``losses (S, k)`` detached. Also accumulates ``L_i(0)``."""
        collecting = present & (self.initial_count < self.initial_batches)
        self.initial_sum += torch.where(collecting, losses, 0.0)
        self.initial_count += collecting.float()
        ready = (self.initial_count >= self.initial_batches).all(dim=1, keepdim=True)
        used = present & ready
        count = used.sum(dim=1, keepdim=True).clamp_min(1)
        initial = self.initial_sum / self.initial_count.clamp_min(1)
        ratio = torch.where(used, losses / initial.clamp_min(1e-12), 0.0)
        rate = ratio / (ratio.sum(dim=1, keepdim=True) / count).clamp_min(1e-12)
        g = self.lambdas * norms  # lambdas >= 0, so G_i
        g_bar = torch.where(used, g.detach(), 0.0).sum(dim=1, keepdim=True) / count
        target = (g_bar * rate.pow(self.alpha)).detach()
        return torch.where(used, (g - target).abs(), 0.0).sum()

    def backward(self, losses: Tensor, shared: Tensor | SharedLayer, present: Tensor) -> Tensor:
        if not isinstance(shared, SharedLayer):
            raise TypeError("gradnorm_mean needs the trainer's SharedLayer")
        applied = self.lambdas.detach().clone()
        (grad,) = torch.autograd.grad(losses.sum(), shared.output, retain_graph=True)
        gram = owned_gramian(grad, shared.inputs, shared.owner, bias=shared.bias is not None)
        norms = torch.diagonal(gram, dim1=1, dim2=2).clamp_min(0).sqrt()
        (applied * losses).sum().backward()
        loss_gn = self.gradnorm_loss(norms, losses.detach(), present)
        (self.lambdas.grad,) = torch.autograd.grad(loss_gn, self.lambdas)
        self.optimizer.step()
        with torch.no_grad():
            self.lambdas.clamp_(min=0.0)
            total = self.lambdas.sum(dim=1, keepdim=True)
            self.lambdas.copy_(
                torch.where(total > 0, self.lambdas * self.n_tasks / total, torch.ones_like(total))
            )
        return applied
