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

A seed that has stopped is dropped from the batched model, its optimiser state, the weighting, the
sampler and the targets (``keep_seeds``), so the seeds still training no longer pay for it; its
results come from its best-epoch snapshot, kept for every seed by :class:`_Selector`.

Speed (issue 6; all ops are tiny, so per-op overhead and the two big matmuls per step dominate):
fused Adam; targets standardised once per run and gathered once per epoch
(:class:`_SeedTargets`); each row scored by every task's loss and masked by a one-hot owner
(:func:`_task_losses`, a few ops per step, no host syncs); the dev losses in one forward over
every task's dev rows; GradNorm's per-task norms read off the network's own backward at the base
layer's pre-activation (:class:`emomtl.weighting.SharedLayer`). Results equal the unoptimised loop
up to float round-off.

MTL methods (issue 12, :mod:`emomtl.weighting`): the weighting runs each step's backward and
may ask for per-task *mean* losses (``task_mean``), add parameters to the network's optimiser
(``joint_parameters``, e.g. UW), keep its own optimiser (GradNorm, FAMO), see the batch's losses
again after the step (``after_step``, FAMO), and be told when an epoch ends (``end_epoch``, DWA);
its hyper-parameters are ``TrainConfig.weighting_args`` (``--weighting-arg key=value``), recorded
with the config. Gradient aggregators get every seed's per-task gradients of the shared layer
from the same backward (:mod:`emomtl.weighting.shared_grads`) and need every task in every batch
(sampling ``round``, ``balanced`` or ``temperature``; checked by ``TrainConfig``).

