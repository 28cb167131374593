"""The run directory: what a training run writes and how it is read back (docs/design.md).

::

    DIR/
      config.json          {"train": TrainConfig, "encoder": EncoderSpec, "data": {...},
                            "emomtl_version": ...}
      command.txt          the command line that produced it
      results.json         {"setting", "seeds", "dev"|"test": {code: {metric: summary}}} with
                           summary = emomtl.stats.summarize(values): mean, ci95, sd, n, values
      seed_<k>/
        metrics.json       seed, dev and test metrics, best_epoch, epochs_run, train_size,
                           wall_time_s, finished_at   <- its presence marks a finished cell
        model.safetensors  MultiTaskNet state dict
        lambdas.safetensors    GradNorm only: "lambdas" (steps, n_tasks)
        se_weight.safetensors  SE head only: "W_SE" (sum l_i, hidden_dim)

Every file is written to a temporary name in the same directory and renamed into place, and a
seed's ``metrics.json`` is written after its tensors, so a killed run never leaves a half-written
file or a seed that looks finished but is not. Non-finite floats are stored as JSON ``null``.

Writing is possible per seed (:func:`write_seed`) so a grid runner can store cells one at a time,
skip finished ones (:func:`finished_seeds`) and aggregate at the end (:func:`write_results`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emomtl import __version__
from emomtl.stats import summarize

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from emomtl.train import SeedResult, TrainConfig, TrainOutput

CONFIG, COMMAND, RESULTS, METRICS = "config.json", "command.txt", "results.json", "metrics.json"
MODEL, LAMBDAS, SE_WEIGHT = "model.safetensors", "lambdas.safetensors", "se_weight.safetensors"


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a temporary file beside ``path``, then rename it to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # numpy / torch scalars
        return _jsonable(value.item())
    return value


def write_json(path: Path, value: Any) -> None:
    """Atomically write ``value`` as indented JSON (NaN/inf -> null)."""
    text = json.dumps(_jsonable(value), indent=2, allow_nan=False) + "\n"
    _atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_tensors(path: Path, tensors: Mapping[str, Any]) -> None:
    """Atomically write tensors (torch or numpy) as safetensors."""
    import torch
    from safetensors.torch import save_file

    plain = {k: torch.as_tensor(v).detach().contiguous().cpu() for k, v in tensors.items()}
    _atomic(path, lambda tmp: save_file(plain, str(tmp)))


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a safetensors file."""
    from safetensors.torch import load_file

    return load_file(str(path))


def seed_dir(run_dir: Path, seed: int) -> Path:
    """``run_dir/seed_<seed>``."""
    return Path(run_dir) / f"seed_{seed}"


def write_config(
    run_dir: Path,
    config: TrainConfig,
    *,
    encoder_spec: Any = None,
    data_options: Mapping[str, Any] | None = None,
    command: str | None = None,
) -> None:
    """Write ``config.json`` (and ``command.txt`` when ``command`` is given).

    ``encoder_spec`` may be a dataclass (``EncoderSpec``), a mapping or None.
    """
    encoder = (
        dataclasses.asdict(encoder_spec) if dataclasses.is_dataclass(encoder_spec) else encoder_spec
    )
    write_json(
        Path(run_dir) / CONFIG,
        {
            "train": config.to_dict(),
            "encoder": encoder,
            "data": dict(data_options or {}),
            "emomtl_version": __version__,
        },
    )
    if command is not None:
        _atomic(
            Path(run_dir) / COMMAND, lambda tmp: tmp.write_text(command + "\n", encoding="utf-8")
        )


