"""Weighting methods in fine-tuning, on a tiny random BERT (no weights needed): aggregators give
the shared parameters ``J^T w(J J^T)`` with ``J`` the per-task gradients of the *whole* encoder and
shared layer, heads keep their own task's gradient; loss weightings see one-task steps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from emomtl.data.tasks import TASKS
from emomtl.finetune.config import FinetuneConfig
from emomtl.finetune.model import FinetuneModel
from emomtl.finetune.sampler import TaskBatchSampler
from emomtl.finetune.weighting import FINETUNE_METHODS, StepBackward, is_aggregator
from emomtl.model.heads import per_sample_loss
from synthetic import tiny_bert


def tiny_model(seed: int = 0) -> FinetuneModel:
    torch.manual_seed(seed)
    encoder = tiny_bert()  # 40 words, hidden 16, 2 layers
    model = FinetuneModel(encoder, [TASKS["T"], TASKS["E"]], hidden_dim=8, dropout=0.0)
    return model.eval()  # no dropout: the manual computation below sees the same graph


def batch(code: str, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1, 40, (5, 7), generator=g)
    mask = torch.ones_like(ids)
    if code == "T":
        return ids, mask, torch.randint(0, 5, (5,), generator=g)
    return ids, mask, torch.randn(5, 3, generator=g)


def losses_and_features(model: FinetuneModel) -> tuple[dict, dict]:
    losses, features = {}, {}
    for i, code in enumerate(("T", "E")):
        ids, mask, target = batch(code, i)
        features[code] = model.head.hidden(model.embed(ids, mask))
        raw = model.head.heads[code](features[code])
        losses[code] = per_sample_loss(TASKS[code], raw, target).mean()
    return losses, features


def config(method: str, **args) -> FinetuneConfig:
    sampling = "round" if is_aggregator(method) else "temperature"
    return FinetuneConfig(
        tasks="T+E", weighting_method=method, weighting_args=args, sampling=sampling
    )


@pytest.mark.parametrize("method", ["upgrad", "pcgrad", "cagrad", "aligned_mtl"])
def test_aggregators_write_j_transpose_w_into_the_shared_parameters(method: str) -> None:
    from emomtl.weighting import WEIGHTINGS

    model = tiny_model()
    step = StepBackward.for_model(config(method), model, every_task=True)
    losses, _ = losses_and_features(model)
    shared = [  # mean pooling leaves BERT's pooler out of the graph
        p
        for p in step.shared_params
        if torch.autograd.grad(losses["T"], p, allow_unused=True, retain_graph=True)[0] is not None
    ]
    assert len(shared) == len(step.shared_params) - 2  # the pooler's weight and bias
    rows = []
    for code in ("T", "E"):
        grads = torch.autograd.grad(losses[code], shared, retain_graph=True)
        rows.append(torch.cat([g.reshape(-1) for g in grads]))
    jacobian = torch.stack(rows).double()
    reference = WEIGHTINGS[method](1, 2).make_weighting(2, **WEIGHTINGS[method].resolve_args({}))
    weights = reference(jacobian @ jacobian.T)
    expected = jacobian.T @ weights
    head_grads = {
        c: torch.autograd.grad(losses[c], list(model.head.heads[c].parameters()), retain_graph=True)
        for c in ("T", "E")
    }

    model.zero_grad()
    losses, features = losses_and_features(model)
    applied = step.backward(losses, features)
    got = torch.cat([p.grad.reshape(-1) for p in shared]).double()
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-7)
    torch.testing.assert_close(applied.double(), weights.reshape(-1), rtol=1e-4, atol=1e-7)
    for code, grads in head_grads.items():
        for param, grad in zip(model.head.heads[code].parameters(), grads, strict=True):
            torch.testing.assert_close(param.grad, grad)


def test_uncertainty_weighting_on_one_task_steps() -> None:
    """A one-task step: the present task's loss is weighted 0.5 exp(-s), the absent one adds no
    gradient to the network; UW's log-variances are joint parameters."""
    model = tiny_model()
    step = StepBackward.for_model(config("uw"), model, every_task=False)
    (log_var,) = step.joint_parameters()
    with torch.no_grad():
        log_var.copy_(torch.tensor([[0.4, -0.2]]))
    losses, _ = losses_and_features(model)
    (reference,) = torch.autograd.grad(losses["T"], [model.head.base.weight], retain_graph=True)
    model.zero_grad()
    losses, _ = losses_and_features(model)
    applied = step.backward({"T": losses["T"]}, {})
    torch.testing.assert_close(applied, 0.5 * torch.exp(-torch.tensor([0.4, -0.2])))
    torch.testing.assert_close(model.head.base.weight.grad, 0.5 * np.exp(-0.4) * reference)
    assert all(p.grad is None for p in model.head.heads["E"].parameters())
    assert log_var.grad is not None and log_var.grad[0, 1] != 0  # the last loss (1) as constant


