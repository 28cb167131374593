"""``FinetuneModel``: a transformers encoder, sentence pooling and the multi-task head, trained
end to end.

    h = pool(encoder(input_ids, attention_mask))        (b, d)   mean pooling by default
    outputs = MultiTaskNet(h)                           {code: (b, l_i)} raw outputs

The head is exactly :class:`emomtl.model.MultiTaskNet` (shared layer ``q = ReLU(W h + b)``,
dropout, one linear head per label space, regression target statistics as buffers), so its state
dict is what the results store and a bundle's ``model.safetensors`` hold for frozen runs too; a
fine-tuned bundle adds the encoder's weights and tokenizer beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from emomtl.data.tasks import Task
from emomtl.features.pooling import pool
from emomtl.model import MultiTaskNet


def load_pretrained(name: str, cache_dir: Path | None = None) -> tuple[Path, Any, nn.Module]:
    """Resolve an encoder (registry key, directory or hub id) and load tokenizer and fp32 weights.

    Returns:
        ``(model_dir, tokenizer, model)``; the model is in train mode with gradients on.
    """
    import transformers
    from transformers import AutoModel, AutoTokenizer

    from emomtl.features.cache import resolve_cache_dir
    from emomtl.features.encoders import resolve_model

    transformers.utils.logging.disable_progress_bar()
    model_dir = resolve_model(name, resolve_cache_dir(cache_dir)).path
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).float()
    return model_dir, tokenizer, model.train()


class FinetuneModel(nn.Module):
    """Encoder + pooling + :class:`MultiTaskNet` head.

    Args:
        encoder: a transformers model returning ``last_hidden_state`` (b, t, d).
        tasks: the label spaces (canonical order is kept by the head).
        pooling: ``mean`` | ``cls`` | ``pooler``.
        hidden_dim: width of the shared layer.
        dropout: dropout after the shared layer's ReLU.
    """

    def __init__(
        self,
        encoder: nn.Module,
        tasks: Sequence[Task],
        *,
        pooling: str = "mean",
        hidden_dim: int = 256,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.head = MultiTaskNet(
            int(encoder.config.hidden_size),
            tasks,
            head="mh",
            hidden_dim=hidden_dim,
            dropout=dropout,
        )

    def embed(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Pooled sentence vectors ``(b, d)`` float32 of a padded batch ``(b, t)``."""
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return pool(self.pooling, output, attention_mask)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Tensor]:
        """Raw outputs of every head: ``{code: (b, l_i)}`` (logits / standardised values)."""
        return self.head(self.embed(input_ids, attention_mask))


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, device: str | torch.device = "cpu"
) -> tuple[Tensor, Tensor]:
    """Dynamic padding: right-pad token id lists to the longest in the batch.

    Returns:
        ``(input_ids, attention_mask)``, both ``(b, max_len)`` int64.
    """
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return input_ids.to(device), mask.to(device)
