"""The cross-scheme label map of a label-semantic bundle: each label's nearest labels elsewhere.

The successor of the paper's W_SE correlation figure (Fig. 7): with the label head
(:mod:`emomtl.model.label_head`) every label ``j`` of every trained space has an output vector in
the shared layer's space, ``v_j = s_j (P e_j + u_0)`` ``(h,)`` (``s_j`` the regression scale,
else 1; its sign matters: a negative scale flips what the target responds to). Two labels whose
vectors point the same way fire on the same texts. For every label this module lists, in each
*other* space, the ``k`` labels of highest cosine similarity
``cos(v_i, v_j) = v_i . v_j / (|v_i| |v_j|)``, and draws the full cosine matrix grouped by space.

Everything is read from the bundle (``config.json`` and ``model.safetensors``: the projection and
the stored label-text embeddings), so no encoder or corpus is needed.

Outputs of :func:`write_label_map`: ``label_map.md`` (a table per space), ``label_map.csv``
(``space, label, other_space, rank, neighbour, cosine``) and ``label_map.png`` (the heatmap).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class LabelVectors:
    """Every trained label's output vector.

    Attributes:
        spaces: ``(code, title, labels)`` per space, in output order.
        vectors: ``(L, h)`` rows in the same order (space by space).
    """

    spaces: list[tuple[str, str, list[str]]]
    vectors: np.ndarray

    @property
    def owners(self) -> list[tuple[str, str]]:
        """``(code, label)`` of every row."""
        return [(code, label) for code, _, labels in self.spaces for label in labels]

    def cosine(self) -> np.ndarray:
        """``(L, L)`` cosine similarity of the rows."""
        norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
        unit = self.vectors / np.maximum(norms, 1e-12)
        return unit @ unit.T


def label_vectors(bundle_dir: str | Path) -> LabelVectors:
    """``v_j = s_j (P e_j + u_0)`` of every label of a label-semantic bundle.

    Raises:
        emomtl.bundle.BundleError: the bundle cannot be read, or it has another head.
    """
    from emomtl.bundle import BundleError, load_bundle
    from emomtl.model.label_head import LABEL_HEAD

    bundle = load_bundle(bundle_dir)
    config, state = bundle.config, bundle.state_dict
    if config.head != LABEL_HEAD:
        raise BundleError(
            f"{bundle_dir}: the bundle has the {config.head.upper()} head; the label map needs "
            f"label vectors, i.e. a bundle trained with `--head {LABEL_HEAD}`"
        )
    proj = state["proj.weight"].double().numpy()  # (h, d)
    offset = state["label_offset"].double().numpy()  # (h,)
    spaces, rows = [], []
    for task in config.task_specs:
        features = state[f"label_features_{task.code}"].double().numpy()  # (l, d), normalised
        vectors = features @ proj.T + offset
        scale = state.get(f"label_scale.{task.code}")
        if scale is not None:
            vectors = vectors * scale.double().numpy()[:, None]
        spaces.append((task.code, task.title, list(task.labels)))
        rows.append(vectors)
    return LabelVectors(spaces, np.concatenate(rows))


def nearest_labels(vectors: LabelVectors, k: int = 3) -> list[dict]:
    """For every label and every other space: its ``k`` most similar labels there.

    Returns:
        rows ``{"space", "label", "other_space", "rank" (1-based), "neighbour", "cosine"}``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    cos = vectors.cosine()
    owners = vectors.owners
    rows = []
    for i, (code, label) in enumerate(owners):
        for other, _, _ in vectors.spaces:
            if other == code:
                continue
            candidates = [j for j, (c, _) in enumerate(owners) if c == other]
            ranked = sorted(candidates, key=lambda j: -cos[i, j])[:k]
            for rank, j in enumerate(ranked, start=1):
                rows.append(
                    {
                        "space": code,
                        "label": label,
                        "other_space": other,
                        "rank": rank,
                        "neighbour": owners[j][1],
                        "cosine": float(cos[i, j]),
                    }
                )
    return rows


def markdown_table(vectors: LabelVectors, rows: list[dict]) -> str:
    """One markdown table per space: label, then its nearest labels in each other space."""
    lines = []
    for code, title, labels in vectors.spaces:
        others = [c for c, _, _ in vectors.spaces if c != code]
        lines += [f"### {title} ({code})", ""]
        lines.append("| label | " + " | ".join(f"nearest in {o}" for o in others) + " |")
        lines.append("|---|" + "---|" * len(others))
        for label in labels:
            cells = []
            for other in others:
                hits = [
                    r
                    for r in rows
                    if (r["space"], r["label"], r["other_space"]) == (code, label, other)
                ]
                cells.append(", ".join(f"{r['neighbour']} {r['cosine']:+.2f}" for r in hits))
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_label_map(vectors: LabelVectors, path: Path, title: str = "") -> Path:
    """Heatmap of the label vectors' cosine similarity, grouped (and ruled) by space."""
    from emomtl.report.figures import FONT_SIZE, _figure, _save

    cos = vectors.cosine()
    names = [f"{label} ({code})" for code, label in vectors.owners]
    n = len(names)
    size = max(6.0, 0.32 * n + 3.0)
    fig, (ax,) = _figure(size + 1.0, size)
    image = ax.imshow(cos, cmap="RdBu_r", vmin=-1, vmax=1)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                color = "white" if abs(cos[i, j]) > 0.6 else "black"
                ax.text(j, i, f"{cos[i, j]:.1f}", ha="center", va="center", fontsize=6, color=color)
    edges = np.cumsum([len(labels) for _, _, labels in vectors.spaces])[:-1]
    for edge in edges:
        ax.axhline(edge - 0.5, color="black", lw=1.2)
        ax.axvline(edge - 0.5, color="black", lw=1.2)
    ax.set_xticks(range(n), names, rotation=70, ha="right", fontsize=FONT_SIZE - 3)
    ax.set_yticks(range(n), names, fontsize=FONT_SIZE - 3)
    ax.set_title(title or "Cosine similarity of the label head's label vectors", fontsize=FONT_SIZE)
    fig.colorbar(image, ax=ax, shrink=0.7).ax.tick_params(labelsize=FONT_SIZE - 2)
    return _save(fig, path)


def write_label_map(bundle_dir: str | Path, out_dir: str | Path, *, k: int = 3) -> list[Path]:
    """Write ``label_map.md``, ``label_map.csv`` and ``label_map.png`` for a label-head bundle."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vectors = label_vectors(bundle_dir)
    rows = nearest_labels(vectors, k)
    md = out / "label_map.md"
    header = (
        f"# Cross-scheme label map of {Path(bundle_dir).name}\n\n"
        f"For each label, its {k} nearest labels in every other space by the cosine similarity "
        "of the label head's output vectors (s_j (P e_j + u_0)).\n\n"
    )
    md.write_text(header + markdown_table(vectors, rows), encoding="utf-8")
    table = out / "label_map.csv"
    with table.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]) if rows else ["space", "label"])
        writer.writeheader()
        writer.writerows(rows)
    figure = plot_label_map(vectors, out / "label_map.png", f"Label map: {Path(bundle_dir).name}")
    return [md, table, figure]
