"""Train several settings at once, one process per setting: the ``--workers`` of ``reproduce``.

The network of a setting is tiny (one 384 x 256 layer and heads), so a training step is a few
small matmuls plus Python and dispatcher overhead that intra-op threads cannot share out: on the
2-core reference machine two threads train one setting only about 1.5x faster than one, and more
threads help less and less. Settings are independent, so they also run side by side: ``workers``
processes with ``threads`` torch threads each, every process training whole settings (all their
seeds batched, as in-process). Results are the same numbers as in-process training (each setting
is the same computation; float round-off aside).

Processes are started with ``spawn`` (forking a process whose OpenMP pool is running can hang).
Feature tensors travel to the workers through shared memory (``torch.multiprocessing``'s
pickling), so they are not copied per setting; the outputs travel back the same way. The caller
keeps writing results itself, as each setting finishes, so an interrupted grid keeps every
finished setting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.features.task_data import TaskData
    from emomtl.train import TrainConfig, TrainOutput


@dataclass
class TrainJob:
    """One setting to train: ``key`` identifies it to the caller; ``train_fn`` must be picklable
    (a module-level function or a ``functools.partial`` of one)."""

    key: Any
    train_fn: Callable[..., TrainOutput]
    config: TrainConfig
    data: Mapping[str, TaskData]


@dataclass
class JobResult:
    """A finished job: its output, or the exception it raised (with the worker's traceback as
    ``__cause__``), and the seconds the worker spent on it."""

    key: Any
    output: TrainOutput | None
    error: BaseException | None
    seconds: float


def _init_worker(threads: int) -> None:
    import signal

    import torch

    # Ctrl-C reaches the whole process group; the parent handles it and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def _terminate(pool: ProcessPoolExecutor, workers: set[Any]) -> None:
    """Stop the workers now, jobs in flight included: ``terminate_workers`` from Python 3.14,
    before that ``Process.terminate`` on ``workers``, the pool's processes (public API only)."""
    terminate = getattr(pool, "terminate_workers", None)
    if terminate is not None:
        terminate()
        return
    for process in workers:
        process.terminate()


def _run(job: TrainJob) -> tuple[TrainOutput, float]:
    start = time.perf_counter()
    output = job.train_fn(job.config, job.data)
    return output, time.perf_counter() - start


def run_in_processes(
    jobs: Sequence[TrainJob], *, workers: int, threads: int = 1
) -> Iterator[JobResult]:
    """Run ``jobs`` in ``workers`` spawned processes; yield each result as soon as it finishes.

    Jobs are started in the given order. A job that
    raises is yielded with its exception and the others go on; if a worker process dies (e.g.
    killed for memory), the jobs it took down are yielded with the ``BrokenProcessPool`` error.
    Stopping the iteration early (or Ctrl-C in the parent) stops the workers at once; jobs not
    yet finished are lost, finished ones were already yielded.
    """
    import torch.multiprocessing as mp  # registers the shared-memory pickling of tensors

    if workers < 1 or threads < 1:
        raise ValueError(f"workers and threads must be >= 1, got {workers} and {threads}")
    # The pool's worker processes are the children that appear once it starts them (at the
    # first submit); multiprocessing.active_children() is the public way to see them.
    before = set(mp.active_children())
    pool = ProcessPoolExecutor(
        max_workers=min(workers, max(1, len(jobs))),
        mp_context=mp.get_context("spawn"),
        initializer=_init_worker,
        initargs=(threads,),
    )
    pending: dict[Future, TrainJob] = {}
    workers_started: set[Any] = set()
    try:
        pending = {pool.submit(_run, job): job for job in jobs}
        workers_started = set(mp.active_children()) - before
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                try:
                    output, seconds = future.result()
                except Exception as exc:  # recorded by the caller, the grid goes on
                    yield JobResult(job.key, None, exc, 0.0)
                else:
                    yield JobResult(job.key, output, None, seconds)
    except BaseException:  # Ctrl-C, or the caller stopped iterating: do not finish the others
        _terminate(pool, workers_started | (set(mp.active_children()) - before))
        raise
    finally:
        pool.shutdown(wait=not pending, cancel_futures=True)
