"""The ray backend on a real Ray cluster on loopback: a head node and a second node, each started
with ``ray start`` on 127.0.0.1 (free ports, one CPU each, no dashboard, session files in a temp
dir), stopped in teardown whatever happened (and checked: no process of it survives).

- ``emomtl predict --backend ray`` over ~2,000 real texts (SemEval-2018 and EmoBank) written into
  CSV, JSONL and Parquet files: one output row per input row, every (file, line) exactly once,
  bad rows with their error, predictions equal to the local backend's (an independent run of the
  same analyzer in this process) to 1e-5; again while an analyzer process is killed mid-run.
- A bundle that fails on the workers fails the run with its error, within a time limit.
- ``run_grid`` on Ray (``reproduce --backend ray``) writes the metrics of the local run.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
psutil = pytest.importorskip("psutil")


import emomtl  # noqa: E402
from emomtl.batchio import predict_table, read_table, resolve_inputs  # noqa: E402
from emomtl.distributed.cluster import LocalCluster, running  # noqa: E402
from emomtl.experiments.grid import Setting  # noqa: E402
from emomtl.predict import EmotionAnalyzer  # noqa: E402
from synthetic import SMALL_GRID, learnable_task  # noqa: E402
from test_bundle import real_bundle_dir  # noqa: E402

SRC = Path(emomtl.__file__).resolve().parents[1]
#: Rows per chunk (one analyzer call) in both backends.
BATCH = 64
#: Real texts in the prediction tests (besides the bad rows).
N_TEXTS = 2000
#: Longest a Ray run may take here before a test calls it a hang.
RUN_TIMEOUT_S = 300


def ray_predict(cluster: LocalCluster, bundle: Path, inputs: Path, output: Path) -> list[str]:
    """The ``emomtl predict --backend ray`` command line on ``cluster`` with two workers."""
    options = ["--backend", "ray", "--address", cluster.address, "--workers", "2"]
    options += ["--batch-size", str(BATCH), "-m", str(bundle), "-i", str(inputs)]
    entry = "from emomtl.cli import app; app()"
    return [sys.executable, "-c", entry, "predict", *options, "-o", str(output)]


@pytest.fixture(scope="module")
def cluster(cache_dir: Path):
    """Two Ray nodes of one CPU each on 127.0.0.1; their workers import this emomtl."""
    pythonpath = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    env = {"PYTHONPATH": pythonpath, "EMOMTL_CACHE": str(cache_dir), "HF_HUB_OFFLINE": "1"}
    local = LocalCluster(nodes=2, cpus_per_node=1, env=env)
    local.start()
    try:
        yield local
    finally:
        local.stop()
        assert local.alive() == [], "Ray processes survived the cluster's teardown"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path) -> Path:
    return real_bundle_dir(tmp_path_factory, data_dir, cache_dir)


@pytest.fixture(scope="module")
def inputs(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path
) -> tuple[Path, dict[tuple[str, int], str | None]]:
    """Real texts in six files (2 CSV, 2 JSONL, 2 Parquet) with a few bad rows; returns the
    directory and the expected (absolute source, line) -> text (None: an error row)."""
    from emomtl.data.loading import load_corpus

    semeval = load_corpus("S", data_dir).splits["train"].texts[: N_TEXTS * 6 // 10]
    emobank = load_corpus("E", data_dir).splits["train"].texts[: N_TEXTS - len(semeval)]
    texts = [t.replace("\r", " ") for t in semeval + emobank]
    directory = tmp_path_factory.mktemp("ray-inputs")
    expected: dict[tuple[str, int], str | None] = {}
    parts = [texts[i::6] for i in range(6)]
    for index, part in enumerate(parts):
        kind = ("csv", "jsonl", "parquet")[index % 3]
        path = directory / f"part{index}.{kind}"
        source = str(path.resolve())
        part = [*part[:5], "   ", *part[5:]]  # an empty text in every file
        if kind == "csv":
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(["id", "text"])
                line = 2
                for number, text in enumerate(part):
                    writer.writerow([number, text])
                    expected[(source, line)] = text if text.strip() else None
                    line += 1 + text.count("\n")
        elif kind == "jsonl":
            lines = [json.dumps({"text": t}) for t in part] + ["{not json"]
            path.write_text("\n".join(lines) + "\n", encoding="utf-8")
            for line, text in enumerate([*part, ""], start=1):
                expected[(source, line)] = text if text.strip() else None
        else:
            pq.write_table(pa.table({"text": pa.array([*part, None], pa.string())}), path)
            for line, text in enumerate([*part, None], start=1):
                expected[(source, line)] = text if text and text.strip() else None
    return directory, expected


@pytest.fixture(scope="module")
def local_table(bundle: Path, inputs, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The local backend's output, keyed by (source, line)."""
    directory, _ = inputs
    out = tmp_path_factory.mktemp("local") / "local.parquet"
    analyzer = EmotionAnalyzer.load(bundle)
    predict_table(analyzer, resolve_inputs(directory), out, batch_size=BATCH)
    return {(r["source"], r["line"]): r for r in read_table(out).to_pylist()}


