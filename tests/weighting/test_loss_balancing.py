"""GradNorm variant, UW, DWA and FAMO against their papers' equations on hand-computed cases."""

from __future__ import annotations

import math

import pytest
import torch

from emomtl.weighting import FAMO, DynamicWeightAverage, GradNormMean, UncertaintyWeighting
from emomtl.weighting.base import LastLosses

ALL = torch.ones(1, 2, dtype=torch.bool)


def test_gradnorm_mean_initial_loss_is_averaged_and_lambda_gradient_by_hand() -> None:
    """initial_batches 2: L(0) = mean of (2, 4) and (4, 2) = (3, 3); then L = (4, 2) gives
    r = (4/3, 2/3); norms (1, 3), lambdas 1: G = (1, 3), G_bar = 2, targets (8/3, 4/3);
    L_GN = |1 - 8/3| + |3 - 4/3| = 10/3 and dL_GN/dlambda = (1 * -1, 3 * +1) = (-1, 3)."""
    gn = GradNormMean(1, 2, initial_batches=2)
    norms = torch.tensor([[1.0, 3.0]])
    first = gn.gradnorm_loss(norms, torch.tensor([[2.0, 4.0]]), ALL)
    assert float(first.detach()) == 0.0  # L(0) not complete yet: no lambda update
    second = gn.gradnorm_loss(norms, torch.tensor([[4.0, 2.0]]), ALL)
    torch.testing.assert_close(gn.initial_sum / gn.initial_count, torch.tensor([[3.0, 3.0]]))
    assert float(second) == pytest.approx(10 / 3)
    (grad,) = torch.autograd.grad(second, gn.lambdas)
    torch.testing.assert_close(grad, torch.tensor([[-1.0, 3.0]]))
    third = gn.gradnorm_loss(norms, torch.tensor([[4.0, 2.0]]), ALL)  # L(0) stays (3, 3)
    assert float(third) == pytest.approx(10 / 3)


def _layer(seed: int = 0):
    from emomtl.weighting import SharedLayer

    g = torch.Generator().manual_seed(seed)
    W = torch.randn(1, 3, 4, generator=g).requires_grad_()
    b = torch.randn(1, 1, 4, generator=g).requires_grad_()
    x = torch.randn(1, 6, 3, generator=g)
    owner = torch.nn.functional.one_hot(torch.arange(6) % 2, 2).float().unsqueeze(0)
    z = torch.baddbmm(b, x, W)
    q = torch.relu(z).sum(-1, keepdim=True)
    losses = ((q - torch.arange(6.0).view(1, 6, 1)).pow(2) * owner).sum(1) / owner.sum(1)
    losses = losses * torch.tensor([[1.0, 5.0]])
    return losses, SharedLayer(W, x, z, owner, b)


def test_gradnorm_mean_lambdas_stay_non_negative_and_sum_to_k() -> None:
    gn = GradNormMean(1, 2, lr=5.0, initial_batches=1)  # a huge step drives one lambda below 0
    for seed in range(4):
        losses, shared = _layer(seed)
        applied = gn.backward(losses, shared, ALL)
        assert (applied >= 0).all()
        assert (gn.lambdas >= 0).all()
        assert float(gn.lambdas.sum()) == pytest.approx(2.0)
    assert float(gn.lambdas.min()) == 0.0


def test_gradnorm_mean_norms_include_the_bias() -> None:
    """G_i uses ||grad_{W,b} L_i||: with lambdas 1 and L(0) = L, r = 1 and the lambda gradient
    is sign(G_i - G_bar) * norm_i with the norms from autograd over (W, b)."""
    losses, shared = _layer(1)
    norms = []
    for i in range(2):
        gw, gb = torch.autograd.grad(losses[0, i], (shared.weight, shared.bias), retain_graph=True)
        norms.append(math.sqrt(float(gw.pow(2).sum() + gb.pow(2).sum())))
    gn = GradNormMean(1, 2, initial_batches=1)
    captured = {}
    original = gn.gradnorm_loss

    def spy(norm_values, *args):
        captured["norms"] = norm_values.clone()
        return original(norm_values, *args)

    gn.gradnorm_loss = spy
    gn.backward(losses, shared, ALL)
    torch.testing.assert_close(captured["norms"][0], torch.tensor(norms), rtol=1e-5, atol=1e-6)


