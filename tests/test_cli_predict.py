"""``emomtl predict`` and ``emomtl serve`` command lines (fake encoder unless marked real)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import emomtl.features.encoders
from emomtl.cli import app
from emomtl.cli.predict import predict_file
from emomtl.predict import EmotionAnalyzer
from test_bundle import FakeEncoder, make_bundle, real_bundle_dir

runner = CliRunner()


@pytest.fixture
def bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny bundle; loading it builds a FakeEncoder instead of the real one."""
    monkeypatch.setattr(emomtl.features.encoders, "FrozenEncoder", lambda spec: FakeEncoder())
    return make_bundle(tmp_path / "bundle")


def run(*args: str) -> Result:
    return runner.invoke(app, list(args))


def said(result: Result) -> str:
    """Everything the command printed, with rich's line wrapping undone."""
    return " ".join(result.output.split())


def test_texts_print_a_table(bundle: Path) -> None:
    result = run("predict", "--model", str(bundle), "a happy day", "a b c d e f g h")
    assert result.exit_code == 0, result.output
    for header in ("SemEval-2018", "Alm's tales", "V", "a happy day", "(truncated)"):
        assert header in said(result)


def test_json_lines(bundle: Path) -> None:
    result = run("predict", "-m", str(bundle), "--json", "one", "two")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == ["one", "two"]
    assert set(records[0]) == {"text", "truncated", "n_tokens", "semeval", "ekman", "vad"}


def test_empty_text_argument_is_refused(bundle: Path) -> None:
    result = run("predict", "-m", str(bundle), "fine", "  ")
    assert result.exit_code == 1
    assert "text #2: text is empty or whitespace-only" in said(result)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "nothing to analyse"),
        (["x", "--input", "in.txt", "--output", "o.csv"], "not both"),
        (["--input", "in.txt"], "--input needs --output"),
        (["x", "--output", "o.csv"], "only used with --input"),
        (["--input", "absent.txt", "--output", "o.csv"], "does not exist"),
    ],
)
def test_usage_errors(bundle: Path, args: list[str], message: str) -> None:
    result = run("predict", "-m", str(bundle), *args)
    assert result.exit_code == 1 and message in said(result)


def test_missing_default_model_says_how_to_create_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMOMTL_MODEL", str(tmp_path / "nothing-here"))
    for command in ("predict", "serve"):
        result = run(command, *(["some text"] if command == "predict" else []))
        assert result.exit_code == 1
        assert "nothing-here" in said(result)
        assert "emomtl train --preset default" in said(result)


def test_bad_bundle_is_a_clean_error(bundle: Path) -> None:
    (bundle / "model.safetensors").unlink()
    result = run("predict", "-m", str(bundle), "text")
    assert result.exit_code == 1 and "missing model.safetensors" in said(result)


