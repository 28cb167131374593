"""HTTP service over an :class:`~emomtl.predict.EmotionAnalyzer` (FastAPI).

Endpoints (OpenAPI docs at ``/docs``, schema at ``/openapi.json``):

- ``POST /predict`` ``{"texts": ["...", ...]}`` -> ``{"predictions": [record, ...]}`` with one
  record per text in input order (the shape of :meth:`Prediction.to_dict`). With a label-semantic
  bundle, ``"labels": ["joy", "guilt"]`` (and ``"kind": "multilabel" | "multiclass"``) adds a
  ``zero_shot`` entry scored from the label texts alone (:mod:`emomtl.zero_shot`); an empty or
  duplicated label list is a 422 naming it, a bundle without the head a 400.
- ``GET /health`` -> status, model tasks, encoder and limits.
- ``GET /labels`` -> label names and descriptions of every label space, and the multi-label
  threshold. The response schema is built from the loaded bundle's spaces.

Malformed bodies, too many texts, too long, empty or whitespace-only texts are rejected by pydantic
validation with 422 and a message naming the offending item (``loc`` points at it).

Concurrent requests are micro-batched: the first waiting request opens a window of
``batch_wait_ms`` milliseconds, every request that arrives within it joins the same forward pass
(up to ``max_batch`` texts, exceeded by at most one request), and each caller gets back its own
slice. Inference runs on one worker thread, so the event loop stays responsive.

FastAPI and uvicorn are the optional extra ``serve``: ``pip install "emomtl[serve]"``.
"""

# No ``from __future__ import annotations`` here: FastAPI and pydantic resolve the annotations of
# the locally defined request model and endpoints at runtime.

import asyncio
import contextlib
import functools
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

try:
    from fastapi import FastAPI, HTTPException
    from pydantic import (
        BaseModel,
        ConfigDict,
        Field,
        StringConstraints,
        create_model,
        field_validator,
    )
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    raise ModuleNotFoundError(
        f"the HTTP service needs FastAPI and uvicorn ({exc.name} is missing): "
        'pip install "emomtl[serve]"',
        name=exc.name,
    ) from exc

from emomtl import __version__
from emomtl.predict import EmotionAnalyzer, Prediction

SERVE_EXTRA_HINT = 'pip install "emomtl[serve]"'


@dataclass(frozen=True)
class ServeLimits:
    """Request limits and micro-batching settings.

    Attributes:
        max_texts: most texts in one ``POST /predict``.
        max_chars: most characters in one text.
        batch_wait_ms: micro-batching window in milliseconds; 0 runs every request on its own.
        max_batch: texts per merged forward pass.
    """

    max_texts: int = 64
    max_chars: int = 5000
    batch_wait_ms: float = 5.0
    max_batch: int = 256

    def __post_init__(self) -> None:
        for name in ("max_texts", "max_chars", "max_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_wait_ms < 0:
            raise ValueError(f"batch_wait_ms must be >= 0, got {self.batch_wait_ms}")


class MultilabelOut(BaseModel):
    """A multi-label space: independent probabilities and the labels at or above the threshold."""

    probabilities: dict[str, float]
    labels: list[str]


class MulticlassOut(BaseModel):
    """A single-label space: a probability distribution over its classes and the top class."""

    probabilities: dict[str, float]
    top: str


class ZeroShotOut(BaseModel):
    """A label set scored zero-shot: multilabel (``labels``) or multiclass (``top``)."""

    probabilities: dict[str, float]
    labels: list[str] | None = None
    top: str | None = None
    zero_shot: bool = True


def _response_model(analyzer: EmotionAnalyzer) -> type[BaseModel]:
    """``POST /predict``'s response model with one field per label space of ``analyzer``.

    Built from the bundle's self-described spaces, so the OpenAPI schema names every space and
    its shape (multilabel / multiclass / regression) for whichever spaces the model has.
    """
    fields: dict[str, Any] = {
        "text": (str, ...),
        "truncated": (
            bool,
            Field(description="the text exceeded the encoder's max length and was cut"),
        ),
        "n_tokens": (int, Field(description="untruncated length in encoder tokens")),
    }
    for task in analyzer.spaces:
        shape = {
            "multilabel": MultilabelOut,
            "multiclass": MulticlassOut,
            "regression": dict[str, float],
        }[task.kind]
        description = f"{task.title} ({task.kind}): {', '.join(task.labels)}"
        fields[task.record_key] = (shape | None, Field(None, description=description))
    fields.setdefault(
        "zero_shot",
        (
            ZeroShotOut | None,
            Field(None, description="the request's `labels`, scored zero-shot (label head only)"),
        ),
    )
    record = create_model("PredictionOut", __doc__="Every label space of one text.", **fields)
    return create_model(
        "PredictResponse",
        __doc__="One prediction per input text, in input order.",
        predictions=(list[record], ...),  # type: ignore[valid-type]
    )


def _request_model(limits: ServeLimits) -> type[BaseModel]:
    """The ``POST /predict`` body model with ``limits`` baked into its JSON schema."""
    Text = Annotated[str, StringConstraints(min_length=1, max_length=limits.max_chars)]

    class PredictRequest(BaseModel):
        """Texts to analyse."""

        model_config = ConfigDict(
            extra="forbid",
            json_schema_extra={"examples": [{"texts": ["I can't believe we won!"]}]},
        )
        texts: list[Text] = Field(
            min_length=1,
            max_length=limits.max_texts,
            description=f"1 to {limits.max_texts} non-blank texts of at most "
            f"{limits.max_chars} characters",
        )

        kind: Literal["multilabel", "multiclass"] = Field(
            "multilabel",
            description="kind of the zero-shot label set (checked before `labels`)",
        )
        labels: list[str] | None = Field(
            None,
            description="a label set to score zero-shot with a label-semantic bundle, "
            'e.g. ["joy", "shame", "guilt"]',
        )

        @field_validator("labels")
        @classmethod
        def _label_set(cls, labels: list[str] | None, info: Any) -> list[str] | None:
            from emomtl.zero_shot import check_label_set

            if labels is None:
                return None
            return check_label_set(labels, info.data.get("kind", "multilabel"))

        @field_validator("texts")
        @classmethod
        def _not_blank(cls, texts: list[str]) -> list[str]:
            for index, text in enumerate(texts):
                if not text.strip():
                    raise ValueError(
                        f"texts[{index}] is whitespace-only; there is nothing to analyse"
                    )
            return texts

    return PredictRequest


class MicroBatcher:
    """Merge concurrent ``predict`` calls into shared forward passes on one worker thread."""

    def __init__(self, analyzer: EmotionAnalyzer, *, wait_s: float, max_batch: int) -> None:
        self.analyzer = analyzer
        self.wait_s = wait_s
        self.max_batch = max_batch
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="emomtl-predict")
        self._queue: asyncio.Queue[tuple[list[str], asyncio.Future[list[Prediction]]]] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.batches_run = 0

    async def predict(self, texts: list[str]) -> list[Prediction]:
        """Predict ``texts``, possibly together with other callers' texts."""
        loop = asyncio.get_running_loop()
        if self.wait_s <= 0:
            self.batches_run += 1
            return await loop.run_in_executor(self.executor, self.analyzer.predict, texts)
        queue = self._ensure_worker(loop)
        future: asyncio.Future[list[Prediction]] = loop.create_future()
        await queue.put((texts, future))
        return await future

    def _ensure_worker(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue:
        # One worker per event loop (a test client may run each request on a fresh loop).
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run(self._queue))
        assert self._queue is not None
        return self._queue

    async def _run(self, queue: asyncio.Queue) -> None:
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await queue.get()]
            await asyncio.sleep(self.wait_s)
            size = len(jobs[0][0])
            while size < self.max_batch and not queue.empty():
                job = queue.get_nowait()
                jobs.append(job)
                size += len(job[0])
            texts = [text for job_texts, _ in jobs for text in job_texts]
            self.batches_run += 1
            try:
                records = await loop.run_in_executor(self.executor, self.analyzer.predict, texts)
            except Exception as exc:  # hand the failure to every waiting caller
                for _, future in jobs:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for job_texts, future in jobs:
                if not future.done():
                    future.set_result(records[start : start + len(job_texts)])
                start += len(job_texts)

    async def close(self) -> None:
        """Stop the worker and the inference thread."""
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self.executor.shutdown(wait=False)


