"""``FinetuneConfig``: every hyper-parameter of a fine-tuning run, validated, to and from a dict.

The dict form is what ``config.json`` of the run directory holds under ``"train"``. It carries
the ``head`` (``mh`` or ``label``) and ``weighting = "ft"`` (``"ft+upgrad"``, ... with another
weighting method) so that :mod:`emomtl.report` (which names a row after its head and loss
weighting) shows fine-tuned rows as ``MH+FT`` / ``LABEL+FT`` / ``MH+FT+UPGRAD`` beside the
frozen ``MH``/``GN``/... rows.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from emomtl.finetune.sampler import SAMPLINGS

SELECTIONS: tuple[str, ...] = ("mean", "per-task")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
SAVE_DTYPES: tuple[str, ...] = ("fp32", "bf16")
#: The report's method name comes from (head, weighting); fine-tuned runs are ("mh", "ft").
WEIGHTING_NAME = "ft"


@dataclass(frozen=True)
class FinetuneConfig:
    """Hyper-parameters of one fine-tuning setting (all seeds share them).

    Attributes:
        tasks: task string (``"S+T+E"``, ``"0.1S+T+E"``); a fraction is a seeded random subset of
            that task's training set (:func:`emomtl.sampling.subset_indices`).
        encoder: registry key, local model directory or hub id of the encoder to fine-tune.
        head: ``mh`` (one linear head per space) or ``label`` (the label-semantic head, whose
            label texts go through the encoder being fine-tuned; :mod:`emomtl.finetune.model`).
        pooling: ``mean`` | ``cls`` | ``pooler`` (see :mod:`emomtl.features.pooling`).
        max_length: truncation length in tokens, special tokens included.
        seeds: training seeds; each trains a fresh model.
        epochs: passes over the data; one epoch is ``sum_i ceil(n_i / batch_size)`` steps, however
            the tasks are drawn. May be fractional.
        batch_size: sentences per (task-homogeneous) training batch.
        encoder_lr: peak AdamW learning rate of the encoder's top layer.
        head_lr: peak learning rate of the shared layer and the heads.
        layer_decay: layer-wise lr decay ``gamma``: encoder layer ``l`` of ``L`` gets
            ``encoder_lr * gamma ** (L - l)``, the embeddings ``encoder_lr * gamma ** L``
            (1.0 = off).
        weight_decay: decoupled AdamW weight decay (not on biases and LayerNorm weights).
        warmup: fraction of all steps over which the lr rises linearly from 0; then it decays
            linearly to 0 at the last step.
        dropout: dropout after the shared layer's ReLU (the encoder keeps its own dropout).
        hidden_dim: width of the shared layer.
        grad_clip: maximum global gradient L2 norm (0 = no clipping).
        sampling: how the task of each batch is drawn: ``temperature`` (p_i ∝ n_i^(1/tau)),
            ``proportional`` (tau = 1), ``balanced`` (uniform), or ``round`` (every step one
            batch of every task; needed by gradient aggregators).
        weighting_method: how the step's task losses become the update
            (:mod:`emomtl.finetune.weighting`): ``equal`` or a method of the frozen trainer's
            registry (``uw``, ``dwa``, ``famo``; aggregators ``pcgrad``, ``cagrad``,
            ``nash_mtl``, ``upgrad``, ``aligned_mtl`` with ``round`` sampling).
        weighting_args: the method's hyper-parameters (``--weighting-arg key=value``).
        tau: temperature of ``temperature`` sampling.
        evals_per_epoch: dev evaluations per epoch (2 = every half epoch); the last step is always
            evaluated.
        selection: ``mean``: keep the state with the best mean over tasks of the primary dev
            metric; ``per-task``: additionally score each task at its own best evaluation.
        precision: ``auto`` | ``fp32`` | ``bf16`` (CPU autocast) | ``amp`` (CUDA autocast);
            resolved by :func:`emomtl.finetune.precision.resolve` when the run starts and recorded.
        device: ``auto`` | ``cpu`` | ``cuda``.
        eval_batch_size: sentences per evaluation batch.
        bucket_batches: length bucketing pool, in batches: each task's shuffled rows are cut into
            pools of ``bucket_batches * batch_size`` rows, each pool is sorted by length and cut
            into batches (little padding, still random).
    """

    tasks: str = "S+T+E"
    encoder: str = "minilm"
    head: str = "mh"
    pooling: str = "mean"
    max_length: int = 128
    seeds: tuple[int, ...] = (0, 1, 2)
    epochs: float = 2.0
    batch_size: int = 32
    encoder_lr: float = 8e-5
    head_lr: float = 1e-3
    layer_decay: float = 1.0
    weight_decay: float = 0.01
    warmup: float = 0.1
    dropout: float = 0.1
    hidden_dim: int = 256
    grad_clip: float = 1.0
    sampling: str = "temperature"
    tau: float = 2.0
    weighting_method: str = "equal"
    weighting_args: dict[str, Any] = field(default_factory=dict)
    evals_per_epoch: int = 2
    selection: str = "mean"
    precision: str = "auto"
    device: str = "auto"
    eval_batch_size: int = 128
    bucket_batches: int = 20

    def __post_init__(self) -> None:
        from emomtl.data.tasks import parse_task_spec
        from emomtl.features.pooling import POOLINGS
        from emomtl.finetune.model import FINETUNE_HEADS

        parse_task_spec(self.tasks)
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        checks: list[tuple[str, bool, str]] = [
            ("head", self.head in FINETUNE_HEADS, f"one of {', '.join(FINETUNE_HEADS)}"),
            ("pooling", self.pooling in POOLINGS, f"one of {', '.join(POOLINGS)}"),
            ("max_length", _int(self.max_length) and self.max_length >= 2, "an integer >= 2"),
            (
                "seeds",
                len(self.seeds) > 0 and len(set(self.seeds)) == len(self.seeds),
                "non-empty and without repeats",
            ),
            ("epochs", _num(self.epochs) and self.epochs > 0, "> 0"),
            ("batch_size", _int(self.batch_size) and self.batch_size >= 1, "an integer >= 1"),
            ("encoder_lr", _num(self.encoder_lr) and self.encoder_lr >= 0, ">= 0"),
            ("head_lr", _num(self.head_lr) and self.head_lr > 0, "> 0"),
            ("layer_decay", _num(self.layer_decay) and 0 < self.layer_decay <= 1, "in (0, 1]"),
            ("weight_decay", _num(self.weight_decay) and self.weight_decay >= 0, ">= 0"),
            ("warmup", _num(self.warmup) and 0 <= self.warmup < 1, "in [0, 1)"),
            ("dropout", _num(self.dropout) and 0 <= self.dropout < 1, "in [0, 1)"),
            ("hidden_dim", _int(self.hidden_dim) and self.hidden_dim >= 1, "an integer >= 1"),
            ("grad_clip", _num(self.grad_clip) and self.grad_clip >= 0, ">= 0 (0 = off)"),
            ("sampling", self.sampling in SAMPLINGS, f"one of {', '.join(SAMPLINGS)}"),
            ("tau", _num(self.tau) and self.tau > 0, "> 0"),
            (
                "evals_per_epoch",
                _int(self.evals_per_epoch) and self.evals_per_epoch >= 1,
                "an integer >= 1",
            ),
            ("selection", self.selection in SELECTIONS, f"one of {', '.join(SELECTIONS)}"),
            (
                "precision",
                self.precision in ("auto", "fp32", "bf16", "amp"),
                "one of auto, fp32, bf16, amp",
            ),
            ("device", self.device in DEVICES, f"one of {', '.join(DEVICES)}"),
            (
                "eval_batch_size",
                _int(self.eval_batch_size) and self.eval_batch_size >= 1,
                "an integer >= 1",
            ),
            (
                "bucket_batches",
                _int(self.bucket_batches) and self.bucket_batches >= 1,
                "an integer >= 1",
            ),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise ValueError(f"finetune {name} must be {expected}, got {getattr(self, name)!r}")
        from emomtl.finetune.weighting import check_method

        resolved = check_method(
            self.weighting_method, self.weighting_args, sampling=self.sampling, head=self.head
        )
        object.__setattr__(self, "weighting_args", resolved)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict, plus the report's row key ``weighting`` (``ft``, or ``ft+<method>``
        with a non-equal weighting method) and ``finetune``."""
        data = asdict(self)
        data["seeds"] = list(self.seeds)
        method = self.weighting_method
        name = WEIGHTING_NAME if method == "equal" else f"{WEIGHTING_NAME}+{method}"
        data.update(weighting=name, finetune=True)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FinetuneConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming them."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k not in ("weighting", "finetune")}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown finetune config key(s): {', '.join(unknown)}")
        if "seeds" in values:
            values["seeds"] = tuple(values["seeds"])
        return cls(**values)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
