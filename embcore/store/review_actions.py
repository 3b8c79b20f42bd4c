"""Versioned review writes: decisions, done / reopen, flags, text edits and their undo.

Every write a reviewer makes is one *action* (a row of ``review_actions``): a single decision,
"accept remaining", a bulk rule over thousands of pairs, marking a query done, a flag, an
edited query or positive, or the undo of an earlier action. The decisions it changed are
``decision_log`` rows carrying its ``action_id`` and the decision they replaced
(``prev_decision``); the reviewed states it changed are ``review_action_queries`` rows (before
/ after). Undo replays exactly those rows backwards, so it restores the decision, the
review-made positive and the reviewed flag of every pair and query the action touched.

Compare-and-set: each query has a version (``query_state.version``, 0 when never written)
that every action touching the query increments. A write may name the versions its author
saw (``expect``); inside the same transaction the store compares them with the current ones
and, on any difference, writes nothing and answers ``stale``. A key press delivered against
an old page, or a second tab that did not see the first tab's click, is therefore refused,
never applied to a state its author did not see.

"Reviewed" (``query_review``): ``how = 'done'`` when the reviewer said so, ``'complete'`` when
every shown candidate of the query (the run's candidates of the shown statuses plus the
negatives given by the data or an LLM) has a decision. A decision never marks a query done;
it only recomputes completeness.

Several reviewers (migration 010): a decision, a grade and "done" belong to the reviewer who
made them (``reviewer_decisions``, ``query_review.reviewer``); the resolved decision that the
rest of the tool reads (``decisions``) is recomputed for every pair a write touches (see
:mod:`embcore.store.reviewers`). The version a reviewer's page names is the query's shared
version (flag, note, edits) plus that reviewer's own version, so a reviewer's key presses are
refused when *their* view moved on (another tab of theirs, a flag), never because a colleague
decided on the same query. ``reviewer = ""`` is the unnamed reviewer of scripts and of the
decisions made before names existed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store import DECISIONS, Store
from embcore.store import reviewers as rv
from embcore.text import clean_text, text_hash

log = logging.getLogger(__name__)

WriteStatus = Literal["applied", "stale", "unchanged"]
SMALL = 16
"""Up to this many pairs a write uses point statements (a click); more go set-based (bulk)."""
FLAGS: tuple[str, ...] = ("bad_query", "wrong_positive")
"""Why a query is flagged: the query itself is unusable, or its positive is wrong."""
REVIEWED_HOW: tuple[str, ...] = ("done", "complete")
PER_REVIEWER_KINDS: frozenset[str] = frozenset(
    {"decide", "accept_rest", "bulk", "done", "reopen", "grade", "search_add"}
)
"""Action kinds that change one reviewer's own state (their version moves); the others
(flag, note, edits, adjudication) change what every reviewer sees (the shared version moves)."""


@dataclass(frozen=True)
class WriteResult:
    """What a review write did.

    Attributes:
        status: ``applied``; ``stale`` (refused: a query moved on since its author saw it, or
            an undo whose pairs were changed later; nothing written); ``unchanged`` (nothing to do).
        action_id: the action written (None unless applied).
        pairs: (query, passage) pairs the action wrote.
        queries: queries it touched.
        versions: version of every touched (or checked) query after the call.
        message: plain words for the reviewer (why it was refused, what it did).
    """

    status: WriteStatus
    action_id: int | None = None
    pairs: int = 0
    queries: int = 0
    versions: dict[int, int] = field(default_factory=dict)
    message: str = ""

    @property
    def applied(self) -> bool:
        """Whether the write happened."""
        return self.status == "applied"


# --------------------------------------------------------------------------- small reads


def versions(store: Store, query_ids: Sequence[int], reviewer: str = "") -> dict[int, int]:
    """Version of each query as ``reviewer`` sees it: shared version + the reviewer's own (0 when never written)."""
    ids = sorted({int(q) for q in query_ids})
    if not ids:
        return {}
    found = dict(
        store.fetchall("SELECT query_id, version FROM query_state WHERE list_contains(?, query_id)", [ids])
    )
    own = rv.reviewer_versions(store, ids, reviewer)
    return {q: int(found.get(q, 0)) + own[q] for q in ids}


def query_state(store: Store, query_id: int, reviewer: str = "") -> dict[str, Any]:
    """``{"version", "flag", "flag_reason", "reviewed", "note", "note_by"}`` of one query for ``reviewer``
    (reviewed: 'done', 'complete' or None, that reviewer's)."""
    row = store.fetchone(
        "SELECT coalesce(s.version, 0) + coalesce(v.version, 0), s.flag, s.flag_reason, r.how, s.note, s.note_by "
        "FROM (SELECT ?::BIGINT AS query_id) q "
        "LEFT JOIN query_state s ON s.query_id = q.query_id "
        "LEFT JOIN reviewer_state v ON v.query_id = q.query_id AND v.reviewer = ? "
        "LEFT JOIN query_review r ON r.query_id = q.query_id AND r.reviewer = ?",
        [int(query_id), reviewer, reviewer],
    )
    version, flag, reason, how, note, note_by = row if row else (0, None, None, None, None, None)
    return {"version": int(version or 0), "flag": flag, "flag_reason": reason, "reviewed": how, "note": note,
            "note_by": note_by}  # fmt: skip


