"""Shared fixtures.

``data_dir`` points at the real corpora: ``$EMOMTL_DATA_DIR``, ``./data`` or ``../shared/data``
beside the repository. Tests marked ``real`` use it (and the real MiniLM encoder); they skip with a
clear reason when the corpora are absent. The feature cache is ``$EMOMTL_CACHE`` when set (CI shares
one across the run), else a per-session temporary directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _real_data_dir() -> Path | None:
    candidates = [
        os.environ.get("EMOMTL_DATA_DIR"),
        REPO_ROOT / "data",
        REPO_ROOT.parent / "shared" / "data",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "semeval2018-ec").is_dir():
            return Path(candidate).resolve()
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Directory holding the three real corpora (skips the test when absent)."""
    path = _real_data_dir()
    if path is None:
        pytest.skip("real corpora not found: set EMOMTL_DATA_DIR or run `emomtl data fetch`")
    return path


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Feature cache shared by the whole test session."""
    env = os.environ.get("EMOMTL_CACHE")
    if env:
        Path(env).mkdir(parents=True, exist_ok=True)
        return Path(env)
    return tmp_path_factory.mktemp("emomtl-cache")


@pytest.fixture
def clean_registry(monkeypatch: pytest.MonkeyPatch):
    """Restore the label-space registry and ``$EMOMTL_CORPORA`` after a test that adds cards."""
    from emomtl.data.tasks import CORPORA_ENV, REGISTRY, known_tasks

    known_tasks()  # the built-ins are in
    tasks, keys = dict(REGISTRY._tasks), dict(REGISTRY._keys)
    monkeypatch.delenv(CORPORA_ENV, raising=False)
    yield
    REGISTRY._tasks, REGISTRY._keys = tasks, keys
    os.environ.pop(CORPORA_ENV, None)
