"""The Review page's tools for an expert's hour (issue 14), driven with AppTest: the reviewer's name
at first visit, queues with their reasons, grades, the corpus search, the note, the keys that
open panels; the Agreement page with kappa and adjudication; the address guard."""

from __future__ import annotations

import sys

from support.app import card_data, card_event, texts
from support.encoders import HashingEncoder
from support.review import mine_sample

from app_pages._common import K
from embcore.review import model as review
from embcore.review import queues
from embcore.store import Store


def _resolved(store: Store, pid: int, qid: int, p: int) -> tuple[str, str]:
    d = store.decisions(pid, qid).set_index("passage_id")
    return str(d.loc[p, "decision"]), str(d.loc[p, "resolved_by"])


REVIEW = "app_pages/review.py"
AGREEMENT = "app_pages/agreement.py"


def test_a_reviewer_names_themself_at_first_visit(new_app, store) -> None:
    pid, _ = mine_sample(store)
    at = new_app(REVIEW, project=pid, reviewer=None)
    assert not at.get("bidi_component"), "no candidate view before a name"
    at.text_input(key=K.W_REVIEWER_NAME).set_value("  Alice \u200b ")  # a form: sent with its submit
    [start] = [b for b in at.button if b.label == "Start reviewing"]
    start.click().run()
    assert at.session_state[K.REVIEWER] == "Alice"
    assert at.query_params["reviewer"] in ("Alice", ["Alice"])  # kept in the page address
    assert card_data(at)["reviewer"] == "Alice"
    assert store.reviewer_names(pid) == ["Alice"]
    card_event(at, "decide", pid=card_data(at)["select"], d="accept")
    assert store.reviewer_votes(pid)["reviewer"].tolist() == ["Alice"]


def test_queue_reasons_grades_and_keys(new_app, store) -> None:
    pid, run_id = mine_sample(store)
    at = new_app(REVIEW, project=pid, encoder=HashingEncoder())
    at.selectbox(key=K.W_QUEUE).set_value("false_negatives").run()
    at.slider(key=K.W_QUEUE_THR).set_value(0.5).run()
    q = queues.compute(store, pid, run_id, "false_negatives", threshold=0.5, reviewer="tester")
    data = card_data(at)
    assert data["qid"] == int(q.order[0]) and data["queue"]["label"] == "Suspected false negatives"
    assert data["queue"]["why"] == q.why[int(q.order[0])]
    marked = {r["pid"]: r["why"] for r in data["rows"] if r["why"]}
    assert marked == q.item_reasons(int(q.order[0]))
    assert data["select"] == q.focus[int(q.order[0])], "the queue's first candidate is selected"
    # grade the selected candidate (Shift+2)
    card_event(at, "grade", pid=data["select"], g=2)
    assert store.grade_of(data["qid"], data["select"], "tester") == 2
    assert {r["pid"]: r["grade"] for r in card_data(at)["rows"]}[data["select"]] == 2
    # N: next query of the queue
    card_event(at, "nav", to="todo")
    assert at.session_state[K.QUERY] == int(q.order[1])
    # F opens the flag form, S the session summary
    card_event(at, "panel", what="flag")
    assert at.session_state[K.W_EDIT] is True and card_data(at)["focus"] == "reason"
    card_event(at, "panel", what="summary")
    assert at.session_state[K.W_SUMMARY] is True
    assert any(m.label == "Decisions" for m in at.metric)
    assert not at.exception


def test_corpus_search_adds_a_negative_and_the_note(new_app, store) -> None:
    pid, run_id = mine_sample(store)
    at = new_app(REVIEW, project=pid, encoder=HashingEncoder())
    qid = at.session_state[K.QUERY]
    known = {r["pid"] for r in card_data(at)["rows"]}
    at.text_input(key=K.W_CORPUS_Q).set_value("employees unions").run()
    hits = [r for r in card_data(at)["rows"] if r["section"] == "search"]
    assert hits and card_data(at)["search"]["text"] == "employees unions"
    new = next(r for r in hits if r["pid"] not in known and r["can_accept"])
    card_event(at, "decide", pid=new["pid"], d="accept", search=True)
    q = review.load_query(store, pid, run_id, qid, reviewer="tester")
    row = q.candidates.set_index("passage_id").loc[new["pid"]]
    assert (row["status"], row["sources"], row["decision"]) == ("given", "search", "accept")
    # X on a search hit does nothing but say so
    other = next(r for r in hits if r["pid"] != new["pid"])
    card_event(at, "decide", pid=other["pid"], d="reject", search=True)
    assert any("not a candidate" in t for t in texts(at.info))
    # the note: saved on Enter, shared, shown in the card
    at.text_input(key=K.note(qid)).set_value("check the 2023 figure").run()
    assert review.load_query(store, pid, run_id, qid).note == "check the 2023 figure"
    assert card_data(at)["note"] == "check the 2023 figure"


def test_agreement_page_shows_kappa_and_adjudicates(new_app, store) -> None:
    pid, run_id = mine_sample(store)
    qid = int(review.query_order(store, pid, run_id)[0])
    cands = [int(p) for p in review.load_query(store, pid, run_id, qid).shown["passage_id"]][:3]
    for p, (da, db) in zip(
        cands, [("accept", "accept"), ("accept", "positive"), ("reject", "reject")], strict=True
    ):
        review.decide(store, pid, qid, p, da, reviewer="alice")
        review.decide(store, pid, qid, p, db, reviewer="bob")
    at = new_app(AGREEMENT, project=pid, reviewer="lead")
    pairs = at.table[0].value.reset_index()
    assert pairs.iloc[0]["reviewer A"] == "alice" and pairs.iloc[0]["candidates both decided"] == 3
    metric = {m.label: m.value for m in at.metric}
    assert metric["Disagreements"] == "1"
    assert _resolved(store, pid, qid, cands[1]) == ("reject", "tie")
    at.button(key=K.adjudicate(qid, cands[1], "positive")).click().run()
    assert _resolved(store, pid, qid, cands[1]) == ("positive", "adjudicated")
    # once leads are named, a reviewer who is not one cannot adjudicate
    store.save_review_settings(pid, 2, ["lead"])
    at2 = new_app(AGREEMENT, project=pid, reviewer="alice")
    assert at2.button(key=K.adjudicate(qid, cands[1], "accept")).disabled


def test_app_refuses_a_public_address_without_login(new_app, store, monkeypatch) -> None:
    from streamlit import config

    monkeypatch.setattr(sys, "argv", ["app.py"])
    old = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    try:
        at = new_app()
        assert any("refusing to serve on 0.0.0.0" in t for t in texts(at.error))
        assert not at.get("bidi_component") and not at.text_input
        monkeypatch.setattr(sys, "argv", ["app.py", "--i-know-this-is-public"])
        at = new_app()
        assert not any("refusing" in t for t in texts(at.error))
    finally:
        config.set_option("server.address", old)
