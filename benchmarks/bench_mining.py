#!/usr/bin/env python
"""Benchmark of the mining engine on financial-qa-10K (questions -> queries, contexts -> positives).

Measured in the same run and printed as ratios:

(a) BM25: our sparse-matrix engine (top-50 for every query) against rank-bm25's ``get_scores``
    loop on the same tokens (timed on a random sample of queries, per-query time extrapolated to
    all of them), top-10 agreement with rank-bm25, and bm25s for reference.
(b) Dense: ``embcore.mining.pipeline.mine`` against ``sentence_transformers.util.mine_hard_negatives``
    with the same model, depth, margin and batch size on a cold cache, then a warm re-mine with
    other margins (cached embeddings: nothing is re-encoded).
(c) Peak memory: tracemalloc for BM25 (numpy/scipy/Python allocations), ru_maxrss growth over
    the post-warm-up baseline for the dense runs (each in its own subprocess).
(d) Growth from 1k to all (~6.9k) queries.

Usage::

    .venv/bin/python benchmarks/bench_mining.py            # full run (several minutes on 2 cores)
    .venv/bin/python benchmarks/bench_mining.py --quick    # 2,000 queries, smaller samples
    .venv/bin/python benchmarks/bench_mining.py --skip-dense --json out.json
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
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from embcore.mining.types import MiningInput  # noqa: E402
from embcore.text import clean_text, match_key  # noqa: E402

DEFAULT_CSV = ROOT.parent / "shared" / "data" / "financial-qa-10k" / "Financial-QA-10k.csv"
TOP_K = 50
NUM_NEG = 7
BATCH = 64
log = logging.getLogger("bench_mining")


# --------------------------------------------------------------------------- data
def load_pairs(
    csv: Path, limit: int | None = None
) -> tuple[list[str], list[str], list[list[int]], list[tuple[str, str]]]:
    """(queries, passages, positives, (question, context) pairs) with cleaned texts, rows grouped by
    question and contexts deduplicated; ``limit`` keeps the first N distinct questions."""
    import pandas as pd

    df = pd.read_csv(csv).dropna(subset=["question", "context"])
    pairs = list(
        dict.fromkeys(
            zip((clean_text(q) for q in df["question"]), (clean_text(c) for c in df["context"]), strict=True)
        )
    )
    positives: dict[str, list[str]] = {}
    for q, c in pairs:
        positives.setdefault(q, []).append(c)
    queries = list(positives)[:limit] if limit else list(positives)
    keep = set(queries)
    pairs = [(q, c) for q, c in pairs if q in keep]
    passages = list(dict.fromkeys(c for _, c in pairs))
    index = {c: i for i, c in enumerate(passages)}
    return queries, passages, [[index[c] for c in positives[q]] for q in queries], pairs


def to_input(queries: list[str], passages: list[str], positives: list[list[int]]) -> MiningInput:
    return MiningInput(
        query_ids=np.arange(len(queries), dtype=np.int64),
        query_texts=queries,
        passage_ids=np.arange(len(passages), dtype=np.int64),
        passage_texts=passages,
        positives=positives,
    )


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def maxrss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- (a) BM25 worker
def _ref_top(scores: np.ndarray, k: int) -> list[int]:
    """rank-bm25's best k documents with a positive score (ties: lower index first)."""
    top = np.argsort(-scores, kind="stable")[:k]
    return [int(d) for d in top if scores[d] > 0]