def latest_mining_run(store: Store, pid: int) -> int | None:
    """The project's latest finished mining run (what "shown candidates" refers to by default)."""
    row = store.fetchone(
        "SELECT max(id) FROM runs WHERE project_id = ? AND kind = 'mine' AND status = 'done'", [pid]
    )
    return int(row[0]) if row and row[0] is not None else None


def complete_queries(
    store: Store,
    pid: int,
    query_ids: Sequence[int],
    run_id: int | None,
    statuses: Sequence[str],
    reviewer: str = "",
) -> set[int]:
    """Queries (of ``query_ids``) whose every shown candidate has a decision of ``reviewer`` (and that
    have one at least).

    Shown: the run's candidates with one of ``statuses`` plus the query's given / generated negatives.
    """
    ids = sorted({int(q) for q in query_ids})
    if not ids:
        return set()
    rid = -1 if run_id is None else int(run_id)
    if len(ids) == 1:  # one query (a click): equality lookups on the primary keys
        row = store.fetchone(
            """
            WITH shown AS (
                SELECT passage_id FROM candidates WHERE run_id = ? AND query_id = ? AND list_contains(?, status)
                UNION SELECT passage_id FROM given_negatives WHERE query_id = ?
            )
            SELECT count(*), count(d.decision) FROM shown s
            LEFT JOIN (SELECT passage_id, decision FROM reviewer_decisions WHERE query_id = ? AND reviewer = ?) d
                ON d.passage_id = s.passage_id
            """,
            [rid, ids[0], list(statuses), ids[0], ids[0], reviewer],
        )
        return {ids[0]} if row and row[0] and row[0] == row[1] else set()
    rows = store.fetchall(
        """
        WITH q AS (SELECT unnest(?::BIGINT[]) AS query_id),
        shown AS (
            SELECT c.query_id, c.passage_id FROM candidates c JOIN q ON q.query_id = c.query_id
            WHERE c.run_id = ? AND list_contains(?, c.status)
            UNION
            SELECT g.query_id, g.passage_id FROM given_negatives g JOIN q ON q.query_id = g.query_id
        )
        SELECT s.query_id FROM shown s
        LEFT JOIN reviewer_decisions d ON d.query_id = s.query_id AND d.passage_id = s.passage_id AND d.reviewer = ?
        GROUP BY s.query_id HAVING count(*) > 0 AND count(d.decision) = count(*)
        """,
        [ids, rid, list(statuses), reviewer],
    )
    return {int(r[0]) for r in rows}


def _reviewed(store: Store, query_ids: Sequence[int], reviewer: str = "") -> dict[int, str | None]:
    ids = sorted({int(q) for q in query_ids})
    found = dict(
        store.fetchall(
            "SELECT query_id, how FROM query_review WHERE reviewer = ? AND list_contains(?, query_id)",
            [reviewer, ids],
        )
    )
    return {q: found.get(q) for q in ids}


# --------------------------------------------------------------------------- building blocks (inside a transaction)


def _stale(store: Store, expect: Mapping[int, int] | None, reviewer: str = "") -> WriteResult | None:
    """A ``stale`` result when a query's version (as ``reviewer`` sees it) differs from what the caller saw."""
    if not expect:
        return None
    current = versions(store, list(expect), reviewer)
    moved = sorted(q for q, v in expect.items() if current[int(q)] != int(v))
    if not moved:
        return None
    which = ", ".join(str(q) for q in moved[:5]) + (" ..." if len(moved) > 5 else "")
    return WriteResult(
        "stale",
        versions=current,
        message=(
            f"Not applied: query {which} changed since this page was drawn (a decision made in another tab, "
            "by another reviewer, or by an earlier key press). The page now shows the current state; check it "
            "and press again."
        ),
    )


def _new_action(
    store: Store,
    pid: int,
    kind: str,
    label: str,
    *,
    query_id: int | None = None,
    detail: dict[str, Any] | None = None,
    undoes: int | None = None,
    pairs: int = 0,
    queries: int = 1,
    reviewer: str = "",
) -> int:
    detail_json = None if detail is None else json.dumps(detail, ensure_ascii=False)
    row = store.fetchone(
        "INSERT INTO review_actions (project_id, kind, query_id, label, detail, undoes, pairs, queries, reviewer) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [pid, kind, query_id, label, detail_json, undoes, pairs, queries, reviewer],
    )
    return int(row[0])


def _finish_action(store: Store, action_id: int, pairs: int, queries: int) -> None:
    store.con.execute(
        "UPDATE review_actions SET pairs = ?, queries = ? WHERE id = ?", [pairs, queries, action_id]
    )


