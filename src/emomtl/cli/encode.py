"""``emomtl encode``: compute (or find cached) frozen-encoder features for the corpora."""

from __future__ import annotations

from typing import Annotated

import typer

from emomtl.cli import app
from emomtl.cli.common import (
    CacheDirOption,
    CorpusOption,
    DataDirOption,
    EmobankSplitOption,
    EncoderOption,
    PrecisionOption,
    TalesSplitOption,
    console,
    fail,
    use_corpora,
)


@app.command()
def encode(
    encoder: EncoderOption = "minilm",
    pooling: Annotated[
        str, typer.Option("--pooling", help="Sentence pooling: mean | cls | pooler.")
    ] = "mean",
    max_length: Annotated[
        int, typer.Option("--max-length", help="Truncate sentences to this many tokens.")
    ] = 128,
    precision: PrecisionOption = "auto",
    tasks: Annotated[
        str, typer.Option("--tasks", help="Comma-separated task codes or names, e.g. S,T,E.")
    ] = "S,T,E",
    data_dir: DataDirOption = None,
    corpus: CorpusOption = None,
    cache_dir: CacheDirOption = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", help="Sentences per forward pass.", show_default="64"),
    ] = None,
    tales_split: TalesSplitOption = "sentence",
    emobank_split: EmobankSplitOption = "official",
) -> None:
    """Encode every split of the chosen corpora once and store the features in the cache."""
    use_corpora(corpus)
    import time

    from rich.table import Table

    from emomtl.data.loading import load_corpus
    from emomtl.data.tasks import TASKS, get_task
    from emomtl.features.cache import resolve_cache_dir
    from emomtl.features.encoders import EncoderError, EncoderSpec
    from emomtl.features.task_data import build_task_data

    try:
        spec = EncoderSpec(encoder, pooling, max_length, precision)
        wanted = {get_task(part).code for part in tasks.split(",") if part.strip()}
    except ValueError as exc:
        raise fail(str(exc)) from exc
    if not wanted:
        raise fail(f"--tasks {tasks!r} names no task; e.g. S,T,E")
    root = resolve_cache_dir(cache_dir)
    console.print(
        f"encoder [bold]{spec.name}[/] pooling={spec.pooling} max_length={spec.max_length} "
        f"precision={spec.precision} (-> {spec.resolved_precision})  cache {root}"
    )
    table = Table("task", "n (train/dev/test)", "d", "cache", "time")
    started = time.perf_counter()
    for code in (c for c in TASKS if c in wanted):
        try:
            corpus = load_corpus(
                code,
                data_dir,
                tales_split=tales_split,  # type: ignore[arg-type]
                emobank_split=emobank_split,  # type: ignore[arg-type]
            )
            data, cached = build_task_data(
                corpus, spec, cache_dir=root, progress=True, batch_size=batch_size
            )
        except (EncoderError, ValueError) as exc:  # DataError / MissingDataError are ValueErrors
            raise fail(str(exc)) from exc
        sizes = "/".join(str(len(data.ids[s])) for s in data.ids)
        table.add_row(
            f"{code} ({corpus.task.name})",
            f"{sum(len(v) for v in data.ids.values())} ({sizes})",
            str(data.dim),
            "[green]hit[/]" if cached.hit else "[yellow]miss[/]",
            f"{cached.seconds:.1f} s",
        )
    console.print(table)
    console.print(f"total {time.perf_counter() - started:.1f} s")
