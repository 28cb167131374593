"""Encoding speed and memory: a bare transformers loop vs ``emomtl`` fp32 vs ``emomtl`` bf16.

Run by hand (never a timed assert)::

    python benchmarks/encode.py --n 2000
    python benchmarks/encode.py --n 1000 --sweep 16,32,64,128   # tune the default batch size

All variants encode the same texts (the first ``--n`` SemEval-2018 E-c training tweets) in the same
invocation. Each variant runs in its own child process so its peak RSS (``ru_maxrss``) is its
own; model loading and a short warm-up are excluded from the timed part. The variants:

(a) ``bare``: ``AutoModel`` fp32 under ``torch.no_grad``, input order, batches of 32 padded to the
    longest text, mean pooling - the loop one writes first;
(b) ``emomtl-fp32``: :class:`emomtl.features.encoders.FrozenEncoder`, length-sorted batches;
(c) ``emomtl-bf16``: the same under bf16 autocast (only where the CPU supports bf16).

Prints a table of sentences/s, ratios against (a), peak RSS and the cosine of every variant's
features to (a)'s, plus the machine (CPU model, cores, torch version, load average).
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

WARMUP = 32


def _texts(n: int, data_dir: str | None) -> list[str]:
    from emomtl.data.loading import load_corpus

    texts = load_corpus("S", Path(data_dir) if data_dir else None).splits["train"].texts
    if n > len(texts):
        raise SystemExit(f"--n {n} exceeds the {len(texts)} SemEval training tweets")
    return texts[:n]


def _bare(texts: list[str], batch_size: int) -> tuple:
    """Variant (a). Returns (features (n, d) float32, seconds)."""
    import torch
    import transformers
    from transformers import AutoModel, AutoTokenizer

    from emomtl.features.encoders import EncoderSpec, FrozenEncoder

    transformers.utils.logging.disable_progress_bar()
    model_dir = FrozenEncoder(EncoderSpec()).model_dir
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()

    def run(batch_texts: list[str]) -> torch.Tensor:
        rows = []
        with torch.no_grad():
            for start in range(0, len(batch_texts), batch_size):
                batch = tokenizer(
                    batch_texts[start : start + batch_size],
                    padding=True,
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
                hidden = model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).float()
                rows.append((hidden * mask).sum(1) / mask.sum(1))
        return torch.cat(rows)

    run(texts[:WARMUP])
    started = time.perf_counter()
    features = run(texts)
    return features, time.perf_counter() - started


def _emomtl(texts: list[str], precision: str, batch_size: int | None) -> tuple:
    """Variants (b) and (c). Returns (features (n, d) float32, seconds)."""
    from emomtl.features.encoders import EncoderSpec, FrozenEncoder

    encoder = FrozenEncoder(EncoderSpec(precision=precision))
    encoder.encode(texts[:WARMUP], batch_size=batch_size)
    started = time.perf_counter()
    features = encoder.encode(texts, batch_size=batch_size)
    return features, time.perf_counter() - started


def child(args: argparse.Namespace) -> None:
    """Run one variant and write its features and a JSON record under ``args.out``."""
    import torch

    texts = _texts(args.n, args.data_dir)
    if args.variant == "bare":
        features, seconds = _bare(texts, 32)
    else:
        precision = args.variant.split("-")[1]
        features, seconds = _emomtl(texts, precision, args.batch_size)
    tag = f"{args.variant}-{args.batch_size or 0}"
    torch.save(features, Path(args.out) / f"{tag}.pt")
    record = {
        "seconds": seconds,
        "sent_per_s": len(texts) / seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "threads": torch.get_num_threads(),
    }
    (Path(args.out) / f"{tag}.json").write_text(json.dumps(record))


def _machine() -> str:
    import torch

    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from emomtl.features.encoders import available_cores, cpu_supports_bf16

    return (
        f"{model}, {available_cores()} cores available (bf16 support: {cpu_supports_bf16()}), "
        f"torch {torch.__version__}, load average {os.getloadavg()[0]:.1f}"
    )


def _run_child(variant: str, n: int, batch_size: int | None, out: str, data_dir: str | None):
    command = [sys.executable, __file__, "--child", variant, "--n", str(n), "--out", out]
    command += ["--batch-size", str(batch_size or 0)]
    if data_dir:
        command += ["--data-dir", data_dir]
    subprocess.run(command, check=True)
    tag = f"{variant}-{batch_size or 0}"
    return json.loads((Path(out) / f"{tag}.json").read_text()), Path(out) / f"{tag}.pt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="number of SemEval train tweets")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--sweep", default="", help="comma-separated batch sizes to time for emomtl fp32 and bf16"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--batch-size", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.variant = args.child
        args.batch_size = args.batch_size or None
        child(args)
        return

    import torch
    from torch.nn.functional import cosine_similarity

    from emomtl.features.encoders import DEFAULT_BATCH_SIZE, cpu_supports_bf16

    print(f"machine: {_machine()}")
    print(f"texts: first {args.n} SemEval-2018 E-c train tweets, MiniLM-L6, max_length 128")
    variants = ["bare", "emomtl-fp32"] + (["emomtl-bf16"] if cpu_supports_bf16() else [])
    sizes = [int(s) for s in args.sweep.split(",") if s] or [None]
    rows = []
    last: dict[str, torch.Tensor] = {}
    with tempfile.TemporaryDirectory() as out:
        base_record, base_path = _run_child("bare", args.n, None, out, args.data_dir)
        base = torch.load(base_path)
        rows.append(("(a) bare transformers fp32, bs 32", base_record, 1.0))
        for variant in variants[1:]:
            for size in sizes:
                record, path = _run_child(variant, args.n, size, out, args.data_dir)
                last[variant] = torch.load(path)
                cosine = cosine_similarity(last[variant], base)
                label = f"({'b' if 'fp32' in variant else 'c'}) {variant}, bs "
                label += str(size or DEFAULT_BATCH_SIZE)
                rows.append((label, record, cosine))
    print(f"\n{'variant':<36} {'sent/s':>8} {'vs (a)':>7} {'peak RSS MB':>12} {'cos min':>9}")
    for label, record, cosine in rows:
        ratio = record["sent_per_s"] / base_record["sent_per_s"]
        cos_min = 1.0 if isinstance(cosine, float) else cosine.min().item()
        print(
            f"{label:<36} {record['sent_per_s']:>8.1f} {ratio:>6.2f}x "
            f"{record['peak_rss_mb']:>12.0f} {cos_min:>9.5f}"
        )
    if "emomtl-bf16" in last:
        cosine = cosine_similarity(last["emomtl-bf16"], last["emomtl-fp32"])
        print(
            f"\ncosine bf16 vs fp32 features (per row): min {cosine.min().item():.5f}, "
            f"mean {cosine.mean().item():.5f}"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
