"""A fine-tuning setting over N seeds, written to the results store one seed at a time.

The run directory has the layout of :mod:`emomtl.experiments.store` (``config.json``,
``command.txt``, ``results.json``, ``seed_<k>/metrics.json`` + ``model.safetensors`` holding the
head's state), so ``emomtl report`` reads fine-tuned runs beside frozen ones (their rows are
named ``MH+FT``, ``LABEL+FT``, ...). ``config.json`` also records the resolved device and
precision under ``runtime``.

Each seed is written as soon as it finishes and ``results.json`` is re-aggregated, so an
interrupted run keeps every finished seed; running the same command again skips them (a run
directory whose config differs, seeds aside, is refused rather than mixed).
"""

from __future__ import annotations

import contextlib
import math
import platform
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emomtl.finetune.config import FinetuneConfig
from emomtl.finetune.loop import FinetuneSeedResult, selection_score


class FinetuneRunError(ValueError):
    """The run directory cannot take this run (the message says why and what to do)."""


@dataclass
class FinetuneRun:
    """What :func:`run_finetune` returns.

    Attributes:
        out_dir: the run directory.
        results: the content of ``results.json``.
        runtime: resolved device/precision (``Precision.to_dict()``) plus threads and versions.
        trained: seeds trained by this call (finished ones found on disk are not retrained).
        best: the trained seed with the best mean primary dev metric, with its model (for a
            bundle); None when every seed was already finished.
        tokenizer: the encoder's tokenizer.
        encoder_spec: ``{"name", "pooling", "max_length", "precision"}`` of the fine-tuned encoder.
        config: the run's config.
    """

    out_dir: Path
    results: dict[str, Any]
    runtime: dict[str, Any]
    trained: list[int] = field(default_factory=list)
    best: FinetuneSeedResult | None = None
    tokenizer: Any = None
    encoder_spec: dict[str, Any] = field(default_factory=dict)
    config: FinetuneConfig | None = None

    def save_bundle(self, directory: Path, save_dtype: str = "fp32") -> Path:
        """Write :attr:`best` as a bundle (:func:`~emomtl.finetune.bundle.save_finetuned_bundle`).

        Raises:
            FinetuneRunError: when no trained model is in memory (every seed was finished on
                disk before this call).
        """
        from emomtl.finetune.bundle import save_finetuned_bundle

        if self.best is None or self.config is None:
            raise FinetuneRunError(
                f"every seed was already finished in {self.out_dir}, so no model is in memory to "
                "save; use a new --out to train (and save) again"
            )
        return save_finetuned_bundle(
            self.best,
            directory,
            config=self.config,
            tokenizer=self.tokenizer,
            encoder_spec=self.encoder_spec,
            save_dtype=save_dtype,
            results=self.results,
        )


def _check_existing(out_dir: Path, train: dict[str, Any]) -> None:
    from emomtl.experiments.store import CONFIG, read_config

    if not (out_dir / CONFIG).is_file():
        return
    old = read_config(out_dir).get("train", {})
    # fields added since that run was written take their defaults (a config that is not a
    # fine-tuning one stays as it is: the comparison below names the differences)
    with contextlib.suppress(TypeError, ValueError):
        old = FinetuneConfig.from_dict(old).to_dict()
    keys = sorted(k for k in set(old) | set(train) if k != "seeds" and old.get(k) != train.get(k))
    if keys:
        diff = "; ".join(f"{k}: {old.get(k)!r} -> {train.get(k)!r}" for k in keys)
        raise FinetuneRunError(
            f"{out_dir / CONFIG} holds a different run ({diff}); choose another --out or remove "
            "that directory"
        )


def write_finetune_seed(out_dir: Path, result: FinetuneSeedResult) -> Path:
    """Write the head state, then ``metrics.json`` (which marks the seed finished)."""
    from datetime import datetime, timezone

    from emomtl.experiments.store import METRICS, MODEL, seed_dir, write_json, write_tensors

    directory = seed_dir(out_dir, result.seed)
    write_tensors(directory / MODEL, result.head_state)
    record = result.record()
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_json(directory / METRICS, record)
    return directory


