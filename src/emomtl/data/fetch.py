"""``emomtl data fetch``: download the four corpora, verify every file, place them atomically.

Original public locations (each overridable with ``source``, a base URL or a local directory that
holds files of the same names):

- SemEval-2018 Task 1 data zip from the organisers (``SemEval2018-Task1-all-data.zip``); the E-c
  files are taken from ``English/E-c/`` inside it.
- EmoBank ``corpus/emobank.csv`` and ``corpus/meta.tsv`` from github.com/JULIELab/EmoBank at commit
  248ce2a.
- Alm's ``Grimms.tar.gz``, ``HCAndersen.tar.gz``, ``Potter.tar.gz`` from her affectdata page; each
  holds one top-level folder named after the author.
- GoEmotions ``train.tsv``, ``dev.tsv``, ``test.tsv``, ``emotions.txt`` from
  github.com/google-research/google-research ``goemotions/data/`` (branch
  :data:`GOEMOTIONS_REF`; the SHA-256 sums pin the content).

The result is laid out like the reference data directory (``semeval2018-ec/``, ``emobank/``,
``alm-tales/<Author>/...``) and every file is checked against :mod:`emomtl.data.checksums`.

Atomicity and resumption: downloads go to ``<dest parent>/.<dest name>.fetch-partial/downloads``
(``*.part`` until the last byte arrived, then renamed); each corpus is extracted into the same
staging folder, verified, and only then renamed into ``dest``. So ``dest`` only ever holds
complete, verified corpus folders. A failed corpus leaves nothing of itself in ``dest`` (its
downloads are deleted from the staging folder, so they are fetched anew); a re-run skips
corpora already in ``dest``, reuses complete downloads and fetches the rest. The staging folder
is removed once everything is in place.
"""

from __future__ import annotations

import http.client
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from emomtl.data.checksums import expected_sums
from emomtl.data.paths import EMOBANK_DIR, SEMEVAL_DIR, SEMEVAL_FILES, TALES_DIR
from emomtl.hashing import sha256_file

if TYPE_CHECKING:
    from rich.progress import TaskID

SEMEVAL_ZIP_URL = (
    "https://saifmohammad.com/WebDocs/AIT-2018/AIT2018-DATA/SemEval2018-Task1-all-data.zip"
)
EMOBANK_COMMIT = "248ce2a43e165a66d31aeaed83cff9641d6654e0"
EMOBANK_BASE_URL = f"https://raw.githubusercontent.com/JULIELab/EmoBank/{EMOBANK_COMMIT}/corpus"
ALM_BASE_URL = "http://people.rc.rit.edu/~coagla/affectdata"
GOEMOTIONS_REF = "master"  # the files are pinned by their SHA-256 below, not by the ref
GOEMOTIONS_BASE_URL = (
    "https://raw.githubusercontent.com/google-research/google-research/"
    f"{GOEMOTIONS_REF}/goemotions/data"
)
GOEMOTIONS_DIR = "goemotions"
#: Folder of the E-c files inside the organisers' zip (under ``SemEval2018-Task1-all-data/``).
SEMEVAL_ZIP_FOLDER = "English/E-c"

ArchiveKind = Literal["file", "zip", "tar"]


@dataclass(frozen=True)
class Artefact:
    """One downloadable file and where its content goes.

    Attributes:
        name: file name of the download (also its name under an overriding ``source``).
        url: original public location.
        corpus: corpus folder it fills (``semeval2018-ec``, ``emobank``, ``alm-tales``).
        kind: ``file`` (placed as ``<corpus>/<name>``), ``zip`` (SemEval E-c members) or ``tar``
            (extracted under ``<corpus>/``).
    """

    name: str
    url: str
    corpus: str
    kind: ArchiveKind


