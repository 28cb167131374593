"""emomtl: multi-task text emotion detection across disparate label spaces.

Heavy dependencies (torch, transformers) are imported lazily so that ``import emomtl`` and
``emomtl --help`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["EmotionAnalyzer", "__version__"]

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.predict import EmotionAnalyzer


def __getattr__(name: str) -> Any:
    if name == "EmotionAnalyzer":
        from emomtl.predict import EmotionAnalyzer

        return EmotionAnalyzer
    raise AttributeError(f"module 'emomtl' has no attribute {name!r}")
