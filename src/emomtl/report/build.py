"""Assemble ``report.md`` (and its figures) from a results directory of saved runs.

Reads only saved files (see :mod:`emomtl.report.collect`); never trains. Figures are written next
to the report and embedded with relative links; a figure whose inputs are missing is skipped with a
note in the report.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import emomtl
from emomtl.data.tasks import TASKS
from emomtl.report import figures, significance, tables
from emomtl.report.collect import Results, Run, collect
from emomtl.report.paper_values import PAPER_RUNS, TABLE2, TABLE3, TABLE4

REPORT_NAME = "report.md"
_FIGURE_GLOB = "fig[3-7]_*.png"

_TRAIN_FIELDS = (
    "epochs",
    "patience",
    "batch_size",
    "lr",
    "weight_decay",
    "hidden_dim",
    "dropout",
    "sampling",
    "selection",
    "gradnorm_alpha",
    "gradnorm_lr",
)


def _describe_values(values: list[Any]) -> str:
    """One value, or ``"a (3 settings), b (1 setting)"`` when settings disagree."""
    counts = Counter(json.dumps(v) for v in values)
    if len(counts) == 1:
        return _plain(next(iter(counts)))
    return "varies: " + ", ".join(
        f"{_plain(v)} ({n} setting{'s' * (n > 1)})" for v, n in counts.most_common()
    )


def _plain(dumped: str) -> str:
    value = json.loads(dumped)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return str(value)


def _hms(seconds: float) -> str:
    seconds = round(float(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def timings_block(timings: dict[str, Any] | None) -> str:
    """Wall time per stage (of the invocation that wrote ``timings.json``) and per setting."""
    stages = (timings or {}).get("stages", {})
    if not stages:
        return "Wall time per stage: not recorded (no timings.json)."
    rows = [[name, _hms(sec), f"{float(sec):.0f}"] for name, sec in stages.items()]
    total = float(timings.get("total_s", sum(float(v) for v in stages.values())))
    rows.append(["**total**", f"**{_hms(total)}**", f"**{total:.0f}**"])
    counts = ""
    if "cells_trained" in timings:
        counts = (
            f" (it trained {timings['cells_trained']} (setting, seed) cells and skipped "
            f"{timings.get('cells_skipped', 0)} finished ones)"
        )
    lines = [
        f"Wall time per stage of the last `emomtl reproduce` run{counts}:",
        "",
        tables.markdown_table(["Stage", "h:mm:ss", "seconds"], rows),
    ]
    per_setting = timings.get("per_setting", {})
    if per_setting:
        setting_rows = [
            [
                str(v.get("setting", slug)),
                _hms(v.get("wall_time_s", 0.0)),
                str(len(v.get("seeds_trained") or [])),
            ]
            for slug, v in per_setting.items()
        ]
        lines += [
            "",
            "<details><summary>Training wall time per setting (when it was trained)</summary>",
            "",
            tables.markdown_table(["Setting", "h:mm:ss", "seeds trained"], setting_rows),
            "",
            "</details>",
        ]
    return "\n".join(lines)


def header(results: Results, title: str) -> str:
    """Title, provenance, encoder, training options, seeds, machine and stage wall times."""
    runs = list(results.runs.values())
    finished = [r for r in runs if r.seeds]
    paper_done = sum(results.get(row.key) is not None for row in TABLE4)
    now = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    last = max((str(s.record.get("finished_at", "")) for r in runs for s in r.seeds), default="")
    lines = [
        f"# {title}",
        "",
        f"Generated {now} by emomtl {emomtl.__version__} from `{results.root}`: "
        f"{len(finished)} settings with results, {paper_done} of the paper's {len(TABLE4)} "
        f"Table 4 settings." + (f" Last seed finished at {last}." if last else ""),
        "",
    ]
    train = [r.config.get("train", {}) for r in runs]
    seeds = sorted({s.seed for r in runs for s in r.seeds})
    seed_counts = Counter(len(r.seeds) for r in finished)
    rows = [
        ["Encoder", _describe_values([r.config.get("encoder", "not recorded") for r in runs])],
        ["Data", _describe_values([r.config.get("data", "not recorded") for r in runs])],
        [
            "Training",
            "; ".join(f"{f} {_describe_values([t.get(f) for t in train])}" for f in _TRAIN_FIELDS),
        ],
        [
            "Seeds",
            f"{', '.join(map(str, seeds))} ("
            + ", ".join(f"{n} seeds: {k} settings" for n, k in sorted(seed_counts.items()))
            + f"; the paper used {PAPER_RUNS} runs)",
        ],
        ["emomtl version", _describe_values([r.config.get("emomtl_version", "?") for r in runs])],
    ]
    if results.machine:
        m = results.machine
        train_threads = (results.timings or {}).get("train_threads")
        threads = (
            f", training on {train_threads} torch thread(s)"
            if train_threads
            else (f", torch threads {m['torch_threads']}" if "torch_threads" in m else "")
        )
        rows.append(["Machine", f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores{threads}"])
        rows.append(["torch / Python", f"{m.get('torch', '?')} / {m.get('python', '?')}"])
        rows.append(["Platform", str(m.get("platform", "?"))])
    else:
        rows.append(["Machine", "not recorded (no machine.json)"])
    lines.append(tables.markdown_table(["", ""], rows))
    lines += ["", timings_block(results.timings)]
    return "\n".join(lines)


LEGEND = (
    "Cells: our test-set mean ± 95% t-interval over seeds (the paper's value, ours − paper). "
    f"{tables.DAGGER} = the paper's value lies outside our 95% interval. "
    "F1 (T) = micro-F1 on Alm's tales (= accuracy); "
    "r (E) = mean Pearson r over V, A, D on EmoBank; "
    "Jaccard (S) is compared with the paper using the paper's code's variant (`jaccard_paper`: "
    "empty gold vs empty prediction = 0; 75 of the 3259 test tweets have no emotion), with the "
    "official SemEval-2018 Jaccard (= 1 for that case) beside it after `jaccard:`. "
    '"not run" = no finished seed (the paper\'s value in brackets).'
)


#: The fine-tuned method whose runs get their own claim section.
FINETUNED = "MH+FT"


def claim_section(results: Results, method: str = "MH") -> str:
    """The central claim: MTL vs STL on S at every fraction, with one verdict sentence each;
    ``method = "MH+FT"`` tests it on fine-tuned runs (the paper has no values there)."""
    tests = significance.claim_tests(results, metric=TASKS["S"].primary_metric, method=method)
    if method == "MH":
        title, who = "The central claim: MTL helps S, most when S is small", "MH-MTL"
        paper = (
            " The paper's p-values are reconstructed from its mean ± 95% bound over "
            f"{PAPER_RUNS} runs."
        )
    else:
        title, who = f"The central claim with a fine-tuned encoder ({method})", method
        paper = " The paper fine-tuned nothing, so it has no values here."
    lines = [
        f"## {title}",
        "",
        f"For each S training fraction, every {who} setting is compared with STL ({method}) on "
        "S's test Jaccard: difference of means and the two-sided Welch t-test over seeds." + paper,
        "",
        tables.markdown_table(
            significance.comparison_header(method), significance.comparisons_table_rows(tests)
        ),
        "",
    ]
    lines += [f"- {t.sentence}" for t in tests]
    return "\n".join(lines)


def _slug(run: Run) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", f"{run.tasks}_{run.method}").strip("-")


def figures_section(results: Results, out_dir: Path) -> str:
    """Write every figure whose inputs exist; embed it, or note why it is skipped."""
    for stale in out_dir.glob(_FIGURE_GLOB):
        stale.unlink()
    runs = [results.runs[k] for k in tables.table_order(list(results.runs)) if results.get(k)]
    lines = ["## Figures", ""]

    def embed(path: Path | None, caption: str, missing: str) -> None:
        if path is None:
            lines.extend([f"*{caption}: skipped, {missing}.*", ""])
        else:
            lines.extend([f"![{caption}]({path.name})", "", f"*{caption}*", ""])

    gn_runs = [r for r in runs if r.method in ("GN", "SE+GN")]
    embed(
        figures.plot_lambdas(gn_runs, out_dir / "fig3_gradnorm_lambdas.png"),
        "Fig. 3: GradNorm loss weights over training steps (mean over seeds)",
        "no GradNorm run saved lambdas.safetensors",
    )
    se_runs = [r for r in runs if r.method.startswith("SE")]
    drawn = False
    for run in se_runs:
        path = figures.plot_se_correlation(run, out_dir / f"fig4_se_correlation_{_slug(run)}.png")
        if path is not None:
            drawn = True
            embed(path, f"Fig. 4/7: W_SE label correlations, {run.tasks} | {run.method}", "")
    if not drawn:
        embed(None, "Fig. 4/7: W_SE label correlations", "no SE run saved se_weight.safetensors")
    embed(
        figures.plot_s_fraction(
            results,
            out_dir / "fig5_s_fraction_mh.png",
            figures.FIG5_SERIES,
            title="MH-MTL vs STL on S",
        ),
        "Fig. 5: S test Jaccard vs S training fraction, MH-MTL vs STL (faint diamonds: paper)",
        "no setting with S has results",
    )
    embed(
        figures.plot_s_fraction(
            results,
            out_dir / "fig6_s_fraction_modifications.png",
            figures.FIG6_SERIES,
            title="Modifications: SE, GN, SE+GN",
        ),
        "Fig. 6: S test Jaccard vs S training fraction, modifications (faint diamonds: paper)",
        "no setting with S has results",
    )
    return "\n".join(lines).rstrip()


def notes_section(results: Results) -> str:
    """Incomplete runs, duplicate settings and settings the paper did not run."""
    notes = []
    for run in results.runs.values():
        done = {s.seed for s in run.seeds}
        missing = [s for s in run.planned_seeds if s not in done]
        if missing:
            notes.append(
                f"{run.tasks} | {run.method} (`{run.path.name}`): seeds {missing} not finished."
            )
    notes += [
        f"`{p.name}` ignored: another directory holds the same setting." for p in results.duplicates
    ]
    return "\n".join(["## Notes", "", *(f"- {n}" for n in notes)]) if notes else ""


def _section(title: str, *blocks: str) -> str:
    return "\n\n".join([f"## {title}", *blocks])


def build_report(results_dir: Path, *, title: str | None = None) -> Path:
    """Write ``results_dir/report.md`` and its PNG figures from the saved runs; return its path.

    Raises:
        ReportError: when ``results_dir`` does not exist or holds no run directory.
    """
    results_dir = Path(results_dir)
    results = collect(results_dir)
    paper_keys = {row.key for row in TABLE4}
    extra = [
        k for k in tables.table_order(list(results.runs)) if k not in paper_keys and results.get(k)
    ]
    metric_tables = []
    for code in results.space_codes():
        table = tables.metrics_table(results, code)
        if table is not None:
            metric_tables += [f"### {TASKS[code].description}", "", table, ""]
    same_cells = (
        f"Cells as in Table 2 ({tables.DAGGER}: the paper's value is outside our interval)."
    )
    sections = [
        header(results, title or "emomtl: reproduction of the paper's experiments"),
        _section(
            "Table 2: MH-MTL with varying S training size",
            tables.paper_layout_table(results, TABLE2),
            LEGEND,
        ),
        _section(
            "Table 3: modifications (SE, GN, SE+GN)",
            tables.paper_layout_table(results, TABLE3),
            same_cells,
        ),
        claim_section(results),
        claim_section(results, FINETUNED)
        if any(r.method == FINETUNED and r.s_fraction() for r in results.runs.values())
        else "",
        _section(
            "Table 4: all settings",
            tables.paper_layout_table(results, [row.key for row in TABLE4] + extra),
            same_cells
            + (" Rows below the paper's 20 are settings it did not run." if extra else ""),
        ),
        _section("All metrics (test set, mean ± 95% CI)", "\n".join(metric_tables).rstrip()),
        figures_section(results, results_dir),
        notes_section(results),
    ]
    path = results_dir / REPORT_NAME
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n\n".join(s for s in sections if s) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
