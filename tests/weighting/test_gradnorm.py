"""GradNorm (paper Sec. 3.4) and equal weighting: weights, gradients, and the toy behaviour."""

from __future__ import annotations

import torch

from emomtl.data.tasks import TASKS
from emomtl.features.task_data import TaskData
from emomtl.train import TrainConfig, train
from emomtl.weighting import WEIGHTINGS, EqualWeighting, GradNorm, SharedLayer
from emomtl.weighting.gradnorm import owned_grad_norms


def _toy_graph(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 2-seed, 3-task toy: shared W (S, d, h) and per-task losses (S, k) that depend on W."""
    g = torch.Generator().manual_seed(seed)
    shared = torch.randn(2, 4, 5, generator=g, requires_grad=True)
    x = torch.randn(2, 6, 4, generator=g)
    heads = torch.randn(3, 5, generator=g)
    q = torch.relu(torch.bmm(x, shared))  # (S, 6, h)
    losses = torch.stack([(q @ heads[i]).pow(2).mean(1) * (i + 1) for i in range(3)], dim=1)
    return shared, losses, heads


def _literal_gradnorm_grad(
    lambdas: torch.Tensor,
    shared: torch.Tensor,
    losses: torch.Tensor,
    initial: torch.Tensor,
    alpha: float,
) -> torch.Tensor:
    """d L_GN / d lambda computed literally: G_i = ||grad_W(lambda_i L_i)|| with create_graph."""
    lam = lambdas.clone().requires_grad_(True)
    total = torch.zeros(())
    for s in range(losses.shape[0]):
        norms = []
        for i in range(losses.shape[1]):
            (g,) = torch.autograd.grad(
                lam[s, i] * losses[s, i], shared, retain_graph=True, create_graph=True
            )
            norms.append(g[s].norm())
        G = torch.stack(norms)
        ratio = losses[s].detach() / initial[s]
        r = ratio / ratio.mean()
        target = (G.mean() * r.pow(alpha)).detach()
        total = total + (G - target).abs().sum()
    (grad,) = torch.autograd.grad(total, lam)
    return grad


def test_lambda_gradient_equals_the_literal_create_graph_formulation() -> None:
    shared, losses, _ = _toy_graph()
    gn = GradNorm(2, 3, alpha=1.5)
    with torch.no_grad():
        gn.lambdas.copy_(torch.tensor([[0.5, 1.2, 1.3], [1.0, 0.7, 1.3]]))
    initial = losses.detach() * torch.tensor([[2.0, 1.5, 1.1], [1.3, 1.9, 0.8]])
    gn.initial_losses = initial.clone()
    present = torch.ones(2, 3, dtype=torch.bool)
    norms = gn.grad_norms(losses, shared)
    loss_gn = gn.gradnorm_loss(norms, losses.detach(), present)
    (ours,) = torch.autograd.grad(loss_gn, gn.lambdas)
    expected = _literal_gradnorm_grad(gn.lambdas.detach(), shared, losses, initial, alpha=1.5)
    torch.testing.assert_close(ours, expected)


def test_network_gets_only_the_weighted_task_loss_gradient() -> None:
    shared, losses, _ = _toy_graph()
    gn = GradNorm(2, 3)
    with torch.no_grad():
        gn.lambdas.copy_(torch.tensor([[0.5, 1.2, 1.3], [1.0, 0.7, 1.3]]))
    expected_weights = gn.lambdas.detach().clone()
    (expected,) = torch.autograd.grad((expected_weights * losses).sum(), shared, retain_graph=True)
    applied = gn.backward(losses, shared, torch.ones(2, 3, dtype=torch.bool))
    torch.testing.assert_close(applied, expected_weights)
    torch.testing.assert_close(shared.grad, expected)  # nothing from L_GN
    torch.testing.assert_close(gn.lambdas.sum(1), torch.full((2,), 3.0))
    assert not torch.equal(gn.lambdas.detach(), expected_weights)  # the lambdas did move


def test_absent_task_gets_no_lambda_gradient_and_its_initial_loss_waits() -> None:
    shared, losses, _ = _toy_graph()
    gn = GradNorm(2, 3)
    present = torch.tensor([[True, False, True], [True, True, True]])
    norms = gn.grad_norms(losses, shared)
    loss_gn = gn.gradnorm_loss(norms, losses.detach(), present)
    (grad,) = torch.autograd.grad(loss_gn, gn.lambdas)
    assert grad[0, 1] == 0
    assert torch.isnan(gn.initial_losses[0, 1]) and not torch.isnan(gn.initial_losses[1, 1])


def test_equal_weighting_is_plain_sum() -> None:
    shared, losses, _ = _toy_graph()
    (expected,) = torch.autograd.grad(losses.sum(), shared, retain_graph=True)
    applied = EqualWeighting(2, 3).backward(losses, shared, torch.ones(2, 3, dtype=torch.bool))
    assert torch.equal(applied, torch.ones(2, 3))
    torch.testing.assert_close(shared.grad, expected)
    assert WEIGHTINGS["equal"] is EqualWeighting and WEIGHTINGS["gradnorm"] is GradNorm


def _task(code: str, x: torch.Tensor, y: torch.Tensor) -> TaskData:
    n = len(x)
    cut = [0, int(0.8 * n), int(0.9 * n), n]
    splits = {s: slice(cut[i], cut[i + 1]) for i, s in enumerate(("train", "dev", "test"))}
    return TaskData(
        TASKS[code], {s: x[i] for s, i in splits.items()}, {s: y[i] for s, i in splits.items()}
    )


def test_slower_task_gets_more_weight_on_a_two_task_toy() -> None:
    """E is a clean linear function (fast), T has random labels (its loss barely falls): GradNorm
    must raise lambda_T above 1 and lower lambda_E, keeping their sum 2 at every step."""
    g = torch.Generator().manual_seed(0)
    x_e, x_t = torch.randn(640, 10, generator=g), torch.randn(640, 10, generator=g)
    y_e = 3 + x_e[:, :3] * 0.5
    y_t = torch.randint(0, 5, (640,), generator=g)
    data = {"T": _task("T", x_t, y_t), "E": _task("E", x_e, y_e)}
    config = TrainConfig(
        tasks="T+E",
        weighting="gradnorm",
        seeds=(0, 1),
        epochs=15,
        patience=100,
        lr=3e-3,
        gradnorm_lr=1e-2,
        hidden_dim=32,
    )
    out = train(config, data, num_threads=1)
    for result in out.seeds:
        lambdas = result.lambdas
        assert lambdas.shape == (15 * 16, 2)  # 1024 training rows / 64 = 16 steps per epoch
        torch.testing.assert_close(torch.from_numpy(lambdas.sum(1)), torch.full((240,), 2.0))
        lam_t, lam_e = lambdas[-20:].mean(0)
        assert lam_t > 1.05 > 0.95 > lam_e


def _partitioned_toy() -> tuple[SharedLayer, torch.Tensor, torch.Tensor]:
    """2 seeds, 3 tasks, 9 rows each owned by one task (as in the trainer's batches)."""
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 9, 4, generator=g)
    weight = torch.randn(2, 4, 5, generator=g, requires_grad=True)
    z = torch.baddbmm(torch.randn(2, 1, 5, generator=g), x, weight)
    heads = torch.randn(5, 3, generator=g)
    task = torch.tensor([[0, 1, 2, 0, 1, 2, 0, 0, 1], [2, 2, 1, 0, 0, 1, 1, 2, 0]])
    owner = torch.nn.functional.one_hot(task, 3).float()
    per_row = (torch.relu(z) @ heads).pow(2)  # (S, b, k): row j scored by every task's loss
    losses = (per_row * owner).sum(dim=1) / 9  # L_i over task i's rows only
    return SharedLayer(weight, x, z, owner), losses, owner


def test_one_backward_gradnorm_equals_the_per_task_backward_path() -> None:
    """With row owners, GradNorm reads G_i off the network's own backward; lambdas, recorded
    weights and the network's gradient equal the path with one autograd.grad w.r.t. W per task."""
    results = []
    for with_owner in (False, True):
        layer, losses, owner = _partitioned_toy()
        shared = layer if with_owner else layer.weight
        gn = GradNorm(2, 3)
        with torch.no_grad():
            gn.lambdas.copy_(torch.tensor([[0.5, 1.2, 1.3], [1.0, 0.7, 1.3]]))
        gn.initial_losses = losses.detach() * 1.5
        applied = gn.backward(losses, shared, owner.any(dim=1))
        results.append((applied, gn.lambdas.detach().clone(), layer.weight.grad.clone()))
    for before, after in zip(*results, strict=True):
        torch.testing.assert_close(after, before, rtol=1e-5, atol=1e-6)


def test_owned_grad_norms_equal_autograd_norms_per_task() -> None:
    shared, losses, owner = _partitioned_toy()
    (grad,) = torch.autograd.grad(losses.sum(), shared.output, retain_graph=True)
    ours = owned_grad_norms(grad, shared.inputs, owner)
    for i in range(3):
        (expected,) = torch.autograd.grad(losses[:, i].sum(), shared.weight, retain_graph=True)
        torch.testing.assert_close(ours[:, i], expected.flatten(1).norm(dim=1))
