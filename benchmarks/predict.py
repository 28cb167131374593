"""Throughput of ``EmotionAnalyzer.predict`` against the encoder alone, and cold-start time.

Run by hand (never a timed assert)::

    python benchmarks/predict.py --model DIR [--n 10000] [--json out.json]

Texts: the first ``--n`` non-empty texts of SemEval-2018 E-c (train, dev, test) followed by EmoBank
(real tweets and sentences of realistic length). Both measurements run in this process on the same
texts with the same forward batch size, after one warm-up call each:

- ``encoder``: ``FrozenEncoder.encode(texts)`` - the floor any analyzer built on it can reach;
- ``predict``: ``analyzer.predict(texts)`` - encoding plus token counting (truncation flags),
  the head, and building one record per text.

Cold start runs in a fresh interpreter: the time to ``import emomtl`` and ``EmotionAnalyzer.load``,
and the first ``predict`` call (which loads the encoder's weights: ``FrozenEncoder`` is lazy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def load_texts(n: int, data_dir: Path | None) -> list[str]:
    """The first ``n`` non-blank SemEval texts, then EmoBank texts."""
    from emomtl.data.loading import load_corpus

    texts: list[str] = []
    for code in ("S", "E"):
        corpus = load_corpus(code, data_dir)
        for split in ("train", "dev", "test"):
            texts.extend(t for t in corpus.splits[split].texts if t.strip())
        if len(texts) >= n:
            break
    if len(texts) < n:
        raise SystemExit(f"only {len(texts)} texts available, asked for {n}")
    return texts[:n]


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    """Wall seconds of one call and its result."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


COLD_START = """
import json, sys, time
t0 = time.perf_counter()
from emomtl import EmotionAnalyzer
t1 = time.perf_counter()
analyzer = EmotionAnalyzer.load(sys.argv[1])
t2 = time.perf_counter()
analyzer.predict("What a wonderful day!")
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_predict_s": t3 - t2}))
"""


def cold_start(model: Path) -> dict[str, float]:
    """Times of a fresh interpreter: import, ``EmotionAnalyzer.load``, first predict, process."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", COLD_START, str(model)], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"cold-start subprocess failed:\n{result.stderr}")
    times = json.loads(result.stdout.strip().splitlines()[-1])
    times["process_wall_s"] = wall
    return times


def machine() -> dict[str, object]:
    """CPU model, usable cores, torch version and threads."""
    import torch

    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="bundle (default: the default)")
    parser.add_argument("--n", type=int, default=10_000, help="number of texts")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per forward pass")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from emomtl.bundle import default_model_dir
    from emomtl.predict import EmotionAnalyzer

    model = args.model or default_model_dir()
    texts = load_texts(args.n, args.data_dir)
    analyzer = EmotionAnalyzer.load(model, batch_size=args.batch_size)
    encoder = analyzer.encoder
    encoder.encode(texts[:64], batch_size=args.batch_size)  # warm-up: loads weights
    analyzer.predict(texts[:64])

    encode_s, _ = timed(encoder.encode, texts, batch_size=args.batch_size)
    predict_s, records = timed(analyzer.predict, texts)
    truncated = sum(r.truncated for r in records)
    cold = cold_start(model)
    info = machine()

    results = {
        "n_texts": len(texts),
        "truncated": truncated,
        "batch_size": args.batch_size,
        "encoder_s": encode_s,
        "predict_s": predict_s,
        "encoder_texts_per_s": len(texts) / encode_s,
        "predict_texts_per_s": len(texts) / predict_s,
        "predict_over_encoder_time": predict_s / encode_s,
        "cold_start": cold,
        "machine": info,
        "model": str(model),
    }

    console = Console()
    table = Table(title=f"emomtl predict: {len(texts):,} texts ({truncated} truncated)")
    table.add_column("measurement")
    table.add_column("seconds", justify="right")
    table.add_column("texts/s", justify="right")
    table.add_column("vs encoder", justify="right")
    rows = [
        ("encoder alone (FrozenEncoder.encode)", encode_s, "1.00x"),
        ("analyzer.predict (every label space)", predict_s, f"{predict_s / encode_s:.2f}x time"),
    ]
    for name, seconds, ratio in rows:
        table.add_row(name, f"{seconds:.2f}", f"{len(texts) / seconds:,.0f}", ratio)
    table.add_section()
    table.add_row("cold: import emomtl", f"{cold['import_s']:.2f}", "", "")
    table.add_row("cold: EmotionAnalyzer.load", f"{cold['load_s']:.2f}", "", "")
    table.add_row("cold: first predict (loads encoder)", f"{cold['first_predict_s']:.2f}", "", "")
    table.add_row("cold: whole process", f"{cold['process_wall_s']:.2f}", "", "")
    console.print(table)
    console.print(
        f"machine: {info['cpu']}, {info['cores']} cores usable, torch {info['torch']} "
        f"({info['torch_threads']} threads), python {info['python']}"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
