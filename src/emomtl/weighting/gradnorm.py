"""GradNorm loss weighting (paper Sec. 3.4; Chen et al., ICML 2018), batched over seeds.

At every batch t, with W the shared base layer's weight and trainable weights ``lambda_i``:

* ``G_i(t) = || grad_W lambda_i(t) L_i(t) ||_2``, ``G_bar(t) = mean_i G_i(t)``
* ``L~_i(t) = L_i(t) / L_i(0)``, ``r_i(t) = L~_i(t) / mean_i L~_i(t)``
* ``L_GN = sum_i | G_i(t) - [G_bar(t) * r_i(t)^alpha] |`` with the bracket a constant;
  ``L_GN`` updates only the lambdas (own Adam, lr 1e-3 as in the paper), then they are
  renormalised so that ``sum_i lambda_i = k`` (number of tasks). ``alpha`` = 1 (paper text).

The network itself is updated with ``sum_i lambda_i(t) L_i(t)``, the weights *before* this step's
GradNorm update (Chen et al., Alg. 1); those are the weights returned and recorded.

Implementation notes and deviations, all stated:

* ``grad_W (lambda_i L_i) = lambda_i grad_W L_i``, so ``G_i = |lambda_i| * ||grad_W L_i||``. We
  compute the unweighted norms once per task without ``create_graph`` and let autograd
  differentiate ``L_GN`` w.r.t. the lambdas only through the ``|lambda_i|`` factor. This is exact
  (no double backward needed) and makes it structural that the network receives no gradient from
  ``L_GN``; a test checks the result against the literal ``create_graph`` formulation.
* Batched over seeds: W is ``(S, d, h)``; ``grad_W sum_s L_{s,i}`` has slice s equal to
  ``grad_{W_s} L_{s,i}`` because seeds do not interact, so one ``autograd.grad`` per task gives
  every seed's norm. Lambdas are ``(S, k)``; each seed's ``L_GN`` touches only its own row.
* A task with no sample in a seed's batch has ``L_i = 0`` (paper: losses scaled by the batch
  share). Its ratio would be 0 and drag ``G_bar`` and ``mean L~`` down, so for that seed and batch
  the task is left out of ``G_bar``, ``mean L~`` and ``L_GN`` (its lambda gets no gradient).
  ``L_i(0)`` is the task's loss at the first batch in which it has samples.
* The lambdas are not clipped at zero (neither paper clips them); ``|lambda_i|`` keeps ``G_i``
  a norm.
* Speed: given a :class:`~emomtl.weighting.base.SharedLayer` (the trainer passes one), there
  is one backward pass per step, the network's own: a hook keeps the gradient at z = x W + b,
  whose rows of task i are ``lambda_i g_i``, and :func:`owned_grad_norms` turns it into ``G_i``
  (``norm_i = G_i / |lambda_i|``) with ``b x b`` Gram matrices instead of a ``d x h`` weight
  gradient per task. Same values up to float round-off as the literal path - one
  ``autograd.grad`` w.r.t. W per task - which is used when only W is given (tested).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from emomtl.model.batched import keep_optimizer_rows, keep_seed_rows
from emomtl.weighting.base import SharedLayer, Weighting

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.train import TrainConfig


class GradNorm(Weighting):
    """GradNorm with per-seed trainable weights ``lambdas (S, k)``, initialised to 1.

    Args:
        n_seeds: S.
        n_tasks: k.
        alpha: restoring-force exponent (paper: 1; the paper's code used 2).
        lr: Adam learning rate of the lambdas (paper: 1e-3).
    """

    def __init__(self, n_seeds: int, n_tasks: int, *, alpha: float = 1.0, lr: float = 1e-3) -> None:
        super().__init__(n_seeds, n_tasks)
        self.alpha = alpha
        self.lambdas = torch.ones(n_seeds, n_tasks, requires_grad=True)
        self.optimizer = torch.optim.Adam([self.lambdas], lr=lr)
        self.initial_losses = torch.full((n_seeds, n_tasks), float("nan"))  # L_i(0)

    @classmethod
    def from_config(cls, config: TrainConfig, *, n_seeds: int, n_tasks: int) -> GradNorm:
        return cls(n_seeds, n_tasks, alpha=config.gradnorm_alpha, lr=config.gradnorm_lr)

    def parameters(self) -> list[Tensor]:
        return [self.lambdas]

    def keep_seeds(self, rows: Tensor) -> None:
        super().keep_seeds(rows)
        keep_seed_rows(self.lambdas, rows)
        keep_optimizer_rows(self.optimizer, rows)
        self.initial_losses = self.initial_losses[rows]

    def grad_norms(self, losses: Tensor, shared: Tensor) -> Tensor:
        """``(S, k)`` unweighted norms ``||grad_W L_{s,i}||_2``, one ``autograd.grad`` w.r.t.
        the shared weight W per task (graph retained for the network's backward)."""
        norms = []
        for i in range(losses.shape[1]):
            (grad,) = torch.autograd.grad(losses[:, i].sum(), shared, retain_graph=True)
            norms.append(grad.flatten(1).norm(dim=1))
        return torch.stack(norms, dim=1)

    def gradnorm_loss(self, norms: Tensor, losses: Tensor, present: Tensor) -> Tensor:
        """``sum_s L_GN(s)`` as a function of :attr:`lambdas` (norms and losses detached)."""
        first = present & torch.isnan(self.initial_losses)
        self.initial_losses[first] = losses[first]
        used = present & ~torch.isnan(self.initial_losses)
        count = used.sum(dim=1, keepdim=True).clamp_min(1)
        ratio = torch.where(used, losses / self.initial_losses.clamp_min(1e-12), 0.0)
        rate = ratio / ((ratio.sum(dim=1, keepdim=True) / count).clamp_min(1e-12))
        g = self.lambdas.abs() * norms  # G_i
        g_bar = (torch.where(used, g.detach(), 0.0).sum(dim=1, keepdim=True)) / count
        target = (g_bar * rate.pow(self.alpha)).detach()
        return torch.where(used, (g - target).abs(), 0.0).sum()

    def backward(self, losses: Tensor, shared: Tensor | SharedLayer, present: Tensor) -> Tensor:
        applied = self.lambdas.detach().clone()
        if isinstance(shared, SharedLayer):
            # One backward: the network's weighted gradient at z gives G_i = |lambda_i| norm_i.
            captured: list[Tensor] = []
            handle = shared.output.register_hook(captured.append)
            (applied * losses).sum().backward()
            handle.remove()
            weighted = owned_grad_norms(captured[0], shared.inputs, shared.owner)
            norms = torch.where(applied != 0, weighted / applied.abs(), 0.0)
            self._update_lambdas(norms, losses.detach(), present)
            return applied
        norms = self.grad_norms(losses, shared).detach()
        self._update_lambdas(norms, losses.detach(), present)
        (applied * losses).sum().backward()
        return applied

    def _update_lambdas(self, norms: Tensor, losses: Tensor, present: Tensor) -> None:
        """One Adam step of the lambdas on ``L_GN``, then renormalise to ``sum_i lambda_i = k``."""
        loss_gn = self.gradnorm_loss(norms, losses, present)
        (self.lambdas.grad,) = torch.autograd.grad(loss_gn, self.lambdas)
        self.optimizer.step()
        with torch.no_grad():
            self.lambdas.mul_(self.n_tasks / self.lambdas.sum(dim=1, keepdim=True))


def owned_grad_norms(grad: Tensor, inputs: Tensor, owner: Tensor) -> Tensor:
    """``(S, k)`` norms ``||x^T (grad * m_i)||_F`` of each task's part of a gradient at z.

    Args:
        grad: ``(S, b, h)`` a gradient w.r.t. the pre-activation z = x W + b in which row j comes
            only from the loss of its own task (rows partition by task).
        inputs: ``(S, b, d)`` the batch's features x.
        owner: ``(S, b, k)`` float one-hot task of each row (``m_i`` its column i).

    With ``H = (x x^T) * (grad grad^T)`` ``(S, b, b)``, task i's squared norm is
    ``m_i^T H m_i``, the sum of H over the pairs of rows that both belong to task i.
    """
    gram = torch.bmm(inputs, inputs.transpose(1, 2)) * torch.bmm(grad, grad.transpose(1, 2))
    squared = (torch.bmm(gram, owner) * owner).sum(dim=1)
    return squared.clamp_min(0).sqrt()
