"""Wall time and peak memory of ``emomtl train --preset default``, the command that trains the
default analyzer (fine-tuned S+T+E, one seed, bundle saved).

Run by hand (never a timed assert)::

    python benchmarks/preset.py [--preset default] [--out DIR]

The command runs in a child process exactly as a user types it; wall time is measured around it
and peak RSS is the child's ``ru_maxrss``. The figure is printed against the 30-minute budget the
default training must stay under, with the machine and its load average before and after.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 30 * 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="default")
    parser.add_argument("--out", type=Path, default=None, help="run + bundle directory")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="emomtl-preset-"))
    command = [
        sys.executable, "-m", "emomtl", "train", "--preset", args.preset,
        "--out", str(out / "run"), "--save", str(out / "bundle"),
    ]  # fmt: skip
    load_before = os.getloadavg()
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"emomtl train --preset {args.preset}: {wall / 60:.2f} min wall "
          f"({wall / BUDGET_S:.2f}x the 30-min budget), peak RSS {peak_mb:.0f} MB")  # fmt: skip
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"run and bundle in {out}")  # fmt: skip


if __name__ == "__main__":
    main()
