"""The seed-batched network: ``n_seeds`` independent :class:`MultiTaskNet` s as one module.

Every parameter carries a leading seed axis and the forward pass is a batched matmul
(``torch.baddbmm`` / ``torch.bmm``), so one forward/backward trains all seeds of a setting at once.
Seeds never interact: seed ``s``'s outputs depend only on slice ``s`` of every parameter, hence the
gradient of ``sum_s loss_s`` w.r.t. slice ``s`` is the gradient of ``loss_s`` alone, and Adam with
L2 weight decay is element-wise - training the stack equals training the seeds one by one.

Layout (S seeds, d input, h hidden, L = sum of the tasks' widths):

* ``base_weight (S, d, h)``, ``base_bias (S, 1, h)``: shared base layer, ``q = ReLU(x W + b)``.
* ``out_weight (S, h, L)``: the MH heads concatenated in task order (each head keeps its own
  columns, so this is exactly one ``Linear(h, l_i)`` per task), or W_SE transposed for SE.
* ``out_bias (S, 1, L)``: MH and label head (SE is bias-free, paper Sec. 3.3).
* label head (:mod:`emomtl.model.label_head`) instead of ``out_weight``: ``proj_weight (S, d, h)``
  (``P^T``), ``label_offset (S, 1, h)`` (``u_0``), buffers ``label_features (S, L, d)``
  (centred, normalised label-text embeddings, the same for every seed) and ``label_center
  (S, d)``, and ``label_scale (S, 1, R)`` for the R regression columns; the output weight is
  computed each forward: ``U = E P^T + u_0`` ``(S, L, h)``, ``raw = (q U^T) * s + b``.
* buffers ``target_mean_<code>`` / ``target_std_<code>`` ``(S, 1, l_i)`` for regression tasks.

Seeds that have stopped training are dropped with :meth:`BatchedMultiTaskNet.keep_seeds` (and their
optimiser state with :func:`keep_optimizer_rows`), so the remaining seeds no longer pay for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from emomtl.model.heads import activate, output_slices
from emomtl.model.label_head import LABEL_HEAD, embed_labels, label_center
from emomtl.model.network import MultiTaskNet


class BatchedMultiTaskNet(nn.Module):
    """``n_seeds`` multi-task networks with stacked parameters; build with :meth:`stack`."""

    def __init__(self, template: MultiTaskNet, n_seeds: int) -> None:
        super().__init__()
        self.tasks, self.head = template.tasks, template.head
        self.input_dim, self.hidden_dim = template.input_dim, template.hidden_dim
        self.dropout = template.dropout.p
        self.n_seeds = n_seeds
        self.slices = output_slices(self.tasks)
        d, h, L = template.input_dim, template.hidden_dim, template.output_dim
        self.base_weight = nn.Parameter(torch.zeros(n_seeds, d, h))
        self.base_bias = nn.Parameter(torch.zeros(n_seeds, 1, h))
        label = self.head == LABEL_HEAD
        self.out_weight = None if label else nn.Parameter(torch.zeros(n_seeds, h, L))
        self.out_bias = nn.Parameter(torch.zeros(n_seeds, 1, L)) if self.head != "se" else None
        self.proj_weight = self.label_scale = None
        if label:
            self.proj_weight = nn.Parameter(torch.zeros(n_seeds, d, h))
            self.label_offset = nn.Parameter(torch.zeros(n_seeds, 1, h))
            self.register_buffer("label_features", torch.zeros(n_seeds, L, d))
            self.register_buffer("label_center", torch.zeros(n_seeds, d))
            regression = [t for t in self.tasks if t.kind == "regression"]
            columns = [i for t in regression for i in range(L)[self.slices[t.code]]]
            self._scale_columns = torch.tensor(columns, dtype=torch.long)
            if columns:
                self.label_scale = nn.Parameter(torch.ones(n_seeds, 1, len(columns)))
        for task in self.tasks:
            if task.kind == "regression":
                shape = (n_seeds, 1, task.num_labels)
                self.register_buffer(f"target_mean_{task.code}", torch.zeros(shape))
                self.register_buffer(f"target_std_{task.code}", torch.ones(shape))

    @classmethod
    def stack(cls, nets: Sequence[MultiTaskNet]) -> BatchedMultiTaskNet:
        """Stack same-shaped networks (one per seed) into one batched module (copies the values)."""
        model = cls(nets[0], len(nets))
        with torch.no_grad():
            for s, net in enumerate(nets):
                model.base_weight[s] = net.base.weight.T
                model.base_bias[s, 0] = net.base.bias
                if model.head == "mh":
                    for code, cols in model.slices.items():
                        model.out_weight[s, :, cols] = net.heads[code].weight.T
                        model.out_bias[s, 0, cols] = net.heads[code].bias
                elif model.head == LABEL_HEAD:
                    model.proj_weight[s] = net.proj.weight.T
                    model.label_offset[s, 0] = net.label_offset
                    for code, cols in model.slices.items():
                        model.out_bias[s, 0, cols] = net.label_bias[code]
                        model.label_features[s, cols] = net.label_features(code)
                    model.label_center[s] = net.label_center
                    if model.label_scale is not None:
                        scales = torch.cat([net.label_scale[c] for c in net.label_scale])
                        model.label_scale[s, 0] = scales
                else:
                    model.out_weight[s] = net.se.weight.T
                for task in model.tasks:
                    if task.kind == "regression":
                        mean, std = net.target_stats(task.code)
                        model.target_stats(task.code)[0][s, 0] = mean
                        model.target_stats(task.code)[1][s, 0] = std
        return model

    def seed_state_dict(self, s: int, state: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """The :class:`MultiTaskNet` state dict of seed ``s``, from ``state`` (a state dict of this
        module, e.g. a best-epoch snapshot) or from the live parameters. Tensors are copies."""
        state = self.state_dict() if state is None else state
        out = {"base.weight": state["base_weight"][s].T, "base.bias": state["base_bias"][s, 0]}
        if self.head == "mh":
            for code, cols in self.slices.items():
                out[f"heads.{code}.weight"] = state["out_weight"][s, :, cols].T
                out[f"heads.{code}.bias"] = state["out_bias"][s, 0, cols]
        elif self.head == LABEL_HEAD:
            out["proj.weight"] = state["proj_weight"][s].T
            out["label_offset"] = state["label_offset"][s, 0]
            out["label_center"] = state["label_center"][s]
            start = 0
            for task in self.tasks:
                cols = self.slices[task.code]
                out[f"label_bias.{task.code}"] = state["out_bias"][s, 0, cols]
                out[f"label_features_{task.code}"] = state["label_features"][s, cols]
                if task.kind == "regression":
                    width = task.num_labels
                    out[f"label_scale.{task.code}"] = state["label_scale"][
                        s, 0, start : start + width
                    ]
                    start += width
        else:
            out["se.weight"] = state["out_weight"][s].T
        for task in self.tasks:
            if task.kind == "regression":
                for stat in ("mean", "std"):
                    out[f"target_{stat}_{task.code}"] = state[f"target_{stat}_{task.code}"][s, 0]
        return {key: value.detach().clone().contiguous() for key, value in out.items()}

    def keep_seeds(self, rows: Tensor) -> None:
        """Keep only seeds ``rows`` (int64 positions along the seed axis), in place.

        Parameters keep their Python identity (:func:`keep_seed_rows`), so an optimiser over them
        stays valid once its state is cut the same way (:func:`keep_optimizer_rows`).
        """
        for tensor in [*self.parameters(), *self.buffers()]:
            keep_seed_rows(tensor, rows)
        self.n_seeds = len(rows)

    def set_label_features(self, features: dict[str, Tensor]) -> None:
        """Label head: every seed's label-text embeddings, ``{code: (l_i, d)}`` (normalised here);
        see :meth:`MultiTaskNet.set_label_features`."""
        if self.head != LABEL_HEAD:
            raise ValueError(f"head {self.head!r} has no label features (only {LABEL_HEAD!r})")
        for task in self.tasks:
            value = features.get(task.code)
            if value is None or tuple(value.shape) != (task.num_labels, self.input_dim):
                got = None if value is None else tuple(value.shape)
                raise ValueError(
                    f"label head: space {task.code} needs label features of shape "
                    f"{(task.num_labels, self.input_dim)}, got {got}"
                )
        with torch.no_grad():
            center = label_center([features[task.code] for task in self.tasks])
            self.label_center[:] = center
            for task in self.tasks:
                embedded = embed_labels(features[task.code], center)
                self.label_features[:, self.slices[task.code]] = embedded

    def target_stats(self, code: str) -> tuple[Tensor, Tensor]:
        """``(mean, std)`` buffers of regression task ``code``, each ``(S, 1, l_i)``."""
        return getattr(self, f"target_mean_{code}"), getattr(self, f"target_std_{code}")

    def forward(
        self,
        x: Tensor,
        generators: Sequence[torch.Generator] | None = None,
        *,
        return_preactivation: bool = False,
    ) -> Tensor | tuple[Tensor, Tensor]:
        """Raw outputs of every seed.

        Args:
            x: ``(S, b, d)`` one batch per seed, or ``(n, d)`` the same rows for every seed.
            generators: one per seed; they draw the dropout masks when training with dropout > 0
                (so each seed's masks match its single-seed run).
            return_preactivation: also return the base layer's pre-activation ``z = x W + b``
                ``(S, b, h)`` (for :class:`emomtl.weighting.SharedLayer`).

        Returns:
            ``(S, b, L)`` raw outputs (task columns are :attr:`slices`), or ``(raw, z)``.
        """
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.n_seeds, -1, -1)
        z = torch.baddbmm(self.base_bias, x, self.base_weight)
        q = torch.relu(z)
        if self.training and self.dropout > 0:
            if generators is None:
                raise ValueError("dropout > 0 needs one generator per seed")
            keep = torch.stack([torch.rand(q.shape[1:], generator=g) for g in generators])
            q = q * (keep >= self.dropout) / (1.0 - self.dropout)
        if self.head == LABEL_HEAD:
            # (S, L, h): u_j = P e_j + u_0
            vectors = torch.baddbmm(self.label_offset, self.label_features, self.proj_weight)
            raw = torch.bmm(q, vectors.transpose(1, 2))
            if self.label_scale is not None:
                ones = torch.ones(raw.shape[0], 1, raw.shape[2], dtype=raw.dtype)
                raw = raw * ones.index_copy(2, self._scale_columns, self.label_scale)
            raw = raw + self.out_bias
        elif self.out_bias is None:
            raw = torch.bmm(q, self.out_weight)
        else:
            raw = torch.baddbmm(self.out_bias, q, self.out_weight)
        return (raw, z) if return_preactivation else raw

    def activate(self, code: str, raw: Tensor) -> Tensor:
        """Activate task ``code``'s raw columns ``(S, n, l_i)`` (E back on the original scale)."""
        task = next(t for t in self.tasks if t.code == code)
        stats = self.target_stats(code) if task.kind == "regression" else (None, None)
        return activate(task, raw, *stats)


def keep_seed_rows(tensor: Tensor, rows: Tensor) -> None:
    """Cut ``tensor`` to ``rows`` along its leading seed axis, in place and keeping the Python
    object (``torch.utils.swap_tensors``; assigning ``.data`` of another shape would confuse
    autograd's gradient accumulator). A leaf that requires grad stays one; its grad is dropped."""
    cut = tensor.detach()[rows].clone()
    if isinstance(tensor, nn.Parameter):
        cut = nn.Parameter(cut, requires_grad=tensor.requires_grad)
    else:
        cut.requires_grad_(tensor.requires_grad)
    tensor.grad = None
    torch.utils.swap_tensors(tensor, cut)


def keep_optimizer_rows(optimizer: torch.optim.Optimizer, rows: Tensor) -> None:
    """Cut every per-parameter state tensor of ``optimizer`` (e.g. Adam's moments) to seeds
    ``rows`` along its leading seed axis; scalar state such as Adam's ``step`` is shared by all
    seeds and stays. Pair with :meth:`BatchedMultiTaskNet.keep_seeds`."""
    for state in optimizer.state.values():
        for key, value in state.items():
            if isinstance(value, Tensor) and value.dim() > 0:
                state[key] = value[rows]
