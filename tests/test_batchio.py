"""Prediction tables (``emomtl.batchio``) and the local backend's Parquet / directory / glob path
of ``emomtl predict`` (fake encoder; the ray backend is tested in test_ray.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import emomtl.features.encoders  # noqa: E402
from emomtl.batchio import (  # noqa: E402
    TableInputError,
    check_inputs,
    iter_rows,
    read_table,
    resolve_inputs,
)
from emomtl.cli import app  # noqa: E402
from emomtl.predict import EmotionAnalyzer  # noqa: E402
from test_bundle import FakeEncoder, make_bundle  # noqa: E402

runner = CliRunner()


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny bundle; loading it builds a FakeEncoder instead of the real one."""
    monkeypatch.setattr(emomtl.features.encoders, "FrozenEncoder", lambda spec: FakeEncoder())
    return make_bundle(tmp_path / "bundle")


def write_inputs(directory: Path) -> dict[tuple[str, int], str | None]:
    """Three files of three formats; returns (absolute source, line) -> text (None: bad row)."""
    directory.mkdir()
    expected: dict[tuple[str, int], str | None] = {}
    csv_path = directory / "a.csv"
    with csv_path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        for i, text in enumerate(["a happy day", "   ", "so cold and grey"]):
            writer.writerow([i, text])
            expected[(str(csv_path.resolve()), i + 2)] = text if text.strip() else None
    jsonl_path = directory / "b.jsonl"
    lines = [json.dumps({"text": "we won"}), "{broken", json.dumps({"text": "lost again"})]
    jsonl_path.write_text("\n".join(lines) + "\n")
    for line, text in zip((1, 2, 3), ("we won", None, "lost again"), strict=True):
        expected[(str(jsonl_path.resolve()), line)] = text
    parquet_path = directory / "c.parquet"
    values = ["a b c d e f g h i j", None, "", "fine words"]
    pq.write_table(pa.table({"text": pa.array(values, pa.string())}), parquet_path)
    for line, text in enumerate(values, start=1):
        expected[(str(parquet_path.resolve()), line)] = text or None
    (directory / ".hidden.csv").write_text("text\nnot me\n")
    (directory / "notes.md").write_text("not an input")
    return expected


def test_resolve_inputs_file_directory_glob(tmp_path: Path) -> None:
    write_inputs(tmp_path / "in")
    names = [p.name for p in resolve_inputs(tmp_path / "in")]
    assert names == ["a.csv", "b.jsonl", "c.parquet"]  # sorted; hidden and .md skipped
    assert [p.name for p in resolve_inputs(str(tmp_path / "in" / "*.*l"))] == ["b.jsonl"]
    assert [p.name for p in resolve_inputs(str(tmp_path / "**" / "c.parquet"))] == ["c.parquet"]
    assert resolve_inputs(tmp_path / "in" / "a.csv") == [(tmp_path / "in" / "a.csv").resolve()]
    assert all(p.is_absolute() for p in resolve_inputs(tmp_path / "in"))
    with pytest.raises(TableInputError, match="does not exist"):
        resolve_inputs(tmp_path / "absent")
    with pytest.raises(TableInputError, match="no file matches"):
        resolve_inputs(str(tmp_path / "in" / "*.xml"))
    with pytest.raises(TableInputError, match=r"cannot read .*notes\.md"):
        resolve_inputs(str(tmp_path / "in" / "*"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(TableInputError, match="holds no"):
        resolve_inputs(tmp_path / "empty")


def test_parquet_rows_are_numbered_and_checked(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"body": ["one", None, "  ", "four", "five"]}), path)
    batches = list(iter_rows(path, "body", batch_rows=2))
    assert [len(b) for b in batches] == [2, 2, 1]
    rows = [row for batch in batches for row in batch]
    assert [r.line for r in rows] == [1, 2, 3, 4, 5]
    assert [r.text for r in rows] == ["one", None, "  ", "four", "five"]
    assert rows[0].error is None and "NoneType" in rows[1].error and "empty" in rows[2].error
    with pytest.raises(TableInputError, match=r"t\.parquet has no column 'text' \(columns: body\)"):
        list(iter_rows(path, "text"))


def test_check_inputs_names_the_file_without_the_column(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text("text\nhello\n")
    bad.write_text("id,body\n1,hello\n")
    check_inputs([good], "text")
    with pytest.raises(
        TableInputError, match=r"bad\.csv has no column 'text' \(columns: id, body\)"
    ):
        check_inputs([good, bad], "text")


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_local_backend_writes_one_row_per_input_row(
    bundle: Path, tmp_path: Path, suffix: str
) -> None:
    expected = write_inputs(tmp_path / "in")
    out = tmp_path / f"out{suffix}"
    result = runner.invoke(
        app, ["predict", "-m", str(bundle), "-i", str(tmp_path / "in"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "wrote 10 rows from 3 file(s)" in " ".join(result.output.split())
    assert "(4 with errors" in " ".join(result.output.split())
    assert not list(tmp_path.glob(".out*"))  # no partial file left
    table = read_table(out)
    rows = table.to_pylist()
    assert table.column_names[:3] == ["source", "line", "error"]
    keys = [(r["source"], r["line"]) for r in rows]
    assert sorted(keys) == sorted(expected) and len(set(keys)) == len(keys)
    analyzer = EmotionAnalyzer.load(bundle, encoder=FakeEncoder())
    assert table.column_names[3:] == analyzer.flat_columns()
    for row in rows:
        text = expected[(row["source"], row["line"])]
        if text is None:
            assert row["error"] and row["n_tokens"] is None
            continue
        assert row["error"] is None and row["text"] == text
        reference = analyzer.predict(text).to_flat()
        for key, value in reference.items():
            assert row[key] == (
                pytest.approx(value, abs=1e-6) if isinstance(value, float) else value
            )


def test_parquet_types_follow_the_flat_record(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("one day\n\nanother day\n")
    out = tmp_path / "out.parquet"
    result = runner.invoke(app, ["predict", "-m", str(bundle), "-i", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    schema = pq.read_schema(out)
    assert schema.field("line").type == pa.int64() and schema.field("truncated").type == pa.bool_()
    assert schema.field("n_tokens").type == pa.int64()
    assert schema.field("semeval_joy").type == pa.float64()
    assert schema.field("ekman_top").type == pa.string()
    rows = pq.read_table(out).to_pylist()
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert rows[1]["error"] and rows[1]["semeval_joy"] is None


def test_missing_column_fails_naming_the_file(bundle: Path, tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "x.csv").write_text("body\nhello\n")
    out = tmp_path / "o.parquet"
    result = runner.invoke(
        app, ["predict", "-m", str(bundle), "-i", str(tmp_path / "in"), "-o", str(out)]
    )
    assert result.exit_code == 1
    assert "x.csv has no column 'text'" in " ".join(result.output.split())
    assert not out.exists()
