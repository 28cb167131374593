"""EmotionAnalyzer: one text in, every label space out.

>>> from emomtl import EmotionAnalyzer
>>> analyzer = EmotionAnalyzer.load("models/NAME")          # or .load() for the default bundle
>>> analyzer.predict("I can't believe we won!").to_dict()
{'text': ..., 'truncated': False, 'n_tokens': 10,
 'semeval': {'probabilities': {'anger': 0.01, ..., 'joy': 0.93, ...}, 'labels': ['joy', ...]},
 'ekman': {'probabilities': {'anger-disgust': 0.02, ..., 'happy': 0.88, ...}, 'top': 'happy'},
 'vad': {'V': 4.1, 'A': 3.5, 'D': 3.2}}

A record has one entry per label space of the bundle, keyed by the space's record key
(``semeval``, ``ekman``, ``vad``, ``goemotions``, a card's name), shaped by the space's kind:

- multilabel: ``{"probabilities": {label: p}, "labels": [labels with p >= threshold]}``
- multiclass: ``{"probabilities": {class: p}, "top": most probable class}``
- regression: ``{target: value}`` on the corpus's own scale

Flat rows (:meth:`Prediction.to_flat`, DataFrames, CSV output) have one column per label,
``<space>_<label>``, plus ``<space>_labels`` (multilabel, ";"-joined) or ``<space>_top``
(multiclass). Nothing here depends on which corpus a space came from.

Policies:

- **Threshold**: a multi-label label is present when its probability is ``>= threshold`` (0.5 by
  default, the rule the metrics use too).
- **Empty or whitespace-only text** is an error: :meth:`EmotionAnalyzer.predict` raises
  :class:`ValueError` naming the index of the first such text (an emotion cannot be read from
  nothing, and a silent neutral-looking record would be mistaken for a prediction). Non-string
  items raise :class:`TypeError`. The CLI turns such rows into output rows with an ``error`` field.
- **Long text** is truncated to the encoder's ``max_length`` tokens (special tokens included), and
  the record's ``truncated`` flag is set; ``n_tokens`` is the untruncated length.
- **Zero-shot label sets** (label-semantic bundles, ``--head label``):
  ``predict(texts, labels=["joy", "shame", "guilt"], kind="multilabel" | "multiclass")`` adds a
  ``zero_shot`` space to every record (``{"probabilities", "labels" | "top", "zero_shot": true}``)
  scored from the label texts alone (:mod:`emomtl.zero_shot`); a bundle without the head, an
  empty list or a duplicated label is a :class:`~emomtl.zero_shot.ZeroShotError` naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

from emomtl.bundle import (
    BundleConfig,
    build_model,
    check_encoder,
    default_model_dir,
    load_bundle,
)
from emomtl.data.tasks import Task

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch


class Encoder(Protocol):
    """What the analyzer needs from an encoder (``FrozenEncoder`` satisfies it)."""

    dim: int
    weights_hash: str

    def encode_with_lengths(
        self, texts: list[str], *, batch_size: int | None = None, progress: bool = False
    ) -> tuple[torch.Tensor, list[int]]:
        """``(n, d)`` features and each text's untruncated length in tokens (special tokens
        included), so that truncated texts can be flagged."""
        ...


@dataclass(frozen=True)
class SpacePrediction:
    """One label space's output for one text.

    Attributes:
        key: the space's record key (``semeval``, ``ekman``, ``vad``, a card's name).
        kind: ``multilabel`` | ``multiclass`` | ``regression``.
        scores: label -> probability (multilabel: independent sigmoids; multiclass: a softmax
            distribution) or target -> value (regression), in output order.
        labels: multilabel only: the labels with probability ``>= threshold``, in output order.
        top: multiclass only: the most probable class.
        zero_shot: True when the labels were never trained on (scored from their texts by a
            label-semantic model, :mod:`emomtl.zero_shot`).
    """

    key: str
    kind: str
    scores: dict[str, float]
    labels: tuple[str, ...] | None = None
    top: str | None = None
    zero_shot: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The record entry of the space (shape by kind, see the module docstring)."""
        flag = {"zero_shot": True} if self.zero_shot else {}
        if self.kind == "multilabel":
            return {"probabilities": dict(self.scores), "labels": list(self.labels or ()), **flag}
        if self.kind == "multiclass":
            return {"probabilities": dict(self.scores), "top": self.top, **flag}
        return dict(self.scores)

    def to_flat(self) -> dict[str, Any]:
        """Flat columns ``<key>_<label>`` plus ``<key>_labels`` / ``<key>_top``."""
        row: dict[str, Any] = {f"{self.key}_{k}": v for k, v in self.scores.items()}
        if self.kind == "multilabel":
            row[f"{self.key}_labels"] = ";".join(self.labels or ())
        elif self.kind == "multiclass":
            row[f"{self.key}_top"] = self.top
        return row