def test_txt_file_keeps_every_row(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("first line\n\nthird line\r\n   \nfifth\n", encoding="utf-8")
    out = tmp_path / "out.csv"
    result = run("predict", "-m", str(bundle), "-i", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["line"] for r in rows] == ["1", "2", "3", "4", "5"]
    assert [r["text"] for r in rows] == ["first line", "", "third line", "   ", "fifth"]
    assert [bool(r["error"]) for r in rows] == [False, True, False, True, False]
    assert rows[0]["ekman_top"] and rows[1]["ekman_top"] == ""
    assert "line 2: text is empty" in said(result) and "line 4" in said(result)
    assert "wrote 5 rows" in said(result) and "2 with errors" in said(result)
    assert not list(tmp_path.glob(".*partial"))


def test_jsonl_bad_rows_are_reported_and_kept(bundle: Path, tmp_path: Path) -> None:
    lines = [
        json.dumps({"text": "good one", "id": 1}),
        "{broken json",
        json.dumps({"body": "no text key"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"text": 42}),
        json.dumps({"text": ""}),
        "",
        json.dumps({"text": "good two"}),
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run("predict", "-m", str(bundle), "-i", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == list(range(1, 9))
    errors = [r["error"] for r in records]
    assert errors[0] is None and errors[7] is None
    assert "invalid JSON" in errors[1]
    assert errors[2] == "missing key 'text'"
    assert errors[3] == "expected a JSON object, got list"
    assert errors[4] == "'text' is int, expected a string"
    assert "empty" in errors[5] and errors[6] == "empty line"
    assert "ekman" in records[0] and "ekman" not in records[1]
    for number in range(2, 8):
        assert f"in.jsonl line {number}:" in said(result)


def test_csv_column_multiline_records_and_short_rows(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "body"])
        writer.writerow(["a", "a quoted\nmulti-line text"])
        f.write("b\n")  # a short row: no body field
        writer.writerow(["c", "plain"])
    out = tmp_path / "out.jsonl"
    result = run("predict", "-m", str(bundle), "-i", str(source), "-o", str(out), "-c", "body")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["line"] for r in records] == [2, 4, 5]
    assert records[0]["text"] == "a quoted\nmulti-line text" and records[0]["error"] is None
    assert records[1]["error"] == "missing column 'body' (row has 1 fields)"
    wrong = run("predict", "-m", str(bundle), "-i", str(source), "-o", str(out), "-c", "text")
    assert wrong.exit_code == 1 and "no column 'text' (columns: id, body)" in said(wrong)


def test_unsupported_formats(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.xml"
    source.write_text("<a/>")
    result = run("predict", "-m", str(bundle), "-i", str(source), "-o", str(tmp_path / "o.csv"))
    assert result.exit_code == 1 and "expected one of" in said(result)
    good = tmp_path / "in.txt"
    good.write_text("x\n")
    result = run("predict", "-m", str(bundle), "-i", str(good), "-o", str(tmp_path / "o.xlsx"))
    assert result.exit_code == 1 and "cannot write o.xlsx" in said(result)


def test_file_is_streamed_in_batches(bundle: Path, tmp_path: Path) -> None:
    analyzer = EmotionAnalyzer.load(bundle, encoder=FakeEncoder())
    sizes: list[int] = []
    original = analyzer.predict

    def spy(texts: list[str]) -> list:
        sizes.append(len(texts))
        return original(texts)

    analyzer.predict = spy  # type: ignore[method-assign]
    source = tmp_path / "in.txt"
    source.write_text("".join(f"row {i}\n" if i % 10 else "\n" for i in range(1, 26)))
    summary = predict_file(analyzer, source, tmp_path / "o.csv", batch_size=4, progress=False)
    assert (summary.rows, summary.errors) == (25, 2)
    assert sizes == [4, 4, 3, 4, 3, 4, 1]  # rows 10 and 20 are blank: errors skip the model
    assert len((tmp_path / "o.csv").read_text().splitlines()) == 26


def test_serve_command_starts_uvicorn_with_the_options(
    bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    calls: list[tuple] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append((app, kwargs)))
    result = run("serve", "-m", str(bundle), "--port", "8123", "--max-texts", "7")
    assert result.exit_code == 0, result.output
    ((served, kwargs),) = calls
    assert kwargs["host"] == "127.0.0.1" and kwargs["port"] == 8123
    assert served.state.limits.max_texts == 7


def test_cli_import_stays_light() -> None:
    code = (
        "import sys, emomtl.cli; "
        "heavy = [m for m in ('fastapi', 'uvicorn', 'emomtl.predict', 'emomtl.serve', "
        "'pandas') if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.real
@pytest.mark.slow
def test_real_bundle_from_the_command_line(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, cache_dir: Path, tmp_path: Path
) -> None:
    path = real_bundle_dir(tmp_path_factory, data_dir, cache_dir)
    result = run("predict", "-m", str(path), "--json", "I am so happy, what a wonderful day!")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert "joy" in record["semeval"]["labels"] and record["vad"]["V"] > 3

    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "We lost everything in the fire."}\n{oops\n{"text": " "}\n')
    out = tmp_path / "out.csv"
    result = run("predict", "-m", str(path), "-i", str(source), "-o", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert len(rows) == 3 and rows[0]["error"] == "" and float(rows[0]["vad_V"]) < 3
    assert rows[1]["error"].startswith("invalid JSON") and rows[2]["error"].startswith("text is")