Choices beyond the paper (``TrainConfig``): ``sampling`` (``proportional`` = paper, ``balanced``,
``round``, ``temperature`` with ``sampling_temperature``)
and ``selection`` (``sum`` = paper; ``per-task``: each task's metrics come from the epoch where its
own dev primary metric was best, from a per-task copy of the state; early stopping still uses the
summed dev loss). Deviation: the E head regresses standardised targets (:mod:`emomtl.model.heads`),
so E's ``loss`` is on the standardised scale; metrics are on the original 1-5 scale.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from emomtl.data.tasks import Task, format_task_spec, parse_task_spec, task_stream
from emomtl.features.task_data import TaskData
from emomtl.metrics import task_metrics
from emomtl.model.batched import BatchedMultiTaskNet, keep_optimizer_rows
from emomtl.model.heads import per_sample_loss
from emomtl.model.label_head import LABEL_HEAD, collect_label_features
from emomtl.model.network import HEADS, MultiTaskNet
from emomtl.sampling import EVERY_TASK_SAMPLERS, SAMPLERS, seed_generator, subset_indices
from emomtl.weighting import WEIGHTINGS, SharedLayer

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
    weighting_args: dict[str, Any] = field(default_factory=dict)
    sampling_temperature: float = 2.0

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
        method = WEIGHTINGS[self.weighting]
        self.weighting_args = method.resolve_args(dict(self.weighting_args))  # names a bad key
        if method.needs_every_task and self.sampling not in EVERY_TASK_SAMPLERS:
            raise ValueError(
                f"weighting {self.weighting!r} needs every task in every batch: use sampling "
                f"{' | '.join(EVERY_TASK_SAMPLERS)}, not {self.sampling!r}"
            )
        if not self.sampling_temperature > 0:
            raise ValueError(f"sampling_temperature must be > 0, got {self.sampling_temperature}")

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
    """A split of the setting's tasks joined into contiguous tensors (task blocks in task order).

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


def _build_union(
    tasks: Sequence[Task], data: Mapping[str, TaskData], split: str = "train"
) -> _Union:
    features, targets, index, columns, offsets = [], [], [], {}, []
    row, col = 0, 0
    for i, task in enumerate(tasks):
        x, y = data[task.code].features[split], data[task.code].targets[split]
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


class _SeedTargets:
    """A union's targets as every live seed's loss sees them.

    ``targets (S, N, C)``: :attr:`_Union.targets` per seed, regression columns standardised with
    that seed's training mean and sd (the scale the E head regresses, :mod:`emomtl.model.heads`);
    computed once per run instead of once per batch. ``owner (N, k)`` float one-hot of each row's
    task; ``counts (k,)`` rows per task.
    """

    def __init__(self, union: _Union, model: BatchedMultiTaskNet, tasks: Sequence[Task]) -> None:
        self.columns = union.columns
        targets = union.targets.expand(model.n_seeds, *union.targets.shape).clone()
        for task in tasks:
            if task.kind == "regression":
                cols = union.columns[task.code]
                mean, std = model.target_stats(task.code)
                targets[..., cols] = (targets[..., cols] - mean) / std
        self.targets = targets
        self.owner = F.one_hot(union.task_index, len(tasks)).float()
        self.counts = self.owner.sum(dim=0)

    def keep_seeds(self, rows: Tensor) -> None:
        """Keep only seeds ``rows`` (see :meth:`BatchedMultiTaskNet.keep_seeds`)."""
        self.targets = self.targets[rows]

    def batches(self, batches: Sequence[Tensor]) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """For an epoch's index batches ``(S, b)``: ``(idx, targets (S, b, C), owner (S, b, k))``,
        gathered with one indexing op per epoch rather than per step."""
        order = torch.cat(list(batches), dim=1)
        width = self.targets.shape[-1]
        targets = self.targets.gather(1, order.unsqueeze(-1).expand(-1, -1, width))
        sizes = [b.shape[1] for b in batches]
        owners = self.owner[order].split(sizes, dim=1)
        yield from zip(batches, targets.split(sizes, dim=1), owners, strict=True)


def _gather_rows(features: Tensor, idx: Tensor) -> Tensor:
    """``features[idx]`` for ``idx (S, b)`` -> ``(S, b, d)`` (``index_select``: several times
    faster than advanced indexing for a batch)."""
    return features.index_select(0, idx.flatten()).view(*idx.shape, features.shape[1])


def _task_losses(
    model: BatchedMultiTaskNet,
    tasks: Sequence[Task],
    columns: Mapping[str, slice],
    raw: Tensor,
    targets: Tensor,
    owner: Tensor,
    scale: float | Tensor,
) -> Tensor:
    """``L (S, k)`` with ``L_i = sum_{rows j of task i} loss_i(raw_j, target_j) / scale``.

    Every row of ``raw (S, n, L)`` is scored by every task's loss (a few columns each) against
    ``targets (S, n, C)`` (regression standardised, see :class:`_SeedTargets`) and ``owner
    (S|1, n, k)`` keeps each row's own task. ``scale`` is the batch size for training (paper
    Sec. 4: a task's mean loss times its share of the batch) or ``counts (k,)`` for a mean.
    """
    per_task = []
    for task in tasks:
        target = targets[..., columns[task.code]]
        target = target[..., 0].long() if task.kind == "multiclass" else target
        per_task.append(per_sample_loss(task, raw[..., model.slices[task.code]], target))
    return (torch.stack(per_task, dim=-1) * owner).sum(dim=1) / scale


def _batch_losses(
    model: BatchedMultiTaskNet,
    tasks: Sequence[Task],
    union: _Union,
    idx: Tensor,
    generators: Sequence[torch.Generator] | None,
) -> tuple[Tensor, Tensor]:
    """Paper Sec. 4 batch losses of one batch ``idx (S, b)``: ``L (S, k)`` with
    ``L_i = sum of task i's sample losses / b``, and ``present (S, k)``, whether task i had any
    sample in the seed's batch (:func:`_forward_losses`, as in the training loop)."""
    seed_targets = _SeedTargets(union, model, tasks)
    ((_, targets, owner),) = seed_targets.batches([idx])
    losses, _ = _forward_losses(model, tasks, union, idx, targets, owner, generators)
    return losses, owner.any(dim=1)


def _forward_losses(
    model: BatchedMultiTaskNet,
    tasks: Sequence[Task],
    union: _Union,
    idx: Tensor,
    targets: Tensor,
    owner: Tensor,
    generators: Sequence[torch.Generator] | None,
    task_mean: bool = False,
) -> tuple[Tensor, SharedLayer]:
    """One training batch ``idx (S, b)`` (with its gathered ``targets`` and ``owner``, see
    :meth:`_SeedTargets.batches`) through the network: the batch losses ``L (S, k)`` and the
    batch at the shared base layer, for the weighting's backward. ``task_mean``: ``L_i`` is task
    i's mean over its rows (0 without rows) instead of the paper's sum / batch size."""
    x = _gather_rows(union.features, idx)
    raw, z = model(x, generators, return_preactivation=True)
    scale = owner.sum(dim=1).clamp_min(1.0) if task_mean else idx.shape[1]
    losses = _task_losses(model, tasks, union.columns, raw, targets, owner, scale)
    return losses, SharedLayer(model.base_weight, x, z, owner, model.base_bias)


