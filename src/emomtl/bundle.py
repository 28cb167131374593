"""Model bundles: one trained MultiTaskNet plus everything needed to use it on new text.

A bundle is a directory::

    config.json        format_version, emomtl version, encoder spec + weights hash, tasks and the
                       full description of every label space (name, kind, labels, metric, record
                       key, licence), head, hidden_dim, input_dim, regression target statistics,
                       threshold, the training config and the chosen seed
    model.safetensors  the MultiTaskNet state dict (tensors only: no pickle anywhere)
    metrics.json       dev/test scores of the chosen seed and the mean over all trained seeds
    README.md          model card: data, scores, intended use, limits

A bundle is self-describing: it predicts every space it was trained on without the space's card
or corpus (format version 2; version-1 bundles, which named only the built-in codes, still load).
Loading reads JSON and safetensors only, so it never executes code from the bundle (``torch.load``
is not used). A bundle whose ``format_version`` is newer than :data:`FORMAT_VERSION` is
refused, and :func:`check_encoder` refuses an encoder whose weights hash differs from the one the
head was trained on (the head is meaningless on another encoder's features).

:func:`save_bundle` is what ``emomtl train --save DIR`` and ``emomtl train --preset default`` call.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emomtl.data.tasks import Task, get_task

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from emomtl.features.encoders import EncoderSpec
    from emomtl.train import SeedResult, TrainOutput

#: Version of the on-disk layout written by this module. Readers accept this version and older.
FORMAT_VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
CARD_FILE = "README.md"
REQUIRED_FILES = (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE)
#: Probability at or above which a multi-label label is reported present (the paper: rounding).
DEFAULT_THRESHOLD = 0.5
#: Environment variable overriding the default bundle location.
MODEL_ENV = "EMOMTL_MODEL"
CREATE_DEFAULT_HINT = "create it with `emomtl train --preset default`"


class BundleError(ValueError):
    """A bundle is missing, incomplete, corrupt, too new or made for another encoder."""


def default_model_dir() -> Path:
    """Where the default bundle lives: ``$EMOMTL_MODEL``, else ``<user cache>/models/default``.

    The user cache is ``platformdirs.user_cache_dir("emomtl")`` (e.g. ``~/.cache/emomtl`` on Linux).
    """
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("emomtl")) / "models" / "default"


@dataclass(frozen=True)
class BundleConfig:
    """Contents of a bundle's ``config.json``.

    Attributes:
        format_version: layout version (see :data:`FORMAT_VERSION`).
        emomtl_version: version of emomtl that wrote the bundle.
        encoder: ``EncoderSpec.to_dict()`` (name, pooling, max_length, precision).
        encoder_weights_hash: ``FrozenEncoder.weights_hash`` of the encoder the head was trained on.
        input_dim: encoder feature dimension d.
        tasks: task codes in output order, e.g. ``["S", "T", "E"]``.
        labels: task code -> label names in output order.
        spaces: ``Task.to_dict()`` of every task, in :attr:`tasks` order (format 2; empty in
            format-1 bundles, whose codes name built-in spaces).
        head: ``mh`` or ``se``.
        hidden_dim: width of the shared layer.
        dropout: dropout of the shared layer (inactive at inference).
        threshold: probability at or above which a multi-label label is reported.
        target_statistics: regression code -> ``{"mean": [...], "std": [...]}``, the training-set
            statistics that standardised its targets (also buffers in the weights).
        label_thresholds: optional per-label thresholds of multilabel tasks, tuned on dev
            (:mod:`emomtl.thresholds`): ``{code: [t per label]}``; a label is reported when
            ``p >= t``. None: :attr:`threshold` for every label.
        train_config: ``TrainConfig.to_dict()`` of the run that produced the weights.
        seed: the training seed whose weights were saved.
        created_at: ISO-8601 UTC timestamp.
        encoder_files: fine-tuned bundles only: file name -> SHA-256 of every file in the
            bundle's ``encoder/`` directory (weights, config, tokenizer); see
            :mod:`emomtl.finetune.bundle`. None for a frozen encoder.
        label_texts: label head only: code -> the text each label was embedded from (its
            description, else its name); with the shared projection ``proj.weight`` and the
            recorded encoder it is what scoring new label sets needs (:mod:`emomtl.zero_shot`).
    """

    format_version: int
    emomtl_version: str
    encoder: dict[str, Any]
    encoder_weights_hash: str
    input_dim: int
    tasks: list[str]
    labels: dict[str, list[str]]
    head: str
    hidden_dim: int
    dropout: float = 0.0
    threshold: float = DEFAULT_THRESHOLD
    spaces: list[dict[str, Any]] = field(default_factory=list)
    target_statistics: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    label_thresholds: dict[str, list[float]] | None = None
    train_config: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    created_at: str = ""
    encoder_files: dict[str, str] | None = None
    label_texts: dict[str, list[str]] = field(default_factory=dict)

    @property
    def task_specs(self) -> list[Task]:
        """The :class:`Task` of every code in :attr:`tasks`, from the bundle's own descriptions
        (format 2) or the registry's built-ins (format 1)."""
        if self.spaces:
            return [Task.from_dict(space) for space in self.spaces]
        return [get_task(code) for code in self.tasks]

    def encoder_spec(self) -> EncoderSpec:
        """The bundle's encoder as an ``EncoderSpec``."""
        from emomtl.features.encoders import EncoderSpec

        return EncoderSpec.from_dict(self.encoder)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the content of ``config.json``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = CONFIG_FILE) -> BundleConfig:
        """Validate and build from a parsed ``config.json``; ``source`` names the file in errors."""
        if not isinstance(data, Mapping):
            raise BundleError(f"{source}: expected a JSON object, got {type(data).__name__}")
        version = data.get("format_version")
        if not isinstance(version, int):
            raise BundleError(f"{source}: missing or non-integer 'format_version'")
        if version > FORMAT_VERSION:
            raise BundleError(
                f"{source}: bundle format version {version} is newer than this emomtl supports "
                f"(up to {FORMAT_VERSION}; it was written by emomtl "
                f"{data.get('emomtl_version', '?')}); upgrade with `pip install -U emomtl`"
            )
        known = set(cls.__dataclass_fields__)
        required = {"encoder", "encoder_weights_hash", "input_dim", "tasks", "labels", "head"}
        missing = sorted(required - set(data))
        if missing:
            raise BundleError(f"{source}: missing key(s) {', '.join(missing)}")
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.setdefault("emomtl_version", "unknown")
        kwargs.setdefault("hidden_dim", 256)
        config = cls(**kwargs)
        if not config.tasks:
            raise BundleError(f"{source}: empty task list")
        if config.spaces:
            try:
                codes = [Task.from_dict(space).code for space in config.spaces]
            except (KeyError, TypeError, ValueError) as exc:
                raise BundleError(f"{source}: malformed label-space description: {exc}") from exc
            if codes != list(config.tasks):
                raise BundleError(
                    f"{source}: spaces describe {codes}, but tasks are {config.tasks!r}"
                )
        else:
            unknown = [code for code in config.tasks if code not in ("S", "T", "E")]
            if unknown:
                raise BundleError(
                    f"{source}: format-1 bundle names unknown task(s) {unknown}; expected S, T, E"
                )
        for task in config.task_specs:
            if list(config.labels.get(task.code, [])) != list(task.labels):
                raise BundleError(
                    f"{source}: labels of task {task.code} are {config.labels.get(task.code)!r}, "
                    f"expected {list(task.labels)!r}"
                )
        return config


