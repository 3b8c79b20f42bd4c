"""Several reviewers: per-reviewer decisions and compare-and-set, the resolved decision (single,
unanimous, majority, tie, adjudicated) that the export reads, grades, notes, search hits, undo,
and a database written before reviewers existed."""

from __future__ import annotations

from pathlib import Path

import pytest
from review_fixtures import mine_sample

from embcore.errors import EmbcoreError
from embcore.review import agreement
from embcore.review import model as review
from embcore.store import Store
from embcore.store import reviewers as rv


def _first(store: Store, pid: int, run_id: int) -> tuple[int, list[int]]:
    qid = int(review.query_order(store, pid, run_id)[0])
    q = review.load_query(store, pid, run_id, qid)
    return qid, [int(p) for p in q.shown["passage_id"]]


def _resolved(store: Store, qid: int, p: int) -> tuple[str, str] | None:
    row = store.fetchone(
        "SELECT decision, resolved_by FROM decisions WHERE query_id = ? AND passage_id = ?", [qid, p]
    )
    return None if row is None else (str(row[0]), str(row[1]))


def _is_review_positive(store: Store, qid: int, p: int) -> bool:
    row = store.fetchone(
        "SELECT 1 FROM positives WHERE query_id = ? AND passage_id = ? AND origin = 'review'", [qid, p]
    )
    return row is not None


def test_each_reviewer_sees_their_own_decisions_and_the_export_reads_the_resolved_one(mined) -> None:
    store, pid, run_id = mined
    qid, (a, b, c, *_) = _first(store, pid, run_id)
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    assert _resolved(store, qid, a) == ("accept", "single")
    review.decide(store, pid, qid, a, "accept", reviewer="bob")
    assert _resolved(store, qid, a) == ("accept", "unanimous")
    # a tie excludes the pair: neither a negative nor a positive
    review.decide(store, pid, qid, b, "accept", reviewer="alice")
    review.decide(store, pid, qid, b, "positive", reviewer="bob")
    assert _resolved(store, qid, b) == ("reject", "tie")
    assert not _is_review_positive(store, qid, b)
    # a third reviewer breaks the tie: the most frequent decision wins, the positive follows it
    review.decide(store, pid, qid, b, "positive", reviewer="carol")
    assert _resolved(store, qid, b) == ("positive", "majority")
    assert _is_review_positive(store, qid, b)
    # blind review: each reviewer's page shows their own decisions only
    alice = review.load_query(store, pid, run_id, qid, reviewer="alice").candidates.set_index("passage_id")
    bob = review.load_query(store, pid, run_id, qid, reviewer="bob").candidates.set_index("passage_id")
    assert alice.loc[b, "decision"] == "accept" and bob.loc[b, "decision"] == "positive"
    assert alice.loc[c, "decision"] is None
    excluded = store.excluded_negatives(pid)
    assert (qid, b) in set(zip(excluded["query_id"], excluded["passage_id"], strict=True))


def test_compare_and_set_is_per_reviewer(mined) -> None:
    store, pid, run_id = mined
    qid, (a, b, *_) = _first(store, pid, run_id)
    seen = review.load_query(store, pid, run_id, qid, reviewer="alice").version
    # bob decides on the same query: alice's page is still current for alice
    assert review.decide(store, pid, qid, a, "reject", reviewer="bob").applied
    assert review.load_query(store, pid, run_id, qid, reviewer="alice").version == seen
    assert review.decide(store, pid, qid, a, "accept", version=seen, reviewer="alice").applied
    # alice's second tab still shows the old version: refused, nothing written
    stale = review.decide(store, pid, qid, b, "reject", version=seen, reviewer="alice")
    assert stale.status == "stale"
    assert store.fetchone(
        "SELECT count(*) FROM reviewer_decisions WHERE query_id = ? AND passage_id = ?", [qid, b]
    ) == (0,)
    # a flag changes what every reviewer sees: bob's old page is refused too
    bob_seen = review.load_query(store, pid, run_id, qid, reviewer="bob").version
    assert review.flag_query(store, pid, qid, "bad_query", "ambiguous", reviewer="alice").applied
    refused = review.decide(store, pid, qid, b, "accept", version=bob_seen, reviewer="bob")
    assert refused.status == "stale"


