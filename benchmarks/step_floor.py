"""Why the Table 4 grid does not train in 60 s on a small CPU: the matmul floor, measured.

Run by hand (never a timed assert)::

    EMOMTL_DATA_DIR=... EMOMTL_CACHE=... python benchmarks/step_floor.py [--results results/paper]

1. **Seed-steps of a finished grid**: the sum over its settings and seeds of ``epochs_run x
   ceil(training rows / batch size)``, read from ``DIR/*/seed_*/metrics.json`` (a full
   ``emomtl reproduce`` run).
2. **Per-op time inside real training**: MH S+T+E, 5 seeds, 2 epochs, early stopping off; every
   aten op timed by a ``TorchDispatchMode`` (per call, without the profiler's overhead), reported
   in µs per 5-seed step.
3. **The shared-layer matmuls alone**, fp32 vs bf16: 5 seeds x (64 x 384 @ 384 x 256) forward and
   its weight gradient (384 x 64 @ 64 x 256), GFLOP/s.
4. **A bare training step** (gather, forward, squared loss, backward, fused Adam) with the
   shared-layer matmul in fp32 vs bf16 (fp32 master weights cast every step), same process.

The floor it prints is (1) x the in-training time of the two shared-layer matmuls per seed-step
from (2). Quote the load (printed) with the numbers: the machine may be shared.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.table import Table
from torch.utils._python_dispatch import TorchDispatchMode

console = Console()
SEEDS, BATCH, DIM, HIDDEN, OUT = 5, 64, 384, 256, 19
FORWARD = "baddbmm.default" + str(((SEEDS, 1, HIDDEN), (SEEDS, BATCH, DIM), (SEEDS, DIM, HIDDEN)))
WEIGHT_GRAD = "bmm.default" + str(((SEEDS, DIM, BATCH), (SEEDS, BATCH, HIDDEN)))


def seed_steps(results: Path) -> int:
    """``sum epochs_run x ceil(train rows / 64)`` over every finished cell under ``results``."""
    total = 0
    for path in results.glob("*/seed_*/metrics.json"):
        record = json.loads(path.read_text())
        total += record["epochs_run"] * math.ceil(sum(record["train_size"].values()) / BATCH)
    return total


class _OpTimer(TorchDispatchMode):
    """Wall time per aten op (matmuls keyed with their input shapes)."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        elapsed = time.perf_counter() - start
        key = func.__name__
        if key.startswith(("bmm", "baddbmm")):
            key += str(tuple(tuple(a.shape) for a in args if isinstance(a, torch.Tensor)))
        self.seconds[key] += elapsed
        self.calls[key] += 1
        return out


def ops_in_training(data: dict) -> tuple[dict[str, float], dict[str, int], int, float]:
    """Time every op of MH S+T+E, 5 seeds, 2 epochs: (seconds, calls, steps, wall)."""
    from emomtl.train import TrainConfig, train

    config = TrainConfig(tasks="S+T+E", seeds=tuple(range(SEEDS)), epochs=2, patience=10**6)
    train(config, data)  # warm-up
    steps = 2 * math.ceil(sum(len(data[c].features["train"]) for c in "STE") / BATCH)
    timer = _OpTimer()
    start = time.perf_counter()
    with timer:
        train(config, data)
    return timer.seconds, timer.calls, steps, time.perf_counter() - start


def _time(fn: Any, repeats: int = 50) -> float:
    for _ in range(5):
        fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def matmuls_alone() -> list[tuple[str, str, float, float]]:
    """(dtype, which, µs, GFLOP/s) of the two shared-layer matmuls called alone."""
    rows = []
    flops = 2 * SEEDS * BATCH * DIM * HIDDEN
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(SEEDS, BATCH, DIM, dtype=dtype)
        weight = torch.randn(SEEDS, DIM, HIDDEN, dtype=dtype)
        bias = torch.randn(SEEDS, 1, HIDDEN, dtype=dtype)
        grad = torch.randn(SEEDS, BATCH, HIDDEN, dtype=dtype)
        calls = {
            "forward": (torch.baddbmm, (bias, x, weight)),
            "weight gradient": (torch.bmm, (x.transpose(1, 2), grad)),
        }
        for which, (op, operands) in calls.items():
            seconds = _time(lambda op=op, operands=operands: op(*operands))
            name = str(dtype).removeprefix("torch.")
            rows.append((name, which, seconds * 1e6, flops / seconds / 1e9))
    return rows


