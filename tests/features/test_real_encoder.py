"""The real MiniLM encoder on 50 real sentences."""

from __future__ import annotations

import pytest
import torch
from torch.nn.functional import cosine_similarity

from emomtl.features.encoders import EncoderSpec, FrozenEncoder, cpu_supports_bf16

pytestmark = pytest.mark.real


def _bare_loop(encoder: FrozenEncoder, texts: list[str], batch_size: int = 8) -> torch.Tensor:
    """Reference: plain transformers, input order, tokenizer padding, hand-written mean pool."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(encoder.model_dir)
    model = AutoModel.from_pretrained(encoder.model_dir).eval()
    rows = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=128,
                return_tensors="pt",
            )
            hidden = model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).float()
            rows.append((hidden * mask).sum(1) / mask.sum(1))
    return torch.cat(rows)


def test_shape_dtype_and_determinism(minilm: FrozenEncoder, sentences: list[str]) -> None:
    first = minilm.encode(sentences)
    second = minilm.encode(sentences)
    assert first.shape == (50, 384)
    assert first.dtype == torch.float32
    assert torch.isfinite(first).all()
    assert torch.equal(first, second)


def test_order_preserved_despite_length_sorting(
    minilm: FrozenEncoder, sentences: list[str]
) -> None:
    lengths = [len(s) for s in sentences]
    assert lengths != sorted(lengths, reverse=True)  # the input is not already in batch order
    ours = minilm.encode(sentences, batch_size=16)
    reference = _bare_loop(minilm, sentences)
    assert cosine_similarity(ours, reference).min().item() > 0.9999


def test_mean_cls_and_pooler_differ(minilm: FrozenEncoder, sentences: list[str]) -> None:
    mean = minilm.encode(sentences[:10])
    cls = FrozenEncoder(EncoderSpec(pooling="cls"), cache_dir=minilm.cache_dir).encode(
        sentences[:10]
    )
    pooler = FrozenEncoder(EncoderSpec(pooling="pooler"), cache_dir=minilm.cache_dir).encode(
        sentences[:10]
    )
    assert cls.shape == pooler.shape == (10, 384)
    assert cosine_similarity(mean, cls).max().item() < 0.99
    # BERT's pooler is tanh(W h_cls + b): bounded, unlike the raw CLS state
    assert pooler.abs().max().item() <= 1.0
    assert not torch.allclose(cls, pooler)


def test_truncation_at_max_length(minilm: FrozenEncoder) -> None:
    shared = " ".join(["the quick brown fox jumps over the lazy dog"] * 20)
    texts = [shared + " and then it rained", shared + " but everyone was happy"]
    short = FrozenEncoder(EncoderSpec(max_length=32), cache_dir=minilm.cache_dir).encode(texts)
    assert torch.allclose(short[0], short[1], atol=1e-6)  # the endings are cut off
    full = minilm.encode([t[-200:] for t in texts])
    assert not torch.allclose(full[0], full[1], atol=1e-3)


@pytest.mark.skipif(not cpu_supports_bf16(), reason="CPU has no avx512_bf16 / AMX")
def test_bf16_close_to_fp32(minilm: FrozenEncoder, sentences: list[str]) -> None:
    bf16 = FrozenEncoder(EncoderSpec(precision="bf16"), cache_dir=minilm.cache_dir)
    low = bf16.encode(sentences)
    assert low.dtype == torch.float32
    cosine = cosine_similarity(low, minilm.encode(sentences))
    assert cosine.min().item() >= 0.99
    assert not torch.equal(low, minilm.encode(sentences))  # autocast really ran in bf16


def test_one_pass_tokenize_equals_the_tokenizers_own_truncation(
    minilm: FrozenEncoder, sentences: list[str]
) -> None:
    """``tokenize`` (one pass; long texts cut by the tokenizer) gives the ids of ``truncation=True``
    and the lengths of ``truncation=False``, on real sentences and texts past ``max_length``."""
    long = [" ".join(sentences[:12]), "word " * 300, sentences[0] * 9]
    texts = [*sentences, *long, "", "   "]
    ids, lengths = minilm.tokenize(texts)
    tokenizer = minilm.tokenizer
    expected = tokenizer(texts, truncation=True, max_length=128)["input_ids"]
    untruncated = tokenizer(texts, truncation=False, verbose=False)["input_ids"]
    assert ids == expected
    assert lengths == [len(t) for t in untruncated]
    assert sum(n > 128 for n in lengths) == 3 and max(len(i) for i in ids) == 128
    features, counts = minilm.encode_with_lengths(texts[:5])
    assert counts == lengths[:5] and torch.equal(features, minilm.encode(texts[:5]))