def _bump(store: Store, pid: int, query_ids: Sequence[int], reviewer: str = "") -> dict[int, int]:
    """Increment the shared version of every query (creating its state row); returns the versions
    as ``reviewer`` sees them."""
    ids = sorted({int(q) for q in query_ids})
    if not ids:
        return {}
    store.con.execute(
        "INSERT INTO query_state (query_id, project_id, version) SELECT unnest(?::BIGINT[]), ?, 1 "
        "ON CONFLICT (query_id) DO UPDATE SET version = query_state.version + 1, updated_at = now()",
        [ids, pid],
    )
    return versions(store, ids, reviewer)


def _bump_own(store: Store, pid: int, query_ids: Sequence[int], reviewer: str) -> dict[int, int]:
    """Increment ``reviewer``'s own version of every query; returns the versions as they see them."""
    rv.bump_reviewer(store, pid, query_ids, reviewer)
    return versions(store, query_ids, reviewer)


def _write_pairs(store: Store, pid: int, action_id: int, rows: pd.DataFrame, reviewer: str = "") -> None:
    """Write ``reviewer``'s decisions ``new`` over ``old`` for rows (query_id, passage_id, new, old), log
    them, and resolve the pairs (the resolved decision and the review-made positive follow).

    A review-made positive (origin 'review') exists exactly while the resolved decision is
    'positive' (a positive given by the data is never touched). A few rows (a click) take point
    statements on the primary keys; more (a bulk action) one set-based statement per step.
    """
    rv.write_reviewer_decisions(store, pid, rows, reviewer)
    if len(rows) <= SMALL:
        for q, p, new, old in rows[["query_id", "passage_id", "new", "old"]].itertuples(index=False):
            store.con.execute(
                "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, prev_decision, "
                "reviewer) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [pid, int(q), int(p), new, action_id, old, reviewer],
            )
    else:
        with store._frame("review_rows", rows):
            store.con.execute(
                "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, prev_decision, "
                "reviewer) SELECT ?, query_id, passage_id, new, ?, old, ? FROM review_rows ORDER BY query_id, passage_id",
                [pid, action_id, reviewer],
            )
    rv.resolve_pairs(store, pid, rows[["query_id", "passage_id"]])


def _set_reviewed(
    store: Store,
    pid: int,
    action_id: int,
    changes: Mapping[int, tuple[str | None, str | None]],
    reviewer: str = "",
) -> None:
    """Apply ``reviewer``'s reviewed-state changes ``{query: (before, after)}`` and record them with the action."""
    changes = {q: ba for q, ba in changes.items() if ba[0] != ba[1]}
    if not changes:
        return
    frame = pd.DataFrame(
        {
            "query_id": list(changes),
            "before": [b for b, _ in changes.values()],
            "after": [a for _, a in changes.values()],
        }
    ).astype({"query_id": "int64", "before": object, "after": object})
    with store._frame("reviewed_changes", frame):
        store.con.execute(
            "DELETE FROM query_review r USING reviewed_changes c WHERE r.query_id = c.query_id AND r.reviewer = ?",
            [reviewer],
        )
        store.con.execute(
            "INSERT INTO query_review (query_id, reviewer, project_id, how) SELECT query_id, ?, ?, after "
            "FROM reviewed_changes WHERE after IS NOT NULL",
            [reviewer, pid],
        )
        store.con.execute(
            "INSERT INTO review_action_queries (action_id, project_id, query_id, reviewed_before, reviewed_after) "
            "SELECT ?, ?, query_id, before, after FROM reviewed_changes",
            [action_id, pid],
        )


def _recompute_reviewed(
    store: Store,
    pid: int,
    query_ids: Sequence[int],
    run_id: int | None,
    statuses: Sequence[str],
    reviewer: str = "",
) -> dict[int, tuple[str | None, str | None]]:
    """Reviewed state after decisions changed: 'done' stays; otherwise 'complete' exactly when complete."""
    before = _reviewed(store, query_ids, reviewer)
    done = complete_queries(store, pid, query_ids, run_id, statuses, reviewer)
    out = {}
    for q, how in before.items():
        after = how if how == "done" else ("complete" if q in done else None)
        out[q] = (how, after)
    return out


# --------------------------------------------------------------------------- decisions