@torch.no_grad()
def _recompute(
    model: BatchedMultiTaskNet,
    tasks: Sequence[Task],
    union: _Union,
    idx: Tensor,
    targets: Tensor,
    owner: Tensor,
) -> Tensor:
    """Per-task mean losses ``(S, k)`` of a training batch under the current network, in eval
    mode (no dropout), without a graph (FAMO's loss change over a step)."""
    was_training = model.training
    model.eval()
    losses, _ = _forward_losses(model, tasks, union, idx, targets, owner, None, task_mean=True)
    model.train(was_training)
    return losses


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
        if task.kind == "regression":
            mean, std = model.target_stats(task.code)
            y = (y - mean) / std
        else:
            y = y.expand(model.n_seeds, *y.shape)
        losses.append(per_sample_loss(task, raw, y).mean(dim=1))
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
    per-task snapshots at each task's best dev primary metric (``per-task``).

    Its per-seed records and snapshots cover every seed of the run (leading axis = position in
    ``config.seeds``); the model it is shown holds only the ``live`` seeds still training.
    """

    def __init__(
        self,
        model: BatchedMultiTaskNet,
        tasks: Sequence[Task],
        config: TrainConfig,
        data: Mapping[str, TaskData],
    ):
        n = model.n_seeds
        self.tasks, self.patience, self.data = list(tasks), config.patience, data
        self.dev_union = _build_union(tasks, data, "dev")
        self.dev = _SeedTargets(self.dev_union, model, tasks)
        self.best_loss = torch.full((n,), float("inf"))
        self.best_epoch = torch.zeros(n, dtype=torch.long)
        self.bad_epochs = torch.zeros(n, dtype=torch.long)
        self.state = _clone(model.state_dict())
        self.per_task = config.selection == "per-task"
        if self.per_task:
            self.task_best = {t.code: torch.full((n,), float("nan")) for t in tasks}
            self.task_epoch = {t.code: torch.zeros(n, dtype=torch.long) for t in tasks}
            self.task_state = {t.code: _clone(model.state_dict()) for t in tasks}

    @torch.no_grad()
    def dev_losses(self, model: BatchedMultiTaskNet) -> Tensor:
        """Mean unweighted dev loss ``(S_live, k)``: one forward over every task's dev rows."""
        model.eval()
        raw = model(self.dev_union.features)
        dev = self.dev
        return _task_losses(model, self.tasks, dev.columns, raw, dev.targets, dev.owner, dev.counts)

    def update(self, epoch: int, model: BatchedMultiTaskNet, live: Tensor) -> Tensor:
        """Record the epoch for the ``live (S_live,)`` seeds (positions in the run's seed order,
        one per seed of ``model``); return which of them stop now, ``(S_live,)`` bool."""
        total = self.dev_losses(model).sum(dim=1)
        improved = total < self.best_loss[live]
        _copy_rows(self.state, live[improved], model.state_dict(), improved)
        self.best_loss[live[improved]], self.best_epoch[live[improved]] = total[improved], epoch
        self.bad_epochs[live[improved]] = 0
        self.bad_epochs[live[~improved]] += 1
        if self.per_task:
            _, outputs = _evaluate(model, self.tasks, self.data, "dev")
            for task in self.tasks:
                self._update_task(epoch, model, task, outputs[task.code], live)
        return self.bad_epochs[live] >= self.patience

    def keep_seeds(self, rows: Tensor) -> None:
        """The model now holds only its seeds ``rows``."""
        self.dev.keep_seeds(rows)

    def _update_task(
        self, epoch: int, model: BatchedMultiTaskNet, task: Task, outputs: Tensor, live: Tensor
    ) -> None:
        targets = self.data[task.code].targets["dev"]
        value = torch.tensor(
            [
                task_metrics(task, targets, outputs[s])[task.primary_metric]
                for s in range(len(outputs))
            ]
        )
        best = self.task_best[task.code][live]
        better = value > best if task.higher_is_better else value < best
        improved = ~torch.isnan(value) & (torch.isnan(best) | better)
        _copy_rows(self.task_state[task.code], live[improved], model.state_dict(), improved)
        self.task_best[task.code][live[improved]] = value[improved]
        self.task_epoch[task.code][live[improved]] = epoch