def test_undo_restores_the_reviewers_decision_and_the_resolution(mined) -> None:
    store, pid, run_id = mined
    qid, (a, *_) = _first(store, pid, run_id)
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    review.decide(store, pid, qid, a, "accept", reviewer="bob")
    review.decide(store, pid, qid, a, "positive", reviewer="carol")
    assert _resolved(store, qid, a) == ("accept", "majority")
    res = review.undo_last(store, pid, qid, reviewer="bob")
    assert res.applied
    assert _resolved(store, qid, a) == ("reject", "tie")
    # bob's undo never touched alice's or carol's decisions
    votes = rv.votes(store, pid).set_index("reviewer")
    assert votes.loc["alice", "decision"] == "accept" and votes.loc["carol", "decision"] == "positive"
    assert "bob" not in votes.index
    # nothing of carol's to undo for bob
    assert review.undo_last(store, pid, qid, reviewer="bob").status == "unchanged"


def test_adjudication_overrides_the_votes_and_is_undoable(mined) -> None:
    store, pid, run_id = mined
    qid, (a, *_) = _first(store, pid, run_id)
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    review.decide(store, pid, qid, a, "positive", reviewer="bob")
    rv.save_settings(store, pid, 2, ["lead"])
    with pytest.raises(EmbcoreError, match="not a lead"):
        agreement.adjudicate(store, pid, qid, a, "positive", lead="alice")
    res = agreement.adjudicate(store, pid, qid, a, "positive", lead="lead")
    assert res.applied and _resolved(store, qid, a) == ("positive", "adjudicated")
    assert _is_review_positive(store, qid, a)
    # a later vote does not change an adjudicated pair (now a positive: it cannot be accepted as a negative)
    with pytest.raises(EmbcoreError, match="positive"):
        review.decide(store, pid, qid, a, "accept", reviewer="carol")
    review.decide(store, pid, qid, a, "reject", reviewer="carol")
    assert _resolved(store, qid, a) == ("positive", "adjudicated")
    review.undo(store, pid, res.action_id, reviewer="lead")
    assert _resolved(store, qid, a) == ("reject", "tie")  # accept, positive, reject: no majority
    assert not _is_review_positive(store, qid, a)


def test_grades_notes_and_their_undo(mined) -> None:
    store, pid, run_id = mined
    qid, (a, b, *_) = _first(store, pid, run_id)
    with pytest.raises(EmbcoreError, match="0, 1, 2 or 3"):
        review.grade(store, pid, qid, a, 4)
    assert review.grade(store, pid, qid, a, 3, reviewer="alice").applied
    assert review.grade(store, pid, qid, a, 1, reviewer="bob").applied
    assert review.grade(store, pid, qid, b, 2, reviewer="bob").applied
    grades = {(int(q), int(p)): int(g) for q, p, g in rv.resolved_grades(store, pid).itertuples(index=False)}
    assert grades == {(qid, a): 1, (qid, b): 2}  # the lower median of 3 and 1
    q = review.load_query(store, pid, run_id, qid, reviewer="alice")
    assert q.candidates.set_index("passage_id").loc[a, "grade"] == 3
    # a grade keeps the decision, a cleared decision keeps the grade
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    review.decide(store, pid, qid, a, None, reviewer="alice")
    assert rv.grade_of(store, qid, a, "alice") == 3
    review.undo_last(store, pid, qid, reviewer="alice")  # the clear
    review.undo_last(store, pid, qid, reviewer="alice")  # the accept
    assert review.undo_last(store, pid, qid, reviewer="alice").applied  # the grade
    assert rv.grade_of(store, qid, a, "alice") is None
    # a note is shared, versioned and undoable
    v = review.load_query(store, pid, run_id, qid, reviewer="bob").version
    assert review.set_note(
        store, pid, qid, "  ask the analyst about 2023  ", version=v, reviewer="bob"
    ).applied
    q = review.load_query(store, pid, run_id, qid, reviewer="alice")
    assert (q.note, q.note_by) == ("ask the analyst about 2023", "bob")
    assert review.undo_last(store, pid, qid, reviewer="bob").applied
    assert review.load_query(store, pid, run_id, qid).note is None