def apply_decisions(
    store: Store,
    pid: int,
    pairs: Sequence[tuple[int, int]],
    decision: str | None,
    *,
    expect: Mapping[int, int] | None = None,
    run_id: int | None = None,
    statuses: Sequence[str] = ("selected",),
    kind: str = "decide",
    label: str | None = None,
    detail: dict[str, Any] | None = None,
    reviewer: str = "",
) -> WriteResult:
    """Set (``None``: clear) one decision of ``reviewer`` on many (query, passage) pairs as one undoable action.

    In one transaction: compare the versions in ``expect`` (as the reviewer sees them; refuse on
    any difference), write the reviewer's decisions, log every pair with the decision it
    replaced, resolve the pairs (the resolved decision and the review-made positives), recompute
    which touched queries are complete for the reviewer (every shown candidate decided,
    ``run_id`` / ``statuses`` say what is shown; default: the latest mining run's selected
    candidates) and bump the reviewer's versions.

    Raises:
        EmbcoreError: unknown decision.
    """
    if decision is not None and decision not in DECISIONS:
        raise EmbcoreError(f"unknown decision {decision!r}; allowed: {', '.join(DECISIONS)}")
    frame = pd.DataFrame(
        {"query_id": [int(q) for q, _ in pairs], "passage_id": [int(p) for _, p in pairs]}, dtype="int64"
    ).drop_duplicates(ignore_index=True)
    with store.transaction():
        stale = _stale(store, expect, reviewer)
        if stale is not None:
            return stale
        if frame.empty:
            return WriteResult(
                "unchanged",
                versions=versions(store, list(expect or {}), reviewer),
                message="Nothing to change.",
            )
        rows = pd.DataFrame(
            {
                "query_id": frame["query_id"].astype("int64"),
                "passage_id": frame["passage_id"].astype("int64"),
                "new": pd.Series([decision] * len(frame), dtype=object),
                "old": rv.reviewer_decision_of(store, frame, reviewer).to_numpy(),
            }
        )
        qids = sorted({int(q) for q in rows["query_id"]})
        if label is None:
            word = decision or "cleared"
            label = f"{word}: {len(rows)} candidate{'s' * (len(rows) != 1)}"
        one = qids[0] if len(qids) == 1 else None
        action = _new_action(
            store, pid, kind, label, query_id=one, detail=detail, pairs=len(rows), queries=len(qids),
            reviewer=reviewer,
        )  # fmt: skip
        _write_pairs(store, pid, action, rows, reviewer)
        if run_id is None:
            run_id = latest_mining_run(store, pid)
        changes = _recompute_reviewed(store, pid, qids, run_id, statuses, reviewer)
        _set_reviewed(store, pid, action, changes, reviewer)
        new_versions = _bump_own(store, pid, qids, reviewer)
    log.debug("action %d: %s on %d pairs", action, decision, len(rows))
    return WriteResult("applied", action, len(rows), len(qids), new_versions, label)


# --------------------------------------------------------------------------- done / reopen


def set_done(
    store: Store,
    pid: int,
    query_id: int,
    done: bool = True,
    *,
    expect: int | None = None,
    run_id: int | None = None,
    statuses: Sequence[str] = ("selected",),
    reviewer: str = "",
) -> WriteResult:
    """Mark a query reviewed ('done') by ``reviewer`` or reopen it (then it counts as reviewed by them
    only while complete)."""
    qid = int(query_id)
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect}, reviewer)
        if stale is not None:
            return stale
        before = _reviewed(store, [qid], reviewer)[qid]
        if done:
            after: str | None = "done"
        else:
            rid = run_id if run_id is not None else latest_mining_run(store, pid)
            after = (
                "complete" if qid in complete_queries(store, pid, [qid], rid, statuses, reviewer) else None
            )
        if before == after:
            return WriteResult("unchanged", versions=versions(store, [qid], reviewer),
                               message="Already marked done." if done else "Not marked done.")  # fmt: skip
        label = "marked done" if done else "reopened"
        action = _new_action(store, pid, "done" if done else "reopen", label, query_id=qid, reviewer=reviewer)
        _set_reviewed(store, pid, action, {qid: (before, after)}, reviewer)
        new_versions = _bump_own(store, pid, [qid], reviewer)
    return WriteResult("applied", action, 0, 1, new_versions, label)


# --------------------------------------------------------------------------- flags and edits


def set_flag(
    store: Store,
    pid: int,
    query_id: int,
    flag: str | None,
    reason: str = "",
    *,
    expect: int | None = None,
    reviewer: str = "",
) -> WriteResult:
    """Flag a query (``bad_query`` / ``wrong_positive``, with a reason) or clear its flag (``None``).

    Raises:
        EmbcoreError: unknown flag.
    """
    if flag is not None and flag not in FLAGS:
        raise EmbcoreError(f"unknown flag {flag!r}; allowed: {', '.join(FLAGS)} or None")
    qid = int(query_id)
    reason = clean_text(reason or "") if flag is not None else ""
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect}, reviewer)
        if stale is not None:
            return stale
        state = query_state(store, qid, reviewer)
        if state["flag"] == flag and (state["flag_reason"] or "") == reason:
            return WriteResult(
                "unchanged", versions={qid: state["version"]}, message="The flag is unchanged."
            )
        label = f"flagged: {flag.replace('_', ' ')}" if flag else "flag cleared"
        detail = {"flag_before": state["flag"], "reason_before": state["flag_reason"], "flag_after": flag,
                  "reason_after": reason or None}  # fmt: skip
        action = _new_action(store, pid, "flag", label, query_id=qid, detail=detail, reviewer=reviewer)
        _write_flag(store, pid, qid, flag, reason or None)
        new_versions = _bump(store, pid, [qid], reviewer)
    return WriteResult("applied", action, 0, 1, new_versions, label)


def _write_flag(store: Store, pid: int, qid: int, flag: str | None, reason: str | None) -> None:
    store.con.execute(
        "INSERT INTO query_state (query_id, project_id, version, flag, flag_reason) VALUES (?, ?, 0, ?, ?) "
        "ON CONFLICT (query_id) DO UPDATE SET flag = excluded.flag, flag_reason = excluded.flag_reason, "
        "updated_at = now()",
        [qid, pid, flag, reason],
    )


