"""Review latency on the full financial-qa-10K project: key press to new content.

    .venv/bin/python benchmarks/bench_review.py [--csv PATH] [--db PATH] [--strategies hybrid]
        [--steps 200] [--browser] [--presses 60]

1. Builds (once; reused on later runs) a project from Financial-QA-10k.csv (7,000 rows, 6,930
   queries) in a DuckDB file and mines it (``--strategies``: hybrid = BM25 + the bundled
   model, as the app does by default; bm25 is quicker to build).
2. Data path: times every core call the Review page's fragment makes on one rerun (filtered
   order, progress, the query with positives and candidates, the candidate view's data), part
   by part, for ``--steps`` consecutive "next" moves, with no filter and with
   "unreviewed + text search + 20 tickers", while every 4th query gets a decision.
3. ``--browser``: starts ``streamlit run app.py`` on the database and drives Debian's Chromium
   through Playwright. For each key (J next query, A accept, and both again with "show
   survivors" on) it presses the key, waits until the page drawn after it has arrived, and
   reads the time from the keydown event to the next animation frame after drawing (measured
   by the page's own JavaScript, ``window.__embcoreReview.lat``).

Prints p50 / p95 / max in milliseconds. Target: p95 < 300 ms from key press to new content.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embcore.mining.config import MiningConfig  # noqa: E402
from embcore.review import model as review  # noqa: E402
from embcore.review import view as review_view  # noqa: E402
from embcore.store import Store  # noqa: E402
from embcore.workflow import create_project, run_mining  # noqa: E402

DEFAULT_CSV = Path("/work/shared/data/financial-qa-10k/Financial-QA-10k.csv")
PROJECT = "financial-qa-10k-bench"
CHROMIUM = os.environ.get("EMBCORE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]  # fmt: skip


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * len(s) + 0.5) - 1))]


def line(name: str, ms: list[float]) -> str:
    return (
        f"{name:<62} n={len(ms):<4} p50={statistics.median(ms):7.1f} ms  p95={pct(ms, 95):7.1f} ms  "
        f"max={max(ms):7.1f} ms"
    )


def build(db: Path, csv: Path, strategies: str) -> tuple[int, int]:
    """The benchmark project and its mining run (created once, reused afterwards)."""
    with Store(db) as store:
        found = store.find_project(PROJECT)
        if found is not None:
            pid = found
            run_id = store.latest_run(pid)
            if run_id is not None:
                return pid, run_id
        else:
            t0 = time.perf_counter()
            pid = create_project(store, csv, name=PROJECT).project_id
            print(f"project created in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        cfg = MiningConfig(strategies=strategies.split(","))
        run_id = run_mining(store, pid, cfg)
        print(f"{strategies} mining in {time.perf_counter() - t0:.1f} s")
        return pid, run_id


def reset(store: Store, pid: int) -> None:
    """Forget every review write of the benchmark project (a fresh start for each measurement)."""
    store.reset_review(pid)


def fragment_path(
    store: Store, pid: int, run_id: int, flt: review.ReviewFilter, qid: int, show_kept: bool, times: dict
) -> int | None:
    """Every core call the Review fragment makes after "next", timed part by part; returns the query shown."""

    def timed(name: str, fn: Callable[[], object]) -> object:
        t0 = time.perf_counter()
        out = fn()
        times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        return out

    order = timed("query_order", lambda: review.query_order(store, pid, run_id, flt))
    nxt = review.step(order, qid, +1)
    if nxt is None:
        return None
    timed("latest_teacher", lambda: review.latest_teacher(store, pid))
    q = timed("load_query", lambda: review.load_query(store, pid, run_id, nxt, show_kept=show_kept))
    timed("progress", lambda: review.progress(store, pid))
    timed("card (rows, highlights, tops)", lambda: review_view.card(q))
    return nxt


def bench_data_path(db: Path, pid: int, run_id: int, steps: int) -> None:
    with Store(db) as store:
        reset(store, pid)
        n_queries = review.progress(store, pid).queries
        n_cands = store.candidate_count(run_id=run_id)
        print(f"project: {n_queries:,} queries, run {run_id}: {n_cands:,} candidates")
        tickers = review.meta_options(store, pid).get("ticker", [])[:20]
        filters = {
            "no filter": review.ReviewFilter(),
            "unreviewed + text 'revenue' + 20 tickers": review.ReviewFilter.make(
                "unreviewed", {"ticker": tickers}, (), "revenue"
            ),
        }
        for show_kept in (False, True):
            for name, flt in filters.items():
                times: dict[str, list[float]] = {}
                total: list[float] = []
                qid = -1
                for i in range(steps):
                    t0 = time.perf_counter()
                    nxt = fragment_path(store, pid, run_id, flt, qid, show_kept, times)
                    total.append((time.perf_counter() - t0) * 1000)
                    if nxt is None:
                        break
                    qid = nxt
                    if i % 4 == 0:  # a decision now and then, as a reviewer would
                        q = review.load_query(store, pid, run_id, qid)
                        if q.next_up is not None:
                            review.decide(
                                store, pid, qid, q.next_up, "accept", version=q.version, run_id=run_id
                            )
                label = f"{name}{', show survivors' if show_kept else ''}"
                print(line(f"data path, next query ({label})", total))
                for part, ms in times.items():
                    print(line(f"    {part}", ms))
        reset(store, pid)


# --------------------------------------------------------------------------- real browser


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _press(page, key: str) -> dict[str, float]:  # noqa: ANN001
    """Press ``key`` on the Review page, wait for the page drawn after it; the JS-measured times in ms
    (``ms`` key press to next frame after drawing = ``roundtrip`` (server + transfer) + ``draw`` + frame)."""
    before = page.evaluate("window.__embcoreReview.lat.length")
    page.keyboard.press(key)
    page.wait_for_function(
        f"() => {{ const S = window.__embcoreReview; return S && !S.pending && !S.queue.length && S.lat.length > {before}; }}",
        timeout=60_000,
    )
    return dict(page.evaluate("window.__embcoreReview.lat.at(-1)"))


def _report(name: str, samples: list[dict[str, float]]) -> None:
    print(line(name, [s["ms"] for s in samples]))
    for part, what in (
        ("roundtrip", "key sent -> data arrived (server + transfer)"),
        ("handler", "  of which: applying the event (the write)"),
        ("script", "  of which: fragment body up to the view"),
        ("draw", "drawing the view in the browser"),
    ):
        print(line(f"    {part}: {what}", [s[part] for s in samples]))


def _settle(page) -> None:  # noqa: ANN001
    page.wait_for_timeout(300)
    page.locator('[data-testid="stStatusWidget"]').wait_for(state="detached", timeout=120_000)
    page.wait_for_function(
        "() => { const S = window.__embcoreReview; return S && !S.pending && !S.queue.length; }"
    )


def bench_browser(db: Path, pid: int, presses: int) -> None:
    from playwright.sync_api import sync_playwright

    with Store(db) as store:
        reset(store, pid)
    port = _free_port()
    env = dict(os.environ, EMBCORE_DB=str(db), PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1350})
            page.goto(f"{url}/review")
            page.locator('[data-testid="review-card"]').wait_for(timeout=120_000)
            _settle(page)
            for kept in (False, True):
                if kept:
                    page.get_by_text("Also show survivors that were not selected").click()
                    _settle(page)
                label = " (show survivors)" if kept else ""
                _press(page, "j")  # warm-up
                nxt = [_press(page, "j") for _ in range(presses)]
                _report(f"browser: J next query{label}", nxt)
                acc = []
                for i in range(presses):
                    acc.append(_press(page, "a"))
                    if i % 3 == 2:
                        _press(page, "j")
                _report(f"browser: A accept the selected candidate{label}", acc)
            browser.close()
    finally:
        proc.terminate()
        proc.wait(15)
        with Store(db) as store:
            reset(store, pid)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    ap.add_argument("--db", type=Path, default=Path("/tmp/embcore-bench/review-hybrid.duckdb"))
    ap.add_argument("--strategies", default="hybrid", help="mining strategies of a new benchmark project")
    ap.add_argument("--steps", type=int, default=200, help="'next' moves timed on the data path (0: skip)")
    ap.add_argument("--browser", action="store_true", help="also time key presses in Chromium")
    ap.add_argument("--presses", type=int, default=60, help="key presses per measurement in the browser")
    args = ap.parse_args()
    if not args.csv.is_file():
        sys.exit(f"{args.csv}: not found (pass --csv)")
    pid, run_id = build(args.db, args.csv, args.strategies)
    if args.steps:
        bench_data_path(args.db, pid, run_id, args.steps)
    if args.browser:
        bench_browser(args.db, pid, args.presses)


if __name__ == "__main__":
    main()
