"""MultiTaskNet / BatchedMultiTaskNet: layout, losses against torch.nn references, overfitting."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from emomtl.data.tasks import TASKS
from emomtl.features.task_data import TaskData
from emomtl.model import BatchedMultiTaskNet, MultiTaskNet
from emomtl.model.heads import output_slices, per_sample_loss
from emomtl.train import TrainConfig, train


def _net(tasks: str, head: str, seed: int, d: int = 8) -> MultiTaskNet:
    net = MultiTaskNet(d, list(tasks), head=head, hidden_dim=16)
    net.reset_parameters(torch.Generator().manual_seed(seed))
    return net


def test_output_slices_follow_canonical_order_of_the_setting() -> None:
    full = output_slices([TASKS["S"], TASKS["T"], TASKS["E"]])
    assert full == {"S": slice(0, 11), "T": slice(11, 16), "E": slice(16, 19)}
    assert output_slices([TASKS["S"], TASKS["E"]]) == {"S": slice(0, 11), "E": slice(11, 14)}


@pytest.mark.parametrize("head", ["mh", "se"])
def test_forward_matches_hand_computation(head: str) -> None:
    net = _net("STE", head, 0)
    x = torch.randn(5, 8)
    q = torch.relu(x @ net.base.weight.T + net.base.bias)
    out = net(x)
    assert set(out) == {"S", "T", "E"}
    for code, cols in {"S": slice(0, 11), "T": slice(11, 16), "E": slice(16, 19)}.items():
        if head == "mh":
            expected = q @ net.heads[code].weight.T + net.heads[code].bias
        else:
            expected = q @ net.se.weight[cols].T  # bias-free W_SE rows of the task
        torch.testing.assert_close(out[code], expected)
    assert (net.se_weight() is None) == (head == "mh")
    if head == "se":
        assert net.se_weight().shape == (19, 16) and net.se.bias is None


def test_reset_parameters_is_seeded_and_within_linear_bounds() -> None:
    a, b, c = _net("ST", "mh", 3), _net("ST", "mh", 3), _net("ST", "mh", 4)
    for (name, pa), pb, pc in zip(
        a.named_parameters(), b.parameters(), c.parameters(), strict=True
    ):
        assert torch.equal(pa, pb)
        assert not torch.equal(pa, pc)
        fan_in = 8 if name.startswith("base") else 16
        assert pa.abs().max() <= 1 / math.sqrt(fan_in)


def test_activate_maps_regression_back_to_original_scale() -> None:
    net = _net("STE", "mh", 0)
    mean, std = net.target_stats("E")
    mean.copy_(torch.tensor([3.0, 2.5, 3.2]))
    std.copy_(torch.tensor([0.5, 0.4, 0.3]))
    raw = net(torch.randn(4, 8))
    act = net.activate(raw)
    torch.testing.assert_close(act["E"], raw["E"] * std + mean)
    torch.testing.assert_close(act["S"], torch.sigmoid(raw["S"]))
    torch.testing.assert_close(act["T"].sum(1), torch.ones(4))


def test_losses_match_torch_nn_references() -> None:
    g = torch.Generator().manual_seed(0)
    raw_s, y_s = torch.randn(6, 11, generator=g), (torch.rand(6, 11, generator=g) > 0.5).float()
    raw_t, y_t = torch.randn(6, 5, generator=g), torch.randint(0, 5, (6,), generator=g)
    raw_e, y_e = torch.randn(6, 3, generator=g), torch.randn(6, 3, generator=g)
    ref = {
        "S": nn.BCEWithLogitsLoss()(raw_s, y_s),
        "T": nn.CrossEntropyLoss()(raw_t, y_t),
        "E": nn.MSELoss()(raw_e, y_e),
    }
    ours = {
        "S": per_sample_loss(TASKS["S"], raw_s, y_s),
        "T": per_sample_loss(TASKS["T"], raw_t, y_t),
        "E": per_sample_loss(TASKS["E"], raw_e, y_e),
    }
    for code in ref:
        assert ours[code].shape == (6,)
        torch.testing.assert_close(ours[code].mean(), ref[code])


@pytest.mark.parametrize("head", ["mh", "se"])
def test_batched_equals_each_unbatched_network_and_round_trips(head: str) -> None:
    nets = [_net("STE", head, seed) for seed in (0, 1, 2)]
    for net in nets:
        net.target_stats("E")[0].fill_(3.0)
    batched = BatchedMultiTaskNet.stack(nets)
    x = torch.randn(7, 8)
    raw = batched(x)
    assert raw.shape == (3, 7, 19)
    for s, net in enumerate(nets):
        expected = net(x)
        for code, cols in batched.slices.items():
            torch.testing.assert_close(raw[s, :, cols], expected[code])
        fresh = MultiTaskNet(8, "STE", head=head, hidden_dim=16)
        fresh.load_state_dict(batched.seed_state_dict(s))  # strict: same keys and shapes
        for name, value in net.state_dict().items():
            assert torch.equal(fresh.state_dict()[name], value), name


def _tiny(code: str, n: int = 4, d: int = 6) -> TaskData:
    """``n`` random examples used as train, dev and test (an overfitting check)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, d, generator=g)
    task = TASKS[code]
    if task.kind == "multilabel":
        y = torch.tensor([[1, 0] * 5 + [1], [0, 1] * 5 + [0], [1] * 11, [0] * 10 + [1]]).float()[:n]
    elif task.kind == "multiclass":
        y = torch.tensor([0, 3, 1, 4])[:n]
    else:
        y = torch.tensor([[1.5, 4.0, 3.0], [4.5, 2.0, 1.8], [2.5, 2.5, 4.2], [3.9, 3.1, 2.2]])[:n]
    splits = ("train", "dev", "test")
    return TaskData(task, {s: x for s in splits}, {s: y for s in splits})


