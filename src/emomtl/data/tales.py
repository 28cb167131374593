"""Alm's (2008) fairy-tale corpus: the 1207 high-agreement sentences, 5 classes.

Files: ``alm-tales/{Grimms,HCAndersen,Potter}/agree-sent/<story>.agree``, one sentence a line,
``SentID@Code@Sentence``, codes 2=angry-disgusted, 3=fearful, 4=happy, 6=sad, 7=surprised
(mapped to :data:`emomtl.data.tasks.TALES_LABELS`). Seven files are empty (stories without a
high-agreement sentence); that is not an error. Story file names may contain commas and brackets.

There is no official split. Two seeded splits, functions of ``split_seed`` only:

- ``sentence`` (the paper's): stratified random 8:1:1 over sentences, exactly 965 / 120 / 122.
  Sentences of one story land in different splits, and two sentences that repeat within a story
  may end up on both sides.
- ``story``: no story in two splits. sklearn's ``StratifiedGroupKFold(n_splits=10, shuffle=True)``
  with stories as groups; fold 0 is the test set, fold 1 the dev set, folds 2-9 the training set,
  so the sizes are only approximately 8:1:1 (they depend on the story lengths).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from emomtl.data import paths
from emomtl.data.corpus import SPLITS, Corpus, Split, ratio_split
from emomtl.data.errors import DataError, read_utf8
from emomtl.data.tasks import TALES, TALES_LABELS, Task

TalesSplit = Literal["sentence", "story"]

#: Alm's numeric codes in ``.agree`` files -> class index into TALES_LABELS.
CODES = {"2": 0, "3": 1, "4": 2, "6": 3, "7": 4}
#: Sentences in all, and per class in TALES_LABELS order (data README, issue 2).
EXPECTED_TOTAL = 1207
EXPECTED_CLASS_COUNTS = dict(zip(TALES_LABELS, (218, 166, 445, 264, 114), strict=True))
#: Sentence-level 8:1:1 split sizes (paper Table 1).
EXPECTED_SIZES = {"train": 965, "dev": 120, "test": 122}


def read_agree_file(path: Path, author: str) -> Split:
    """Parse one ``.agree`` file of ``author``; an empty file gives an empty split.

    Returns:
        a :class:`Split` with ``targets`` ``(n,)`` int64 class indices, ids
        ``"<author>/<story>#<SentID>"`` and metadata ``author``, ``story`` (the file's stem).

    Raises:
        DataError: naming file and line for a non-UTF-8 file, a line without the three
            ``@``-separated fields, a non-numeric or repeated SentID, an empty sentence or a code
            other than 2, 3, 4, 6, 7.
    """
    story = path.stem
    lines = read_utf8(path).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    ids: list[str] = []
    texts: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        fields = line.rstrip("\r").split("@", 2)
        if len(fields) != 3:
            raise DataError(
                path,
                f"expected 'SentID@Code@Sentence', found {line[:80]!r} without the '@' fields",
                line=lineno,
            )
        sent_id, code, text = fields
        if not sent_id.isdigit() or sent_id in seen:
            problem = "repeated" if sent_id in seen else "not a number"
            raise DataError(path, f"SentID {sent_id!r} is {problem}", line=lineno)
        if code not in CODES:
            raise DataError(
                path,
                f"unknown emotion code {code!r}; expected one of 2, 3, 4, 6, 7 "
                "(angry-disgusted, fearful, happy, sad, surprised)",
                line=lineno,
            )
        if not text.strip():
            raise DataError(path, "empty sentence after 'SentID@Code@'", line=lineno)
        seen.add(sent_id)
        ids.append(f"{author}/{story}#{sent_id}")
        texts.append(text)
        labels.append(CODES[code])
    n = len(ids)
    return Split(
        ids=ids,
        texts=texts,
        targets=np.array(labels, dtype=np.int64),
        meta={"author": [author] * n, "story": [story] * n},
    )


def read_tales(data_dir: Path) -> Split:
    """All high-agreement sentences, authors in :data:`paths.TALES_AUTHORS` order and files
    sorted by name (a deterministic order that the seeded splits rely on).

    Raises:
        MissingDataError: when an author's ``agree-sent`` folder is missing (lists all of them).
        DataError: see :func:`read_agree_file`; also when no file holds any sentence.
    """
    paths.require_paths(paths.tales_agree_dirs(data_dir).values(), data_dir)
    folders = paths.tales_agree_dirs(data_dir)
    parts = [
        read_agree_file(path, author)
        for author, folder in folders.items()
        for path in sorted(folder.glob("*.agree"))
    ]
    if not any(len(p) for p in parts):
        raise DataError(
            folders["Grimms"].parent.parent,
            "no sentences in any */agree-sent/*.agree file; expected Alm's high-agreement "
            "sentences (re-fetch with `emomtl data fetch`)",
        )
    return Split(
        ids=[i for p in parts for i in p.ids],
        texts=[t for p in parts for t in p.texts],
        targets=np.concatenate([p.targets for p in parts]).astype(np.int64, copy=False),
        meta={key: [v for p in parts for v in p.meta[key]] for key in ("author", "story")},
    )


def story_split(stories: list[str], labels: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """Story-level ~8:1:1 split: every story's sentences go to exactly one split.

    Args:
        stories: ``(n,)`` story key of each sentence (``"<author>/<story>"``).
        labels: ``(n,)`` class indices, used to keep the class mix similar across splits.
        seed: ``random_state`` of sklearn's ``StratifiedGroupKFold``.

    Returns:
        split name -> sorted int64 row indices.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    folds = StratifiedGroupKFold(n_splits=10, shuffle=True, random_state=seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    for k, (_, held_out) in enumerate(folds.split(np.zeros(len(labels)), labels, stories)):
        fold_of[held_out] = k
    return {
        "train": np.flatnonzero(fold_of >= 2),
        "dev": np.flatnonzero(fold_of == 1),
        "test": np.flatnonzero(fold_of == 0),
    }


def load_tales(data_dir: Path, *, split: TalesSplit = "sentence", split_seed: int = 0) -> Corpus:
    """Load the tales corpus and split it (see the module docstring).

    Raises:
        MissingDataError: when an author's ``agree-sent`` folder is missing (lists all of them).
        DataError: see :func:`read_agree_file`.
        ValueError: for an unknown ``split``.
    """
    everything = read_tales(data_dir)
    if split == "sentence":
        index = ratio_split(len(everything), split_seed, stratify=everything.targets)
    elif split == "story":
        authors, names = everything.meta["author"], everything.meta["story"]
        stories = [f"{a}/{s}" for a, s in zip(authors, names, strict=True)]
        index = story_split(stories, everything.targets, split_seed)
    else:
        raise ValueError(f"unknown tales split {split!r}; expected 'sentence' or 'story'")
    return Corpus(task=TALES, splits={name: everything.subset(index[name]) for name in SPLITS})


def required_paths(task: Task, data_dir: Path) -> list[Path]:
    """Reader protocol (:class:`emomtl.data.tasks.Task`): the authors' ``agree-sent`` folders."""
    return list(paths.tales_agree_dirs(data_dir).values())


def load(task: Task, data_dir: Path, options: Mapping[str, Any]) -> Corpus:
    """Reader protocol: :func:`load_tales` with ``options["tales_split"]`` and ``split_seed``."""
    return load_tales(
        data_dir,
        split=options.get("tales_split", "sentence"),
        split_seed=int(options.get("split_seed", 0)),
    )


#: ``emomtl data check``: both split modes; only the sentence split has published sizes.
CHECK_MODES = (
    ("sentence", {"tales_split": "sentence"}, EXPECTED_SIZES),
    ("story", {"tales_split": "story"}, None),
)


def check_problems(corpus: Corpus, mode: str) -> list[str]:
    """Sentence mode: class counts other than the README's; story mode: a story in two splits."""
    problems = []
    if mode == "story":
        owner: dict[tuple[str, str], str] = {}
        for name, split in corpus.splits.items():
            for key in zip(split.meta["author"], split.meta["story"], strict=True):
                if owner.setdefault(key, name) != name:
                    problems.append(f"T story split: story {'/'.join(key)} is in two splits")
                    break
        return problems
    counts = np.sum([np.bincount(s.targets, minlength=5) for s in corpus.splits.values()], axis=0)
    found = dict(zip(corpus.task.labels, counts.tolist(), strict=True))
    if found != EXPECTED_CLASS_COUNTS:
        problems.append(
            f"T: sentences per class {found}; expected {EXPECTED_CLASS_COUNTS} (data README)"
        )
    return problems
