"""Review page: accept / reject / mark as positive / undo, navigation, bulk rules, filters, edits,
literal rendering of user text, keyboard shortcuts, and two tabs on one project."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from app_helpers import SAMPLE, make_project, texts

from app_pages._common import K
from embcore import review
from embcore.encoders import HashingEncoder
from embcore.mining.config import MiningConfig
from embcore.workflow import create_project, run_mining

REVIEW = "app_pages/review.py"


def _decisions(store, pid: int) -> dict[tuple[int, int], str]:  # noqa: ANN001
    return {(int(q), int(p)): d for q, p, d in store.fetchall(
        "SELECT query_id, passage_id, decision FROM decisions WHERE project_id = ?", [pid])}  # fmt: skip


def _shown(store, pid: int, run_id: int, qid: int) -> list[int]:  # noqa: ANN001
    return [int(p) for p in review.load_query(store, pid, run_id, qid).shown["passage_id"]]


def test_accept_reject_positive_undo(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    at = new_app(REVIEW, project=pid)
    assert not at.error
    qid = at.session_state[K.QUERY]
    cands = _shown(store, pid, run_id, qid)
    assert len(cands) == 3
    a, b, c = cands
    at.button(key=K.candidate("accept", qid, a, "bm25")).click().run()
    assert _decisions(store, pid) == {(qid, a): "accept"}
    at.button(key=K.candidate("reject", qid, b, "bm25")).click().run()
    at.button(key=K.candidate("positive", qid, c, "bm25")).click().run()
    assert _decisions(store, pid) == {(qid, a): "accept", (qid, b): "reject", (qid, c): "positive"}
    origins = store.fetchall("SELECT origin FROM positives WHERE query_id = ? AND passage_id = ?", [qid, c])
    assert origins == [("review",)], "a false negative found by a human becomes a positive"
    assert qid in store.reviewed_query_ids(pid)
    assert not at.exception
    assert at.button(key=K.candidate("accept", qid, a, "bm25")).disabled  # shows the current decision
    # undo clears the decision and the review-made positive
    at.button(key=K.candidate("undo", qid, c, "bm25")).click().run()
    assert (qid, c) not in _decisions(store, pid)
    assert (
        store.fetchall("SELECT count(*) FROM positives WHERE query_id = ? AND passage_id = ?", [qid, c])[0][0]
        == 0
    )
    log = store.fetchall("SELECT count(*) FROM decision_log WHERE project_id = ?", [pid])[0][0]
    assert log == 4, "every click is logged"


def test_keyboard_toolbar_acts_on_next_up(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    at = new_app(REVIEW, project=pid)
    shortcuts = {b.key: b.proto.shortcut for b in at.button if b.proto.shortcut}
    assert {shortcuts[k].lower() for k in (K.W_NEXT, K.W_PREV, K.W_NEXT_TODO, K.W_ACCEPT_NEXT, K.W_REJECT_NEXT,
                                           K.W_POSITIVE_NEXT)} == {"j", "k", "n", "a", "x", "p"}  # fmt: skip
    assert shortcuts[K.W_ACCEPT_REST].lower() == "shift+a"
    qid = at.session_state[K.QUERY]
    a, b, c = _shown(store, pid, run_id, qid)
    at.button(key=K.W_ACCEPT_NEXT).click().run()  # "A": the best-ranked undecided one
    at.button(key=K.W_REJECT_NEXT).click().run()  # "X": then the next one
    assert _decisions(store, pid) == {(qid, a): "accept", (qid, b): "reject"}
    at.button(key=K.W_ACCEPT_REST).click().run()  # "Shift+A": everything left
    assert _decisions(store, pid) == {(qid, a): "accept", (qid, b): "reject", (qid, c): "accept"}
    assert at.button(key=K.W_ACCEPT_NEXT).disabled


def test_navigation_next_previous_unreviewed(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    order = review.query_order(store, pid, run_id)
    at = new_app(REVIEW, project=pid)
    assert at.session_state[K.QUERY] == order[0]
    at.button(key=K.W_NEXT).click().run()
    assert at.session_state[K.QUERY] == order[1]
    at.button(key=K.W_PREV).click().run()
    assert at.session_state[K.QUERY] == order[0]
    at.button(key=K.W_PREV).click().run()  # at the start: stays, says so
    assert at.session_state[K.QUERY] == order[0]
    assert any("first query" in t for t in texts(at.info))
    # queries 2 and 3 reviewed elsewhere: "next unreviewed" skips them
    store.mark_reviewed(pid, int(order[1]))
    store.mark_reviewed(pid, int(order[2]))
    at.button(key=K.W_NEXT_TODO).click().run()
    assert at.session_state[K.QUERY] == order[3]
    assert any(f"4 / {len(order)}" in m.value for m in at.markdown)


def test_bulk_band_accept_for_all_queries(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    at = new_app(REVIEW, project=pid)
    at.toggle(key=K.W_BULK).set_value(True).run()
    assert not at.exception
    at.selectbox(key=K.W_BAND_COL).set_value("score").run()
    lo, hi = review.score_range(store, run_id, "score")
    band = (lo + (hi - lo) * 0.25, hi)
    at.slider(key=K.band("score")).set_value(band).run()
    expected = review.band_pairs(store, run_id, "score", *band)
    assert expected
    assert at.button(key=K.W_BAND_APPLY).label.startswith(f"Accept {len(expected):,} candidates")
    at.button(key=K.W_BAND_APPLY).click().run()
    got = _decisions(store, pid)
    assert set(got) == set(expected) and set(got.values()) == {"accept"}
    assert any("Accepted" in t for t in texts(at.success))
    assert len({q for q, _ in expected}) > 1, "the band applies to all queries"


def test_bulk_reject_above_similarity(new_app, store) -> None:
    pid = create_project(store, SAMPLE, name="dense").project_id
    cfg = MiningConfig(
        strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None, num_negatives=3
    )
    run_mining(store, pid, cfg, encoder=HashingEncoder())  # the encoder fills pos_sim
    at = new_app(REVIEW, project=pid)
    qid = at.session_state[K.QUERY]
    at.toggle(key=K.W_BULK).set_value(True).run()
    at.slider(key=K.W_SIM_THR).set_value(0.0).run()
    at.radio(key=K.W_SIM_SCOPE).set_value("This query").run()
    at.button(key=K.W_SIM_APPLY).click().run()
    got = _decisions(store, pid)
    assert got and {q for q, _ in got} == {qid} and set(got.values()) == {"reject"}


def test_filters_status_meta_text_source(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    at = new_app(REVIEW, project=pid)
    first = at.session_state[K.QUERY]
    at.button(key=K.W_ACCEPT_NEXT).click().run()
    at.radio(key=K.W_STATUS).set_value("reviewed").run()
    assert at.session_state[K.QUERY] == first
    assert any("1 / 1" in m.value for m in at.markdown)
    at.radio(key=K.W_STATUS).set_value("unreviewed").run()
    assert at.session_state[K.QUERY] != first
    at.radio(key=K.W_STATUS).set_value("all").run()
    # metadata: only the chosen ticker
    tickers = review.meta_options(store, pid)["ticker"]
    at.multiselect(key=K.meta("ticker")).set_value([tickers[-1]]).run()
    qid = at.session_state[K.QUERY]
    assert review.load_query(store, pid, run_id, qid).meta["ticker"] == tickers[-1]
    at.multiselect(key=K.meta("ticker")).set_value([]).run()
    # text search
    at.text_input(key=K.W_SEARCH).set_value("dividend").run()
    qid = at.session_state[K.QUERY]
    q = review.load_query(store, pid, run_id, qid)
    assert "dividend" in (q.text + " ".join(q.positives["text"])).lower()
    at.text_input(key=K.W_SEARCH).set_value("zzz-no-such-text").run()
    assert any("No query matches" in t for t in texts(at.info))
    at.text_input(key=K.W_SEARCH).set_value("").run()
    at.multiselect(key=K.W_SOURCES).set_value(["bm25"]).run()
    assert not at.exception


def test_edit_positive(new_app, store, sample_project) -> None:
    pid, _ = sample_project
    at = new_app(REVIEW, project=pid)
    qid = at.session_state[K.QUERY]
    old = int(store.fetchall("SELECT passage_id FROM positives WHERE query_id = ?", [qid])[0][0])
    at.text_area(key=K.positive("text", qid, old)).set_value("An edited, better positive.").run()
    at.button(key=K.positive("save", qid, old)).click().run()
    rows = store.fetchall(
        "SELECT p.text, x.origin FROM positives x JOIN passages p ON p.id = x.passage_id WHERE x.query_id = ?",
        [qid],
    )
    assert rows == [("An edited, better positive.", "edit")]
    assert not at.exception


def test_user_text_is_rendered_literally(new_app, store, tiny_csv: Path) -> None:
    pid, _ = make_project(store, tiny_csv, name="xss")
    at = new_app(REVIEW, project=pid)
    at.text_input(key=K.W_SEARCH).set_value("<script>").run()
    assert not at.exception
    shown = texts(at.text)
    assert "Is <script>alert(1)</script> **bold** here?" in shown  # st.text: no Markdown, no HTML
    assert "A passage with <b>html</b> and # markdown [link](http://x)." in shown
    for md in at.markdown:  # nothing of the user's text reaches Markdown unescaped
        assert "<script>" not in md.value and "<b>" not in md.value


def test_two_tabs_on_one_project_do_not_lose_decisions(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    tab1 = new_app(REVIEW, project=pid)
    tab2 = new_app(REVIEW, project=pid)
    qid = tab1.session_state[K.QUERY]
    assert tab2.session_state[K.QUERY] == qid
    a, b, c = _shown(store, pid, run_id, qid)
    tab1.button(key=K.candidate("reject", qid, a, "bm25")).click().run()
    # tab 2 still shows a as undecided; "accept all remaining" must not override tab 1's reject
    tab2.button(key=K.W_ACCEPT_REST).click().run()
    assert _decisions(store, pid) == {(qid, a): "reject", (qid, b): "accept", (qid, c): "accept"}
    tab1.run()
    assert tab1.button(key=K.candidate("reject", qid, a, "bm25")).disabled


@pytest.mark.parametrize("n_threads", [8])
def test_concurrent_clicks_are_atomic(store, sample_project, n_threads: int) -> None:
    pid, run_id = sample_project
    pairs = [(int(q), int(p)) for q, p in store.fetchall(
        "SELECT query_id, passage_id FROM candidates WHERE run_id = ? AND status = 'selected'", [run_id])]  # fmt: skip
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            for q, p in pairs[i::n_threads]:
                review.decide(store, pid, q, p, "accept" if p % 2 else "reject")
                review.decide(store, pid, q, p, "reject" if p % 2 else "accept")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = _decisions(store, pid)
    assert got == {(q, p): ("reject" if p % 2 else "accept") for q, p in pairs}
    assert store.fetchall("SELECT count(*) FROM decision_log WHERE project_id = ?", [pid])[0][0] == 2 * len(
        pairs
    )


def test_review_needs_a_run(new_app, store, tiny_csv: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(REVIEW, project=pid)
    assert any("no finished mining run" in t for t in texts(at.info))
