#!/usr/bin/env python
"""CPU speed benchmark (issue 17): fast encoding, dense mining, fine-tuning defaults, on financial-qa-10K.

Everything compared is measured in the same run on the same machine, and printed as ratios, so
that a busy machine shifts both sides alike (the absolute numbers are only as quiet as the
machine was):

(a) Encoding the 6,751 contexts and 6,930 questions: plain sentence-transformers
    (``SentenceTransformer.encode``, fp32 PyTorch) against embcore's fast path (the ``auto``
    backend: OpenVINO on an ONNX export of the model), in alternating chunks; texts/s, the per-text
    cosine to fp32 and the top-50 agreement (recall@50 of the fast path's dense candidates
    against fp32's, every question against every context). The int8 ONNX Runtime backend is
    measured too when onnxruntime is installed.
(b) Dense mining end to end (encode + exact top-50 + margin filter + 7 negatives) with
    ``embcore.mining.pipeline.mine`` and the fast encoder against
    ``sentence_transformers.util.mine_hard_negatives`` (same model, depth, margin, batch), and
    how many of the exported negatives change when the fp32 vectors are used instead.
(c) One fine-tuning epoch over an 800-row export (the first 1,000 rows, split 0.8/0.1/0.1,
    hybrid negatives, 7 a row): the old defaults (all 7 negatives, GradCache chunks of 32,
    the model's 256 tokens, fp32, validation each epoch, PyTorch evaluation) against the new
    ones (:data:`embcore.training.finetune.DEFAULTS`), each in its own process: seconds a step, the
    whole run including evaluation, peak RSS, test NDCG@10, and the new estimate against the
    time actually taken.

Targets: mining <= 0.5x sentence-transformers' time; the 800-row epoch including evaluation
<= 5 minutes; peak RSS <= 3 GB; test NDCG@10 not more than 0.005 below the old defaults.

Usage (after ``scripts/setup.sh``)::

    .venv/bin/python benchmarks/bench_cpu_speed.py                # everything (~30-40 min on 2 quiet cores)
    .venv/bin/python benchmarks/bench_cpu_speed.py --quick        # smoke test: small samples, 3 steps
    .venv/bin/python benchmarks/bench_cpu_speed.py --skip-finetune --json out.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from embcore.text import clean_text  # noqa: E402

DEFAULT_CSV = ROOT.parent / "shared" / "data" / "financial-qa-10k" / "Financial-QA-10k.csv"
TOP_K = 50
NUM_NEG = 7
BATCH = 64
log = logging.getLogger("bench_cpu_speed")


# --------------------------------------------------------------------------- data
def load_pairs(csv: Path, limit: int | None = None) -> tuple[list[str], list[str], list[list[int]]]:
    """(questions, contexts, positives): cleaned, grouped by question, contexts deduplicated."""
    import pandas as pd

    df = pd.read_csv(csv).dropna(subset=["question", "context"])
    pairs = list(
        dict.fromkeys(
            zip((clean_text(q) for q in df["question"]), (clean_text(c) for c in df["context"]), strict=True)
        )
    )
    pos: dict[str, list[str]] = {}
    for q, c in pairs:
        if q and c:
            pos.setdefault(q, []).append(c)
    queries = list(pos)[:limit] if limit else list(pos)
    passages = list(dict.fromkeys(c for q in queries for c in pos[q]))
    index = {c: i for i, c in enumerate(passages)}
    return queries, passages, [[index[c] for c in pos[q]] for q in queries]


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def topk_sets(q: np.ndarray, p: np.ndarray, k: int) -> np.ndarray:
    from embcore.mining.dense import dense_topk

    return dense_topk(q, p, k).indices


def recall_at(ref: np.ndarray, got: np.ndarray) -> float:
    """Mean share of the reference top-k that the other top-k also holds."""
    return float(
        np.mean([len(set(a) & set(b)) / len(a) for a, b in zip(ref.tolist(), got.tolist(), strict=True)])
    )


# --------------------------------------------------------------------------- (a) encoding
class ReplayEncoder:
    """Serves precomputed vectors by text (so mining can be rerun with the fp32 vectors for free)."""

    def __init__(self, model_id: str, texts: list[str], vecs: np.ndarray) -> None:
        self.model_id = model_id
        self._index = {t: i for i, t in enumerate(texts)}
        self._vecs = vecs

    def encode(self, texts, *, prompt=None, batch_size=64, progress=None):  # noqa: ANN001, ANN201
        return self._vecs[[self._index[t] for t in texts]]


def bench_encoding(
    queries: list[str], passages: list[str], chunks: int
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Plain sentence-transformers vs the fast path in alternating chunks; agreement figures."""
    from sentence_transformers import SentenceTransformer

    from embcore.models.backends import backend_available
    from embcore.models.encoders import SentenceTransformerEncoder, resolve_model

    st = SentenceTransformer(resolve_model("default"), device="cpu")
    st.encode(["warm up"] * 8, batch_size=BATCH)
    texts = passages + queries
    variants: dict[str, Any] = {"auto": SentenceTransformerEncoder(None, backend="auto")}
    if backend_available("openvino"):
        # what a CPU without native bf16 (most laptops) gets: OpenVINO in f32
        variants["openvino-f32"] = SentenceTransformerEncoder(None, backend="openvino")
    if backend_available("onnx-int8"):
        variants["onnx-int8"] = SentenceTransformerEncoder(None, backend="onnx-int8")
    prep: dict[str, float] = {}
    for name, enc in variants.items():
        t0 = time.perf_counter()
        if name == "openvino-f32":
            os.environ["EMBCORE_OPENVINO_PRECISION"] = "f32"
        enc.fast_path(len(texts))  # export (first run) or load the cached export
        os.environ.pop("EMBCORE_OPENVINO_PRECISION", None)
        enc.encode(texts[:8])
        prep[name] = round(time.perf_counter() - t0, 2)
    times = {"sentence-transformers": 0.0, **{n: 0.0 for n in variants}}
    vecs = {n: np.zeros((len(texts), 384), np.float32) for n in times}
    bounds = np.linspace(0, len(texts), chunks + 1).astype(int)
    order = np.random.default_rng(0).permutation(len(texts))  # every chunk has both kinds of text
    for c in range(chunks):
        idx = order[bounds[c] : bounds[c + 1]]
        part = [texts[i] for i in idx]
        t0 = time.perf_counter()
        vecs["sentence-transformers"][idx] = st.encode(part, batch_size=BATCH, normalize_embeddings=True)
        times["sentence-transformers"] += time.perf_counter() - t0
        for name, enc in variants.items():
            t0 = time.perf_counter()
            vecs[name][idx] = enc.encode(part, batch_size=BATCH)
            times[name] += time.perf_counter() - t0
        log.info("encoding chunk %d/%d: %s", c + 1, chunks, {k: round(v, 1) for k, v in times.items()})
    ref = vecs["sentence-transformers"]
    nq = len(queries)
    ref_top = topk_sets(ref[len(passages) :], ref[: len(passages)], TOP_K)
    rows = []
    for name, t in times.items():
        v = vecs[name]
        cos = (v * ref).sum(axis=1)
        top = topk_sets(v[len(passages) :], v[: len(passages)], TOP_K)
        enc = variants.get(name)
        rows.append(
            {
                "encoder": name,
                "backend": enc.backend_used if enc is not None else "torch fp32",
                "precision": (enc._fast.runner.precision if enc is not None and enc._fast else "f32"),
                "texts": len(texts),
                "seconds": round(t, 1),
                "texts_per_s": round(len(texts) / t, 1),
                "speedup": round(times["sentence-transformers"] / t, 2),
                "cos_min": round(float(cos.min()), 5),
                "cos_mean": round(float(cos.mean()), 6),
                "recall@50_vs_fp32": round(recall_at(ref_top, top), 4),
                "prepare_s": prep.get(name, 0.0),
                "cache_key": getattr(enc, "model_id", "sentence-transformers/all-MiniLM-L6-v2"),
            }
        )
    return {"queries": nq, "passages": len(passages), "rows": rows}, vecs


