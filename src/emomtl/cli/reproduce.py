"""``emomtl reproduce``: run the paper's grid (or its quick subset), resume, build the report."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from emomtl.cli import app
from emomtl.cli.common import (
    AddressOption,
    CacheDirOption,
    CorpusOption,
    DataDirOption,
    EmobankSplitOption,
    EncoderOption,
    PrecisionOption,
    TalesSplitOption,
    console,
    err_console,
    fail,
    use_corpora,
)

#: Upper bound of ``--workers 0`` (one worker per core).
MAX_AUTO_WORKERS = 8


@app.command()
def reproduce(
    encoder: EncoderOption = "minilm",
    precision: PrecisionOption = "auto",
    seeds: Annotated[
        int | None,
        typer.Option(
            "--seeds",
            min=1,
            help="Number of training seeds per setting (0..N-1).",
            show_default="5, or 2 with --quick",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Results directory (one subdirectory per setting).")
    ] = Path("results/paper"),
    quick: Annotated[
        bool,
        typer.Option(
            "--quick", help="Only the Table 2 rows with 2 seeds: the whole pipeline in minutes."
        ),
    ] = False,
    grid: Annotated[
        str,
        typer.Option(
            "--grid",
            help="paper (Table 4) | methods (issue 12: MTL methods x samplings vs STL, "
            "per-task selection; default --out results/methods, report methods.md) | "
            "methods-goemotions (the same with GoEmotions as a fourth space; default --out "
            "results/methods-goemotions).",
        ),
    ] = "paper",
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Recompute finished cells instead of skipping them.")
    ] = False,
    sampling: Annotated[
        str, typer.Option("--sampling", help="Batch sampling: proportional (paper) | balanced.")
    ] = "proportional",
    selection: Annotated[
        str, typer.Option("--selection", help="Model selection: sum (paper) | per-task.")
    ] = "sum",
    threads: Annotated[
        int,
        typer.Option(
            "--threads",
            min=0,
            help="Torch threads while training, per worker (0 = cores / workers; "
            "1 is faster on a busy machine).",
        ),
    ] = 0,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=0,
            help="Settings trained side by side, one process each "
            f"(0 = one per core, at most {MAX_AUTO_WORKERS}; 1 = all in this process).",
        ),
    ] = 0,
    data_dir: DataDirOption = None,
    corpus: CorpusOption = None,
    cache_dir: CacheDirOption = None,
    tales_split: TalesSplitOption = "sentence",
    emobank_split: EmobankSplitOption = "official",
    backend: Annotated[
        str,
        typer.Option(
            "--backend",
            help="Where settings train: local (process pool) | ray (one Ray task per setting; "
            "--workers 0 = as many as the cluster's CPUs fit, --threads 0 = 1 CPU a task).",
        ),
    ] = "local",
    address: AddressOption = None,
) -> None:
    """Reproduce the paper's Tables 2-4 and figures: train every missing (setting, seed) cell
    of the grid, skip finished ones, and write OUT/report.md.

    A killed run resumes where it stopped when started again with the same options.
    """
    use_corpora(corpus)
    from emomtl.experiments.grid import (
        GRID_TRAIN_OPTIONS,
        GRIDS,
        METHOD_GRIDS,
        QUICK,
        QUICK_SEEDS,
        SEEDS,
        TABLE4,
    )
    from emomtl.experiments.runner import run_grid
    from emomtl.features.encoders import EncoderError, EncoderSpec

    settings = QUICK if quick else TABLE4
    default_seeds = QUICK_SEEDS if quick else SEEDS
    seed_list = default_seeds if seeds is None else tuple(range(seeds))
    overrides = {"sampling": sampling, "selection": selection}
    if backend not in ("local", "ray"):
        raise fail(f"--backend must be local or ray, got {backend!r}")
    executor = None
    if backend == "ray":
        from emomtl.distributed.grid import ray_executor

        executor = ray_executor(address)
    report_fn = None
    if grid not in ("paper", *METHOD_GRIDS):
        raise fail(f"--grid {grid!r} is not one of paper, {', '.join(METHOD_GRIDS)}")
    if grid in METHOD_GRIDS:
        if quick or sampling != "proportional" or selection != "sum":
            raise fail(
                "--grid methods sets sampling per setting and selection per-task; "
                "drop --quick, --sampling and --selection"
            )
        from emomtl.report.methods import build_methods_report as report_fn

        settings = GRIDS[grid]
        overrides = {"selection": "per-task", **GRID_TRAIN_OPTIONS.get(grid, {})}
        out = Path("results") / grid if out == Path("results/paper") else out
    try:
        spec = EncoderSpec(name=encoder, precision=precision)
        settings[0].train_config(seed_list, **overrides)  # validates the options up front
    except ValueError as exc:
        raise fail(str(exc)) from exc
    console.print(
        f"[bold]emomtl reproduce[/]: {len(settings)} settings x {len(seed_list)} seeds, "
        f"encoder {spec.name} ({spec.precision}) -> {out}"
    )
    try:
        summary = run_grid(
            settings,
            out_dir=out,
            seeds=seed_list,
            encoder=spec,
            data_dir=data_dir,
            cache_dir=cache_dir,
            tales_split=tales_split,
            emobank_split=emobank_split,
            train_overrides=overrides,
            overwrite=overwrite,
            progress=True,
            train_threads=threads or None,
            workers=workers or (len(settings) if executor else auto_workers()),
            executor=executor,
            report_fn=report_fn,
            command=_command_line(
                encoder=encoder,
                precision=precision,
                seeds=len(seed_list),
                out=out,
                quick=quick,
                grid=None if grid == "paper" else grid,
                sampling=sampling,
                selection=selection,
                threads=threads,
                workers=workers,
                tales_split=tales_split,
                emobank_split=emobank_split,
                data_dir=data_dir,
                cache_dir=cache_dir,
                backend=backend if backend != "local" else None,
                address=address,
            ),
        )
    except (ValueError, EncoderError) as exc:  # missing corpora or model: nothing was trained
        raise fail(str(exc)) from exc

    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.stages.items())
    stages += f"; total {summary.total_s:.1f} s"
    console.print(
        f"{summary.cells_trained} cell(s) trained, {summary.cells_skipped} already finished; "
        f"{stages}"
    )
    if summary.report_path is not None:
        console.print(f"report: [bold]{summary.report_path}[/]")
    if summary.ok:
        return
    from rich.markup import escape

    for outcome in summary.failures:
        err_console.print(f"[bold red]failed:[/] {escape(outcome.setting.name)}: {outcome.error}")
    if summary.report_error:
        err_console.print(f"[bold red]report failed:[/] {summary.report_error}")
    what = [f"{len(summary.failures)} setting(s)"] if summary.failures else []
    what += ["the report"] if summary.report_error else []
    raise fail(
        f"{' and '.join(what)} failed (tracebacks in {out / 'timings.json'}); finished cells are "
        "kept - rerun the same command to retry only what is missing"
    )


def auto_workers() -> int:
    """``--workers 0``: one worker per core, at most :data:`MAX_AUTO_WORKERS` (each worker is a
    Python process with its own torch, a few hundred MB)."""
    return max(1, min(os.cpu_count() or 1, MAX_AUTO_WORKERS))


def _command_line(*, quick: bool, **options: object) -> str:
    """The ``emomtl reproduce`` command with every resolved option, for ``command.txt``.

    Rebuilt from the parsed values (not ``sys.argv``) so it is exact however the command was
    invoked, and reruns the same grid with the same settings. ``--overwrite`` is left out: a
    rerun should resume, not recompute.
    """
    parts = ["emomtl", "reproduce", *(["--quick"] if quick else [])]
    for name, value in options.items():
        if value is not None:
            parts += [f"--{name.replace('_', '-')}", str(value)]
    return shlex.join(parts)