@dataclass
class Bundle:
    """A loaded bundle: its config, weights and metrics (no model or encoder built yet)."""

    path: Path
    config: BundleConfig
    state_dict: dict[str, torch.Tensor]
    metrics: dict[str, Any]


def select_seed(output: TrainOutput) -> int:
    """Index of the seed with the best mean dev primary metric over the trained tasks.

    Each task contributes its primary metric (Jaccard for S, micro-F1 for T, mean Pearson r for E),
    negated where lower is better; ties go to the earlier seed.
    """
    if not output.seeds:
        raise ValueError("the training output holds no seeds")

    def score(result: SeedResult) -> float:
        values = []
        for code in output.task_codes:
            task = get_task(code)
            value = float(result.metrics["dev"][code][task.primary_metric])
            values.append(value if task.higher_is_better else -value)
        return sum(values) / len(values)

    scores = [score(result) for result in output.seeds]
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def _checked_thresholds(
    thresholds: Mapping[str, Sequence[float]] | None, codes: Sequence[str]
) -> dict[str, list[float]] | None:
    """Per-label thresholds as stored: one in (0, 1) per label of a multilabel task."""
    if thresholds is None:
        return None
    out = {}
    for code, values in thresholds.items():
        task = get_task(code) if code in codes else None
        if code not in codes or task is None or task.kind != "multilabel":
            raise ValueError(f"label thresholds given for {code!r}, not a multilabel task here")
        if len(values) != len(task.labels) or not all(0.0 < float(v) < 1.0 for v in values):
            raise ValueError(f"{code}: need {len(task.labels)} thresholds in (0, 1)")
        out[code] = [float(v) for v in values]
    return out