def flagged_queries(store: Store, pid: int) -> dict[int, tuple[str, str | None]]:
    """``{query_id: (flag, reason)}`` of a project's flagged queries."""
    rows = store.fetchall(
        "SELECT query_id, flag, flag_reason FROM query_state WHERE project_id = ? AND flag IS NOT NULL", [pid]
    )
    return {int(q): (str(f), r) for q, f, r in rows}


def edit_query(
    store: Store, pid: int, query_id: int, text: str, *, expect: int | None = None, reviewer: str = ""
) -> WriteResult:
    """Replace a query's text; its positives, candidates and decisions stay (they refer to its id).

    Raises:
        EmbcoreError: empty text, or another query of the project already has this text.
    """
    qid = int(query_id)
    new = clean_text(text or "")
    if not new:
        raise EmbcoreError("a query cannot be empty")
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect}, reviewer)
        if stale is not None:
            return stale
        row = store.fetchone("SELECT text FROM queries WHERE project_id = ? AND id = ?", [pid, qid])
        if row is None:
            raise EmbcoreError(f"query {qid} is not part of project {pid}")
        old = str(row[0])
        if old == new:
            return WriteResult(
                "unchanged", versions=versions(store, [qid], reviewer), message="The text is unchanged."
            )
        _check_query_text_free(store, pid, qid, new)
        action = _new_action(store, pid, "edit_query", "query text edited", query_id=qid,
                             detail={"before": old, "after": new}, reviewer=reviewer)  # fmt: skip
        _write_query_text(store, qid, new)
        new_versions = _bump(store, pid, [qid], reviewer)
    return WriteResult("applied", action, 0, 1, new_versions, "query text edited")


def _check_query_text_free(store: Store, pid: int, qid: int, text: str) -> None:
    other = store.fetchone(
        "SELECT id FROM queries WHERE project_id = ? AND text_hash = ? AND id <> ?",
        [pid, text_hash(text), qid],
    )
    if other is not None:
        raise EmbcoreError(
            f"query {int(other[0])} of this project already has this text; edit or flag that one"
        )


def _write_query_text(store: Store, qid: int, text: str) -> None:
    store.con.execute("UPDATE queries SET text = ?, text_hash = ? WHERE id = ?", [text, text_hash(text), qid])


def edit_positive(
    store: Store,
    pid: int,
    query_id: int,
    passage_id: int,
    new_text: str,
    *,
    expect: int | None = None,
    reviewer: str = "",
) -> tuple[int, WriteResult]:
    """Replace one positive of a query by an edited text (a new passage, origin 'edit').

    Returns:
        (id of the passage now holding the text, the write result).

    Raises:
        EmbcoreError: empty text, or the passage is not a positive of the query.
    """
    qid, old_id = int(query_id), int(passage_id)
    text = clean_text(new_text or "")
    if not text:
        raise EmbcoreError("an edited positive cannot be empty")
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect}, reviewer)
        if stale is not None:
            return old_id, stale
        row = store.fetchone(
            "SELECT position, origin FROM positives WHERE query_id = ? AND passage_id = ?", [qid, old_id]
        )
        if row is None:
            raise EmbcoreError(f"passage {old_id} is not a positive of query {qid}")
        [new_id] = store.ensure_passages(pid, [text], kind="generated", origin="edit")
        if new_id == old_id:
            return new_id, WriteResult(
                "unchanged", versions=versions(store, [qid], reviewer), message="The text is unchanged."
            )
        detail = {"old": old_id, "new": new_id, "position": int(row[0]), "origin": str(row[1])}
        action = _new_action(
            store, pid, "edit_positive", "positive edited", query_id=qid, detail=detail, reviewer=reviewer
        )
        store.con.execute("DELETE FROM positives WHERE query_id = ? AND passage_id = ?", [qid, old_id])
        store.con.execute(
            "INSERT INTO positives (project_id, query_id, passage_id, origin, position) VALUES (?, ?, ?, 'edit', ?) "
            "ON CONFLICT DO NOTHING",
            [pid, qid, new_id, row[0]],
        )
        store.con.execute(
            "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, reviewer) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [pid, qid, old_id, f"edited->{new_id}", action, reviewer],
        )
        new_versions = _bump(store, pid, [qid], reviewer)
    return new_id, WriteResult("applied", action, 0, 1, new_versions, "positive edited")


def set_note(
    store: Store, pid: int, query_id: int, note: str, *, expect: int | None = None, reviewer: str = ""
) -> WriteResult:
    """Set (an empty text: remove) the free-text note of a query, shared by its reviewers."""
    qid = int(query_id)
    text = clean_text(note or "") or None
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect}, reviewer)
        if stale is not None:
            return stale
        state = query_state(store, qid, reviewer)
        if (state["note"] or None) == text:
            return WriteResult(
                "unchanged", versions={qid: state["version"]}, message="The note is unchanged."
            )
        label = "note saved" if text else "note removed"
        detail = {"before": state["note"], "by_before": state["note_by"], "after": text}
        action = _new_action(store, pid, "note", label, query_id=qid, detail=detail, reviewer=reviewer)
        _write_note(store, pid, qid, text, reviewer if text else None)
        new_versions = _bump(store, pid, [qid], reviewer)
    return WriteResult("applied", action, 0, 1, new_versions, label)


