"""In-memory corpus containers (:class:`Split`, :class:`Corpus`) and the seeded 8:1:1 split.

The containers are the contract between the loaders and everything downstream (see
``docs/design.md``): ids, texts, targets and per-row metadata of each of ``train``/``dev``/``test``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from emomtl.data.tasks import Task

SPLITS = ("train", "dev", "test")


@dataclass
class Split:
    """One split of a corpus; every field has one entry per row, in the same order.

    Attributes:
        ids: corpus ids (SemEval ``ID``, EmoBank ``id``, tales ``"<author>/<story>#<SentID>"``).
        texts: the raw texts.
        targets: S ``(n, 11)`` int64 in {0, 1}, columns in ``Task.labels`` order;
            T ``(n,)`` int64 class index into ``Task.labels``;
            E ``(n, 3)`` float32 V, A, D on the original 1-5 scale.
        meta: per-row metadata, e.g. tales ``author``/``story``, EmoBank ``category``.
    """

    ids: list[str]
    texts: list[str]
    targets: np.ndarray
    meta: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.ids)
        lengths = {"texts": len(self.texts), "targets": len(self.targets)}
        lengths.update({f"meta[{k!r}]": len(v) for k, v in self.meta.items()})
        bad = {name: size for name, size in lengths.items() if size != n}
        if bad:
            raise ValueError(f"Split has {n} ids but {bad}; every field needs one entry per row")

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: Sequence[int] | np.ndarray) -> Split:
        """The rows at ``index`` (in that order), as a new split."""
        index = np.asarray(index, dtype=np.int64)
        return Split(
            ids=[self.ids[i] for i in index],
            texts=[self.texts[i] for i in index],
            targets=self.targets[index],
            meta={k: [v[i] for i in index] for k, v in self.meta.items()},
        )


@dataclass
class Corpus:
    """A task's corpus: exactly the splits ``train``, ``dev`` and ``test``."""

    task: Task
    splits: dict[str, Split]

    def __post_init__(self) -> None:
        if tuple(sorted(self.splits)) != tuple(sorted(SPLITS)):
            raise ValueError(
                f"Corpus of task {self.task.code} has splits {sorted(self.splits)}; "
                f"expected exactly {list(SPLITS)}"
            )

    def sizes(self) -> dict[str, int]:
        """Split name -> number of rows."""
        return {name: len(self.splits[name]) for name in SPLITS}


def ratio_split_sizes(n: int) -> tuple[int, int, int]:
    """Sizes of an 8:1:1 split of ``n`` rows: ``floor(0.8 n)``, ``floor(0.1 n)``, the rest.

    This rule reproduces the paper's Table 1: 1207 tales sentences -> 965 / 120 / 122 and
    9814 de-duplicated EmoBank rows -> 7851 / 981 / 982.
    """
    if n < 10:
        raise ValueError(f"cannot split {n} rows 8:1:1; need at least 10")
    n_train = (8 * n) // 10
    n_dev = n // 10
    return n_train, n_dev, n - n_train - n_dev


def ratio_split(n: int, seed: int, stratify: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Seeded random 8:1:1 split of ``range(n)`` with the sizes of :func:`ratio_split_sizes`.

    Two calls of sklearn's ``train_test_split`` with integer sizes: (train, dev+test), then
    (dev, test); with ``stratify`` (an ``(n,)`` array of class labels) both are stratified.

    Returns:
        split name -> sorted int64 row indices; together a partition of ``range(n)``.
    """
    from sklearn.model_selection import train_test_split

    n_train, n_dev, n_test = ratio_split_sizes(n)
    index = np.arange(n)
    train, rest = train_test_split(
        index, train_size=n_train, test_size=n_dev + n_test, random_state=seed, stratify=stratify
    )
    dev, test = train_test_split(
        rest,
        train_size=n_dev,
        test_size=n_test,
        random_state=seed,
        stratify=None if stratify is None else stratify[rest],
    )
    return {"train": np.sort(train), "dev": np.sort(dev), "test": np.sort(test)}
