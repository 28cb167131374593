"""Small learnable label-space data (random features) shared by the grid tests (local workers and
Ray), so both run the same grid on the same data."""

from __future__ import annotations

import torch

from emomtl.data.tasks import TASKS
from emomtl.experiments.grid import Setting
from emomtl.features.task_data import TaskData

#: A four-setting grid over T and E, GradNorm included.
SMALL_GRID = (Setting("T"), Setting("E"), Setting("T+E"), Setting("T+E", "mh", "gradnorm"))


def learnable_task(code: str, n: int, dim: int, seed: int) -> TaskData:
    """A small learnable task of corpus ``code`` (T or E): ``n`` rows of ``dim`` random features
    split 70/15/15; T's class is the arg-max of the first 5 features plus noise, E's targets are
    ``3 + 0.5 x[:, :3]`` plus noise."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, dim, generator=g)
    if code == "T":
        y = (x[:, :5] + 0.5 * torch.randn(n, 5, generator=g)).argmax(dim=1)
    else:
        y = 3 + 0.5 * x[:, :3] + 0.3 * torch.randn(n, 3, generator=g)
    cut = [0, int(0.7 * n), int(0.85 * n), n]
    splits = {s: slice(cut[i], cut[i + 1]) for i, s in enumerate(("train", "dev", "test"))}
    return TaskData(
        TASKS[code], {s: x[i] for s, i in splits.items()}, {s: y[i] for s, i in splits.items()}
    )


def tiny_bert(
    *, vocab_size: int = 40, hidden_size: int = 16, layers: int = 2, max_positions: int = 32
) -> torch.nn.Module:
    """A randomly initialised BERT small enough for unit tests of fine-tuning (no weights to
    download); seed torch first for a fixed initialisation."""
    from transformers import BertConfig, BertModel

    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=2 * hidden_size,
        max_position_embeddings=max_positions,
    )
    return BertModel(config)