def _write_note(store: Store, pid: int, qid: int, note: str | None, by: str | None) -> None:
    store.con.execute(
        "INSERT INTO query_state (query_id, project_id, version, note, note_by) VALUES (?, ?, 0, ?, ?) "
        "ON CONFLICT (query_id) DO UPDATE SET note = excluded.note, note_by = excluded.note_by, updated_at = now()",
        [qid, pid, note, by],
    )


def set_grade(
    store: Store,
    pid: int,
    query_id: int,
    passage_id: int,
    grade: int | None,
    *,
    expect: int | None = None,
    reviewer: str = "",
) -> WriteResult:
    """Set (None: clear) ``reviewer``'s graded relevance (0-3) of one candidate, as one undoable action.

    Raises:
        EmbcoreError: a grade outside 0..3.
    """
    qid, p = int(query_id), int(passage_id)
    g = rv.check_grade(grade)
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect}, reviewer)
        if stale is not None:
            return stale
        before = rv.grade_of(store, qid, p, reviewer)
        if before == g:
            return WriteResult(
                "unchanged", versions=versions(store, [qid], reviewer), message="The grade is unchanged."
            )
        label = f"graded candidate {p}: {g}" if g is not None else f"grade of candidate {p} cleared"
        detail = {"passage": p, "before": before, "after": g}
        action = _new_action(store, pid, "grade", label, query_id=qid, detail=detail, reviewer=reviewer)
        rv.write_grade(store, pid, qid, p, g, reviewer)
        new_versions = _bump_own(store, pid, [qid], reviewer)
    return WriteResult("applied", action, 1, 1, new_versions, label)


def add_from_search(
    store: Store,
    pid: int,
    query_id: int,
    passage_id: int,
    decision: str,
    *,
    expect: int | None = None,
    run_id: int | None = None,
    statuses: Sequence[str] = ("selected",),
    reviewer: str = "",
) -> WriteResult:
    """Add a passage found by a corpus search to a query, as a negative (``accept``) or an extra
    positive (``positive``), in one undoable action.

    A passage that is not yet a candidate of the query (in the run, or given) becomes a given
    negative with origin ``search`` (so every reviewer sees it in the query's list); undo removes
    it again, with the decision.

    Raises:
        EmbcoreError: a decision other than accept / positive, or an unknown passage.
    """
    if decision not in ("accept", "positive"):
        raise EmbcoreError(f"a search hit is added as 'accept' (negative) or 'positive', not {decision!r}")
    qid, p = int(query_id), int(passage_id)
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect}, reviewer)
        if stale is not None:
            return stale
        if store.fetchone("SELECT 1 FROM passages WHERE id = ? AND project_id = ?", [p, pid]) is None:
            raise EmbcoreError(f"passage {p} is not part of project {pid}")
        rid = run_id if run_id is not None else latest_mining_run(store, pid)
        known = store.fetchone(
            "SELECT (SELECT count(*) FROM candidates WHERE run_id = ? AND query_id = ? AND passage_id = ?) + "
            "(SELECT count(*) FROM given_negatives WHERE query_id = ? AND passage_id = ?)",
            [-1 if rid is None else rid, qid, p, qid, p],
        )
        added = []
        if not (known and known[0]):
            store.con.execute(
                "INSERT INTO given_negatives (project_id, query_id, passage_id, origin) VALUES (?, ?, ?, 'search')",
                [pid, qid, p],
            )
            added.append(p)
        word = "as a negative" if decision == "accept" else "as a positive"
        return apply_decisions(
            store, pid, [(qid, p)], decision, expect=None, run_id=rid, statuses=statuses, kind="search_add",
            label=f"added search hit {p} {word}", detail={"added": added, "passage": p}, reviewer=reviewer,
        )  # fmt: skip


def adjudicate(
    store: Store,
    pid: int,
    query_id: int,
    passage_id: int,
    decision: str | None,
    *,
    lead: str,
    grade: int | None = None,
) -> WriteResult:
    """A lead's final decision (and optional grade) on one pair, overriding the reviewers' votes;
    ``decision = None`` and no grade removes the adjudication (the votes decide again).

    Raises:
        EmbcoreError: an unknown decision or grade, or no lead name.
    """
    if decision is not None and decision not in DECISIONS:
        raise EmbcoreError(f"unknown decision {decision!r}; allowed: {', '.join(DECISIONS)} or None")
    if not lead:
        raise EmbcoreError("an adjudication needs the lead's name")
    g = rv.check_grade(grade)
    qid, p = int(query_id), int(passage_id)
    with store.transaction():
        before = rv.adjudication(store, qid, p)
        after = None if decision is None and g is None else {"decision": decision, "grade": g, "lead": lead}
        if before == after:
            return WriteResult("unchanged", message="The adjudication is unchanged.")
        label = (
            f"adjudicated candidate {p}: {decision or '-'}" + (f", grade {g}" if g is not None else "")
            if after
            else f"adjudication of candidate {p} removed"
        )
        detail = {"passage": p, "before": before, "after": after}
        action = _new_action(store, pid, "adjudicate", label, query_id=qid, detail=detail, reviewer=lead)
        rv.write_adjudication(store, pid, qid, p, after)
    return WriteResult("applied", action, 1, 1, {}, label)


