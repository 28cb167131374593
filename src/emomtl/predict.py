"""EmotionAnalyzer: one text in, every label space out.

>>> from emomtl import EmotionAnalyzer
>>> analyzer = EmotionAnalyzer.load("models/NAME")          # or .load() for the default bundle
>>> analyzer.predict("I can't believe we won!").to_dict()
{'text': ..., 'truncated': False, 'n_tokens': 10,
 'semeval': {'probabilities': {'anger': 0.01, ..., 'joy': 0.93, ...}, 'labels': ['joy', ...]},
 'ekman': {'probabilities': {'anger-disgust': 0.02, ..., 'happy': 0.88, ...}, 'top': 'happy'},
 'vad': {'V': 4.1, 'A': 3.5, 'D': 3.2}}

Label spaces: ``semeval`` (SemEval-2018 E-c, 11 independent sigmoid probabilities; labels above the
threshold, 0.5 by default), ``ekman`` (Alm's tales, softmax over 5 classes and the top class) and
``vad`` (EmoBank Valence/Arousal/Dominance on the 1-5 scale). A bundle trained on fewer tasks gives
only its own label spaces.

Policies:

- **Empty or whitespace-only text** is an error: :meth:`EmotionAnalyzer.predict` raises
  :class:`ValueError` naming the index of the first such text (an emotion cannot be read from
  nothing, and a silent neutral-looking record would be mistaken for a prediction). Non-string
  items raise :class:`TypeError`. The CLI turns such rows into output rows with an ``error`` field.
- **Long text** is truncated to the encoder's ``max_length`` tokens (special tokens included), and
  the record's ``truncated`` flag is set; ``n_tokens`` is the untruncated length.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, overload

from emomtl.bundle import (
    BundleConfig,
    build_model,
    check_encoder,
    default_model_dir,
    load_bundle,
)
from emomtl.data.tasks import TASKS

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import torch

#: Name of each task's label space in records, dicts and DataFrame column prefixes.
SPACE_NAMES: dict[str, str] = {"S": "semeval", "T": "ekman", "E": "vad"}


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
class Prediction:
    """Every label space of one text.

    Attributes:
        text: the input text.
        truncated: True when the text was longer than the encoder's max length and was cut.
        n_tokens: length of the untruncated text in encoder tokens (special tokens included).
        semeval: emotion -> probability (11 SemEval emotions), None without task S.
        semeval_labels: emotions whose probability exceeds the threshold, in label order.
        ekman: class -> probability (5 Ekman-style tales classes, summing to 1), None without T.
        ekman_top: the most probable class.
        vad: ``{"V", "A", "D"}`` on EmoBank's 1-5 scale, None without task E.
    """

    text: str
    truncated: bool
    n_tokens: int
    semeval: dict[str, float] | None = None
    semeval_labels: tuple[str, ...] | None = None
    ekman: dict[str, float] | None = None
    ekman_top: str | None = None
    vad: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Nested JSON-ready dict; label spaces the model lacks are omitted."""
        record: dict[str, Any] = {
            "text": self.text,
            "truncated": self.truncated,
            "n_tokens": self.n_tokens,
        }
        if self.semeval is not None:
            record["semeval"] = {
                "probabilities": dict(self.semeval),
                "labels": list(self.semeval_labels or ()),
            }
        if self.ekman is not None:
            record["ekman"] = {"probabilities": dict(self.ekman), "top": self.ekman_top}
        if self.vad is not None:
            record["vad"] = dict(self.vad)
        return record

    def to_flat(self) -> dict[str, Any]:
        """One flat row of scalars: ``semeval_<emotion>``, ``semeval_labels`` (";"-joined),
        ``ekman_<class>``, ``ekman_top``, ``vad_V``/``vad_A``/``vad_D``."""
        row: dict[str, Any] = {
            "text": self.text,
            "truncated": self.truncated,
            "n_tokens": self.n_tokens,
        }
        if self.semeval is not None:
            row.update({f"semeval_{k}": v for k, v in self.semeval.items()})
            row["semeval_labels"] = ";".join(self.semeval_labels or ())
        if self.ekman is not None:
            row.update({f"ekman_{k}": v for k, v in self.ekman.items()})
            row["ekman_top"] = self.ekman_top
        if self.vad is not None:
            row.update({f"vad_{k}": v for k, v in self.vad.items()})
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
        config: the bundle config describing ``model`` (tasks, labels, encoder spec, threshold).
        threshold: SemEval probability above which a label is reported (default: the bundle's).
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
        self._explicit_threshold = threshold is not None
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold}")
        self.batch_size, self.chunk_size = batch_size, chunk_size
        self.max_length = int(config.encoder.get("max_length", 128))
        self.metrics: dict[str, Any] = {}
        self.path: Path | None = None

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
            from emomtl.features.encoders import FrozenEncoder

            encoder = FrozenEncoder(bundle.config.encoder_spec())
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
        tuned = self.config.label_thresholds
        if self._explicit_threshold or not tuned or code not in tuned:
            return self.threshold
        return tuned[code][self.config.labels[code].index(label)]

    @property
    def tasks(self) -> list[str]:
        """Task codes of the model, e.g. ``["S", "T", "E"]``."""
        return list(self.config.tasks)

    @property
    def labels(self) -> dict[str, list[str]]:
        """Label space name (``semeval``, ``ekman``, ``vad``) -> label names in output order."""
        return {SPACE_NAMES[code]: list(self.config.labels[code]) for code in self.config.tasks}

    @overload
    def predict(self, texts: str) -> Prediction: ...

    @overload
    def predict(self, texts: Sequence[str]) -> list[Prediction]: ...

    def predict(self, texts: str | Sequence[str]) -> Prediction | list[Prediction]:
        """Predict every label space of one text (returns one record) or many (returns a list).

        Raises:
            ValueError: a text is empty or whitespace-only (the message names its index).
            TypeError: an item is not a string.
        """
        if isinstance(texts, str):
            return self.predict([texts])[0]
        checked = validate_texts(list(texts))
        records: list[Prediction] = []
        for start in range(0, len(checked), self.chunk_size):
            records.extend(self._predict_chunk(checked[start : start + self.chunk_size]))
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

    def flat_columns(self) -> list[str]:
        """Column names of :meth:`predict_dataframe` / :meth:`Prediction.to_flat`, in order."""
        columns = ["text", "truncated", "n_tokens"]
        for code in self.config.tasks:
            space = SPACE_NAMES[code]
            columns += [f"{space}_{label}" for label in self.config.labels[code]]
            if code == "S":
                columns.append("semeval_labels")
            elif code == "T":
                columns.append("ekman_top")
        return columns

    def iter_predict(self, texts: Sequence[str]) -> Iterator[Prediction]:
        """Like :meth:`predict` on a list, but yields records chunk by chunk."""
        checked = validate_texts(list(texts))
        for start in range(0, len(checked), self.chunk_size):
            yield from self._predict_chunk(checked[start : start + self.chunk_size])

    # ----------------------------------------------------------------------------------------------

    def _predict_chunk(self, texts: list[str]) -> list[Prediction]:
        import torch

        if not texts:
            return []
        with torch.inference_mode():
            features, n_tokens = self.encoder.encode_with_lengths(texts, batch_size=self.batch_size)
            outputs = self.model.activate(self.model(features.to(torch.float32)))
        values = {
            code: outputs[code].detach().to("cpu", torch.float64).tolist() for code in outputs
        }
        return [
            self._record(text, n, {code: rows[i] for code, rows in values.items()})
            for i, (text, n) in enumerate(zip(texts, n_tokens, strict=True))
        ]

    def _record(self, text: str, n_tokens: int, values: Mapping[str, list[float]]) -> Prediction:
        fields: dict[str, Any] = {}
        for code in self.config.tasks:
            labels = self.config.labels[code]
            scores = dict(zip(labels, (float(v) for v in values[code]), strict=True))
            kind = TASKS[code].kind
            if kind == "multilabel":
                fields["semeval"] = scores
                fields["semeval_labels"] = tuple(
                    k for k, v in scores.items() if v >= self.label_threshold(code, k)
                )
            elif kind == "multiclass":
                fields["ekman"] = scores
                fields["ekman_top"] = max(scores, key=scores.__getitem__)
            else:
                fields["vad"] = scores
        return Prediction(
            text=text, truncated=n_tokens > self.max_length, n_tokens=n_tokens, **fields
        )