def run_finetune(
    config: FinetuneConfig,
    out_dir: Path,
    *,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    data_options: Mapping[str, Any] | None = None,
    command: str | None = None,
    log: Callable[[str], None] | None = None,
    limit: Mapping[str, int] | None = None,
    evaluate_untrained: bool = False,
    held_out: Sequence[str] = (),
) -> FinetuneRun:
    """Fine-tune every seed of ``config`` not yet finished in ``out_dir``; write them as they end.

    Args:
        config: the setting.
        out_dir: run directory (created; finished seeds in it are kept and skipped).
        data_dir, cache_dir: corpora and model-cache directories (None: the usual resolution).
        data_options: ``load_corpus`` options (``tales_split``, ``emobank_split``).
        command: the command line, written to ``command.txt``.
        log: called with progress lines.
        limit: split -> maximum rows per task (first rows), for tests and benchmarks; recorded.
        evaluate_untrained: also evaluate dev before training (history step 0).
        held_out: label spaces not trained on, scored zero-shot on dev and test by each seed's
            selected model (label head only; :mod:`emomtl.finetune.held_out`), written under
            ``zero_shot`` in ``metrics.json`` and ``results.json``.
    """
    import torch

    from emomtl import __version__
    from emomtl.data.tasks import parse_task_spec
    from emomtl.experiments.store import _atomic as atomic_write
    from emomtl.experiments.store import finished_seeds, write_json, write_results
    from emomtl.features.encoders import available_cores
    from emomtl.finetune.data import load_tokenized, tokenize
    from emomtl.finetune.held_out import held_out_scores, load_held_out
    from emomtl.finetune.loop import train_seed
    from emomtl.finetune.model import load_pretrained
    from emomtl.finetune.precision import resolve
    from emomtl.model.label_head import LABEL_HEAD, label_texts

    out_dir = Path(out_dir)
    if held_out and config.head != LABEL_HEAD:
        raise ValueError(
            f"held-out spaces {list(held_out)} are scored from their label texts, which needs "
            f"--head {LABEL_HEAD} (this run has {config.head!r})"
        )
    precision = resolve(config.precision, config.device)
    if precision.device == "cpu":
        torch.set_num_threads(available_cores())
    train = config.to_dict()
    _check_existing(out_dir, train)
    runtime = {
        **precision.to_dict(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    encoder_spec = {
        "name": config.encoder,
        "pooling": config.pooling,
        "max_length": config.max_length,
        "precision": precision.precision,
    }
    data_options = dict(data_options or {})
    write_json(
        out_dir / "config.json",
        {
            "train": train,
            "encoder": encoder_spec,
            "data": {**data_options, **({"limit": dict(limit)} if limit else {})},
            **({"held_out": list(held_out)} if held_out else {}),
            "runtime": runtime,
            "emomtl_version": __version__,
        },
    )
    if command is not None:
        atomic_write(out_dir / "command.txt", lambda t: t.write_text(command + "\n", "utf-8"))
    _, tokenizer, _ = load_pretrained(config.encoder, cache_dir)
    data = load_tokenized(
        parse_task_spec(config.tasks),
        tokenizer,
        config.max_length,
        data_dir=data_dir,
        data_options=data_options,
        limit=limit,
    )
    held = load_held_out(
        held_out,
        list(data),
        tokenizer,
        config.max_length,
        data_dir=data_dir,
        data_options=data_options,
        limit=limit,
    )
    label_ids = None
    if config.head == LABEL_HEAD:  # label texts are tokenized like the inputs
        label_ids = {
            code: tokenize(tokenizer, label_texts(t.task), config.max_length)
            for code, t in data.items()
        }
    done = set(finished_seeds(out_dir))
    run = FinetuneRun(
        out_dir, {}, runtime, tokenizer=tokenizer, encoder_spec=encoder_spec, config=config
    )
    best_score = -math.inf
    tasks = [t.task for t in data.values()]
    for seed in config.seeds:
        if seed in done:
            if log is not None:
                log(f"seed {seed}: finished in {out_dir}, skipped")
            continue
        _, _, encoder = load_pretrained(config.encoder, cache_dir)
        result = train_seed(
            config,
            data,
            encoder,
            seed,
            precision,
            pad_id=tokenizer.pad_token_id or 0,
            evaluate_untrained=evaluate_untrained,
            log=log,
            label_ids=label_ids,
        )
        if held:
            result.zero_shot = held_out_scores(
                result.model,
                held,
                precision=precision,
                batch_size=config.eval_batch_size,
                pad_id=tokenizer.pad_token_id or 0,
            )
        write_finetune_seed(out_dir, result)
        run.results = write_results(out_dir)
        run.trained.append(seed)
        score = selection_score(tasks, result.metrics["dev"])
        if score > best_score:
            best_score, run.best = score, result
        else:
            result.model = None
        if log is not None:
            test = ", ".join(
                f"{t.code} {result.metrics['test'][t.code][t.primary_metric]:.4f}" for t in tasks
            )
            if result.zero_shot is not None:
                test += "; zero-shot " + ", ".join(
                    f"{code} {metrics[held[code].tokens.task.primary_metric]:.4f}"
                    for code, metrics in result.zero_shot["test"].items()
                )
            log(f"seed {seed} finished in {result.wall_time_s:.0f} s: test {test}")
    if not run.results:
        run.results = write_results(out_dir)
    return run
