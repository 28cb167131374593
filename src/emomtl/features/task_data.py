"""Per-task tensors for training: frozen-encoder features and targets for every split."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from emomtl.data.tasks import Task, get_task
from emomtl.features.cache import CachedFeatures, load_or_encode
from emomtl.features.encoders import EncoderSpec

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.data.corpus import Corpus


@dataclass
class TaskData:
    """Features and targets of one task, all splits, held in memory as contiguous tensors.

    Attributes:
        task: the task spec.
        features: split name -> (n, d) float32 encoder features.
        targets: split name -> S (n, 11) float32 in {0, 1}; T (n,) int64 class indices;
            E (n, 3) float32 V/A/D on the original 1-5 scale.
        ids: split name -> corpus ids of the rows (same order as the tensors).
        label_features: ``(l, d)`` encoder features of the space's label texts, for the
            label-semantic head (set by :func:`emomtl.features.label_text.attach_label_features`;
            None otherwise).
    """

    task: Task
    features: dict[str, torch.Tensor]
    targets: dict[str, torch.Tensor]
    ids: dict[str, list[str]] = field(default_factory=dict)
    label_features: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for split, x in self.features.items():
            y = self.targets.get(split)
            if y is None:
                raise ValueError(
                    f"task {self.task.code}: split {split!r} has features but no targets"
                )
            if x.ndim != 2 or x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"task {self.task.code}, split {split!r}: features {tuple(x.shape)} and "
                    f"targets {tuple(y.shape)} do not describe the same rows"
                )

    @property
    def dim(self) -> int:
        """Feature dimension d."""
        return next(iter(self.features.values())).shape[1]


def targets_tensor(task: Task, targets: np.ndarray) -> torch.Tensor:
    """Loader targets -> training tensor: S (n, 11) float32 {0, 1}; T (n,) int64; E (n, 3) float32.

    Raises:
        ValueError: when the array's shape does not fit the task kind.
    """
    array = np.asarray(targets)
    if task.kind == "multiclass":
        if array.ndim != 1:
            raise ValueError(f"task {task.code}: expected (n,) class indices, got {array.shape}")
        return torch.as_tensor(array.astype(np.int64))
    if array.ndim != 2 or array.shape[1] != task.num_labels:
        raise ValueError(
            f"task {task.code}: expected (n, {task.num_labels}) targets, got {array.shape}"
        )
    return torch.as_tensor(array.astype(np.float32))


def build_task_data(
    corpus: Corpus,
    spec: EncoderSpec | None = None,
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
    batch_size: int | None = None,
) -> tuple[TaskData, CachedFeatures]:
    """Features (one cached encoder call over all splits) and targets of one corpus.

    The texts of every split are concatenated in split order and encoded as one cache entry, so
    the encoder runs at most once per corpus; the rows are then cut back into splits.

    Returns:
        the task data and the cache record of the encoding (hit or miss, entry path, time).
    """
    from emomtl.data.corpus import SPLITS

    spec = spec or EncoderSpec()
    names = [name for name in SPLITS if name in corpus.splits]
    texts = [t for name in names for t in corpus.splits[name].texts]
    cached = load_or_encode(
        texts, spec, cache_dir=cache_dir, progress=progress, batch_size=batch_size
    )
    features: dict[str, torch.Tensor] = {}
    start = 0
    for name in names:
        n = len(corpus.splits[name])
        features[name] = cached.features[start : start + n].contiguous()
        start += n
    data = TaskData(
        task=corpus.task,
        features=features,
        targets={n: targets_tensor(corpus.task, corpus.splits[n].targets) for n in names},
        ids={n: list(corpus.splits[n].ids) for n in names},
    )
    return data, cached


def load_task_data(
    codes: Iterable[str],
    *,
    spec: EncoderSpec | None = None,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    tales_split: Literal["sentence", "story"] = "sentence",
    emobank_split: Literal["official", "paper"] = "official",
    progress: bool = False,
) -> dict[str, TaskData]:
    """Load corpora and their cached features for the given task codes (or names).

    Args:
        codes: registered label-space codes or names, e.g. ``["S", "T", "E", "goemotions"]``.
        spec: the encoder (default :class:`EncoderSpec`, MiniLM mean-pooled, fp32).
        data_dir: corpora directory (default ``$EMOMTL_DATA_DIR``, else ``./data``).
        cache_dir: feature cache (default ``$EMOMTL_CACHE``, else the user cache dir).
        tales_split: ``sentence`` or ``story`` level 8:1:1 split of the tales.
        emobank_split: ``official`` split column or the ``paper`` de-duplicated random split.
        progress: show a progress bar while encoding.

    Returns:
        task code -> :class:`TaskData`, in canonical task order (S, T, E).
    """
    from emomtl.data.loading import load_corpus
    from emomtl.data.paths import require, resolve_data_dir
    from emomtl.data.tasks import TASKS

    wanted = {get_task(c).code for c in codes}
    require(wanted, resolve_data_dir(data_dir))  # one message listing every missing file
    result: dict[str, TaskData] = {}
    for code in (c for c in TASKS if c in wanted):
        corpus = load_corpus(code, data_dir, tales_split=tales_split, emobank_split=emobank_split)
        result[code], _ = build_task_data(corpus, spec, cache_dir=cache_dir, progress=progress)
    return result
