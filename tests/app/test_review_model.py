"""embcore.review without the UI: navigation by id, filters, bulk rules, and durability of a click
when the process is killed right after it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from app_helpers import ROOT, SAMPLE, make_project

from embcore import review
from embcore.errors import EmbcoreError
from embcore.store import Store


def test_step_and_locate_by_id() -> None:
    order = np.array([2, 5, 9, 14], dtype=np.int64)
    assert review.step(order, None, +1) == 2 and review.step(order, None, -1) == 14
    assert review.step(order, 5, +1) == 9 and review.step(order, 5, -1) == 2
    assert review.step(order, 14, +1) is None and review.step(order, 2, -1) is None
    # the current query was filtered out (id 7): next / previous are its neighbours by id
    assert review.step(order, 7, +1) == 9 and review.step(order, 7, -1) == 5
    assert review.locate(order, 9).label == "3 / 4"
    assert review.locate(order, 7).label == "– / 4"


def test_next_unreviewed_wraps() -> None:
    order = np.array([1, 2, 3, 4], dtype=np.int64)
    reviewed = np.array([2, 3], dtype=np.int64)
    assert review.next_unreviewed(order, reviewed, 1) == 4
    assert review.next_unreviewed(order, reviewed, 4) == 1  # wraps round
    assert review.next_unreviewed(order, np.array([1, 2, 3, 4]), 1) is None
    assert review.start_query(order, reviewed) == 1


def test_filter_validation() -> None:
    with pytest.raises(EmbcoreError, match="allowed: all, unreviewed, reviewed"):
        review.ReviewFilter.make("done")
    flt = review.ReviewFilter.make("all", {"ticker": [], "filing": ["2024_10K"]}, (), "  x ")
    assert flt.meta == (("filing", ("2024_10K",)),) and flt.text == "x" and flt.active


def test_unknown_decision_and_band() -> None:
    store = Store(":memory:")
    pid, run_id = make_project(store, SAMPLE)
    with pytest.raises(EmbcoreError, match="unknown decision"):
        review.decide(store, pid, 1, 1, "maybe")
    with pytest.raises(EmbcoreError, match="band is empty"):
        review.band_pairs(store, run_id, "score", 2.0, 1.0)
    with pytest.raises(EmbcoreError, match="unknown score column"):
        review.band_pairs(store, run_id, "text; DROP TABLE queries", 0, 1)


def test_text_search_is_literal() -> None:
    store = Store(":memory:")
    pid, run_id = make_project(store, SAMPLE)
    queries = store.queries(pid).set_index("id")["text"]
    pos = store.positives(pid).groupby("query_id")["text"].apply(" ".join)

    def expected(needle: str) -> list[int]:
        return [int(q) for q, t in queries.items() if needle.lower() in (t + " " + pos.get(q, "")).lower()]

    for needle in ("%", "_", "NET REVENUE", "6%"):  # LIKE wildcards are matched literally
        got = review.query_order(store, pid, run_id, review.ReviewFilter.make(text=needle)).tolist()
        assert got == expected(needle), needle


def test_a_click_survives_a_killed_process(tmp_path: Path) -> None:
    db = tmp_path / "kill.duckdb"
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from app_helpers import SAMPLE, make_project
        from embcore import review
        from embcore.store import Store
        store = Store({str(db)!r})
        pid, run_id = make_project(store, SAMPLE)
        q = review.load_query(store, pid, run_id, int(review.query_order(store, pid, run_id)[0]))
        review.decide(store, pid, q.query_id, q.next_up, "accept")
        print(q.query_id, q.next_up, flush=True)
        os.kill(os.getpid(), 9)  # the server dies right after the click
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr
    qid, passage = (int(x) for x in proc.stdout.split())
    with Store(db) as store:
        assert store.fetchall(
            "SELECT decision FROM decisions WHERE query_id = ? AND passage_id = ?", [qid, passage]
        ) == [("accept",)]
        assert qid not in store.reviewed_query_ids(1), "one decision does not make the query reviewed"
        assert store.fetchall("SELECT version FROM query_state WHERE query_id = ?", [qid]) == [(1,)]