def worker_bm25(args: argparse.Namespace) -> dict[str, Any]:
    import bm25s
    from rank_bm25 import BM25Okapi

    from embcore.mining.bm25 import bm25_topk, build_bm25
    from embcore.mining.tokenize import tokenize

    queries, passages, positives, _ = load_pairs(args.csv, args.limit)
    out: dict[str, Any] = {"n_queries": len(queries), "n_passages": len(passages)}
    t = time.perf_counter()
    p_tok, q_tok = tokenize(passages, "word"), tokenize(queries, "word")
    out["tokenize_s"] = time.perf_counter() - t
    # ours: index + top-50 of every query
    t = time.perf_counter()
    index = build_bm25(p_tok)
    out["ours_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    top = bm25_topk(index, q_tok, TOP_K)
    out["ours_topk_s"] = time.perf_counter() - t
    # rank-bm25: index, then the get_scores loop on a random sample of queries
    t = time.perf_counter()
    ref = BM25Okapi(p_tok)
    out["ref_build_s"] = time.perf_counter() - t
    sample = np.random.default_rng(0).choice(len(q_tok), size=min(args.ref_sample, len(q_tok)), replace=False)
    t = time.perf_counter()
    ref_scores = {}
    for i in sample:
        s = ref.get_scores(q_tok[i])
        np.argsort(s)[::-1][:TOP_K]  # what get_top_n does
        ref_scores[int(i)] = s
    out["ref_sample"] = len(sample)
    out["ref_per_query_s"] = (time.perf_counter() - t) / len(sample)
    out["ref_loop_extrapolated_s"] = out["ref_per_query_s"] * len(q_tok)
    # top-10 agreement on the sampled queries: strict set overlap and tie-aware
    strict, tie_aware = [], []
    for i, s in ref_scores.items():
        want = _ref_top(s, 10)
        if not want:
            continue
        got = [int(d) for d in top.indices[i, :10] if d >= 0]
        strict.append(len(set(got) & set(want)) / len(want))
        tenth = s[want[-1]]
        tie_aware.append(np.mean([s[d] >= tenth - 1e-9 for d in got[: len(want)]]))
    out["agree_top10_strict"] = float(np.mean(strict))
    out["agree_top10_tie_aware"] = float(np.mean(tie_aware))
    # bm25s (robertson idf, no epsilon floor) for reference
    t = time.perf_counter()
    retriever = bm25s.BM25(method="robertson")
    retriever.index(p_tok, show_progress=False)
    out["bm25s_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    b_idx, _ = retriever.retrieve(q_tok, k=TOP_K, show_progress=False)
    out["bm25s_retrieve_s"] = time.perf_counter() - t
    out["bm25s_agree_top10"] = float(
        np.mean(
            [
                len(set(b_idx[i, :10].tolist()) & set(_ref_top(s, 10))) / len(_ref_top(s, 10))
                for i, s in ref_scores.items()
                if _ref_top(s, 10)
            ]
        )
    )
    # (c) traced peak memory, untimed
    del index, top, ref
    tracemalloc.start()
    bm25_topk(build_bm25(p_tok), q_tok, TOP_K)
    out["ours_traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    tracemalloc.start()
    ref = BM25Okapi(p_tok)
    for i in sample[:50]:
        np.argsort(ref.get_scores(q_tok[i]))[::-1][:TOP_K]
    out["ref_traced_peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    # (d) growth
    out["growth"] = []
    for n in args.sizes:
        sq, sp_, _, _ = load_pairs(args.csv, n)
        pt, qt = tokenize(sp_, "word"), tokenize(sq, "word")
        t = time.perf_counter()
        bm25_topk(build_bm25(pt), qt, TOP_K)
        ours = time.perf_counter() - t
        r = BM25Okapi(pt)
        sub = np.random.default_rng(1).choice(len(qt), size=min(100, len(qt)), replace=False)
        t = time.perf_counter()
        for i in sub:
            np.argsort(r.get_scores(qt[i]))[::-1][:TOP_K]
        ref_all = (time.perf_counter() - t) / len(sub) * len(qt)
        out["growth"].append(
            {"n_queries": len(sq), "n_passages": len(sp_), "ours_s": ours, "ref_extrapolated_s": ref_all}
        )
    return out


# --------------------------------------------------------------------------- (b) dense workers
def _load_st_model():  # noqa: ANN202
    from sentence_transformers import SentenceTransformer

    from embcore.models.encoders import resolve_model

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = SentenceTransformer(resolve_model("default"), device="cpu")
    model.encode(["warm up the model"] * 8, batch_size=BATCH)
    return model


def worker_dense_st(args: argparse.Namespace) -> dict[str, Any]:
    from datasets import Dataset
    from sentence_transformers.util import mine_hard_negatives

    queries, passages, positives, pairs = load_pairs(args.csv, args.limit)
    model = _load_st_model()
    ds = Dataset.from_dict({"anchor": [q for q, _ in pairs], "positive": [c for _, c in pairs]})
    base = rss_mib()
    t, cpu = time.perf_counter(), time.process_time()
    res = mine_hard_negatives(
        ds, model, anchor_column_name="anchor", positive_column_name="positive", range_max=TOP_K,
        relative_margin=0.05, num_negatives=NUM_NEG, sampling_strategy="top", batch_size=BATCH,
        output_format="n-tuple", verbose=False,
    )  # fmt: skip
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    negatives: dict[str, list[str]] = {}
    for row in res:
        negatives.setdefault(row["anchor"], [])
        for j in range(1, NUM_NEG + 1):
            if row[f"negative_{j}"] not in negatives[row["anchor"]]:
                negatives[row["anchor"]].append(row[f"negative_{j}"])
    Path(args.negatives_out).write_text(json.dumps(negatives))
    return {
        "n_queries": len(queries), "n_passages": len(passages), "cold_s": elapsed,
        "cold_cpu_s": cpu,
        "peak_rss_growth_mib": maxrss_mib() - base, "rows": len(res),
    }  # fmt: skip


class CountingEncoder:
    """Wraps an encoder and counts the texts it is asked to encode."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.model_id, self.encoded = inner, inner.model_id, 0

    def encode(self, texts, **kwargs):  # noqa: ANN001, ANN201
        self.encoded += len(texts)
        return self.inner.encode(texts, **kwargs)


def worker_dense_ours(args: argparse.Namespace) -> dict[str, Any]:
    from embcore.mining.config import MiningConfig
    from embcore.mining.pipeline import mine
    from embcore.mining.types import DictEmbeddingCache
    from embcore.models.encoders import SentenceTransformerEncoder

    queries, passages, positives, _ = load_pairs(args.csv, args.limit)
    inp = to_input(queries, passages, positives)
    inner = SentenceTransformerEncoder("default")
    inner._model = _load_st_model()  # same loading and warm-up as the sentence-transformers run
    enc, cache = CountingEncoder(inner), DictEmbeddingCache()
    cfg = MiningConfig(
        strategies=["dense"], top_k=TOP_K, num_negatives=NUM_NEG, relative_margin=0.05, batch_size=BATCH
    )
    base = rss_mib()
    t, cpu = time.perf_counter(), time.process_time()
    res = mine(inp, cfg, encoder=enc, cache=cache)
    out: dict[str, Any] = {
        "n_queries": len(queries),
        "n_passages": len(passages),
        "cold_s": time.perf_counter() - t,
        "cold_cpu_s": time.process_time() - cpu,
    }
    out["peak_rss_growth_mib"] = maxrss_mib() - base
    out["cold_timings"] = res.stats["timings"]
    out["encoded_cold"] = enc.encoded
    # warm re-mine with other margins: cached embeddings, nothing re-encoded
    warm_cfg = MiningConfig(
        strategies=["dense"],
        top_k=TOP_K,
        num_negatives=NUM_NEG,
        relative_margin=0.1,
        absolute_margin=0.02,
        max_score=0.9,
    )
    t = time.perf_counter()
    warm = mine(inp, warm_cfg, encoder=enc, cache=cache)
    out["warm_s"] = time.perf_counter() - t
    out["warm_timings"] = warm.stats["timings"]
    t = time.perf_counter()
    hybrid = mine(
        inp, MiningConfig(strategies=["hybrid"], top_k=TOP_K, num_negatives=NUM_NEG), encoder=enc, cache=cache
    )
    out["warm_hybrid_s"] = time.perf_counter() - t
    out["re_encoded_warm"] = enc.encoded - out["encoded_cold"]
    out["leaks"] = {
        name: _leaks(inp, r.candidates) for name, r in (("dense", res), ("warm", warm), ("hybrid", hybrid))
    }
    out["stats"] = {
        k: res.stats[k] for k in ("filters", "status", "queries_without_negatives", "selected_per_query")
    }
    sel = res.candidates[res.candidates["status"] == "selected"]
    negatives: dict[str, list[str]] = {}
    for q, c in zip(sel["query_idx"], sel["cand_idx"], strict=True):
        negatives.setdefault(queries[q], []).append(passages[c])
    Path(args.negatives_out).write_text(json.dumps(negatives))
    # (d) growth: warm mining of growing subsets (the cache is keyed by text, so nothing is encoded)
    out["growth"] = []
    for n in args.sizes:
        sq, sp_, spos, _ = load_pairs(args.csv, n)
        t = time.perf_counter()
        mine(to_input(sq, sp_, spos), cfg, encoder=enc, cache=cache)
        out["growth"].append(
            {"n_queries": len(sq), "n_passages": len(sp_), "warm_s": time.perf_counter() - t}
        )
    out["re_encoded_growth"] = enc.encoded - out["encoded_cold"]
    return out


def _leaks(inp: MiningInput, frame: Any) -> dict[str, int]:
    """Selected negatives that are a positive of their query by id, by normalised text, or near-duplicates."""
    sel = frame[frame["status"] == "selected"]
    keys = [match_key(t) for t in inp.passage_texts]
    by_id = by_text = 0
    for q, c in zip(sel["query_idx"], sel["cand_idx"], strict=True):
        by_id += c in inp.positives[q]
        by_text += any(keys[c] == keys[p] for p in inp.positives[q])
    return {
        "selected": len(sel),
        "positive_id": by_id,
        "positive_text": by_text,
        "near_dup_0.98": int((sel["pos_sim"] >= 0.98).sum()),
    }


def st_leaks(csv: Path, limit: int | None, negatives: dict[str, list[str]]) -> dict[str, int]:
    """Negatives of mine_hard_negatives equal to a positive of their query after normalisation."""
    queries, passages, positives, _ = load_pairs(csv, limit)
    pos_keys = {q: {match_key(passages[p]) for p in ps} for q, ps in zip(queries, positives, strict=True)}
    total = sum(len(v) for v in negatives.values())
    text = sum(match_key(n) in pos_keys.get(q, set()) for q, negs in negatives.items() for n in negs)
    return {"negatives": total, "positive_text": text}


# --------------------------------------------------------------------------- orchestration
def run_worker(name: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", name, "--csv", str(args.csv),
           "--ref-sample", str(args.ref_sample), "--sizes", ",".join(str(s or 0) for s in args.sizes), *extra]  # fmt: skip
    if args.limit:
        cmd += ["--limit", str(args.limit)]
    print(f"  running {name} ...", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"worker {name} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report_bm25(r: dict[str, Any]) -> None:
    ours = r["ours_build_s"] + r["ours_topk_s"]
    print(
        f"\n(a) BM25 top-{TOP_K}, {r['n_queries']} queries x {r['n_passages']} passages (same 'word' tokens for all)"
    )
    print(f"  tokenize (shared)            {r['tokenize_s']:8.2f} s")
    print(
        f"  embcore  index + top-{TOP_K}      {r['ours_build_s']:8.2f} s + {r['ours_topk_s']:.2f} s = {ours:.2f} s"
    )
    print(f"  rank-bm25 index              {r['ref_build_s']:8.2f} s")
    print(
        f"  rank-bm25 get_scores loop    {r['ref_per_query_s'] * 1000:8.2f} ms/query, timed on {r['ref_sample']} random queries,"
        f" extrapolated to all {r['n_queries']}: {r['ref_loop_extrapolated_s']:.1f} s"
    )
    print(
        f"  speed-up, scoring loop vs embcore top-k        {r['ref_loop_extrapolated_s'] / r['ours_topk_s']:8.1f}x   (target >= 50x)"
    )
    print(
        f"  speed-up, index + loop vs embcore index + top-k {(r['ref_build_s'] + r['ref_loop_extrapolated_s']) / ours:7.1f}x"
    )
    print(
        f"  top-10 agreement with rank-bm25 (sampled): strict {r['agree_top10_strict']:.4f}, tie-aware {r['agree_top10_tie_aware']:.4f}   (target >= 0.99)"
    )
    print(
        f"  bm25s (robertson idf without the epsilon floor): index {r['bm25s_build_s']:.2f} s, retrieve {r['bm25s_retrieve_s']:.2f} s, top-10 agreement {r['bm25s_agree_top10']:.4f}"
    )
    print(
        f"  (c) traced peak memory: embcore {r['ours_traced_peak_mib']:.0f} MiB, rank-bm25 index + 50 queries {r['ref_traced_peak_mib']:.0f} MiB"
    )


def report_dense(st: dict[str, Any], ours: dict[str, Any], overlap: float, st_leak: dict[str, int]) -> None:
    print(f"\n(b) dense mining, all-MiniLM-L6-v2, {ours['n_queries']} queries x {ours['n_passages']} passages, depth {TOP_K}, "
          f"relative_margin 0.05, {NUM_NEG} negatives, batch {BATCH}, cold cache")  # fmt: skip
    print(f"  sentence-transformers mine_hard_negatives {st['cold_s']:8.1f} s")
    enc = ours["cold_timings"].get("encode", 0.0)
    print(
        f"  embcore mine (cold)                       {ours['cold_s']:8.1f} s   (encoding {enc:.1f} s, the rest {ours['cold_s'] - enc:.1f} s)"
    )
    print(
        f"  ratio embcore / sentence-transformers     {ours['cold_s'] / st['cold_s']:8.3f}    (target <= 1.0; wall clock)"
    )
    print(
        f"  process CPU time: sentence-transformers {st['cold_cpu_s']:.1f} s, embcore {ours['cold_cpu_s']:.1f} s, "
        f"ratio {ours['cold_cpu_s'] / st['cold_cpu_s']:.3f} (less sensitive to other load on the machine)"
    )
    print(
        f"  warm re-mine, other margins (cached)      {ours['warm_s']:8.2f} s   (target < 5 s); texts re-encoded: {ours['re_encoded_warm']}"
    )
    print(f"  warm hybrid (bm25 + dense, RRF)           {ours['warm_hybrid_s']:8.2f} s")
    print(f"  warm timings: {ours['warm_timings']}")
    print(f"  (c) peak RSS growth over the warmed-up baseline: sentence-transformers {st['peak_rss_growth_mib']:.0f} MiB, "
          f"embcore {ours['peak_rss_growth_mib']:.0f} MiB")  # fmt: skip
    print(f"  selected negatives shared with sentence-transformers: {overlap:.3f}")
    for name, lk in ours["leaks"].items():
        print(f"  embcore {name:6s} leaks among {lk['selected']} selected: positive id {lk['positive_id']}, "
              f"normalised text {lk['positive_text']}, near-duplicate >= 0.98 {lk['near_dup_0.98']}")  # fmt: skip
    print(
        f"  sentence-transformers negatives equal to a positive after normalisation: {st_leak['positive_text']} of {st_leak['negatives']}"
    )
    print(f"  embcore filter removals (cold run): {ours['stats']['filters']}")


def report_growth(bm: dict[str, Any] | None, dense: dict[str, Any] | None) -> None:
    print("\n(d) growth")
    print(
        f"  {'queries':>8} {'passages':>9} {'bm25 embcore':>13} {'rank-bm25 (extrap.)':>20} {'dense warm':>11}"
    )
    rows = (bm or {}).get("growth") or [{} for _ in (dense or {}).get("growth", [])]
    drows = (dense or {}).get("growth") or [{} for _ in rows]
    for b, d in zip(rows, drows, strict=True):
        n, npas = b.get("n_queries", d.get("n_queries")), b.get("n_passages", d.get("n_passages"))
        fmt = lambda v, w: f"{v:{w}.2f}" if v is not None else " " * (w - 1) + "-"  # noqa: E731
        print(
            f"  {n:>8} {npas:>9} {fmt(b.get('ours_s'), 12)} s {fmt(b.get('ref_extrapolated_s'), 19)} s {fmt(d.get('warm_s'), 10)} s"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--csv", type=Path, default=DEFAULT_CSV, help="financial-qa-10K CSV (default: %(default)s)"
    )
    parser.add_argument("--quick", action="store_true", help="2,000 queries, 100 sampled rank-bm25 queries")
    parser.add_argument("--limit", type=int, help="use only the first N distinct questions")
    parser.add_argument(
        "--ref-sample", type=int, default=500, help="queries timed with rank-bm25 (default: %(default)s)"
    )
    parser.add_argument(
        "--sizes", default="1000,2000,4000,0", help="growth sizes; 0 = all (default: %(default)s)"
    )
    parser.add_argument("--skip-dense", action="store_true", help="only the BM25 part (no model)")
    parser.add_argument("--json", type=Path, help="also write all measurements to this file")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--negatives-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.limit = args.limit or 2000
        args.ref_sample = min(args.ref_sample, 100)
        args.sizes = args.sizes if args.sizes != "1000,2000,4000,0" else "500,1000,0"
    args.sizes = (
        [int(s) or None for s in str(args.sizes).split(",")] if isinstance(args.sizes, str) else args.sizes
    )
    if args.limit:
        args.sizes = [min(s, args.limit) if s else args.limit for s in args.sizes]
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    workers = {"bm25": worker_bm25, "dense-st": worker_dense_st, "dense-ours": worker_dense_ours}
    if args.worker:
        print(json.dumps(workers[args.worker](args), default=float))
        return 0
    if not args.csv.exists():
        raise SystemExit(f"dataset not found: {args.csv}")
    print(
        f"bench_mining: {args.csv.name}, limit={args.limit or 'all'}, CPU cores={os.cpu_count()}, load avg={os.getloadavg()[0]:.1f}"
    )
    results: dict[str, Any] = {"bm25": run_worker("bm25", args, [])}
    report_bm25(results["bm25"])
    if not args.skip_dense:
        with tempfile.TemporaryDirectory() as tmp:
            st_file, ours_file = Path(tmp) / "st.json", Path(tmp) / "ours.json"
            results["dense_st"] = run_worker("dense-st", args, ["--negatives-out", str(st_file)])
            results["dense_ours"] = run_worker("dense-ours", args, ["--negatives-out", str(ours_file)])
            st_neg, ours_neg = json.loads(st_file.read_text()), json.loads(ours_file.read_text())
        shared = [
            len(set(v) & set(st_neg.get(q, []))) / len(v) for q, v in ours_neg.items() if v and q in st_neg
        ]
        results["overlap_with_st"] = float(np.mean(shared)) if shared else 0.0
        results["st_leaks"] = st_leaks(args.csv, args.limit, st_neg)
        report_dense(
            results["dense_st"], results["dense_ours"], results["overlap_with_st"], results["st_leaks"]
        )
    report_growth(results["bm25"], results.get("dense_ours"))
    print(
        f"\nload avg at the end: {os.getloadavg()[0]:.1f} (timings on a shared 2-core machine are noisy; ratios come from one run)"
    )
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
