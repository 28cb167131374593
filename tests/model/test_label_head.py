"""The label-semantic head: hand computation, batched/unbatched parity, training, zero-shot bias."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emomtl.data.tasks import TASKS, Task
from emomtl.features.task_data import TaskData
from emomtl.model import BatchedMultiTaskNet, MultiTaskNet
from emomtl.model.label_head import label_texts, zero_shot_bias
from emomtl.train import TrainConfig, train

D = 16


def _label_features(code: str, seed: int = 5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed + ord(code))
    return torch.randn(TASKS[code].num_labels, D, generator=g)


def _net(tasks: str, seed: int) -> MultiTaskNet:
    net = MultiTaskNet(D, list(tasks), head="label", hidden_dim=12)
    net.reset_parameters(torch.Generator().manual_seed(seed))
    net.set_label_features({code: _label_features(code) for code in tasks})
    return net


def test_label_texts_use_descriptions_when_given_else_names() -> None:
    task = Task(
        "X",
        "x",
        "multiclass",
        ("joy", "fear"),
        "f1_micro",
        True,
        "",
        label_descriptions=(
            "joy: great pleasure",
            "",
        ),
    )
    assert label_texts(task) == ["joy: great pleasure", "fear"]
    assert label_texts(TASKS["T"]) == list(TASKS["T"].labels)


def _centred(codes: str) -> dict[str, np.ndarray]:
    """e_j = n(n(x_j) - m), m the mean of every space's n(x_j), in numpy."""
    unit = {c: _label_features(c).double().numpy() for c in codes}
    unit = {c: x / np.linalg.norm(x, axis=1, keepdims=True) for c, x in unit.items()}
    m = np.concatenate(list(unit.values())).mean(axis=0)
    return {c: (x - m) / np.linalg.norm(x - m, axis=1, keepdims=True) for c, x in unit.items()}