def _clone(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {name: value.detach().clone() for name, value in state.items()}


def _copy_rows(
    dest: Mapping[str, Tensor], dest_rows: Tensor, src: Mapping[str, Tensor], src_rows: Tensor
) -> None:
    """``dest[name][dest_rows] = src[name][src_rows]`` for every tensor (leading axis = seed)."""
    if len(dest_rows):
        for name, value in src.items():
            dest[name][dest_rows] = value.detach()[src_rows]


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
def torch_threads(count: int | None) -> Iterator[None]:
    """Set torch's intra-op thread count for the block (``None``: leave it), then restore it."""
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
        num_threads: torch intra-op threads while training (restored afterwards; None = leave
            torch's setting, one per core). Measured on the 2-core reference machine: idle, two
            threads train about 1.6x faster than one; busy with other processes, one thread was
            several times faster (the ops are tiny, batch 64), so pass 1 on a shared machine.

    Returns:
        :class:`TrainOutput` with one :class:`SeedResult` per seed, in ``config.seeds`` order.
    """
    with torch_threads(num_threads):
        return _train(config, data, progress=progress)


def _train(config: TrainConfig, data: Mapping[str, TaskData], *, progress: bool) -> TrainOutput:
    start = time.perf_counter()
    selections = parse_task_spec(config.tasks)
    tasks = [sel.task for sel in selections]
    input_dim = _check_data(tasks, data)
    union = _build_union(tasks, data)
    seeds = list(config.seeds)
    pools = [
        [
            torch.as_tensor(
                subset_indices(
                    len(data[sel.task.code].features["train"]),
                    sel.fraction,
                    seed,
                    task_stream(sel.task.code),
                ),
                dtype=torch.long,
            )
            + offset
            for sel, offset in zip(selections, union.offsets, strict=True)
        ]
        for seed in seeds
    ]
    model = _init_model(config, tasks, union, pools, input_dim)
    if config.head == LABEL_HEAD:  # the label texts' embeddings, the same for every seed
        model.set_label_features(collect_label_features(tasks, data))
    selector = _Selector(model, tasks, config, data)
    train_targets = _SeedTargets(union, model, tasks)
    # ``net`` trains the live seeds only; ``model`` keeps every seed for the final evaluation.
    net = copy.deepcopy(model)
    weighting = WEIGHTINGS[config.weighting].from_config(
        config, n_seeds=len(seeds), n_tasks=len(tasks)
    )
    groups: list[dict[str, Any]] = [{"params": list(net.parameters())}]
    if weighting.joint_parameters():  # e.g. UW's log-variances: trained with the network
        groups.append({"params": weighting.joint_parameters(), "weight_decay": 0.0})
    optimizer = torch.optim.Adam(groups, lr=config.lr, weight_decay=config.weight_decay, fused=True)
    sampler_options = (
        {"temperature": config.sampling_temperature} if config.sampling == "temperature" else {}
    )
    sampler = SAMPLERS[config.sampling](
        pools, config.batch_size, [seed_generator(s, _ORDER) for s in seeds], **sampler_options
    )
    dropout_generators = [seed_generator(s, _DROPOUT) for s in seeds] if config.dropout else None
    task_mean = weighting.task_mean
    live = torch.arange(len(seeds))  # positions (in ``seeds``) of the seeds still training
    epochs_run = [config.epochs] * len(seeds)
    applied: list[list[Tensor]] = [[] for _ in seeds]  # per seed, (steps, k) chunks per epoch

    with _progress(progress) as bar:
        job = bar.add_task(f"training {config.tasks}", total=config.epochs) if bar else None
        for epoch in range(1, config.epochs + 1):
            net.train()
            epoch_applied = []
            for idx, targets, owner in train_targets.batches(sampler.epoch()):
                losses, shared = _forward_losses(
                    net, tasks, union, idx, targets, owner, dropout_generators, task_mean
                )
                epoch_applied.append(weighting.backward(losses, shared, owner.any(dim=1)))
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if weighting.needs_after_step:  # FAMO: the same batch's losses after the step
                    weighting.after_step(
                        functools.partial(_recompute, net, tasks, union, idx, targets, owner)
                    )
            weighting.end_epoch()
            if not weighting.constant:
                per_seed = torch.stack(epoch_applied, dim=1)  # (S_live, steps, k)
                for s, trajectory in zip(live.tolist(), per_seed, strict=True):
                    applied[s].append(trajectory)
            stopping = selector.update(epoch, net, live)
            if bar is not None:
                remaining = int((~stopping).sum())
                bar.update(job, advance=1, description=f"{config.tasks}: {remaining} seeds")
            if stopping.any():  # drop the stopped seeds: the others train on without them
                for s in live[stopping].tolist():
                    epochs_run[s] = epoch
                keep = (~stopping).nonzero().flatten()
                live = live[keep]
                if not len(live):
                    break
                net.keep_seeds(keep)
                keep_optimizer_rows(optimizer, keep)
                weighting.keep_seeds(keep)
                sampler.keep_seeds(keep.tolist())
                train_targets.keep_seeds(keep)
                selector.keep_seeds(keep)
                if dropout_generators is not None:
                    dropout_generators = [dropout_generators[k] for k in keep.tolist()]

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
                lambdas=None if weighting.constant else torch.cat(applied[s]).numpy(),
                se_weight=state["se.weight"].numpy() if config.head == "se" else None,
                task_state_dicts=None
                if task_states is None
                else {c: model.seed_state_dict(s, st) for c, st in task_states.items()},
            )
        )
    return TrainOutput(
        config=config, task_codes=[t.code for t in tasks], input_dim=input_dim, seeds=results
    )
