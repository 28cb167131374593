"""Leave-one-space-out with fine-tuning: score label spaces the model never trained on.

A fine-tuned label-head model (:mod:`emomtl.finetune.model`) embeds a held-out space's label
texts with its own, fine-tuned encoder, exactly as a saved bundle would for ``--labels``, and
scores that space's dev and test texts zero-shot (:func:`emomtl.experiments.label_transfer.
held_out_metrics`)::

    E = pool(encoder(label texts))     (l, d)    eval mode, no gradients
    H = pool(encoder(texts))           (n, d)
    raw = q(H) (n(n(E) - m) P^T + u0)^T + b0    (n, l)   the head's zero-shot scores

The held-out space's training rows are never read by the model: only its label texts and its
dev/test rows are.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emomtl.finetune.data import TaskTokens, tokenize
from emomtl.finetune.model import FinetuneModel
from emomtl.finetune.precision import Precision

#: Splits a held-out space is scored on.
HELD_OUT_SPLITS: tuple[str, ...] = ("dev", "test")


@dataclass
class HeldOutSpace:
    """A label space kept out of training: its tokenized splits and label texts."""

    tokens: TaskTokens
    label_ids: list[list[int]]


def load_held_out(
    codes: Sequence[str],
    trained: Sequence[str],
    tokenizer: Any,
    max_length: int,
    *,
    data_dir: Path | None = None,
    data_options: Mapping[str, Any] | None = None,
    limit: Mapping[str, int] | None = None,
) -> dict[str, HeldOutSpace]:
    """Tokenize the held-out spaces ``codes`` (task codes or names) and their label texts.

    Raises:
        ValueError: a code is unknown, repeated, or one of the ``trained`` spaces.
    """
    from emomtl.data.tasks import get_task, parse_task_spec
    from emomtl.finetune.data import load_tokenized
    from emomtl.model.label_head import label_texts

    resolved = [get_task(code).code for code in codes]
    clash = sorted(set(resolved) & set(trained))
    if clash:
        raise ValueError(f"held-out space(s) {clash} are also trained on; hold out others")
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"held-out spaces repeat: {list(codes)}")
    if not resolved:
        return {}
    data = load_tokenized(
        parse_task_spec("+".join(resolved)),
        tokenizer,
        max_length,
        data_dir=data_dir,
        data_options=data_options,
        limit=limit,
    )
    return {
        code: HeldOutSpace(tokens, tokenize(tokenizer, label_texts(tokens.task), max_length))
        for code, tokens in data.items()
    }


def held_out_scores(
    model: FinetuneModel,
    held: Mapping[str, HeldOutSpace],
    *,
    precision: Precision,
    batch_size: int,
    pad_id: int,
) -> dict[str, dict[str, dict[str, float]]]:
    """``{split: {code: metrics}}`` of every held-out space, scored zero-shot by ``model`` (a
    label-head model in its selected state) on :data:`HELD_OUT_SPLITS`."""
    import numpy as np
    import torch

    from emomtl.experiments.label_transfer import held_out_metrics
    from emomtl.finetune.data import TokenizedSplit
    from emomtl.finetune.loop import map_rows
    from emomtl.zero_shot import require_label_head

    require_label_head(model.head, "a fine-tuned model")
    kw = {"precision": precision, "batch_size": batch_size, "pad_id": pad_id}
    result: dict[str, dict[str, dict[str, float]]] = {split: {} for split in HELD_OUT_SPLITS}
    for code, space in held.items():
        labels = TokenizedSplit(
            ids=space.label_ids,
            lengths=np.array([len(r) for r in space.label_ids], dtype=np.int64),
            targets=torch.empty(0),
        )
        label_features = map_rows(model.embed, model, labels, **kw)
        for split in HELD_OUT_SPLITS:
            part = space.tokens.splits[split]
            features = map_rows(model.embed, model, part, **kw)
            result[split][code] = held_out_metrics(
                model.head, space.tokens.task, features, part.targets, label_features
            )
    return result
