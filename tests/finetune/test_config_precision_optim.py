"""FinetuneConfig validation, device/precision resolution, AdamW groups and the lr schedule."""

from __future__ import annotations

import pytest
import torch

from emomtl.finetune import precision as precision_module
from emomtl.finetune.config import FinetuneConfig
from emomtl.finetune.optim import layer_index, linear_schedule, param_groups


def test_config_round_trip_and_report_keys() -> None:
    config = FinetuneConfig(tasks="0.1S+T+E", seeds=(0, 1), epochs=1.5)
    data = config.to_dict()
    assert data["head"] == "mh" and data["weighting"] == "ft" and data["seeds"] == [0, 1]
    assert FinetuneConfig.from_dict(data) == config


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("sampling", "uniform", "sampling must be one of"),
        ("warmup", 1.0, r"warmup must be in \[0, 1\)"),
        ("layer_decay", 0.0, "layer_decay"),
        ("seeds", (), "seeds"),
        ("selection", "sum", "selection"),
        ("batch_size", 0, "batch_size"),
        ("precision", "fp16", "precision"),
    ],
)
def test_config_rejects_bad_values_naming_the_field(field, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        FinetuneConfig(**{field: value})


def test_config_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown finetune config key"):
        FinetuneConfig.from_dict({"tasks": "S", "lr": 1e-3})


@pytest.mark.parametrize(("has_bf16", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_precision_follows_the_cpu_flag(monkeypatch, has_bf16, expected) -> None:
    monkeypatch.setattr("emomtl.features.encoders.cpu_supports_bf16", lambda *a: has_bf16)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    resolved = precision_module.resolve("auto", "auto")
    assert (resolved.device, resolved.precision) == ("cpu", expected)
    assert resolved.amp_dtype == ("bfloat16" if has_bf16 else None)
    assert precision_module.resolve("fp32", "cpu").amp_dtype is None


def test_cuda_resolution(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="no CUDA GPU"):
        precision_module.resolve("auto", "cuda")
    with pytest.raises(ValueError, match="amp is CUDA autocast"):
        precision_module.resolve("amp", "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    amp = precision_module.resolve("auto", "auto")
    assert (amp.device, amp.precision, amp.amp_dtype, amp.needs_scaler) == (
        "cuda",
        "amp",
        "float16",
        True,
    )
    with pytest.raises(ValueError, match="bf16 is the CPU autocast mode"):
        precision_module.resolve("bf16", "cuda")


def test_autocast_runs_matmuls_in_bf16_on_cpu() -> None:
    bf16 = precision_module.Precision("cpu", "bf16", "bfloat16")
    with bf16.autocast():
        out = torch.ones(2, 3) @ torch.ones(3, 2)
    assert out.dtype == torch.bfloat16
    with precision_module.Precision("cpu", "fp32", None).autocast():
        assert (torch.ones(2, 3) @ torch.ones(3, 2)).dtype == torch.float32


def _tiny_model() -> torch.nn.Module:
    from emomtl.data.tasks import TASKS
    from emomtl.finetune.model import FinetuneModel
    from synthetic import tiny_bert

    encoder = tiny_bert(vocab_size=50, hidden_size=8, layers=3, max_positions=16)
    return FinetuneModel(encoder, [TASKS["T"]], hidden_dim=4)


def test_layer_index() -> None:
    assert layer_index("embeddings.word_embeddings.weight", 6) == 0
    assert layer_index("encoder.layer.0.attention.self.query.weight", 6) == 1
    assert layer_index("encoder.layer.5.output.dense.bias", 6) == 6
    assert layer_index("pooler.dense.weight", 6) == 6


def test_param_groups_layer_decay_and_no_decay_on_1d() -> None:
    model = _tiny_model()
    groups = param_groups(model, encoder_lr=1e-4, head_lr=1e-3, weight_decay=0.01, layer_decay=0.5)
    by_param = {id(p): g for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    # L = 3: layer l at 1e-4 * 0.5 ** (3 - l), embeddings at 1e-4 * 0.5 ** 3
    expected = {
        "encoder.embeddings.word_embeddings.weight": (1.25e-5, 0.01),
        "encoder.encoder.layer.0.attention.self.query.weight": (2.5e-5, 0.01),
        "encoder.encoder.layer.1.output.dense.weight": (5e-5, 0.01),
        "encoder.encoder.layer.2.output.dense.weight": (1e-4, 0.01),
        "encoder.encoder.layer.2.output.LayerNorm.weight": (1e-4, 0.0),
        "encoder.pooler.dense.weight": (1e-4, 0.01),
        "head.base.weight": (1e-3, 0.01),
        "head.base.bias": (1e-3, 0.0),
    }
    for name, (lr, decay) in expected.items():
        group = by_param[id(named[name])]
        assert group["lr"] == pytest.approx(lr) and group["weight_decay"] == decay, name
    assert sum(len(g["params"]) for g in groups) == len(named)


def test_linear_schedule_warmup_then_decay() -> None:
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=1.0)
    schedule = linear_schedule(optimizer, total_steps=10, warmup=0.2)  # w = 2
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs == pytest.approx(
        [1 / 3, 2 / 3, 1.0, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8]
    )
