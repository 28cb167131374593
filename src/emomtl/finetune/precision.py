"""Device and precision of a fine-tuning run, resolved once and recorded in the run's config.

============  ==================================================================================
device        ``auto`` -> ``cuda`` when ``torch.cuda.is_available()`` else ``cpu``
precision     on CPU: ``auto`` -> ``bf16`` where the CPU has native bf16 (avx512_bf16 / AMX, the
              rule of :func:`emomtl.features.encoders.resolve_precision`), else ``fp32``;
              on CUDA: ``auto`` -> ``amp`` (autocast to bf16 where the GPU supports it, else
              fp16 with a gradient scaler)
============  ==================================================================================

Weights and optimizer state stay fp32 in every mode (mixed precision: the forward and backward
matmuls run in the low precision under ``torch.autocast``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Precision:
    """A resolved device/precision pair and how to run it.

    Attributes:
        device: ``cpu`` or ``cuda``.
        precision: ``fp32``, ``bf16`` (CPU autocast) or ``amp`` (CUDA autocast).
        amp_dtype: ``bfloat16`` or ``float16`` (the autocast dtype), or None for fp32.
    """

    device: str
    precision: str
    amp_dtype: str | None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The autocast context of this precision (a no-op for fp32)."""
        import torch

        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device, dtype=getattr(torch, self.amp_dtype))

    @property
    def needs_scaler(self) -> bool:
        """fp16 autocast needs loss scaling; bf16 does not."""
        return self.amp_dtype == "float16"

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "precision": self.precision, "amp_dtype": self.amp_dtype}


def resolve(precision: str = "auto", device: str = "auto") -> Precision:
    """Resolve ``precision`` (auto|fp32|bf16|amp) and ``device`` (auto|cpu|cuda) for this machine.

    Raises:
        ValueError: an unknown value, ``--device cuda`` without a GPU, ``amp`` on CPU or ``bf16``
            asked for on CUDA (use ``amp``).
    """
    import torch

    from emomtl.features.encoders import cpu_supports_bf16

    if device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, got {device!r}")
    if precision not in ("auto", "fp32", "bf16", "amp"):
        raise ValueError(f"precision must be auto, fp32, bf16 or amp, got {precision!r}")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda was given but torch sees no CUDA GPU (torch "
            f"{torch.__version__}); use --device cpu or auto"
        )
    if device == "cuda":
        if precision == "bf16":
            raise ValueError("precision bf16 is the CPU autocast mode; on CUDA use amp or fp32")
        if precision == "fp32":
            return Precision("cuda", "fp32", None)
        dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        return Precision("cuda", "amp", dtype)
    if precision == "amp":
        raise ValueError("precision amp is CUDA autocast; on CPU use bf16, fp32 or auto")
    if precision == "auto":
        precision = "bf16" if cpu_supports_bf16() else "fp32"
    return Precision("cpu", precision, "bfloat16" if precision == "bf16" else None)
