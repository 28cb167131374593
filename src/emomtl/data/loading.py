"""``load_corpus``: one entry point for every registered label space (``docs/design.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from emomtl.data.corpus import Corpus
from emomtl.data.paths import resolve_data_dir
from emomtl.data.tasks import Task, get_task


def load_corpus(
    task: str | Task,
    data_dir: Path | None = None,
    *,
    tales_split: Literal["sentence", "story"] = "sentence",
    emobank_split: Literal["official", "paper"] = "official",
    split_seed: int = 0,
) -> Corpus:
    """Load the corpus of ``task`` (a :class:`Task`, or a registered code or name).

    The space's reader (built-in module or corpus card) does the work; every reader gets the
    same options and takes the ones it understands.

    Args:
        task: a :class:`Task` or its code/name.
        data_dir: corpora directory; ``None`` resolves ``$EMOMTL_DATA_DIR``, then ``./data``.
        tales_split: ``sentence`` (the paper's stratified 8:1:1) or ``story`` (no story in two
            splits); read by the tales reader.
        emobank_split: ``official`` (the corpus's ``split`` column) or ``paper`` (de-duplicated,
            seeded 8:1:1); read by the EmoBank reader.
        split_seed: seed of every seeded split (tales, EmoBank ``paper``, cards with ``split =
            "ratio"``). Never a training seed, so every run sees the same dev and test sets.

    Raises:
        ValueError: an unknown space (listing the known ones).
        MissingDataError: listing every missing file of the task, with how to get them.
        DataError: for malformed content, naming file and line.
    """
    spec = task if isinstance(task, Task) else get_task(task)
    options = {"tales_split": tales_split, "emobank_split": emobank_split, "split_seed": split_seed}
    return spec.load(resolve_data_dir(data_dir), options)
