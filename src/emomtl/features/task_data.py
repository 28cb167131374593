"""Per-task tensors for training: frozen-encoder features and targets for every split."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from emomtl.data.tasks import Task


@dataclass
class TaskData:
    """Features and targets of one task, all splits, held in memory as contiguous tensors.

    Attributes:
        task: the task spec.
        features: split name -> (n, d) float32 encoder features.
        targets: split name -> S (n, 11) float32 in {0, 1}; T (n,) int64 class indices;
            E (n, 3) float32 V/A/D on the original 1-5 scale.
        ids: split name -> corpus ids of the rows (same order as the tensors).
    """

    task: Task
    features: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    ids: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for split, x in self.features.items():
            y = self.targets.get(split)
            if y is None:
                raise ValueError(
                    f"task {self.task.code}: split {split!r} has features but no targets"
                )
            if x.ndim != 2 or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"task {self.task.code}, split {split!r}: features {tuple(x.shape)} and "
                    f"targets {tuple(y.shape)} do not describe the same rows"
                )

    @property
    def dim(self) -> int:
        """Feature dimension d."""
        return next(iter(self.features.values())).shape[1]
