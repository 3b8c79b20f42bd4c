"""Review page (AppTest): the candidate view's events (what a key press or a row button sends),
versioned writes refused visibly, done / undo semantics, the query's own positive, the compact
view's data (metadata, per-retriever tops, highlights), query edits and flags, history with
undo, bulk actions with a confirmed count, filters, literal rendering, two tabs."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from support.app import SAMPLE, card_data, card_event, make_project, texts
from support.encoders import HashingEncoder

from app_pages._common import K
from embcore.errors import EmbcoreError
from embcore.mining.config import MiningConfig
from embcore.review import model as review
from embcore.workflow import create_project, run_mining

REVIEW = "app_pages/review.py"


def _decisions(store, pid: int) -> dict[tuple[int, int], str]:  # noqa: ANN001
    d = store.decisions(pid)
    return {
        (int(q), int(p)): str(x)
        for q, p, x in zip(d["query_id"], d["passage_id"], d["decision"], strict=True)
    }


def _main_rows(at) -> list[int]:  # noqa: ANN001
    return [r["pid"] for r in card_data(at)["rows"] if r["section"] != "filtered"]


def _warnings(at) -> list[str]:  # noqa: ANN001
    return texts(at.warning)


def test_accept_reject_positive_clear(new_app, store, sample_project) -> None:
    pid, _ = sample_project
    at = new_app(REVIEW, project=pid)
    assert not at.error
    qid = at.session_state[K.QUERY]
    a, b, c = _main_rows(at)
    card_event(at, "decide", pid=a, d="accept")
    assert _decisions(store, pid) == {(qid, a): "accept"}
    card_event(at, "decide", pid=b, d="reject")
    card_event(at, "decide", pid=c, d="positive")
    assert _decisions(store, pid) == {(qid, a): "accept", (qid, b): "reject", (qid, c): "positive"}
    assert store.positive_origins(qid, c) == ["review"], (
        "a false negative found by a human becomes a positive"
    )
    assert not at.exception
    rows = {r["pid"]: r for r in card_data(at)["rows"]}
    assert (rows[a]["decision"], rows[b]["decision"], rows[c]["decision"]) == ("accept", "reject", "positive")
    # clearing a decision removes the review-made positive too
    card_event(at, "decide", pid=c, d=None)
    assert (qid, c) not in _decisions(store, pid)
    assert store.positive_origins(qid, c) == []
    assert len(store.decision_log(pid)) == 4, "every click is logged"


def test_stale_event_is_refused_visibly_and_redrawn(new_app, store, sample_project) -> None:
    """A key press delivered against an older drawing (its version) never lands (issue 9.1)."""
    pid, _ = sample_project
    at = new_app(REVIEW, project=pid)
    qid = at.session_state[K.QUERY]
    a, b, _c = _main_rows(at)
    drawn = card_data(at)
    assert drawn["v"] == 0 and drawn["select"] == a
    card_event(at, "decide", pid=a, d="accept")
    assert card_data(at)["v"] == 1 and card_data(at)["select"] == b, "the selection moves to the next one"
    # a second press that was drawn against version 0 (it named candidate a): refused, nothing written
    card_event(at, "decide", pid=a, d="reject", v=0)
    assert _decisions(store, pid) == {(qid, a): "accept"}
    assert any("Not applied" in w and "changed since this page was drawn" in w for w in _warnings(at))
    assert card_data(at)["v"] == 1, "redrawn with the current state"
    card_event(at, "decide", pid=b, d="positive")
    card_event(at, "decide", pid=b, d=None)
    assert any("Not applied" in w for w in _warnings(at)), "the refusal stays while on this query"
    # the same event sent twice (a resend) is applied once
    seq = at.session_state[K.CARD_ACK] + 1
    card_event(at, "decide", pid=b, d="reject", seq=seq)
    card_event(at, "decide", pid=b, d="accept", seq=seq)
    assert _decisions(store, pid) == {(qid, a): "accept", (qid, b): "reject"}
    card_event(at, "nav", to="next")
    assert not any("Not applied" in w for w in _warnings(at))


def test_two_tabs_stale_tab_is_refused(new_app, store, sample_project) -> None:
    """Tab 2 did not see tab 1's accept: its reject on the same query is refused (issue 9.2)."""
    pid, _ = sample_project
    tab1 = new_app(REVIEW, project=pid)
    tab2 = new_app(REVIEW, project=pid)
    qid = tab1.session_state[K.QUERY]
    assert tab2.session_state[K.QUERY] == qid
    a, _b, _c = _main_rows(tab1)
    card_event(tab1, "decide", pid=a, d="accept")
    card_event(tab2, "decide", pid=a, d="reject")  # drawn before tab 1's click
    assert _decisions(store, pid) == {(qid, a): "accept"}
    assert any("Not applied" in w for w in _warnings(tab2))
    assert {r["pid"]: r["decision"] for r in card_data(tab2)["rows"]}[a] == "accept", "tab 2 refreshed"
    # "accept the rest" from a stale tab is refused as well, from a fresh one it never overrides
    tab1.run()
    tab2.run()
    card_event(tab1, "decide", pid=a, d="reject")
    tab2.button(key=K.W_ACCEPT_REST).click().run()
    assert _decisions(store, pid) == {(qid, a): "reject"}
    tab2.button(key=K.W_ACCEPT_REST).click().run()
    assert _decisions(store, pid)[(qid, a)] == "reject"
    assert len(_decisions(store, pid)) == 3


