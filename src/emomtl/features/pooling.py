"""Sentence pooling: turn a transformer's token states into one vector per sentence.

``mean`` (default) averages the last hidden states over the attention mask, which is how the
sentence-transformers models (MiniLM, MPNet) were trained; ``cls`` takes the first token's state;
``pooler`` takes the model's pooler output (tanh(W h_[CLS] + b) for BERT), the paper's setting with
``bert-base-uncased``. Every function returns float32 whatever the dtype the model computed in.
"""

from __future__ import annotations

from typing import Any

import torch

POOLINGS: tuple[str, ...] = ("mean", "cls", "pooler")


class PoolingError(ValueError):
    """The requested pooling cannot be applied to this model."""


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average token states over the real (non-padding) tokens.

    Args:
        hidden: (b, t, d) last hidden states.
        attention_mask: (b, t) 1 for real tokens, 0 for padding.

    Returns:
        (b, d) float32 means; the sum is taken in float32 even when ``hidden`` is bf16.
    """
    mask = attention_mask.to(torch.float32).unsqueeze(-1)  # (b, t, 1)
    summed = (hidden.to(torch.float32) * mask).sum(dim=1)  # (b, d)
    counts = mask.sum(dim=1).clamp(min=1.0)  # (b, 1)
    return summed / counts


def cls_pool(hidden: torch.Tensor) -> torch.Tensor:
    """First-token ([CLS] / <s>) state. ``hidden`` (b, t, d) -> (b, d) float32."""
    return hidden[:, 0].to(torch.float32)


def pool(name: str, output: Any, attention_mask: torch.Tensor) -> torch.Tensor:
    """Apply pooling ``name`` to a transformers model output.

    Args:
        name: one of :data:`POOLINGS`.
        output: the model's output, with ``last_hidden_state`` (b, t, d) and, for ``pooler``,
            ``pooler_output`` (b, d).
        attention_mask: (b, t) mask the batch was run with.

    Returns:
        (b, d) float32 sentence vectors.
    """
    if name == "mean":
        return mean_pool(output.last_hidden_state, attention_mask)
    if name == "cls":
        return cls_pool(output.last_hidden_state)
    if name == "pooler":
        pooled = getattr(output, "pooler_output", None)
        if pooled is None:
            raise PoolingError(
                "pooling 'pooler' needs a model with a pooler layer (e.g. bert-base-uncased); "
                "this model returns none: use --pooling mean or cls"
            )
        return pooled.to(torch.float32)
    raise PoolingError(f"unknown pooling {name!r}; expected one of {', '.join(POOLINGS)}")
