"""Label-semantic head vs MH, leave-one-space-out zero-shot, few-shot (issue 14), frozen MiniLM
or (``--finetune``) fine-tuned with the encoder.

Three parts, each written to ``--out`` (JSON, rewritten after every run, so an interrupted
measurement keeps what finished) and printed as markdown tables:

* ``trained``: MH and the label head on all ``--spaces`` jointly (e.g. S+T+E), every space's
  primary test metric (mean ± 95% CI over seeds) and the difference label - MH.
* ``zero-shot``: for each space X, the label head trained on the others, X scored from its label
  texts alone (:func:`emomtl.experiments.label_transfer.zero_shot_metrics`).
* ``few-shot``: for each X and fraction f, ``fX + others`` with MH and with the label head (a
  seeded random f of X's training rows; the other spaces in full), X's primary test metric.
* ``stl`` (not run by default): each space of ``--held`` alone, MH vs the label head.

Run by hand (features come from the feature cache, ``$EMOMTL_CACHE``)::

    python benchmarks/label_head.py --spaces S T E --seeds 5 --out runs/label_head.json
    python benchmarks/label_head.py --parts zero-shot --spaces S T E G --seeds 3

``--bundle DIR`` also saves the trained label-head model (for ``emomtl label-map``).

With ``--finetune`` every run is a fine-tuning run (:func:`emomtl.finetune.run.run_finetune`,
default 2 epochs, 3 seeds) written to its own directory under ``--runs`` one seed at a time, so an
interrupted measurement resumes seed by seed; the held-out space of a zero-shot run is scored by
each seed's fine-tuned encoder and head (:mod:`emomtl.finetune.held_out`)::

    python benchmarks/label_head.py --finetune --parts zero-shot few-shot --fractions 0.01 \
        --seeds 3 --runs runs/label_ft --out runs/label_ft.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

PARTS = ("trained", "zero-shot", "few-shot", "stl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", nargs="+", default=["S", "T", "E"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--parts", nargs="+", default=list(PARTS[:3]), choices=PARTS)
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.01, 0.1])
    parser.add_argument("--held", nargs="+", default=None, help="held-out spaces (default all)")
    parser.add_argument("--out", type=Path, default=Path("runs/label_head.json"))
    parser.add_argument("--bundle", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=float, default=None, help="default 100; --finetune 2")
    parser.add_argument("--finetune", action="store_true", help="fine-tune the encoder too")
    parser.add_argument("--runs", type=Path, default=Path("runs/label_head_ft"))
    parser.add_argument("--limit", type=int, default=None, help="--finetune: rows per split")
    args = parser.parse_args()
    args.epochs = args.epochs or (2 if args.finetune else 100)
    if args.finetune:
        return main_finetune(args)

    from emomtl.data.tasks import get_task
    from emomtl.experiments.label_transfer import zero_shot_metrics
    from emomtl.features.encoders import EncoderSpec
    from emomtl.features.label_text import attach_label_features
    from emomtl.features.task_data import load_task_data
    from emomtl.stats import summarize
    from emomtl.train import TrainConfig, train

    spec = EncoderSpec()
    codes, held_codes, seeds, results = open_results(
        args, encoder=spec.to_dict(), threads=args.threads
    )
    data = load_task_data(codes, spec=spec)
    attach_label_features(data, spec)

    def run(key: str, tasks: str, head: str, held_out: str | None = None):
        config = TrainConfig(tasks=tasks, head=head, seeds=seeds, epochs=int(args.epochs))
        started = time.perf_counter()
        output = train(config, data, num_threads=args.threads)
        wall = time.perf_counter() - started
        record = {
            "tasks": config.tasks,
            "head": head,
            "wall_s": wall,
            "test": {
                code: {
                    get_task(code).primary_metric: summarize(
                        [
                            s.metrics["test"][code][get_task(code).primary_metric]
                            for s in output.seeds
                        ]
                    )
                }
                for code in output.task_codes
            },
        }
        print(f"{key}: {config.tasks} {head} {wall:.0f} s", flush=True)
        return output, record

    def zero_shot(output, held: str) -> dict:
        per_seed = zero_shot_metrics(output, data[held])
        return {name: summarize([m[name] for m in per_seed]) for name in per_seed[0]}

    run_parts(args, codes, held_codes, results, run, zero_shot=zero_shot)


def open_results(args, **setup) -> tuple[list[str], list[str], tuple[int, ...], dict]:
    """The spaces, held-out spaces and seeds of ``args``, and the results file so far (a rerun
    adds what is missing) with its ``setup`` updated by ``setup``."""
    from emomtl.data.tasks import canonical_order, get_task

    codes = canonical_order(get_task(c).code for c in args.spaces)
    held_codes = codes if args.held is None else [get_task(c).code for c in args.held]
    seeds = tuple(range(args.seeds))
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results.setdefault("setup", {}).update(
        {"spaces": codes, "seeds": list(seeds), "epochs": args.epochs, **setup}
    )
    return codes, held_codes, seeds, results


def run_parts(args, codes, held_codes, results: dict, run, *, zero_shot) -> None:
    """Run every missing measurement of ``args.parts``; ``run(key, tasks, head)`` trains one
    setting and returns ``(output, record)``, ``zero_shot(output, held)`` its held-out summary."""
    from emomtl.data.loading import load_corpus
    from emomtl.data.tasks import get_task
    from emomtl.experiments.label_transfer import constant_baseline
    from emomtl.finetune.data import typed_targets

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n")
        tmp.replace(args.out)

    joint = "+".join(codes)
    if "trained" in args.parts:
        part = results.setdefault("trained", {})
        for head in ("mh", "label"):
            if head in part:
                continue
            output, part[head] = run(f"trained/{head}", joint, head)
            save()
            if head == "label" and args.bundle is not None and not args.finetune:
                from emomtl.bundle import save_bundle
                from emomtl.features.encoders import EncoderSpec

                save_bundle(output, args.bundle, encoder=EncoderSpec())
    if "zero-shot" in args.parts:
        baselines = results.setdefault("baselines", {})
        for held in held_codes:
            task = get_task(held)
            splits = load_corpus(task).splits
            train, test = (typed_targets(task, splits[s].targets) for s in ("train", "test"))
            baselines[held] = constant_baseline(task, train, test)
        save()
        part = results.setdefault("zero-shot", {})
        for held in held_codes:
            if held in part:
                continue
            rest = "+".join(c for c in codes if c != held)
            output, record = run(f"zero-shot/{held}", rest, "label", held_out=held)
            record["held_out"] = held
            record["held_out_test"] = zero_shot(output, held)
            part[held] = record
            save()
    if "few-shot" in args.parts:
        part = results.setdefault("few-shot", {})
        for fraction in args.fractions:
            for held in held_codes:
                rest = [c for c in codes if c != held]
                tasks = "+".join([f"{fraction:g}{held}", *rest])
                for head in ("label", "mh"):
                    key = f"{held}/{fraction:g}/{head}"
                    if key in part:
                        continue
                    _, part[key] = run(f"few-shot/{key}", tasks, head)
                    save()
    if "stl" in args.parts:
        part = results.setdefault("stl", {})
        for held in held_codes:
            for head in ("mh", "label"):
                key = f"{held}/{head}"
                if key not in part:
                    _, part[key] = run(f"stl/{key}", held, head)
                    save()
    print_tables(results)


def main_finetune(args) -> None:
    """``--finetune``: the same parts with fine-tuning runs (one run directory per setting)."""
    import torch

    from emomtl.data.tasks import get_task
    from emomtl.finetune.config import FinetuneConfig
    from emomtl.finetune.run import run_finetune

    limit = None if args.limit is None else dict.fromkeys(("train", "dev", "test"), args.limit)
    setup = {"finetune": True, "runs": str(args.runs), "threads": torch.get_num_threads()}
    if limit:
        setup["limit"] = limit
    codes, held_codes, seeds, results = open_results(args, **setup)

    def run(key: str, tasks: str, head: str, held_out: str | None = None):
        config = FinetuneConfig(tasks=tasks, head=head, seeds=seeds, epochs=args.epochs)
        out_dir = args.runs / key.replace("/", "__")
        started = time.perf_counter()
        output = run_finetune(
            config,
            out_dir,
            limit=limit,
            held_out=[held_out] if held_out else (),
            log=lambda line: print(f"  {key}: {line}", flush=True),
        )
        wall = time.perf_counter() - started
        test = output.results["test"]
        record = {
            "tasks": config.tasks,
            "head": head,
            "run_dir": str(out_dir),
            "wall_s": wall,
            "test": {
                code: {get_task(code).primary_metric: test[code][get_task(code).primary_metric]}
                for code in test
            },
        }
        print(f"{key}: {config.tasks} {head} {wall:.0f} s", flush=True)
        return output, record

    def zero_shot(output, held: str) -> dict:
        return output.results["zero_shot"]["test"][held]

    run_parts(args, codes, held_codes, results, run, zero_shot=zero_shot)


def print_tables(results: dict) -> None:
    """Markdown tables of whatever parts ``results`` holds."""
    from emomtl.data.tasks import get_task

    def cell(summary: dict) -> str:
        ci = summary.get("ci95")
        return f"{summary['mean']:.3f}" + ("" if ci is None else f" ± {ci:.3f}")

    if "trained" in results and {"mh", "label"} <= set(results["trained"]):
        mh, label = results["trained"]["mh"], results["trained"]["label"]
        print(f"\n| space | metric | MH | label head | label - MH |  ({mh['tasks']})")
        print("|---|---|---|---|---|")
        for code, metrics in mh["test"].items():
            for name, a in metrics.items():
                b = label["test"][code][name]
                print(f"| {code} | {name} | {cell(a)} | {cell(b)} | {b['mean'] - a['mean']:+.3f} |")
    if results.get("zero-shot"):
        baselines = results.get("baselines", {})
        print("\n| held out | trained on | metric | zero-shot test | best constant (train) |")
        print("|---|---|---|---|---|")
        for held, record in results["zero-shot"].items():
            task = get_task(held)
            shown = [task.primary_metric]
            if task.kind == "regression":
                shown += [f"pearson_{t}" for t in task.labels]
            else:
                shown += ["f1_macro"]
            for name in dict.fromkeys(shown):
                value = record["held_out_test"].get(name)
                floor = baselines.get(held, {}).get(name)
                floor = "-" if floor is None else f"{floor:.3f}"
                if value is not None:
                    print(f"| {held} | {record['tasks']} | {name} | {cell(value)} | {floor} |")
    if results.get("stl"):
        print("\n| space alone | metric | MH | label head | label - MH |")
        print("|---|---|---|---|---|")
        for held in dict.fromkeys(k.split("/")[0] for k in results["stl"]):
            mh, label = results["stl"].get(f"{held}/mh"), results["stl"].get(f"{held}/label")
            if mh is None or label is None:
                continue
            name = get_task(held).primary_metric
            a, b = mh["test"][held][name], label["test"][held][name]
            print(f"| {held} | {name} | {cell(a)} | {cell(b)} | {b['mean'] - a['mean']:+.3f} |")
    if results.get("few-shot"):
        print("\n| space | fraction | metric | MH | label head | label - MH |")
        print("|---|---|---|---|---|---|")
        keys = sorted({k.rsplit("/", 1)[0] for k in results["few-shot"]})
        for key in keys:
            held, fraction = key.split("/")
            mh, label = (
                results["few-shot"].get(f"{key}/mh"),
                results["few-shot"].get(f"{key}/label"),
            )
            if mh is None or label is None:
                continue
            name = get_task(held).primary_metric
            a, b = mh["test"][held][name], label["test"][held][name]
            print(
                f"| {held} | {fraction} | {name} | {cell(a)} | {cell(b)} | "
                f"{b['mean'] - a['mean']:+.3f} |"
            )


if __name__ == "__main__":
    main()