def test_reviewed_only_when_done_or_complete_and_undo_restores(new_app, store, sample_project) -> None:
    """One decision does not make a query reviewed; done or every candidate decided does; undo
    restores decision, review-made positive and the reviewed flag (issue 10.1)."""
    pid, run_id = sample_project
    at = new_app(REVIEW, project=pid)
    qid = at.session_state[K.QUERY]
    a, b, c = _main_rows(at)
    card_event(at, "decide", pid=a, d="positive")
    assert qid not in store.reviewed_query_ids(pid)
    assert card_data(at)["reviewed"] is None
    assert review.progress(store, pid).reviewed == 0
    card_event(at, "undo")  # U
    assert _decisions(store, pid) == {}
    assert not (store.positives(pid)["origin"] == "review").any()
    # every shown candidate decided: reviewed ("complete"); undo of the last one: not reviewed again
    card_event(at, "decide", pid=a, d="accept")
    card_event(at, "decide", pid=b, d="reject")
    card_event(at, "decide", pid=c, d="accept")
    assert card_data(at)["reviewed"] == "complete" and review.progress(store, pid).reviewed == 1
    card_event(at, "undo")
    assert card_data(at)["reviewed"] is None and (qid, c) not in _decisions(store, pid)
    # done: reviewed and on to the next query; undo from there (K back, U) restores it
    card_event(at, "done")
    assert qid in store.reviewed_query_ids(pid)
    assert at.session_state[K.QUERY] == review.step(review.query_order(store, pid, run_id), qid, +1)
    card_event(at, "nav", to="prev")
    assert at.session_state[K.QUERY] == qid and card_data(at)["reviewed"] == "done"
    card_event(at, "undo")
    assert qid not in store.reviewed_query_ids(pid)
    assert _decisions(store, pid) == {(qid, a): "accept", (qid, b): "reject"}
    # the Done button does the same
    at.button(key=K.W_DONE).click().run()
    assert qid in store.reviewed_query_ids(pid)


def test_own_positive_is_never_accepted(new_app, store, sample_project) -> None:
    """The query's own positive shows in "removed by filters" without Accept, and the core refuses it."""
    pid, _ = sample_project
    at = new_app(REVIEW, project=pid)
    qid = at.session_state[K.QUERY]
    own = [r for r in card_data(at)["rows"] if r["own"]]
    assert own, "the sample's BM25 run finds the query's positive and the filter removes it"
    row = own[0]
    assert row["section"] == "filtered" and row["can_accept"] is False
    card_event(at, "decide", pid=row["pid"], d="accept")
    assert (qid, row["pid"]) not in _decisions(store, pid)
    assert any("cannot be accepted as its negative" in e for e in texts(at.error))
    with pytest.raises(EmbcoreError, match="positive of query .* cannot be accepted as its negative"):
        review.decide(store, pid, qid, row["pid"], "accept")