def test_a_search_hit_added_as_a_negative_is_listed_exported_and_undone(mined) -> None:
    store, pid, run_id = mined
    qid, shown = _first(store, pid, run_id)
    known = set(shown) | {int(p) for p in review.load_query(store, pid, run_id, qid).candidates["passage_id"]}
    positives = set(review.load_query(store, pid, run_id, qid).positives["passage_id"])
    other = next(
        int(r[0])
        for r in store.fetchall("SELECT id FROM passages ORDER BY id")
        if int(r[0]) not in known | positives
    )
    res = review.add_search_hit(store, pid, qid, other, "accept", reviewer="alice")
    assert res.applied
    q = review.load_query(store, pid, run_id, qid, reviewer="alice")
    row = q.candidates.set_index("passage_id").loc[other]
    assert (row["status"], row["sources"], row["decision"]) == ("given", "search", "accept")
    pool = store.negative_pool(pid, run_id)
    assert other in set(pool[pool["query_id"] == qid]["passage_id"])
    with pytest.raises(EmbcoreError, match="positive"):
        review.add_search_hit(store, pid, qid, int(next(iter(positives))), "accept")
    assert review.undo(store, pid, res.action_id, reviewer="alice").applied
    assert store.fetchone(
        "SELECT count(*) FROM given_negatives WHERE query_id = ? AND passage_id = ?", [qid, other]
    ) == (0,)
    assert _resolved(store, qid, other) is None


def test_done_is_per_reviewer(mined) -> None:
    store, pid, run_id = mined
    qid, _ = _first(store, pid, run_id)
    assert review.mark_done(store, pid, qid, reviewer="alice").applied
    assert qid in set(review.reviewed_ids(store, pid, "alice"))
    assert qid not in set(review.reviewed_ids(store, pid, "bob"))
    assert qid in set(review.reviewed_ids(store, pid))  # by anyone
    assert review.progress(store, pid).reviewed == 1 and review.progress(store, pid, "bob").reviewed == 0
    order = review.query_order(store, pid, run_id, review.ReviewFilter.make("unreviewed"))
    assert qid not in set(order)
    bobs = review.query_order(store, pid, run_id, review.ReviewFilter.make("unreviewed"), reviewer="bob")
    assert qid in set(bobs)


def test_a_database_from_before_reviewers_keeps_its_decisions(tmp_path: Path, monkeypatch) -> None:
    """Migration 010 on a file with decisions, a done query and an undoable action: nothing is lost."""
    import embcore.store as store_mod

    path = tmp_path / "old.duckdb"
    files = store_mod._migrations()
    monkeypatch.setattr(store_mod, "_migrations", lambda: [m for m in files if m[0] < 10])
    with Store(path) as store:
        pid, run_id = mine_sample(store)
        qid = int(
            store.fetchone(
                "SELECT min(query_id) FROM candidates WHERE run_id = ? AND status = 'selected'", [run_id]
            )[0]
        )
        a, b = (int(r[0]) for r in store.fetchall(
            "SELECT passage_id FROM candidates WHERE run_id = ? AND query_id = ? AND status = 'selected' ORDER BY rank LIMIT 2",
            [run_id, qid]))  # fmt: skip
        store.execute(
            "INSERT INTO decisions (project_id, query_id, passage_id, decision) VALUES (?, ?, ?, 'accept')",
            [pid, qid, a],
        )
        store.execute(
            "INSERT INTO decisions (project_id, query_id, passage_id, decision) VALUES (?, ?, ?, 'positive')",
            [pid, qid, b],
        )
        store.execute(
            "INSERT INTO query_review (query_id, project_id, how) VALUES (?, ?, 'done')", [qid, pid]
        )
    monkeypatch.setattr(store_mod, "_migrations", lambda: files)
    with Store(path) as store:
        assert {(r[0], r[1]) for r in store.fetchall("SELECT passage_id, decision FROM reviewer_decisions WHERE reviewer = ''")} == {
            (a, "accept"), (b, "positive")}  # fmt: skip
        assert store.reviewed_query_ids(pid) == {qid}
        q = review.load_query(store, pid, run_id, qid)
        assert (
            q.reviewed_how == "done" and q.candidates.set_index("passage_id").loc[a, "decision"] == "accept"
        )
        assert rv.unnamed_decisions(store, pid) == 2
        assert rv.adopt_unnamed(store, pid, "alice") == 2
        q = review.load_query(store, pid, run_id, qid, reviewer="alice")
        assert (
            q.reviewed_how == "done" and q.candidates.set_index("passage_id").loc[b, "decision"] == "positive"
        )
        # the resolved decisions are unchanged, and alice's next decision resolves as 'single'
        review.decide(store, pid, qid, a, "reject", reviewer="alice")
        assert _resolved(store, qid, a) == ("reject", "single")
