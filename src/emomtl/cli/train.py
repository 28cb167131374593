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

#: ``default`` fine-tunes MiniLM with the heads over S+T+E (one seed, three epochs): it beats the
#: frozen preset on every label space's test metric, and three epochs beat two on S and T
#: (README, "Fine-tuning"); ``frozen`` is the fast frozen-feature MH-MTL preset that was the
#: default before.
PRESETS = {
    "default": {
        "tasks": "S+T+E",
        "head": "mh",
        "weighting": "equal",
        "finetune": True,
        "seeds": 1,
        "epochs": 3.0,
    },
    "frozen": {"tasks": "S+T+E", "head": "mh", "weighting": "equal"},
}
_FT = "Fine-tuning (--finetune)"
_PRIMARY_FIRST = ("jaccard", "f1_micro", "pearson_mean")


def _print_tables(results: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from emomtl.data.tasks import TASKS

    sections = [("test", results["test"])]
    if "zero_shot" in results:  # held-out spaces, scored from their label texts
        sections.append(("test, zero-shot (held out)", results["zero_shot"]["test"]))
    rows = [(what, code, metrics) for what, part in sections for code, metrics in part.items()]
    for what, code, metrics in rows:
        task = TASKS[code]  # every space of the run is registered (built in or --corpus)
        table = Table(
            title=f"{task.code} ({task.name}) {what}, {escape(results['setting'])}, "
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
        str | None,
        typer.Option(
            "--sampling",
            help="proportional (paper) | balanced | round | temperature (aggregators need "
            "balanced, round or temperature); --finetune: temperature | proportional | balanced "
            "| round (aggregators need round) "
            "(default proportional; --finetune temperature).",
        ),
    ] = None,
    sampling_temperature: Annotated[
        float, typer.Option("--sampling-temperature", help="T of temperature sampling.")
    ] = 2.0,
    selection: Annotated[
        str | None,
        typer.Option(
            "--selection",
            help="Model selection: sum (paper) | per-task; --finetune: mean | per-task "
            "(default sum; --finetune mean).",
        ),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option("--seeds", help="Train seeds 0..N-1 (default 5; --finetune 3).", min=1),
    ] = None,
    encoder: EncoderOption = "minilm",
    precision: PrecisionOption = "auto",
    data_dir: DataDirOption = None,
    corpus: CorpusOption = None,
    cache_dir: CacheDirOption = None,
    tales_split: TalesSplitOption = "sentence",
    emobank_split: EmobankSplitOption = "official",
    epochs: Annotated[
        float | None,
        typer.Option("--epochs", help="Maximum epochs (default 100; --finetune 2)."),
    ] = None,
    patience: Annotated[int, typer.Option("--patience", help="Early-stopping patience.")] = 10,
    dropout: Annotated[
        float | None,
        typer.Option("--dropout", help="Dropout after the base layer (default 0; --finetune 0.1)."),
    ] = None,
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
            help="'default': MiniLM fine-tuned with MH heads on S+T+E (1 seed, 3 epochs); "
            "'frozen': MH-MTL on S+T+E over frozen features (fast); "
            "saves a bundle (to --save, else the default bundle that `emomtl predict` uses).",
            show_default=False,
        ),
    ] = None,
    finetune: Annotated[
        bool,
        typer.Option(
            "--finetune",
            help="Fine-tune the encoder with the heads (task-homogeneous batches) instead of "
            "training on frozen features.",
            rich_help_panel=_FT,
        ),
    ] = False,
    max_length: Annotated[
        int, typer.Option("--max-length", help="Tokens per text.", rich_help_panel=_FT)
    ] = 128,
    batch_size: Annotated[
        int, typer.Option("--batch-size", help="Texts per batch.", rich_help_panel=_FT)
    ] = 32,
    encoder_lr: Annotated[
        float, typer.Option("--encoder-lr", help="Peak encoder lr.", rich_help_panel=_FT)
    ] = 8e-5,
    head_lr: Annotated[
        float | None,
        typer.Option(
            "--head-lr",
            help="(Peak) lr of the shared layer and heads (default 3e-4, the paper's; "
            "--finetune 1e-3).",
            show_default=False,
        ),
    ] = None,
    layer_decay: Annotated[
        float,
        typer.Option("--layer-decay", help="Layer-wise lr decay (1 = off).", rich_help_panel=_FT),
    ] = 1.0,
    weight_decay: Annotated[
        float | None,
        typer.Option(
            "--weight-decay",
            help="Weight decay (default 1e-3 as Adam L2, the paper's; --finetune 0.01 AdamW).",
            show_default=False,
        ),
    ] = None,
    warmup: Annotated[
        float, typer.Option("--warmup", help="Warm-up fraction of steps.", rich_help_panel=_FT)
    ] = 0.1,
    grad_clip: Annotated[
        float, typer.Option("--grad-clip", help="Max gradient norm (0 = off).", rich_help_panel=_FT)
    ] = 1.0,
    tau: Annotated[
        float,
        typer.Option("--tau", help="Temperature of --sampling temperature.", rich_help_panel=_FT),
    ] = 2.0,
    evals_per_epoch: Annotated[
        int,
        typer.Option("--evals-per-epoch", help="Dev evaluations per epoch.", rich_help_panel=_FT),
    ] = 2,
    device: Annotated[
        str, typer.Option("--device", help="auto | cpu | cuda.", rich_help_panel=_FT)
    ] = "auto",
    save_dtype: Annotated[
        str,
        typer.Option(
            "--save-dtype", help="Bundle encoder weights: fp32 | bf16.", rich_help_panel=_FT
        ),
    ] = "fp32",
    held_out: Annotated[
        str | None,
        typer.Option(
            "--held-out",
            help="Spaces not trained on, scored zero-shot from their label texts by each seed "
            "(leave-one-space-out; needs --head label), e.g. 'S' or 'T+E'.",
            rich_help_panel=_FT,
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
        finetune = finetune or bool(PRESETS[preset].get("finetune", False))
        seeds = PRESETS[preset].get("seeds") if seeds is None else seeds
        epochs = PRESETS[preset].get("epochs") if epochs is None else epochs
        if save is None:
            from emomtl.bundle import default_model_dir

            # the "default" preset feeds `emomtl predict` without --model
            save = default_model_dir() if preset == "default" else Path("models") / preset
    if finetune:
        from emomtl.finetune.cli import finetune_command

        try:
            ft_weighting_args = parse_weighting_args(weighting_arg or [])
        except ValueError as exc:
            raise fail(str(exc)) from exc
        ft_options = {
            "tasks": tasks,
            "head": head,
            "encoder": encoder,
            "max_length": max_length,
            "seeds": seeds,
            "epochs": epochs,
            "batch_size": batch_size,
            "encoder_lr": encoder_lr,
            "head_lr": 1e-3 if head_lr is None else head_lr,
            "layer_decay": layer_decay,
            "weight_decay": 0.01 if weight_decay is None else weight_decay,
            "warmup": warmup,
            "dropout": dropout,
            "grad_clip": grad_clip,
            "sampling": sampling,
            "tau": tau,
            "weighting_method": weighting,
            "weighting_args": ft_weighting_args,
            "evals_per_epoch": evals_per_epoch,
            "selection": selection,
            "precision": precision,
            "device": device,
        }
        data_options = {"tales_split": tales_split, "emobank_split": emobank_split}
        return finetune_command(
            options=ft_options,
            out=out,
            save=save,
            save_dtype=save_dtype,
            data_dir=data_dir,
            cache_dir=cache_dir,
            data_options=data_options,
            as_json=as_json,
            held_out=[c.strip() for c in held_out.split("+")] if held_out else [],
        )
    if held_out:
        raise fail(
            "--held-out is scored by fine-tuned runs (--finetune --head label); for frozen "
            "features, benchmarks/label_head.py --parts zero-shot measures it"
        )
    seeds = 5 if seeds is None else seeds
    sampling = sampling or "proportional"
    selection = selection or "sum"
    dropout = 0.0 if dropout is None else dropout
    epochs = 100 if epochs is None else epochs
    if epochs != int(epochs):
        raise fail(f"--epochs must be a whole number without --finetune, got {epochs:g}")
    try:
        config = TrainConfig(
            tasks=tasks,
            head=head,
            weighting=weighting,
            sampling=sampling,
            selection=selection,
            seeds=tuple(range(seeds)),
            epochs=int(epochs),
            patience=patience,
            dropout=dropout,
            gradnorm_alpha=alpha,
            lr=3e-4 if head_lr is None else head_lr,
            weight_decay=1e-3 if weight_decay is None else weight_decay,
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
    recorded = {**data_options, "corpora": _card_paths()}
    write_run(output, out, encoder_spec=spec, data_options=recorded, command=command)
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


def _card_paths() -> list[str]:
    """The corpus cards (absolute paths) registered in this process, for the run's config."""
    from emomtl.data.tasks import known_tasks

    return [str(t.card.path) for t in known_tasks().values() if t.card is not None]


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
        if config.head == "label":  # the label-semantic head needs its label texts' features
            from emomtl.features.label_text import attach_label_features

            attach_label_features(data, spec, cache_dir=cache_dir)
    except (DataError, MissingDataError, ValueError) as exc:
        raise fail(str(exc)) from exc
    return train(config, data, progress=not quiet)