def test_candidate_view_shows_metadata_ranks_and_retriever_tops(new_app, store) -> None:
    pid = create_project(store, SAMPLE, name="hybrid").project_id
    cfg = MiningConfig(
        strategies=["hybrid"], relative_margin=None, near_duplicate_threshold=None, num_negatives=4
    )
    run_id = run_mining(store, pid, cfg, encoder=HashingEncoder())
    at = new_app(REVIEW, project=pid, encoder=HashingEncoder())
    data = card_data(at)
    q = review.load_query(store, pid, run_id, data["qid"])
    assert data["columns"][:2] == ["ticker", "filing"]
    assert data["query"]["meta"][0] == ["ticker", q.meta["ticker"]]
    for r in data["rows"]:
        c = q.candidates.set_index("passage_id").loc[r["pid"]]
        assert r["meta"][0] == c["meta"].get("ticker")
        assert r["diff"][0] == (r["meta"][0] != q.meta["ticker"]), "another company is marked"
        assert (r["bm25"] is None) == (c["bm25_rank"] != c["bm25_rank"])  # NaN: not ranked by BM25
    assert any(r["diff"][0] for r in data["rows"]), "the sample has negatives from other companies"
    tops = data["tops"]
    for name, col in (("bm25", "bm25_rank"), ("dense", "dense_rank")):
        ranked = q.candidates[q.candidates[col].notna()].sort_values(col)
        assert [t["pid"] for t in tops[name]] == [int(p) for p in ranked["passage_id"].head(tops["k"])]
    both = {t["pid"] for t in tops["bm25"]} & {t["pid"] for t in tops["dense"]}
    assert {t["pid"] for t in tops["bm25"] if t["both"]} == both and tops["overlap"] == len(both)
    assert any(t["status"] != "selected" for t in tops["bm25"]), (
        "pre-fusion lists include filtered / kept ones"
    )


def test_highlights_and_user_text_are_literal(new_app, store, tiny_csv: Path) -> None:
    pid, _ = make_project(store, tiny_csv, name="xss")
    at = new_app(REVIEW, project=pid)
    at.text_input(key=K.W_SEARCH).set_value("<script>").run()
    assert not at.exception
    data = card_data(at)
    assert data["query"]["text"] == "Is <script>alert(1)</script> **bold** here?"
    assert data["positives"][0]["text"] == "A passage with <b>html</b> and # markdown [link](http://x)."
    for md in at.markdown:  # nothing of the user's text reaches Markdown unescaped
        assert "<script>" not in md.value and "<b>" not in md.value
    # shared terms: "revenue" is in the query, the positive and the candidate of query 1
    at.text_input(key=K.W_SEARCH).set_value("").run()
    at.session_state[K.QUERY] = int(review.query_order(store, pid, None)[0])
    at.run()
    data = card_data(at)
    text = data["query"]["text"]
    marked = {text[s:e].lower(): m for s, e, m in data["query"]["hl"]}
    assert marked.get("revenue") == review_view_hl_positive()
    row = data["rows"][0]
    words = {row["text"][s:e].lower(): m for s, e, m in row["hl"]}
    assert words.get("revenue") == 3, "in the query and in the positive"


def review_view_hl_positive() -> int:
    from embcore.review.view import HL_POSITIVE

    return HL_POSITIVE


