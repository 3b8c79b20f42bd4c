"""Benchmark: training data from documents alone (no questions) helps on real questions (issue 13).

financial-qa-10K's contexts become a document library with no questions. Steps:

1. the real-question export, built with the normal pipeline (``embcore build`` over question ->
   context, grouped split, ``--seed``): its test split (real human questions over every context) is
   the evaluation set;
2. the library = every unique context except those of that export's val / test split (held out);
3. ``embcore build --docs library.jsonl --chunk document --queries ict`` (offline pseudo-queries:
   Inverse Cloze Task) twice: with the quality gate and with ``--no-gate``; both in one DuckDB file,
   so the second build reuses the first one's embeddings;
4. the bundled all-MiniLM-L6-v2 is fine-tuned one epoch with the product's trainer
   (:func:`embcore.training.finetune.finetune`) on each pseudo-query export (the same ``--max-train`` rows
   drawn from each), and base vs fine-tuned models are evaluated on the real test questions.

Targets: pseudo-queries alone beat the base model by >= +0.02 NDCG@10, and the gate improves on no gate.

    python benchmarks/bench_documents.py --quick               # 300 rows, 200 test questions: minutes
    python benchmarks/bench_documents.py --max-train 1500      # what fits a loaded 2-core CPU in ~1 h

Results: a table on stdout and ``WORK/results.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # shared CPUs: spinning OpenMP threads slow training ~8x
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_CSV = Path("/work/shared/data/financial-qa-10k/Financial-QA-10k.csv")
log = logging.getLogger("bench_documents")


def embcore(*args: str) -> float:
    """Run ``embcore`` in a subprocess; returns seconds. Exits on failure with the last lines of stderr."""
    cmd = [sys.executable, "-m", "embcore.cli", *args, "--no-progress"]
    log.info("running: %s", " ".join(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise SystemExit(f"embcore failed:\n{proc.stderr[-2000:]}")
    for line in proc.stderr.splitlines():
        if line.startswith("embcore:"):
            log.info("%s", line)
    return round(time.perf_counter() - t0, 1)


def held_out_contexts(real: Path) -> set[str]:
    """Normalised texts of every positive of the real export's val and test splits."""
    from embcore.text import match_key

    out: set[str] = set()
    for split in ("val", "test"):
        with (real / f"{split}.jsonl").open(encoding="utf-8") as fh:
            for line in fh:
                for p in json.loads(line)["pos"]:
                    out.add(match_key(p))
    return out


def write_library(csv: Path, held_out: set[str], path: Path) -> dict[str, int]:
    """One JSON line per unique context that is not held out: ``{"id", "text", "ticker"}``."""
    import pandas as pd

    from embcore.text import clean_text, match_key

    df = pd.read_csv(csv)
    seen: set[str] = set()
    n_held = 0
    with path.open("w", encoding="utf-8") as fh:
        for i, (text, ticker) in enumerate(zip(df["context"], df["ticker"], strict=True)):
            t = clean_text(text)
            k = match_key(t)
            if not t or k in seen:
                continue
            seen.add(k)
            if k in held_out:
                n_held += 1
                continue
            fh.write(
                json.dumps({"id": f"ctx{i}", "text": t, "ticker": clean_text(ticker)}, ensure_ascii=False)
                + "\n"
            )
    return {"unique_contexts": len(seen), "held_out": n_held, "library": len(seen) - n_held}


def count_rows(path: Path) -> int:
    with path.open(encoding="utf-8") as fh:
        return sum(1 for _ in fh)


def evaluate(model: str | None, real: Path, max_queries: int | None, seed: int) -> dict[str, Any]:
    from embcore.training.evaluate import evaluate as run_eval

    res = run_eval(model, real, "test", max_queries=max_queries, seed=seed)
    return {
        "metrics": res.metrics,
        "n_queries": res.n_queries,
        "n_corpus": res.n_corpus,
        "eval_seconds": round(res.seconds, 1),
    }