def test_round_sampler_gives_every_task_each_step_and_keeps_the_epoch_size() -> None:
    sampler = TaskBatchSampler(
        {"T": np.arange(50) % 9, "E": np.arange(130) % 7}, 16, sampling="round", seed=3
    )
    assert sampler.steps_per_epoch == int(np.ceil((4 + 9) / 2))
    steps = list(sampler.steps(sampler.steps_per_epoch))
    assert all([code for code, _ in step] == ["T", "E"] for step in steps)
    with pytest.raises(ValueError, match="use steps"):
        next(sampler(1))


def test_methods_that_need_the_batched_shared_layer_are_not_offered() -> None:
    assert "gradnorm" not in FINETUNE_METHODS and "gradnorm_mean" not in FINETUNE_METHODS
    assert {"equal", "uw", "dwa", "famo", "upgrad", "nash_mtl"} <= set(FINETUNE_METHODS)
    with pytest.raises(ValueError, match="needs the mh head"):
        FinetuneConfig(tasks="T+E", head="label", sampling="round", weighting_method="upgrad")


@pytest.mark.real
@pytest.mark.slow
def test_a_real_fine_tune_with_upgrad_on_round_batches(data_dir, tmp_path) -> None:
    """MiniLM on a small slice of S, T and E: every step holds all three tasks, the applied
    weights are recorded, and the run is a report row of its own."""
    from emomtl.finetune.run import run_finetune
    from emomtl.report.collect import read_run

    cfg = FinetuneConfig(
        tasks="S+T+E",
        seeds=(0,),
        epochs=1,
        max_length=32,
        evals_per_epoch=1,
        precision="fp32",
        sampling="round",
        weighting_method="upgrad",
    )
    limit = {"train": 64, "dev": 48, "test": 48}
    run = run_finetune(cfg, tmp_path / "run", data_dir=data_dir, limit=limit)
    assert run.best.steps_run == 2  # ceil((2 + 2 + 2) / 3) rounds of three batches
    weights = run.best.history[-1]["weights"]
    assert set(weights) == {"S", "T", "E"} and all(w > 0 for w in weights.values())
    assert read_run(tmp_path / "run").method == "MH+FT+UPGRAD [round]"
    assert run.results["setting"] == "S+T+E MH+FT+UPGRAD [round]"


def tiny_data(n: int = 24) -> dict:
    """T and E as token ids of a 40-word vocabulary (learnable from the first token)."""
    from emomtl.finetune.data import TaskTokens, TokenizedSplit

    g = torch.Generator().manual_seed(0)
    data = {}
    for code in ("T", "E"):
        splits = {}
        for split in ("train", "dev", "test"):
            ids = [
                [1, *torch.randint(2, 40, (int(k),), generator=g).tolist()]
                for k in torch.randint(3, 9, (n,), generator=g)
            ]
            first = torch.tensor([row[1] for row in ids])
            targets = (first % 5) if code == "T" else torch.stack([first / 40.0] * 3, 1) * 4 + 1
            splits[split] = TokenizedSplit(ids, np.array([len(r) for r in ids]), targets)
        data[code] = TaskTokens(TASKS[code], 1.0, splits)
    return data


@pytest.mark.parametrize(
    ("head", "method", "sampling"),
    [("label", "famo", "temperature"), ("mh", "upgrad", "round"), ("label", "dwa", "round")],
)
def test_the_loop_runs_each_kind_of_method_on_a_tiny_encoder(head, method, sampling) -> None:
    """train_seed end to end: weights recorded at every evaluation; with the label head the
    selected state's label buffers are the encoder's embeddings of the label texts."""
    from emomtl.finetune.loop import train_seed
    from emomtl.finetune.precision import resolve
    from emomtl.model.label_head import embed_labels

    encoder = tiny_model().encoder
    label_ids = {"T": [[1, 2 + i] for i in range(5)], "E": [[1, 30], [1, 31], [1, 32]]}
    cfg = FinetuneConfig(
        tasks="T+E",
        head=head,
        epochs=2,
        batch_size=8,
        evals_per_epoch=1,
        precision="fp32",
        weighting_method=method,
        sampling=sampling,
        dropout=0.0,
    )
    result = train_seed(
        cfg,
        tiny_data(),
        encoder,
        0,
        resolve("fp32", "cpu"),
        pad_id=0,
        label_ids=label_ids if head == "label" else None,
    )
    assert [h["step"] for h in result.history] == [result.steps_per_epoch, result.steps_run]
    assert all(set(h["weights"]) == {"T", "E"} for h in result.history)
    if head == "label":
        model = result.model.eval()
        with torch.no_grad():
            raw = model.label_embeddings()
        for code in ("T", "E"):
            expected = embed_labels(raw[code], model.head.label_center)
            torch.testing.assert_close(model.head.label_features(code), expected)
