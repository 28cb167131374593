"""``emomtl data fetch`` against an HTTP server on 127.0.0.1 serving release files built from the
reference data directory: full layout and checksums, corrupted files, interrupted downloads."""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import threading
import zipfile
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from corpus_files import SEMEVAL_NAMES
from typer.testing import CliRunner

from emomtl.cli import app
from emomtl.data.checksums import expected_sums
from emomtl.data.fetch import ARTEFACTS, FetchError, artefact_url, fetch

pytestmark = pytest.mark.real  # the release files are built from the real corpora

AUTHORS = ("Grimms", "HCAndersen", "Potter")
ZIP_NAME = "SemEval2018-Task1-all-data.zip"


def _reference_sums(data_dir: Path) -> dict[str, str]:
    """The reference SHA256SUMS file of the data directory: relative path -> digest."""
    lines = (data_dir / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {path.removeprefix("./"): digest for digest, path in (ln.split("  ", 1) for ln in lines)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _normal_mode(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mode = 0o755 if info.isdir() else 0o644  # the reference copy is read-only
    return info


def _build_release(data_dir: Path, out: Path, *, drop_test_gold: bool = False) -> None:
    """Write the ten release files under their original names, laid out as the originals."""
    out.mkdir(parents=True)
    for author in AUTHORS:
        with tarfile.open(out / f"{author}.tar.gz", "w:gz") as tar:
            tar.add(data_dir / "alm-tales" / author, arcname=author, filter=_normal_mode)
    with zipfile.ZipFile(out / ZIP_NAME, "w") as zf:
        for name in SEMEVAL_NAMES.values():
            if drop_test_gold and "test-gold" in name:
                continue
            zf.write(
                data_dir / "semeval2018-ec" / name, f"SemEval2018-Task1-all-data/English/E-c/{name}"
            )
        zf.writestr("SemEval2018-Task1-all-data/English/EI-reg/2018-EI-reg-En-anger-dev.txt", "x")
        zf.writestr("__MACOSX/SemEval2018-Task1-all-data/English/E-c/._2018-E-c-En-dev.txt", "x")
    for name in ("emobank.csv", "meta.tsv"):
        shutil.copyfile(data_dir / "emobank" / name, out / name)
    for name in ("train.tsv", "dev.tsv", "test.tsv", "emotions.txt"):
        shutil.copyfile(data_dir / "goemotions" / name, out / name)


class _Handler(SimpleHTTPRequestHandler):
    """Static files; a path listed in ``drop_once`` is cut off after half its bytes, once."""

    drop_once: ClassVar[set[str]] = set()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path in self.drop_once:
            self.drop_once.discard(self.path)
            data = (Path(self.directory) / self.path.lstrip("/")).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture(scope="module")
def release(data_dir, tmp_path_factory) -> Path:
    """``good/``: a faithful release; ``bad/``: meta.tsv with one byte changed, no test-gold."""
    root = tmp_path_factory.mktemp("release")
    _build_release(data_dir, root / "good")
    _build_release(data_dir, root / "bad", drop_test_gold=True)
    meta = root / "bad" / "meta.tsv"
    raw = bytearray(meta.read_bytes())
    raw[100] ^= 0x01
    meta.write_bytes(bytes(raw))
    return root


@pytest.fixture(scope="module")
def server(release):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(release)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _assert_complete(dest: Path, data_dir: Path, prefixes: tuple[str, ...]) -> None:
    reference = _reference_sums(data_dir)
    wanted = {p: d for p, d in reference.items() if p.startswith(prefixes)}
    assert wanted
    for rel, digest in wanted.items():
        assert _sha256(dest / rel) == digest, rel
    written = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert written == set(wanted)


def test_embedded_sums_are_the_reference_sums(data_dir):
    assert expected_sums() == _reference_sums(data_dir)


def test_urls_original_base_url_and_local_dir(tmp_path):
    urls = {a.name: artefact_url(a, None) for a in ARTEFACTS}
    assert urls[ZIP_NAME].startswith("https://saifmohammad.com/")
    assert "JULIELab/EmoBank/248ce2a" in urls["emobank.csv"]
    assert urls["emobank.csv"].endswith("/corpus/emobank.csv")
    assert urls["Potter.tar.gz"].endswith("/affectdata/Potter.tar.gz")
    assert urls["train.tsv"].startswith("https://raw.githubusercontent.com/google-research/")
    assert urls["emotions.txt"].endswith("/goemotions/data/emotions.txt")
    zip_artefact = ARTEFACTS[0]
    assert artefact_url(zip_artefact, "http://mirror/x/") == f"http://mirror/x/{ZIP_NAME}"
    assert artefact_url(zip_artefact, tmp_path) == (tmp_path / ZIP_NAME).resolve().as_uri()


def test_interrupted_download_completes_on_rerun(server, data_dir, tmp_path):
    dest = tmp_path / "data"
    _Handler.drop_once = {"/good/HCAndersen.tar.gz"}
    with pytest.raises(FetchError, match=r"HCAndersen\.tar\.gz stopped after \d+ of \d+ bytes"):
        fetch(dest, source=f"{server}/good")
    # the other corpora are complete; nothing of the tales reached dest
    assert sorted(p.name for p in dest.iterdir()) == ["emobank", "goemotions", "semeval2018-ec"]
    _assert_complete(dest, data_dir, ("emobank/", "goemotions/", "semeval2018-ec/"))

    result = fetch(dest, source=f"{server}/good")
    assert result.fetched == ["alm-tales"]
    assert result.already_present == ["semeval2018-ec", "emobank", "goemotions"]
    _assert_complete(dest, data_dir, ("alm-tales/", "emobank/", "goemotions/", "semeval2018-ec/"))
    assert not (tmp_path / ".data.fetch-partial").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]


def test_corrupted_and_missing_files_fail_with_both_sums(server, release, data_dir, tmp_path):
    dest = tmp_path / "data"
    with pytest.raises(FetchError) as info:
        fetch(dest, source=f"{server}/bad", corpora=["emobank", "semeval2018-ec"])
    message = str(info.value)
    reference = _reference_sums(data_dir)["emobank/meta.tsv"]
    corrupted = _sha256(release / "bad" / "meta.tsv")
    assert f"emobank/meta.tsv: SHA-256 mismatch, expected {reference}, got {corrupted}" in message
    assert "semeval2018-ec/2018-E-c-En-test-gold.txt: missing" in message
    assert not dest.exists() or not any(dest.iterdir())  # nothing half-written at dest

    # the bad downloads were discarded, so a run against a good source completes
    result = fetch(dest, source=f"{server}/good", corpora=["emobank", "semeval2018-ec"])
    assert result.fetched == ["emobank", "semeval2018-ec"]
    _assert_complete(dest, data_dir, ("emobank/", "semeval2018-ec/"))


def test_existing_different_corpus_is_not_overwritten(server, tmp_path):
    dest = tmp_path / "data"
    (dest / "emobank").mkdir(parents=True)
    (dest / "emobank" / "emobank.csv").write_text("id,split,V,A,D,text\n", encoding="utf-8")
    with pytest.raises(FetchError, match="exists but differs from the release"):
        fetch(dest, source=f"{server}/good", corpora=["emobank"])
    assert (dest / "emobank" / "emobank.csv").read_text(encoding="utf-8") == "id,split,V,A,D,text\n"


def test_unreachable_source_names_the_url(tmp_path):
    with pytest.raises(FetchError, match=r"download of http://127\.0\.0\.1:9/emobank\.csv failed"):
        fetch(tmp_path / "data", source="http://127.0.0.1:9", corpora=["emobank"])
    assert not (tmp_path / "data").exists()


def test_cli_fetch_from_a_local_directory(release, data_dir, tmp_path):
    dest = tmp_path / "data"
    good = ["data", "fetch", "--dest", str(dest), "--source", str(release / "good")]
    result = CliRunner().invoke(app, [*good, "--corpus", "semeval2018-ec"])
    assert result.exit_code == 0, result.output
    _assert_complete(dest, data_dir, ("semeval2018-ec/",))
    again = CliRunner().invoke(app, [*good, "--corpus", "semeval2018-ec"])
    assert again.exit_code == 0 and "already present and verified" in again.output
    bad_source = ["data", "fetch", "--dest", str(dest), "--source", str(release / "bad")]
    bad = CliRunner().invoke(app, [*bad_source, "--corpus", "emobank"])
    assert bad.exit_code == 1 and "SHA-256 mismatch" in bad.output
