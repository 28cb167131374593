"""On-disk feature cache: encode each corpus once, load it on every later run.

Layout (one directory per entry)::

    <cache>/features/<key>/
        features.safetensors   {"features": (n, d) float32}
        meta.json              encoder id, weights hash, pooling, max length, precision,
                               texts hash, n, d, sha256 of features.safetensors, emomtl version

The key is a hash of everything that determines the features (:func:`cache_key`). An entry is
written into a temporary directory and renamed into place, so a killed run leaves no half-entry.
On read the entry is validated - meta must match the request, the file's SHA-256 must match
meta, the tensor must be (n, d) float32 - and anything else is warned about and rebuilt, never
used. A hit reads only the config and the (memoised) weights hash, never the model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from emomtl.hashing import sha256_file

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.features.encoders import EncoderSpec, FrozenEncoder

CACHE_FORMAT = 1
FEATURES_FILE = "features.safetensors"
META_FILE = "meta.json"


class FeatureCacheWarning(UserWarning):
    """A cache entry was unusable (corrupt, truncated or mismatched) and is being rebuilt."""


def resolve_cache_dir(cache_dir: Path | str | None = None) -> Path:
    """The cache root: ``cache_dir`` > ``$EMOMTL_CACHE`` > the user cache dir (``emomtl``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get("EMOMTL_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("emomtl"))


def texts_hash(texts: Sequence[str]) -> str:
    """SHA-256 of the texts in order (length-prefixed, so boundaries are unambiguous)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def expected_meta(texts: Sequence[str], encoder: FrozenEncoder) -> dict[str, Any]:
    """The metadata fields that define an entry (everything the features depend on)."""
    return {
        "format": CACHE_FORMAT,
        "encoder_id": encoder.encoder_id,
        "weights_hash": encoder.weights_hash,
        "pooling": encoder.spec.pooling,
        "max_length": encoder.spec.max_length,
        "precision": encoder.precision,
        "texts_hash": texts_hash(texts),
        "n": len(texts),
        "d": encoder.dim,
    }


def cache_key(meta: dict[str, Any]) -> str:
    """Entry key: SHA-256 of the defining metadata as canonical JSON (first 32 hex digits)."""
    return hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:32]


def read_entry(entry: Path, expected: dict[str, Any]) -> torch.Tensor | None:
    """Load a cache entry if it is complete and matches ``expected``.

    Returns:
        (n, d) float32 features, or ``None`` when there is no entry. An entry that exists but is
        unusable raises :class:`ValueError` naming the problem.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    meta_path, features_path = entry / META_FILE, entry / FEATURES_FILE
    if not entry.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"unreadable {META_FILE}: {exc}") from exc
    wrong = sorted(k for k, v in expected.items() if meta.get(k) != v)
    if wrong:
        raise ValueError(f"metadata does not match the request in: {', '.join(wrong)}")
    try:
        # read into memory (not mmap): a file changed later cannot break the returned tensor
        raw = features_path.read_bytes()
    except OSError as exc:
        raise ValueError(f"unreadable {FEATURES_FILE}: {exc}") from exc
    if hashlib.sha256(raw).hexdigest() != meta.get("features_sha256"):
        raise ValueError(f"{FEATURES_FILE} is truncated or modified (SHA-256 differs from meta)")
    try:
        features = load(raw)["features"]
    except (SafetensorError, KeyError) as exc:
        raise ValueError(f"bad {FEATURES_FILE}: {exc}") from exc
    shape = (expected["n"], expected["d"])
    if tuple(features.shape) != shape or features.dtype != torch.float32:
        raise ValueError(
            f"features are {tuple(features.shape)} {features.dtype}, expected {shape} float32"
        )
    return features


def write_entry(entry: Path, features: torch.Tensor, meta: dict[str, Any]) -> None:
    """Write features + meta into a temporary directory, then rename it to ``entry``."""
    from safetensors.torch import save_file

    import emomtl

    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{entry.name}-", dir=entry.parent))
    try:
        save_file({"features": features.contiguous()}, str(tmp / FEATURES_FILE))
        full = {
            **meta,
            "features_sha256": sha256_file(tmp / FEATURES_FILE),
            "emomtl_version": emomtl.__version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        (tmp / META_FILE).write_text(json.dumps(full, indent=2) + "\n", encoding="utf-8")
        if entry.exists():
            shutil.rmtree(entry, ignore_errors=True)
        try:
            tmp.rename(entry)
        except OSError:  # a concurrent writer published the same entry first
            if not entry.exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@dataclass
class CachedFeatures:
    """Result of :func:`load_or_encode`.

    Attributes:
        features: (n, d) float32.
        hit: whether the features came from the cache.
        path: the cache entry directory.
        seconds: wall time of the lookup (+ encoding on a miss).
    """

    features: torch.Tensor
    hit: bool
    path: Path
    seconds: float


def load_or_encode(
    texts: Sequence[str],
    spec: EncoderSpec,
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
    batch_size: int | None = None,
) -> CachedFeatures:
    """Features of ``texts`` from the cache, encoding and storing them on a miss.

    A bad entry (see :func:`read_entry`) triggers a :class:`FeatureCacheWarning` and a rebuild.
    """
    from emomtl.features.encoders import FrozenEncoder

    started = time.perf_counter()
    texts = list(texts)
    root = resolve_cache_dir(cache_dir)
    encoder = FrozenEncoder(spec, cache_dir=root)
    meta = expected_meta(texts, encoder)
    entry = root / "features" / cache_key(meta)
    try:
        features = read_entry(entry, meta)
    except ValueError as exc:
        warnings.warn(
            f"feature cache entry {entry} is unusable ({exc}); rebuilding it",
            FeatureCacheWarning,
            stacklevel=2,
        )
        features = None
    if features is not None:
        return CachedFeatures(features, True, entry, time.perf_counter() - started)
    features = encoder.encode(texts, batch_size=batch_size, progress=progress)
    write_entry(entry, features, meta)
    return CachedFeatures(features, False, entry, time.perf_counter() - started)


def encode_cached(
    texts: Sequence[str],
    spec: EncoderSpec,
    *,
    cache_dir: Path | None = None,
    progress: bool = False,
) -> torch.Tensor:
    """(n, d) float32 features of ``texts`` under ``spec``, through the on-disk cache."""
    return load_or_encode(texts, spec, cache_dir=cache_dir, progress=progress).features
