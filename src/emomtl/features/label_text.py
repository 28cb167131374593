"""Label-text features for the label-semantic head: each label's text through the frozen encoder.

The texts come from :func:`emomtl.model.label_head.label_texts` (a space's ``label_descriptions``
entry when non-empty, else the label name). They are encoded with the same :class:`EncoderSpec`
as the inputs and go through the on-disk feature cache (:func:`emomtl.features.cache.encode_cached`,
one small entry per space), so they are computed once per encoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch

from emomtl.features.cache import encode_cached
from emomtl.features.encoders import EncoderSpec
from emomtl.features.task_data import TaskData
from emomtl.model.label_head import label_texts


def encode_label_texts(
    texts: Sequence[str], spec: EncoderSpec | None = None, *, cache_dir: Path | None = None
) -> torch.Tensor:
    """``(l, d)`` float32 features of label texts (not normalised; the head normalises)."""
    return encode_cached(list(texts), spec or EncoderSpec(), cache_dir=cache_dir)


def attach_label_features(
    data: Mapping[str, TaskData],
    spec: EncoderSpec | None = None,
    *,
    cache_dir: Path | None = None,
) -> None:
    """Set ``label_features`` ``(l_i, d)`` of every :class:`TaskData` in ``data``, in place."""
    for task_data in data.values():
        texts = label_texts(task_data.task)
        task_data.label_features = encode_label_texts(texts, spec, cache_dir=cache_dir)
