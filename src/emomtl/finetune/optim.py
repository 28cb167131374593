"""AdamW parameter groups with separate encoder / head learning rates and layer-wise lr decay,
and the linear warm-up + linear decay schedule.

Layer-wise learning-rate decay (Howard & Ruder 2018, "discriminative fine-tuning"; Clark et al.
2020, ELECTRA): with ``L`` transformer layers and decay ``gamma``, parameters of layer ``l``
(1-based, the top layer is ``L``) train at ``encoder_lr * gamma^(L - l)``, the embeddings at
``encoder_lr * gamma^L``; anything else in the encoder (e.g. a pooler) at ``encoder_lr``.
Biases and normalisation weights (every 1-d parameter) get no weight decay, the usual AdamW
practice (Loshchilov & Hutter 2019).
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

_LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")


def layer_index(name: str, num_layers: int) -> int:
    """Depth of an encoder parameter: 0 for embeddings, 1..L for ``layer.<i>``, L otherwise."""
    match = _LAYER.search(name)
    if match:
        return int(match.group(1)) + 1
    if "embed" in name:
        return 0
    return num_layers


def param_groups(
    model: nn.Module,
    *,
    encoder_lr: float,
    head_lr: float,
    weight_decay: float,
    layer_decay: float = 1.0,
) -> list[dict[str, Any]]:
    """AdamW groups of a :class:`~emomtl.finetune.model.FinetuneModel` (``encoder`` + ``head``).

    Each group carries its peak ``lr`` (the scheduler scales it) and a ``name`` for logging.
    """
    num_layers = int(getattr(model.encoder.config, "num_hidden_layers", 0))
    groups: dict[tuple[str, float, float], list[nn.Parameter]] = {}
    for prefix, module in (("encoder", model.encoder), ("head", model.head)):
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            if prefix == "encoder":
                depth = layer_index(name, num_layers)
                lr = encoder_lr * layer_decay ** (num_layers - depth)
                key = f"encoder.{depth}"
            else:
                lr, key = head_lr, "head"
            decay = 0.0 if param.ndim <= 1 else weight_decay
            groups.setdefault((key, lr, decay), []).append(param)
    return [
        {"params": params, "lr": lr, "weight_decay": decay, "name": key}
        for (key, lr, decay), params in groups.items()
    ]


def linear_schedule(
    optimizer: torch.optim.Optimizer, total_steps: int, warmup: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """lr factor ``(s + 1) / (w + 1)`` for step ``s < w``, then ``(T - s) / (T - w)``, down to 0
    at step ``T`` (``w = round(warmup * T)``); the factor multiplies each group's peak lr."""
    warm = round(warmup * total_steps)

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / (warm + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
