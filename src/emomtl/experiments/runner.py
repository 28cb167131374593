"""Run an experiment grid with resume: the engine of ``emomtl reproduce``.

:func:`run_grid` loads the features of every task the grid needs once (the encoder runs at most
once per corpus, through the feature cache), then for each setting trains only the seeds whose cell
is not finished - all of them together as one batched model - and writes them with
:mod:`emomtl.experiments.store`. A cell ``(setting, seed)`` is finished when
``<out_dir>/<setting.slug>/seed_<k>/metrics.json`` exists, so a killed run resumes where it stopped
and loses nothing that finished; ``overwrite=True`` recomputes every cell.

An exception in one setting is recorded and the grid goes on with the others; the caller decides how
to fail (``emomtl reproduce`` exits non-zero listing them). Beside the settings, the results
directory receives ``timings.json`` (wall time per stage and per setting) and ``machine.json``.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from emomtl.data.tasks import canonical_order
from emomtl.experiments import store
from emomtl.experiments.grid import SEEDS, Setting
from emomtl.experiments.store import write_json

if TYPE_CHECKING:  # pragma: no cover
    from rich.progress import Progress

    from emomtl.experiments.workers import JobResult
    from emomtl.features.encoders import EncoderSpec
    from emomtl.features.task_data import TaskData
    from emomtl.train import TrainConfig, TrainOutput

TIMINGS_FILE = "timings.json"
MACHINE_FILE = "machine.json"


class TrainFn(Protocol):
    """Signature of :func:`emomtl.train.train` (injectable for tests and benchmarks)."""

    def __call__(self, config: TrainConfig, data: Mapping[str, TaskData]) -> TrainOutput: ...


class WriteFn(Protocol):
    """Writes the finished seeds of one setting, its config, command line and aggregates."""

    def __call__(
        self,
        setting_dir: Path,
        output: TrainOutput,
        *,
        config: TrainConfig,
        encoder: EncoderSpec,
        data_options: dict[str, Any],
        command: str | None,
    ) -> None: ...


LoadFn = Callable[..., "dict[str, TaskData]"]
#: Runs train jobs elsewhere, yielding each result as it finishes: ``executor(jobs, workers=N,
#: threads=T)``, the contract of :func:`emomtl.experiments.workers.run_in_processes` (the default;
#: :func:`emomtl.distributed.grid.ray_executor` runs them on Ray).
Executor = Callable[..., "Iterator[JobResult]"]
ReportFn = Callable[[Path], Path]


@dataclass
class SettingOutcome:
    """What happened to one setting in one invocation.

    Attributes:
        setting: the setting.
        trained: seeds trained (and written) now.
        skipped: seeds whose cell was already finished.
        wall_time_s: time spent on the setting now (training and writing).
        error: one-line description of the failure, ``None`` on success.
        traceback: the full traceback of the failure.
    """

    setting: Setting
    trained: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    wall_time_s: float = 0.0
    error: str | None = None
    traceback: str | None = None

    @property
    def ok(self) -> bool:
        """True when the setting did not fail."""
        return self.error is None


@dataclass
class GridSummary:
    """The result of :func:`run_grid`.

    Attributes:
        out_dir: the results directory.
        outcomes: one entry per setting, in grid order.
        stages: wall time in seconds per stage of this invocation: ``encode`` (feature loading,
            encoding on a cache miss; 0 when nothing had to be trained), ``train`` (training and
            writing) and, when the report was built, ``report``.
        train_threads: torch threads used for training (``None``: torch's default), per worker.
        workers: settings trained side by side in worker processes (1: in this process).
        total_s: wall time of the whole invocation.
        report_path: the report written at the end, if any.
        report_error: why the report could not be built, if it failed.
    """

    out_dir: Path
    outcomes: list[SettingOutcome]
    stages: dict[str, float]
    train_threads: int | None = None
    workers: int = 1
    total_s: float = 0.0
    report_path: Path | None = None
    report_error: str | None = None

    @property
    def failures(self) -> list[SettingOutcome]:
        """The settings that failed."""
        return [o for o in self.outcomes if not o.ok]

    @property
    def ok(self) -> bool:
        """True when every setting and the report succeeded."""
        return not self.failures and self.report_error is None

    @property
    def cells_trained(self) -> int:
        """Number of (setting, seed) cells trained in this invocation."""
        return sum(len(o.trained) for o in self.outcomes)

    @property
    def cells_skipped(self) -> int:
        """Number of cells found finished and skipped."""
        return sum(len(o.skipped) for o in self.outcomes)


def missing_seeds(setting_dir: Path, seeds: Iterable[int], *, overwrite: bool = False) -> list[int]:
    """The seeds of ``seeds`` whose cell under ``setting_dir`` still has to be trained.

    A cell is finished when its ``seed_<k>/metrics.json`` exists (written last and atomically by
    :func:`emomtl.experiments.store.write_seed`).
    """
    done = set() if overwrite else set(store.finished_seeds(setting_dir))
    return [s for s in seeds if s not in done]


def machine_info() -> dict[str, Any]:
    """CPU model, core count, torch / python versions and platform of this machine."""
    import torch

    import emomtl

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "emomtl": emomtl.__version__,
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def store_write(
    setting_dir: Path,
    output: TrainOutput,
    *,
    config: TrainConfig,
    encoder: EncoderSpec,
    data_options: dict[str, Any],
    command: str | None,
) -> None:
    """Default :class:`WriteFn`: :func:`emomtl.experiments.store.write_run` with the setting's
    full config (its whole seed list), so ``results.json`` covers every finished seed."""
    store.write_run(
        output,
        setting_dir,
        config=config,
        encoder_spec=encoder,
        data_options=data_options,
        command=command,
    )


def run_grid(
    settings: Sequence[Setting],
    *,
    out_dir: Path,
    seeds: Sequence[int] = SEEDS,
    encoder: EncoderSpec | None = None,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    tales_split: str = "sentence",
    emobank_split: str = "official",
    train_overrides: Mapping[str, Any] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    command: str | None = None,
    report: bool = True,
    train_threads: int | None = None,
    workers: int = 1,
    train_fn: TrainFn | None = None,
    load_fn: LoadFn | None = None,
    write_fn: WriteFn | None = None,
    report_fn: ReportFn | None = None,
    executor: Executor | None = None,
) -> GridSummary:
    """Train every missing (setting, seed) cell of a grid and write it under ``out_dir``.

    Args:
        settings: the grid, e.g. :data:`emomtl.experiments.grid.TABLE4`.
        out_dir: results directory; each setting writes ``out_dir / setting.slug``.
        seeds: training seeds of every setting.
        encoder: frozen encoder spec (default ``EncoderSpec()``: MiniLM, mean pooling, fp32).
        data_dir, cache_dir: corpora and feature cache directories (default: environment).
        tales_split, emobank_split: data split options, recorded in each ``config.json``.
        train_overrides: other :class:`~emomtl.train.TrainConfig` fields (e.g. ``epochs``).
        overwrite: recompute finished cells instead of skipping them.
        progress: show a rich progress display per setting.
        command: the command line, saved as ``command.txt`` in each setting directory.
        report: build the report (``report_fn``, default
            :func:`emomtl.report.build.build_report`) at the end.
        train_threads: torch intra-op threads during training (restored afterwards; ``None``
            leaves torch's default, one per core). On an idle 2-core machine two threads train
            about 1.6x faster than one; on a machine busy with other work one thread can be
            several times faster (the ops are tiny and contend for cores). Encoding is not
            affected. With ``workers > 1`` this is per worker (default: cores // workers).
        workers: settings trained side by side, one process each
            (:mod:`emomtl.experiments.workers`); 1 trains them one after another in this process.
            Results are written here as each setting finishes; settings start in grid order (the
            grids list first what a run cut short most needs: the STL baselines, then the cheap
            cells before the slow ones).
            ``train_fn`` must then be picklable.
        train_fn, load_fn, write_fn, report_fn: injectable stages; defaults are
            :func:`emomtl.train.train`, :func:`emomtl.features.task_data.load_task_data`,
            :func:`store_write` and :func:`emomtl.report.build.build_report`.
        executor: where settings train when not in this process (see :data:`Executor`); given,
            every setting goes through it, ``workers`` bounding the jobs in flight and
            ``train_threads`` (default 1) the threads of each; results are still written here
            as each setting finishes.

    Returns:
        The :class:`GridSummary`. Failures of single settings are recorded there, not raised;
        errors before training (e.g. missing corpora) propagate.
    """
    start = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = tuple(int(s) for s in seeds)
    if not seeds:
        raise ValueError("no seeds to run; pass at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {seeds} contain duplicates")
    if encoder is None:
        from emomtl.features.encoders import EncoderSpec

        encoder = EncoderSpec()
    overrides = dict(train_overrides or {})
    data_options = {"tales_split": tales_split, "emobank_split": emobank_split}
    console = _console() if progress else None
    write_json(out_dir / MACHINE_FILE, machine_info())

    todo = {s: missing_seeds(out_dir / s.slug, seeds, overwrite=overwrite) for s in settings}
    stages: dict[str, float] = {"encode": 0.0, "train": 0.0}
    data: dict[str, TaskData] = {}
    needed = canonical_order({code for s, m in todo.items() if m for code in s.codes})
    if needed:
        if load_fn is None:
            from emomtl.features.task_data import load_task_data as load_fn
        if console is not None:
            console.print(
                f"[bold]Loading features[/] for tasks {', '.join(needed)} ({encoder.name})"
            )
        t0 = time.perf_counter()
        data = load_fn(
            needed,
            spec=encoder,
            data_dir=data_dir,
            cache_dir=cache_dir,
            tales_split=tales_split,
            emobank_split=emobank_split,
            progress=progress,
        )
        stages["encode"] = time.perf_counter() - t0

    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if executor is not None and train_threads is None:
        train_threads = 1
    if workers > 1 and train_threads is None:
        train_threads = max(1, (os.cpu_count() or 1) // workers)
    if train_fn is None:
        from emomtl.train import train

        # In a worker the thread count is set once for the process (workers._init_worker).
        in_process = workers == 1 and executor is None
        train_fn = functools.partial(train, num_threads=train_threads if in_process else None)
    write = write_fn or store_write
    runs = {
        setting: _SettingRun(
            setting,
            todo[setting],
            seeds=seeds,
            setting_dir=out_dir / setting.slug,
            encoder=encoder,
            data_options=data_options,
            command=command,
            write_fn=write,
        )
        for setting in settings
    }
    t0 = time.perf_counter()
    with _progress(console) as bar:
        overall = None
        if bar is not None:
            total = sum(len(m) for m in todo.values())
            overall = bar.add_task(f"grid ({len(settings)} settings)", total=total)

        def report_outcome(outcome: SettingOutcome) -> None:
            if bar is not None and overall is not None:
                bar.advance(overall, len(outcome.trained))
            if console is not None:
                _print_outcome(console, outcome)

        if workers == 1 and executor is None:
            for run in runs.values():
                config = run.start(overrides)
                if config is not None:
                    run.train_here(train_fn, config, data, bar)
                report_outcome(run.outcome)
        else:
            _train_in_processes(
                list(runs.values()),
                overrides,
                data,
                train_fn=train_fn,
                workers=workers,
                threads=train_threads or 1,  # set above for workers > 1
                on_outcome=report_outcome,
                execute=executor,
            )
    outcomes = [run.outcome for run in runs.values()]
    stages["train"] = time.perf_counter() - t0

    summary = GridSummary(out_dir, outcomes, stages, train_threads=train_threads, workers=workers)
    summary.total_s = time.perf_counter() - start
    _write_timings(out_dir, summary)
    if report:
        t0 = time.perf_counter()
        try:
            if report_fn is None:
                from emomtl.report.build import build_report as report_fn
            summary.report_path = report_fn(out_dir)
        except Exception as exc:  # the results stay; the report can be rebuilt later
            summary.report_error = f"{type(exc).__name__}: {exc}"
        stages["report"] = time.perf_counter() - t0
    summary.total_s = time.perf_counter() - start
    _write_timings(out_dir, summary)
    return summary


class _SettingRun:
    """One setting of the grid in this invocation: validate, train (here or in a worker), write.

    Failures are recorded on :attr:`outcome`, never raised.
    """

    def __init__(
        self,
        setting: Setting,
        missing: list[int],
        *,
        seeds: tuple[int, ...],
        setting_dir: Path,
        encoder: EncoderSpec,
        data_options: dict[str, Any],
        command: str | None,
        write_fn: WriteFn,
    ) -> None:
        self.setting, self.missing, self.seeds = setting, missing, seeds
        self.setting_dir, self.encoder, self.data_options = setting_dir, encoder, data_options
        self.command, self.write_fn = command, write_fn
        self.outcome = SettingOutcome(setting, skipped=[s for s in seeds if s not in missing])
        self.config: TrainConfig | None = None

    def start(self, overrides: dict[str, Any]) -> TrainConfig | None:
        """The config to train the missing seeds with, or None (nothing to do, or a failure)."""
        if not self.missing:
            return None
        try:
            self.config = self.setting.train_config(self.seeds, **overrides)
            if self.outcome.skipped:
                check_compatible(self.setting_dir, self.config, self.encoder, self.data_options)
        except Exception as exc:
            self.fail(exc)
            return None
        return replace(self.config, seeds=tuple(self.missing))

    def task_data(self, data: Mapping[str, TaskData]) -> dict[str, TaskData]:
        return {code: data[code] for code in self.setting.codes}

    def train_here(
        self,
        train_fn: TrainFn,
        config: TrainConfig,
        data: Mapping[str, TaskData],
        bar: Progress | None,
    ) -> None:
        """Train in this process, then :meth:`finish`."""
        from rich.markup import escape

        task_id = bar.add_task(escape(self.setting.name), total=len(self.missing)) if bar else None
        t0 = time.perf_counter()
        try:
            output = train_fn(config, self.task_data(data))
        except Exception as exc:
            self.fail(exc)
        else:
            self.finish(output)
        self.outcome.wall_time_s = time.perf_counter() - t0
        if bar is not None and task_id is not None:
            bar.update(task_id, completed=len(self.outcome.trained), visible=False)

    def finish(self, output: TrainOutput) -> None:
        """Check the trained seeds and write them (a failure is recorded)."""
        try:
            trained = sorted(result.seed for result in output.seeds)
            if trained != sorted(self.missing):
                raise RuntimeError(f"trained seeds {trained} but asked for {sorted(self.missing)}")
            assert self.config is not None
            self.write_fn(
                self.setting_dir,
                output,
                config=self.config,
                encoder=self.encoder,
                data_options=self.data_options,
                command=self.command,
            )
            self.outcome.trained = list(self.missing)
        except Exception as exc:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        self.outcome.error = f"{type(exc).__name__}: {exc}"
        self.outcome.traceback = "".join(traceback.format_exception(exc))


def _train_in_processes(
    runs: list[_SettingRun],
    overrides: dict[str, Any],
    data: Mapping[str, TaskData],
    *,
    train_fn: TrainFn,
    workers: int,
    threads: int,
    on_outcome: Callable[[SettingOutcome], None],
    execute: Executor | None = None,
) -> None:
    """Train the runs' missing seeds in worker processes and write each run as it finishes;
    ``on_outcome`` sees every run once (those with nothing to train, or failing before
    training, first)."""
    from emomtl.experiments.workers import TrainJob, run_in_processes

    execute = execute or run_in_processes
    jobs = []
    for index, run in enumerate(runs):
        config = run.start(overrides)
        if config is not None:
            try:
                jobs.append(TrainJob(index, train_fn, config, run.task_data(data)))
                continue
            except Exception as exc:
                run.fail(exc)
        on_outcome(run.outcome)  # finished earlier, or failed before training
    for result in execute(jobs, workers=workers, threads=threads):
        run = runs[result.key]
        t0 = time.perf_counter()
        if result.error is not None:
            run.fail(result.error)
        else:
            assert result.output is not None
            run.finish(result.output)
        run.outcome.wall_time_s = result.seconds + time.perf_counter() - t0
        on_outcome(run.outcome)


def check_compatible(
    setting_dir: Path, config: TrainConfig, encoder: EncoderSpec, data_options: dict[str, Any]
) -> None:
    """Refuse to add seeds to results that were produced with a different configuration.

    Compares the saved ``config.json`` (training config except its seeds, encoder and data
    options; only the fields recorded on both sides) with the current ones.

    Raises:
        ValueError: naming the differing fields and what to do.
    """
    path = setting_dir / "config.json"
    if not path.is_file():
        return
    saved = json.loads(path.read_text())
    current = {
        "train": config.to_dict(),
        "encoder": asdict(encoder),
        "data": data_options,
    }
    diffs = []
    for section, values in json.loads(json.dumps(current)).items():
        recorded = saved.get(section)
        if not isinstance(recorded, dict):
            continue
        for key, value in values.items():
            if key != "seeds" and key in recorded and recorded[key] != value:
                diffs.append(f"{section}.{key}: saved {recorded[key]!r}, now {value!r}")
    if diffs:
        raise ValueError(
            f"{setting_dir} holds results of a different configuration ({'; '.join(diffs)}); "
            "pass --overwrite to recompute them or choose another --out"
        )


def _write_timings(out_dir: Path, summary: GridSummary) -> None:
    """Write ``timings.json``; settings not trained now keep their previously recorded time.

    ``stages`` holds the stages of this invocation only (their sum is about ``total_s``); on a
    resumed run ``per_setting`` still lists the time each setting took when it was trained.
    """
    path = out_dir / TIMINGS_FILE
    previous: dict[str, Any] = {}
    if path.is_file():
        try:
            previous = json.loads(path.read_text()).get("per_setting", {})
        except (json.JSONDecodeError, AttributeError):
            previous = {}
    per_setting = dict(previous)
    for o in summary.outcomes:
        if o.trained or o.error or o.setting.slug not in per_setting:
            per_setting[o.setting.slug] = {
                "setting": o.setting.name,
                "wall_time_s": round(o.wall_time_s, 3),
                "seeds_trained": o.trained,
                "seeds_skipped": o.skipped,
                "error": o.error,
                "traceback": o.traceback,
            }
    payload = {
        "stages": {k: round(v, 3) for k, v in summary.stages.items()},
        "total_s": round(summary.total_s, 3),
        "train_threads": summary.train_threads,
        "workers": summary.workers,
        "cells_trained": summary.cells_trained,
        "cells_skipped": summary.cells_skipped,
        "per_setting": per_setting,
    }
    write_json(path, payload)


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def _progress(console: Any) -> AbstractContextManager[Any]:
    if console is None:
        return nullcontext(None)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description:<22}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("cells"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def _print_outcome(console: Any, outcome: SettingOutcome) -> None:
    from rich.markup import escape

    name = escape(f"{outcome.setting.name:<16}")  # "[balanced]" is text, not a rich style
    if outcome.error:
        console.print(f"[red]x[/] {name} [red]failed[/]: {outcome.error}")
    elif outcome.trained:
        extra = f", {len(outcome.skipped)} already done" if outcome.skipped else ""
        console.print(
            f"[green]v[/] {name} {len(outcome.trained)} seed(s) in "
            f"{outcome.wall_time_s:.1f} s{extra}"
        )
    else:
        console.print(f"[dim]= {name} all {len(outcome.skipped)} seed(s) already done[/]")
