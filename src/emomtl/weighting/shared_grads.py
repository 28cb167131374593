"""Per-task gradients of the shared base layer, read off one backward pass.

The shared parameters of :class:`~emomtl.model.batched.BatchedMultiTaskNet` are the base layer's
``W (S, d, h)`` and ``b (S, 1, h)``, used only in ``z = x W + b``. Every row of a batch belongs to
one task (``owner``) and a row's loss is its own task's, so with ``g = dL/dz`` of ``L = sum_i L_i``
(one backward) task i's gradient is ``J_i = (x^T (g * m_i), 1^T (g * m_i))`` for ``m_i`` the
owner column. Their Gramian needs no ``d x h`` tensor per task:

    ``(J J^T)_{ij} = m_i^T [((x x^T) + 1 (bias)) * (g g^T)] m_j``         (``b x b`` Gram matrices)

and a combination ``sum_i w_i J_i`` is ``x^T (g * (owner w))``: the gradient of ``sum_i w_i L_i``
w.r.t. W and b. Gradient aggregators (:mod:`emomtl.weighting.aggregation`) use both; each seed's
Gramian is its own ``(k, k)`` block, so seeds are aggregated separately.
"""

from __future__ import annotations

import torch
from torch import Tensor


def owned_gramian(grad: Tensor, inputs: Tensor, owner: Tensor, *, bias: bool = True) -> Tensor:
    """``(S, k, k)`` Gramian of the per-task gradients w.r.t. the shared layer.

    Args:
        grad: ``(S, b, h)`` gradient at z in which row j comes only from its own task's loss.
        inputs: ``(S, b, d)`` the batch's features x.
        owner: ``(S, b, k)`` float one-hot task of each row.
        bias: include the bias b's gradient (``sum`` of the task's rows of ``grad``).
    """
    xx = torch.bmm(inputs, inputs.transpose(1, 2))
    if bias:
        xx = xx + 1.0
    h = xx * torch.bmm(grad, grad.transpose(1, 2))
    gram = torch.bmm(owner.transpose(1, 2), torch.bmm(h, owner))
    return 0.5 * (gram + gram.transpose(1, 2))  # exact symmetry for the solvers


def combine_into(
    weight: Tensor, bias: Tensor | None, grad: Tensor, inputs: Tensor, owner: Tensor, w: Tensor
) -> None:
    """Write ``sum_i w_{s,i} J_{s,i}`` into ``weight.grad`` ``(S, d, h)`` and ``bias.grad``
    ``(S, 1, h)`` (replacing what is there); ``w (S, k)``, other shapes as
    :func:`owned_gramian`."""
    scaled = grad * torch.bmm(owner, w.unsqueeze(-1).to(grad.dtype))
    weight.grad = torch.bmm(inputs.transpose(1, 2), scaled)
    if bias is not None:
        bias.grad = scaled.sum(dim=1, keepdim=True)


def capture_output_grad(output: Tensor, loss: Tensor) -> Tensor:
    """Run ``loss.backward()`` and return the gradient that reached ``output`` (e.g. z)."""
    captured: list[Tensor] = []
    handle = output.register_hook(captured.append)
    try:
        loss.backward()
    finally:
        handle.remove()
    return captured[0]
