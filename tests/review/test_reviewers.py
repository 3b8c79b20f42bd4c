"""Several reviewers: per-reviewer decisions and compare-and-set, the resolved decision (single,
unanimous, majority, tie, adjudicated) that the export reads, grades, notes, search hits, undo,
and a database written before reviewers existed."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from support.review import mine_sample

from embcore.errors import EmbcoreError
from embcore.review import agreement
from embcore.review import model as review
from embcore.store import Store


def _first(store: Store, pid: int, run_id: int) -> tuple[int, list[int]]:
    qid = int(review.query_order(store, pid, run_id)[0])
    q = review.load_query(store, pid, run_id, qid)
    return qid, [int(p) for p in q.shown["passage_id"]]


def _resolved(store: Store, pid: int, qid: int, p: int) -> tuple[str, str] | None:
    """(decision, resolved_by) of the resolved decision on one pair (the export reads it), or None."""
    d = store.decisions(pid, qid)
    d = d[d["passage_id"] == p]
    return None if d.empty else (str(d["decision"].iloc[0]), str(d["resolved_by"].iloc[0]))


def _is_review_positive(store: Store, qid: int, p: int) -> bool:
    return "review" in store.positive_origins(qid, p)


def test_each_reviewer_sees_their_own_decisions_and_the_export_reads_the_resolved_one(mined) -> None:
    store, pid, run_id = mined
    qid, (a, b, c, *_) = _first(store, pid, run_id)
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    assert _resolved(store, pid, qid, a) == ("accept", "single")
    review.decide(store, pid, qid, a, "accept", reviewer="bob")
    assert _resolved(store, pid, qid, a) == ("accept", "unanimous")
    # a tie excludes the pair: neither a negative nor a positive
    review.decide(store, pid, qid, b, "accept", reviewer="alice")
    review.decide(store, pid, qid, b, "positive", reviewer="bob")
    assert _resolved(store, pid, qid, b) == ("reject", "tie")
    assert not _is_review_positive(store, qid, b)
    # a third reviewer breaks the tie: the most frequent decision wins, the positive follows it
    review.decide(store, pid, qid, b, "positive", reviewer="carol")
    assert _resolved(store, pid, qid, b) == ("positive", "majority")
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
    votes = store.reviewer_votes(pid)
    assert votes[(votes["query_id"] == qid) & (votes["passage_id"] == b)].empty
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
    assert _resolved(store, pid, qid, a) == ("accept", "majority")
    res = review.undo_last(store, pid, qid, reviewer="bob")
    assert res.applied
    assert _resolved(store, pid, qid, a) == ("reject", "tie")
    # bob's undo never touched alice's or carol's decisions
    votes = store.reviewer_votes(pid).set_index("reviewer")
    assert votes.loc["alice", "decision"] == "accept" and votes.loc["carol", "decision"] == "positive"
    assert "bob" not in votes.index
    # nothing of carol's to undo for bob
    assert review.undo_last(store, pid, qid, reviewer="bob").status == "unchanged"


def test_adjudication_overrides_the_votes_and_is_undoable(mined) -> None:
    store, pid, run_id = mined
    qid, (a, *_) = _first(store, pid, run_id)
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    review.decide(store, pid, qid, a, "positive", reviewer="bob")
    store.save_review_settings(pid, 2, ["lead"])
    with pytest.raises(EmbcoreError, match="not a lead"):
        agreement.adjudicate(store, pid, qid, a, "positive", lead="alice")
    res = agreement.adjudicate(store, pid, qid, a, "positive", lead="lead")
    assert res.applied and _resolved(store, pid, qid, a) == ("positive", "adjudicated")
    assert _is_review_positive(store, qid, a)
    # a later vote does not change an adjudicated pair (now a positive: it cannot be accepted as a negative)
    with pytest.raises(EmbcoreError, match="positive"):
        review.decide(store, pid, qid, a, "accept", reviewer="carol")
    review.decide(store, pid, qid, a, "reject", reviewer="carol")
    assert _resolved(store, pid, qid, a) == ("positive", "adjudicated")
    review.undo(store, pid, res.action_id, reviewer="lead")
    assert _resolved(store, pid, qid, a) == ("reject", "tie")  # accept, positive, reject: no majority
    assert not _is_review_positive(store, qid, a)


def test_grades_notes_and_their_undo(mined) -> None:
    store, pid, run_id = mined
    qid, (a, b, *_) = _first(store, pid, run_id)
    with pytest.raises(EmbcoreError, match="0, 1, 2 or 3"):
        review.grade(store, pid, qid, a, 4)
    assert review.grade(store, pid, qid, a, 3, reviewer="alice").applied
    assert review.grade(store, pid, qid, a, 1, reviewer="bob").applied
    assert review.grade(store, pid, qid, b, 2, reviewer="bob").applied
    grades = {(int(q), int(p)): int(g) for q, p, g in store.resolved_grades(pid).itertuples(index=False)}
    assert grades == {(qid, a): 1, (qid, b): 2}  # the lower median of 3 and 1
    q = review.load_query(store, pid, run_id, qid, reviewer="alice")
    assert q.candidates.set_index("passage_id").loc[a, "grade"] == 3
    # a grade keeps the decision, a cleared decision keeps the grade
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    review.decide(store, pid, qid, a, None, reviewer="alice")
    assert store.grade_of(qid, a, "alice") == 3
    review.undo_last(store, pid, qid, reviewer="alice")  # the clear
    review.undo_last(store, pid, qid, reviewer="alice")  # the accept
    assert review.undo_last(store, pid, qid, reviewer="alice").applied  # the grade
    assert store.grade_of(qid, a, "alice") is None
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
    other = next(int(i) for i in sorted(store.passage_texts(pid)["id"]) if int(i) not in known | positives)
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
    given = store.given_negatives(pid)
    assert given[(given["query_id"] == qid) & (given["passage_id"] == other)].empty
    assert _resolved(store, pid, qid, other) is None


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
    from embcore.store import connection

    path = tmp_path / "old.duckdb"
    files = connection.migration_files()
    monkeypatch.setattr(connection, "migration_files", lambda: [m for m in files if m[0] < 10])
    with Store(path) as store:
        pid, run_id = mine_sample(store)
        selected = store.candidates(run_id, statuses=["selected"])
        qid = int(selected["query_id"].min())
        a, b = (int(p) for p in selected[selected["query_id"] == qid]["passage_id"].head(2))
    # decisions as written before 010 (no reviewer anywhere)
    con = duckdb.connect(str(path))
    con.execute(
        "INSERT INTO decisions (project_id, query_id, passage_id, decision) VALUES (?, ?, ?, 'accept')",
        [pid, qid, a],
    )
    con.execute(
        "INSERT INTO decisions (project_id, query_id, passage_id, decision) VALUES (?, ?, ?, 'positive')",
        [pid, qid, b],
    )
    con.execute("INSERT INTO query_review (query_id, project_id, how) VALUES (?, ?, 'done')", [qid, pid])
    con.close()
    monkeypatch.setattr(connection, "migration_files", lambda: files)
    with Store(path) as store:
        votes = store.reviewer_votes(pid)
        assert set(zip(votes["reviewer"], votes["passage_id"], votes["decision"], strict=True)) == {
            ("", a, "accept"), ("", b, "positive")}  # fmt: skip
        assert set(store.reviewed_query_ids(pid)) == {qid}
        q = review.load_query(store, pid, run_id, qid)
        assert (
            q.reviewed_how == "done" and q.candidates.set_index("passage_id").loc[a, "decision"] == "accept"
        )
        assert store.unnamed_decisions(pid) == 2
        assert store.adopt_unnamed(pid, "alice") == 2
        q = review.load_query(store, pid, run_id, qid, reviewer="alice")
        assert (
            q.reviewed_how == "done" and q.candidates.set_index("passage_id").loc[b, "decision"] == "positive"
        )
        # the resolved decisions are unchanged, and alice's next decision resolves as 'single'
        review.decide(store, pid, qid, a, "reject", reviewer="alice")
        assert _resolved(store, pid, qid, a) == ("reject", "single")


def test_two_reviewers_of_one_query_count_once(mined) -> None:
    store, pid, run_id = mined
    qid, _ = _first(store, pid, run_id)
    review.mark_done(store, pid, qid, reviewer="alice")
    review.mark_done(store, pid, qid, reviewer="bob")
    assert store.reviewed_query_ids(pid).tolist() == [qid]
    assert store.reviewed_query_ids(pid, "bob").tolist() == [qid]
    assert store.review_counts(pid)["reviewed"] == 1
    assert store.project_counts(pid)["reviewed"] == 1, "the stepper counts queries, not reviewers"
    listed = store.list_projects().set_index("id")
    assert int(listed.loc[pid, "reviewed"]) == 1


def test_reset_review_and_delete_project_forget_every_reviewer(mined) -> None:
    store, pid, run_id = mined
    qid, (a, b, *_) = _first(store, pid, run_id)
    positives = set(review.load_query(store, pid, run_id, qid).positives["passage_id"])
    known = {int(p) for p in review.load_query(store, pid, run_id, qid).candidates["passage_id"]}
    hit = next(int(i) for i in sorted(store.passage_texts(pid)["id"]) if int(i) not in known | positives)
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    review.decide(store, pid, qid, a, "positive", reviewer="bob")
    review.grade(store, pid, qid, b, 2, reviewer="alice")
    review.add_search_hit(store, pid, qid, hit, "accept", reviewer="bob")
    agreement.adjudicate(store, pid, qid, a, "positive", lead="lead")
    review.mark_done(store, pid, qid, reviewer="alice")
    store.reset_review(pid)
    assert store.reviewer_votes(pid).empty and store.decisions(pid).empty
    assert store.resolved_grades(pid).empty and store.adjudication(qid, a) is None
    assert store.reviewed_query_ids(pid).size == 0
    assert store.versions([qid], "alice") == {qid: 0} and store.versions([qid], "bob") == {qid: 0}
    assert "search" not in set(store.given_negatives(pid)["origin"]), "search hits were review writes"
    assert "review" not in set(store.positives(pid)["origin"])
    # deleting the project leaves no reviewer row behind
    review.decide(store, pid, qid, a, "accept", reviewer="alice")
    store.register_reviewer(pid, "alice")
    agreement.assign(store, pid, ["alice", "bob"], 1)
    store.delete_project(pid)
    assert store.reviewer_votes(pid).empty and store.reviewer_names(pid) == []
    assert not store.has_assignments(pid) and store.review_settings(pid) == {"overlap": 1, "leads": []}
    assert store.reviewer_versions([qid], "alice") == {qid: 0}