def create_app(analyzer: EmotionAnalyzer, limits: ServeLimits | None = None) -> FastAPI:
    """Build the FastAPI app serving ``analyzer`` under ``limits`` (default ServeLimits())."""
    from contextlib import asynccontextmanager

    limits = limits or ServeLimits()
    batcher = MicroBatcher(
        analyzer, wait_s=limits.batch_wait_ms / 1000.0, max_batch=limits.max_batch
    )
    PredictRequest = _request_model(limits)
    PredictResponse = _response_model(analyzer)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        await batcher.close()

    app = FastAPI(
        title="emomtl",
        version=__version__,
        summary="Text emotion in every label space at once: "
        + ", ".join(task.title for task in analyzer.spaces)
        + ".",
        lifespan=lifespan,
    )
    app.state.analyzer = analyzer
    app.state.batcher = batcher
    app.state.limits = limits

    @app.post(
        "/predict",
        response_model=PredictResponse,  # type: ignore[valid-type]
        response_model_exclude_none=True,
    )
    async def predict(request: PredictRequest) -> dict[str, Any]:  # type: ignore[valid-type]
        """Predict every label space of each text (and `labels` zero-shot, when given)."""
        if request.labels is not None:  # a request's own label set: not merged with others
            from emomtl.zero_shot import ZeroShotError, require_label_head

            try:
                require_label_head(analyzer.model, "the served model")
            except ZeroShotError as exc:
                raise HTTPException(status_code=400, detail=str(exc)) from exc
            call = functools.partial(
                analyzer.predict, list(request.texts), labels=request.labels, kind=request.kind
            )
            loop = asyncio.get_running_loop()
            records = await loop.run_in_executor(batcher.executor, call)
            return {"predictions": [record.to_dict() for record in records]}
        records = await batcher.predict(list(request.texts))
        return {"predictions": [record.to_dict() for record in records]}

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and a description of the loaded model."""
        config = analyzer.config
        return {
            "status": "ok",
            "emomtl_version": __version__,
            "model": str(analyzer.path) if analyzer.path else None,
            "tasks": analyzer.tasks,
            "spaces": {t.record_key: {"code": t.code, "kind": t.kind} for t in analyzer.spaces},
            "head": config.head,
            "zero_shot": config.head == "label",
            "encoder": config.encoder,
            "limits": asdict(limits),
        }

    @app.get("/labels")
    async def labels() -> dict[str, Any]:
        """Label names of every label space, in output order, the spaces' descriptions and the
        multi-label threshold."""
        return {
            "labels": analyzer.labels,
            "spaces": analyzer.describe_spaces(),
            "threshold": analyzer.threshold,
        }

    return app