@pytest.mark.parametrize("head", ["mh", "se"])
@pytest.mark.parametrize("code", ["S", "T", "E"])
def test_each_head_overfits_four_examples(head: str, code: str) -> None:
    config = TrainConfig(
        tasks=code,
        head=head,
        seeds=(0,),
        epochs=300,
        patience=300,
        batch_size=4,
        lr=1e-2,
        weight_decay=0.0,
        hidden_dim=32,
    )
    data = {code: _tiny(code)}
    result = train(config, data, num_threads=1).seeds[0]
    net = MultiTaskNet(6, code, head=head, hidden_dim=32)
    net.load_state_dict(result.state_dict)
    with torch.no_grad():
        pred = net.activate(net(data[code].features["test"]))[code]
    gold = data[code].targets["test"]
    if code == "S":
        assert torch.equal((pred >= 0.5).float(), gold)
    elif code == "T":
        assert torch.equal(pred.argmax(1), gold)
    else:
        assert (pred - gold).abs().max() < 0.05


def test_se_head_overfits_all_three_tasks_at_once() -> None:
    config = TrainConfig(
        tasks="S+T+E",
        head="se",
        seeds=(0,),
        epochs=300,
        patience=300,
        batch_size=12,
        lr=1e-2,
        weight_decay=0.0,
        hidden_dim=32,
    )
    data = {code: _tiny(code) for code in "STE"}
    result = train(config, data, num_threads=1).seeds[0]
    test = result.metrics["test"]
    assert test["S"]["jaccard"] == 1.0 and test["T"]["accuracy"] == 1.0
    assert test["E"]["rmse"] < 0.05
    assert result.se_weight.shape == (19, 32)


def test_keep_seeds_cuts_parameters_and_optimizer_state_in_place() -> None:
    """Dropping seeds keeps the survivors' values and Adam moments, and training goes on."""
    from emomtl.model.batched import keep_optimizer_rows

    nets = []
    for seed in range(3):
        net = MultiTaskNet(6, "STE")
        net.reset_parameters(torch.Generator().manual_seed(seed))
        nets.append(net)
    model = BatchedMultiTaskNet.stack(nets)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    x = torch.randn(3, 4, 6)
    model(x).pow(2).sum().backward()
    optimizer.step()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    moments = optimizer.state[model.base_weight]["exp_avg"].clone()
    params = list(model.parameters())
    keep = torch.tensor([0, 2])
    model.keep_seeds(keep)
    keep_optimizer_rows(optimizer, keep)
    assert model.n_seeds == 2 and list(model.parameters()) == params  # same objects
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key][keep]), key
    assert torch.equal(optimizer.state[model.base_weight]["exp_avg"], moments[keep])
    optimizer.zero_grad()
    model(x[keep]).pow(2).sum().backward()
    optimizer.step()
    assert model.base_weight.shape == (2, 6, 256)