# --------------------------------------------------------------------------- (b) mining
def bench_mining(
    queries: list[str], passages: list[str], positives: list[list[int]], vecs: dict[str, np.ndarray]
) -> dict[str, Any]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import mine_hard_negatives

    from embcore.mining.config import MiningConfig
    from embcore.mining.pipeline import mine
    from embcore.mining.types import MiningInput
    from embcore.models.encoders import SentenceTransformerEncoder, resolve_model

    inp = MiningInput(
        query_ids=np.arange(len(queries), dtype=np.int64),
        query_texts=queries,
        passage_ids=np.arange(len(passages), dtype=np.int64),
        passage_texts=passages,
        positives=positives,
    )
    cfg = MiningConfig(
        strategies=["dense"], top_k=TOP_K, num_negatives=NUM_NEG, relative_margin=0.05, batch_size=BATCH
    )
    pairs = [(queries[q], passages[p]) for q, ps in enumerate(positives) for p in ps]
    st = SentenceTransformer(resolve_model("default"), device="cpu")
    st.encode(["warm up"] * 8, batch_size=BATCH)
    fast = SentenceTransformerEncoder(None, backend="auto")
    fast.fast_path(len(queries) + len(passages))
    fast.encode(["warm up"] * 8)
    # alternate: ours, theirs, ours (median of ours), so load changes hit both
    ours_s: list[float] = []
    res = None
    for _ in range(2):
        t0 = time.perf_counter()
        res = mine(inp, cfg, encoder=fast, cache=None)
        ours_s.append(time.perf_counter() - t0)
        if len(ours_s) == 1:
            ds = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [c for _, c in pairs]})
            t0 = time.perf_counter()
            mine_hard_negatives(
                ds, st, anchor_column_name="anchor", positive_column_name="positive", range_max=TOP_K,
                relative_margin=0.05, num_negatives=NUM_NEG, sampling_strategy="top", batch_size=BATCH,
                output_format="n-tuple", verbose=False,
            )  # fmt: skip
            st_s = time.perf_counter() - t0
    assert res is not None
    ours = float(np.mean(ours_s))
    # the negatives with fp32 vectors (replayed from (a): no second encoding)
    texts = passages + queries
    fp32 = ReplayEncoder("fp32", texts, vecs["sentence-transformers"])
    res32 = mine(inp, cfg, encoder=fp32, cache=None)

    def selected(r: Any) -> set[tuple[int, int]]:
        c = r.candidates
        sel = c[c["status"] == "selected"]
        return set(zip(sel["query_idx"].astype(int), sel["cand_idx"].astype(int), strict=True))

    a, b = selected(res), selected(res32)
    return {
        "queries": len(queries),
        "passages": len(passages),
        "ours_s": round(ours, 1),
        "ours_runs_s": [round(x, 1) for x in ours_s],
        "ours_timings": res.stats.get("timings"),
        "sentence_transformers_s": round(st_s, 1),
        "ratio": round(ours / st_s, 3),
        "negatives_fast": len(a),
        "negatives_fp32": len(b),
        "negatives_changed_share": round(1 - len(a & b) / max(len(b), 1), 4),
    }


