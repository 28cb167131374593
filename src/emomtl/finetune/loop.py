"""The fine-tuning loop of one seed: task-homogeneous steps, dev evaluation, model selection.

Per step (one task ``i`` drawn by :class:`~emomtl.finetune.sampler.TaskBatchSampler`, or one
batch of every task with ``round`` sampling)::

    raw = head_i(pool(encoder(batch)))                      under autocast (bf16 / CUDA AMP)
    L_i = mean_b per_sample_loss(task_i, raw, target)       BCE | CE | MSE on standardised targets
    backward of L_i (equal weighting), or of the weighting method's combination of the L_i
    (:mod:`emomtl.finetune.weighting`: UW, DWA, FAMO, or a gradient aggregator's A(J))
    AdamW step after clipping the global gradient norm; linear warm-up and decay of every lr

Every ``steps_per_epoch / evals_per_epoch`` steps (and after the last) the model is evaluated on
every task's dev set; the state with the best **mean over tasks of the primary dev metric**
(negated where lower is better) is kept and is what test metrics, the results store and bundles
use. ``selection = "per-task"`` additionally keeps each task's own best state and reports each
task's dev/test metrics from it (one network holds one state, so the saved weights remain the
best-mean state).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from emomtl.data.tasks import TASKS, Task
from emomtl.features.encoders import pad_batch
from emomtl.finetune.config import FinetuneConfig
from emomtl.finetune.data import TaskTokens, TokenizedSplit
from emomtl.finetune.model import FinetuneModel
from emomtl.finetune.precision import Precision
from emomtl.metrics import task_metrics
from emomtl.model.heads import per_sample_loss
from emomtl.sampling import subset_indices


@dataclass
class FinetuneSeedResult:
    """What one seed's training produced.

    Attributes:
        seed: the training seed.
        metrics: ``{"dev"|"test": {code: {metric: float}}}`` at the selected state(s).
        best_step: step of the selected (best mean dev) state; ``best_epoch`` = step / epoch size.
        best_step_per_task: ``per-task`` selection only: each task's own best step.
        steps_run: optimizer steps taken.
        steps_per_epoch: ``sum_i ceil(n_i / batch_size)``.
        train_size: rows per task the seed trained on (after fractions).
        wall_time_s: training and evaluation time of this seed.
        history: one entry per evaluation: ``{"step", "epoch", "dev": {code: primary}, "score"}``
            (step 0 is the untrained model when ``evaluate_untrained``).
        head_state: the selected state of the :class:`~emomtl.model.MultiTaskNet` head.
        model: the selected model (encoder + head), kept for bundles; None once released.
        zero_shot: ``{"dev"|"test": {code: metrics}}`` of held-out spaces scored zero-shot by
            the selected model (:mod:`emomtl.finetune.held_out`), or None.
    """

    seed: int
    metrics: dict[str, dict[str, dict[str, float]]]
    best_step: int
    best_epoch: float
    steps_run: int
    steps_per_epoch: int
    train_size: dict[str, int]
    wall_time_s: float
    history: list[dict[str, Any]] = field(default_factory=list)
    best_step_per_task: dict[str, int] | None = None
    head_state: dict[str, Tensor] = field(default_factory=dict)
    model: FinetuneModel | None = None
    zero_shot: dict[str, dict[str, dict[str, float]]] | None = None

    def record(self) -> dict[str, Any]:
        """The JSON part (the seed's ``metrics.json`` fields)."""
        extra = {} if self.zero_shot is None else {"zero_shot": self.zero_shot}
        return {
            "seed": self.seed,
            "dev": self.metrics["dev"],
            "test": self.metrics["test"],
            "best_epoch": dict.fromkeys(self.metrics["dev"], self.best_epoch)
            if self.best_step_per_task is None
            else {c: s / self.steps_per_epoch for c, s in self.best_step_per_task.items()},
            "best_step": self.best_step,
            "epochs_run": self.steps_run / self.steps_per_epoch,
            "steps_run": self.steps_run,
            "steps_per_epoch": self.steps_per_epoch,
            "train_size": self.train_size,
            "wall_time_s": self.wall_time_s,
            "history": self.history,
            **extra,
        }


def selection_score(tasks: Sequence[Task], dev: Mapping[str, Mapping[str, float]]) -> float:
    """Mean over tasks of the primary dev metric, negated where lower is better (NaN -> -inf)."""
    values = []
    for task in tasks:
        value = float(dev[task.code][task.primary_metric])
        values.append(value if task.higher_is_better else -value)
    score = float(np.mean(values))
    return score if math.isfinite(score) else -math.inf


def _primary(task: Task, metrics: Mapping[str, float]) -> float:
    value = float(metrics[task.primary_metric])
    return value if task.higher_is_better else -value


def loss_targets(task: Task, targets: Tensor, head: torch.nn.Module) -> Tensor:
    """Targets as the loss sees them: regression standardised with the head's buffers."""
    if task.kind != "regression":
        return targets
    mean, std = head.target_stats(task.code)
    return (targets - mean) / std


def predict_raw(
    model: FinetuneModel,
    split: TokenizedSplit,
    code: str,
    *,
    precision: Precision,
    batch_size: int,
    pad_id: int,
) -> Tensor:
    """Raw outputs ``(n, l)`` float32 of task ``code`` for every row of ``split``, in row order."""
    return map_rows(
        lambda ids, mask: model(ids, mask)[code],
        model,
        split,
        precision=precision,
        batch_size=batch_size,
        pad_id=pad_id,
    )


@torch.no_grad()
def map_rows(
    fn: Callable[[Tensor, Tensor], Tensor],
    model: FinetuneModel,
    split: TokenizedSplit,
    *,
    precision: Precision,
    batch_size: int,
    pad_id: int,
) -> Tensor:
    """``fn(input_ids, attention_mask) -> (b, k)`` over every row of ``split`` with ``model`` in
    eval mode under autocast: ``(n, k)`` float32 on the CPU, in row order (rows are run longest
    first so each batch pads little)."""
    order = np.argsort(-split.lengths, kind="stable")
    out: Tensor | None = None
    was_training = model.training
    model.eval()
    try:
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            ids, mask = pad_batch([split.ids[r] for r in rows], pad_id, precision.device)
            with precision.autocast():
                raw = fn(ids, mask).float().cpu()
            if out is None:
                out = torch.empty((len(order), raw.shape[1]), dtype=torch.float32)
            out[torch.as_tensor(rows)] = raw
    finally:
        model.train(was_training)
    assert out is not None
    return out


def evaluate(
    model: FinetuneModel,
    data: Mapping[str, TaskTokens],
    split: str,
    *,
    precision: Precision,
    batch_size: int,
    pad_id: int,
) -> dict[str, dict[str, float]]:
    """``{code: metrics}`` of one split: :func:`emomtl.metrics.task_metrics` on the activated
    outputs, plus ``loss`` (mean task loss, regression on standardised targets)."""
    result = {}
    for code, tokens in data.items():
        task, part = tokens.task, tokens.splits[split]
        raw = predict_raw(
            model, part, code, precision=precision, batch_size=batch_size, pad_id=pad_id
        )
        device = precision.device
        activated = model.head.activate({code: raw.to(device)})[code].cpu()
        metrics = task_metrics(task, part.targets, activated)
        target = loss_targets(task, part.targets.to(device), model.head).cpu()
        metrics["loss"] = float(per_sample_loss(task, raw, target).mean())
        result[code] = metrics
    return result


def _clone(model: torch.nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def train_seed(
    config: FinetuneConfig,
    data: Mapping[str, TaskTokens],
    encoder: torch.nn.Module,
    seed: int,
    precision: Precision,
    *,
    pad_id: int,
    evaluate_untrained: bool = False,
    log: Callable[[str], None] | None = None,
    label_ids: Mapping[str, Sequence[Sequence[int]]] | None = None,
) -> FinetuneSeedResult:
    """Fine-tune ``encoder`` (a fresh pre-trained copy, modified in place) with a new head.

    Args:
        config: the setting's hyper-parameters.
        data: task code -> tokenized splits (:func:`emomtl.finetune.data.load_tokenized`).
        encoder: the transformers model to fine-tune.
        seed: training seed: fraction subsets, head initialisation, dropout, batch order.
        precision: resolved device and precision.
        pad_id: the tokenizer's padding id.
        evaluate_untrained: also evaluate dev before the first step (history step 0).
        log: called with one line per evaluation.
        label_ids: label head: code -> token ids of each label's text.
    """
    from emomtl.finetune.optim import linear_schedule, param_groups
    from emomtl.finetune.sampler import TaskBatchSampler
    from emomtl.finetune.weighting import StepBackward

    started = time.perf_counter()
    tasks = [tokens.task for tokens in data.values()]
    canonical = list(TASKS)
    train_rows = {
        code: subset_indices(
            len(t.splits["train"]),
            t.fraction,
            seed,
            canonical.index(code) if code in canonical else len(canonical),
        )
        for code, t in data.items()
    }
    torch.manual_seed(seed)
    model = FinetuneModel(
        encoder,
        tasks,
        pooling=config.pooling,
        hidden_dim=config.hidden_dim,
        dropout=config.dropout,
        head=config.head,
        label_ids=label_ids,
        pad_id=pad_id,
    )
    for code, tokens in data.items():
        if tokens.task.kind == "regression":
            targets = tokens.splits["train"].targets[torch.as_tensor(train_rows[code])]
            mean, std = model.head.target_stats(code)
            mean.copy_(targets.mean(0))
            std.copy_(targets.std(0, unbiased=False).clamp_min(1e-6))
    targets = {
        code: loss_targets(t.task, t.splits["train"].targets, model.head)
        for code, t in data.items()
    }
    model.to(precision.device).train()
    sampler = TaskBatchSampler(
        {code: data[code].splits["train"].lengths[rows] for code, rows in train_rows.items()},
        config.batch_size,
        sampling=config.sampling,
        tau=config.tau,
        seed=seed,
        bucket_batches=config.bucket_batches,
    )
    spe = sampler.steps_per_epoch
    total = max(1, math.ceil(config.epochs * spe))
    every = spe / config.evals_per_epoch
    eval_steps = {
        min(total, max(1, round(k * every))) for k in range(1, math.ceil(total / every) + 1)
    }
    eval_steps.add(total)
    groups = param_groups(
        model,
        encoder_lr=config.encoder_lr,
        head_lr=config.head_lr,
        weight_decay=config.weight_decay,
        layer_decay=config.layer_decay,
    )
    method = StepBackward.for_model(config, model, every_task=sampler.every_task)
    if method.joint_parameters():  # UW's log-variances train with the heads, without decay
        groups.append(
            {
                "params": method.joint_parameters(),
                "lr": config.head_lr,
                "weight_decay": 0.0,
                "name": "weighting",
            }
        )
    if precision.needs_scaler and not method.plain:
        raise ValueError(
            f"weighting {config.weighting_method!r} with {config.sampling!r} sampling runs in "
            "fp32 or bf16 only (fp16 loss scaling would change the losses it weighs); use "
            "--precision bf16 or fp32"
        )
    try:
        optimizer = torch.optim.AdamW(groups, fused=True)
    except (RuntimeError, TypeError):  # pragma: no cover - builds without fused AdamW
        optimizer = torch.optim.AdamW(groups)
    schedule = linear_schedule(optimizer, total, config.warmup)
    scaler = torch.amp.GradScaler("cuda") if precision.needs_scaler else None
    eval_kw = {"precision": precision, "batch_size": config.eval_batch_size, "pad_id": pad_id}

    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"score": -math.inf, "step": 0, "state": None}
    best_task: dict[str, dict[str, Any]] = {}

    applied: list[Tensor] = []  # weights the method applied since the last evaluation

    def checkpoint(step: int) -> None:
        with precision.autocast():  # label head: as the saved encoder will embed new labels
            model.sync_label_features()
        dev = evaluate(model, data, "dev", **eval_kw)
        score = selection_score(tasks, dev)
        entry = {
            "step": step,
            "epoch": step / spe,
            "dev": {t.code: dev[t.code][t.primary_metric] for t in tasks},
            "score": score,
            "elapsed_s": time.perf_counter() - started,
        }
        history.append(entry)
        if applied:  # the weighting method's mean weights since the last evaluation
            entry["weights"] = dict(
                zip(method.codes, torch.stack(applied).mean(0).tolist(), strict=True)
            )
            applied.clear()
        if log is not None:
            shown = ", ".join(f"{c} {v:.4f}" for c, v in entry["dev"].items())
            log(
                f"seed {seed} step {step}/{total} (epoch {step / spe:.2f}): dev {shown}; "
                f"{entry['elapsed_s']:.0f} s"
            )
        if step == 0:
            return
        if score > best["score"]:
            best.update(score=score, step=step, state=_clone(model))
        if config.selection == "per-task":
            for task in tasks:
                value = _primary(task, dev[task.code])
                if value > best_task.get(task.code, {}).get("value", -math.inf):
                    best_task[task.code] = {"value": value, "step": step, "state": _clone(model)}

    if evaluate_untrained:
        checkpoint(0)

    def batch_inputs(code: str, idx: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        rows = train_rows[code][idx]
        split = data[code].splits["train"]
        ids, mask = pad_batch([split.ids[r] for r in rows], pad_id, precision.device)
        return ids, mask, targets[code][torch.as_tensor(rows)].to(precision.device)

    def step_losses(batches: list[tuple[str, np.ndarray]]) -> tuple[dict, dict]:
        """Each batch's mean task loss and (for aggregators) its shared-layer output q."""
        losses, features = {}, {}
        for code, idx in batches:
            ids, mask, target = batch_inputs(code, idx)
            with precision.autocast():
                if method.aggregator is not None:
                    features[code] = model.head.hidden(model.embed(ids, mask))
                    raw = model.head.heads[code](features[code])
                else:
                    raw = model(ids, mask)[code]
            losses[code] = per_sample_loss(data[code].task, raw.float(), target).mean()
        return losses, features

    def recompute(batches: list[tuple[str, np.ndarray]]) -> dict[str, Tensor]:
        """The step's losses under the updated weights (FAMO), in eval mode, no graph; the
        label head's buffers are refreshed first (eval mode reads them)."""
        model.eval()
        try:
            with torch.no_grad():
                with precision.autocast():
                    model.sync_label_features()
                return step_losses(batches)[0]
        finally:
            model.train()

    for step, batches in enumerate(sampler.steps(total), start=1):
        losses, features = step_losses(batches)
        if method.plain:  # one task, equal weights: the loss itself (CUDA fp16 scaling allowed)
            (loss,) = losses.values()
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.unscale_(optimizer)
            else:
                loss.backward()
        else:
            applied.append(method.backward(losses, features))
        if config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        if not method.plain:
            method.after_step(lambda batches=batches: recompute(batches))
            if step % spe == 0:
                method.end_epoch()
        if step in eval_steps:
            checkpoint(step)

    model.load_state_dict(best["state"])
    metrics = {split: evaluate(model, data, split, **eval_kw) for split in ("dev", "test")}
    per_task_steps = None
    if config.selection == "per-task":
        selected = _clone(model)
        per_task_steps = {}
        for task in tasks:
            chosen = best_task[task.code]
            per_task_steps[task.code] = chosen["step"]
            model.load_state_dict(chosen["state"])
            one = {task.code: data[task.code]}
            for split in ("dev", "test"):
                metrics[split][task.code] = evaluate(model, one, split, **eval_kw)[task.code]
        model.load_state_dict(selected)
    model.eval()
    return FinetuneSeedResult(
        seed=seed,
        metrics=metrics,
        best_step=best["step"],
        best_epoch=best["step"] / spe,
        best_step_per_task=per_task_steps,
        steps_run=total,
        steps_per_epoch=spe,
        train_size={code: len(rows) for code, rows in train_rows.items()},
        wall_time_s=time.perf_counter() - started,
        history=history,
        head_state={k: v.detach().cpu().clone() for k, v in model.head.state_dict().items()},
        model=model,
    )
