"""Corpora -> token ids and targets per split, once per run (every seed reuses them).

Texts and targets come from :func:`emomtl.data.loading.load_corpus`, so any label space the task
registry knows is usable; targets are typed by ``Task.kind`` (multilabel: float {0, 1} ``(n, l)``;
multiclass: int64 ``(n,)``; regression: float32 ``(n, l)`` on the corpus's own scale).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emomtl.data.tasks import Task, TaskSelection

SPLITS: tuple[str, ...] = ("train", "dev", "test")


@dataclass
class TokenizedSplit:
    """One split of one task.

    Attributes:
        ids: per row, its input ids (special tokens included, at most ``max_length``).
        lengths: ``(n,)`` int64, ``len(ids[i])``.
        targets: see the module docstring.
    """

    ids: list[list[int]]
    lengths: np.ndarray
    targets: torch.Tensor

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class TaskTokens:
    """A task and its tokenized splits (``train``, ``dev``, ``test``)."""

    task: Task
    fraction: float
    splits: dict[str, TokenizedSplit]


def typed_targets(task: Task, targets: Any) -> torch.Tensor:
    """A corpus split's targets as the tensor the loss of ``task.kind`` expects."""
    array = np.asarray(targets)
    if task.kind == "multiclass":
        return torch.as_tensor(array.astype(np.int64).reshape(-1))
    return torch.as_tensor(array.astype(np.float32))


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Input ids of every text, truncated to ``max_length`` tokens (special tokens included)."""
    encoded = tokenizer(
        list(texts),
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )
    return [list(row) for row in encoded["input_ids"]]


def load_tokenized(
    selections: Sequence[TaskSelection],
    tokenizer: Any,
    max_length: int,
    *,
    data_dir: Path | None = None,
    data_options: Mapping[str, Any] | None = None,
    limit: Mapping[str, int] | None = None,
) -> dict[str, TaskTokens]:
    """Load and tokenize every selected task's splits.

    Args:
        selections: from :func:`emomtl.data.tasks.parse_task_spec`.
        tokenizer: the encoder's Hugging Face tokenizer.
        max_length: truncation length.
        data_dir: corpora directory (None: ``$EMOMTL_DATA_DIR``, then ``./data``).
        data_options: keyword options of ``load_corpus`` (``tales_split``, ``emobank_split``).
        limit: optional split -> maximum rows (the first rows), for quick tests and benchmarks.
    """
    from emomtl.data.loading import load_corpus

    out: dict[str, TaskTokens] = {}
    for sel in selections:
        corpus = load_corpus(sel.task, data_dir, **dict(data_options or {}))
        splits = {}
        for name in SPLITS:
            split = corpus.splits[name]
            n = (
                len(split.texts)
                if not limit or name not in limit
                else min(limit[name], len(split.texts))
            )
            ids = tokenize(tokenizer, split.texts[:n], max_length)
            splits[name] = TokenizedSplit(
                ids=ids,
                lengths=np.array([len(r) for r in ids], dtype=np.int64),
                targets=typed_targets(sel.task, split.targets[:n]),
            )
        out[sel.task.code] = TaskTokens(task=sel.task, fraction=sel.fraction, splits=splits)
    return out
