"""``emomtl serve``: the HTTP service (FastAPI + uvicorn) over a model bundle.

Needs the optional extra: ``pip install "emomtl[serve]"``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from emomtl.cli import app
from emomtl.cli.common import ModelOption, err_console, fail


@app.command("serve")
def serve(
    model: ModelOption = None,
    host: Annotated[
        str, typer.Option("--host", help="Interface to bind; 0.0.0.0 exposes it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    max_texts: Annotated[
        int, typer.Option("--max-texts", min=1, help="Most texts per request.")
    ] = 64,
    max_chars: Annotated[
        int, typer.Option("--max-chars", min=1, help="Most characters per text.")
    ] = 5000,
    batch_wait_ms: Annotated[
        float,
        typer.Option(
            "--batch-wait-ms",
            min=0.0,
            help="Micro-batching window: concurrent requests arriving within it share one "
            "forward pass (0 disables).",
        ),
    ] = 5.0,
    max_batch: Annotated[
        int, typer.Option("--max-batch", min=1, help="Most texts per merged forward pass.")
    ] = 256,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
) -> None:
    """Serve POST /predict, GET /health, GET /labels and the OpenAPI docs at /docs."""
    try:
        import uvicorn

        from emomtl.serve import ServeLimits, create_app
    except ModuleNotFoundError as exc:
        raise fail(
            f"`emomtl serve` needs FastAPI and uvicorn ({exc.name} is missing): "
            'pip install "emomtl[serve]"'
        ) from exc
    from emomtl.bundle import BundleError, default_model_dir
    from emomtl.predict import EmotionAnalyzer

    path = model if model is not None else default_model_dir()
    if model is None and not path.exists():
        raise fail(
            f"no default model at {path}. Create it with `emomtl train --preset default`, "
            "or pass --model DIR / set $EMOMTL_MODEL"
        )
    try:
        limits = ServeLimits(
            max_texts=max_texts,
            max_chars=max_chars,
            batch_wait_ms=batch_wait_ms,
            max_batch=max_batch,
        )
        with err_console.status(f"loading model {path}"):
            analyzer = EmotionAnalyzer.load(path)
    except (BundleError, ValueError) as exc:
        raise fail(str(exc)) from exc
    err_console.print(
        f"serving {path} ({'+'.join(analyzer.tasks)}) on http://{host}:{port} "
        f"- docs at http://{host}:{port}/docs"
    )
    uvicorn.run(create_app(analyzer, limits), host=host, port=port, log_level=log_level)
