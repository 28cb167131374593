"""``load_corpus``: one entry point for the three corpora (the contract in ``docs/design.md``)."""

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
    """Load the corpus of ``task`` (code ``S``/``T``/``E`` or name) with its train/dev/test splits.

    Args:
        task: a :class:`Task` or its code/name.
        data_dir: corpora directory; ``None`` resolves ``$EMOMTL_DATA_DIR``, then ``./data``.
        tales_split: ``sentence`` (the paper's stratified 8:1:1) or ``story`` (no story in two
            splits); only used for T.
        emobank_split: ``official`` (the corpus's ``split`` column) or ``paper`` (de-duplicated,
            seeded 8:1:1); only used for E.
        split_seed: seed of the T splits and of the E ``paper`` split. Never a training seed, so
            every run of every setting sees the same dev and test sets.

    Raises:
        MissingDataError: listing every missing file of the task, with how to get them.
        DataError: for malformed content, naming file and line.
    """
    code = task.code if isinstance(task, Task) else get_task(task).code
    root = resolve_data_dir(data_dir)
    if code == "S":
        from emomtl.data.semeval import load_semeval

        return load_semeval(root)
    if code == "T":
        from emomtl.data.tales import load_tales

        return load_tales(root, split=tales_split, split_seed=split_seed)
    from emomtl.data.emobank import load_emobank

    return load_emobank(root, split=emobank_split, split_seed=split_seed)
