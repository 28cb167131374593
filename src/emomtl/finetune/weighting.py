"""Loss weighting and gradient aggregation when the encoder is fine-tuned.

The methods are the frozen-feature trainer's (:data:`emomtl.weighting.WEIGHTINGS`, one seed
here), applied to the step's per-task mean losses ``L = (L_1 .. L_k)``:

* **loss weightings** (``equal``, ``uw``, ``dwa``, ``famo``) backpropagate their scalarisation of
  ``L``; with one-task steps the other tasks enter with their last observed loss as constants
  (:class:`emomtl.weighting.base.LastLosses`), so any sampling works. DWA's epoch ends every
  ``steps_per_epoch`` steps; FAMO sees the step's losses again after the optimiser step.
* **gradient aggregators** (``pcgrad``, ``cagrad``, ``nash_mtl``, ``upgrad``, ``aligned_mtl``)
  need one batch of every task in every step (``--sampling round``). The shared parameters are
  the whole encoder and the shared layer, so their Jacobian ``J`` ``(k, n)`` comes from TorchJD::

      q_i = ReLU(W pool(encoder(batch_i)) + b)                 the last shared representation
      mtl_backward([L_1 .. L_k], features=[q_1 .. q_k])        J into .jac; heads get grad L_i
      jac_to_grad(shared params, A)                            grad = A(J) = J^T w(J J^T)

  with ``A`` TorchJD's aggregator built on the method's own weighting
  (``GramianWeightedAggregator``; ``WeightedAggregator`` for Nash-MTL, which reads ``J``).
  Each Jacobian row costs one backward pass through the encoder (``parallel_chunk_size=1``:
  sequential, so memory stays that of one backward).

GradNorm (both variants) needs the frozen trainer's batched shared layer and is refused here, as
are aggregators with the label-semantic head (its projection is shared *after* ``q``) and any
non-equal method under fp16 CUDA autocast (loss scaling would change what the methods see).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from emomtl.weighting import WEIGHTINGS, GramianAggregation, Weighting

#: The frozen trainer's methods that need its seed-batched shared layer (``SharedLayer``).
SHARED_LAYER_METHODS: tuple[str, ...] = ("gradnorm", "gradnorm_mean")
#: Methods available when fine-tuning.
FINETUNE_METHODS: tuple[str, ...] = tuple(m for m in WEIGHTINGS if m not in SHARED_LAYER_METHODS)


def is_aggregator(method: str) -> bool:
    """Whether ``method`` aggregates per-task gradients (and so needs every task per step)."""
    return issubclass(WEIGHTINGS[method], GramianAggregation)


def check_method(
    method: str, args: Mapping[str, Any], *, sampling: str, head: str
) -> dict[str, Any]:
    """Validate a fine-tuning method and its ``--weighting-arg`` values.

    Returns:
        the method's hyper-parameters with defaults filled in.

    Raises:
        ValueError: an unknown or unavailable method (naming the reason), a bad argument, an
            aggregator without ``round`` sampling or with the label head.
    """
    if method in SHARED_LAYER_METHODS:
        raise ValueError(
            f"weighting {method!r} needs the frozen trainer's batched shared layer; with "
            f"--finetune use one of {', '.join(FINETUNE_METHODS)}"
        )
    if method not in WEIGHTINGS:
        raise ValueError(f"weighting {method!r} is not one of {', '.join(FINETUNE_METHODS)}")
    resolved = WEIGHTINGS[method].resolve_args(dict(args))
    if is_aggregator(method):
        if sampling != "round":
            raise ValueError(
                f"weighting {method!r} aggregates one gradient per task, so every step needs "
                f"every task: use --sampling round with --finetune (got {sampling!r})"
            )
        if head != "mh":
            raise ValueError(
                f"weighting {method!r} needs the mh head when fine-tuning (the label head's "
                "projection is shared after the last shared representation)"
            )
    return resolved


def build(method: str, args: Mapping[str, Any], n_tasks: int) -> Weighting:
    """One seed's weighting object (:data:`emomtl.weighting.WEIGHTINGS`)."""
    cls = WEIGHTINGS[method]
    return cls(1, n_tasks, **cls.resolve_args(dict(args)))


def torchjd_aggregator(weighting: GramianAggregation) -> Any:
    """TorchJD's aggregator over the method's own (single-seed) TorchJD weighting."""
    from torchjd.aggregation import GramianWeightedAggregator, WeightedAggregator

    (inner,) = weighting.weightings
    if weighting.matrix_input:
        return WeightedAggregator(inner)
    return GramianWeightedAggregator(inner)


