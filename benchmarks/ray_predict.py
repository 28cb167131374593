"""Batch prediction throughput: the local backend against Ray with 1 and 2 nodes, in one run.

Run by hand (never a timed assert)::

    python benchmarks/ray_predict.py --model DIR [--n 3000] [--small 64] [--json out.json]

Texts: the first ``--n`` non-blank texts of SemEval-2018 E-c then EmoBank (real tweets and
sentences), written into 4 Parquet files. Every configuration runs the real command line,
``emomtl predict --input DIR --output X.parquet --batch-size 64`` in a fresh process, end to end
(interpreter start, model load, Ray connection and actor start-up, reading, writing):

- ``local 1 thread``: the local backend with ``OMP_NUM_THREADS=1`` (one core: the per-core
  baseline), and ``local 2 threads`` (torch's default on this machine);
- ``ray 1 node``: ``--backend ray --workers 1`` on a
  :class:`~emomtl.distributed.cluster.LocalCluster` of one ``ray start`` node with one CPU;
- ``ray 2 nodes``: ``--workers 2`` on two such nodes (one CPU each; both on this machine).

Each runs twice, on ``--small`` texts and on ``--n`` texts, so that the wall time splits into a
fixed start-up cost and a rate: ``rate = (n - small) / (t_n - t_small)`` texts/s and
``fixed = t_small - small / rate``. The same split is made of the CPU seconds used (the command's
process tree, plus every process of the Ray cluster, sampled): texts per CPU-second is the
per-core rate, and unlike wall time it holds on a machine shared with other work (where more
processes simply win a larger share of the cores). Ratios are against ``local 1 thread`` of the
same run.
Starting the loopback cluster itself (once; a real cluster is already running) is reported apart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

FILES = 4
BATCH = 64


def load_texts(n: int) -> list[str]:
    """The first ``n`` non-blank SemEval texts, then EmoBank texts (``benchmarks/predict.py``)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from predict import load_texts as predict_texts  # the sibling benchmark's loader

    return predict_texts(n, None)


def write_inputs(texts: list[str], directory: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True)
    for index in range(FILES):
        pq.write_table(pa.table({"text": texts[index::FILES]}), directory / f"part{index}.parquet")
    return directory


class ClusterCpu:
    """CPU seconds used by a cluster's processes (raylets, GCS, workers, actors) over a span:
    sampled every 0.2 s, so a process that exits (an actor at the end of a job) counts with its
    last sample."""

    def __init__(self, cluster) -> None:
        self.cluster = cluster
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._initial = True  # processes found by the first sample count from then on

    def _sample(self) -> None:
        import psutil

        for pid in self.cluster.pids():
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.Error:
                continue
            used = times.user + times.system
            self.first.setdefault(pid, used if self._initial else 0.0)
            self.last[pid] = used
        self._initial = False

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> ClusterCpu:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def seconds(self) -> float:
        return sum(v - self.first.get(pid, 0.0) for pid, v in self.last.items())


