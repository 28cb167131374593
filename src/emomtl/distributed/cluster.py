"""A real Ray cluster on loopback, made of ``ray start`` nodes: for tests and benchmarks.

``LocalCluster(nodes=2, cpus_per_node=1)`` runs ``ray start --head --block`` and then
``ray start --address=127.0.0.1:<port> --block`` for every further node, each a separate raylet
with its own object store, on 127.0.0.1 with free ports (GCS, node manager, object manager,
agents, worker port ranges), no dashboard, and its session files under a temporary directory of
its own. It is exactly what an operator runs on real machines, minus the machines.

Teardown never uses ``ray stop`` (that stops every Ray process of the user on the machine):
:meth:`LocalCluster.stop` sends SIGTERM to the ``ray start --block`` processes it started (which
stop their nodes), then kills whatever is left in their process groups and any process whose
command line names this cluster's temporary directory, and removes the directory.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Ports each node needs (besides the head's GCS port and the worker port range).
_NODE_PORTS = (
    "--node-manager-port",
    "--object-manager-port",
    "--metrics-export-port",
    "--dashboard-agent-listen-port",
    "--dashboard-agent-grpc-port",
    "--runtime-env-agent-port",
)
_WORKER_PORTS = 40  # per node; Ray needs one port per worker process
#: Environment variable naming the cluster's temporary directory in each of its processes.
_MARKER_VARIABLE = "EMOMTL_LOCAL_RAY_CLUSTER"


#: Lowest port handed to a test cluster's components.
_LOW_PORT = 10000


def _ephemeral_start() -> int:
    """The first port of the kernel's ephemeral range (outgoing connections take ports there)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now, below the ephemeral range: a port the kernel may hand to
    any outgoing connection could be taken before the node that was given it binds it (a flaky
    "Address already in use" at the GCS)."""
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.randint(_LOW_PORT, _ephemeral_start() - 1)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port on 127.0.0.1 below the ephemeral range")


def _free_range(size: int, taken: set[int] | None = None) -> int:
    """The first port of ``size`` consecutive ports free now and not in ``taken`` (best effort).

    A port handed out earlier is free until its node binds it, so the caller's ``taken`` set is
    what keeps one node's worker range from covering another component's port (Ray refuses to
    start then).
    """
    taken = taken or set()
    for _ in range(200):
        start = free_port()
        if start + size >= _ephemeral_start():
            continue
        ok = True
        for port in range(start, start + size):
            if port in taken:
                ok = False
                break
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return start
    raise RuntimeError(f"no {size} consecutive free ports on 127.0.0.1")


class LocalCluster:
    """A head node and ``nodes - 1`` worker nodes started with ``ray start`` on 127.0.0.1.

    Args:
        nodes: Ray nodes (raylets) in all, the head included.
        cpus_per_node: ``--num-cpus`` of every node.
        object_store_mb: ``--object-store-memory`` of every node.
        env: extra environment of the nodes (their workers inherit it): e.g. ``PYTHONPATH`` so the
            workers import the same emomtl as the driver.

    Use as a context manager, or call :meth:`start` and :meth:`stop` (idempotent).
    """

    def __init__(
        self,
        nodes: int = 2,
        *,
        cpus_per_node: int = 1,
        object_store_mb: int = 200,
        env: dict[str, str] | None = None,
    ) -> None:
        if nodes < 1 or cpus_per_node < 1:
            raise ValueError(f"nodes and cpus_per_node must be >= 1, got {nodes}, {cpus_per_node}")
        self.nodes, self.cpus_per_node, self.object_store_mb = nodes, cpus_per_node, object_store_mb
        # short: Ray's unix socket paths live under it and must stay below ~107 characters
        self.temp_dir = Path(tempfile.mkdtemp(prefix="emr-", dir="/tmp"))
        self.port = free_port()
        self._taken = {self.port}  # every port handed to a node of this cluster
        self.address = f"127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_ENABLE_UV_RUN_RUNTIME_ENV": "0",
            **(env or {}),
            _MARKER_VARIABLE: str(self.temp_dir),
        }
        self.env.pop("RAY_ADDRESS", None)
        self._processes: list[subprocess.Popen] = []

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _port(self) -> int:
        """A free port no node of this cluster has been given yet."""
        for _ in range(200):
            port = free_port()
            if port not in self._taken:
                self._taken.add(port)
                return port
        raise RuntimeError("no free port on 127.0.0.1 outside this cluster's ports")

    def start(self, timeout_s: float = 90.0) -> str:
        """Start every node and wait until all are alive; returns the address."""
        try:
            self._start_node(head=True)
            self._wait_for_gcs(timeout_s)
            for _ in range(self.nodes - 1):
                self._start_node(head=False)
            self.wait_for_nodes(self.nodes, timeout_s)
        except BaseException:
            self.stop()
            raise
        return self.address

    def add_node(self, timeout_s: float = 90.0) -> None:
        """Start one more worker node and wait for it."""
        self._start_node(head=False)
        self.nodes += 1
        self.wait_for_nodes(self.nodes, timeout_s)

    def _ray_executable(self) -> str:
        candidate = Path(sys.executable).with_name("ray")
        return str(candidate) if candidate.exists() else "ray"

    def _start_node(self, *, head: bool) -> None:
        command = [self._ray_executable(), "start", "--block", "--disable-usage-stats"]
        if head:
            command += [
                "--head",
                f"--port={self.port}",
                f"--temp-dir={self.temp_dir}",
                "--include-dashboard=false",
            ]
        else:
            command += [f"--address={self.address}"]
        command += [
            "--node-ip-address=127.0.0.1",
            f"--num-cpus={self.cpus_per_node}",
            "--num-gpus=0",
            f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
        ]
        command += [f"{option}={self._port()}" for option in _NODE_PORTS]
        first = _free_range(_WORKER_PORTS, self._taken)
        self._taken.update(range(first, first + _WORKER_PORTS))
        command += [f"--min-worker-port={first}", f"--max-worker-port={first + _WORKER_PORTS - 1}"]
        log = (self.temp_dir / f"node-{len(self._processes)}.log").open("wb")
        process = subprocess.Popen(
            command,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() can kill exactly it
        )
        log.close()
        self._processes.append(process)

    def _wait_for_gcs(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self._check_alive()
            with socket.socket() as sock:
                sock.settimeout(0.5)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.2)
        raise TimeoutError(f"Ray head did not listen on {self.address} in {timeout_s:.0f} s")

    def _check_alive(self) -> None:
        for index, process in enumerate(self._processes):
            if process.poll() is not None:
                log = (self.temp_dir / f"node-{index}.log").read_text(errors="replace")
                raise RuntimeError(f"ray start (node {index}) exited:\n{log[-3000:]}")

    def wait_for_nodes(self, count: int, timeout_s: float = 90.0) -> None:
        """Block until ``count`` nodes are alive, asking the GCS with ``ray list nodes``-free
        means: a short-lived driver process (so this process never joins the cluster)."""
        script = (
            "import ray,sys,time\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
            f"deadline = time.monotonic() + {timeout_s}\n"
            "while True:\n"
            "    n = sum(1 for x in ray.nodes() if x.get('Alive'))\n"
            f"    if n >= {count}: sys.exit(0)\n"
            "    if time.monotonic() > deadline: print(n); sys.exit(1)\n"
            "    time.sleep(0.3)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", script],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s + 60,
        )
        self._check_alive()
        if result.returncode != 0:
            raise TimeoutError(
                f"Ray cluster at {self.address} has not {count} alive nodes: "
                f"{result.stdout.strip()} {result.stderr[-2000:]}"
            )

    def pids(self) -> list[int]:
        """Process ids of every process of this cluster: those in the process groups of its
        ``ray start`` processes, or whose command line or environment names its temporary
        directory (Ray's agents and workers rename themselves and some leave the group)."""
        import psutil

        groups = {process.pid for process in self._processes}
        marker = str(self.temp_dir)
        found: set[int] = set()
        for proc in psutil.process_iter(["pid", "cmdline"]):
            pid = proc.info["pid"]
            try:
                if (
                    os.getpgid(pid) in groups
                    or any(marker in part for part in (proc.info["cmdline"] or []))
                    or proc.environ().get(_MARKER_VARIABLE) == marker
                ):
                    found.add(pid)
            except (psutil.Error, ProcessLookupError, PermissionError, OSError):
                continue
        found.discard(os.getpid())
        return sorted(found)

    def worker_pids(self, name: str) -> list[int]:
        """Process ids of this cluster's Ray workers whose process title contains ``name``
        (an actor's title is ``ray::<ClassName>...``)."""
        import psutil

        pids = []
        for pid in self.pids():
            try:
                title = " ".join(psutil.Process(pid).cmdline())
            except psutil.NoSuchProcess:
                continue
            if title.startswith("ray::") and name in title:
                pids.append(pid)
        return pids

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop every node this cluster started and anything left of it; remove its files.

        SIGTERM to every process of the cluster, up to ``timeout_s`` for them to exit, then
        SIGKILL to whatever is left.
        """
        import psutil

        targets = set(self.pids())
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for process in self._processes:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)
            for pid in targets | set(self.pids()):
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    psutil.Process(pid).send_signal(sig)
            deadline = time.monotonic() + (timeout_s if sig == signal.SIGTERM else 10.0)
            while time.monotonic() < deadline:
                for process in self._processes:
                    process.poll()  # reap the ray start processes (our children)
                if not self.alive():
                    break
                time.sleep(0.1)
            if not self.alive():
                break
        self._processes.clear()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def alive(self) -> list[int]:
        """Processes of this cluster still running (empty after :meth:`stop`); zombies, which
        only wait for their parent to collect them, do not count."""
        return [pid for pid in self.pids() if running(pid)]


def running(pid: int) -> bool:
    """True when process ``pid`` exists and is not a zombie."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
