"""Review queues: membership, order, the reason each item carries, progress, navigation in queue
order, and the SQL checked against a plain pandas computation over the same candidates."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from embcore.errors import EmbcoreError
from embcore.review import model as review
from embcore.review import queues
from embcore.store.queues import FN_FILTERS


def _candidates(store, run_id: int) -> pd.DataFrame:  # noqa: ANN001
    return store.candidates(run_id)


def test_false_negative_queue_holds_filtered_and_similar_candidates(mined) -> None:
    store, pid, run_id = mined
    c = _candidates(store, run_id)
    assert (c["status"] == "relative_margin").any(), "the fixture's run removes candidates by margin"
    q = queues.compute(store, pid, run_id, "false_negatives", threshold=0.5, per_query=None)
    expected = c[
        c["status"].isin(FN_FILTERS)
        | ((c["pos_sim"] >= 0.5) & ~c["status"].isin(["positive_id", "positive_text"]))
    ]
    assert set(zip(q.items["query_id"], q.items["passage_id"], strict=True)) == set(
        zip(expected["query_id"], expected["passage_id"], strict=True)
    )
    # queries ordered by their best item's similarity to the positive, highest first
    best = [q.value[int(x)] for x in q.order]
    assert best == sorted(best, reverse=True)
    first = int(q.order[0])
    reasons = q.item_reasons(first)
    assert reasons and all("similarity to the positive" in w for w in reasons.values())
    assert any("removed by the relative margin filter" in w for w in q.items["why"])
    assert q.focus[first] == int(q.items.iloc[0]["passage_id"])
    # by default a query names its 3 strongest candidates: the expert's decisions spread over queries
    capped = queues.compute(store, pid, run_id, "false_negatives", threshold=0.5)
    assert capped.items.groupby("query_id").size().max() == 3 < q.items.groupby("query_id").size().max()
    assert capped.order.tolist() == q.order.tolist()
    for qid, g in capped.items.groupby("query_id"):
        assert g["value"].tolist() == q.items[q.items["query_id"] == qid]["value"].head(3).tolist()


def test_progress_and_done_follow_the_reviewers_decisions(mined) -> None:
    store, pid, run_id = mined
    q = queues.compute(store, pid, run_id, "false_negatives", threshold=0.5, reviewer="alice")
    first = int(q.order[0])
    done, items, done_q, n_q = q.progress(store, pid, "alice")
    assert (done, done_q) == (0, 0) and items == len(q.items) and n_q == len(q.order)
    for p in q.item_reasons(first):
        review.decide(store, pid, first, p, "positive" if p == q.focus[first] else "accept", reviewer="alice")
    done, _, done_q, _ = q.progress(store, pid, "alice")
    assert done == len(q.item_reasons(first)) and done_q == 1
    assert first in q.done_queries(store, pid, "alice")
    assert first not in q.done_queries(store, pid, "bob")
    nxt = queues.next_todo(q.order, q.done_queries(store, pid, "alice"), first)
    assert nxt == int(q.order[1])


def test_informative_queue_matches_pandas(mined) -> None:
    store, pid, run_id = mined
    q = queues.compute(store, pid, run_id, "informative")
    assert len(q.items) and not q.note
    c = _candidates(store, run_id)
    c = c[c["status"].isin(["selected", "kept"])].copy()
    depth = 51
    gap = (np.log(c["bm25_rank"].fillna(depth)) - np.log(c["dense_rank"].fillna(depth))).abs()
    top = c.assign(gap=gap).sort_values("gap", ascending=False).iloc[0]
    items = store.informative_items(pid, run_id)
    row = items[(items["query_id"] == top["query_id"]) & (items["passage_id"] == top["passage_id"])].iloc[0]
    assert row["rank_gap"] == pytest.approx(top["gap"]) and row["p_rank"] == pytest.approx(
        items["p_rank"].max()
    )
    # the positive's cosine comes from the run's embedding cache
    pos = store.positive_scores(pid, run_id).set_index("query_id")["pos_score"]
    assert row["margin"] == pytest.approx(pos[int(top["query_id"])] - top["dense_score"])
    assert any(w.startswith("retrievers disagree: BM25") for w in q.items["why"])


def test_query_level_queues(mined) -> None:
    store, pid, run_id = mined
    all_ids = review.query_order(store, pid, run_id)
    data = queues.compute(store, pid, run_id, "data")
    assert data.order.tolist() == all_ids.tolist()
    r1 = queues.compute(store, pid, run_id, "random", seed=1)
    assert sorted(r1.order.tolist()) == all_ids.tolist() and r1.order.tolist() != all_ids.tolist()
    assert r1.order.tolist() == queues.compute(store, pid, run_id, "random", seed=1).order.tolist()
    assert r1.order.tolist() != queues.compute(store, pid, run_id, "random", seed=2).order.tolist()
    most = queues.compute(store, pid, run_id, "most_candidates", reviewer="alice")
    counts = [most.value[int(x)] for x in most.order]
    assert counts == sorted(counts, reverse=True) and "candidates to review" in most.why[int(most.order[0])]
    review.mark_done(store, pid, int(most.order[0]), reviewer="alice")
    again = queues.compute(store, pid, run_id, "most_candidates", reviewer="alice")
    assert int(most.order[0]) not in set(again.order.tolist())
    margin = queues.compute(store, pid, run_id, "margin")
    values = [margin.value[int(x)] for x in margin.order]
    assert values == sorted(values) and "margin" in margin.why[int(margin.order[0])]
    with pytest.raises(EmbcoreError, match="unknown queue"):
        queues.compute(store, pid, run_id, "nope")


def test_navigation_in_queue_order() -> None:
    order = np.array([30, 10, 20, 40], dtype=np.int64)
    assert queues.step(order, 10, +1) == 20 and queues.step(order, 10, -1) == 30
    assert queues.step(order, 40, +1) is None and queues.step(order, 99, +1) == 30
    assert queues.next_todo(order, {20, 40}, 10) == 30  # wraps round
    assert queues.next_todo(order, {20, 40}, 10, wrap=False) is None
    assert queues.next_todo(order, {10, 20, 30, 40}, 10) is None
    assert queues.next_todo(order, set(), None) == 30


def test_listing_for_scripts(mined) -> None:
    store, pid, run_id = mined
    q = queues.compute(store, pid, run_id, "false_negatives", threshold=0.5)
    df = queues.listing(store, q, pid, limit=7)
    assert len(df) == 7 and list(df.columns) == [
        "position",
        "query_id",
        "passage_id",
        "signal",
        "value",
        "why",
        "query",
        "passage",
    ]
    assert df["query"].str.len().gt(0).all() and df["passage"].str.len().gt(0).all()
    assert df["position"].is_monotonic_increasing
