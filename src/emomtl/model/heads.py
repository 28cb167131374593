"""Per-task output layout, activations and losses (paper Sec. 3.2-3.3).

Every network in :mod:`emomtl.model` produces one row of raw outputs per sample whose columns are
the tasks' label spaces laid out in canonical task order (S, T, E; only the tasks of the setting).
This module holds what depends on the task kind:

============  ===========  =====================================  ==============================
kind          width l_i    activation (paper Sec. 3.2)            loss
============  ===========  =====================================  ==============================
multilabel    11 (S)       ``sigmoid``                            BCE with logits, mean over l_i
multiclass    5 (T)        ``softmax``                            cross-entropy
regression    3 (E)        identity, then ``z * std + mean``      MSE on standardised targets
============  ===========  =====================================  ==============================

Deviation from the paper: the regression head is trained on targets standardised with the
training-set mean and standard deviation (population sd, ddof 0); :func:`activate` maps its outputs
back to the original 1-5 scale, so every reported number (Pearson r, RMSE) is on that scale. The
paper regressed the raw values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from emomtl.data.tasks import TASKS, Task, get_task


def resolve_tasks(tasks: Iterable[Task | str]) -> list[Task]:
    """Tasks (or codes / names) without repeats, in canonical registry order (``S, T, E, G``,
    then cards); :class:`Task` values that are not registered (a bundle's self-described spaces)
    keep their given order after the registered ones."""
    resolved: dict[str, Task] = {}
    for item in tasks:
        task = item if isinstance(item, Task) else get_task(item)
        resolved.setdefault(task.code, task)
    if not resolved:
        raise ValueError("a network needs at least one task")
    registered = [code for code in TASKS if code in resolved]
    rest = [code for code in resolved if code not in registered]
    return [resolved[code] for code in (*registered, *rest)]


def output_slices(tasks: Sequence[Task]) -> dict[str, slice]:
    """Columns of each task in the joined output: S+T+E -> S [0:11], T [11:16], E [16:19].

    With fewer tasks only their slices exist, in the same order (e.g. S+E -> S [0:11], E [11:14]).
    """
    slices, start = {}, 0
    for task in tasks:
        slices[task.code] = slice(start, start + task.num_labels)
        start += task.num_labels
    return slices


def activate(
    task: Task, raw: Tensor, mean: Tensor | None = None, std: Tensor | None = None
) -> Tensor:
    """Map raw outputs ``(..., l_i)`` to the task's prediction space.

    multilabel: sigmoid probabilities; multiclass: softmax probabilities over the last axis;
    regression: ``raw * std + mean`` (the original scale), ``mean``/``std`` broadcast over ``raw``.
    """
    if task.kind == "multilabel":
        return torch.sigmoid(raw)
    if task.kind == "multiclass":
        return torch.softmax(raw, dim=-1)
    if mean is None or std is None:
        raise ValueError(f"task {task.code}: regression outputs need the target mean and std")
    return raw * std + mean


def per_sample_loss(task: Task, raw: Tensor, target: Tensor) -> Tensor:
    """Unreduced loss of every sample.

    Args:
        task: decides the loss.
        raw: ``(..., l_i)`` raw outputs (logits, or standardised values for regression).
        target: multilabel ``(..., l_i)`` in {0, 1}; multiclass ``(...)`` int64 class indices;
            regression ``(..., l_i)`` *standardised* targets.

    Returns:
        ``(...)`` loss per sample: the mean over labels of BCE-with-logits (so the batch mean equals
        ``nn.BCEWithLogitsLoss()``), cross-entropy, or the mean over dimensions of the squared error
        (batch mean equals ``nn.MSELoss()``).
    """
    if task.kind == "multilabel":
        return F.binary_cross_entropy_with_logits(raw, target, reduction="none").mean(-1)
    if task.kind == "multiclass":
        flat = F.cross_entropy(raw.reshape(-1, raw.shape[-1]), target.reshape(-1), reduction="none")
        return flat.reshape(target.shape)
    return (raw - target).pow(2).mean(-1)