def test_navigation_events_and_buttons(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    order = review.query_order(store, pid, run_id)
    at = new_app(REVIEW, project=pid)
    assert at.session_state[K.QUERY] == order[0]
    card_event(at, "nav", to="next")  # J
    assert at.session_state[K.QUERY] == order[1] and card_data(at)["qid"] == order[1]
    card_event(at, "nav", to="prev")  # K
    assert at.session_state[K.QUERY] == order[0]
    card_event(at, "nav", to="prev")  # at the start: stays, says so
    assert at.session_state[K.QUERY] == order[0]
    assert any("first query" in t for t in texts(at.info))
    at.button(key=K.W_NEXT).click().run()
    assert at.session_state[K.QUERY] == order[1]
    at.button(key=K.W_PREV).click().run()
    # queries 2 and 3 reviewed elsewhere: "next unreviewed" skips them
    store.set_done(pid, int(order[1]))
    store.set_done(pid, int(order[2]))
    card_event(at, "nav", to="todo")  # N
    assert at.session_state[K.QUERY] == order[3]
    assert card_data(at)["nav"]["label"] == f"4 / {len(order)}"


def test_filters_status_meta_text_source(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    at = new_app(REVIEW, project=pid)
    first = at.session_state[K.QUERY]
    at.button(key=K.W_DONE).click().run()
    at.radio(key=K.W_STATUS).set_value("reviewed").run()
    assert at.session_state[K.QUERY] == first
    assert card_data(at)["nav"]["label"] == "1 / 1"
    at.radio(key=K.W_STATUS).set_value("unreviewed").run()
    assert at.session_state[K.QUERY] != first
    at.radio(key=K.W_STATUS).set_value("all").run()
    tickers = review.meta_options(store, pid)["ticker"]
    at.multiselect(key=K.meta("ticker")).set_value([tickers[-1]]).run()
    qid = at.session_state[K.QUERY]
    assert review.load_query(store, pid, run_id, qid).meta["ticker"] == tickers[-1]
    at.multiselect(key=K.meta("ticker")).set_value([]).run()
    at.text_input(key=K.W_SEARCH).set_value("dividend").run()
    q = review.load_query(store, pid, run_id, at.session_state[K.QUERY])
    assert "dividend" in (q.text + " ".join(q.positives["text"])).lower()
    at.text_input(key=K.W_SEARCH).set_value("zzz-no-such-text").run()
    assert any("No query matches" in t for t in texts(at.info))
    at.text_input(key=K.W_SEARCH).set_value("").run()
    at.multiselect(key=K.W_SOURCES).set_value(["bm25"]).run()
    assert not at.exception


def test_edit_query_text_and_positive_keep_everything(new_app, store, sample_project) -> None:
    pid, run_id = sample_project
    at = new_app(REVIEW, project=pid)
    qid = at.session_state[K.QUERY]
    a, *_ = _main_rows(at)
    card_event(at, "decide", pid=a, d="accept")
    before = review.load_query(store, pid, run_id, qid)
    at.toggle(key=K.W_EDIT).set_value(True).run()
    at.text_area(key=K.query_edit("text", qid)).set_value(
        "What was  Acme's\u200b net revenue in 2024? "
    ).run()
    at.button(key=K.query_edit("save", qid)).click().run()
    after = review.load_query(store, pid, run_id, qid)
    assert after.text == "What was Acme's net revenue in 2024?"
    assert after.positives["passage_id"].tolist() == before.positives["passage_id"].tolist()
    assert after.candidates["passage_id"].tolist() == before.candidates["passage_id"].tolist()
    assert _decisions(store, pid) == {(qid, a): "accept"}
    # the positive
    old = int(before.positives["passage_id"].iloc[0])
    at.text_area(key=K.positive("text", qid, old)).set_value("An edited, better positive.").run()
    at.button(key=K.positive("save", qid, old)).click().run()
    rows = store.query_positives(qid)
    assert rows[["text", "origin"]].values.tolist() == [["An edited, better positive.", "edit"]]
    assert not at.exception
    # both edits are undoable from the history
    hist = review.history(store, pid, query_id=qid)
    assert hist["kind"].tolist()[:2] == ["edit_positive", "edit_query"]
    for aid in hist["id"].tolist()[:2]:
        assert review.undo(store, pid, int(aid)).applied
    restored = review.load_query(store, pid, run_id, qid)
    assert (
        restored.text == before.text
        and restored.positives["text"].tolist() == before.positives["text"].tolist()
    )


def test_flag_query_with_reason(new_app, store, sample_project) -> None:
    pid, _ = sample_project
    at = new_app(REVIEW, project=pid)
    qid = at.session_state[K.QUERY]
    at.toggle(key=K.W_EDIT).set_value(True).run()
    at.radio(key=K.query_edit("flag", qid)).set_value("wrong_positive").run()
    at.text_input(key=K.query_edit("reason", qid)).set_value("context is about another company").run()
    at.button(key=K.query_edit("flag_save", qid)).click().run()
    data = card_data(at)
    assert (data["flag"], data["flag_reason"]) == ("wrong_positive", "context is about another company")
    assert review.progress(store, pid).flagged == 1
    at.radio(key=K.W_STATUS).set_value("flagged").run()
    assert at.session_state[K.QUERY] == qid and card_data(at)["nav"]["label"] == "1 / 1"
    with pytest.raises(EmbcoreError, match="say why"):
        review.flag_query(store, pid, qid, "bad_query", "  ")


def test_history_lists_actions_and_undoes_one(new_app, store, sample_project) -> None:
    pid, _ = sample_project
    at = new_app(REVIEW, project=pid)
    qid = at.session_state[K.QUERY]
    a, b, _c = _main_rows(at)
    card_event(at, "decide", pid=a, d="accept")
    card_event(at, "decide", pid=b, d="reject")
    at.toggle(key=K.W_HISTORY).set_value(True).run()
    hist = review.history(store, pid, query_id=qid)
    lines = texts(at.text)
    assert any(f"#{int(hist['id'].iloc[0])} rejected candidate {b}" in t for t in lines)
    first = int(hist["id"].iloc[1])
    at.button(key=K.undo(first)).click().run()  # undo the accept, which is not the last action
    assert _decisions(store, pid) == {(qid, b): "reject"}
    assert at.button(key=K.undo(first)).disabled, "an undone action cannot be undone twice"


def test_bulk_band_is_scoped_confirmed_and_undone_as_one_step(new_app, store) -> None:
    pid = create_project(store, SAMPLE, name="dense").project_id
    cfg = MiningConfig(
        strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None, num_negatives=3
    )
    run_id = run_mining(store, pid, cfg, encoder=HashingEncoder())  # the encoder fills pos_sim
    at = new_app(REVIEW, project=pid)
    ticker = review.meta_options(store, pid)["ticker"][0]
    at.multiselect(key=K.meta("ticker")).set_value([ticker]).run()
    at.toggle(key=K.W_BULK).set_value(True).run()
    assert at.radio(key=K.W_BAND_SCOPE).value == "filters", "the scope defaults to the active filters"
    options = at.selectbox(key=K.W_BAND_COL).options
    assert review.BAND_SCORES["pos_sim"] in options and set(options) <= set(review.BAND_SCORES.values())
    assert "score" not in review.BAND_SCORES and "bm25_score" not in review.BAND_SCORES, "no fused rank value"
    at.selectbox(key=K.W_BAND_COL).set_value("pos_sim").run()
    lo, hi = review.score_range(store, run_id, "pos_sim")
    at.slider(key=K.band("pos_sim")).set_value((lo, hi)).run()
    ids = [
        int(i)
        for i in review.query_order(store, pid, run_id, review.ReviewFilter.make(meta={"ticker": [ticker]}))
    ]
    expected = review.band_pairs(store, run_id, "pos_sim", lo, hi, query_ids=ids)
    assert expected and {q for q, _ in expected} <= set(ids)
    assert at.button(key=K.W_BAND_APPLY).label.startswith(f"Accept {len(expected):,} candidates")
    at.button(key=K.W_BAND_APPLY).click().run()
    assert _decisions(store, pid) == {}, "the first click only counts"
    assert any(f"{len(expected):,} candidates" in w for w in _warnings(at))
    at.button(key=K.W_BULK_CONFIRM).click().run()
    got = _decisions(store, pid)
    assert set(got) == set(expected) and set(got.values()) == {"accept"}
    [bulk] = review.history(store, pid).query("kind == 'bulk'")["id"].tolist()
    assert store.decision_log(pid)["action_id"].nunique() == 1
    res = review.undo(store, pid, int(bulk))
    assert res.applied and res.pairs == len(expected) and _decisions(store, pid) == {}


def test_bulk_confirmation_refused_when_the_selection_changed(store, sample_project) -> None:
    pid = create_project(store, SAMPLE, name="dense").project_id
    cfg = MiningConfig(
        strategies=["bm25"], relative_margin=None, near_duplicate_threshold=None, num_negatives=3
    )
    run_id = run_mining(store, pid, cfg, encoder=HashingEncoder())
    pairs = review.above_similarity_pairs(store, run_id, 0.0)
    counted = review.preview(pairs)
    review.decide(store, pid, *pairs[0], "accept")  # another tab decided one of them meanwhile
    res = review.reject_above_similarity(store, pid, run_id, 0.0, expect_digest=counted.digest)
    assert res.status == "stale" and "selection changed" in res.message
    assert _decisions(store, pid) == {pairs[0]: "accept"}


def test_review_needs_a_run(new_app, store, tiny_csv: Path) -> None:
    pid = create_project(store, tiny_csv, name="tiny").project_id
    at = new_app(REVIEW, project=pid)
    assert any("no finished mining run" in t for t in texts(at.info))


@pytest.mark.parametrize("n_threads", [8])
def test_concurrent_clicks_are_atomic(store, sample_project, n_threads: int) -> None:
    pid, run_id = sample_project
    pairs = store.undecided_pairs(run_id)
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
    assert len(store.decision_log(pid)) == 2 * len(pairs)


def test_concurrent_versioned_writes_apply_once(store, sample_project) -> None:
    """Eight threads race to write one query at the version they all saw: exactly one wins."""
    pid, run_id = sample_project
    qid = int(review.query_order(store, pid, run_id)[0])
    q = review.load_query(store, pid, run_id, qid)
    cands = [int(p) for p in q.shown["passage_id"]]
    results: list[review.WriteResult] = []
    barrier = threading.Barrier(8)

    def worker(i: int) -> None:
        barrier.wait()
        results.append(review.decide(store, pid, qid, cands[i % len(cands)], "reject", version=q.version))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in results) == ["applied"] + ["stale"] * 7
    assert len(_decisions(store, pid)) == 1