# --------------------------------------------------------------------------- undo


def undo(
    store: Store,
    pid: int,
    action_id: int,
    *,
    expect: Mapping[int, int] | None = None,
    run_id: int | None = None,
    statuses: Sequence[str] = ("selected",),
    reviewer: str = "",
) -> WriteResult:
    """Revert one action exactly: its decisions (and review-made positives), the reviewed states,
    grade, flag, note, query text, positive edit, search hit or adjudication it changed, as one
    new 'undo' action of ``reviewer`` (``expect``: versions as that reviewer sees them). The
    decisions and reviewed states restored are those of the reviewer who made the action.

    Refused (``stale``, nothing written) when the action was already undone, or when something
    it wrote was changed since by a later action (undo that one first).

    Raises:
        EmbcoreError: no such action in this project, or an undo (which cannot itself be undone).
    """
    aid = int(action_id)
    with store.transaction():
        row = store.fetchone(
            "SELECT kind, label, query_id, detail, undone_by, coalesce(reviewer, '') FROM review_actions "
            "WHERE id = ? AND project_id = ?",
            [aid, pid],
        )
        if row is None:
            raise EmbcoreError(f"no review action {aid} in project {pid}")
        kind, label, qid, detail, undone_by, owner = row
        detail = json.loads(detail) if isinstance(detail, str) else (detail or {})
        if kind == "undo":
            raise EmbcoreError("an undo cannot be undone; make the decision again instead")
        if undone_by is not None:
            return WriteResult("stale", message=f"Already undone: {label}.")
        stale = _stale(store, expect, reviewer)
        if stale is not None:
            return stale
        logged = store.df(
            "SELECT l.query_id, l.passage_id, l.decision AS logged, l.prev_decision, d.decision AS current "
            "FROM decision_log l LEFT JOIN reviewer_decisions d ON d.query_id = l.query_id "
            "AND d.passage_id = l.passage_id AND d.reviewer = ? "
            "WHERE l.action_id = ? AND (l.decision IS NULL OR l.decision IN ('accept', 'reject', 'positive')) "
            "ORDER BY l.id",
            [owner, aid],
        )
        reviewed = store.fetchall(
            "SELECT a.query_id, a.reviewed_before, a.reviewed_after, r.how FROM review_action_queries a "
            "LEFT JOIN query_review r ON r.query_id = a.query_id AND r.reviewer = ? WHERE a.action_id = ?",
            [owner, aid],
        )
        conflict = _undo_conflict(store, kind, qid, detail, logged, reviewed, owner)
        if conflict:
            return WriteResult(
                "stale",
                message=f"Cannot undo “{label}”: {conflict} was changed later; undo that change first.",
            )
        new = _new_action(store, pid, "undo", f"undo: {label}", query_id=qid, undoes=aid, reviewer=reviewer)
        touched: set[int] = set() if qid is None else {int(qid)}
        if len(logged):
            rows = pd.DataFrame(
                {
                    "query_id": logged["query_id"].astype("int64"),
                    "passage_id": logged["passage_id"].astype("int64"),
                    "new": logged["prev_decision"]
                    .astype(object)
                    .where(logged["prev_decision"].notna(), None),
                    "old": logged["logged"].astype(object).where(logged["logged"].notna(), None),
                }
            ).drop_duplicates(["query_id", "passage_id"], keep="first")
            _write_pairs(store, pid, new, rows, owner)
            touched |= {int(q) for q in rows["query_id"]}
        _undo_other(store, pid, kind, qid, detail, owner)
        restored = {int(q): (how, before) for q, before, _after, how in reviewed}
        others = [q for q in touched if q not in restored]
        if others and kind != "adjudicate":
            rid = run_id if run_id is not None else latest_mining_run(store, pid)
            restored |= _recompute_reviewed(store, pid, others, rid, statuses, owner)
        _set_reviewed(store, pid, new, restored, owner)
        touched |= set(restored)
        store.con.execute("UPDATE review_actions SET undone_by = ? WHERE id = ?", [new, aid])
        _finish_action(store, new, len(logged), len(touched))
        if kind in PER_REVIEWER_KINDS:
            rv.bump_reviewer(store, pid, sorted(touched), owner)
        elif kind != "adjudicate":
            _bump(store, pid, sorted(touched))
        new_versions = versions(store, sorted(touched), reviewer)
    return WriteResult("applied", new, len(logged), len(touched), new_versions, f"undone: {label}")


