"""FAMO (Liu et al., "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023, Alg. 1 / Eq. 5-6):
the network is updated with ``c sum_i z_i log(L_i)``, ``z = softmax(w)``,
``c = (sum_i z_i / L_i)^-1``, so every loss decreases at about the same *relative* rate; after the
step the logits ``w`` take one Adam step (lr 0.025, weight decay 1e-3, the paper's) along
``delta_i = log L_i(before) - log L_i(after)`` on the same batch. TorchJD's
``scalarization.FAMO``, one instance per seed (its softmax runs over all values it is given); the
trainer recomputes the batch's losses after each optimiser step (``after_step``, one extra
forward per step, in eval mode: no dropout).

Deviations, stated: losses are per-task means; a task absent from a batch enters with its last
observed loss as a constant (no gradient, ``delta_i`` = 0). Recorded weights: the factor of each
task's gradient in the update, ``c z_i / L_i``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor

from emomtl.weighting.base import LastLosses, SharedLayer, Weighting


class FAMO(Weighting):
    """FAMO with hyper-parameters ``lr`` and ``weight_decay`` of the logits' Adam."""

    task_mean = True
    needs_after_step = True
    hyperparameters: ClassVar[Mapping[str, Any]] = {"lr": 0.025, "weight_decay": 1e-3}

    def __init__(
        self, n_seeds: int, n_tasks: int, *, lr: float = 0.025, weight_decay: float = 1e-3
    ) -> None:
        super().__init__(n_seeds, n_tasks)
        from torchjd.scalarization import FAMO as _FAMO

        self.scalarizers = [
            _FAMO(n_tasks, lr=lr, weight_decay=weight_decay) for _ in range(n_seeds)
        ]
        self.last = LastLosses(n_seeds, n_tasks)
        self.present: Tensor | None = None

    def parameters(self) -> list[Tensor]:
        return [p for famo in self.scalarizers for p in famo.parameters()]

    def keep_seeds(self, rows: Tensor) -> None:
        super().keep_seeds(rows)
        self.scalarizers = [self.scalarizers[r] for r in rows.tolist()]
        self.last.keep_seeds(rows)

    def backward(self, losses: Tensor, shared: Tensor | SharedLayer, present: Tensor) -> Tensor:
        filled = self.last.fill(losses, present)
        self.present = present
        total = torch.stack([famo(row) for famo, row in zip(self.scalarizers, filled, strict=True)])
        # the weight of task i's gradient: d total / d L_i = c z_i / L_i (c, z are constants)
        (weights,) = torch.autograd.grad(total.sum(), filled, retain_graph=True)
        total.sum().backward()
        return weights

    def after_step(self, recompute: Callable[[], Tensor]) -> None:
        assert self.present is not None
        after = torch.where(self.present, recompute(), self.last.values)
        for famo, row in zip(self.scalarizers, after, strict=True):
            famo.update(row)
