"""Scale-out on Ray (the optional extra ``emomtl[ray]``): batch prediction on Ray Data
(:mod:`~emomtl.distributed.predict`), experiment grids as Ray tasks
(:mod:`~emomtl.distributed.grid`), and a loopback cluster of ``ray start`` nodes for tests and
benchmarks (:mod:`~emomtl.distributed.cluster`). Nothing here is imported unless asked for, so
emomtl works without Ray installed.
"""

from __future__ import annotations


def require_ray() -> None:
    """Raise a clear error when Ray is not installed."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:  # pragma: no cover - CI installs the extra
        raise ImportError("the ray backend needs Ray Data: pip install 'emomtl[ray]'") from exc
