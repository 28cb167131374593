"""Protocol facts the README states: early stopping, VAD standardisation, SE = MH without biases."""

from __future__ import annotations

import pytest
import torch

import emomtl.train as train_module
from emomtl.data.tasks import TASKS
from emomtl.model import MultiTaskNet
from emomtl.sampling import subset_indices
from emomtl.train import TrainConfig, train
from test_train import synthetic_spaces


@pytest.fixture(scope="module")
def data():
    return synthetic_spaces()


def test_early_stopping_restores_the_dev_loss_minimum_and_stops_at_best_plus_patience(
    data, monkeypatch
) -> None:
    recorded: list[float] = []
    original = train_module._Selector.dev_losses

    def spy(self, model):
        losses = original(self, model)
        recorded.append(float(losses.sum()))
        return losses

    monkeypatch.setattr(train_module._Selector, "dev_losses", spy)
    patience = 3
    config = TrainConfig(tasks="S+T+E", seeds=(0,), epochs=200, patience=patience, lr=3e-2)
    result = train(config, data, num_threads=1).seeds[0]
    best = min(range(len(recorded)), key=recorded.__getitem__)  # first minimum
    assert result.epochs_run < 200, "lr 3e-2 should overfit and stop early"
    assert result.best_epoch == {code: best + 1 for code in "STE"}
    assert result.epochs_run == best + 1 + patience == len(recorded)
    restored = sum(result.metrics["dev"][code]["loss"] for code in "STE")
    assert restored == pytest.approx(recorded[best], rel=1e-5)


def test_vad_standardisation_uses_the_training_rows_only(data) -> None:
    shifted = dict(data)
    e = data["E"]
    targets = {s: (t + 1.0 if s != "train" else t) for s, t in e.targets.items()}
    shifted["E"] = type(e)(e.task, e.features, targets)  # dev/test far from train
    output = train(TrainConfig(tasks="S+0.5E", seeds=(3,), epochs=1), shifted, num_threads=1)
    state = output.seeds[0].state_dict
    rows = subset_indices(len(targets["train"]), 0.5, 3, list(TASKS).index("E"))
    train_rows = targets["train"][torch.as_tensor(rows)]
    torch.testing.assert_close(state["target_mean_E"], train_rows.mean(0))
    torch.testing.assert_close(state["target_std_E"], train_rows.std(0, unbiased=False))
    everything = torch.cat([targets[s] for s in ("train", "dev", "test")])
    assert not torch.allclose(state["target_mean_E"], everything.mean(0), atol=0.05)


def test_se_equals_mh_with_output_biases_fixed_at_zero() -> None:
    """One bias-free Linear(h, sum l_i) sliced per task computes what per-task bias-free heads
    compute: same outputs, and the same gradients row block by row block (so the same training
    under Adam, which is element-wise)."""
    tasks = [TASKS[c] for c in "STE"]
    mh, se = MultiTaskNet(12, tasks, "mh", 8), MultiTaskNet(12, tasks, "se", 8)
    with torch.no_grad():
        se.base.load_state_dict(mh.base.state_dict())
        for code in mh.codes:
            mh.heads[code].bias.zero_()
        se.se.weight.copy_(torch.cat([mh.heads[c].weight for c in mh.codes]))
    x = torch.randn(7, 12, generator=torch.Generator().manual_seed(0))
    out_mh, out_se = mh(x), se(x)
    for code in mh.codes:
        torch.testing.assert_close(out_mh[code], out_se[code])
    sum(out_mh[c].pow(2).sum() for c in mh.codes).backward()
    sum(out_se[c].pow(2).sum() for c in se.codes).backward()
    torch.testing.assert_close(
        se.se.weight.grad, torch.cat([mh.heads[c].weight.grad for c in mh.codes])
    )
    torch.testing.assert_close(se.base.weight.grad, mh.base.weight.grad)