def check_output(output: Path, expected: dict, local: dict) -> None:
    """One row per input row, each (source, line) once, equal to the local backend's."""
    rows = read_table(output).to_pylist()
    keys = [(r["source"], r["line"]) for r in rows]
    assert len(rows) == len(expected)
    assert len(set(keys)) == len(keys), "a row was written twice"
    assert set(keys) == set(expected)
    assert sum(r["error"] is not None for r in rows) == sum(t is None for t in expected.values())
    for row in rows:
        key = (row["source"], row["line"])
        text, reference = expected[key], local[key]
        assert (row["error"] is None) == (text is not None), key
        if text is None:
            continue
        assert row["text"] == text
        assert set(row) == set(reference)
        for name, value in reference.items():
            if isinstance(value, float):
                assert abs(row[name] - value) <= 1e-5, (key, name)
            else:
                assert row[name] == value, (key, name)


@pytest.mark.real
@pytest.mark.slow
def test_predict_on_ray_equals_local(cluster, bundle, inputs, local_table, tmp_path) -> None:
    directory, expected = inputs
    assert len(expected) > N_TEXTS  # the texts plus the bad rows
    output = tmp_path / "ray.parquet"
    result = subprocess.run(
        ray_predict(cluster, bundle, directory, output),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"wrote {len(expected)} rows from 6 file(s)" in " ".join(result.stderr.split())
    assert output.is_dir() and not list(tmp_path.glob(".ray.parquet*"))
    check_output(output, expected, local_table)
    assert len(local_table) == len(expected)


@pytest.mark.real
@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_and_duplicates_nothing(
    cluster, bundle, inputs, local_table, tmp_path
) -> None:
    directory, expected = inputs
    output = tmp_path / "ray.jsonl"
    command = ray_predict(cluster, bundle, directory, output)
    log = (tmp_path / "driver.log").open("w")
    driver = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    killed = None
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        partial = tmp_path / ".ray.jsonl.partial"
        while killed is None and driver.poll() is None and time.monotonic() < deadline:
            # mid-run: the first part files are written, so the analyzers are predicting
            analyzers = cluster.worker_pids("_Analyzer")
            if partial.is_dir() and any(partial.iterdir()) and analyzers:
                os.kill(analyzers[0], signal.SIGKILL)
                killed = analyzers[0]
            time.sleep(0.1)
        assert killed is not None, "the run ended before a worker could be killed"
        assert driver.wait(timeout=max(1, deadline - time.monotonic())) == 0
    finally:
        if driver.poll() is None:
            driver.kill()
        log.close()
    assert not running(killed)
    check_output(output, expected, local_table)


def test_a_bundle_failing_on_the_workers_fails_the_run(cluster, tmp_path) -> None:
    """The driver never loads this bundle, the workers fail to: the first error ends the run."""
    from test_bundle import make_bundle

    broken = make_bundle(tmp_path / "b")
    (broken / "model.safetensors").write_bytes(b"not safetensors")
    (tmp_path / "in.csv").write_text("text\nhello there\n")
    script = f"""
import pyarrow as pa
from pathlib import Path
from emomtl.distributed.predict import predict_on_ray
schema = pa.schema([("source", pa.string()), ("line", pa.int64()), ("error", pa.string())])
predict_on_ray(Path({str(broken)!r}), [Path({str(tmp_path / "in.csv")!r})],
               Path({str(tmp_path / "o.parquet")!r}), schema=schema,
               address={cluster.address!r}, progress=False)
"""
    pythonpath = os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": pythonpath},
    )
    assert result.returncode != 0
    assert "BundleError" in result.stderr and "cannot read safetensors weights" in result.stderr
    assert not (tmp_path / "o.parquet").exists()
    assert not list(tmp_path.glob(".o.parquet*"))