def bare_step(bf16: bool, steps: int = 300) -> float:
    """µs per bare 5-seed training step; ``bf16`` runs the shared-layer matmul in bfloat16."""
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(15865, DIM, generator=generator)
    table = features.to(torch.bfloat16) if bf16 else features
    weight = (torch.randn(SEEDS, DIM, HIDDEN, generator=generator) * 0.05).requires_grad_()
    bias = torch.zeros(SEEDS, 1, HIDDEN, requires_grad=True)
    head = (torch.randn(SEEDS, HIDDEN, OUT, generator=generator) * 0.05).requires_grad_()
    head_bias = torch.zeros(SEEDS, 1, OUT, requires_grad=True)
    params = [weight, bias, head, head_bias]
    optimizer = torch.optim.Adam(params, lr=3e-4, weight_decay=1e-3, fused=True)

    def step() -> None:
        idx = torch.randint(0, len(features), (SEEDS * BATCH,), generator=generator)
        x = table.index_select(0, idx).view(SEEDS, BATCH, DIM)
        if bf16:
            low = torch.bfloat16
            z = torch.baddbmm(bias.to(low), x, weight.to(low)).float()
        else:
            z = torch.baddbmm(bias, x, weight)
        torch.baddbmm(head_bias, torch.relu(z), head).pow(2).mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return _time(step, steps) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results/paper"))
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    console.print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), {os.cpu_count()} cores, "
        "load " + " ".join(f"{v:.2f}" for v in os.getloadavg())
    )

    from emomtl.features.task_data import load_task_data

    warnings.simplefilter("ignore")  # the EmoBank "row has no text" data warning
    data = load_task_data("STE")

    seconds, calls, steps, wall = ops_in_training(data)
    table = Table(title=f"Inside training: MH S+T+E, {SEEDS} seeds, {steps} steps")
    for column in ("op", "calls", "µs per step"):
        table.add_column(column, justify="left" if column == "op" else "right")
    for key, value in sorted(seconds.items(), key=lambda kv: -kv[1])[: args.top]:
        table.add_row(key, str(calls[key]), f"{value / steps * 1e6:.0f}")
    console.print(table)
    matmul_step = (seconds[FORWARD] + seconds[WEIGHT_GRAD]) / steps
    console.print(
        f"step {wall / steps * 1e3:.2f} ms under the timer; shared-layer matmuls "
        f"{matmul_step * 1e3:.2f} ms per {SEEDS}-seed step"
    )

    alone = Table(title=f"Shared-layer matmuls alone ({SEEDS} seeds)")
    for column in ("dtype", "matmul", "µs", "GFLOP/s"):
        alone.add_column(column, justify="left" if column in ("dtype", "matmul") else "right")
    for dtype, which, micros, gflops in matmuls_alone():
        alone.add_row(dtype, which, f"{micros:.0f}", f"{gflops:.0f}")
    console.print(alone)

    fp32, bf16 = bare_step(bf16=False), bare_step(bf16=True)
    console.print(
        f"bare step: fp32 {fp32:.0f} µs, bf16 shared layer {bf16:.0f} µs ({fp32 / bf16:.2f}x)"
    )

    if args.results.is_dir():
        total = seed_steps(args.results)
        floor = total * matmul_step / SEEDS
        console.print(
            f"{args.results}: {total:,} seed-steps; floor of the shared-layer matmuls alone, "
            f"fp32 in training: {floor:.0f} s"
        )
    else:
        console.print(f"no results in {args.results}: run `emomtl reproduce` for the seed-steps")


if __name__ == "__main__":
    main()
