"""``emomtl train``: train one setting over N seeds on cached features; write its run directory."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from emomtl.cli import app
from emomtl.cli.common import (
    CacheDirOption,
    DataDirOption,
    EmobankSplitOption,
    EncoderOption,
    PrecisionOption,
    TalesSplitOption,
    console,
    fail,
)

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.train import TrainOutput

PRESETS = {"default": {"tasks": "S+T+E", "head": "mh", "weighting": "equal"}}
_PRIMARY_FIRST = ("jaccard", "f1_micro", "pearson_mean")


def _print_tables(results: dict[str, Any]) -> None:
    from rich.table import Table

    from emomtl.data.tasks import TASKS

    for code, metrics in results["test"].items():
        task = TASKS[code]
        table = Table(
            title=f"{task.code} ({task.name}) test, {results['setting']}, "
            f"n = {len(results['seeds'])} seeds"
        )
        table.add_column("metric")
        table.add_column("mean ± 95% CI", justify="right")
        for name, summary in metrics.items():
            mean, ci = summary["mean"], summary["ci95"]
            shown = "nan" if mean is None else f"{mean:.4f}"
            if ci is not None and mean is not None:
                shown += f" ± {ci:.4f}"
            label = f"[bold]{name}[/]" if name == task.primary_metric else name
            table.add_row(label, shown)
        console.print(table)


@app.command()
def train(
    tasks: Annotated[
        str, typer.Option("--tasks", help="Task string, e.g. 'S', '0.1S+T+E', 'semeval+tales'.")
    ] = "S+T+E",
    head: Annotated[str, typer.Option("--head", help="mh (one head per task) | se.")] = "mh",
    weighting: Annotated[
        str,
        typer.Option(
            "--weighting",
            help="equal | gradnorm | gradnorm_mean | uw | dwa | famo | pcgrad | cagrad | "
            "nash_mtl | upgrad | aligned_mtl.",
        ),
    ] = "equal",
    weighting_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--weighting-arg",
            help="A hyper-parameter of the weighting as key=value (repeatable), e.g. c=0.4; "
            "recorded in config.json.",
            show_default=False,
        ),
    ] = None,
    sampling: Annotated[
        str,
        typer.Option(
            "--sampling",
            help="proportional (paper) | balanced | round | temperature "
            "(aggregators need balanced, round or temperature).",
        ),
    ] = "proportional",
    sampling_temperature: Annotated[
        float, typer.Option("--sampling-temperature", help="T of temperature sampling.")
    ] = 2.0,
    selection: Annotated[
        str, typer.Option("--selection", help="Model selection: sum (paper) | per-task.")
    ] = "sum",
    seeds: Annotated[int, typer.Option("--seeds", help="Train seeds 0..N-1.", min=1)] = 5,
    encoder: EncoderOption = "minilm",
    precision: PrecisionOption = "auto",
    data_dir: DataDirOption = None,
    cache_dir: CacheDirOption = None,
    tales_split: TalesSplitOption = "sentence",
    emobank_split: EmobankSplitOption = "official",
    epochs: Annotated[int, typer.Option("--epochs", help="Maximum epochs.")] = 100,
    patience: Annotated[int, typer.Option("--patience", help="Early-stopping patience.")] = 10,
    dropout: Annotated[
        float, typer.Option("--dropout", help="Dropout after the base layer.")
    ] = 0.0,
    alpha: Annotated[float, typer.Option("--alpha", help="GradNorm alpha.")] = 1.0,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Run directory (default runs/<head>-<weighting>__<tasks>).",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results.json to stdout.")] = False,
    save: Annotated[
        Path | None,
        typer.Option(
            "--save",
            help="Also save a model bundle (seed with the best dev score) here.",
            show_default=False,
        ),
    ] = None,
    tune_thresholds: Annotated[
        bool,
        typer.Option(
            "--tune-thresholds",
            help="With --save: store per-label thresholds of multilabel spaces tuned on dev "
            "(each label's F1) in the bundle (default: 0.5 for every label).",
        ),
    ] = False,
    preset: Annotated[
        str | None,
        typer.Option(
            "--preset",
            help="'default': MH-MTL on S+T+E, full data, default encoder; "
            "saves a bundle (to --save, else the default bundle that `emomtl predict` uses).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Train one setting over N seeds (as one batched model) and write its run directory."""
    from emomtl.experiments.store import write_run
    from emomtl.features.encoders import EncoderSpec
    from emomtl.train import TrainConfig

    if preset is not None:
        if preset not in PRESETS:
            raise fail(f"unknown --preset {preset!r}; expected one of {sorted(PRESETS)}")
        tasks, head, weighting = (PRESETS[preset][k] for k in ("tasks", "head", "weighting"))
        if save is None:
            from emomtl.bundle import default_model_dir

            # the "default" preset feeds `emomtl predict` without --model
            save = default_model_dir() if preset == "default" else Path("models") / preset
    try:
        config = TrainConfig(
            tasks=tasks,
            head=head,
            weighting=weighting,
            sampling=sampling,
            selection=selection,
            seeds=tuple(range(seeds)),
            epochs=epochs,
            patience=patience,
            dropout=dropout,
            gradnorm_alpha=alpha,
            weighting_args=parse_weighting_args(weighting_arg or []),
            sampling_temperature=sampling_temperature,
        )
        spec = EncoderSpec(name=encoder, precision=precision)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    out = out or Path("runs") / f"{config.head}-{config.weighting}__{config.tasks}"
    data_options = {"tales_split": tales_split, "emobank_split": emobank_split}
    output = _train(config, spec, data_dir, cache_dir, data_options, quiet=as_json)
    command = shlex.join(["emomtl", *sys.argv[1:]])
    write_run(output, out, encoder_spec=spec, data_options=data_options, command=command)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    if save is not None:
        from emomtl.bundle import save_bundle

        thresholds = None
        if tune_thresholds:
            from emomtl.bundle import select_seed
            from emomtl.features.task_data import load_task_data
            from emomtl.thresholds import tune_from_output

            data = load_task_data(
                output.task_codes,
                spec=spec,
                data_dir=data_dir,
                cache_dir=cache_dir,
                **data_options,
            )  # cached features: no encoding
            thresholds = tune_from_output(output, data, select_seed(output))
        save_bundle(output, save, encoder=spec, seed_index=None, label_thresholds=thresholds)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    _print_tables(results)
    console.print(
        f"run written to [bold]{out}[/]" + (f"; bundle in [bold]{save}[/]" if save else "")
    )


def parse_weighting_args(items: list[str]) -> dict[str, str]:
    """``["c=0.4", "lr=0.01"] -> {"c": "0.4", "lr": "0.01"}`` (the weighting casts the values).

    Raises:
        ValueError: naming an item without ``=`` or a key given twice.
    """
    args: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValueError(f"--weighting-arg {item!r} is not key=value")
        if key in args:
            raise ValueError(f"--weighting-arg {key} given twice")
        args[key] = value.strip()
    return args


def _train(
    config: Any,
    spec: Any,
    data_dir: Path | None,
    cache_dir: Path | None,
    data_options: dict[str, str],
    *,
    quiet: bool,
) -> TrainOutput:
    from emomtl.data.errors import DataError, MissingDataError
    from emomtl.data.tasks import parse_task_spec
    from emomtl.features.task_data import load_task_data
    from emomtl.train import train

    codes = [sel.task.code for sel in parse_task_spec(config.tasks)]
    try:
        data = load_task_data(
            codes,
            spec=spec,
            data_dir=data_dir,
            cache_dir=cache_dir,
            progress=not quiet,
            **data_options,
        )
    except (DataError, MissingDataError, ValueError) as exc:
        raise fail(str(exc)) from exc
    return train(config, data, progress=not quiet)