# --------------------------------------------------------------------------- (c) fine-tuning
OLD_DEFAULTS = {
    "num_negatives": 7,
    "mini_batch_size": 32,
    "max_seq_length": None,
    "precision": "fp32",
    "eval_val": True,
}


def build_export(csv: Path, work: Path, rows: int) -> Path:
    """The 800-row export: ``embcore build`` on the first ``rows`` rows (split 0.8/0.1/0.1, hybrid, 7 negatives)."""
    out = work / f"export{rows}"
    if (out / "train.jsonl").is_file():
        return out
    work.mkdir(parents=True, exist_ok=True)
    sub = work / f"first{rows}.csv"
    with csv.open(encoding="utf-8") as f:
        lines = [next(f) for _ in range(rows + 1)]
    sub.write_text("".join(lines), encoding="utf-8")
    cmd = [sys.executable, "-m", "embcore.cli", "build", str(sub), "--out", str(out), "--query-col", "question",
           "--pos-col", "context", "--negatives", "hybrid", "--num-neg", str(NUM_NEG), "--split", "0.8,0.1,0.1",
           "--seed", "42", "--no-progress", "--replace"]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=os.environ.copy())
    if proc.returncode != 0:
        raise SystemExit(f"embcore build failed:\n{proc.stderr[-2000:]}")
    return out


