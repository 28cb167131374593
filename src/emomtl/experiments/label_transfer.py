"""Label-space transfer with the label-semantic head: zero-shot and few-shot on a held-out space.

Leave-one-space-out (issue 14): a label-head model trained on the other spaces scores the held-out
space's labels from their texts alone (:mod:`emomtl.zero_shot`), and is scored with the space's
own metrics: multilabel ``sigmoid(raw + b0)`` against the 0.5 threshold, multiclass the softmax
argmax, regression the raw scores (Pearson r needs no scale or offset; RMSE is meaningless
zero-shot and is dropped). Few-shot trains on a fraction of the held-out space's training rows
(the task-string grammar, e.g. ``0.01T+S+E``) with either head.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from emomtl.data.tasks import Task
    from emomtl.features.task_data import TaskData
    from emomtl.train import TrainOutput


def zero_shot_metrics(
    output: TrainOutput, held: TaskData, *, split: str = "test"
) -> list[dict[str, float]]:
    """Per seed of ``output`` (a label-head run without ``held``'s space): the held-out space's
    metrics on ``split`` from zero-shot scores of its label texts (``held.label_features``)."""
    from emomtl.metrics import task_metrics
    from emomtl.model import MultiTaskNet
    from emomtl.zero_shot import zero_shot_probabilities, zero_shot_raw

    task = held.task
    if task.code in output.task_codes:
        raise ValueError(f"space {task.code} was trained on; it is not held out")
    if held.label_features is None:
        raise ValueError(f"held-out space {task.code} has no label features")
    hidden = int(output.config.hidden_dim)
    features, targets = held.features[split], held.targets[split]
    results = []
    for seed in output.seeds:
        net = MultiTaskNet(output.input_dim, output.task_codes, "label", hidden).eval()
        net.load_state_dict(seed.state_dict)
        if task.kind == "regression":
            scores = zero_shot_raw(net, features, held.label_features)
            metrics = task_metrics(task, targets, scores)
            metrics = {k: v for k, v in metrics.items() if not k.startswith("rmse")}
        else:
            probs = zero_shot_probabilities(net, features, held.label_features, task.kind)
            metrics = task_metrics(task, targets, probs)
        results.append(metrics)
    return results


def constant_baseline(
    task: Task, train_targets: torch.Tensor, test_targets: torch.Tensor
) -> dict[str, Any]:
    """The best *constant* prediction, chosen on the training targets, scored on the test targets:
    the majority class (multiclass), the label set built greedily (add the label that most raises
    the training primary metric, while it rises) for multilabel; regression has none (a constant
    has no Pearson r), so ``{}``. The floor a zero-shot score has to clear."""
    import torch

    from emomtl.metrics import task_metrics

    if task.kind == "regression":
        return {}
    n_test = len(test_targets)
    if task.kind == "multiclass":
        majority = int(torch.bincount(torch.as_tensor(train_targets)).argmax())
        scores = torch.zeros(n_test, task.num_labels)
        scores[:, majority] = 1.0
        return task_metrics(task, test_targets, scores)
    sign = 1.0 if task.higher_is_better else -1.0

    def score(chosen: list[int], targets: torch.Tensor) -> float:
        flags = torch.zeros(len(targets), task.num_labels)
        flags[:, chosen] = 1.0
        return sign * task_metrics(task, targets, flags)[task.primary_metric]

    chosen: list[int] = []
    best = score(chosen, train_targets)
    while True:
        options = [j for j in range(task.num_labels) if j not in chosen]
        trials = {j: score([*chosen, j], train_targets) for j in options}
        if not trials or max(trials.values()) <= best:
            break
        j = max(trials, key=trials.__getitem__)
        chosen, best = [*chosen, j], trials[j]
    flags = torch.zeros(n_test, task.num_labels)
    flags[:, chosen] = 1.0
    result: dict[str, Any] = task_metrics(task, test_targets, flags)
    result["labels"] = [task.labels[j] for j in chosen]
    return result