def train(data: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    from embcore.training.finetune import FinetuneConfig, finetune

    rep = finetune(
        data,
        None,
        out,
        FinetuneConfig(
            epochs=1,
            batch_size=args.batch_size,
            loss="mnrl",
            lr=args.lr,
            max_samples=args.max_train,
            num_negatives=args.num_neg,
            seed=args.seed,
            eval_test=False,
            eval_base=False,
            eval_val=False,
            max_seq_length=args.max_seq_length,
        ),
    )
    # the rows trained on (the --max-train subset when given); the export's rows are the build's export_rows
    return {"train_rows": rep.data["train_rows"], "steps": rep.steps, "train_seconds": rep.timing["train"]}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stderr)
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    p.add_argument("--work", type=Path, default=Path("/tmp/embcore-bench-docs"))
    p.add_argument(
        "--max-train", type=int, default=None, help="train on this many pseudo-query rows (default: all)"
    )
    p.add_argument(
        "--eval-queries", type=int, default=None, help="evaluate on a random subset of test questions"
    )
    p.add_argument("--quick", action="store_true", help="--max-train 300 --eval-queries 200 (a smoke run)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-4, help="(1e-4: best for this model in bench_finetune)")
    p.add_argument("--num-neg", type=int, default=3, help="hard negatives per training row")
    p.add_argument("--max-seq-length", type=int, default=256)
    p.add_argument("--negatives", default="hybrid", help="negatives of the pseudo-query builds")
    p.add_argument("--roundtrip", default="dense")
    p.add_argument("--roundtrip-k", default="10")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--per-chunk", type=int, default=1, help="ICT queries per context (--queries-per-chunk)")
    p.add_argument("--variants", default="base,gate,nogate")
    p.add_argument(
        "--tag", default="", help="suffix of the model folders and results file (several runs over one WORK)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.max_train = args.max_train or 300
        args.eval_queries = args.eval_queries or 200
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    db = work / "bench.duckdb"
    timings: dict[str, float] = {}
    # 1. the real-question export (normal pipeline, grouped split)
    real = work / "real"
    if not (real / "manifest.json").is_file():
        timings["build_real_s"] = embcore(
            "build", str(args.csv), "--out", str(real), "--query-col", "question", "--pos-col", "context",
            "--negatives", "random", "--seed", str(args.seed), "--db", str(db), "--project", "real", "--replace",
        )  # fmt: skip
    # 2. the library: contexts not held out
    library = work / "library.jsonl"
    lib_stats = write_library(args.csv, held_out_contexts(real), library)
    log.info("library: %s", lib_stats)
    # 3. pseudo-query exports with and without the gate
    builds: dict[str, dict[str, Any]] = {}
    for name, extra in (
        ("gate", ["--roundtrip", args.roundtrip, "--roundtrip-k", args.roundtrip_k]),
        ("nogate", ["--no-gate"]),
    ):
        if name not in variants:
            continue
        out = work / (
            (f"pseudo-gate-{args.roundtrip}-{args.roundtrip_k}" if name == "gate" else "pseudo-nogate")
            + (f"-x{args.per_chunk}" if args.per_chunk > 1 else "")
        )
        if not (out / "manifest.json").is_file():
            timings[f"build_{name}_s"] = embcore(
                "build", "--docs", str(library), "--text-col", "text", "--id-col", "id", "--chunk", "document",
                "--queries", "ict", "--queries-per-chunk", str(args.per_chunk), "--negatives", args.negatives, "--num-neg", "7", "--split", "1,0,0",
                "--seed", str(args.seed), "--db", str(db), "--project", out.name, "--replace", "--out", str(out),
                *extra,
            )  # fmt: skip
        manifest = json.loads((out / "manifest.json").read_text())
        gate = manifest["sources"].get("gate") or {}
        builds[name] = {
            "export_rows": count_rows(out / "train.jsonl"),
            "queries_made": gate.get("queries"),
            "kept": gate.get("kept"),
            "kept_share": gate.get("kept_share"),
            "filters": gate.get("filters"),
        }
    # 4. base vs fine-tuned on the real test questions
    rows: list[dict[str, Any]] = []
    if "base" in variants:
        rows.append({"variant": "base", **evaluate(None, real, args.eval_queries, args.seed)})
    for name in ("gate", "nogate"):
        if name not in variants:
            continue
        model_dir = work / f"model-{name}{args.tag}"
        data = work / (
            (f"pseudo-gate-{args.roundtrip}-{args.roundtrip_k}" if name == "gate" else "pseudo-nogate")
            + (f"-x{args.per_chunk}" if args.per_chunk > 1 else "")
        )
        tr = train(data, model_dir, args)
        rows.append(
            {
                "variant": name,
                **tr,
                **evaluate(str(model_dir), real, args.eval_queries, args.seed),
                **builds[name],
            }
        )
    # 5. report
    print()
    print(
        f"financial-qa-10K contexts as documents, ICT pseudo-queries only; all-MiniLM-L6-v2, 1 epoch, batch "
        f"{args.batch_size}, lr {args.lr:g}, {args.num_neg} negatives/row, max-train {args.max_train or 'all'}; "
        f"real test questions: {rows[0]['n_queries'] if rows else '-'}; library {lib_stats['library']} contexts "
        f"({lib_stats['held_out']} held out)"
    )
    head = f"{'variant':<8} {'NDCG@10':>8} {'MRR@10':>8} {'R@10':>7} {'rows':>6} {'kept':>7} {'train_s':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        m = r["metrics"]
        kept = f"{r['kept_share']:.0%}" if r.get("kept_share") is not None else "-"
        print(
            f"{r['variant']:<8} {m['ndcg@10']:>8.4f} {m['mrr@10']:>8.4f} {m['recall@10']:>7.4f} "
            f"{r.get('train_rows', '-')!s:>6} {kept:>7} {r.get('train_seconds', 0):>8.0f}"
        )
    by = {r["variant"]: r["metrics"]["ndcg@10"] for r in rows}
    verdict = []
    if "base" in by and "gate" in by:
        verdict.append(
            f"gate vs base {by['gate'] - by['base']:+.4f} NDCG@10 (target >= +0.02: {by['gate'] - by['base'] >= 0.02})"
        )
    if "base" in by and "nogate" in by:
        verdict.append(f"no gate vs base {by['nogate'] - by['base']:+.4f}")
    if "gate" in by and "nogate" in by:
        verdict.append(
            f"gate vs no gate {by['gate'] - by['nogate']:+.4f} (target > 0: {by['gate'] > by['nogate']})"
        )
    print("; ".join(verdict))
    result = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "library": lib_stats,
        "builds": builds,
        "rows": rows,
        "timings": timings,
        "verdict": verdict,
    }
    out = work / f"results{args.tag}.json"
    out.write_text(json.dumps(result, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
