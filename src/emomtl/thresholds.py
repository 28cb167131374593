"""Per-label decision thresholds for multi-label spaces, tuned on the dev split (optional).

One rule everywhere: a label is predicted when its probability ``p >= t``, with ``t`` = 0.5
(:data:`emomtl.metrics.MULTILABEL_THRESHOLD`) unless a bundle stores tuned per-label thresholds.
Tuning (as GoEmotions' paper does, Demszky et al. 2020, Sec. 5): for each label independently, the
``t`` of :data:`GRID` that maximises that label's F1 on dev (sklearn ``f1_score``; ties go to the
``t`` closest to 0.5, so a label without signal keeps 0.5). Generic over ``Task.kind``: only
``multilabel`` spaces get thresholds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from emomtl.metrics import MULTILABEL_THRESHOLD

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.features.task_data import TaskData
    from emomtl.train import TrainOutput

#: Candidate thresholds: 0.05, 0.10, ..., 0.95.
GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(1, 20))


def tune_thresholds(
    targets: np.ndarray | torch.Tensor,
    probabilities: np.ndarray | torch.Tensor,
    grid: Sequence[float] = GRID,
) -> list[float]:
    """Per-label thresholds maximising each label's F1 (``p >= t``).

    Args:
        targets: ``(n, L)`` gold flags in {0, 1}.
        probabilities: ``(n, L)`` predicted probabilities.
        grid: candidate thresholds.

    Returns:
        ``L`` thresholds from ``grid``.
    """
    from sklearn.metrics import f1_score

    gold = np.asarray(targets, dtype=np.int64)
    probs = np.asarray(probabilities, dtype=np.float64)
    if gold.shape != probs.shape or gold.ndim != 2:
        raise ValueError(f"targets {gold.shape} and probabilities {probs.shape} must be (n, L)")
    order = sorted(grid, key=lambda t: (abs(t - MULTILABEL_THRESHOLD), t))
    chosen = []
    for j in range(gold.shape[1]):
        scores = [
            f1_score(gold[:, j], (probs[:, j] >= t).astype(np.int64), zero_division=0.0)
            for t in order
        ]
        chosen.append(float(order[int(np.argmax(scores))]))  # first max = closest to 0.5
    return chosen


def tune_from_output(
    output: TrainOutput, data: Mapping[str, TaskData], seed_index: int
) -> dict[str, list[float]]:
    """Dev-tuned thresholds of every multilabel task of one seed of a training run (the seed's
    state at its best summed dev loss, as a bundle saves it): ``{code: [t per label]}``."""
    from emomtl.data.tasks import TASKS
    from emomtl.model import MultiTaskNet

    result = output.seeds[seed_index]
    config = output.config
    tasks = [TASKS[code] for code in output.task_codes]
    net = MultiTaskNet(output.input_dim, tasks, config.head, config.hidden_dim, config.dropout)
    net.load_state_dict(result.state_dict)
    net.eval()
    thresholds = {}
    for task in tasks:
        if task.kind != "multilabel":
            continue
        with torch.no_grad():
            probs = net.activate(net(data[task.code].features["dev"]))[task.code]
        thresholds[task.code] = tune_thresholds(data[task.code].targets["dev"], probs)
    return thresholds
