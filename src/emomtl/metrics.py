"""Evaluation metrics: thin glue over scikit-learn and SciPy.

Each task kind has one function taking targets and *activated* outputs (probabilities or values on
the original scale) and returning a flat ``{metric: float}`` dict. Keys and directions are listed in
:data:`HIGHER_IS_BETTER`; the paper's primary metrics are ``jaccard`` (S), ``f1_micro`` (T) and
``pearson_mean`` (E) - see :class:`emomtl.data.tasks.Task.primary_metric`.

Jaccard accuracy (paper, appendix "Metrics"; the appendix prints the fraction upside down)::

    J = 1/|S| * sum_s |G_s ∩ P_s| / |G_s ∪ P_s|

The official SemEval-2018 E-c scorer counts a tweet with no gold and no predicted emotion as 1
(``jaccard``); the paper's code counted it as 0 (``jaccard_paper``). Both are reported.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.stats import ConstantInputWarning, pearsonr
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, root_mean_squared_error

from emomtl.data.tasks import Task

#: Direction of every metric key this module (and the training loop's ``loss``) produces.
HIGHER_IS_BETTER: dict[str, bool] = {
    "jaccard": True,
    "jaccard_paper": True,
    "f1_micro": True,
    "f1_macro": True,
    "accuracy": True,
    "pearson_mean": True,
    "rmse": False,
    "loss": False,
}

#: Decision threshold on sigmoid probabilities for multi-label prediction (paper: rounding).
MULTILABEL_THRESHOLD = 0.5


def _numpy(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return (
            values.detach().cpu().float().numpy()
            if values.is_floating_point()
            else (values.detach().cpu().numpy())
        )
    return np.asarray(values)


def higher_is_better(metric: str) -> bool:
    """Direction of ``metric``; per-dimension keys (``pearson_V``) follow their family."""
    if metric in HIGHER_IS_BETTER:
        return HIGHER_IS_BETTER[metric]
    family = metric.rsplit("_", 1)[0]
    if family in HIGHER_IS_BETTER:
        return HIGHER_IS_BETTER[family]
    if metric.startswith("pearson"):
        return True
    raise KeyError(f"unknown metric {metric!r}")


def multilabel_metrics(
    targets: np.ndarray | torch.Tensor,
    probabilities: np.ndarray | torch.Tensor,
    threshold: float = MULTILABEL_THRESHOLD,
) -> dict[str, float]:
    """Metrics of a multi-label task (S).

    Args:
        targets: (n, L) gold flags in {0, 1}.
        probabilities: (n, L) sigmoid outputs; a label is predicted when ``p >= threshold``.

    Returns:
        ``jaccard`` (official SemEval semantics, empty vs empty = 1), ``jaccard_paper``
        (empty vs empty = 0, as in the paper's code), ``f1_micro``, ``f1_macro``.
    """
    gold = _numpy(targets).astype(np.int64)
    pred = (_numpy(probabilities) >= threshold).astype(np.int64)
    if gold.shape != pred.shape or gold.ndim != 2:
        raise ValueError(f"targets {gold.shape} and outputs {pred.shape} must both be (n, L)")
    return {
        "jaccard": float(jaccard_score(gold, pred, average="samples", zero_division=1.0)),
        "jaccard_paper": float(jaccard_score(gold, pred, average="samples", zero_division=0.0)),
        "f1_micro": float(f1_score(gold, pred, average="micro", zero_division=0.0)),
        "f1_macro": float(f1_score(gold, pred, average="macro", zero_division=0.0)),
    }


def multiclass_metrics(
    targets: np.ndarray | torch.Tensor, scores: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """Metrics of a single-label task (T).

    Args:
        targets: (n,) gold class indices.
        scores: (n, C) probabilities or logits (argmax is taken), or (n,) predicted indices.

    Returns:
        ``f1_micro`` (equals accuracy for single-label data; the paper's "F1"), ``f1_macro``,
        ``accuracy``.
    """
    gold = _numpy(targets).astype(np.int64).reshape(-1)
    scores = _numpy(scores)
    pred = scores.argmax(axis=1) if scores.ndim == 2 else scores.astype(np.int64)
    if gold.shape != pred.shape:
        raise ValueError(f"targets {gold.shape} and predictions {pred.shape} differ in length")
    return {
        "f1_micro": float(f1_score(gold, pred, average="micro", zero_division=0.0)),
        "f1_macro": float(f1_score(gold, pred, average="macro", zero_division=0.0)),
        "accuracy": float(accuracy_score(gold, pred)),
    }


def regression_metrics(
    targets: np.ndarray | torch.Tensor,
    predictions: np.ndarray | torch.Tensor,
    names: tuple[str, ...] = ("V", "A", "D"),
) -> dict[str, float]:
    """Metrics of a multi-output regression task (E).

    Args:
        targets: (n, k) gold values on the original scale.
        predictions: (n, k) predicted values on the same scale.
        names: the k dimension names, used as key suffixes.

    Returns:
        ``pearson_<name>`` per dimension and their mean ``pearson_mean`` (the paper's r),
        ``rmse_<name>`` and ``rmse`` over all dimensions. A constant prediction column has no
        defined correlation: its Pearson r is NaN (and so is the mean).
    """
    gold = _numpy(targets).astype(np.float64)
    pred = _numpy(predictions).astype(np.float64)
    if gold.shape != pred.shape or gold.ndim != 2 or gold.shape[1] != len(names):
        raise ValueError(
            f"targets {gold.shape} and predictions {pred.shape} must both be (n, {len(names)})"
        )
    result: dict[str, float] = {}
    rs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConstantInputWarning)
        for j, name in enumerate(names):
            r = float(pearsonr(gold[:, j], pred[:, j]).statistic)
            result[f"pearson_{name}"] = r
            rs.append(r)
    result["pearson_mean"] = float(np.mean(rs)) if not any(math.isnan(r) for r in rs) else math.nan
    for j, name in enumerate(names):
        result[f"rmse_{name}"] = float(root_mean_squared_error(gold[:, j], pred[:, j]))
    result["rmse"] = float(root_mean_squared_error(gold.reshape(-1), pred.reshape(-1)))
    return result


def task_metrics(
    task: Task, targets: np.ndarray | torch.Tensor, outputs: np.ndarray | torch.Tensor
) -> dict[str, float]:
    """Dispatch on ``task.kind``; ``outputs`` are activated (see the per-kind functions)."""
    if task.kind == "multilabel":
        return multilabel_metrics(targets, outputs)
    if task.kind == "multiclass":
        return multiclass_metrics(targets, outputs)
    if task.kind == "regression":
        return regression_metrics(targets, outputs, names=task.labels)
    raise ValueError(f"task {task.code} has unknown kind {task.kind!r}")