def run_finetune_child(args: argparse.Namespace) -> dict[str, Any]:
    """One fine-tuning run (in its own process: its peak RSS is its own)."""
    from embcore.training.finetune import finetune

    kwargs = json.loads(args.child_kwargs)
    t0 = time.perf_counter()
    rep = finetune(args.data, None, Path(args.work) / f"model-{args.child}", progress=None, **kwargs)
    total = time.perf_counter() - t0
    return {
        "variant": args.child,
        "steps": rep.steps,
        "s_per_step": round(rep.timing["train"] / max(rep.steps, 1), 2),
        "train_s": round(rep.timing["train"], 1),
        "train_estimated_s": rep.timing.get("train_estimated"),
        "eval_s": round(rep.timing.get("eval_base", 0) + rep.timing.get("eval_finetuned", 0), 1),
        "total_s": round(total, 1),
        "peak_rss_mb": rep.peak_memory_mb.get("rss"),
        "ndcg@10_base": (rep.base or {}).get("metrics", {}).get("ndcg@10"),
        "ndcg@10": (rep.finetuned or {}).get("metrics", {}).get("ndcg@10"),
        "settings": {
            k: rep.settings.get(k)
            for k in (
                "num_negatives",
                "mini_batch_size",
                "max_seq_length",
                "precision",
                "eval_val",
                "threads",
            )
        },
    }


def spawn_finetune(
    name: str, data: Path, work: Path, kwargs: dict[str, Any], env: dict[str, str]
) -> dict[str, Any]:
    out = work / f"result-{name}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", name, "--data", str(data), "--work", str(work),
           "--child-kwargs", json.dumps(kwargs), "--child-out", str(out)]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"fine-tuning run {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(out.read_text())


def bench_finetune(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work)
    data = build_export(args.csv, work, args.train_csv_rows)
    common: dict[str, Any] = {"seed": 42}
    if args.quick:
        common |= {"max_steps": 3, "eval_max_queries": 30}
    old_env = os.environ.copy() | {"EMBCORE_BACKEND": "torch"}  # the old code evaluated on PyTorch
    new_env = os.environ.copy()
    out: dict[str, Any] = {"data": str(data)}
    if "before" in args.ft_variants:
        out["before"] = spawn_finetune("before", data, work, common | OLD_DEFAULTS, old_env)
        log.info("fine-tuning before: %s", out["before"])
    if "after" in args.ft_variants:
        out["after"] = spawn_finetune("after", data, work, common, new_env)
        log.info("fine-tuning after: %s", out["after"])
    return out


