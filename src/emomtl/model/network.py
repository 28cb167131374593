"""The unbatched multi-task network: shared base layer + multi-head (MH) or shared-embedding (SE).

Paper Sec. 3.2, Eq. for the shared base layer ``q = ReLU(W^q h + b^q)`` with ``h`` the frozen
encoder feature (d = 384 for MiniLM, 768 for BERT) and ``q`` of width 256; then either

* **MH** (Sec. 3.2): one ``Linear(256, l_i)`` per task, ``p^i = act_i(W^i q + b^i)``, or
* **SE** (Sec. 3.3): one bias-free ``Linear(256, L)``, ``p^SE = act(W^SE q)``, whose output is
  sliced per task in canonical order ``[0:11] [11:16] [16:19]``. With fewer tasks, ``L`` is the
  sum of *their* widths and only their slices exist (e.g. S+E: ``[0:11] [11:14]``).
* **label** (issue 14, :mod:`emomtl.model.label_head`): ``raw_j = s_j <q, P e_j + u_0> + b_j``
  with ``e_j`` the frozen encoder's normalised, centred embedding of label ``j``'s text (buffers
  ``label_features_<code>`` ``(l_i, d)`` and ``label_center`` ``(d,)``, set with
  :meth:`MultiTaskNet.set_label_features`), ``P`` ``(h, d)`` and ``u_0`` ``(h,)`` shared by every
  space (``proj``, ``label_offset``), a bias per label (``label_bias.<code>``) and a scale per
  regression target (``label_scale.<code>``).

STL is the same network with one task. Dropout after the ReLU is configurable (default 0, the paper
text; the paper's code used 0.8).

This module is what a saved state dict loads into (bundles, prediction); training uses the
seed-batched twin :class:`emomtl.model.batched.BatchedMultiTaskNet`, which converts to and from it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from emomtl.data.tasks import Task
from emomtl.model.heads import activate, output_slices, resolve_tasks
from emomtl.model.label_head import LABEL_HEAD, embed_labels, label_center, label_logits

HEADS = ("mh", "se", LABEL_HEAD)


class MultiTaskNet(nn.Module):
    """Shared base layer and MH or SE head over frozen encoder features.

    Args:
        input_dim: encoder feature width d.
        tasks: tasks (or codes); kept in canonical order S, T, E.
        head: ``mh`` (one linear head with bias per task), ``se`` (one bias-free shared layer) or
            ``label`` (label-semantic head, :mod:`emomtl.model.label_head`).
        hidden_dim: width of the shared base layer (paper: 256).
        dropout: dropout probability after the shared ReLU (default 0).

    Buffers ``target_mean_<code>`` / ``target_std_<code>`` (shape ``(l_i,)``) hold the training-set
    mean and standard deviation of each regression task, so a saved state dict is self-contained.
    """

    def __init__(
        self,
        input_dim: int,
        tasks: Iterable[Task | str],
        head: str = "mh",
        hidden_dim: int = 256,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head {head!r} is not one of {HEADS}")
        self.tasks = resolve_tasks(tasks)
        self.head = head
        self.input_dim, self.hidden_dim = input_dim, hidden_dim
        self.slices = output_slices(self.tasks)
        self.output_dim = sum(t.num_labels for t in self.tasks)
        self.base = nn.Linear(input_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        if head == "mh":
            self.heads = nn.ModuleDict(
                {t.code: nn.Linear(hidden_dim, t.num_labels) for t in self.tasks}
            )
        elif head == "se":
            self.se = nn.Linear(hidden_dim, self.output_dim, bias=False)
        else:
            self.proj = nn.Linear(input_dim, hidden_dim, bias=False)
            self.label_offset = nn.Parameter(torch.zeros(hidden_dim))  # u_0, starts at 0
            self.label_bias = nn.ParameterDict(
                {t.code: nn.Parameter(torch.zeros(t.num_labels)) for t in self.tasks}
            )
            self.label_scale = nn.ParameterDict(
                {
                    t.code: nn.Parameter(torch.ones(t.num_labels))
                    for t in self.tasks
                    if t.kind == "regression"
                }
            )
            for task in self.tasks:
                shape = (task.num_labels, input_dim)
                self.register_buffer(f"label_features_{task.code}", torch.zeros(shape))
            self.register_buffer("label_center", torch.zeros(input_dim))
        for task in self.tasks:
            if task.kind == "regression":
                self.register_buffer(f"target_mean_{task.code}", torch.zeros(task.num_labels))
                self.register_buffer(f"target_std_{task.code}", torch.ones(task.num_labels))

    @property
    def codes(self) -> list[str]:
        """Task codes in output order."""
        return [t.code for t in self.tasks]

    def linears(self) -> list[nn.Linear]:
        """The linear layers in the fixed initialisation order: base, then heads in task order."""
        if self.head == "mh":
            return [self.base, *(self.heads[c] for c in self.codes)]
        if self.head == LABEL_HEAD:
            return [self.base, self.proj]
        return [self.base, self.se]

    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Initialise like ``nn.Linear`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias),
        drawing from ``generator`` so a seed fixes the initial network without global RNG state."""
        with torch.no_grad():
            for layer in self.linears():
                bound = 1.0 / math.sqrt(layer.in_features)
                layer.weight.uniform_(-bound, bound, generator=generator)
                if layer.bias is not None:
                    layer.bias.uniform_(-bound, bound, generator=generator)
            if self.head == LABEL_HEAD:  # per-label biases like a Linear(h, l_i)'s, scales 1
                bound = 1.0 / math.sqrt(self.hidden_dim)
                for code in self.codes:
                    self.label_bias[code].uniform_(-bound, bound, generator=generator)
                for scale in self.label_scale.values():
                    scale.fill_(1.0)
                self.label_offset.zero_()

    def forward(
        self, x: Tensor, label_features: dict[str, Tensor] | None = None
    ) -> dict[str, Tensor]:
        """Raw outputs per task: ``x (n, d) -> {code: (n, l_i)}`` (logits / standardised values).

        Args:
            x: ``(n, d)`` sentence features.
            label_features: label head only: ``{code: (l_i, d)}`` raw label-text embeddings to use
                instead of the stored buffers (normalised and centred here, differentiably), so
                an encoder fine-tuned with the head can embed the label texts in every step.
        """
        if label_features is not None and self.head != LABEL_HEAD:
            raise ValueError(f"head {self.head!r} takes no label features")
        q = self.dropout(torch.relu(self.base(x)))
        if self.head == "mh":
            return {code: self.heads[code](q) for code in self.codes}
        if self.head == LABEL_HEAD:
            if label_features is None:
                embedded = {code: self.label_features(code) for code in self.codes}
            else:
                center = label_center([label_features[code] for code in self.codes])
                embedded = {c: embed_labels(label_features[c], center) for c in self.codes}
            return {code: self._label_raw(code, q, embedded[code]) for code in self.codes}
        out = self.se(q)
        return {code: out[:, s] for code, s in self.slices.items()}

    def _label_raw(self, code: str, q: Tensor, features: Tensor) -> Tensor:
        scale = self.label_scale.get(code, 1.0)
        bias, offset = self.label_bias[code], self.label_offset
        return label_logits(q, self.proj.weight, features, bias, scale, offset)

    def hidden(self, x: Tensor) -> Tensor:
        """The shared layer ``q = ReLU(W^q x + b^q)`` ``(n, h)`` (dropout applies in training)."""
        return self.dropout(torch.relu(self.base(x)))

    def label_features(self, code: str) -> Tensor:
        """Label head: the normalised label-text embeddings of space ``code``, ``(l_i, d)``."""
        return getattr(self, f"label_features_{code}")

    def set_label_features(self, features: dict[str, Tensor]) -> None:
        """Label head: store each space's label-text embeddings ``{code: (l_i, d)}`` in the buffers
        the head reads, normalised and centred on their mean (:func:`embed_labels`; the centre
        goes to the ``label_center`` buffer)."""
        if self.head != LABEL_HEAD:
            raise ValueError(f"head {self.head!r} has no label features (only {LABEL_HEAD!r})")
        for task in self.tasks:
            value = features.get(task.code)
            buffer = self.label_features(task.code)
            if value is None or tuple(value.shape) != tuple(buffer.shape):
                got = None if value is None else tuple(value.shape)
                raise ValueError(
                    f"label head: space {task.code} needs label features of shape "
                    f"{tuple(buffer.shape)}, got {got}"
                )
        with torch.no_grad():
            center = label_center([features[task.code] for task in self.tasks])
            self.label_center.copy_(center)
            for task in self.tasks:
                self.label_features(task.code).copy_(embed_labels(features[task.code], center))

    def target_stats(self, code: str) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` buffers of regression task ``code``, each ``(l_i,)``."""
        return getattr(self, f"target_mean_{code}"), getattr(self, f"target_std_{code}")

    def activate(self, outputs: dict[str, Tensor]) -> dict[str, Tensor]:
        """Sigmoid (S) / softmax (T) probabilities; E mapped back to the original 1-5 scale."""
        result = {}
        for task in self.tasks:
            if task.code not in outputs:
                continue
            stats = self.target_stats(task.code) if task.kind == "regression" else (None, None)
            result[task.code] = activate(task, outputs[task.code], *stats)
        return result

    def se_weight(self) -> Tensor | None:
        """W_SE ``(L, hidden_dim)``, rows in task order (None for the MH head)."""
        return self.se.weight.detach() if self.head == "se" else None
