"""Review latency on the full financial-qa-10K project: how long "next query" takes.

    .venv/bin/python benchmarks/bench_review.py [--csv PATH] [--db PATH] [--steps 200] [--clicks 60]

1. Builds (once; reused on later runs) a project from Financial-QA-10k.csv (7,000 rows) in a
   DuckDB file and mines it with BM25 (lexical only: fast, no model).
2. Data access path: times every core call the Review page makes on one rerun (project list,
   runs, progress, filter options, filtered order, reviewed ids, the query with positives and
   candidates) for ``--steps`` consecutive "next" moves, with no filter and with
   "unreviewed + text search + ticker" filters, while every 4th query gets a decision.
3. Click path: drives the real page with Streamlit's AppTest (script run + element tree,
   no browser) and times ``--clicks`` clicks on "Next" and on "Accept next up".

Prints p50 / p95 / max in milliseconds. Target: p95 < 300 ms for moving to the next query.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embcore import review  # noqa: E402
from embcore.mining.config import MiningConfig  # noqa: E402
from embcore.store import Store  # noqa: E402
from embcore.workflow import create_project, run_mining  # noqa: E402

DEFAULT_CSV = Path("/work/shared/data/financial-qa-10k/Financial-QA-10k.csv")
PROJECT = "financial-qa-10k-bench"


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def line(name: str, ms: list[float]) -> str:
    return (
        f"{name:<46} n={len(ms):<4} p50={statistics.median(ms):7.1f} ms  p95={pct(ms, 95):7.1f} ms  "
        f"max={max(ms):7.1f} ms"
    )


def build(db: Path, csv: Path) -> tuple[int, int]:
    """The benchmark project and its BM25 run (created once, reused afterwards)."""
    with Store(db) as store:
        row = store.fetchall("SELECT id FROM projects WHERE name = ?", [PROJECT])
        if row:
            pid = int(row[0][0])
            run_id = store.latest_run(pid)
            if run_id is not None:
                return pid, run_id
        else:
            t0 = time.perf_counter()
            pid = create_project(store, csv, name=PROJECT).project_id
            print(f"project created in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        cfg = MiningConfig(strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None)
        run_id = run_mining(store, pid, cfg)
        print(f"BM25 mining in {time.perf_counter() - t0:.1f} s")
        return pid, run_id


def page_data_path(store: Store, pid: int, run_id: int, flt: review.ReviewFilter, qid: int) -> int | None:
    """Every core call one Review rerun makes after a "Next" click; returns the query shown next."""
    review.project_names(store)  # sidebar project picker
    review.finished_runs(store, pid)  # sidebar run picker
    review.progress(store, pid)  # sidebar progress
    # (filter options: metadata values and run sources are computed once per session)
    order = review.query_order(store, pid, run_id, flt)
    reviewed = review.reviewed_ids(store, pid)
    nxt = review.step(order, qid, +1)
    if nxt is None:
        return None
    review.locate(order, nxt)
    q = review.load_query(store, pid, run_id, nxt)
    _ = (q.bm25, q.dense, q.other, q.filtered, q.overlap, q.next_up, q.counts())
    review.next_unreviewed(order, reviewed, nxt)
    return nxt


def bench_data_path(db: Path, pid: int, run_id: int, steps: int) -> None:
    with Store(db) as store:
        store.execute("DELETE FROM decisions WHERE project_id = ?", [pid])
        store.execute("DELETE FROM query_review WHERE project_id = ?", [pid])
        n_queries = review.progress(store, pid).queries
        n_cands = store.fetchall("SELECT count(*) FROM candidates WHERE run_id = ?", [run_id])[0][0]
        print(f"project: {n_queries:,} queries, run {run_id}: {n_cands:,} candidates")
        tickers = review.meta_options(store, pid).get("ticker", [])[:20]
        filters = {
            "no filter": review.ReviewFilter(),
            "unreviewed + text 'revenue' + 20 tickers": review.ReviewFilter.make(
                "unreviewed", {"ticker": tickers}, (), "revenue"
            ),
        }
        for name, flt in filters.items():
            times: list[float] = []
            qid = None
            for i in range(steps):
                t0 = time.perf_counter()
                nxt = page_data_path(store, pid, run_id, flt, qid if qid is not None else -1)
                times.append((time.perf_counter() - t0) * 1000)
                if nxt is None:
                    break
                qid = nxt
                if i % 4 == 0:  # a decision now and then, as a reviewer would
                    cand = review.load_query(store, pid, run_id, qid).next_up
                    if cand is not None:
                        review.decide(store, pid, qid, cand, "accept")
            print(line(f"data path, next query ({name})", times))
        store.execute("DELETE FROM decisions WHERE project_id = ?", [pid])
        store.execute("DELETE FROM query_review WHERE project_id = ?", [pid])


def bench_clicks(db: Path, pid: int, clicks: int) -> None:
    os.environ["EMBCORE_DB"] = str(db)
    from streamlit.testing.v1 import AppTest

    from app_pages._common import K

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[K.PROJECT] = pid
    at.run()
    at.switch_page("app_pages/review.py").run()
    assert not at.exception, at.exception

    def timed(action: Callable[[], object]) -> float:
        t0 = time.perf_counter()
        action()
        return (time.perf_counter() - t0) * 1000

    at.button(key=K.W_NEXT).click().run()  # warm-up
    nxt = [timed(lambda: at.button(key=K.W_NEXT).click().run()) for _ in range(clicks)]
    print(line("AppTest click 'Next' (J), full rerun", nxt))
    acc = []
    for _ in range(clicks // 2):
        acc.append(timed(lambda: at.button(key=K.W_ACCEPT_NEXT).click().run()))
        at.button(key=K.W_NEXT).click().run()
    print(line("AppTest click 'Accept next up' (A), full rerun", acc))
    assert not at.exception, at.exception


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--db", type=Path, default=Path("/tmp/embcore-bench/review.duckdb"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--clicks", type=int, default=60)
    args = ap.parse_args()
    if not args.csv.is_file():
        sys.exit(f"{args.csv}: not found (pass --csv)")
    pid, run_id = build(args.db, args.csv)
    bench_data_path(args.db, pid, run_id, args.steps)
    if args.clicks:
        bench_clicks(args.db, pid, args.clicks)


if __name__ == "__main__":
    main()
