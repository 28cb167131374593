"""The on-disk feature cache: keys, hits without loading the model, rebuilding bad entries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from emomtl.features.cache import (
    FEATURES_FILE,
    META_FILE,
    FeatureCacheWarning,
    cache_key,
    encode_cached,
    expected_meta,
    load_or_encode,
    resolve_cache_dir,
    texts_hash,
)
from emomtl.features.encoders import EncoderSpec, FrozenEncoder

TEXTS = ["I am so happy today!", "This is terrible.", "Well, fine.", "What a surprise"]


def test_resolve_cache_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMOMTL_CACHE", str(tmp_path / "env"))
    assert resolve_cache_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_cache_dir() == tmp_path / "env"
    monkeypatch.delenv("EMOMTL_CACHE")
    assert resolve_cache_dir().name == "emomtl"


def test_texts_hash_sees_order_and_boundaries() -> None:
    assert texts_hash(["ab", "c"]) != texts_hash(["a", "bc"])
    assert texts_hash(["a", "b"]) != texts_hash(["b", "a"])
    assert texts_hash(["a", "b"]) == texts_hash(("a", "b"))


def test_key_depends_on_every_setting(tmp_path: Path) -> None:
    specs = [
        EncoderSpec(precision="fp32"),
        EncoderSpec(pooling="cls"),
        EncoderSpec(max_length=64),
        EncoderSpec(precision="bf16"),
    ]
    keys = {cache_key(expected_meta(TEXTS, FrozenEncoder(s, cache_dir=tmp_path))) for s in specs}
    keys.add(cache_key(expected_meta(TEXTS[:3], FrozenEncoder(specs[0], cache_dir=tmp_path))))
    assert len(keys) == 5


def test_miss_then_hit_without_encoding(tmp_path: Path, fake_encode) -> None:
    first = load_or_encode(TEXTS, EncoderSpec(precision="fp32"), cache_dir=tmp_path)
    assert not first.hit and fake_encode.calls == 1
    meta = json.loads((first.path / META_FILE).read_text())
    assert meta["n"] == 4 and meta["d"] == 384 and meta["precision"] == "fp32"
    assert meta["encoder_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    second = load_or_encode(TEXTS, EncoderSpec(precision="fp32"), cache_dir=tmp_path)
    assert second.hit and fake_encode.calls == 1
    assert torch.equal(first.features, second.features)
    assert [p.name for p in first.path.parent.iterdir()] == [first.path.name]  # no temp left


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:100])


def _entry(tmp_path: Path) -> Path:
    return load_or_encode(TEXTS, EncoderSpec(), cache_dir=tmp_path).path


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (
            lambda e: (e / FEATURES_FILE).write_bytes((e / FEATURES_FILE).read_bytes()[:100]),
            "trunc",
        ),
        (lambda e: (e / FEATURES_FILE).write_bytes(b"not safetensors at all"), "SHA-256"),
        (lambda e: (e / FEATURES_FILE).unlink(), "unreadable"),
        (lambda e: (e / META_FILE).write_text("{broken"), "unreadable"),
    ],
    ids=["truncated", "garbage", "missing-features", "bad-meta-json"],
)
def test_damaged_entry_is_rebuilt(tmp_path: Path, fake_encode, damage, reason: str) -> None:
    entry = _entry(tmp_path)
    good = encode_cached(TEXTS, EncoderSpec(), cache_dir=tmp_path)
    damage(entry)
    with pytest.warns(FeatureCacheWarning, match=reason):
        rebuilt = load_or_encode(TEXTS, EncoderSpec(), cache_dir=tmp_path)
    assert not rebuilt.hit and fake_encode.calls == 2
    assert torch.equal(rebuilt.features, good)
    assert load_or_encode(TEXTS, EncoderSpec(), cache_dir=tmp_path).hit


def _zeros_3x384(path: Path) -> None:
    from safetensors.torch import save_file

    save_file({"features": torch.zeros(3, 384)}, str(path))


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        (_zeros_3x384, r"\(3, 384\).*expected \(4, 384\)"),
        (lambda path: path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage"), "bad"),
    ],
    ids=["wrong-shape", "not-safetensors"],
)
def test_consistent_but_wrong_entry_is_rebuilt(
    tmp_path: Path, fake_encode, write, reason: str
) -> None:
    """A file whose hash matches meta (as a buggy writer could leave) is still checked."""
    from emomtl.hashing import sha256_file

    entry = _entry(tmp_path)
    write(entry / FEATURES_FILE)
    meta = json.loads((entry / META_FILE).read_text())
    meta["features_sha256"] = sha256_file(entry / FEATURES_FILE)
    (entry / META_FILE).write_text(json.dumps(meta))
    with pytest.warns(FeatureCacheWarning, match=reason):
        assert not load_or_encode(TEXTS, EncoderSpec(), cache_dir=tmp_path).hit
    assert fake_encode.calls == 2


def test_meta_mismatch_is_rebuilt(tmp_path: Path, fake_encode) -> None:
    entry = _entry(tmp_path)
    meta = json.loads((entry / META_FILE).read_text())
    meta["weights_hash"] = "0" * 64
    meta["pooling"] = "cls"
    (entry / META_FILE).write_text(json.dumps(meta))
    with pytest.warns(FeatureCacheWarning, match="does not match the request in: pooling, weights"):
        rebuilt = load_or_encode(TEXTS, EncoderSpec(), cache_dir=tmp_path)
    assert not rebuilt.hit and fake_encode.calls == 2
    assert json.loads((entry / META_FILE).read_text())["pooling"] == "mean"


@pytest.mark.real
def test_real_second_call_is_a_hit_that_does_not_load_the_model(
    tmp_path: Path, sentences: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = EncoderSpec()
    first = load_or_encode(sentences, spec, cache_dir=tmp_path)
    assert not first.hit and first.features.shape == (50, 384)

    def no_load(self: FrozenEncoder) -> None:
        raise AssertionError("a cache hit loaded the model")

    monkeypatch.setattr(FrozenEncoder, "_load", no_load)
    second = load_or_encode(sentences, spec, cache_dir=tmp_path)
    assert second.hit
    assert torch.equal(first.features, second.features)
