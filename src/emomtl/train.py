"""One training loop for STL, MH-MTL and SE-MTL, with every seed of a setting trained at once.

Protocol (paper Sec. 4): the training sets of the chosen tasks are joined; batches of 64 are drawn
from the union (:mod:`emomtl.sampling`); each task's loss is the mean over its samples in the batch
times its share of the batch, i.e. ``L_i = (1/b) sum_{j in batch, task(j)=i} loss_j``; the total is
``sum_i lambda_i L_i`` (Eq. 1, lambdas from :mod:`emomtl.weighting`); Adam (lr 3e-4, L2 weight
decay 1e-3 as ``torch.optim.Adam(weight_decay=...)``); up to 100 epochs; early stopping when the sum
of the unweighted dev losses has not improved for ``patience`` epochs; the best epoch is restored.

Seed vectorisation (issue 6): the seeds' networks are one :class:`BatchedMultiTaskNet`; each seed
has its own generators for initialisation, batch order and dropout, its own S subset, and its own
early stopping. One backward on the sum of the seeds' losses updates every seed independently
(Adam and weight decay are element-wise), so ``train`` with seeds (0, 1, 2) gives the same numbers
as three calls with one seed each - that single-seed call *is* the plain per-seed loop.

A seed that has stopped is frozen: its rows of every parameter (and of the GradNorm lambdas) are
written back to their values at the stopping epoch after each optimiser step, so its state never
changes again while the other seeds train on; its results come from its best-epoch snapshot.

Choices beyond the paper (``TrainConfig``): ``sampling`` (``proportional`` = paper, ``balanced``)
and ``selection`` (``sum`` = paper; ``per-task``: each task's metrics come from the epoch where its
own dev primary metric was best, from a per-task copy of the state; early stopping still uses the
summed dev loss). Deviation: the E head regresses standardised targets (:mod:`emomtl.model.heads`),
so E's ``loss`` is on the standardised scale; metrics are on the original 1-5 scale.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import Tensor

from emomtl.data.tasks import TASKS, Task, format_task_spec, parse_task_spec
from emomtl.features.task_data import TaskData
from emomtl.metrics import task_metrics
from emomtl.model.batched import BatchedMultiTaskNet
from emomtl.model.heads import per_sample_loss
from emomtl.model.network import HEADS, MultiTaskNet
from emomtl.sampling import SAMPLERS, seed_generator, subset_indices
from emomtl.weighting import WEIGHTINGS

SELECTIONS = ("sum", "per-task")
_INIT, _ORDER, _DROPOUT = 0, 1, 2  # generator streams of a training seed


@dataclass
class TrainConfig:
    """Everything that defines a training run besides the data (defaults = the paper's)."""

    tasks: str = "S+T+E"
    head: str = "mh"
    weighting: str = "equal"
    sampling: str = "proportional"
    selection: str = "sum"
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    epochs: int = 100
    patience: int = 10
    batch_size: int = 64
    lr: float = 3e-4
    weight_decay: float = 1e-3
    hidden_dim: int = 256
    dropout: float = 0.0
    gradnorm_alpha: float = 1.0
    gradnorm_lr: float = 1e-3

    def __post_init__(self) -> None:
        self.tasks = format_task_spec(parse_task_spec(self.tasks))  # ValueError names the part
        self.seeds = tuple(int(s) for s in self.seeds)
        choices = {
            "head": HEADS,
            "weighting": tuple(WEIGHTINGS),
            "sampling": tuple(SAMPLERS),
            "selection": SELECTIONS,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} {getattr(self, name)!r} is not one of {list(allowed)}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or min(self.seeds) < 0:
            raise ValueError(f"seeds {self.seeds} must be distinct non-negative integers")
        positive = ("epochs", "patience", "batch_size", "lr", "hidden_dim", "gradnorm_lr")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.weight_decay < 0 or self.gradnorm_alpha < 0:
            raise ValueError("weight_decay and gradnorm_alpha must be >= 0")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (seeds as a list)."""
        return {**asdict(self), "seeds": list(self.seeds)}

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {sorted(unknown)}")
        return cls(**values)


@dataclass
class SeedResult:
    """One seed's outcome (see docs/design.md). ``wall_time_s`` is the batched run's wall time
    divided by its number of seeds. ``task_state_dicts`` (selection ``per-task`` only, an addition
    to the design contract) holds each task's state at its own best epoch; ``state_dict`` is always
    the state at the best summed-dev-loss epoch."""

    seed: int
    metrics: dict
    best_epoch: dict[str, int]
    epochs_run: int
    train_size: dict[str, int]
    wall_time_s: float
    state_dict: dict[str, Tensor]
    lambdas: np.ndarray | None = None
    se_weight: np.ndarray | None = None
    task_state_dicts: dict[str, dict[str, Tensor]] | None = field(default=None, repr=False)


@dataclass
class TrainOutput:
    """All seeds of one setting."""

    config: TrainConfig
    task_codes: list[str]
    input_dim: int
    seeds: list[SeedResult]


@dataclass
class _Union:
    """The setting's training sets joined into contiguous tensors (task blocks in task order).

    ``features (N, d)``; ``targets (N, C)`` float with each task's columns (T: the class index);
    ``task_index (N,)`` the row's position in the setting's task list; ``offsets`` each task's
    first row.
    """

    features: Tensor
    targets: Tensor
    task_index: Tensor
    columns: dict[str, slice]
    offsets: list[int]


def _check_data(tasks: Sequence[Task], data: Mapping[str, TaskData]) -> int:
    dims = set()
    for task in tasks:
        if task.code not in data:
            raise ValueError(f"no data for task {task.code}; got tasks {sorted(data)}")
        missing = {"train", "dev", "test"} - set(data[task.code].features)
        if missing:
            raise ValueError(f"task {task.code} lacks splits {sorted(missing)}")
        dims.add(data[task.code].dim)
    if len(dims) != 1:
        raise ValueError(f"tasks have features of different widths {sorted(dims)}")
    return dims.pop()


def _build_union(tasks: Sequence[Task], data: Mapping[str, TaskData]) -> _Union:
    features, targets, index, columns, offsets = [], [], [], {}, []
    row, col = 0, 0
    for i, task in enumerate(tasks):
        x, y = data[task.code].features["train"], data[task.code].targets["train"]
        y = y.float().unsqueeze(1) if task.kind == "multiclass" else y.float()
        features.append(x.float())
        targets.append(y)
        index.append(torch.full((len(x),), i, dtype=torch.long))
        columns[task.code] = slice(col, col + y.shape[1])
        offsets.append(row)
        row, col = row + len(x), col + y.shape[1]
    padded = []
    for y, task in zip(targets, tasks, strict=True):
        block = torch.zeros(len(y), col)
        block[:, columns[task.code]] = y
        padded.append(block)
    return _Union(torch.cat(features), torch.cat(padded), torch.cat(index), columns, offsets)


def _task_loss(model: BatchedMultiTaskNet, task: Task, raw: Tensor, target: Tensor) -> Tensor:
    """Per-sample loss ``(S, n)`` of raw ``(S, n, l)`` against natural targets ``(S, n[, l])``."""
    if task.kind == "regression":
        mean, std = model.target_stats(task.code)
        target = (target - mean) / std
    return per_sample_loss(task, raw, target)


def _batch_losses(
    model: BatchedMultiTaskNet,
    tasks: Sequence[Task],
    union: _Union,
    idx: Tensor,
    generators: Sequence[torch.Generator] | None,
) -> tuple[Tensor, Tensor]:
    """Paper Sec. 4 batch losses: ``L (S, k)`` with ``L_i = sum of task i's sample losses / b``,
    and ``present (S, k)``, whether task i had any sample in the seed's batch."""
    raw = model(union.features[idx], generators)
    targets, owner = union.targets[idx], union.task_index[idx]
    losses, present = [], []
    for i, task in enumerate(tasks):
        target = targets[..., union.columns[task.code]]
        target = target[..., 0].long() if task.kind == "multiclass" else target
        mask = owner == i
        sample_loss = _task_loss(model, task, raw[..., model.slices[task.code]], target)
        losses.append((sample_loss * mask).sum(dim=1) / idx.shape[1])
        present.append(mask.any(dim=1))
    return torch.stack(losses, dim=1), torch.stack(present, dim=1)


@torch.no_grad()
def _evaluate(
    model: BatchedMultiTaskNet, tasks: Sequence[Task], data: Mapping[str, TaskData], split: str
) -> tuple[Tensor, dict[str, Tensor]]:
    """Mean unweighted loss ``(S, k)`` on ``split`` and activated outputs ``{code: (S, n, l)}``."""
    model.eval()
    losses, outputs = [], {}
    for task in tasks:
        x, y = data[task.code].features[split], data[task.code].targets[split]
        raw = model(x)[..., model.slices[task.code]]
        y = y.long() if task.kind == "multiclass" else y.float()
        losses.append(_task_loss(model, task, raw, y.expand(model.n_seeds, *y.shape)).mean(dim=1))
        outputs[task.code] = model.activate(task.code, raw)
    return torch.stack(losses, dim=1), outputs


def _split_metrics(
    model: BatchedMultiTaskNet,
    tasks: Sequence[Task],
    data: Mapping[str, TaskData],
    split: str,
) -> list[dict[str, dict[str, float]]]:
    """Per seed: ``{code: {metric: value, "loss": value}}`` on ``split``."""
    losses, outputs = _evaluate(model, tasks, data, split)
    result: list[dict[str, dict[str, float]]] = []
    for s in range(model.n_seeds):
        per_task = {}
        for i, task in enumerate(tasks):
            metrics = task_metrics(task, data[task.code].targets[split], outputs[task.code][s])
            per_task[task.code] = {**metrics, "loss": float(losses[s, i])}
        result.append(per_task)
    return result


class _Selector:
    """Per-seed early stopping on the summed dev loss and best-epoch snapshots (``sum``), plus
    per-task snapshots at each task's best dev primary metric (``per-task``)."""

    def __init__(self, model: BatchedMultiTaskNet, tasks: Sequence[Task], config: TrainConfig):
        n = model.n_seeds
        self.tasks, self.patience = list(tasks), config.patience
        self.best_loss = torch.full((n,), float("inf"))
        self.best_epoch = torch.zeros(n, dtype=torch.long)
        self.bad_epochs = torch.zeros(n, dtype=torch.long)
        self.state = _clone(model.state_dict())
        self.per_task = config.selection == "per-task"
        if self.per_task:
            self.task_best = {t.code: torch.full((n,), float("nan")) for t in tasks}
            self.task_epoch = {t.code: torch.zeros(n, dtype=torch.long) for t in tasks}
            self.task_state = {t.code: _clone(model.state_dict()) for t in tasks}

    def update(
        self,
        epoch: int,
        model: BatchedMultiTaskNet,
        data: Mapping[str, TaskData],
        active: Tensor,
    ) -> Tensor:
        """Record the epoch for the ``active (S,)`` seeds; return the seeds that stop now."""
        dev_losses, outputs = _evaluate(model, self.tasks, data, "dev")
        total = dev_losses.sum(dim=1)
        improved = active & (total < self.best_loss)
        _copy_rows(self.state, model.state_dict(), improved)
        self.best_loss[improved], self.best_epoch[improved] = total[improved], epoch
        self.bad_epochs[improved] = 0
        self.bad_epochs[active & ~improved] += 1
        if self.per_task:
            for task in self.tasks:
                self._update_task(epoch, model, task, data, outputs[task.code], active)
        return active & (self.bad_epochs >= self.patience)

    def _update_task(
        self,
        epoch: int,
        model: BatchedMultiTaskNet,
        task: Task,
        data: Mapping[str, TaskData],
        outputs: Tensor,
        active: Tensor,
    ) -> None:
        targets = data[task.code].targets["dev"]
        value = torch.tensor(
            [
                task_metrics(task, targets, outputs[s])[task.primary_metric]
                for s in range(len(outputs))
            ]
        )
        best = self.task_best[task.code]
        better = value > best if task.higher_is_better else value < best
        improved = active & ~torch.isnan(value) & (torch.isnan(best) | better)
        _copy_rows(self.task_state[task.code], model.state_dict(), improved)
        best[improved], self.task_epoch[task.code][improved] = value[improved], epoch


def _clone(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in state.items()}


def _copy_rows(dest: Mapping[str, Tensor], src: Mapping[str, Tensor], rows: Tensor) -> None:
    """``dest[name][rows] = src[name][rows]`` for every tensor (leading axis = seed)."""
    if rows.any():
        for name, value in src.items():
            dest[name][rows] = value.detach()[rows]


def _init_model(
    config: TrainConfig,
    tasks: Sequence[Task],
    union: _Union,
    pools: Sequence[Sequence[Tensor]],
    input_dim: int,
) -> BatchedMultiTaskNet:
    """One :class:`MultiTaskNet` per seed, initialised from the seed's generator, with the
    regression targets' mean and sd (ddof 0) of the seed's own training rows; then stacked."""
    nets = []
    for seed, seed_pools in zip(config.seeds, pools, strict=True):
        net = MultiTaskNet(input_dim, tasks, config.head, config.hidden_dim, config.dropout)
        net.reset_parameters(seed_generator(seed, _INIT))
        for task, pool in zip(tasks, seed_pools, strict=True):
            if task.kind == "regression":
                y = union.targets[pool][:, union.columns[task.code]]
                std = y.std(dim=0, unbiased=False)
                mean_buf, std_buf = net.target_stats(task.code)
                mean_buf.copy_(y.mean(dim=0))
                std_buf.copy_(torch.where(std > 0, std, torch.ones_like(std)))
        nets.append(net)
    return BatchedMultiTaskNet.stack(nets)


def _progress(enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext(None)
    from rich.progress import Progress

    return Progress(transient=True)


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    previous = torch.get_num_threads()
    if count is not None:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(
    config: TrainConfig,
    data: Mapping[str, TaskData],
    *,
    progress: bool = False,
    num_threads: int | None = None,
) -> TrainOutput:
    """Train every seed of ``config`` on ``data`` (task code -> :class:`TaskData`) as one model.

    Args:
        config: the run's settings.
        data: at least the setting's tasks, each with ``train``/``dev``/``test`` splits.
        progress: show a progress bar over epochs.
        num_threads: torch intra-op threads while training (restored afterwards; None = leave).
            The ops are tiny (batch 64), so 1 thread is often fastest on a busy machine.

    Returns:
        :class:`TrainOutput` with one :class:`SeedResult` per seed, in ``config.seeds`` order.
    """
    with _threads(num_threads):
        return _train(config, data, progress=progress)


def _train(config: TrainConfig, data: Mapping[str, TaskData], *, progress: bool) -> TrainOutput:
    start = time.perf_counter()
    selections = parse_task_spec(config.tasks)
    tasks = [sel.task for sel in selections]
    input_dim = _check_data(tasks, data)
    union = _build_union(tasks, data)
    seeds = list(config.seeds)
    canonical = list(TASKS)
    pools = [
        [
            torch.as_tensor(
                subset_indices(
                    len(data[sel.task.code].features["train"]),
                    sel.fraction,
                    seed,
                    canonical.index(sel.task.code),
                ),
                dtype=torch.long,
            )
            + offset
            for sel, offset in zip(selections, union.offsets, strict=True)
        ]
        for seed in seeds
    ]
    model = _init_model(config, tasks, union, pools, input_dim)
    weighting = WEIGHTINGS[config.weighting].from_config(
        config, n_seeds=len(seeds), n_tasks=len(tasks)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sampler = SAMPLERS[config.sampling](
        pools, config.batch_size, [seed_generator(s, _ORDER) for s in seeds]
    )
    dropout_generators = [seed_generator(s, _DROPOUT) for s in seeds] if config.dropout else None
    selector = _Selector(model, tasks, config)
    trainable = [*model.parameters(), *weighting.parameters()]
    frozen = [t.detach().clone() for t in trainable]
    active = torch.ones(len(seeds), dtype=torch.bool)
    epochs_run, steps_run = [config.epochs] * len(seeds), [0] * len(seeds)
    applied: list[Tensor] = []

    with _progress(progress) as bar:
        job = bar.add_task(f"training {config.tasks}", total=config.epochs) if bar else None
        for epoch in range(1, config.epochs + 1):
            model.train()
            for idx in sampler.epoch():
                losses, present = _batch_losses(model, tasks, union, idx, dropout_generators)
                applied.append(weighting.backward(losses, model.base_weight, present))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if not active.all():  # keep stopped seeds frozen
                    with torch.no_grad():
                        for value, snapshot in zip(trainable, frozen, strict=True):
                            value[~active] = snapshot[~active]
            stopping = selector.update(epoch, model, data, active)
            for s in stopping.nonzero().flatten().tolist():
                epochs_run[s], steps_run[s] = epoch, len(applied)
            for value, snapshot in zip(trainable, frozen, strict=True):
                snapshot[stopping] = value.detach()[stopping]
            active &= ~stopping
            if bar is not None:
                bar.update(job, advance=1, description=f"{config.tasks}: {int(active.sum())} seeds")
            if not active.any():
                break
    for s in active.nonzero().flatten().tolist():
        epochs_run[s], steps_run[s] = epoch, len(applied)

    model.load_state_dict(selector.state)
    metrics = {split: _split_metrics(model, tasks, data, split) for split in ("dev", "test")}
    best_epoch = {t.code: selector.best_epoch for t in tasks}
    task_states = None
    if selector.per_task:
        task_states = {}
        for task in tasks:
            model.load_state_dict(selector.task_state[task.code])
            for split in ("dev", "test"):
                per_seed = _split_metrics(model, [task], data, split)
                for s, values in enumerate(per_seed):
                    metrics[split][s][task.code] = values[task.code]
            best_epoch[task.code] = selector.task_epoch[task.code]
            task_states[task.code] = selector.task_state[task.code]
        model.load_state_dict(selector.state)

    trajectory = None if weighting.constant else torch.stack(applied).numpy()
    wall = (time.perf_counter() - start) / len(seeds)
    results = []
    for s, seed in enumerate(seeds):
        state = model.seed_state_dict(s, selector.state)
        results.append(
            SeedResult(
                seed=seed,
                metrics={"dev": metrics["dev"][s], "test": metrics["test"][s]},
                best_epoch={code: int(epochs[s]) for code, epochs in best_epoch.items()},
                epochs_run=epochs_run[s],
                train_size={t.code: len(p) for t, p in zip(tasks, pools[s], strict=True)},
                wall_time_s=wall,
                state_dict=state,
                lambdas=None if trajectory is None else trajectory[: steps_run[s], s].copy(),
                se_weight=state["se.weight"].numpy() if config.head == "se" else None,
                task_state_dicts=None
                if task_states is None
                else {c: model.seed_state_dict(s, st) for c, st in task_states.items()},
            )
        )
    return TrainOutput(
        config=config, task_codes=[t.code for t in tasks], input_dim=input_dim, seeds=results
    )
