"""Do bf16 features train as well as fp32 features? (issue 6: parity, not just speed)

Trains the three single-task settings (S, T, E) over the same seeds on MiniLM features encoded
in fp32 and in bf16 autocast, and prints each primary test metric (mean over seeds) for both, their
difference and whether it is below the tolerance (0.005). Run by hand::

    python benchmarks/precision_parity.py --seeds 5

Features come from the feature cache (``$EMOMTL_CACHE``), so a second run only trains. bf16 becomes
``precision=auto``'s choice on CPUs with bf16 support only where every difference is within the
tolerance; otherwise it stays opt-in.
"""

from __future__ import annotations

import argparse
import json
import time

TOLERANCE = 0.005


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    args = parser.parse_args()

    from emomtl.data.tasks import get_task
    from emomtl.features.encoders import EncoderSpec, cpu_supports_bf16
    from emomtl.features.task_data import load_task_data
    from emomtl.stats import mean_ci95
    from emomtl.train import TrainConfig, train

    if not cpu_supports_bf16():
        print("note: this CPU has no bf16 support; bf16 runs are emulated and slow")
    rows = []
    for code in ("S", "T", "E"):
        task = get_task(code)
        row = {"task": code, "metric": task.primary_metric}
        for precision in ("fp32", "bf16"):
            spec = EncoderSpec(precision=precision)
            data = load_task_data([code], spec=spec, data_dir=args.data_dir, progress=True)
            config = TrainConfig(tasks=code, seeds=tuple(range(args.seeds)))
            start = time.perf_counter()
            output = train(config, data, num_threads=1)
            values = [s.metrics["test"][code][task.primary_metric] for s in output.seeds]
            mean, ci = mean_ci95(values)
            row[precision] = {"mean": mean, "ci95": ci, "values": values}
            row[f"{precision}_train_s"] = time.perf_counter() - start
        row["diff"] = row["bf16"]["mean"] - row["fp32"]["mean"]
        row["within_tolerance"] = abs(row["diff"]) < TOLERANCE
        rows.append(row)

    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"\nSTL test metrics over {args.seeds} seeds, MiniLM features (mean ± 95% CI)")
    print(f"| task | metric | fp32 | bf16 | bf16 - fp32 | within {TOLERANCE} |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        fp32, bf16 = row["fp32"], row["bf16"]
        print(
            f"| {row['task']} | {row['metric']} | {fp32['mean']:.4f} ± {fp32['ci95']:.4f} "
            f"| {bf16['mean']:.4f} ± {bf16['ci95']:.4f} | {row['diff']:+.4f} "
            f"| {'yes' if row['within_tolerance'] else 'NO'} |"
        )
    verdict = all(row["within_tolerance"] for row in rows)
    print(
        f"\nparity {'holds' if verdict else 'FAILS'}: bf16 {'may' if verdict else 'must not'} "
        "be the default on CPUs with bf16 support"
    )


if __name__ == "__main__":
    main()
