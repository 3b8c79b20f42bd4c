"""Why this candidate: shared terms with the query and with the positive (both highlighted), a
side-by-side word diff of a near-duplicate against its positive, the queue's reason on its rows."""

from __future__ import annotations

import pandas as pd

from embcore.review import model as review
from embcore.review import view


def _q(
    candidates: list[dict], positive: str = "Net revenue was $4.8 billion in fiscal 2024, up 6%."
) -> review.QueryReview:
    cols = ["passage_id", "sources", "score", "rank", "bm25_rank", "bm25_score", "dense_rank", "dense_score",
            "pos_sim", "status", "text", "passage_kind", "meta", "decision", "grade"]  # fmt: skip
    rows = [{c: r.get(c) for c in cols} for r in candidates]
    return review.QueryReview(
        query_id=1, text="What was net revenue in fiscal 2024?", meta={},
        positives=pd.DataFrame([{"passage_id": 10, "origin": "data", "position": 0, "text": positive, "meta": {}}]),
        candidates=pd.DataFrame(rows, columns=cols),
    )  # fmt: skip


def test_word_diff_marks_only_what_differs() -> None:
    left = "Net revenue was $4.8 billion in fiscal 2024, up 6%."
    right = "As reported, net revenue was $4.8 billion in fiscal 2024, up 7%."
    d = view.word_diff(left, right)
    cut = lambda text, runs: [text[s:e] for s, e, _ in runs]  # noqa: E731
    assert cut(left, d["left"]) == ["6"]
    assert cut(right, d["right"]) == ["As reported", "7"]
    assert 0.7 < d["ratio"] < 1.0
    assert view.word_diff(left, left) == {"left": [], "right": [], "ratio": 1.0}


def test_card_rows_carry_highlights_diff_grade_and_queue_reason() -> None:
    near = {"passage_id": 11, "text": "As reported, net revenue was $4.8 billion in fiscal 2024, up 7%.", "status": "near_duplicate",
            "pos_sim": 0.99, "rank": 1, "sources": "dense", "grade": 2}  # fmt: skip
    other = {"passage_id": 12, "text": "Operating margin improved to 21% on lower freight costs in 2024.",
             "status": "selected", "pos_sim": 0.3, "rank": 2, "sources": "bm25"}  # fmt: skip
    card = view.card(_q([near, other]), reasons={11: "removed by the near-duplicate filter"})
    rows = {r["pid"]: r for r in card["rows"]}
    assert rows[11]["near"]["positive"].startswith("Net revenue") and rows[11]["near"]["right"]
    assert rows[12]["near"] is None
    assert rows[11]["grade"] == 2 and rows[12]["grade"] is None
    assert rows[11]["why"] == "removed by the near-duplicate filter" and rows[12]["why"] is None
    text = rows[12]["text"]
    marks = {text[s:e].lower(): m for s, e, m in rows[12]["hl"]}
    # "2024" is in the query and the positive; "operating" in neither
    assert marks["2024"] == view.HL_QUERY | view.HL_POSITIVE and "operating" not in marks
    shared = {rows[11]["text"][s:e].lower(): m for s, e, m in rows[11]["hl"]}
    assert shared["billion"] == view.HL_POSITIVE, "a term shared with the positive only is marked as such"
