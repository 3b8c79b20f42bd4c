"""The session summary: decisions per minute, accept rate by source and by similarity band."""

from __future__ import annotations

from embcore.review import model as review
from embcore.review.summary import band_of, session_summary


def test_summary_counts_the_reviewers_last_word(mined) -> None:
    store, pid, run_id = mined
    order = review.query_order(store, pid, run_id)[:3]
    expected = {}
    for qid in (int(x) for x in order):
        q = review.load_query(store, pid, run_id, qid)
        for i, r in enumerate(q.shown.itertuples(index=False)):
            d = "accept" if i % 2 == 0 else "reject"
            review.decide(store, pid, qid, int(r.passage_id), d, reviewer="alice")
            expected[(qid, int(r.passage_id))] = (d, str(r.sources), r.pos_sim)
    last_q, last_p = next(reversed(expected))
    review.decide(
        store, pid, last_q, last_p, "positive", reviewer="alice"
    )  # a changed mind: its last word counts
    review.undo_last(store, pid, last_q, reviewer="alice")  # ... and undone: back to the first word
    review.decide(store, pid, int(order[0]), int(review.load_query(store, pid, run_id, int(order[0])).shown["passage_id"].iloc[0]),
                  "reject", reviewer="bob")  # fmt: skip
    s = session_summary(store, pid, "alice", run_id=run_id)
    assert s.decisions == len(expected) and s.per_minute == s.decisions / s.minutes
    by_source = s.by_source.set_index("source")
    for src in {v[1] for v in expected.values()}:
        mine = [v for v in expected.values() if v[1] == src]
        assert by_source.loc[src, "decisions"] == len(mine)
        assert by_source.loc[src, "accept_rate"] == sum(v[0] == "accept" for v in mine) / len(mine)
    bands = s.by_band.set_index("band")["decisions"]
    assert bands.sum() == sum(1 for v in expected.values() if band_of(v[2]) is not None)
    assert session_summary(store, pid, "carol", run_id=run_id).decisions == 0
