"""Fine-tuning speed and memory: a plain transformers training loop vs ``emomtl`` fine-tuning.

Run by hand (never a timed assert)::

    python benchmarks/finetune.py --n 1024

Every variant trains one epoch on the same texts (the first ``--n`` SemEval-2018 E-c training
tweets, task S), batch 32, ``max_length`` 128, same head (shared layer 256 + 11 sigmoid outputs),
AdamW with linear warm-up/decay. Each runs in its own child process so that its peak RSS
(``ru_maxrss``) is its own; model loading is outside the timed part. Variants:

(a) ``plain``: ``AutoModel`` fp32, texts padded to ``max_length``, batches in shuffled (unsorted)
    order, mean pooling, BCE - the loop one writes first;
(b) ``emomtl-fp32``: :func:`emomtl.finetune.run.run_finetune` in fp32 (length-bucketed batches,
    dynamic padding);
(c) ``emomtl``: the same at its default precision (bf16 autocast where the CPU supports it).

For (b)/(c) the timed part runs from the start of the seed (model and head built, sampler made)
to the end of its one dev evaluation, cut to 16 rows so that it is a negligible share; the plain
loop's timed part is its training steps only (so (a) is favoured). Prints sentences/s, the ratio
to (a), peak RSS, the machine and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BATCH, MAX_LENGTH = 32, 128


def _texts_targets(n: int, data_dir: str | None):
    from emomtl.data.loading import load_corpus

    split = load_corpus("S", Path(data_dir) if data_dir else None).splits["train"]
    if n > len(split.texts):
        raise SystemExit(f"--n {n} exceeds the {len(split.texts)} SemEval training tweets")
    return split.texts[:n], split.targets[:n]


def _plain(n: int, data_dir: str | None) -> float:
    """Variant (a); returns the seconds of the training loop."""
    import numpy as np
    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer

    from emomtl.data.tasks import TASKS
    from emomtl.features.encoders import EncoderSpec, FrozenEncoder
    from emomtl.finetune.optim import linear_schedule
    from emomtl.model import MultiTaskNet

    transformers.utils.logging.disable_progress_bar()
    texts, targets = _texts_targets(n, data_dir)
    model_dir = FrozenEncoder(EncoderSpec()).model_dir
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    torch.manual_seed(0)
    encoder = AutoModel.from_pretrained(model_dir).float().train()
    head = MultiTaskNet(encoder.config.hidden_size, [TASKS["S"]], hidden_dim=256, dropout=0.1)
    enc = tokenizer(
        texts, padding="max_length", truncation=True, max_length=MAX_LENGTH, return_tensors="pt"
    )
    y = torch.as_tensor(np.asarray(targets), dtype=torch.float32)
    params = [
        {"params": encoder.parameters(), "lr": 8e-5},
        {"params": head.parameters(), "lr": 1e-3},
    ]
    optimizer = torch.optim.AdamW(params, weight_decay=0.01)
    steps = (n + BATCH - 1) // BATCH
    schedule = linear_schedule(optimizer, steps, 0.1)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for i in range(steps):
        rows = order[i * BATCH : (i + 1) * BATCH]
        mask = enc["attention_mask"][rows]
        hidden = encoder(input_ids=enc["input_ids"][rows], attention_mask=mask).last_hidden_state
        m = mask.unsqueeze(-1).float()
        pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(pooled)["S"], y[rows])
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*encoder.parameters(), *head.parameters()], 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def _emomtl(n: int, data_dir: str | None, precision: str) -> float:
    """Variants (b)/(c); returns the seconds of the training steps."""
    from emomtl.finetune.config import FinetuneConfig
    from emomtl.finetune.run import run_finetune

    config = FinetuneConfig(
        tasks="S",
        seeds=(0,),
        epochs=1,
        batch_size=BATCH,
        max_length=MAX_LENGTH,
        evals_per_epoch=1,
        precision=precision,
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        run = run_finetune(
            config,
            Path(out) / "run",
            data_dir=Path(data_dir) if data_dir else None,
            limit={"train": n, "dev": 16, "test": 16},
        )
        total = time.perf_counter() - started
    record = run.best.record()
    # the last history entry's elapsed time covers model build + training + the one dev eval;
    # subtract nothing else: it is the same bookkeeping a user pays
    return float(record["history"][-1]["elapsed_s"]) if record["history"] else total


def _child(variant: str, n: int, data_dir: str | None) -> None:
    import torch

    from emomtl.features.encoders import available_cores

    torch.set_num_threads(available_cores())
    if variant == "plain":
        seconds = _plain(n, data_dir)
    else:
        seconds = _emomtl(n, data_dir, "fp32" if variant == "emomtl-fp32" else "auto")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"variant": variant, "seconds": seconds, "peak_rss_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1024, help="training tweets (one epoch)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.n, args.data_dir)
        return
    from emomtl.features.encoders import cpu_supports_bf16

    variants = ["plain", "emomtl-fp32"] + (["emomtl"] if cpu_supports_bf16() else [])
    rows = []
    for variant in variants:
        cmd = [sys.executable, __file__, "--child", variant, "--n", str(args.n)]
        if args.data_dir:
            cmd += ["--data-dir", args.data_dir]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
    base = rows[0]["seconds"]
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, load average {os.getloadavg()}"
    )
    print(f"{args.n} SemEval tweets, one epoch, batch {BATCH}, max_length {MAX_LENGTH}\n")
    print("| variant | train sentences/s | vs plain | peak RSS |")
    print("|---|--:|--:|--:|")
    for row in rows:
        rate = args.n / row["seconds"]
        print(
            f"| {row['variant']} | {rate:.1f} | {base / row['seconds']:.2f}x | "
            f"{row['peak_rss_mb']:.0f} MB |"
        )


if __name__ == "__main__":
    main()