ARTEFACTS: tuple[Artefact, ...] = (
    Artefact("SemEval2018-Task1-all-data.zip", SEMEVAL_ZIP_URL, SEMEVAL_DIR, "zip"),
    Artefact("emobank.csv", f"{EMOBANK_BASE_URL}/emobank.csv", EMOBANK_DIR, "file"),
    Artefact("meta.tsv", f"{EMOBANK_BASE_URL}/meta.tsv", EMOBANK_DIR, "file"),
    *(
        Artefact(f"{author}.tar.gz", f"{ALM_BASE_URL}/{author}.tar.gz", TALES_DIR, "tar")
        for author in ("Grimms", "HCAndersen", "Potter")
    ),
    *(
        Artefact(name, f"{GOEMOTIONS_BASE_URL}/{name}", GOEMOTIONS_DIR, "file")
        for name in ("train.tsv", "dev.tsv", "test.tsv", "emotions.txt")
    ),
)
CORPORA = (SEMEVAL_DIR, EMOBANK_DIR, TALES_DIR, GOEMOTIONS_DIR)


class FetchError(RuntimeError):
    """A fetch did not complete; ``problems`` lists every corpus-level failure."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"- {p}" for p in problems)
        super().__init__(
            f"{len(problems)} problem(s) while fetching the corpora:\n{listing}\n"
            "Corpora that passed verification are in place; run the same command again to "
            "retry the rest (complete downloads are reused)."
        )


@dataclass
class FetchResult:
    """What a successful :func:`fetch` did: corpus folders written and those already present."""

    dest: Path
    fetched: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)


def artefact_url(artefact: Artefact, source: str | Path | None) -> str:
    """URL to download ``artefact`` from: its original location, or ``source``/``name``.

    ``source`` is a base URL (``https://mirror/emomtl``) or an existing local directory.
    """
    if source is None:
        return artefact.url
    local = Path(source).expanduser()
    if local.is_dir():
        return (local.resolve() / artefact.name).as_uri()
    return f"{str(source).rstrip('/')}/{artefact.name}"


def verify_tree(root: Path, corpus: str, sums: dict[str, str] | None = None) -> list[str]:
    """Check every expected file of ``corpus`` under ``root/corpus``; return problems (empty = ok).

    Each mismatch names the file and both sums.
    """
    sums = expected_sums() if sums is None else sums
    problems = []
    for rel, expected in sums.items():
        if not rel.startswith(f"{corpus}/"):
            continue
        path = root / rel
        if not path.is_file():
            problems.append(f"{rel}: missing")
            continue
        actual = sha256_file(path)
        if actual != expected:
            problems.append(f"{rel}: SHA-256 mismatch, expected {expected}, got {actual}")
    return problems


ProgressHook = Callable[[str, int, int | None], None]  # (name, bytes so far, total or None)


def download(url: str, target: Path, on_progress: ProgressHook | None = None) -> None:
    """Download ``url`` to ``target`` via ``target.part``; ``target`` appears only when complete.

    Raises:
        FetchError: for an unreachable URL, an HTTP error or a connection dropped before the
            announced ``Content-Length`` arrived (the partial file is removed).
    """
    part = target.with_name(target.name + ".part")
    received, total = 0, None
    try:
        with urllib.request.urlopen(url, timeout=60) as response, part.open("wb") as out:
            length = response.headers.get("Content-Length")
            total = int(length) if length else None
            while chunk := response.read(1 << 16):
                out.write(chunk)
                received += len(chunk)
                if on_progress is not None:
                    on_progress(target.name, received, total)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise FetchError(
            [
                f"download of {url} failed after {received} bytes: {reason}; check the network or "
                "pass --source with a mirror URL or a directory holding the files"
            ]
        ) from exc
    except Exception:
        part.unlink(missing_ok=True)
        raise
    if total is not None and received != total:
        part.unlink(missing_ok=True)
        raise FetchError(
            [
                f"download of {url} stopped after {received} of {total} bytes "
                "(connection dropped); run the same command again"
            ]
        )
    part.replace(target)


def extract(artefact: Artefact, archive: Path, tree: Path) -> None:
    """Put the content of a downloaded ``artefact`` under ``tree/<corpus>/`` in the final layout."""
    out = tree / artefact.corpus
    out.mkdir(parents=True, exist_ok=True)
    if artefact.kind == "file":
        shutil.copyfile(archive, out / artefact.name)
    elif artefact.kind == "tar":
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(out, filter="data")
    else:
        with zipfile.ZipFile(archive) as zf:
            members = {
                Path(info.filename).name: info
                for info in zf.infolist()
                if info.filename.rstrip("/").rsplit("/", 1)[0].endswith(SEMEVAL_ZIP_FOLDER)
                and not info.filename.startswith("__MACOSX")
            }
            for filename in SEMEVAL_FILES.values():
                if filename in members:  # absent members are reported by verification
                    (out / filename).write_bytes(zf.read(members[filename]))


def _fetch_corpus(
    corpus: str,
    dest: Path,
    staging: Path,
    source: str | Path | None,
    sums: dict[str, str],
    on_progress: ProgressHook | None,
) -> None:
    """Download, extract, verify and move one corpus into ``dest``; raise FetchError on failure."""
    downloads = staging / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    tree = staging / "tree"
    shutil.rmtree(tree / corpus, ignore_errors=True)
    artefacts = [a for a in ARTEFACTS if a.corpus == corpus]
    for artefact in artefacts:
        archive = downloads / artefact.name
        url = artefact_url(artefact, source)
        if not archive.exists():
            download(url, archive, on_progress)
        try:
            extract(artefact, archive, tree)
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
            archive.unlink(missing_ok=True)
            raise FetchError(
                [f"{artefact.name} from {url} is not a readable archive: {exc}"]
            ) from exc
    problems = verify_tree(tree, corpus, sums)
    if problems:
        shutil.rmtree(tree / corpus, ignore_errors=True)
        for artefact in artefacts:  # re-download on the next run
            (downloads / artefact.name).unlink(missing_ok=True)
        sources = ", ".join(artefact_url(a, source) for a in artefacts)
        raise FetchError([f"{corpus} (from {sources}) failed verification:", *problems])
    dest.mkdir(parents=True, exist_ok=True)
    (tree / corpus).rename(dest / corpus)


def fetch(
    dest: str | Path,
    *,
    source: str | Path | None = None,
    corpora: Iterable[str] | None = None,
    progress: bool = False,
) -> FetchResult:
    """Download the corpora into ``dest`` (see the module docstring for the guarantees).

    Args:
        dest: data directory to fill (created if needed).
        source: base URL or local directory that overrides every original location.
        corpora: subset of :data:`CORPORA` (default all).
        progress: show a rich progress bar (bytes, speed) on stderr.

    Returns:
        which corpora were fetched and which were already present (and verified).

    Raises:
        FetchError: listing every corpus that could not be fetched or verified, with both
            checksums for a mismatch; corpora that succeeded are in place.
        ValueError: for an unknown corpus name.
    """
    dest = Path(dest).expanduser()
    selected = list(CORPORA if corpora is None else corpora)
    unknown = sorted(set(selected) - set(CORPORA))
    if unknown:
        raise ValueError(f"unknown corpus {unknown}; expected some of {list(CORPORA)}")
    staging = dest.parent / f".{dest.name}.fetch-partial"
    sums = expected_sums()
    result = FetchResult(dest=dest)
    problems: list[str] = []
    with _progress(progress) as on_progress:
        for corpus in selected:
            if (dest / corpus).exists():
                differs = verify_tree(dest, corpus, sums)
                if differs:
                    problems.append(
                        f"{dest / corpus} exists but differs from the release ({differs[0]}"
                        f"{f' and {len(differs) - 1} more' if len(differs) > 1 else ''}); "
                        "move it away and run again"
                    )
                else:
                    result.already_present.append(corpus)
                continue
            try:
                _fetch_corpus(corpus, dest, staging, source, sums, on_progress)
            except FetchError as exc:
                problems.extend(exc.problems)
            else:
                result.fetched.append(corpus)
    if problems:
        raise FetchError(problems)
    shutil.rmtree(staging, ignore_errors=True)
    return result


@contextmanager
def _progress(enabled: bool) -> Iterator[ProgressHook | None]:
    """Yield a download progress hook drawing a rich bar on stderr, or ``None`` when disabled."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        tasks: dict[str, TaskID] = {}

        def update(name: str, received: int, total: int | None) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=total)
            bar.update(tasks[name], completed=received)

        yield update
