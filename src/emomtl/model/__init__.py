"""Networks over frozen encoder features: MH / SE heads, unbatched and batched over seeds."""

from emomtl.model.batched import BatchedMultiTaskNet
from emomtl.model.network import HEADS, MultiTaskNet

__all__ = ["HEADS", "BatchedMultiTaskNet", "MultiTaskNet"]
