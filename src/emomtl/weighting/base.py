"""The loss-weighting interface shared by every method in :mod:`emomtl.weighting`.

A weighting turns the per-task losses of a batch into the total loss of paper Eq. 1,
``L = sum_i lambda_i L_i``, runs its backward pass and returns the ``lambda`` it applied, so the
trainer can record the trajectory (paper Fig. 3). Everything is batched over seeds: ``losses`` is
``(S, k)`` (seed, task) and each seed's weights depend only on that seed's losses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from torch import Tensor

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.train import TrainConfig


@dataclass
class SharedLayer:
    """One batch through the shared base layer ``z = x W + b`` (then ReLU), batched over seeds.

    Every row of the batch belongs to exactly one task (``owner``; a row's loss is its own
    task's), so the gradient reaching z in the network's one backward pass holds every task's
    part row by row, and ``grad_W L_i = x^T (dL/dz * m_i)``: a weighting gets per-task gradient
    norms w.r.t. W without any extra backward
    (:func:`emomtl.weighting.gradnorm.owned_grad_norms`).

    Attributes:
        weight: ``(S, d, h)`` W, a leaf that receives the network's gradient.
        inputs: ``(S, b, d)`` the batch's features x (constants).
        output: ``(S, b, h)`` the pre-activation z, in the graph of the losses.
        owner: ``(S, b, k)`` float one-hot task of each row.
    """

    weight: Tensor
    inputs: Tensor
    output: Tensor
    owner: Tensor


class Weighting(ABC):
    """Base class of a loss-weighting method.

    Attributes:
        constant: True when the weights never change (their trajectory is not recorded).
    """

    constant: ClassVar[bool] = False

    def __init__(self, n_seeds: int, n_tasks: int) -> None:
        self.n_seeds, self.n_tasks = n_seeds, n_tasks

    @classmethod
    def from_config(cls, config: TrainConfig, *, n_seeds: int, n_tasks: int) -> Weighting:
        """Build the method with its hyper-parameters taken from ``config``."""
        return cls(n_seeds, n_tasks)

    @abstractmethod
    def backward(self, losses: Tensor, shared: Tensor | SharedLayer, present: Tensor) -> Tensor:
        """Backpropagate ``sum_{s,i} lambda_{s,i} L_{s,i}`` into the network.

        Args:
            losses: ``(S, k)`` per-seed, per-task batch losses, attached to the graph.
            shared: the shared base layer: its weight W ``(S, d, h)`` (GradNorm's reference,
                for losses of any form), or a :class:`SharedLayer` with W, the batch's inputs,
                pre-activations and row owners (same W, per-task norms at no extra backward).
            present: ``(S, k)`` bool, whether the task had samples in the seed's batch.

        Returns:
            ``(S, k)`` the weights applied to this batch (detached).
        """

    def parameters(self) -> list[Tensor]:
        """The method's own trainable state, each with a leading seed axis (default: none)."""
        return []

    def keep_seeds(self, rows: Tensor) -> None:
        """Keep only seeds ``rows`` (int64 positions along the seed axis) of every per-seed state;
        the trainer calls it when seeds stop early. Methods with per-seed state extend it."""
        self.n_seeds = len(rows)