@dataclass(frozen=True)
class Prediction:
    """Every label space of one text.

    Attributes:
        text: the input text.
        truncated: True when the text was longer than the encoder's max length and was cut.
        n_tokens: length of the untruncated text in encoder tokens (special tokens included).
        spaces: record key -> :class:`SpacePrediction`, in the bundle's output order; also
            reachable as ``record["semeval"]``.
    """

    text: str
    truncated: bool
    n_tokens: int
    spaces: dict[str, SpacePrediction] = field(default_factory=dict)

    def __getitem__(self, key: str) -> SpacePrediction:
        try:
            return self.spaces[key]
        except KeyError:
            raise KeyError(
                f"no label space {key!r} in this prediction; it has {list(self.spaces)}"
            ) from None

    def __contains__(self, key: object) -> bool:
        return key in self.spaces

    def to_dict(self) -> dict[str, Any]:
        """Nested JSON-ready dict: text, flags, then one entry per label space."""
        record: dict[str, Any] = {
            "text": self.text,
            "truncated": self.truncated,
            "n_tokens": self.n_tokens,
        }
        record.update({key: space.to_dict() for key, space in self.spaces.items()})
        return record

    def to_flat(self) -> dict[str, Any]:
        """One flat row of scalars (see :meth:`SpacePrediction.to_flat`)."""
        row: dict[str, Any] = {
            "text": self.text,
            "truncated": self.truncated,
            "n_tokens": self.n_tokens,
        }
        for space in self.spaces.values():
            row.update(space.to_flat())
        return row


def validate_texts(texts: Sequence[Any]) -> list[str]:
    """Check every item is a non-blank string; return them as a list.

    Raises:
        TypeError: an item is not a string (names its index and type).
        ValueError: an item is empty or whitespace-only (names its index).
    """
    checked: list[str] = []
    for index, text in enumerate(texts):
        problem = text_problem(text)
        if problem is not None:
            error = TypeError if not isinstance(text, str) else ValueError
            raise error(f"text at index {index}: {problem}")
        checked.append(text)
    return checked


def text_problem(text: Any) -> str | None:
    """Why ``text`` cannot be analysed, or None when it can."""
    if not isinstance(text, str):
        return f"expected a string, got {type(text).__name__}"
    if not text.strip():
        return "text is empty or whitespace-only; there is nothing to analyse"
    return None


