"""``emomtl train --finetune``: options -> :class:`FinetuneConfig` -> :func:`run_finetune`
(-> a bundle with ``--save``). ``cli/train.py`` parses the options and delegates here."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any


def finetune_command(
    *,
    options: dict[str, Any],
    out: Path | None,
    save: Path | None,
    save_dtype: str,
    data_dir: Path | None,
    cache_dir: Path | None,
    data_options: dict[str, str],
    as_json: bool,
    held_out: list[str] | None = None,
) -> None:
    """Run one fine-tuning setting from CLI options (None = the FinetuneConfig default).

    Args:
        options: FinetuneConfig fields given on the command line (``seeds`` as a count).
        out: run directory (default ``runs/ft__<tasks>``).
        save: bundle directory for the best seed trained in this call, or None.
        save_dtype: ``fp32`` | ``bf16`` encoder weights in the bundle.
        data_dir, cache_dir, data_options: data and cache resolution, ``load_corpus`` options.
        as_json: print ``results.json`` instead of tables.
        held_out: spaces scored zero-shot by every seed (label head), see ``run_finetune``.
    """
    from emomtl.cli.common import console, fail
    from emomtl.data.errors import DataError, MissingDataError
    from emomtl.features.encoders import EncoderError
    from emomtl.finetune.config import SAVE_DTYPES, FinetuneConfig
    from emomtl.finetune.run import FinetuneRunError, run_finetune

    values = {k: v for k, v in options.items() if v is not None}
    if "seeds" in values:
        values["seeds"] = tuple(range(int(values["seeds"])))
    if save_dtype not in SAVE_DTYPES:
        raise fail(f"--save-dtype must be one of {', '.join(SAVE_DTYPES)}, got {save_dtype!r}")
    try:
        config = FinetuneConfig(**values)
    except ValueError as exc:
        raise fail(str(exc)) from exc
    out = out or Path("runs") / f"ft__{config.tasks}"
    log = (lambda line: None) if as_json else (lambda line: console.print(line, highlight=False))
    try:
        run = run_finetune(
            config,
            out,
            data_dir=data_dir,
            cache_dir=cache_dir,
            data_options=data_options,
            command=shlex.join(["emomtl", *sys.argv[1:]]),
            log=log,
            held_out=held_out or (),
        )
    except (DataError, MissingDataError, EncoderError, FinetuneRunError, ValueError) as exc:
        raise fail(str(exc)) from exc
    if save is not None:
        try:
            run.save_bundle(save, save_dtype)
        except FinetuneRunError as exc:
            raise fail(str(exc)) from exc
    if as_json:
        print(json.dumps(run.results, indent=2))
        return
    from emomtl.cli.train import _print_tables

    _print_tables(run.results)
    console.print(
        f"run written to [bold]{out}[/] ({run.runtime['device']}, {run.runtime['precision']})"
        + (f"; bundle in [bold]{save}[/]" if save else "")
    )
