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
    CorpusOption,
    DataDirOption,
    EmobankSplitOption,
    EncoderOption,
    PrecisionOption,
    TalesSplitOption,
    console,
    fail,
    use_corpora,
)

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.train import TrainOutput

PRESETS = {"default": {"tasks": "S+T+E", "head": "mh", "weighting": "equal"}}
_PRIMARY_FIRST = ("jaccard", "f1_micro", "pearson_mean")


def _print_tables(results: dict[str, Any]) -> None:
    from rich.table import Table

    from emomtl.data.tasks import TASKS

    for code, metrics in results["test"].items():
        task = TASKS[code]  # every space of the run is registered (built in or --corpus)
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
    head: Annotated[
        str,
        typer.Option(
            "--head",
            help="mh (one head per task) | se | label (label-semantic: outputs from the "
            "encoder's embedding of each label's text through one shared projection).",
        ),
    ] = "mh",
    weighting: Annotated[str, typer.Option("--weighting", help="equal | gradnorm.")] = "equal",
    sampling: Annotated[
        str, typer.Option("--sampling", help="proportional (paper) | balanced.")
    ] = "proportional",
    selection: Annotated[
        str, typer.Option("--selection", help="Model selection: sum (paper) | per-task.")
    ] = "sum",
    seeds: Annotated[int, typer.Option("--seeds", help="Train seeds 0..N-1.", min=1)] = 5,
    encoder: EncoderOption = "minilm",
    precision: PrecisionOption = "auto",
    data_dir: DataDirOption = None,
    corpus: CorpusOption = None,
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
    use_corpora(corpus)
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
        )
        spec = EncoderSpec(name=encoder, precision=precision)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    out = out or Path("runs") / f"{config.head}-{config.weighting}__{config.tasks}"
    data_options = {"tales_split": tales_split, "emobank_split": emobank_split}
    output = _train(config, spec, data_dir, cache_dir, data_options, quiet=as_json)
    command = shlex.join(["emomtl", *sys.argv[1:]])
    recorded = {**data_options, "corpora": _card_paths()}
    write_run(output, out, encoder_spec=spec, data_options=recorded, command=command)
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    if save is not None:
        from emomtl.bundle import save_bundle

        save_bundle(output, save, encoder=spec, seed_index=None)
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    _print_tables(results)
    console.print(
        f"run written to [bold]{out}[/]" + (f"; bundle in [bold]{save}[/]" if save else "")
    )


def _card_paths() -> list[str]:
    """The corpus cards (absolute paths) registered in this process, for the run's config."""
    from emomtl.data.tasks import known_tasks

    return [str(t.card.path) for t in known_tasks().values() if t.card is not None]


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
        if config.head == "label":  # the label-semantic head needs its label texts' features
            from emomtl.features.label_text import attach_label_features

            attach_label_features(data, spec, cache_dir=cache_dir)
    except (DataError, MissingDataError, ValueError) as exc:
        raise fail(str(exc)) from exc
    return train(config, data, progress=not quiet)