def run_predict(args: list[str], env: dict[str, str], cluster=None) -> tuple[float, float]:
    """Wall seconds and CPU seconds (the ``emomtl predict`` process and, with ``cluster``, the
    cluster's processes) of one run; raises with its output on failure."""
    command = [sys.executable, "-c", "from emomtl.cli import app; app()", "predict", *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    meter = ClusterCpu(cluster) if cluster is not None else contextlib.nullcontext()
    start = time.perf_counter()
    with meter:
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{result.stderr[-3000:]}")
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if cluster is not None:
        cpu += meter.seconds
    return wall, cpu


def measure(name: str, extra: list[str], env: dict, inputs: dict, work: Path, model, cluster=None):
    times, cpus = {}, {}
    for size, directory in inputs.items():
        out = work / f"{name.replace(' ', '-')}-{size}.parquet"
        args = ["-m", str(model), "-i", str(directory), "-o", str(out), "--batch-size", str(BATCH)]
        times[size], cpus[size] = run_predict([*args, *extra], env, cluster)
        print(
            f"  {name:<16} {size:>6} texts  {times[size]:7.1f} s wall  {cpus[size]:7.1f} s CPU",
            flush=True,
        )
    small, large = sorted(times)
    rate = (large - small) / (times[large] - times[small])
    cpu_rate = (large - small) / (cpus[large] - cpus[small])
    return {
        "wall_s": times,
        "cpu_s": cpus,
        "rate_texts_per_s": rate,
        "fixed_s": times[small] - small / rate,
        "texts_per_cpu_s": cpu_rate,
        "fixed_cpu_s": cpus[small] - small / cpu_rate,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="bundle directory")
    parser.add_argument("--n", type=int, default=3000, help="texts of the large run")
    parser.add_argument("--small", type=int, default=64, help="texts of the small run")
    parser.add_argument("--json", type=Path, help="write the results here too")
    args = parser.parse_args()

    from emomtl.distributed.cluster import LocalCluster

    texts = load_texts(args.n)
    work = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    inputs = {
        args.small: write_inputs(texts[: args.small], work / "small"),
        args.n: write_inputs(texts, work / "large"),
    }
    env = {**os.environ}
    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    print(f"{args.n} texts in {FILES} Parquet files, batches of {BATCH}; load {load_before}")
    one = {**env, "OMP_NUM_THREADS": "1"}
    results["local 1 thread"] = measure("local 1 thread", [], one, inputs, work, args.model)
    results["local 2 threads"] = measure("local 2 threads", [], env, inputs, work, args.model)
    starts = {}
    for nodes in (1, 2):
        t0 = time.perf_counter()
        with LocalCluster(nodes=nodes, cpus_per_node=1) as cluster:
            starts[nodes] = time.perf_counter() - t0
            name = f"ray {nodes} node{'s' if nodes > 1 else ''}"
            extra = ["--backend", "ray", "--address", cluster.address, "--workers", str(nodes)]
            results[name] = measure(name, extra, env, inputs, work, args.model, cluster)
    load_after = os.getloadavg()

    base = results["local 1 thread"]["rate_texts_per_s"]
    base_cpu = results["local 1 thread"]["texts_per_cpu_s"]
    print(f"\nload average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min)")
    print(
        f"{'configuration':<16} {'cores':>5} {'texts/s':>8} {'x local-1':>9} {'fixed s':>8} "
        f"{'texts/CPU-s':>11} {'x local-1':>9} {'fixed CPU-s':>11}"
    )
    for name, r in results.items():
        r["cores"] = 1 if name in ("local 1 thread", "ray 1 node") else 2
        r["speedup_vs_local_1_thread"] = r["rate_texts_per_s"] / base
        r["cpu_efficiency_vs_local_1_thread"] = r["texts_per_cpu_s"] / base_cpu
        print(
            f"{name:<16} {r['cores']:5d} {r['rate_texts_per_s']:8.1f} "
            f"{r['speedup_vs_local_1_thread']:9.2f} {r['fixed_s']:8.1f} "
            f"{r['texts_per_cpu_s']:11.1f} {r['cpu_efficiency_vs_local_1_thread']:9.2f} "
            f"{r['fixed_cpu_s']:11.1f}"
        )
    for nodes, seconds in starts.items():
        print(f"loopback cluster start, {nodes} node(s): {seconds:.1f} s")
    # per core: CPU seconds are what a dedicated core would give, whatever the load here
    per_core = results["ray 2 nodes"]["texts_per_cpu_s"]
    core_hours = 1e8 / per_core / 3600
    print(
        f"100 million texts at the measured Ray rate per CPU-second ({per_core:.1f} texts): "
        f"{core_hours:,.0f} core-hours (e.g. {core_hours / 64:,.1f} h on 64 cores)"
    )
    payload = {
        "n": args.n,
        "small": args.small,
        "batch_size": BATCH,
        "results": results,
        "cluster_start_s": starts,
        "per_core_texts_per_s": per_core,
        "core_hours_for_1e8": core_hours,
        "load_before": load_before,
        "load_after": load_after,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    if args.json:
        args.json.write_text(json.dumps(payload, indent=2, default=str))


if __name__ == "__main__":
    main()
