"""``FinetuneModel``: a transformers encoder, sentence pooling and the multi-task head, trained
end to end.

    h = pool(encoder(input_ids, attention_mask))        (b, d)   mean pooling by default
    outputs = MultiTaskNet(h)                           {code: (b, l_i)} raw outputs

The head is exactly :class:`emomtl.model.MultiTaskNet` (shared layer ``q = ReLU(W h + b)``,
dropout, one linear head per label space - or the label-semantic head - and regression target
statistics as buffers), so its state dict is what the results store and a bundle's
``model.safetensors`` hold for frozen runs too; a fine-tuned bundle adds the encoder's weights and
tokenizer beside it.

With the label-semantic head (``head="label"``, :mod:`emomtl.model.label_head`) the label texts go
through the *same, trainable* encoder and pooling as the inputs (as in Demux), so the label vectors
move with the encoder::

    training step:  F_i = pool(encoder(label_ids_i))    (l_i, d)  with gradients, every space
                    outputs = MultiTaskNet(h, label_features=F)    centred on mean_j n(F_j)
    evaluation:     sync_label_features() stores F (no gradients) in the head's buffers, so the
                    saved state - and zero-shot labels embedded later by the saved encoder -
                    match the weights they were computed with
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from emomtl.data.tasks import Task
from emomtl.features.encoders import pad_batch
from emomtl.features.pooling import pool
from emomtl.model import MultiTaskNet
from emomtl.model.label_head import LABEL_HEAD

#: Heads a fine-tuned model can have (SE is the paper's frozen-feature variant of MH).
FINETUNE_HEADS: tuple[str, ...] = ("mh", LABEL_HEAD)


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
        head: ``mh`` | ``label`` (label-semantic; needs ``label_ids``).
        label_ids: label head: code -> the token ids of each label's text
            (:func:`emomtl.model.label_head.label_texts`, tokenized like the inputs).
        pad_id: the tokenizer's padding id (label head).
    """

    def __init__(
        self,
        encoder: nn.Module,
        tasks: Sequence[Task],
        *,
        pooling: str = "mean",
        hidden_dim: int = 256,
        dropout: float = 0.1,
        head: str = "mh",
        label_ids: Mapping[str, Sequence[Sequence[int]]] | None = None,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        if head not in FINETUNE_HEADS:
            raise ValueError(f"fine-tuning head must be one of {FINETUNE_HEADS}, got {head!r}")
        self.encoder = encoder
        self.pooling = pooling
        self.head = MultiTaskNet(
            int(encoder.config.hidden_size),
            tasks,
            head=head,
            hidden_dim=hidden_dim,
            dropout=dropout,
        )
        self.label_rows: dict[str, slice] = {}
        if head == LABEL_HEAD:
            codes = self.head.codes
            missing = [c for c in codes if label_ids is None or c not in label_ids]
            if missing:
                raise ValueError(f"label head: no label token ids for space(s) {missing}")
            assert label_ids is not None
            sequences: list[Sequence[int]] = []
            for code in codes:
                self.label_rows[code] = slice(len(sequences), len(sequences) + len(label_ids[code]))
                sequences.extend(label_ids[code])
            ids, mask = pad_batch(sequences, pad_id)
            self.register_buffer("label_input_ids", ids, persistent=False)
            self.register_buffer("label_attention_mask", mask, persistent=False)

    def label_embeddings(self) -> dict[str, Tensor]:
        """Label head: ``{code: (l_i, d)}`` pooled encoder embeddings of the label texts (with
        gradients when the model is training)."""
        pooled = self.embed(self.label_input_ids, self.label_attention_mask)
        return {code: pooled[rows].float() for code, rows in self.label_rows.items()}

    @torch.no_grad()
    def sync_label_features(self) -> None:
        """Label head: store the current encoder's label embeddings in the head's buffers (what
        evaluation, saved states and bundles use). A no-op for MH."""
        if not self.label_rows:
            return
        was_training = self.training
        self.eval()
        try:
            self.head.set_label_features(self.label_embeddings())
        finally:
            self.train(was_training)

    def embed(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        """Pooled sentence vectors ``(b, d)`` float32 of a padded batch ``(b, t)``."""
        output = self.encoder(input_ids=input_ids, attention_mask=attention_mask)
        return pool(self.pooling, output, attention_mask)

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> dict[str, Tensor]:
        """Raw outputs of every head: ``{code: (b, l_i)}`` (logits / standardised values); in
        training the label head embeds its label texts afresh (see the module docstring)."""
        features = self.embed(input_ids, attention_mask)
        if self.label_rows and self.training:
            return self.head(features, label_features=self.label_embeddings())
        return self.head(features)
