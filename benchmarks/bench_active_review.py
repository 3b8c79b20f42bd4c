"""Active review on financial-qa-10K: how many planted false negatives each review queue finds per
100 decisions of a simulated reviewer, and what the queues cost in SQL.

    .venv/bin/python benchmarks/bench_active_review.py [--budget 500] [--db PATH] [--json OUT.json]

1. Project: the shared financial-qa-10K CSV (suggested mapping: query = question, positive =
   context, metadata ticker / filing).
2. Planted false negatives, known by construction, added to the corpus before mining:
   - ``answer``: for ``--answers`` random queries, the row's own ``answer`` text becomes a corpus
     passage that is *not* a positive of the query (the data lost a positive: a multi-positive
     query with one positive left);
   - ``duplicate``: for ``--duplicates`` random queries, a near-duplicate of the query's context (the
     same text with a short lead-in, as a passage repeated in another section of a filing).
3. Mining: the default hybrid run (BM25 + the bundled all-MiniLM-L6-v2, relative margin 0.05,
   near-duplicate filter 0.98, 7 negatives, top 50 per retriever), cached in ``--db``.
4. Each queue (data order, random, most candidates, suspected false negatives, most informative,
   smallest margin) is computed (timed: median of 3), then a simulated reviewer works through it
   with a budget of ``--budget`` decisions: one decision per candidate it is shown, in order. A
   query-level queue shows the query's selected candidates and given negatives (what the Review
   page lists unfolded); a candidate-level queue shows the candidates that put the query in the
   queue. A decision on a planted pair is a false negative found (the oracle says "positive").
5. Printed: found per 100 decisions and recall of the planted set per queue; the ratio of the
   suspected-false-negative queue to data order (the target is >= 5x).

The decisions are simulated (not written), so every queue starts from the same state.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from embcore.ingest.read import read_table  # noqa: E402
from embcore.mining.config import MiningConfig  # noqa: E402
from embcore.review import queues  # noqa: E402
from embcore.store import Store  # noqa: E402
from embcore.text import clean_text  # noqa: E402
from embcore.workflow import create_project, run_mining  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "financial-qa-10k" / "Financial-QA-10k.csv"
if not DATA.is_file():
    DATA = Path("/work/shared/data/financial-qa-10k/Financial-QA-10k.csv")
QUERY_LEVEL = ("data", "random", "most_candidates", "margin")
ORDER = ("data", "random", "most_candidates", "false_negatives", "informative", "margin")


def build(
    db: Path, n_answers: int, n_duplicates: int, seed: int
) -> tuple[int, int, set[tuple[int, int]], dict]:
    """Create, plant and mine (or reuse ``db``); returns (project id, run id, planted pairs, info)."""
    info: dict = {}
    sidecar = db.with_suffix(".planted.json")  # what was planted, next to the database
    with Store(db) as store:
        pid = store.find_project("financial-qa-10k")
        if pid is not None and store.latest_run(pid, "mine") is not None and sidecar.is_file():
            saved = json.loads(sidecar.read_text(encoding="utf-8"))
            return (
                pid,
                int(store.latest_run(pid, "mine")),
                {(int(q), int(p)) for q, p in saved["planted"]},
                {"reused": True, **saved["info"]},
            )
        t0 = time.perf_counter()
        pid = create_project(store, DATA, name="financial-qa-10k", replace=True).project_id
        raw = read_table(DATA).df
        queries = store.queries(pid)
        rng = random.Random(seed)
        ids = queries["id"].astype(int).tolist()
        picked = rng.sample(ids, n_answers + n_duplicates)
        text_of = dict(zip(queries["id"].astype(int), queries["text"].astype(str), strict=True))
        answer_of = {}
        for q, a in zip(raw["question"], raw["answer"], strict=True):
            if isinstance(q, str) and isinstance(a, str):
                answer_of.setdefault(clean_text(q), clean_text(a))
        pos = store.positives(pid)
        context_of = dict(zip(pos["query_id"].astype(int), pos["text"].astype(str), strict=False))
        plant: list[tuple[int, str, str]] = []
        for q in picked[:n_answers]:
            a = answer_of.get(text_of[q])
            if a and a != context_of.get(q):
                plant.append((q, a, "answer"))
        for q in picked[n_answers:]:
            c = context_of.get(q)
            if c:
                plant.append(
                    (
                        q,
                        "As stated in another section of the annual report, " + c[0].lower() + c[1:],
                        "duplicate",
                    )
                )
        pids = store.ensure_passages(pid, [t for _, t, _ in plant], kind="passage", origin="data")
        # an answer text can already be some query's positive (or another's answer): those are not planted
        positives = set(store.positives(pid)["passage_id"].astype(int))
        planted = {(q, p) for (q, _, _), p in zip(plant, pids, strict=True) if p not in positives}
        kinds = {(q, p): k for (q, _, k), p in zip(plant, pids, strict=True)}
        info["planted"] = {k: sum(1 for x in planted if kinds[x] == k) for k in ("answer", "duplicate")}
        info["create_s"] = round(time.perf_counter() - t0, 1)
        t0 = time.perf_counter()
        run_id = run_mining(store, pid, MiningConfig(strategies=["hybrid"]))
        info["mine_s"] = round(time.perf_counter() - t0, 1)
    sidecar.write_text(json.dumps({"planted": sorted(planted), "info": info}), encoding="utf-8")
    return pid, run_id, planted, info


def shown_candidates(store: Store, run_id: int) -> dict[int, list[int]]:
    """Per query, what the Review page lists unfolded: selected candidates by rank, then given negatives."""
    c = store.candidates(run_id, statuses=["selected"])  # by query, then rank
    out: dict[int, list[int]] = {}
    for q, p in zip(c["query_id"].astype(int), c["passage_id"].astype(int), strict=True):
        out.setdefault(q, []).append(p)
    return out


def _words(text: str) -> set[str]:
    return set(clean_text(text).lower().split())


def simulate(
    q: queues.Queue,
    shown: dict[int, list[int]],
    planted: set[tuple[int, int]],
    budget: int,
    texts: dict[int, str],
    positives: dict[int, list[str]],
) -> dict:
    """Walk a queue with a decision budget; count the planted pairs decided, and (apart) the pairs
    whose candidate shares >= 80% of its words with a positive of the query (duplicates already in
    the data: almost surely false negatives too, but not planted, so not counted as found)."""
    decisions = found = dupes = 0
    items = {}
    if q.candidate_level:
        for qq, g in q.items.groupby("query_id", sort=False):
            items[int(qq)] = [int(p) for p in g["passage_id"]]
    for query in q.order.tolist():
        if q.candidate_level:
            todo = items.get(query, [])
        else:
            todo = list(shown.get(query, []))
            focus = q.focus.get(query)
            if focus is not None:  # the queue's candidate is selected first
                todo = [focus] + [p for p in todo if p != focus]
        for p in todo:
            if decisions >= budget:
                break
            decisions += 1
            found += (query, p) in planted
            if (query, p) not in planted:
                w = _words(texts.get(p, ""))
                dupes += any(
                    len(w & _words(t)) / max(1, len(w | _words(t))) >= 0.8 for t in positives.get(query, [])
                )
        if decisions >= budget:
            break
    return {"decisions": decisions, "found": found, "per_100": round(100.0 * found / decisions, 2) if decisions else 0.0,
            "recall": round(found / len(planted), 4) if planted else 0.0, "data_duplicates": dupes}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", type=Path, default=Path("/tmp/bench_active_review.duckdb"))
    ap.add_argument("--budget", default="500,2000", help="decision budgets, comma-separated")
    ap.add_argument("--answers", type=int, default=300)
    ap.add_argument("--duplicates", type=int, default=150)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    pid, run_id, planted, info = build(args.db, args.answers, args.duplicates, args.seed)
    budgets = [int(b) for b in str(args.budget).split(",")]
    results: dict = {"budgets": budgets, "planted": len(planted), **info}
    with Store(args.db) as store:
        per_query = store.per_query_counts(pid, run_id)
        results["candidates"] = int(per_query["candidates"].sum())
        results["queries"] = int((per_query["candidates"] > 0).sum())
        shown = shown_candidates(store, run_id)
        allp = store.passage_texts(pid)
        texts = dict(zip(allp["id"].astype(int), allp["text"].astype(str), strict=True))
        pos = store.positives(pid)
        positives: dict[int, list[str]] = {}
        for qq, t in zip(pos["query_id"].astype(int), pos["text"].astype(str), strict=True):
            positives.setdefault(qq, []).append(t)
        table = store.candidate_score_table(pid, run_id, sorted({q for q, _ in planted}))
        hit = [
            (int(q), int(p)) in planted for q, p in zip(table["query_id"], table["passage_id"], strict=True)
        ]
        status = table.loc[hit, "status"].value_counts()
        results["planted_status"] = {str(k): int(v) for k, v in status.items()}
        rows = []
        for name in ORDER:
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                q = queues.compute(store, pid, run_id, name, seed=args.seed)
                times.append(time.perf_counter() - t0)
            for budget in budgets:
                sim = simulate(q, shown, planted, budget, texts, positives)
                rows.append({"queue": name, "queries": len(q.order),
                             "items": len(q.items) if q.candidate_level else len(q.order),
                             "sql_s": round(statistics.median(times), 3), "budget": budget, **sim})  # fmt: skip
    df = pd.DataFrame(rows)
    results["queues"] = rows
    by = df.set_index(["queue", "budget"])["per_100"]
    results["fn_vs_data"] = {
        b: (None if not by[("data", b)] else round(by[("false_negatives", b)] / by[("data", b)], 1))
        for b in budgets
    }
    print(f"financial-qa-10K: {results['queries']:,} queries, {results['candidates']:,} candidates, "
          f"{len(planted)} planted false negatives {info.get('planted', '')}; where mining put them: "
          f"{results['planted_status']}")  # fmt: skip
    print(df.to_string(index=False))
    for b in budgets:
        fn, base = by[("false_negatives", b)], by[("data", b)]
        print(f"budget {b}: suspected false negatives vs data order: {fn} vs {base} per 100 decisions "
              f"({'inf' if not base else f'{fn / base:.1f}'}x; target >= 5x)")  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
