"""The loss-weighting interface shared by every method in :mod:`emomtl.weighting`.

A weighting turns the per-task losses of a batch into the total loss of paper Eq. 1,
``L = sum_i lambda_i L_i``, runs its backward pass and returns the ``lambda`` it applied, so the
trainer can record the trajectory (paper Fig. 3). Everything is batched over seeds: ``losses`` is
``(S, k)`` (seed, task) and each seed's weights depend only on that seed's losses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
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
        bias: ``(S, 1, h)`` b, the layer's other shared parameter (the trainer always passes it;
            ``None`` only in tests of W-only methods).
    """

    weight: Tensor
    inputs: Tensor
    output: Tensor
    owner: Tensor
    bias: Tensor | None = None


class Weighting(ABC):
    """Base class of a loss-weighting method.

    Attributes:
        constant: True when the weights never change (their trajectory is not recorded).
        hyperparameters: the method's ``--weighting-arg key=value`` names and their defaults
            (``TrainConfig.weighting_args`` may set only these; values are cast to the default's
            type). :meth:`from_config` passes them to ``__init__`` as keyword arguments.
        task_mean: the trainer passes ``L_i`` as task i's *mean* loss over its rows of the batch
            (0 when it has none) instead of the paper's ``sum / batch size`` (Sec. 4).
        needs_every_task: the method needs every task in every batch (gradient aggregators):
            only samplers that guarantee it may be used (``round``, ``balanced``,
            ``temperature``; :data:`emomtl.sampling.EVERY_TASK_SAMPLERS`).
        needs_after_step: :meth:`after_step` wants the batch's losses recomputed after the
            optimiser step (FAMO).
    """

    constant: ClassVar[bool] = False
    hyperparameters: ClassVar[Mapping[str, Any]] = {}
    task_mean: ClassVar[bool] = False
    needs_every_task: ClassVar[bool] = False
    needs_after_step: ClassVar[bool] = False

    def __init__(self, n_seeds: int, n_tasks: int) -> None:
        self.n_seeds, self.n_tasks = n_seeds, n_tasks

    @classmethod
    def from_config(cls, config: TrainConfig, *, n_seeds: int, n_tasks: int) -> Weighting:
        """Build the method with its hyper-parameters taken from ``config.weighting_args``."""
        args = getattr(config, "weighting_args", {})  # configs of older train.py have none
        return cls(n_seeds, n_tasks, **cls.resolve_args(args))

    @classmethod
    def resolve_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        """``hyperparameters`` overridden by ``args``, each cast to its default's type.

        Raises:
            ValueError: naming an unknown key or a value that does not convert.
        """
        unknown = set(args) - set(cls.hyperparameters)
        if unknown:
            known = sorted(cls.hyperparameters) or "none"
            raise ValueError(
                f"weighting {cls.__name__} has no hyper-parameter {sorted(unknown)}; known: {known}"
            )
        resolved = dict(cls.hyperparameters)
        for key, value in args.items():
            kind = type(cls.hyperparameters[key])
            try:
                resolved[key] = _cast(kind, value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"weighting arg {key}={value!r} is not a {kind.__name__}") from exc
        return resolved

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

    def joint_parameters(self) -> list[Tensor]:
        """Parameters the trainer adds to the *network's* optimiser (its own param group, no
        weight decay), each with a leading seed axis, e.g. UW's log-variances (default: none).
        Methods with their own optimiser (GradNorm, FAMO) return them from :meth:`parameters`
        only."""
        return []

    def after_step(self, recompute: Callable[[], Tensor]) -> None:
        """Called after every optimiser step when :attr:`needs_after_step`; ``recompute()``
        returns the same batch's losses ``(S, k)`` under the updated network (no graph)."""
        return None

    def end_epoch(self) -> None:
        """Called once at the end of every training epoch (DWA's epoch history)."""
        return None

    def keep_seeds(self, rows: Tensor) -> None:
        """Keep only seeds ``rows`` (int64 positions along the seed axis) of every per-seed state;
        the trainer calls it when seeds stop early. Methods with per-seed state extend it."""
        self.n_seeds = len(rows)


def _cast(kind: type, value: Any) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() not in {"true", "false", "1", "0"}:
            raise ValueError(value)
        return value.lower() in {"true", "1"}
    if kind is int and isinstance(value, float) and not value.is_integer():
        raise ValueError(value)
    return kind(value)


class LastLosses:
    """The last observed loss of every (seed, task), for methods that need a value of every task
    at every step (UW, DWA, FAMO): a task absent from a seed's batch (proportional sampling) is
    given its last observed loss as a constant, so it adds no gradient to the network and
    no spurious 0 to the method's statistics (1 before the task was ever seen)."""

    def __init__(self, n_seeds: int, n_tasks: int) -> None:
        self.values = torch.ones(n_seeds, n_tasks)

    def fill(self, losses: Tensor, present: Tensor) -> Tensor:
        """``losses (S, k)`` with absent entries replaced; remembers the present ones."""
        self.values = torch.where(present, losses.detach(), self.values)
        return torch.where(present, losses, self.values)

    def keep_seeds(self, rows: Tensor) -> None:
        self.values = self.values[rows]