GRID = SMALL_GRID


def _test_metrics(out: Path) -> dict[str, dict]:
    return {
        str(path.relative_to(out)): json.loads(path.read_text())["test"]
        for path in sorted(out.glob("*/seed_*/metrics.json"))
    }


def test_grid_on_ray_writes_the_local_metrics(cluster, tmp_path) -> None:
    """``run_grid`` with the Ray executor: the same cells and metrics as in this process, and a
    failing setting recorded with its remote traceback while the others are written."""
    from emomtl.distributed.grid import ray_executor
    from emomtl.experiments.runner import run_grid
    from emomtl.features.encoders import EncoderSpec

    def grid(out: Path, data: dict, executor=None):
        return run_grid(
            GRID,
            out_dir=out,
            seeds=(0, 1),
            encoder=EncoderSpec(precision="fp32"),
            train_overrides={"epochs": 4, "hidden_dim": 8},
            progress=False,
            report=False,
            workers=4 if executor else 1,
            train_threads=1,
            load_fn=lambda codes, **_: {c: data[c] for c in codes},
            executor=executor,
        )

    data = {"T": learnable_task("T", 300, 8, 0), "E": learnable_task("E", 300, 8, 1)}
    here = grid(tmp_path / "here", data)
    there = grid(tmp_path / "ray", data, ray_executor(cluster.address))
    assert here.ok and there.ok and there.cells_trained == here.cells_trained == 8
    assert not ray.is_initialized()  # the executor disconnected
    expected, got = _test_metrics(tmp_path / "here"), _test_metrics(tmp_path / "ray")
    assert sorted(got) == sorted(expected) and len(got) == 8
    for cell, metrics in expected.items():
        for code, values in metrics.items():
            for name, value in values.items():
                assert got[cell][code][name] == pytest.approx(value, rel=1e-6, abs=1e-9), cell
    # resume: nothing left to train, nothing sent to Ray
    again = grid(tmp_path / "ray", data, ray_executor(cluster.address))
    assert again.ok and again.cells_trained == 0 and again.cells_skipped == 8

    data = {
        "T": learnable_task("T", 300, 8, 0),
        "E": learnable_task("E", 300, 6, 1),
    }  # T+E: widths differ
    broken = grid(tmp_path / "broken", data, ray_executor(cluster.address))
    assert {o.setting for o in broken.failures} == {
        Setting("T+E"),
        Setting("T+E", "mh", "gradnorm"),
    }
    for outcome in broken.failures:
        assert outcome.error.startswith("ValueError: tasks have features of different widths")
        assert "_check_data" in outcome.traceback  # the worker's own traceback came back
    for setting in (Setting("T"), Setting("E")):
        assert len(list((tmp_path / "broken" / setting.slug).glob("seed_*/metrics.json"))) == 2


def test_cluster_teardown_leaves_no_process() -> None:
    """Even with its ``ray start --block`` process killed outright (as a crashed harness would
    leave it), stopping the cluster leaves no process of it and no file behind."""
    local = LocalCluster(nodes=1, cpus_per_node=1)
    try:
        local.start()
        before = local.pids()
        assert len(before) > 2  # ray start, gcs_server, raylet, ...
        os.kill(local._processes[0].pid, signal.SIGKILL)
    finally:
        local.stop()
    assert local.alive() == []
    assert not any(running(pid) for pid in before)
    assert not local.temp_dir.exists()


@pytest.mark.parametrize("command", [["predict", "some text"], ["reproduce", "--quick"]])
def test_an_unknown_backend_is_refused(command: list[str], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from emomtl.cli import app

    args = [*command, "--backend", "spark"]
    if command[0] == "reproduce":
        args += ["--out", str(tmp_path / "out")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert "--backend must be local or ray, got 'spark'" in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()