# --------------------------------------------------------------------------- report
def table(rows: list[dict[str, Any]], cols: list[str]) -> str:
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
    line = "  ".join(c.ljust(widths[c]) for c in cols)
    out = [line, "  ".join("-" * widths[c] for c in cols)]
    out += ["  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols) for r in rows]
    return "\n".join(out)


def report(results: dict[str, Any]) -> str:
    lines = [
        "",
        f"CPU speed benchmark (issue 17)  machine: {results['machine']}",
        f"load average at start/end: {results['load']}",
    ]
    if "encoding" in results:
        e = results["encoding"]
        lines += [
            "",
            f"(a) encoding {e['passages']:,} contexts + {e['queries']:,} questions (alternating chunks, same run)",
        ]
        lines.append(
            table(
                e["rows"],
                [
                    "encoder",
                    "backend",
                    "precision",
                    "seconds",
                    "texts_per_s",
                    "speedup",
                    "cos_min",
                    "cos_mean",
                    "recall@50_vs_fp32",
                    "prepare_s",
                    "cache_key",
                ],
            )
        )
    if "mining" in results:
        m = results["mining"]
        lines += [
            "",
            f"(b) dense mining end to end, {m['queries']:,} queries x {m['passages']:,} passages (top-50, margin 5%, 7 negatives)",
        ]
        lines.append(table([
            {"run": "embcore mine (fast encoder)", "seconds": m["ours_s"], "ratio": m["ratio"], "target": "<= 0.5"},
            {"run": "sentence-transformers mine_hard_negatives", "seconds": m["sentence_transformers_s"], "ratio": 1.0, "target": ""},
        ], ["run", "seconds", "ratio", "target"]))  # fmt: skip
        lines.append(f"exported negatives that change with the fast path's vectors instead of fp32: {m['negatives_changed_share']:.2%} "
                     f"({m['negatives_fast']:,} vs {m['negatives_fp32']:,} selected)")  # fmt: skip
    if "finetune" in results:
        f = results["finetune"]
        rows = [f[v] for v in ("before", "after") if v in f]
        lines += ["", f"(c) one fine-tuning epoch on {f['data']} (each run in its own process)"]
        lines.append(
            table(
                rows,
                [
                    "variant",
                    "steps",
                    "s_per_step",
                    "train_s",
                    "train_estimated_s",
                    "eval_s",
                    "total_s",
                    "peak_rss_mb",
                    "ndcg@10_base",
                    "ndcg@10",
                ],
            )
        )
        for r in rows:
            lines.append(f"  {r['variant']}: {r['settings']}")
        b, a = f.get("before", {}), f.get("after", {})
        if b.get("ndcg@10") is not None and a.get("ndcg@10") is not None:
            lines.append(f"  NDCG@10 after - before: {a['ndcg@10'] - b['ndcg@10']:+.4f} (target >= -0.005); "
                         f"step speed-up {b['s_per_step'] / max(a['s_per_step'], 1e-9):.1f}x; "
                         f"total {a['total_s']:.0f} s (target <= 300); peak RSS {a['peak_rss_mb']:.0f} MB (target <= 3072)")  # fmt: skip
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    p.add_argument("--quick", action="store_true", help="smoke test: 400 questions, fine-tuning for 3 steps")
    p.add_argument(
        "--limit", type=int, default=None, help="use the first N distinct questions (default: all)"
    )
    p.add_argument("--chunks", type=int, default=6, help="alternating chunks for (a)")
    p.add_argument(
        "--train-csv-rows",
        type=int,
        default=1000,
        help="CSV rows behind the fine-tuning export (0.8 -> train)",
    )
    p.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    p.add_argument("--skip-encoding", action="store_true")
    p.add_argument("--skip-mining", action="store_true")
    p.add_argument("--skip-finetune", action="store_true")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    p.add_argument(
        "--ft-variants",
        default="before,after",
        help="fine-tuning runs of (c): before, after or both (default)",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--child-kwargs", help=argparse.SUPPRESS)
    p.add_argument("--child-out", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick and args.limit is None:
        args.limit = 400
    if args.quick:
        args.chunks = min(args.chunks, 2)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    for noisy in ("sentence_transformers", "transformers", "httpx", "datasets"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if args.child:
        res = run_finetune_child(args)
        Path(args.child_out).write_text(json.dumps(res))
        return 0
    if not args.csv.is_file():
        raise SystemExit(f"{args.csv}: no such file (pass --csv)")
    from embcore.models.estimate import machine_key

    tmp = tempfile.TemporaryDirectory(prefix="bench-cpu-speed-") if args.work is None else None
    args.work = args.work or tmp.name
    results: dict[str, Any] = {
        "machine": machine_key(),
        "load": [round(os.getloadavg()[0], 2)],
        "quick": args.quick,
    }
    queries, passages, positives = load_pairs(args.csv, args.limit)
    vecs: dict[str, np.ndarray] = {}
    if not args.skip_encoding or not args.skip_mining:
        results["encoding"], vecs = bench_encoding(queries, passages, args.chunks)
        log.info("encoding: %s", results["encoding"]["rows"])
    if not args.skip_mining:
        results["mining"] = bench_mining(queries, passages, positives, vecs)
        log.info("mining: %s", results["mining"])
    if not args.skip_finetune:
        results["finetune"] = bench_finetune(args)
    results["load"].append(round(os.getloadavg()[0], 2))
    text = report(results)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