def mean_over_seeds(output: TrainOutput, split: str) -> dict[str, dict[str, float]]:
    """``{code: {metric: mean over seeds}}`` of one split's metrics."""
    means: dict[str, dict[str, float]] = {}
    for code in output.task_codes:
        metric_names = output.seeds[0].metrics[split][code].keys()
        means[code] = {
            name: sum(float(s.metrics[split][code][name]) for s in output.seeds) / len(output.seeds)
            for name in metric_names
        }
    return means


def target_statistics(
    state_dict: Mapping[str, torch.Tensor], tasks: list[Task]
) -> dict[str, dict[str, list[float]]]:
    """Each regression space's target normalisation (training-set mean and std per target).

    Read from MultiTaskNet's ``target_mean_<code>`` / ``target_std_<code>`` buffers.
    """
    out = {}
    for task in tasks:
        mean = state_dict.get(f"target_mean_{task.code}")
        std = state_dict.get(f"target_std_{task.code}")
        if task.kind == "regression" and mean is not None and std is not None:
            out[task.code] = {
                "mean": [float(v) for v in mean.reshape(-1).tolist()],
                "std": [float(v) for v in std.reshape(-1).tolist()],
            }
    return out


def save_bundle(
    output: TrainOutput,
    directory: Path,
    *,
    encoder: EncoderSpec,
    seed_index: int | None = None,
    label_thresholds: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """Write one seed of a training run as a bundle directory and return its path.

    Args:
        output: the result of :func:`emomtl.train.train`.
        directory: the bundle directory; created, or replaced when it already holds a bundle.
        encoder: the spec of the encoder whose features the run was trained on; it is loaded once
            to record its weights hash.
        seed_index: index into ``output.seeds``; None picks the seed with the best mean dev primary
            metric (:func:`select_seed`).
        label_thresholds: per-label thresholds of multilabel tasks to store
            (:func:`emomtl.thresholds.tune_from_output`), or None.

    Raises:
        BundleError: ``directory`` exists and holds files that are not a bundle.
    """
    from emomtl.features.encoders import FrozenEncoder

    weights_hash = FrozenEncoder(encoder).weights_hash
    return write_bundle(
        output,
        Path(directory),
        encoder=encoder,
        weights_hash=weights_hash,
        seed_index=seed_index,
        label_thresholds=label_thresholds,
    )


def write_bundle(
    output: TrainOutput,
    directory: Path,
    *,
    encoder: EncoderSpec,
    weights_hash: str,
    seed_index: int | None = None,
    label_thresholds: Mapping[str, Sequence[float]] | None = None,
) -> Path:
    """:func:`save_bundle` with the encoder's weights hash given rather than computed.

    The directory is assembled beside its destination and moved into place, so a crash never
    leaves a half-written bundle behind.
    """
    from emomtl import __version__

    directory = Path(directory)
    index = select_seed(output) if seed_index is None else seed_index
    if not 0 <= index < len(output.seeds):
        raise ValueError(
            f"seed_index {index} out of range: the run has {len(output.seeds)} seed(s)"
        )
    chosen = output.seeds[index]
    tasks = [get_task(code) for code in output.task_codes]
    train_config = output.config.to_dict()
    config = BundleConfig(
        format_version=FORMAT_VERSION,
        emomtl_version=__version__,
        encoder=encoder.to_dict(),
        encoder_weights_hash=weights_hash,
        input_dim=int(output.input_dim),
        tasks=list(output.task_codes),
        labels={task.code: list(task.labels) for task in tasks},
        spaces=[task.to_dict() for task in tasks],
        head=str(train_config.get("head", "mh")),
        hidden_dim=int(train_config.get("hidden_dim", 256)),
        dropout=float(train_config.get("dropout", 0.0)),
        target_statistics=target_statistics(chosen.state_dict, tasks),
        label_thresholds=_checked_thresholds(label_thresholds, output.task_codes),
        train_config=train_config,
        seed=int(chosen.seed),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        label_texts=head_label_texts(tasks, str(train_config.get("head", "mh"))),
    )
    metrics = {
        "seed": int(chosen.seed),
        "seed_index": index,
        "selection": "given" if seed_index is not None else "best mean dev primary metric",
        "n_seeds": len(output.seeds),
        "weights": "the chosen seed's state at its best summed dev loss epoch",
        "primary_metric": {task.code: task.primary_metric for task in tasks},
        "dev": chosen.metrics.get("dev", {}),
        "test": chosen.metrics.get("test", {}),
        "mean_over_seeds": {
            split: mean_over_seeds(output, split)
            for split in ("dev", "test")
            if all(split in s.metrics for s in output.seeds)
        },
    }
    if train_config.get("selection") == "per-task":
        metrics["note"] = (
            "selection 'per-task' scores each task at its own best epoch, but one network holds "
            "one state: the saved weights are the best summed-dev-loss state, so their scores can "
            "differ from the 'dev'/'test' numbers here"
        )
    write_bundle_directory(directory, config, chosen.state_dict, metrics)
    return directory


def head_label_texts(tasks: list[Task], head: str) -> dict[str, list[str]]:
    """Label head: code -> the texts its labels were embedded from; empty for other heads."""
    from emomtl.model.label_head import LABEL_HEAD, label_texts

    return {task.code: label_texts(task) for task in tasks} if head == LABEL_HEAD else {}


def write_bundle_directory(
    directory: Path,
    config: BundleConfig,
    state_dict: Mapping[str, torch.Tensor],
    metrics: dict[str, Any],
    extra: Callable[[Path], None] | None = None,
) -> None:
    """Write the four files into a temporary sibling directory, then swap it into place.

    ``extra(staging)`` may add files (a fine-tuned encoder) before the swap."""
    from safetensors.torch import save_file

    if directory.exists():
        if not directory.is_dir():
            raise BundleError(f"{directory} exists and is not a directory")
        if any(directory.iterdir()) and not (directory / CONFIG_FILE).is_file():
            raise BundleError(
                f"{directory} is not empty and holds no bundle; refusing to overwrite it"
            )
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        tensors = {k: v.detach().to("cpu").contiguous() for k, v in state_dict.items()}
        save_file(tensors, staging / WEIGHTS_FILE, metadata={"format": "pt"})
        _write_json(staging / CONFIG_FILE, config.to_dict())
        _write_json(staging / METRICS_FILE, metrics)
        (staging / CARD_FILE).write_text(model_card(config, metrics), encoding="utf-8")
        if extra is not None:
            extra(staging)
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            directory.rename(old)
        staging.rename(directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def load_bundle(path: str | Path) -> Bundle:
    """Read and validate a bundle directory (JSON and safetensors only; no code is executed).

    Raises:
        BundleError: the directory or one of its files is missing, a file cannot be parsed, or the
            bundle's format version is newer than :data:`FORMAT_VERSION`.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path).expanduser()
    if not path.is_dir():
        raise BundleError(
            f"no model bundle at {path}: expected a directory holding "
            f"{', '.join(REQUIRED_FILES)}; {CREATE_DEFAULT_HINT}, or save one with "
            "`emomtl train ... --save DIR`"
        )
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise BundleError(
            f"incomplete model bundle at {path}: missing {', '.join(missing)}; "
            "re-create it with `emomtl train ... --save DIR`"
        )
    config = BundleConfig.from_dict(_read_json(path / CONFIG_FILE), source=str(path / CONFIG_FILE))
    metrics = _read_json(path / METRICS_FILE)
    try:
        state_dict = load_file(path / WEIGHTS_FILE)
    except (SafetensorError, OSError) as exc:
        raise BundleError(f"{path / WEIGHTS_FILE}: cannot read safetensors weights: {exc}") from exc
    return Bundle(path=path, config=config, state_dict=state_dict, metrics=metrics)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from exc


def check_encoder(
    config: BundleConfig, weights_hash: str, *, source: str | Path = "bundle"
) -> None:
    """Refuse an encoder whose weights differ from the ones the bundle was trained on."""
    if weights_hash != config.encoder_weights_hash:
        raise BundleError(
            f"{source} was trained on features of encoder {config.encoder.get('name')!r} with "
            f"weights hash {config.encoder_weights_hash}, but the encoder available here has "
            f"weights hash {weights_hash}; the head only works with the exact encoder it was "
            "trained on - install that encoder or retrain with `emomtl train ... --save DIR`"
        )


def build_model(config: BundleConfig, state_dict: Mapping[str, torch.Tensor]) -> torch.nn.Module:
    """Build the bundle's MultiTaskNet, load its weights (strictly) and switch to eval mode."""
    from emomtl.model import MultiTaskNet

    model = MultiTaskNet(
        config.input_dim,
        config.task_specs,
        head=config.head,
        hidden_dim=config.hidden_dim,
        dropout=config.dropout,
    )
    try:
        model.load_state_dict(dict(state_dict), strict=True)
    except RuntimeError as exc:
        raise BundleError(
            f"weights do not match the model described by config.json: {exc}"
        ) from exc
    return model.eval()


# --------------------------------------------------------------------------------------------------
# model card


def model_card(config: BundleConfig, metrics: Mapping[str, Any]) -> str:
    """The bundle's ``README.md``: data, scores, intended use and limits (a bundle that carries
    its own fine-tuned encoder, ``config.encoder_files``, says so)."""
    tasks = config.task_specs
    fine_tuned = bool(config.encoder_files)
    lines = [
        f"# emomtl emotion model ({'+'.join(config.tasks)}, {config.head.upper()} head)",
        "",
        (
            "A sentence encoder fine-tuned together with a multi-task head"
            if fine_tuned
            else "A small multi-task head over a frozen sentence encoder"
        )
        + " that maps one English text to every label space it was trained on at once.",
        "",
        "## Model",
        "",
        f"- encoder: `{config.encoder.get('name')}` (pooling `{config.encoder.get('pooling')}`, "
        f"max length {config.encoder.get('max_length')} tokens, weights hash "
        f"`{config.encoder_weights_hash}`), "
        + (
            "fine-tuned: weights and tokenizer in `encoder/` "
            f"({config.train_config.get('save_dtype', 'fp32')})"
            if fine_tuned
            else "frozen"
        ),
        f"- head: {config.head.upper()}, shared layer {config.input_dim} -> {config.hidden_dim}, "
        f"trained with seed {config.seed} (chosen by {metrics.get('selection', '?')} among "
        f"{metrics.get('n_seeds', '?')} seed(s))",
        f"- training config: `{json.dumps(config.train_config, sort_keys=True)}`",
        *(
            [
                "- label-semantic head: scores label sets it was never trained on, e.g. "
                '`emomtl predict --model DIR --labels "joy,shame,guilt"` (marked zero-shot)'
            ]
            if config.label_texts
            else []
        ),
        f"- written by emomtl {config.emomtl_version} on {config.created_at}",
        "",
        "## Data and outputs",
        "",
    ]
    for task in tasks:
        lines.append(
            f"- **{task.code}** ({task.record_key}) {task.description}: {_outputs(task, config)}"
        )
        if task.licence or task.citation:
            lines.append(f"  - licence: {task.licence or '-'}; cite: {task.citation or '-'}")
    lines += ["", "## Test scores", ""]
    lines += _score_table(tasks, metrics)
    lines += [
        "",
        "## Intended use",
        "",
        "Research and exploratory analysis of emotion in English text: tagging corpora, comparing "
        "label spaces, prototyping. Scores describe the held-out test sets above, not your data.",
        "",
        "## Limits",
        "",
        "- English only; each label space reflects the domain of its corpus (listed above). "
        "Other domains will be less accurate.",
        "- Spaces trained on small corpora are the least reliable outputs. Probabilities are not "
        "calibrated.",
        f"- Texts longer than {config.encoder.get('max_length')} tokens are truncated "
        "(and flagged).",
        "- Not suitable for decisions about individuals (hiring, health, credit, policing).",
        "",
    ]
    return "\n".join(lines)


def _outputs(task: Task, config: BundleConfig) -> str:
    """What the space's output is, by kind."""
    if task.kind == "multilabel":
        return (
            f"probabilities of {task.num_labels} labels; those at or above "
            f"{config.threshold:g} are reported as present"
        )
    if task.kind == "multiclass":
        return f"probabilities of {task.num_labels} classes and the top class"
    return f"{', '.join(task.labels)} on the corpus's own scale"


def _score_table(tasks: list[Task], metrics: Mapping[str, Any]) -> list[str]:
    test = metrics.get("test", {})
    mean = metrics.get("mean_over_seeds", {}).get("test", {})
    rows = ["| task | metric | chosen seed | mean over seeds |", "|---|---|---|---|"]
    for task in tasks:
        for name, value in test.get(task.code, {}).items():
            if name == "loss":
                continue
            avg = mean.get(task.code, {}).get(name)
            avg_text = f"{avg:.4f}" if isinstance(avg, (int, float)) else "-"
            marker = " (primary)" if name == task.primary_metric else ""
            rows.append(f"| {task.code} | {name}{marker} | {float(value):.4f} | {avg_text} |")
    return rows