def _undo_conflict(
    store: Store,
    kind: str,
    qid: Any,
    detail: dict[str, Any],
    logged: pd.DataFrame,
    reviewed: list[tuple],
    owner: str = "",
) -> str | None:
    """What a later action changed among the things ``kind`` wrote (None when nothing)."""
    for r in logged.itertuples(index=False):
        logged_d = None if pd.isna(r.logged) else r.logged
        current = None if pd.isna(r.current) else r.current
        if logged_d != current:
            return f"the decision on passage {int(r.passage_id)} of query {int(r.query_id)}"
    for q, _before, after, how in reviewed:
        if after != how:
            return f"the reviewed state of query {int(q)}"
    if kind == "flag":
        state = query_state(store, int(qid))
        if state["flag"] != detail.get("flag_after") or state["flag_reason"] != detail.get("reason_after"):
            return f"the flag of query {int(qid)}"
    elif kind == "note":
        if query_state(store, int(qid))["note"] != detail.get("after"):
            return f"the note of query {int(qid)}"
    elif kind == "grade":
        if rv.grade_of(store, int(qid), int(detail["passage"]), owner) != detail.get("after"):
            return f"the grade of passage {int(detail['passage'])} of query {int(qid)}"
    elif kind == "adjudicate":
        if rv.adjudication(store, int(qid), int(detail["passage"])) != detail.get("after"):
            return f"the adjudication of passage {int(detail['passage'])} of query {int(qid)}"
    elif kind == "edit_query":
        row = store.fetchone("SELECT text FROM queries WHERE id = ?", [int(qid)])
        if row is None or row[0] != detail.get("after"):
            return f"the text of query {int(qid)}"
    elif kind == "edit_positive":
        have = {
            int(r[0])
            for r in store.fetchall("SELECT passage_id FROM positives WHERE query_id = ?", [int(qid)])
        }
        if int(detail["new"]) not in have or int(detail["old"]) in have:
            return f"the positives of query {int(qid)}"
    return None


def _undo_other(store: Store, pid: int, kind: str, qid: Any, detail: dict[str, Any], owner: str = "") -> None:
    """Undo what an action wrote besides decisions and reviewed states."""
    if kind == "note":
        _write_note(store, pid, int(qid), detail.get("before"), detail.get("by_before"))
    elif kind == "grade":
        rv.write_grade(store, pid, int(qid), int(detail["passage"]), detail.get("before"), owner)
    elif kind == "adjudicate":
        rv.write_adjudication(store, pid, int(qid), int(detail["passage"]), detail.get("before"))
    elif kind == "search_add":
        for p in detail.get("added") or []:
            store.con.execute(
                "DELETE FROM given_negatives WHERE query_id = ? AND passage_id = ? AND origin = 'search' "
                "AND NOT EXISTS (SELECT 1 FROM reviewer_decisions r WHERE r.query_id = ? AND r.passage_id = ? "
                "AND r.decision IS NOT NULL)",
                [int(qid), int(p), int(qid), int(p)],
            )
    elif kind == "flag":
        _write_flag(store, pid, int(qid), detail.get("flag_before"), detail.get("reason_before"))
    elif kind == "edit_query":
        _check_query_text_free(store, pid, int(qid), str(detail["before"]))
        _write_query_text(store, int(qid), str(detail["before"]))
    elif kind == "edit_positive":
        store.con.execute(
            "DELETE FROM positives WHERE query_id = ? AND passage_id = ?", [int(qid), int(detail["new"])]
        )
        store.con.execute(
            "INSERT INTO positives (project_id, query_id, passage_id, origin, position) VALUES (?, ?, ?, ?, ?)",
            [pid, int(qid), int(detail["old"]), detail["origin"], int(detail["position"])],
        )


# --------------------------------------------------------------------------- history


def actions(store: Store, pid: int, *, query_id: int | None = None, limit: int = 50) -> pd.DataFrame:
    """A project's review actions, newest first.

    Columns: id, created_at, kind, label, query_id, query_text, pairs, queries, undoes, undone_by, reviewer.
    """
    where = "a.project_id = ?"
    params: list[Any] = [pid]
    if query_id is not None:
        where += (
            " AND (a.query_id = ? OR a.id IN (SELECT action_id FROM decision_log WHERE query_id = ? AND action_id "
            "IS NOT NULL) OR a.id IN (SELECT action_id FROM review_action_queries WHERE query_id = ?))"
        )
        params += [int(query_id)] * 3
    return store.df(
        "SELECT a.id, a.created_at, a.kind, a.label, a.query_id, q.text AS query_text, a.pairs, a.queries, "
        "a.undoes, a.undone_by, coalesce(a.reviewer, '') AS reviewer FROM review_actions a "
        f"LEFT JOIN queries q ON q.id = a.query_id WHERE {where} "
        "ORDER BY a.id DESC LIMIT ?",
        [*params, int(limit)],
    )


def last_undoable(store: Store, pid: int, query_id: int, reviewer: str = "") -> int | None:
    """The latest action of ``reviewer`` on one query that can still be undone (not an undo, not
    undone, not an adjudication), or None."""
    row = store.fetchone(
        "SELECT max(id) FROM review_actions WHERE project_id = ? AND query_id = ? AND kind NOT IN ('undo', 'adjudicate') "
        "AND undone_by IS NULL AND coalesce(reviewer, '') = ?",
        [pid, int(query_id), reviewer],
    )
    return int(row[0]) if row and row[0] is not None else None
