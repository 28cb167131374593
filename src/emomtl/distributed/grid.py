"""Experiment grids on Ray: ``emomtl reproduce --backend ray``.

The same contract as the local process pool (:func:`emomtl.experiments.workers.run_in_processes`),
so :func:`emomtl.experiments.runner.run_grid` drives both alike: each setting is one Ray task that
trains all its missing seeds (batched, as in-process) and returns the ``TrainOutput``; the driver
receives each result as soon as its task finishes and writes it there (so resume and crash safety
are the runner's: a cell is finished when the driver has written its ``metrics.json``). Jobs are
submitted in the order given (the runner keeps the grid's order).

Features travel once: every distinct ``TaskData`` of the grid is put into the object store once
(``ray.put``) and handed to the tasks by reference, so a node fetches each corpus' features at most
once whatever the number of settings that use it.

Failures: an exception in a setting is returned with the remote traceback as ``__cause__`` (the
runner records it and the grid goes on); a task whose worker process or node dies is retried by
Ray (``max_retries``, system failures only); Ctrl-C, or the caller stopping the iteration, cancels
the tasks in flight.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from emomtl.experiments.workers import JobResult, TrainJob

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.features.task_data import TaskData
    from emomtl.train import TrainOutput

#: Retries of a setting whose worker died (not of one that raised).
MAX_RETRIES = 2


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a Ray task (as text)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return self.text


def _train_task(
    train_fn: Callable[..., TrainOutput],
    config: Any,
    codes: list[str],
    threads: int,
    *task_data: TaskData,
) -> tuple[TrainOutput, float]:
    """Body of one Ray task: train one setting on the features it was handed."""
    import torch

    torch.set_num_threads(threads)
    start = time.perf_counter()
    output = train_fn(config, dict(zip(codes, task_data, strict=True)))
    return output, time.perf_counter() - start


def run_on_ray(
    jobs: Sequence[TrainJob],
    *,
    workers: int,
    threads: int = 1,
    address: str | None = None,
) -> Iterator[JobResult]:
    """Run ``jobs`` as Ray tasks; yield each result as soon as it finishes.

    Args:
        jobs: settings to train (``train_fn`` must be picklable; features in ``data``).
        workers: tasks in flight at most (the cluster's free CPUs bound them too).
        threads: CPUs (``num_cpus``) and torch threads of each task.
        address: the cluster (see :func:`emomtl.distributed.predict.connect`); ignored when this
            process is already connected.
    """
    from emomtl.distributed.predict import connect

    if workers < 1 or threads < 1:
        raise ValueError(f"workers and threads must be >= 1, got {workers} and {threads}")
    owned = connect(address)
    import ray

    remote = ray.remote(_train_task).options(
        num_cpus=threads, max_retries=MAX_RETRIES, retry_exceptions=False
    )
    refs: dict[int, Any] = {}  # id(TaskData) -> ObjectRef: each corpus' features put once
    pending: dict[Any, TrainJob] = {}
    queue = list(jobs)
    try:
        while queue or pending:
            while queue and len(pending) < workers:
                job = queue.pop(0)
                codes = list(job.data)
                args = [_put(ray, refs, job.data[code]) for code in codes]
                pending[remote.remote(job.train_fn, job.config, codes, threads, *args)] = job
            (ref,), _ = ray.wait(list(pending), num_returns=1)
            job = pending.pop(ref)
            try:
                output, seconds = ray.get(ref)
            except Exception as exc:  # recorded by the caller, the grid goes on
                yield JobResult(job.key, None, _unwrap(exc), 0.0)
            else:
                yield JobResult(job.key, output, None, seconds)
    except BaseException:  # Ctrl-C, or the caller stopped iterating: do not finish the others
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        if owned:
            ray.shutdown()


def _put(ray: Any, refs: dict[int, Any], data: TaskData) -> Any:
    key = id(data)
    if key not in refs:
        refs[key] = ray.put(data)
    return refs[key]


def _unwrap(exc: BaseException) -> BaseException:
    """The task's own exception, with Ray's text of the remote traceback as its cause."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, Exception):
        cause.__cause__ = RemoteTraceback(str(exc))
        return cause
    return exc


def ray_executor(address: str | None = None) -> Callable[..., Iterator[JobResult]]:
    """The ``executor`` of :func:`emomtl.experiments.runner.run_grid` that runs on Ray."""
    return functools.partial(run_on_ray, address=address)
