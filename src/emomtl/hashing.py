"""SHA-256 of files, streamed in blocks (corpus downloads, cached features, encoder weights)."""

from __future__ import annotations

import hashlib
from pathlib import Path

_BLOCK = 8 << 20


def sha256_file(path: Path) -> str:
    """Lowercase hex SHA-256 of a file's bytes, read in 8 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()
