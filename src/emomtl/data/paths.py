"""Where the corpora live: data-directory resolution and the files each corpus needs.

The data directory is resolved as ``--data-dir`` > ``$EMOMTL_DATA_DIR`` > ``./data`` and holds the
corpora in their original layout (what ``emomtl data fetch`` writes)::

    DATA_DIR/
      semeval2018-ec/2018-E-c-En-{train,dev,test-gold}.txt
      emobank/emobank.csv            (+ meta.tsv, optional: genre of every row)
      alm-tales/{Grimms,HCAndersen,Potter}/agree-sent/*.agree
      goemotions/{train,dev,test}.tsv, emotions.txt   (read through the built-in GoEmotions card)

Corpora declared by a user's card live wherever the card says (paths relative to the card).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from emomtl.data.errors import MissingDataError

ENV_VAR = "EMOMTL_DATA_DIR"
DEFAULT_DATA_DIR = Path("data")

SEMEVAL_DIR = "semeval2018-ec"
EMOBANK_DIR = "emobank"
TALES_DIR = "alm-tales"

#: SemEval-2018 E-c file per split, in the organisers' naming.
SEMEVAL_FILES = {
    "train": "2018-E-c-En-train.txt",
    "dev": "2018-E-c-En-dev.txt",
    "test": "2018-E-c-En-test-gold.txt",
}
EMOBANK_CSV = "emobank.csv"
EMOBANK_META = "meta.tsv"
TALES_AUTHORS = ("Grimms", "HCAndersen", "Potter")


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """The corpora directory: ``data_dir`` if given, else ``$EMOMTL_DATA_DIR``, else ``./data``.

    The path is returned as given (``~`` expanded); whether it exists is checked by the loaders,
    which report every missing file at once (:func:`require`).
    """
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_DATA_DIR


def semeval_paths(data_dir: Path) -> dict[str, Path]:
    """Split name -> path of the SemEval-2018 E-c file."""
    return {split: data_dir / SEMEVAL_DIR / name for split, name in SEMEVAL_FILES.items()}


def emobank_csv(data_dir: Path) -> Path:
    """Path of ``emobank/emobank.csv``."""
    return data_dir / EMOBANK_DIR / EMOBANK_CSV


def emobank_meta(data_dir: Path) -> Path:
    """Path of ``emobank/meta.tsv`` (optional metadata)."""
    return data_dir / EMOBANK_DIR / EMOBANK_META


def tales_agree_dirs(data_dir: Path) -> dict[str, Path]:
    """Author -> ``alm-tales/<Author>/agree-sent`` directory."""
    return {author: data_dir / TALES_DIR / author / "agree-sent" for author in TALES_AUTHORS}


def required_paths(code: str, data_dir: Path) -> list[Path]:
    """Files (and, for the tales, directories) that the label space ``code`` needs."""
    from emomtl.data.tasks import get_task

    return get_task(code).required_paths(data_dir)


def missing_paths(codes: Iterable[str], data_dir: Path) -> list[Path]:
    """Every required path of ``codes`` that does not exist, in task then file order."""
    return [p for code in codes for p in required_paths(code, data_dir) if not p.exists()]


def require(codes: Iterable[str], data_dir: Path) -> None:
    """Check that every file the label spaces ``codes`` need is present.

    Raises:
        MissingDataError: listing *all* missing files at once, with how to get them.
    """
    missing = missing_paths(codes, data_dir)
    if missing:
        raise MissingDataError(data_dir, missing)


def require_paths(required: Iterable[Path], data_dir: Path) -> None:
    """Raise :class:`MissingDataError` listing every path of ``required`` that does not exist."""
    missing = [p for p in required if not p.exists()]
    if missing:
        raise MissingDataError(data_dir, missing)