class StepBackward:
    """Backpropagates one fine-tuning step's losses with a method; returns the weights applied.

    Args:
        method: a name of :data:`FINETUNE_METHODS`.
        args: its hyper-parameters.
        codes: the step's task codes, in the order of ``losses`` (every task of the setting).
        shared_params: the encoder's and the shared layer's trainable parameters (those the
            features do not depend on, e.g. an unused pooler, are left alone). Each head's
            parameters are found by TorchJD in its task's graph and get that task's gradient.
    """

    def __init__(
        self,
        method: str,
        args: Mapping[str, Any],
        codes: Sequence[str],
        shared_params: Sequence[nn.Parameter],
    ) -> None:
        self.method, self.codes = method, list(codes)
        self.weighting = build(method, args, len(self.codes))
        self.aggregator = (
            torchjd_aggregator(self.weighting)
            if isinstance(self.weighting, GramianAggregation)
            else None
        )
        self.shared_params = list(shared_params)
        #: True when the step is one task's plain loss (equal weights, one-task sampling): the
        #: loop then backpropagates it itself, as before any method existed.
        self.plain = False

    @classmethod
    def for_model(cls, config: Any, model: nn.Module, *, every_task: bool) -> StepBackward:
        """The method of a :class:`~emomtl.finetune.config.FinetuneConfig` for a
        :class:`~emomtl.finetune.model.FinetuneModel`: shared = encoder + shared layer (what
        an aggregator combines; the heads keep their own task's gradient)."""
        head = model.head
        shared = [p for p in model.encoder.parameters() if p.requires_grad]
        shared += [p for p in head.base.parameters() if p.requires_grad]
        method = cls(config.weighting_method, config.weighting_args, head.codes, shared)
        method.plain = config.weighting_method == "equal" and not every_task
        return method

    def joint_parameters(self) -> list[Tensor]:
        """Parameters to train with the network (UW's log-variances), as ``(k,)`` tensors."""
        return self.weighting.joint_parameters()

    def backward(self, losses: Mapping[str, Tensor], features: Mapping[str, Tensor]) -> Tensor:
        """Backpropagate the step.

        Args:
            losses: code -> the task's mean loss on its batch (scalar, in the graph), for the
                tasks present in this step.
            features: code -> the shared layer's output ``q`` ``(b_i, h)`` of that task's batch
                (aggregators only).

        Returns:
            ``(k,)`` the weights the method applied (1 for equal weighting).
        """
        if self.aggregator is not None:
            return self._aggregate(losses, features)
        present = torch.tensor([[c in losses for c in self.codes]])
        zero = next(iter(losses.values())).new_zeros(())
        stacked = torch.stack([losses.get(c, zero) for c in self.codes]).unsqueeze(0)
        return self.weighting.backward(stacked, None, present)[0]  # type: ignore[arg-type]

    def _aggregate(self, losses: Mapping[str, Tensor], features: Mapping[str, Tensor]) -> Tensor:
        from torchjd.autojac import jac_to_grad, mtl_backward

        missing = [c for c in self.codes if c not in losses]
        if missing:
            raise ValueError(f"{self.method} needs every task in every step; missing {missing}")
        mtl_backward(  # TorchJD finds the shared and task parameters in the graph
            [losses[c] for c in self.codes],
            features=[features[c] for c in self.codes],
            parallel_chunk_size=1,
        )
        used = [p for p in self.shared_params if getattr(p, "jac", None) is not None]
        captured: list[Tensor] = []
        hook = self.aggregator.weighting.register_forward_hook(
            lambda _module, _inputs, output: captured.append(output.detach())
        )
        try:
            jac_to_grad(used, self.aggregator)
        finally:
            hook.remove()
        return captured[-1].reshape(-1).float() if captured else torch.ones(len(self.codes))

    def after_step(self, recompute: Callable[[], Mapping[str, Tensor]]) -> None:
        """FAMO: the step's losses again, under the updated weights (no graph)."""
        if not self.weighting.needs_after_step:
            return

        def stacked() -> Tensor:
            values = recompute()
            last = self.weighting.last.values[0]  # type: ignore[attr-defined]
            return torch.stack(
                [values[c] if c in values else last[i] for i, c in enumerate(self.codes)]
            ).unsqueeze(0)

        self.weighting.after_step(stacked)

    def end_epoch(self) -> None:
        """DWA: an epoch of the fine-tuning schedule ended."""
        self.weighting.end_epoch()
