"""The label-semantic head: every label's output vector comes from the encoder's view of its text.

MH gives each label a free weight vector, SE slices one bias-free layer; neither ties SemEval
*joy* to Ekman *happy*. Here a label ``j`` is described by a text ``t_j`` - its space's
``label_descriptions[j]`` when non-empty, else its name (:func:`label_texts`) - embedded once by
the *same* frozen encoder as the inputs, L2-normalised and centred on the mean ``m`` of the
trained labels' normalised embeddings (every space's; ``m`` is kept, so new label texts are centred
the same way)::

    m   = mean_j n(enc(t_j)),   n(v) = v / ||v||       (d,)     a buffer (label_center)
    e_j = n(n(enc(t_j)) - m)                            (d,)     frozen, a buffer
    u_j = P e_j + u_0                                   (h,)     P (h, d) and u_0 (h,): ONE
                                                                 projection and offset for every
                                                                 label of every space
    q   = ReLU(W^q x + b^q)                             (n, h)   the shared base layer (unchanged)
    raw_ij = s_j * <q_i, u_j> + b_j                     (n, l)   b_j: per-label bias;
                                                                 s_j: per-target scale,
                                                                 regression only (else 1)

With ``E = [e_1 .. e_l]`` ``(l, d)`` of one space: ``raw = (q (E P^T + u_0)^T) * s + b``, i.e.
``raw = q @ (E @ P.T + u_0).T * s + b``. Kinds keep their activations and losses
(:mod:`emomtl.model.heads`): sigmoid + BCE, softmax + CE, identity + MSE on standardised targets.

Why centre: sentence embeddings of emotion words share a large common component (MiniLM: mean
pairwise cosine 0.32 over the S, T, E label texts), so the directions that tell *anger* from
*disgust* are small next to it; removing ``m`` halves the condition number of ``E`` over the
trained labels, which the shared ``P`` (weight-decayed, trained with Adam) otherwise has to undo.
Centring makes the trained ``e_j`` linearly dependent (``sum_j c_j e_j = 0`` with
``c_j = |n(x_j) - m| > 0``), which would tie the outputs together (with EmoBank alone, V, A and D
would be confined to a plane: STL E r 0.32 instead of MH's 0.50); the shared offset ``u_0`` frees
that one degree of freedom again (``u_j - u_0`` may be dependent, ``u_j`` need not be), so centred
+ ``u_0`` has the capacity of the uncentred head, where ``P m`` played the part of ``u_0``.

Because ``P`` is shared and ``e_j`` is a function of the text alone, *any* label text gets an
output: :func:`label_logits` scores a label set never trained on (zero-shot). Such labels have no
trained bias; :func:`zero_shot_bias` gives them the mean trained bias of the spaces of the same
kind (a prior on how often a label fires; it cancels in a softmax), or 0 when the model has no
space of that kind, and the scale is 1.

Parameter count: ``h * d + h`` for ``P`` and ``u_0`` (98,560 for MiniLM, h = 256) plus one bias
per label (plus
one scale per regression target), against ``h * L + L`` for MH: the head does not grow with the
number of labels.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from emomtl.data.tasks import Task

#: The head's name in ``TrainConfig.head`` / ``--head``.
LABEL_HEAD = "label"


def label_texts(task: Task) -> list[str]:
    """The text each label of ``task`` is embedded from: its description when the space gives a
    non-empty one, else its name (output order)."""
    descriptions = list(task.label_descriptions)
    texts = []
    for i, name in enumerate(task.labels):
        text = descriptions[i].strip() if i < len(descriptions) else ""
        texts.append(text or name)
    return texts


def normalise(embeddings: Tensor) -> Tensor:
    """Row-wise L2 normalisation ``(l, d) -> (l, d)`` (rows of norm 0 stay 0)."""
    return embeddings / embeddings.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def label_center(features: Sequence[Tensor]) -> Tensor:
    """``m`` ``(d,)``: the mean of the trained labels' normalised embeddings (every space's)."""
    return torch.cat([normalise(f.float()) for f in features]).mean(dim=0)


def embed_labels(features: Tensor, center: Tensor) -> Tensor:
    """``e_j = normalise(normalise(enc(t_j)) - m)`` ``(l, d)``: label embeddings as the head uses
    them, centred on the trained labels' mean ``m`` (see the module docstring)."""
    return normalise(normalise(features.float()) - center)


def label_logits(
    q: Tensor,
    proj_weight: Tensor,
    label_features: Tensor,
    bias: Tensor | float = 0.0,
    scale: Tensor | float = 1.0,
    offset: Tensor | float = 0.0,
) -> Tensor:
    """``raw = (q @ (E @ P^T + u_0)^T) * s + b``.

    Args:
        q: ``(n, h)`` shared-layer activations.
        proj_weight: ``P`` ``(h, d)`` (the weight of ``nn.Linear(d, h, bias=False)``).
        label_features: ``E`` ``(l, d)`` normalised label-text embeddings.
        bias: ``(l,)`` or a scalar.
        scale: ``(l,)`` or a scalar.
        offset: ``u_0`` ``(h,)`` or a scalar.

    Returns:
        ``(n, l)`` raw outputs (logits, or standardised values for regression).
    """
    vectors = label_features @ proj_weight.T + offset  # (l, h): u_j = P e_j + u_0
    return (q @ vectors.T) * scale + bias


def label_vectors(
    proj_weight: Tensor, label_features: Tensor, offset: Tensor | float = 0.0
) -> Tensor:
    """``U = E P^T + u_0`` ``(l, h)``: the labels' vectors in the shared layer's space."""
    return label_features @ proj_weight.T + offset


def zero_shot_bias(tasks: Sequence[Task], biases: Mapping[str, Tensor], kind: str) -> float:
    """Bias of an untrained label of ``kind``: the mean trained bias over the spaces of that kind
    (``biases``: code -> ``(l_i,)``), or 0.0 when there is none."""
    values = [biases[t.code].reshape(-1) for t in tasks if t.kind == kind and t.code in biases]
    if not values:
        return 0.0
    return float(torch.cat(values).mean())


def collect_label_features(tasks: Sequence[Task], data: Mapping[str, object]) -> dict[str, Tensor]:
    """``{code: (l_i, d)}`` from each task's ``TaskData.label_features``.

    Raises:
        ValueError: naming the first space whose label features were never attached.
    """
    out = {}
    for task in tasks:
        features = getattr(data[task.code], "label_features", None)
        if features is None:
            raise ValueError(
                f"head {LABEL_HEAD!r}: space {task.code} has no label features; encode its label "
                "texts with emomtl.features.label_text.attach_label_features(data, spec) first"
            )
        out[task.code] = features
    return out