def test_forward_matches_hand_computation() -> None:
    """raw_ij = s_j <q_i, P e_j + u_0> + b_j, e_j centred and normalised, label by label."""
    net = _net("STE", 0)
    with torch.no_grad():
        net.label_scale["E"].copy_(torch.tensor([0.5, 2.0, -1.5]))
        net.label_offset.copy_(torch.randn(12))
    x = torch.randn(5, D)
    out = net(x)
    w, b = net.base.weight.detach().numpy(), net.base.bias.detach().numpy()
    q = np.maximum(x.numpy() @ w.T + b, 0.0)
    proj = net.proj.weight.detach().numpy()  # (h, d)
    offset = net.label_offset.detach().numpy()  # (h,)
    centred = _centred("STE")
    for code in "STE":
        e = centred[code]
        bias = net.label_bias[code].detach().numpy()
        scale = net.label_scale[code].detach().numpy() if code == "E" else np.ones(len(e))
        expected = np.zeros((5, len(e)))
        for j in range(len(e)):
            u = proj @ e[j] + offset
            expected[:, j] = scale[j] * (q @ u) + bias[j]
        np.testing.assert_allclose(out[code].detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    # one projection for every space; biases per label; scales only for regression targets
    assert net.proj.weight.shape == (12, D)
    assert set(net.label_scale) == {"E"} and set(net.label_bias) == {"S", "T", "E"}


def test_set_label_features_checks_shapes_and_head() -> None:
    net = _net("ST", 0)
    with pytest.raises(ValueError, match="space T needs label features of shape"):
        net.set_label_features({"S": _label_features("S"), "T": torch.zeros(3, D)})
    with pytest.raises(ValueError, match="no label features"):
        MultiTaskNet(D, "S", head="mh").set_label_features({})


def test_batched_equals_each_unbatched_network_and_round_trips() -> None:
    nets = [_net("STE", seed) for seed in (0, 1, 2)]
    for k, net in enumerate(nets):
        net.target_stats("E")[0].fill_(3.0)
        with torch.no_grad():
            net.label_scale["E"].fill_(1.0 + k)
            net.label_offset.fill_(0.1 * k)
    batched = BatchedMultiTaskNet.stack(nets)
    x = torch.randn(7, D)
    raw = batched(x)
    assert raw.shape == (3, 7, 19)
    for s, net in enumerate(nets):
        expected = net(x)
        for code, cols in batched.slices.items():
            torch.testing.assert_close(raw[s, :, cols], expected[code])
        fresh = MultiTaskNet(D, "STE", head="label", hidden_dim=12)
        fresh.load_state_dict(batched.seed_state_dict(s))  # strict: same keys and shapes
        for name, value in net.state_dict().items():
            assert torch.equal(fresh.state_dict()[name], value), name


def _three(code: str) -> TaskData:
    """Three random examples used as train, dev and test (an overfitting check)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, D, generator=g)
    task = TASKS[code]
    if task.kind == "multilabel":
        y = torch.tensor([[1, 0] * 5 + [1], [0, 1] * 5 + [0], [1] * 4 + [0] * 7]).float()
    elif task.kind == "multiclass":
        y = torch.tensor([0, 3, 4])
    else:
        y = torch.tensor([[1.5, 4.0, 3.0], [4.5, 2.0, 1.8], [2.5, 2.5, 4.2]])
    splits = ("train", "dev", "test")
    data = TaskData(task, {s: x for s in splits}, {s: y for s in splits})
    data.label_features = _label_features(code)
    return data


def test_label_head_overfits_three_examples_of_every_kind_at_once() -> None:
    config = TrainConfig(
        tasks="S+T+E",
        head="label",
        seeds=(0, 1),
        epochs=400,
        patience=400,
        batch_size=9,
        lr=1e-2,
        weight_decay=0.0,
        hidden_dim=32,
    )
    data = {code: _three(code) for code in "STE"}
    output = train(config, data, num_threads=1)
    for result in output.seeds:
        test = result.metrics["test"]
        assert test["S"]["jaccard"] == 1.0 and test["T"]["accuracy"] == 1.0
        assert test["E"]["rmse"] < 0.05
        assert result.metrics["test"]["T"]["loss"] < 0.05
        net = MultiTaskNet(D, "STE", head="label", hidden_dim=32)
        net.load_state_dict(result.state_dict)  # the saved state is a complete label-head net
        pred = net.activate(net(data["T"].features["test"]))["T"]
        assert torch.equal(pred.argmax(1), data["T"].targets["test"])


def test_training_without_label_features_names_the_space() -> None:
    data = {code: _three(code) for code in "ST"}
    data["T"].label_features = None
    config = TrainConfig(tasks="S+T", head="label", seeds=(0,), epochs=1)
    with pytest.raises(ValueError, match="space T has no label features"):
        train(config, data, num_threads=1)


def test_zero_shot_bias_is_the_mean_trained_bias_of_the_kind() -> None:
    tasks = [TASKS["S"], TASKS["T"], TASKS["E"]]
    biases = {"S": torch.arange(11.0), "T": torch.ones(5), "E": torch.zeros(3)}
    assert zero_shot_bias(tasks, biases, "multilabel") == pytest.approx(5.0)
    assert zero_shot_bias(tasks, biases, "multiclass") == pytest.approx(1.0)
    assert zero_shot_bias(tasks[1:], biases, "multilabel") == 0.0


def test_label_features_given_to_forward_equal_stored_ones_and_carry_gradients() -> None:
    """forward(x, label_features=F) == forward(x) after set_label_features(F), and F gets a
    gradient (what a fine-tuned encoder needs); MH refuses label features."""
    net = _net("STE", 3)
    raw = {code: _label_features(code).requires_grad_(True) for code in "STE"}
    x = torch.randn(4, D, generator=torch.Generator().manual_seed(1))
    given = net(x, label_features=raw)
    stored = net(x)
    for code in "STE":
        torch.testing.assert_close(given[code], stored[code])
    sum(out.sum() for out in given.values()).backward()
    assert all(raw[c].grad is not None and raw[c].grad.abs().sum() > 0 for c in "STE")
    with pytest.raises(ValueError, match="takes no label features"):
        MultiTaskNet(D, ["T"], head="mh")(x, label_features={"T": raw["T"]})
