"""Pooling functions against hand-computed values."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from emomtl.features.pooling import PoolingError, cls_pool, mean_pool, pool


def test_mean_pool_ignores_padding() -> None:
    hidden = torch.tensor(
        [[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 6.0], [7.0, 8.0], [9.0, 10.0]]]
    )
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    expected = torch.tensor([[2.0, 3.0], [7.0, 8.0]])  # (1+3)/2, (2+4)/2; (5+7+9)/3, (6+8+10)/3
    assert torch.equal(mean_pool(hidden, mask), expected)


def test_mean_pool_returns_float32_for_bf16_input() -> None:
    hidden = torch.ones(2, 3, 4, dtype=torch.bfloat16)
    out = mean_pool(hidden, torch.ones(2, 3, dtype=torch.long))
    assert out.dtype == torch.float32
    assert torch.equal(out, torch.ones(2, 4))


def test_cls_pool_takes_first_token() -> None:
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    assert torch.equal(cls_pool(hidden), torch.tensor([[0.0, 1.0], [6.0, 7.0]]))


def test_pool_dispatch_and_errors() -> None:
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.ones(2, 3, dtype=torch.long)
    pooled = torch.tensor([[0.5, -0.5], [0.25, 0.75]])
    output = SimpleNamespace(last_hidden_state=hidden, pooler_output=pooled)
    assert torch.equal(pool("pooler", output, mask), pooled)
    assert torch.equal(pool("cls", output, mask), hidden[:, 0])
    with pytest.raises(PoolingError, match="pooler layer"):
        pool("pooler", SimpleNamespace(last_hidden_state=hidden, pooler_output=None), mask)
    with pytest.raises(PoolingError, match="unknown pooling 'max'"):
        pool("max", output, mask)