def test_uw_is_kendalls_weighting() -> None:
    """Kendall et al. Eq. 7 form: sum_i 0.5 exp(-s_i) L_i + 0.5 s_i; s = (0, log 2):
    weights (0.5, 0.25), d/ds_i = 0.5 - 0.5 exp(-s_i) L_i = (0.5 - 1, 0.5 - 1) for L = (2, 4)."""
    uw = UncertaintyWeighting(1, 2)
    with torch.no_grad():
        uw.scalarizer.log_var.copy_(torch.tensor([[0.0, math.log(2.0)]]))
    losses = torch.tensor([[2.0, 4.0]], requires_grad=True)
    applied = uw.backward(losses, None, ALL)
    torch.testing.assert_close(applied, torch.tensor([[0.5, 0.25]]))
    torch.testing.assert_close(losses.grad, torch.tensor([[0.5, 0.25]]))
    torch.testing.assert_close(uw.scalarizer.log_var.grad, torch.tensor([[-0.5, -0.5]]))


def test_dwa_weights_follow_eq7_per_seed() -> None:
    """lambda_k = K exp(w_k / T) / sum_i exp(w_i / T), w_k = L_k(t-1) / L_k(t-2), T = 2; each
    seed from its own epoch averages; uniform before two epochs."""
    dwa = DynamicWeightAverage(2, 3)
    every = torch.ones(2, 3, dtype=torch.bool)
    epochs = [
        [torch.tensor([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]), torch.tensor([[3.0, 1.0, 1.0]] * 2)],
        [torch.tensor([[1.0, 2.0, 1.0], [1.0, 1.0, 4.0]])],
    ]
    for batches in epochs:
        for batch in batches:
            applied = dwa.backward(batch.clone().requires_grad_(), None, every)
            torch.testing.assert_close(applied, torch.ones(2, 3))
        dwa.end_epoch()
    averages = [torch.stack(b).mean(0) for b in epochs]
    rates = averages[1] / averages[0]
    expected = 3 * torch.softmax(rates / 2.0, dim=1)
    applied = dwa.backward(torch.ones(2, 3, requires_grad=True), None, every)
    torch.testing.assert_close(applied, expected)


def test_famo_weights_and_logit_update_by_hand() -> None:
    """Liu et al. (2023): update weights c z_i / L_i with z = softmax(w) (uniform at start),
    c = 1 / sum_i (z_i / L_i); after a step whose loss change delta = (log 2, 0, 0), the logits
    take one Adam step (lr 0.025: each moves by lr against its gradient z * (delta - z.delta)),
    so the task that improved most loses weight: w = (-0.025, 0.025, 0.025)."""
    famo = FAMO(1, 3)
    every = torch.ones(1, 3, dtype=torch.bool)
    losses = torch.tensor([[1.0, 2.0, 4.0]], requires_grad=True)
    applied = famo.backward(losses, None, every)
    inv = torch.tensor([1.0, 0.5, 0.25])
    torch.testing.assert_close(applied[0], inv / inv.sum())
    famo.after_step(lambda: torch.tensor([[0.5, 2.0, 4.0]]))
    applied = famo.backward(torch.ones(1, 3, requires_grad=True), None, every)
    expected = torch.softmax(torch.tensor([-0.025, 0.025, 0.025]), dim=0)
    torch.testing.assert_close(applied[0], expected, rtol=1e-4, atol=1e-6)


def test_absent_task_keeps_its_last_loss_as_a_constant() -> None:
    last = LastLosses(1, 2)
    losses = torch.tensor([[2.0, 3.0]], requires_grad=True)
    last.fill(losses, torch.tensor([[True, True]]))
    fresh = torch.tensor([[5.0, 0.0]], requires_grad=True)
    filled = last.fill(fresh, torch.tensor([[True, False]]))
    torch.testing.assert_close(filled, torch.tensor([[5.0, 3.0]]))
    filled.sum().backward()
    torch.testing.assert_close(fresh.grad, torch.tensor([[1.0, 0.0]]))
