"""The cross-scheme label map (emomtl.report.label_map, `emomtl label-map`)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from emomtl.bundle import BundleError
from emomtl.data.tasks import TASKS
from emomtl.report.label_map import label_vectors, nearest_labels, write_label_map
from test_bundle import make_bundle
from test_zero_shot import label_bundle


def test_nearest_labels_match_a_hand_computation(tmp_path: Path) -> None:
    path = label_bundle(tmp_path / "b")
    state = {k: v.double().numpy() for k, v in load_file(path / "model.safetensors").items()}
    proj, offset = state["proj.weight"], state["label_offset"]
    vectors = {c: state[f"label_features_{c}"] @ proj.T + offset for c in "STE"}
    vectors["E"] = vectors["E"] * state["label_scale.E"][:, None]
    ours = label_vectors(path)
    np.testing.assert_allclose(ours.vectors, np.concatenate([vectors[c] for c in "STE"]))
    rows = nearest_labels(ours, k=2)
    assert len(rows) == (11 * 2 + 5 * 2 + 3 * 2) * 2  # every label, every other space, k each
    # S 'joy' in T, by brute force over T's five classes
    joy = vectors["S"][TASKS["S"].labels.index("joy")]
    cos = [float(joy @ v / (np.linalg.norm(joy) * np.linalg.norm(v))) for v in vectors["T"]]
    order = np.argsort(cos)[::-1][:2]
    hits = [r for r in rows if (r["space"], r["label"], r["other_space"]) == ("S", "joy", "T")]
    assert [h["neighbour"] for h in hits] == [TASKS["T"].labels[i] for i in order]
    assert [h["cosine"] for h in hits] == pytest.approx([cos[i] for i in order])
    assert [h["rank"] for h in hits] == [1, 2]


def test_write_label_map_and_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from emomtl.cli import app

    path = label_bundle(tmp_path / "b")
    result = CliRunner().invoke(app, ["label-map", str(path), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "m" / "label_map.md").read_text()
    assert "| joy |" in md and "nearest in E" in md
    rows = list(csv.DictReader((tmp_path / "m" / "label_map.csv").open()))
    assert {r["other_space"] for r in rows if r["space"] == "S"} == {"T", "E"}
    assert (tmp_path / "m" / "label_map.png").stat().st_size > 10_000
    with pytest.raises(BundleError, match="--head label"):
        write_label_map(make_bundle(tmp_path / "mh"), tmp_path / "x")
    result = CliRunner().invoke(app, ["label-map", str(make_bundle(tmp_path / "mh2"))])
    assert result.exit_code == 1 and "--head label" in " ".join(result.output.split())
