"""HTTP service: the app in-process (TestClient, httpx ASGI) and the real uvicorn server."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from emomtl import EmotionAnalyzer
from emomtl.data.tasks import SEMEVAL_LABELS, TALES_LABELS
from emomtl.serve import ServeLimits, create_app
from test_bundle import FakeEncoder, make_bundle, real_bundle_dir

LIMITS = ServeLimits(max_texts=4, max_chars=40, batch_wait_ms=0)


@pytest.fixture
def analyzer(tmp_path: Path) -> EmotionAnalyzer:
    return EmotionAnalyzer.load(make_bundle(tmp_path / "b"), encoder=FakeEncoder())


@pytest.fixture
def client(analyzer: EmotionAnalyzer) -> TestClient:
    with TestClient(create_app(analyzer, LIMITS)) as client:
        yield client


def test_health_and_labels(client: TestClient) -> None:
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["tasks"] == ["S", "T", "E"]
    assert health["limits"]["max_texts"] == 4
    labels = client.get("/labels").json()
    assert labels["labels"] == {
        "semeval": list(SEMEVAL_LABELS),
        "ekman": list(TALES_LABELS),
        "vad": ["V", "A", "D"],
    }
    assert labels["threshold"] == 0.5


def test_predict_matches_the_python_api(client: TestClient, analyzer: EmotionAnalyzer) -> None:
    texts = ["a happy day", "a sad night"]
    response = client.post("/predict", json={"texts": texts})
    assert response.status_code == 200
    got = response.json()["predictions"]
    want = [p.to_dict() for p in analyzer.predict(texts)]
    assert [g["text"] for g in got] == texts
    for g, w in zip(got, want, strict=True):
        assert g["semeval"]["labels"] == w["semeval"]["labels"]
        assert g["ekman"]["top"] == w["ekman"]["top"]
        assert g["vad"] == pytest.approx(w["vad"])
        assert g["semeval"]["probabilities"] == pytest.approx(w["semeval"]["probabilities"])


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ({"texts": ["a"] * 5}, ["body", "texts"], "at most 4 items"),
        ({"texts": ["x" * 41]}, ["body", "texts", 0], "at most 40 characters"),
        ({"texts": ["ok", ""]}, ["body", "texts", 1], "at least 1 character"),
        ({"texts": ["ok", "  "]}, ["body", "texts"], "texts[1] is whitespace-only"),
        ({"texts": []}, ["body", "texts"], "at least 1 item"),
        ({"texts": "just one"}, ["body", "texts"], "valid list"),
        ({"texts": [3]}, ["body", "texts", 0], "valid string"),
        ({"text": ["a"]}, ["body", "texts"], "Field required"),
    ],
)
def test_malformed_requests_get_422_naming_the_problem(
    client: TestClient, body: dict, where: list, message: str
) -> None:
    response = client.post("/predict", json=body)
    assert response.status_code == 422
    details = response.json()["detail"]
    assert any(d["loc"] == where and message in d["msg"] for d in details), details


def test_invalid_json_is_422(client: TestClient) -> None:
    response = client.post(
        "/predict", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


def test_openapi_documents_the_limits(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/predict", "/health", "/labels"} <= set(schema["paths"])
    texts = schema["components"]["schemas"]["PredictRequest"]["properties"]["texts"]
    assert texts["maxItems"] == 4 and texts["items"]["maxLength"] == 40
    assert client.get("/docs").status_code == 200


def test_fewer_tasks_omit_missing_label_spaces(tmp_path: Path) -> None:
    analyzer = EmotionAnalyzer.load(make_bundle(tmp_path / "s", tasks="T"), encoder=FakeEncoder())
    with TestClient(create_app(analyzer, LIMITS)) as client:
        record = client.post("/predict", json={"texts": ["once upon a time"]}).json()
    assert set(record["predictions"][0]) == {"text", "truncated", "n_tokens", "ekman"}


def test_concurrent_requests_are_micro_batched(analyzer: EmotionAnalyzer) -> None:
    limits = ServeLimits(max_texts=4, max_chars=40, batch_wait_ms=100)
    app = create_app(analyzer, limits)
    requests = [
        [f"request {i} a"] if i % 2 else [f"request {i} b", f"request {i} c"] for i in range(6)
    ]

    async def run() -> list[dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            responses = await asyncio.gather(
                *(client.post("/predict", json={"texts": texts}) for texts in requests)
            )
        await app.state.batcher.close()
        return [r.json() for r in responses]

    results = asyncio.run(run())
    for texts, result in zip(requests, results, strict=True):
        assert [p["text"] for p in result["predictions"]] == texts
    assert app.state.batcher.batches_run < len(requests)
    assert analyzer.encoder.calls == app.state.batcher.batches_run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve_once(app: object, texts: list[str]) -> tuple[dict, dict]:
    """Start uvicorn on 127.0.0.1 in a thread, make two requests, stop it."""
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        health = httpx.get(f"{base}/health", timeout=10).json()
        predicted = httpx.post(f"{base}/predict", json={"texts": texts}, timeout=30).json()
    finally:
        server.should_exit = True
        thread.join(timeout=20)
    assert not thread.is_alive()
    return health, predicted


def test_real_server_on_localhost(analyzer: EmotionAnalyzer) -> None:
    health, predicted = _serve_once(create_app(analyzer, ServeLimits()), ["hello there"])
    assert health["status"] == "ok"
    assert predicted["predictions"][0]["text"] == "hello there"


@pytest.mark.real
@pytest.mark.slow
def test_real_server_with_real_bundle(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path
) -> None:
    analyzer = EmotionAnalyzer.load(real_bundle_dir(tmp_path_factory, data_dir, cache_dir))
    text = "I am so happy today, this is the best day of my life!"
    _, predicted = _serve_once(create_app(analyzer), [text])
    record = predicted["predictions"][0]
    assert record["semeval"]["probabilities"]["joy"] > record["semeval"]["probabilities"]["sadness"]
    assert record["vad"]["V"] > 3.0
