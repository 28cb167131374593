"""Writers of small, valid corpus folders (in tmp_path); tests then break one thing at a time."""

from __future__ import annotations

from pathlib import Path

SEMEVAL_HEADER = (
    "ID\tTweet\tanger\tanticipation\tdisgust\tfear\tjoy\tlove\toptimism\tpessimism\tsadness\t"
    "surprise\ttrust"
)
# Hand-written rows: flags in header order; the third tweet has no emotion (all zeros).
SEMEVAL_ROWS = {
    "train": [
        "2018-En-00001\tSo angry #fail\t1\t0\t1\t0\t0\t0\t0\t0\t0\t0\t0",
        "2018-En-00002\tLove you all \U0001f60d\t0\t0\t0\t0\t1\t1\t1\t0\t0\t0\t0",
        '2018-En-00003\t"quoted" @someone\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0\t0',
    ],
    "dev": ["2018-En-00004\tscared\t0\t0\t0\t1\t0\t0\t0\t0\t0\t0\t0"],
    "test": ["2018-En-00005\twow\t0\t0\t0\t0\t0\t0\t0\t0\t0\t1\t1"],
}
SEMEVAL_NAMES = {
    "train": "2018-E-c-En-train.txt",
    "dev": "2018-E-c-En-dev.txt",
    "test": "2018-E-c-En-test-gold.txt",
}

EMOBANK_HEADER = "id,split,V,A,D,text"


def write_semeval(root: Path, rows: dict[str, list[str]] | None = None) -> None:
    folder = root / "semeval2018-ec"
    folder.mkdir(parents=True, exist_ok=True)
    for split, lines in (rows or SEMEVAL_ROWS).items():
        text = "\n".join([SEMEVAL_HEADER, *lines]) + "\n"
        (folder / SEMEVAL_NAMES[split]).write_text(text, encoding="utf-8")


def write_tales(root: Path, files: dict[str, dict[str, str]]) -> None:
    """``files``: author -> story file name -> content (every author folder is created)."""
    for author in ("Grimms", "HCAndersen", "Potter"):
        folder = root / "alm-tales" / author / "agree-sent"
        folder.mkdir(parents=True, exist_ok=True)
        for name, content in files.get(author, {}).items():
            (folder / name).write_text(content, encoding="utf-8")


def write_emobank(root: Path, rows: list[str], meta: list[str] | None = None) -> Path:
    folder = root / "emobank"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "emobank.csv"
    path.write_text("\n".join([EMOBANK_HEADER, *rows]) + "\n", encoding="utf-8")
    if meta is not None:
        (folder / "meta.tsv").write_text("\n".join(meta) + "\n", encoding="utf-8")
    return path
