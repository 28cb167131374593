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
    from emomtl.model.network import MultiTaskNet
    from emomtl.train import TrainOutput


def zero_shot_metrics(
    output: TrainOutput, held: TaskData, *, split: str = "test"
) -> list[dict[str, float]]:
    """Per seed of ``output`` (a label-head run without ``held``'s space): the held-out space's
    metrics on ``split`` from zero-shot scores of its label texts (``held.label_features``)."""
    from emomtl.model import MultiTaskNet

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
        results.append(held_out_metrics(net, task, features, targets, held.label_features))
    return results


def held_out_metrics(
    net: MultiTaskNet,
    task: Task,
    features: torch.Tensor,
    targets: torch.Tensor,
    label_features: torch.Tensor,
) -> dict[str, float]:
    """The metrics of space ``task``, never trained on, scored zero-shot by the label-head
    network ``net``: texts ``features (n, d)`` and the space's label texts ``label_features
    (l, d)`` (encoder features, as the network's own encoder gives them), against ``targets``.

    Multilabel ``sigmoid(raw + b0)`` against the 0.5 threshold, multiclass the softmax argmax,
    regression the raw scores (Pearson r needs no scale or offset; RMSE is dropped)."""
    from emomtl.metrics import task_metrics
    from emomtl.zero_shot import zero_shot_probabilities, zero_shot_raw

    if task.kind == "regression":
        scores = zero_shot_raw(net, features, label_features)
        metrics = task_metrics(task, targets, scores)
        return {k: v for k, v in metrics.items() if not k.startswith("rmse")}
    probs = zero_shot_probabilities(net, features, label_features, task.kind)
    return task_metrics(task, targets, probs)


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
