"""Gradient aggregators: per-seed weights from the shared layer's Gramian equal TorchJD's own
``mtl_backward`` + ``jac_to_grad`` on each seed's unbatched network; hand-checked PCGrad."""

from __future__ import annotations

import warnings

import pytest
import torch

from emomtl.weighting import WEIGHTINGS, GramianAggregation, SharedLayer
from emomtl.weighting.shared_grads import owned_gramian

AGGREGATORS = sorted(k for k, v in WEIGHTINGS.items() if issubclass(v, GramianAggregation))


def _toy(seed: int = 0, n_seeds: int = 2, k: int = 3):
    """Seed-batched shared layer z = x W + b, ReLU, one linear head per task (rows owned by one
    task each); returns the pieces and per-task mean losses ``(S, k)``."""
    g = torch.Generator().manual_seed(seed)
    b, d, h = 12, 5, 4
    W = torch.randn(n_seeds, d, h, generator=g).requires_grad_()
    bias = torch.randn(n_seeds, 1, h, generator=g).requires_grad_()
    heads = torch.randn(n_seeds, h, k, generator=g).requires_grad_()
    x = torch.randn(n_seeds, b, d, generator=g)
    task = torch.arange(b) % k
    owner = torch.nn.functional.one_hot(task, k).float().expand(n_seeds, b, k)
    y = torch.randn(n_seeds, b, generator=g)
    return W, bias, heads, x, owner, y


def _losses(W, bias, heads, x, owner, y):
    z = torch.baddbmm(bias, x, W)
    out = torch.bmm(torch.relu(z), heads)  # (S, b, k): column i is task i's prediction
    per_row = (out - y.unsqueeze(-1)).pow(2) * owner
    return z, per_row.sum(1) / owner.sum(1)


def _reference(key: str, W, bias, heads, x, owner, y, s: int, **options):
    """Seed s alone through TorchJD's mtl_backward + jac_to_grad (the library's own path)."""
    from torchjd.autojac import jac_to_grad, mtl_backward

    Ws, bs = W[s].detach().clone().requires_grad_(), bias[s].detach().clone().requires_grad_()
    hs = heads[s].detach().clone().requires_grad_()
    z = x[s] @ Ws + bs
    q = torch.relu(z)
    k = owner.shape[-1]
    losses = [
        ((q @ hs[:, i] - y[s]).pow(2) * owner[s, :, i]).sum() / owner[s, :, i].sum()
        for i in range(k)
    ]
    mtl_backward(losses, features=q)
    method = WEIGHTINGS[key](1, k, **options)
    aggregator = _torchjd_aggregator(method, k)
    jac_to_grad([Ws, bs], aggregator)
    return Ws.grad, bs.grad, hs.grad


def _torchjd_aggregator(method, k):
    from torchjd.aggregation import GramianWeightedAggregator, WeightedAggregator

    weighting = method.make_weighting(k, **method.options)
    if method.matrix_input:
        return WeightedAggregator(weighting)
    return GramianWeightedAggregator(weighting)


@pytest.mark.parametrize("key", AGGREGATORS)
def test_per_seed_aggregation_equals_torchjd_mtl_backward(key: str) -> None:
    k = 2 if key == "pcgrad" else 3  # PCGrad's random order does not matter for two tasks
    W, bias, heads, x, owner, y = _toy(k=k)
    z, losses = _losses(W, bias, heads, x, owner, y)
    method = WEIGHTINGS[key](2, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cvxpy's DPP notice (Nash-MTL)
        method.backward(losses, SharedLayer(W, x, z, owner, bias), torch.ones(2, k, dtype=bool))
        for s in range(2):
            ref_w, ref_b, ref_h = _reference(key, W, bias, heads, x, owner, y, s)
            torch.testing.assert_close(W.grad[s], ref_w, atol=1e-4, rtol=1e-3)
            torch.testing.assert_close(bias.grad[s, 0], ref_b[0], atol=1e-4, rtol=1e-3)
            torch.testing.assert_close(heads.grad[s], ref_h, atol=1e-4, rtol=1e-3)


def test_owned_gramian_equals_the_autograd_jacobian_gramian() -> None:
    W, bias, heads, x, owner, y = _toy(seed=3)
    z, losses = _losses(W, bias, heads, x, owner, y)
    (g,) = torch.autograd.grad(losses.sum(), z, retain_graph=True)
    gram = owned_gramian(g, x, owner)
    for s in range(2):
        rows = []
        for i in range(3):
            gw, gb = torch.autograd.grad(losses[s, i], (W, bias), retain_graph=True)
            rows.append(torch.cat([gw[s].flatten(), gb[s].flatten()]))
        J = torch.stack(rows)
        torch.testing.assert_close(gram[s], J @ J.T, atol=1e-5, rtol=1e-5)


def test_pcgrad_matches_the_papers_projection_by_hand() -> None:
    """Yu et al. (2020) Alg. 1 on g1 = (1, 0), g2 = (-1, 1): g1' = g1 - (g1.g2/|g2|^2) g2 =
    (0.5, 0.5), g2' = g2 - (g2.g1/|g1|^2) g1 = (0, 1); the update is g1' + g2' = (0.5, 1.5)."""
    J = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    method = WEIGHTINGS["pcgrad"](1, 2)
    w = method.seed_weights((J @ J.T).unsqueeze(0))[0].double()
    torch.testing.assert_close(w @ J, torch.tensor([0.5, 1.5], dtype=torch.float64))