class EmotionAnalyzer:
    """A trained MultiTaskNet together with its frozen encoder.

    Args:
        model: a MultiTaskNet (``forward(x) -> {code: raw}``, ``activate(raw) -> {code: values}``).
        encoder: the encoder the model was trained on (see :class:`Encoder`).
        config: the bundle config describing ``model`` (spaces, labels, encoder spec, threshold).
        threshold: multi-label probability at or above which a label is reported (default: the
            bundle's).
        batch_size: texts per encoder forward pass.
        chunk_size: texts handed to the encoder at once; the encoder sorts each chunk by length
            so batches pad little, and memory stays bounded by it.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        encoder: Encoder,
        config: BundleConfig,
        *,
        threshold: float | None = None,
        batch_size: int = 64,
        chunk_size: int = 1024,
    ) -> None:
        if encoder.dim != config.input_dim:
            raise ValueError(
                f"encoder dimension {encoder.dim} does not match the model's input_dim "
                f"{config.input_dim}"
            )
        if batch_size < 1 or chunk_size < 1:
            raise ValueError(
                f"batch_size and chunk_size must be >= 1, got {batch_size}, {chunk_size}"
            )
        self.model = model.eval()
        self.encoder = encoder
        self.config = config
        self.threshold = config.threshold if threshold is None else float(threshold)
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        self.batch_size, self.chunk_size = batch_size, chunk_size
        self.max_length = int(config.encoder.get("max_length", 128))
        self.spaces: list[Task] = config.task_specs
        # code -> threshold per label, resolved once (not per label per record)
        tuned = {} if threshold is not None else dict(config.label_thresholds or {})
        self._thresholds: dict[str, list[float]] = {
            task.code: list(tuned.get(task.code, [self.threshold] * task.num_labels))
            for task in self.spaces
        }
        self.metrics: dict[str, Any] = {}
        self.path: Path | None = None
        self._label_cache: dict[str, torch.Tensor] = {}  # zero-shot label text -> (d,) features

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        encoder: Encoder | None = None,
        threshold: float | None = None,
        batch_size: int = 64,
        chunk_size: int = 1024,
    ) -> EmotionAnalyzer:
        """Load a bundle directory (default: :func:`emomtl.bundle.default_model_dir`).

        The encoder named in the bundle is loaded (unless one is given) and its weights hash is
        checked against the bundle's.

        Raises:
            emomtl.bundle.BundleError: missing/incomplete/corrupt bundle, a newer format version,
                or an encoder with other weights.
        """
        path = default_model_dir() if path is None else Path(path)
        bundle = load_bundle(path)
        if encoder is None:
            from emomtl.finetune.bundle import bundle_encoder

            # the installed encoder, or the fine-tuned one the bundle carries (verified)
            encoder = bundle_encoder(bundle)
        check_encoder(bundle.config, encoder.weights_hash, source=path)
        model = build_model(bundle.config, bundle.state_dict)
        analyzer = cls(
            model,
            encoder,
            bundle.config,
            threshold=threshold,
            batch_size=batch_size,
            chunk_size=chunk_size,
        )
        analyzer.metrics = bundle.metrics
        analyzer.path = path
        return analyzer

    def label_threshold(self, code: str, label: str) -> float:
        """The threshold of one label (reported when ``p >= t``): the bundle's dev-tuned
        per-label value when it has one and no ``threshold`` was passed, else ``threshold``."""
        return self._thresholds[code][self.config.labels[code].index(label)]

    @property
    def tasks(self) -> list[str]:
        """Codes of the model's label spaces, in output order, e.g. ``["S", "T", "E"]``."""
        return list(self.config.tasks)

    @property
    def labels(self) -> dict[str, list[str]]:
        """Record key (``semeval``, ``ekman``, ``vad``, ...) -> label names in output order."""
        return {task.record_key: list(task.labels) for task in self.spaces}

    def describe_spaces(self) -> list[dict[str, Any]]:
        """Every label space of the model: code, name, record key, kind, labels, metric."""
        return [task.to_dict() for task in self.spaces]

    @overload
    def predict(
        self, texts: str, *, labels: Sequence[str] | None = None, kind: str = "multilabel"
    ) -> Prediction: ...

    @overload
    def predict(
        self, texts: Sequence[str], *, labels: Sequence[str] | None = None, kind: str = "multilabel"
    ) -> list[Prediction]: ...

    def predict(
        self,
        texts: str | Sequence[str],
        *,
        labels: Sequence[str] | None = None,
        kind: str = "multilabel",
    ) -> Prediction | list[Prediction]:
        """Predict every label space of one text (returns one record) or many (returns a list).

        Args:
            texts: one text or a sequence of texts.
            labels: a label set to score zero-shot (label-semantic bundles only): each record
                gains a ``zero_shot`` space over these labels (see :mod:`emomtl.zero_shot`).
            kind: the zero-shot set's kind, ``multilabel`` (independent probabilities) or
                ``multiclass`` (one distribution).

        Raises:
            ValueError: a text is empty or whitespace-only (the message names its index).
            TypeError: an item is not a string.
            emomtl.zero_shot.ZeroShotError: ``labels`` given to a bundle without the label head,
                or an empty / duplicated label list, or another kind.
        """
        if isinstance(texts, str):
            return self.predict([texts], labels=labels, kind=kind)[0]
        zero_shot = self._zero_shot_labels(labels, kind)
        checked = validate_texts(list(texts))
        records: list[Prediction] = []
        for start in range(0, len(checked), self.chunk_size):
            chunk = checked[start : start + self.chunk_size]
            records.extend(self._predict_chunk(chunk, zero_shot))
        return records

    def predict_dataframe(
        self, data: pd.DataFrame | Sequence[str], column: str | None = None
    ) -> pd.DataFrame:
        """Predictions as a DataFrame with one flat row per text (see :meth:`Prediction.to_flat`).

        Args:
            data: a sequence of texts, or a DataFrame whose ``column`` holds the texts (the result
                then keeps ``data``'s index).
            column: required with a DataFrame: the text column.
        """
        import pandas as pd

        if isinstance(data, pd.DataFrame):
            if column is None:
                raise ValueError("column= is required when data is a DataFrame")
            if column not in data.columns:
                raise KeyError(
                    f"column {column!r} not in the DataFrame (columns: {list(data.columns)})"
                )
            texts, index = data[column].tolist(), data.index
        else:
            if isinstance(data, str):
                data = [data]
            texts, index = list(data), None
        rows = [p.to_flat() for p in self.predict(texts)]
        return pd.DataFrame(rows, index=index, columns=self.flat_columns())

    def flat_columns(
        self, labels: Sequence[str] | None = None, kind: str = "multilabel"
    ) -> list[str]:
        """Column names of :meth:`predict_dataframe` / :meth:`Prediction.to_flat`, in order (with
        a zero-shot label set's columns after the trained spaces' when ``labels`` is given)."""
        columns = ["text", "truncated", "n_tokens"]
        spaces = list(self.spaces)
        if labels is not None:
            spaces.append(self.zero_shot_space(labels, kind))
        for task in spaces:
            columns += [f"{task.record_key}_{label}" for label in task.labels]
            if task.kind == "multilabel":
                columns.append(f"{task.record_key}_labels")
            elif task.kind == "multiclass":
                columns.append(f"{task.record_key}_top")
        return columns

    def iter_predict(
        self,
        texts: Sequence[str],
        *,
        labels: Sequence[str] | None = None,
        kind: str = "multilabel",
    ) -> Iterator[Prediction]:
        """Like :meth:`predict` on a list, but yields records chunk by chunk."""
        zero_shot = self._zero_shot_labels(labels, kind)
        checked = validate_texts(list(texts))
        for start in range(0, len(checked), self.chunk_size):
            yield from self._predict_chunk(checked[start : start + self.chunk_size], zero_shot)

    def zero_shot_space(self, labels: Sequence[str], kind: str = "multilabel") -> Task:
        """A zero-shot label set as a :class:`Task` (record key ``zero_shot``), for display."""
        from emomtl.data.tasks import DEFAULT_METRIC
        from emomtl.zero_shot import ZERO_SHOT_KEY, check_label_set

        names = tuple(check_label_set(labels, kind))
        return Task(
            code=ZERO_SHOT_KEY,
            name=ZERO_SHOT_KEY,
            kind=kind,  # type: ignore[arg-type]
            labels=names,
            primary_metric=DEFAULT_METRIC[kind],
            higher_is_better=True,
            description=f"zero-shot {kind} label set",
            record_key=ZERO_SHOT_KEY,
            title="zero-shot",
        )

    # ----------------------------------------------------------------------------------------------

    def _zero_shot_labels(
        self, labels: Sequence[str] | None, kind: str
    ) -> tuple[list[str], str, torch.Tensor] | None:
        """Check a zero-shot request; return its labels, kind and label features ``(k, d)``."""
        if labels is None:
            return None
        import torch

        from emomtl.zero_shot import (
            ZERO_SHOT_KEY,
            ZeroShotError,
            check_label_set,
            require_label_head,
        )

        names = check_label_set(labels, kind)
        require_label_head(self.model, f"the bundle {self.path}" if self.path else "this model")
        if any(task.record_key == ZERO_SHOT_KEY for task in self.spaces):
            raise ZeroShotError(f"a trained space already uses the record key {ZERO_SHOT_KEY!r}")
        missing = [name for name in names if name not in self._label_cache]
        if missing:  # label texts are encoded once per analyzer, by the bundle's own encoder
            features, _ = self.encoder.encode_with_lengths(missing, batch_size=self.batch_size)
            for name, row in zip(missing, features.to(torch.float32), strict=True):
                self._label_cache[name] = row
        return names, kind, torch.stack([self._label_cache[name] for name in names])

    def _predict_chunk(
        self,
        texts: list[str],
        zero_shot: tuple[list[str], str, torch.Tensor] | None = None,
    ) -> list[Prediction]:
        import torch

        if not texts:
            return []
        with torch.inference_mode():
            features, n_tokens = self.encoder.encode_with_lengths(texts, batch_size=self.batch_size)
            features = features.to(torch.float32)
            outputs = self.model.activate(self.model(features))
            extra = None
            if zero_shot is not None:
                from emomtl.zero_shot import zero_shot_probabilities

                names, kind, label_features = zero_shot
                probs = zero_shot_probabilities(self.model, features, label_features, kind)
                extra = (names, kind, probs.to("cpu", torch.float64).tolist())
        values = {
            code: outputs[code].detach().to("cpu", torch.float64).tolist() for code in outputs
        }
        records = [
            self._record(text, n, {code: rows[i] for code, rows in values.items()})
            for i, (text, n) in enumerate(zip(texts, n_tokens, strict=True))
        ]
        if extra is not None:
            names, kind, rows = extra
            for record, row in zip(records, rows, strict=True):
                record.spaces.update(self._zero_shot_entry(names, kind, row))
        return records

    def _zero_shot_entry(
        self, names: list[str], kind: str, row: list[float]
    ) -> dict[str, SpacePrediction]:
        from emomtl.zero_shot import ZERO_SHOT_KEY

        thresholds = [self.threshold] * len(names)
        space = _space_prediction(ZERO_SHOT_KEY, kind, names, row, thresholds, zero_shot=True)
        return {ZERO_SHOT_KEY: space}

    def _record(self, text: str, n_tokens: int, values: Mapping[str, list[float]]) -> Prediction:
        spaces = {
            task.record_key: _space_prediction(
                task.record_key,
                task.kind,
                task.labels,
                values[task.code],
                self._thresholds[task.code],
            )
            for task in self.spaces
        }
        return Prediction(
            text=text, truncated=n_tokens > self.max_length, n_tokens=n_tokens, spaces=spaces
        )


def _space_prediction(
    key: str,
    kind: str,
    names: Sequence[str],
    row: Sequence[float],
    thresholds: Sequence[float],
    *,
    zero_shot: bool = False,
) -> SpacePrediction:
    """One space's record entry from its activated outputs ``row`` (one value per name):
    multilabel labels with ``p >= t`` (``t`` per label), the multiclass top class."""
    scores = dict(zip(names, (float(v) for v in row), strict=True))
    labels = top = None
    if kind == "multilabel":
        labels = tuple(
            name for (name, value), t in zip(scores.items(), thresholds, strict=True) if value >= t
        )
    elif kind == "multiclass":
        top = max(scores, key=scores.__getitem__)
    return SpacePrediction(key, kind, scores, labels, top, zero_shot)