def write_seed(run_dir: Path, result: SeedResult) -> Path:
    """Write one seed's tensors, then its ``metrics.json`` (which marks it finished)."""
    directory = seed_dir(run_dir, result.seed)
    write_tensors(directory / MODEL, result.state_dict)
    if result.lambdas is not None:
        write_tensors(directory / LAMBDAS, {"lambdas": result.lambdas})
    if result.se_weight is not None:
        write_tensors(directory / SE_WEIGHT, {"W_SE": result.se_weight})
    record = {
        "seed": result.seed,
        "dev": result.metrics["dev"],
        "test": result.metrics["test"],
        "best_epoch": result.best_epoch,
        "epochs_run": result.epochs_run,
        "train_size": result.train_size,
        "wall_time_s": result.wall_time_s,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_json(directory / METRICS, record)
    return directory


def finished_seeds(run_dir: Path) -> list[int]:
    """Seeds whose ``metrics.json`` exists, ascending."""
    seeds = []
    for path in Path(run_dir).glob(f"seed_*/{METRICS}"):
        suffix = path.parent.name.removeprefix("seed_")
        if suffix.isdigit():
            seeds.append(int(suffix))
    return sorted(seeds)


def read_seed(run_dir: Path, seed: int) -> dict[str, Any]:
    """A finished seed's ``metrics.json`` record."""
    return json.loads((seed_dir(run_dir, seed) / METRICS).read_text(encoding="utf-8"))


def aggregate(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"dev"|"test": {code: {metric: summarize(values over records)}}}``; None counts as NaN.

    Records that scored held-out spaces zero-shot (a ``zero_shot`` entry of the same shape) add
    ``"zero_shot"`` aggregated over those records."""
    result: dict[str, Any] = {}
    for split in ("dev", "test"):
        per_task: dict[str, Any] = {}
        for record in records:
            for code, metrics in record[split].items():
                for metric, value in metrics.items():
                    values = per_task.setdefault(code, {}).setdefault(metric, [])
                    values.append(math.nan if value is None else float(value))
        result[split] = {
            code: {metric: summarize(values) for metric, values in metrics.items()}
            for code, metrics in per_task.items()
        }
    held_out = [record["zero_shot"] for record in records if "zero_shot" in record]
    if held_out:
        result["zero_shot"] = aggregate(held_out)
    return result


def write_results(run_dir: Path, seeds: list[int] | None = None) -> dict[str, Any]:
    """Aggregate the finished seeds (or ``seeds``) from disk into ``results.json``; return it."""
    from emomtl.naming import run_name

    run_dir = Path(run_dir)
    seeds = finished_seeds(run_dir) if seeds is None else sorted(seeds)
    results = {"setting": run_name(read_config(run_dir)["train"]), "seeds": seeds}
    results.update(aggregate([read_seed(run_dir, s) for s in seeds]))
    write_json(run_dir / RESULTS, results)
    return _read_json(run_dir / RESULTS)


def write_run(
    output: TrainOutput,
    out_dir: Path,
    *,
    config: TrainConfig | None = None,
    encoder_spec: Any = None,
    data_options: Mapping[str, Any] | None = None,
    command: str | None = None,
) -> Path:
    """Write a run: config, command, every trained seed (tensors first, ``metrics.json`` last),
    then ``results.json`` over every finished seed of the directory that ``config.seeds`` lists.

    ``config`` defaults to ``output.config``; the grid runner passes the setting's full config
    when ``output`` holds only the seeds that were still missing, so ``results.json`` covers the
    seeds finished by earlier runs too.
    """
    out_dir = Path(out_dir)
    config = output.config if config is None else config
    write_config(
        out_dir,
        config,
        encoder_spec=encoder_spec,
        data_options=data_options,
        command=command,
    )
    for result in output.seeds:
        write_seed(out_dir, result)
    done = set(finished_seeds(out_dir))
    write_results(out_dir, [s for s in config.seeds if s in done])
    return out_dir


def _read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_config(run_dir: Path) -> dict[str, Any]:
    """``config.json`` of a run."""
    return _read_json(Path(run_dir) / CONFIG)


def read_results(run_dir: Path) -> dict[str, Any]:
    """``results.json`` of a run."""
    return _read_json(Path(run_dir) / RESULTS)


def read_run(run_dir: Path) -> dict[str, Any]:
    """``{"config", "results", "seeds": {seed: metrics record}}`` of a run directory."""
    run_dir = Path(run_dir)
    results = read_results(run_dir) if (run_dir / RESULTS).exists() else None
    seeds = {s: read_seed(run_dir, s) for s in finished_seeds(run_dir)}
    return {"config": read_config(run_dir), "results": results, "seeds": seeds}


def load_seed_tensors(run_dir: Path, seed: int) -> dict[str, Any]:
    """``{"state_dict", "lambdas" | None, "se_weight" | None}`` of one seed."""
    directory = seed_dir(run_dir, seed)
    optional = {"lambdas": (LAMBDAS, "lambdas"), "se_weight": (SE_WEIGHT, "W_SE")}
    out: dict[str, Any] = {"state_dict": read_tensors(directory / MODEL)}
    for key, (name, tensor) in optional.items():
        out[key] = read_tensors(directory / name)[tensor] if (directory / name).exists() else None
    return out
