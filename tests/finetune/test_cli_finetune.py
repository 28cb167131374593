"""``emomtl train --finetune`` wiring: options reach FinetuneConfig, bundles are saved where asked.

``run_finetune`` is replaced by a recorder here (these tests check the CLI's mapping only; the
real training is tested in ``test_finetune_real.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from emomtl.cli import app
from emomtl.finetune.run import FinetuneRun


@pytest.fixture
def recorded(monkeypatch, tmp_path: Path) -> dict:
    calls: dict = {}

    def fake_run(config, out_dir, **kwargs):
        calls["config"], calls["out"], calls["kwargs"] = config, out_dir, kwargs
        results = {"setting": "x", "seeds": [], "dev": {}, "test": {}}
        runtime = {"device": "cpu", "precision": "fp32"}
        return FinetuneRun(Path(out_dir), results, runtime, config=config)

    monkeypatch.setattr("emomtl.finetune.run.run_finetune", fake_run)
    return calls


def test_options_reach_the_config(recorded, tmp_path: Path) -> None:
    args = [
        "train",
        "--finetune",
        "--tasks",
        "0.1S+T",
        "--seeds",
        "2",
        "--epochs",
        "1.5",
        "--encoder-lr",
        "3e-5",
        "--head-lr",
        "2e-3",
        "--layer-decay",
        "0.9",
        "--sampling",
        "balanced",
        "--selection",
        "per-task",
        "--max-length",
        "64",
        "--batch-size",
        "16",
        "--precision",
        "fp32",
        "--device",
        "cpu",
        "--evals-per-epoch",
        "4",
        "--dropout",
        "0.2",
        "--out",
        str(tmp_path / "run"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    config = recorded["config"]
    assert (config.tasks, config.seeds, config.epochs) == ("0.1S+T", (0, 1), 1.5)
    assert (config.encoder_lr, config.head_lr, config.layer_decay) == (3e-5, 2e-3, 0.9)
    assert (config.sampling, config.selection, config.max_length) == ("balanced", "per-task", 64)
    assert (config.batch_size, config.precision, config.device) == (16, "fp32", "cpu")
    assert (config.evals_per_epoch, config.dropout) == (4, 0.2)
    assert recorded["out"] == tmp_path / "run"


def test_finetune_defaults_differ_from_frozen_ones(recorded, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", "--finetune", "--out", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    config = recorded["config"]
    assert (config.epochs, config.sampling, config.selection, config.dropout) == (
        2.0,
        "temperature",
        "mean",
        0.1,
    )
    assert config.seeds == (0, 1, 2)


def test_bad_finetune_option_is_a_clear_error(recorded) -> None:
    result = CliRunner().invoke(app, ["train", "--finetune", "--selection", "sum"])
    assert result.exit_code == 1
    assert "finetune selection must be one of mean, per-task" in result.output
    assert "config" not in recorded


def test_a_finetune_preset_sets_tasks_seeds_epochs_and_saves(recorded, monkeypatch, tmp_path):
    import emomtl.cli.train as cli_train

    saved = {}
    monkeypatch.setitem(
        cli_train.PRESETS,
        "ft-test",
        {
            "tasks": "S+T",
            "head": "mh",
            "weighting": "equal",
            "finetune": True,
            "seeds": 1,
            "epochs": 1.0,
        },
    )
    monkeypatch.setattr(
        "emomtl.finetune.bundle.save_finetuned_bundle",
        lambda result, directory, **kw: saved.update(result=result, directory=directory),
    )
    import emomtl.finetune.run as run_module

    fake = run_module.run_finetune

    def with_best(config, out_dir, **kwargs):
        run = fake(config, out_dir, **kwargs)
        run.best = "the best seed"
        return run

    monkeypatch.setattr(run_module, "run_finetune", with_best)
    args = [
        "train",
        "--preset",
        "ft-test",
        "--out",
        str(tmp_path / "r"),
        "--save",
        str(tmp_path / "bundle"),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    config = recorded["config"]
    assert (config.tasks, config.seeds, config.epochs) == ("S+T", (0,), 1.0)
    assert saved == {"result": "the best seed", "directory": tmp_path / "bundle"}


def test_head_reaches_the_config_and_se_is_refused(recorded, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", "--finetune", "--head", "label", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    assert recorded["config"].head == "label"
    result = CliRunner().invoke(app, ["train", "--finetune", "--head", "se"])
    assert result.exit_code == 1 and "finetune head must be one of mh, label" in result.output


def test_weighting_methods_reach_the_config_and_bad_ones_are_refused(recorded, tmp_path) -> None:
    out = str(tmp_path / "r")
    args = ["train", "--finetune", "--out", out, "--sampling", "round", "--weighting", "cagrad"]
    result = CliRunner().invoke(app, [*args, "--weighting-arg", "c=0.25"])
    assert result.exit_code == 0, result.output
    config = recorded.pop("config")
    assert (config.weighting_method, config.weighting_args) == ("cagrad", {"c": 0.25})
    assert config.to_dict()["weighting"] == "ft+cagrad"
    for extra, message in [
        (["--weighting", "upgrad"], "use --sampling round with --finetune"),
        (["--weighting", "gradnorm"], "needs the frozen trainer's batched shared layer"),
        (["--weighting", "uw", "--weighting-arg", "c=1"], "has no hyper-parameter ['c']"),
        (["--weighting", "uw", "--weighting-arg", "c"], "is not key=value"),
    ]:
        result = CliRunner().invoke(app, ["train", "--finetune", "--out", out, *extra])
        assert result.exit_code == 1, extra
        assert message in " ".join(result.output.split()), (extra, result.output)
        assert "config" not in recorded


def test_held_out_spaces_reach_the_run_and_frozen_runs_refuse_them(
    recorded, tmp_path: Path
) -> None:
    base = ["train", "--tasks", "T+E", "--head", "label", "--out", str(tmp_path / "r")]
    result = CliRunner().invoke(app, [*base, "--finetune", "--held-out", "S+G"])
    assert result.exit_code == 0, result.output
    assert list(recorded["kwargs"]["held_out"]) == ["S", "G"]
    frozen = CliRunner().invoke(app, [*base, "--held-out", "S"])
    assert frozen.exit_code != 0
    assert "--held-out is scored by fine-tuned runs" in frozen.output


def test_save_without_a_model_in_memory_is_a_clear_error(recorded, tmp_path) -> None:
    # the fake run trained nothing (every seed finished on disk): nothing can be saved
    args = ["train", "--finetune", "--out", str(tmp_path / "r"), "--save", str(tmp_path / "b")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "already finished" in result.output and "new --out" in result.output
    assert not (tmp_path / "b").exists()
