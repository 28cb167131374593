"""Fixtures for the feature tests: real sentences, the real MiniLM encoder, a fake encoder.

The real encoder is loaded once per session. ``fake_encode`` replaces
:meth:`FrozenEncoder.encode` with a cheap deterministic function of the texts and counts calls,
so the cache logic can be tested without running a transformer.
"""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import pytest
import torch

from emomtl.features.encoders import EncoderSpec, FrozenEncoder


@pytest.fixture(scope="session")
def sentences(data_dir: Path) -> list[str]:
    """50 real sentences of varied length: 25 SemEval tweets and 25 EmoBank texts."""
    semeval = data_dir / "semeval2018-ec" / "2018-E-c-En-train.txt"
    with semeval.open(encoding="utf-8") as f:
        tweets = [line.split("\t")[1] for line in f.read().splitlines()[1:26]]
    with (data_dir / "emobank" / "emobank.csv").open(encoding="utf-8", newline="") as f:
        rows = [row["text"] for row in csv.DictReader(f) if row["text"].strip()]
    # every 97th row gives a spread of lengths, including a few long ones
    texts = tweets + rows[::97][:25]
    assert len(texts) == 50
    return texts


@pytest.fixture(scope="session")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> FrozenEncoder:
    """The real MiniLM encoder (fp32, mean pooling), loaded once per session."""
    encoder = FrozenEncoder(
        EncoderSpec(precision="fp32"), cache_dir=tmp_path_factory.mktemp("encoder-cache")
    )
    encoder.encode(["warm up"])
    return encoder


class FakeEncode:
    """Stand-in for ``FrozenEncoder.encode``: features from a hash of each text; counts calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, encoder: FrozenEncoder, texts, *, batch_size=None, progress=False):
        self.calls += 1
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
            rows.append(torch.randn(encoder.dim, generator=torch.Generator().manual_seed(seed)))
        return torch.stack(rows) if rows else torch.empty(0, encoder.dim)


@pytest.fixture
def fake_encode(monkeypatch: pytest.MonkeyPatch) -> FakeEncode:
    """Patch ``FrozenEncoder.encode`` (and forbid loading a model) for the test's duration."""
    fake = FakeEncode()

    def no_load(self: FrozenEncoder) -> None:
        raise AssertionError("the model must not be loaded in this test")

    def encode(self: FrozenEncoder, texts, **kwargs) -> torch.Tensor:
        return fake(self, texts, **kwargs)

    monkeypatch.setattr(FrozenEncoder, "encode", encode)
    monkeypatch.setattr(FrozenEncoder, "_load", no_load)
    return fake
