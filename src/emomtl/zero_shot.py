"""Zero-shot label sets: score labels a label-semantic model was never trained on.

A network with the label head (:mod:`emomtl.model.label_head`) turns *any* label text into an
output through its shared projection ``P``: for labels ``t_1 .. t_k`` embedded by the bundle's own
encoder (``E`` ``(k, d)``, normalised and centred like the trained labels,
:func:`emomtl.model.label_head.embed_labels`)::

    raw = q (E P^T + u_0)^T + b0   (n, k)
    multilabel:  p = sigmoid(raw)            independent probabilities
    multiclass:  p = softmax(raw, axis=-1)   one distribution (b0 cancels)

where ``q`` ``(n, h)`` is the shared layer of the texts and ``b0`` the mean trained bias of the
model's spaces of that kind (:func:`emomtl.model.label_head.zero_shot_bias`; 0 when it has none).
Zero-shot regression is refused: an untrained target has no scale or offset (for measurement,
:func:`zero_shot_raw` returns the raw scores, whose Pearson r with a target needs neither).

Label lists are checked by :func:`check_label_set`: empty lists, blank labels and duplicates
(case-insensitive) are errors naming the offending label and its position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from torch import Tensor

    from emomtl.model.network import MultiTaskNet

#: Record key of zero-shot scores in a :class:`emomtl.predict.Prediction`.
ZERO_SHOT_KEY = "zero_shot"
#: Kinds a zero-shot label set can have.
ZERO_SHOT_KINDS = ("multilabel", "multiclass")


class ZeroShotError(ValueError):
    """A zero-shot request cannot be served (no label head, bad label list or kind)."""


def check_label_set(labels: Any, kind: str) -> list[str]:
    """Validate a zero-shot label list; return the labels stripped, in order.

    Raises:
        ZeroShotError: ``kind`` is not multilabel / multiclass; the list is empty; a label is not
            a string or is blank; a label repeats (case-insensitive; names both positions); a
            multiclass set has fewer than two labels.
    """
    if kind not in ZERO_SHOT_KINDS:
        raise ZeroShotError(
            f"zero-shot kind {kind!r} is not one of {list(ZERO_SHOT_KINDS)} (a regression target "
            "never trained on has no scale, so it cannot be scored zero-shot)"
        )
    if isinstance(labels, str) or not isinstance(labels, Sequence):
        raise ZeroShotError(
            f"zero-shot labels must be a list of strings, got {type(labels).__name__}"
        )
    if not labels:
        raise ZeroShotError("the zero-shot label list is empty; give labels, e.g. ['joy', 'guilt']")
    seen: dict[str, int] = {}
    checked = []
    for index, label in enumerate(labels):
        if not isinstance(label, str):
            raise ZeroShotError(
                f"zero-shot label at index {index} is {type(label).__name__}, expected a string"
            )
        text = label.strip()
        if not text:
            raise ZeroShotError(f"zero-shot label at index {index} is empty or whitespace-only")
        key = text.casefold()
        if key in seen:
            raise ZeroShotError(
                f"zero-shot label {text!r} is duplicated (indices {seen[key]} and {index}); "
                "each label must appear once"
            )
        seen[key] = index
        checked.append(text)
    if kind == "multiclass" and len(checked) < 2:
        raise ZeroShotError(
            f"a multiclass zero-shot set needs at least two labels, got {checked!r}"
        )
    return checked


def require_label_head(net: MultiTaskNet, source: str = "this model") -> None:
    """Refuse a network without the label-semantic head, saying how to get one."""
    from emomtl.model.label_head import LABEL_HEAD

    if net.head != LABEL_HEAD:
        raise ZeroShotError(
            f"{source} has the {net.head.upper()} head, which has no output for labels it was not "
            f"trained on; zero-shot label sets need a bundle trained with `--head {LABEL_HEAD}` "
            f"(e.g. `emomtl train --tasks S+T+E --head {LABEL_HEAD} --save DIR`)"
        )


def zero_shot_raw(
    net: MultiTaskNet, features: Tensor, label_features: Tensor, kind: str | None = None
) -> Tensor:
    """Raw scores ``(n, k)`` of texts ``features (n, d)`` for labels ``label_features (k, d)``
    (unnormalised encoder features of the label texts): ``q (E P^T)^T + b0``, with ``b0`` the mean
    trained bias of ``kind`` (0 for ``kind=None``)."""
    import torch

    from emomtl.model.label_head import embed_labels, label_logits, zero_shot_bias

    require_label_head(net)
    with torch.no_grad():
        biases = {code: net.label_bias[code] for code in net.codes}
        bias = 0.0 if kind is None else zero_shot_bias(net.tasks, biases, kind)
        q = torch.relu(net.base(features.float()))
        embedded = embed_labels(label_features, net.label_center)
        return label_logits(q, net.proj.weight, embedded, bias, offset=net.label_offset)


def zero_shot_probabilities(
    net: MultiTaskNet, features: Tensor, label_features: Tensor, kind: str
) -> Tensor:
    """``(n, k)`` sigmoid (multilabel) or softmax (multiclass) probabilities of the label set."""
    import torch

    raw = zero_shot_raw(net, features, label_features, kind)
    return torch.sigmoid(raw) if kind == "multilabel" else torch.softmax(raw, dim=-1)
