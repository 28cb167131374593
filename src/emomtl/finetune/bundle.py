"""Bundles that carry a fine-tuned encoder, and the encoder a bundle is used with.

A fine-tuned bundle is a frozen-style bundle (``config.json``, ``model.safetensors`` with the
MultiTaskNet head, ``metrics.json``, ``README.md``; :mod:`emomtl.bundle`) plus::

    encoder/
      model.safetensors     the fine-tuned transformer (fp32, or bf16 with --save-dtype bf16)
      config.json           its transformers config
      tokenizer.json, tokenizer_config.json, vocab.txt, ...   its tokenizer

``config.json`` records the SHA-256 of every file in ``encoder/`` (``encoder_files``) and, as for
frozen bundles, ``encoder_weights_hash`` over the weight files. :func:`bundle_encoder` refuses a
bundle whose encoder files are missing, altered or joined by unexpected ones, with a message
naming the file. Nothing is unpickled: weights are safetensors, the rest is JSON or text.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emomtl.bundle import FORMAT_VERSION, Bundle, BundleConfig, BundleError, target_statistics

if TYPE_CHECKING:  # pragma: no cover
    from emomtl.finetune.config import FinetuneConfig
    from emomtl.finetune.loop import FinetuneSeedResult

ENCODER_DIR = "encoder"


def in_memory_encoder(spec: Any, tokenizer: Any, model: Any, weights_hash: str = "") -> Any:
    """A :class:`~emomtl.features.encoders.FrozenEncoder` around an already loaded (e.g. just
    fine-tuned) transformer, so predictions before saving run through exactly the code path of a
    loaded bundle."""
    from emomtl.features import encoders

    encoder = encoders.FrozenEncoder(spec)
    encoder._tokenizer, encoder._model = tokenizer, model.eval().requires_grad_(False)
    encoder._dim = int(model.config.hidden_size)
    encoder._weights_hash = weights_hash
    return encoder


def file_hashes(directory: Path) -> dict[str, str]:
    """SHA-256 of every regular file directly in ``directory`` (sorted by name)."""
    from emomtl.hashing import sha256_file

    return {p.name: sha256_file(p) for p in sorted(directory.iterdir()) if p.is_file()}


def verify_encoder_files(bundle_dir: Path, expected: dict[str, str]) -> Path:
    """Check ``bundle_dir/encoder`` holds exactly the recorded files with their hashes.

    Returns:
        the ``encoder/`` directory.

    Raises:
        BundleError: naming the missing, altered or unexpected file.
    """
    from emomtl.hashing import sha256_file

    directory = Path(bundle_dir) / ENCODER_DIR
    hint = "re-create the bundle with `emomtl train --finetune ... --save DIR`"
    if not directory.is_dir():
        raise BundleError(
            f"{bundle_dir} holds a fine-tuned model but its encoder directory {directory} is "
            f"missing; {hint}"
        )
    present = {p.name for p in directory.iterdir()}
    missing = sorted(set(expected) - present)
    if missing:
        raise BundleError(f"{directory}: encoder file(s) missing: {', '.join(missing)}; {hint}")
    unexpected = sorted(present - set(expected))
    if unexpected:
        raise BundleError(
            f"{directory}: unexpected file(s) {', '.join(unexpected)} not recorded in "
            f"config.json; refusing to load an encoder that may differ from the trained one; {hint}"
        )
    for name, digest in expected.items():
        if sha256_file(directory / name) != digest:
            raise BundleError(
                f"{directory / name} was altered: its SHA-256 differs from the one recorded in "
                f"config.json (encoder_files); {hint}"
            )
    return directory


def bundle_encoder(bundle: Bundle) -> Any:
    """The encoder a loaded bundle runs on: its own fine-tuned one (verified) when it carries
    one, else the installed frozen encoder named in its config."""
    from emomtl.features import encoders  # looked up at call time (tests may patch it)

    if not bundle.config.encoder_files:
        return encoders.FrozenEncoder(bundle.config.encoder_spec())
    directory = verify_encoder_files(bundle.path, bundle.config.encoder_files)
    spec = replace(bundle.config.encoder_spec(), name=str(directory.resolve()))
    encoder = encoders.FrozenEncoder(spec)
    if encoder.tokenizer is not None:  # loads tokenizer and weights now
        encoder._model.float()  # bf16-saved weights compute from fp32 copies (autocast as spec)
    return encoder


def _encoder_weights_hash(directory: Path) -> str:
    from emomtl.features.encoders import weights_hash

    with tempfile.TemporaryDirectory() as memo:
        return weights_hash(directory, Path(memo))


def save_encoder(model: Any, tokenizer: Any, directory: Path, save_dtype: str = "fp32") -> None:
    """Write a transformer (safetensors) and its tokenizer into ``directory``.

    ``save_dtype = "bf16"`` stores the weights as bfloat16 (half the size); the in-memory model
    is not changed.
    """
    import torch

    if save_dtype not in ("fp32", "bf16"):
        raise ValueError(f"save_dtype must be fp32 or bf16, got {save_dtype!r}")
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        k: (
            v.detach().cpu().to(torch.bfloat16)
            if save_dtype == "bf16" and v.is_floating_point()
            else v.detach().cpu()
        ).contiguous()
        for k, v in model.state_dict().items()
    }
    model.config.save_pretrained(directory)
    from safetensors.torch import save_file

    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save_pretrained(directory)
    pickled = sorted(p.name for p in directory.iterdir() if p.suffix in (".bin", ".pt", ".pkl"))
    if pickled:
        raise BundleError(f"refusing to ship pickled files in a bundle: {', '.join(pickled)}")


def save_finetuned_bundle(
    result: FinetuneSeedResult,
    directory: Path,
    *,
    config: FinetuneConfig,
    tokenizer: Any,
    encoder_spec: dict[str, Any],
    save_dtype: str = "fp32",
    results: dict[str, Any] | None = None,
) -> Path:
    """Write one fine-tuned seed as a bundle that :meth:`EmotionAnalyzer.load` uses.

    Args:
        result: a seed result that still holds its ``model``.
        directory: the bundle directory (created or replaced, atomically).
        config: the run's config (recorded as ``train_config``).
        tokenizer: the encoder's tokenizer.
        encoder_spec: ``{"name", "pooling", "max_length", "precision"}`` (the base encoder's
            name is recorded; the weights come from ``encoder/``).
        save_dtype: ``fp32`` or ``bf16`` encoder weights.
        results: the run's ``results.json`` content, for the mean over seeds in ``metrics.json``.
    """
    from emomtl import __version__
    from emomtl.bundle import head_label_texts, write_bundle_directory
    from emomtl.features.encoders import EncoderSpec

    if result.model is None:
        raise ValueError(f"seed {result.seed} no longer holds its model; cannot write a bundle")
    model = result.model
    codes = list(result.metrics["test"])
    spec = EncoderSpec.from_dict(dict(encoder_spec))
    staging_parent = Path(directory).expanduser().resolve().parent
    staging_parent.mkdir(parents=True, exist_ok=True)
    encoder_tmp = Path(tempfile.mkdtemp(prefix=".encoder-", dir=staging_parent))
    try:
        save_encoder(model.encoder, tokenizer, encoder_tmp, save_dtype)
        head = model.head
        bundle_config = BundleConfig(
            format_version=FORMAT_VERSION,
            emomtl_version=__version__,
            encoder=spec.to_dict(),
            encoder_weights_hash=_encoder_weights_hash(encoder_tmp),
            input_dim=int(head.input_dim),
            tasks=codes,
            labels={t.code: list(t.labels) for t in head.tasks},
            spaces=[t.to_dict() for t in head.tasks],
            head=str(head.head),
            hidden_dim=int(head.hidden_dim),
            dropout=float(config.dropout),
            target_statistics=target_statistics(result.head_state, list(head.tasks)),
            train_config={**config.to_dict(), "save_dtype": save_dtype},
            seed=int(result.seed),
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            encoder_files=file_hashes(encoder_tmp),
            label_texts=head_label_texts(list(head.tasks), str(head.head)),
        )
        mean = (
            {
                split: {
                    c: {m: s["mean"] for m, s in ms.items()} for c, ms in results[split].items()
                }
                for split in ("dev", "test")
            }
            if results
            else {}
        )
        metrics = {
            "seed": int(result.seed),
            "n_seeds": len(results["seeds"]) if results else 1,
            "selection": "best mean primary dev metric among the seeds trained in this run",
            "weights": "encoder and head at the seed's best mean primary dev metric evaluation "
            f"(step {result.best_step}, epoch {result.best_epoch:.2f})",
            "primary_metric": {t.code: t.primary_metric for t in head.tasks},
            "dev": result.metrics["dev"],
            "test": result.metrics["test"],
            "mean_over_seeds": mean,
        }

        def add_encoder(staging: Path) -> None:
            shutil.move(str(encoder_tmp), str(staging / ENCODER_DIR))

        write_bundle_directory(
            Path(directory), bundle_config, result.head_state, metrics, extra=add_encoder
        )
    finally:
        if encoder_tmp.exists():
            shutil.rmtree(encoder_tmp, ignore_errors=True)
    return Path(directory)
