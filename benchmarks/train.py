"""Training speed and memory on cached features: seed-batched vs a per-seed loop, same run.

Run by hand (never a timed assert)::

    EMOMTL_DATA_DIR=... EMOMTL_CACHE=... python benchmarks/train.py [--epochs 100] [--threads 1]
        [--profile]

For MH S+T+E with equal weighting and with GradNorm (5 seeds each) it reports wall time and peak
RSS of (a) one ``train()`` call with all 5 seeds batched and (b) five ``train()`` calls with one
seed each, and their ratio. Each measurement runs in a fresh subprocess so peak RSS is its own
(``ru_maxrss`` after training minus after loading the features). ``--profile`` prints the top
of a cProfile of one batched run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

SETTINGS = {"MH S+T+E": {"tasks": "S+T+E"}, "GN S+T+E": {"tasks": "S+T+E", "weighting": "gradnorm"}}
SEEDS = (0, 1, 2, 3, 4)


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _load():
    from emomtl.features.task_data import load_task_data

    return load_task_data("STE")


def measure(setting: str, mode: str, epochs: int, threads: int) -> dict:
    """Train ``setting`` batched or as a loop over seeds; wall time and peak RSS growth."""
    from emomtl.train import TrainConfig, train

    data = _load()
    base = _rss_mib()
    start = time.perf_counter()
    config = TrainConfig(**SETTINGS[setting], seeds=SEEDS, epochs=epochs)
    if mode == "batched":
        outputs = [train(config, data, num_threads=threads)]
    else:
        outputs = [
            train(TrainConfig(**{**config.to_dict(), "seeds": (s,)}), data, num_threads=threads)
            for s in SEEDS
        ]
    wall = time.perf_counter() - start
    seeds = [r for out in outputs for r in out.seeds]
    return {
        "wall_s": wall,
        "peak_rss_growth_mib": _rss_mib() - base,
        "epochs_run": [r.epochs_run for r in seeds],
        "test_primary": {
            code: [round(r.metrics["test"][code][m], 4) for r in seeds]
            for code, m in (("S", "jaccard"), ("T", "f1_micro"), ("E", "pearson_mean"))
        },
    }


def profile(epochs: int, threads: int) -> None:
    import cProfile
    import pstats

    from emomtl.train import TrainConfig, train

    data = _load()
    config = TrainConfig(tasks="S+T+E", seeds=SEEDS, epochs=epochs)
    profiler = cProfile.Profile()
    profiler.runcall(train, config, data, num_threads=threads)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--one", nargs=2, metavar=("SETTING", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*args.one, args.epochs, args.threads)))
        return
    if args.profile:
        profile(args.epochs, args.threads)
        return
    print(f"cpus={os.cpu_count()} threads={args.threads} epochs<={args.epochs} seeds={SEEDS}")
    for setting in SETTINGS:
        rows = {}
        for mode in ("batched", "loop"):
            cmd = [
                sys.executable,
                __file__,
                "--one",
                setting,
                mode,
                "--epochs",
                str(args.epochs),
                "--threads",
                str(args.threads),
            ]
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            rows[mode] = json.loads(done.stdout.strip().splitlines()[-1])
            r = rows[mode]
            print(
                f"{setting:10s} {mode:8s} wall {r['wall_s']:7.1f} s  peak RSS +"
                f"{r['peak_rss_growth_mib']:6.1f} MiB  epochs {r['epochs_run']}  "
                f"test {r['test_primary']}"
            )
        speedup = rows["loop"]["wall_s"] / rows["batched"]["wall_s"]
        memory = rows["batched"]["peak_rss_growth_mib"] / max(
            rows["loop"]["peak_rss_growth_mib"], 1e-9
        )
        print(f"{setting:10s} loop/batched wall = {speedup:.2f}x; batched/loop RSS = {memory:.2f}x")


if __name__ == "__main__":
    main()
