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
from embcore.text import clean_text, text_hash

log = logging.getLogger(__name__)

WriteStatus = Literal["applied", "stale", "unchanged"]
SMALL = 16
"""Up to this many pairs a write uses point statements (a click); more go set-based (bulk)."""
FLAGS: tuple[str, ...] = ("bad_query", "wrong_positive")
"""Why a query is flagged: the query itself is unusable, or its positive is wrong."""
REVIEWED_HOW: tuple[str, ...] = ("done", "complete")


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


def versions(store: Store, query_ids: Sequence[int]) -> dict[int, int]:
    """Current version of each query (0 when it was never written)."""
    ids = sorted({int(q) for q in query_ids})
    if not ids:
        return {}
    found = dict(
        store.fetchall("SELECT query_id, version FROM query_state WHERE list_contains(?, query_id)", [ids])
    )
    return {q: int(found.get(q, 0)) for q in ids}


def query_state(store: Store, query_id: int) -> dict[str, Any]:
    """``{"version", "flag", "flag_reason", "reviewed"}`` of one query (reviewed: 'done', 'complete' or None)."""
    row = store.fetchone(
        "SELECT s.version, s.flag, s.flag_reason, r.how FROM (SELECT ?::BIGINT AS query_id) q "
        "LEFT JOIN query_state s ON s.query_id = q.query_id LEFT JOIN query_review r ON r.query_id = q.query_id",
        [int(query_id)],
    )
    version, flag, reason, how = row if row else (None, None, None, None)
    return {"version": int(version or 0), "flag": flag, "flag_reason": reason, "reviewed": how}


def latest_mining_run(store: Store, pid: int) -> int | None:
    """The project's latest finished mining run (what "shown candidates" refers to by default)."""
    row = store.fetchone(
        "SELECT max(id) FROM runs WHERE project_id = ? AND kind = 'mine' AND status = 'done'", [pid]
    )
    return int(row[0]) if row and row[0] is not None else None


def complete_queries(
    store: Store, pid: int, query_ids: Sequence[int], run_id: int | None, statuses: Sequence[str]
) -> set[int]:
    """Queries (of ``query_ids``) whose every shown candidate has a decision (and that have one at least).

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
            LEFT JOIN (SELECT passage_id, decision FROM decisions WHERE query_id = ?) d ON d.passage_id = s.passage_id
            """,
            [rid, ids[0], list(statuses), ids[0], ids[0]],
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
        LEFT JOIN decisions d ON d.query_id = s.query_id AND d.passage_id = s.passage_id
        GROUP BY s.query_id HAVING count(*) > 0 AND count(d.decision) = count(*)
        """,
        [ids, rid, list(statuses)],
    )
    return {int(r[0]) for r in rows}


def _reviewed(store: Store, query_ids: Sequence[int]) -> dict[int, str | None]:
    ids = sorted({int(q) for q in query_ids})
    found = dict(
        store.fetchall("SELECT query_id, how FROM query_review WHERE list_contains(?, query_id)", [ids])
    )
    return {q: found.get(q) for q in ids}


# --------------------------------------------------------------------------- building blocks (inside a transaction)


def _stale(store: Store, expect: Mapping[int, int] | None) -> WriteResult | None:
    """A ``stale`` result when a query's version differs from what the caller saw, else None."""
    if not expect:
        return None
    current = versions(store, list(expect))
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
) -> int:
    detail_json = None if detail is None else json.dumps(detail, ensure_ascii=False)
    row = store.fetchone(
        "INSERT INTO review_actions (project_id, kind, query_id, label, detail, undoes, pairs, queries) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [pid, kind, query_id, label, detail_json, undoes, pairs, queries],
    )
    return int(row[0])


def _finish_action(store: Store, action_id: int, pairs: int, queries: int) -> None:
    store.con.execute(
        "UPDATE review_actions SET pairs = ?, queries = ? WHERE id = ?", [pairs, queries, action_id]
    )


def _bump(store: Store, pid: int, query_ids: Sequence[int]) -> dict[int, int]:
    """Increment the version of every query (creating its state row); returns the new versions."""
    ids = sorted({int(q) for q in query_ids})
    if not ids:
        return {}
    store.con.execute(
        "INSERT INTO query_state (query_id, project_id, version) SELECT unnest(?::BIGINT[]), ?, 1 "
        "ON CONFLICT (query_id) DO UPDATE SET version = query_state.version + 1, updated_at = now()",
        [ids, pid],
    )
    return versions(store, ids)


def _write_pairs(store: Store, pid: int, action_id: int, rows: pd.DataFrame) -> None:
    """Write decisions ``new`` over ``old`` for rows (query_id, passage_id, new, old), and log them.

    A review-made positive (origin 'review') follows the decision: it exists exactly while the
    decision is 'positive' (a positive given by the data is never touched). A few rows (a
    click) take point statements on the primary keys; more (a bulk action) one set-based
    statement per step over a registered frame.
    """
    if len(rows) <= SMALL:
        con = store.con
        for q, p, new, old in rows[["query_id", "passage_id", "new", "old"]].itertuples(index=False):
            q, p = int(q), int(p)
            if new != "positive":
                con.execute(
                    "DELETE FROM positives WHERE query_id = ? AND passage_id = ? AND origin = 'review'",
                    [q, p],
                )
            con.execute("DELETE FROM decisions WHERE query_id = ? AND passage_id = ?", [q, p])
            if new is not None:
                con.execute(
                    "INSERT INTO decisions (project_id, query_id, passage_id, decision) VALUES (?, ?, ?, ?)",
                    [pid, q, p, new],
                )
            if new == "positive":
                con.execute(
                    "INSERT INTO positives (project_id, query_id, passage_id, origin, position) "
                    "VALUES (?, ?, ?, 'review', 1000) ON CONFLICT DO NOTHING",
                    [pid, q, p],
                )
            con.execute(
                "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, prev_decision) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [pid, q, p, new, action_id, old],
            )
        return
    with store._frame("review_rows", rows):
        store.con.execute(
            "DELETE FROM positives x USING review_rows n WHERE x.query_id = n.query_id "
            "AND x.passage_id = n.passage_id AND x.origin = 'review' AND n.new IS DISTINCT FROM 'positive'"
        )
        store.con.execute(
            "DELETE FROM decisions d USING review_rows n WHERE d.query_id = n.query_id AND d.passage_id = n.passage_id"
        )
        store.con.execute(
            "INSERT INTO decisions (project_id, query_id, passage_id, decision) "
            "SELECT ?, query_id, passage_id, new FROM review_rows WHERE new IS NOT NULL",
            [pid],
        )
        store.con.execute(
            "INSERT INTO positives (project_id, query_id, passage_id, origin, position) "
            "SELECT ?, n.query_id, n.passage_id, 'review', 1000 FROM review_rows n "
            "ANTI JOIN positives x ON x.query_id = n.query_id AND x.passage_id = n.passage_id WHERE n.new = 'positive'",
            [pid],
        )
        store.con.execute(
            "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id, prev_decision) "
            "SELECT ?, query_id, passage_id, new, ?, old FROM review_rows ORDER BY query_id, passage_id",
            [pid, action_id],
        )


def _set_reviewed(
    store: Store, pid: int, action_id: int, changes: Mapping[int, tuple[str | None, str | None]]
) -> None:
    """Apply reviewed-state changes ``{query: (before, after)}`` and record them with the action."""
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
        store.con.execute("DELETE FROM query_review r USING reviewed_changes c WHERE r.query_id = c.query_id")
        store.con.execute(
            "INSERT INTO query_review (query_id, project_id, how) SELECT query_id, ?, after FROM reviewed_changes "
            "WHERE after IS NOT NULL",
            [pid],
        )
        store.con.execute(
            "INSERT INTO review_action_queries (action_id, project_id, query_id, reviewed_before, reviewed_after) "
            "SELECT ?, ?, query_id, before, after FROM reviewed_changes",
            [action_id, pid],
        )


def _recompute_reviewed(
    store: Store, pid: int, query_ids: Sequence[int], run_id: int | None, statuses: Sequence[str]
) -> dict[int, tuple[str | None, str | None]]:
    """Reviewed state after decisions changed: 'done' stays; otherwise 'complete' exactly when complete."""
    before = _reviewed(store, query_ids)
    done = complete_queries(store, pid, query_ids, run_id, statuses)
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
) -> WriteResult:
    """Set (``None``: clear) one decision on many (query, passage) pairs as one undoable action.

    In one transaction: compare the versions in ``expect`` (refuse on any difference), write
    the decisions and the review-made positives, log every pair with the decision it
    replaced, recompute which touched queries are complete (every shown candidate decided,
    ``run_id`` / ``statuses`` say what is shown; default: the latest mining run's selected
    candidates) and bump their versions.

    Raises:
        EmbcoreError: unknown decision.
    """
    if decision is not None and decision not in DECISIONS:
        raise EmbcoreError(f"unknown decision {decision!r}; allowed: {', '.join(DECISIONS)}")
    frame = pd.DataFrame(
        {"query_id": [int(q) for q, _ in pairs], "passage_id": [int(p) for _, p in pairs]}, dtype="int64"
    ).drop_duplicates(ignore_index=True)
    with store.transaction():
        stale = _stale(store, expect)
        if stale is not None:
            return stale
        if frame.empty:
            return WriteResult(
                "unchanged", versions=versions(store, list(expect or {})), message="Nothing to change."
            )
        with store._frame("wanted_pairs", frame):
            old = store.df(
                "SELECT w.query_id, w.passage_id, d.decision FROM wanted_pairs w "
                "LEFT JOIN decisions d ON d.query_id = w.query_id AND d.passage_id = w.passage_id"
            )
        rows = frame.merge(old, on=["query_id", "passage_id"], how="left")
        rows = pd.DataFrame(
            {
                "query_id": rows["query_id"].astype("int64"),
                "passage_id": rows["passage_id"].astype("int64"),
                "new": pd.Series([decision] * len(rows), dtype=object),
                "old": rows["decision"].astype(object).where(rows["decision"].notna(), None),
            }
        )
        qids = sorted({int(q) for q in rows["query_id"]})
        if label is None:
            word = decision or "cleared"
            label = f"{word}: {len(rows)} candidate{'s' * (len(rows) != 1)}"
        one = qids[0] if len(qids) == 1 else None
        action = _new_action(
            store, pid, kind, label, query_id=one, detail=detail, pairs=len(rows), queries=len(qids)
        )
        _write_pairs(store, pid, action, rows)
        if run_id is None:
            run_id = latest_mining_run(store, pid)
        _set_reviewed(store, pid, action, _recompute_reviewed(store, pid, qids, run_id, statuses))
        new_versions = _bump(store, pid, qids)
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
) -> WriteResult:
    """Mark a query reviewed ('done') or reopen it (then it counts as reviewed only while complete)."""
    qid = int(query_id)
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect})
        if stale is not None:
            return stale
        before = _reviewed(store, [qid])[qid]
        if done:
            after: str | None = "done"
        else:
            rid = run_id if run_id is not None else latest_mining_run(store, pid)
            after = "complete" if qid in complete_queries(store, pid, [qid], rid, statuses) else None
        if before == after:
            return WriteResult("unchanged", versions=versions(store, [qid]),
                               message="Already marked done." if done else "Not marked done.")  # fmt: skip
        label = "marked done" if done else "reopened"
        action = _new_action(store, pid, "done" if done else "reopen", label, query_id=qid)
        _set_reviewed(store, pid, action, {qid: (before, after)})
        new_versions = _bump(store, pid, [qid])
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
        stale = _stale(store, None if expect is None else {qid: expect})
        if stale is not None:
            return stale
        state = query_state(store, qid)
        if state["flag"] == flag and (state["flag_reason"] or "") == reason:
            return WriteResult(
                "unchanged", versions={qid: state["version"]}, message="The flag is unchanged."
            )
        label = f"flagged: {flag.replace('_', ' ')}" if flag else "flag cleared"
        detail = {"flag_before": state["flag"], "reason_before": state["flag_reason"], "flag_after": flag,
                  "reason_after": reason or None}  # fmt: skip
        action = _new_action(store, pid, "flag", label, query_id=qid, detail=detail)
        _write_flag(store, pid, qid, flag, reason or None)
        new_versions = _bump(store, pid, [qid])
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


def edit_query(store: Store, pid: int, query_id: int, text: str, *, expect: int | None = None) -> WriteResult:
    """Replace a query's text; its positives, candidates and decisions stay (they refer to its id).

    Raises:
        EmbcoreError: empty text, or another query of the project already has this text.
    """
    qid = int(query_id)
    new = clean_text(text or "")
    if not new:
        raise EmbcoreError("a query cannot be empty")
    with store.transaction():
        stale = _stale(store, None if expect is None else {qid: expect})
        if stale is not None:
            return stale
        row = store.fetchone("SELECT text FROM queries WHERE project_id = ? AND id = ?", [pid, qid])
        if row is None:
            raise EmbcoreError(f"query {qid} is not part of project {pid}")
        old = str(row[0])
        if old == new:
            return WriteResult("unchanged", versions=versions(store, [qid]), message="The text is unchanged.")
        _check_query_text_free(store, pid, qid, new)
        action = _new_action(store, pid, "edit_query", "query text edited", query_id=qid,
                             detail={"before": old, "after": new})  # fmt: skip
        _write_query_text(store, qid, new)
        new_versions = _bump(store, pid, [qid])
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
    store: Store, pid: int, query_id: int, passage_id: int, new_text: str, *, expect: int | None = None
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
        stale = _stale(store, None if expect is None else {qid: expect})
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
                "unchanged", versions=versions(store, [qid]), message="The text is unchanged."
            )
        detail = {"old": old_id, "new": new_id, "position": int(row[0]), "origin": str(row[1])}
        action = _new_action(store, pid, "edit_positive", "positive edited", query_id=qid, detail=detail)
        store.con.execute("DELETE FROM positives WHERE query_id = ? AND passage_id = ?", [qid, old_id])
        store.con.execute(
            "INSERT INTO positives (project_id, query_id, passage_id, origin, position) VALUES (?, ?, ?, 'edit', ?) "
            "ON CONFLICT DO NOTHING",
            [pid, qid, new_id, row[0]],
        )
        store.con.execute(
            "INSERT INTO decision_log (project_id, query_id, passage_id, decision, action_id) VALUES (?, ?, ?, ?, ?)",
            [pid, qid, old_id, f"edited->{new_id}", action],
        )
        new_versions = _bump(store, pid, [qid])
    return new_id, WriteResult("applied", action, 0, 1, new_versions, "positive edited")


# --------------------------------------------------------------------------- undo


def undo(
    store: Store,
    pid: int,
    action_id: int,
    *,
    expect: Mapping[int, int] | None = None,
    run_id: int | None = None,
    statuses: Sequence[str] = ("selected",),
) -> WriteResult:
    """Revert one action exactly: its decisions (and review-made positives), the reviewed states,
    flag, query text or positive edit it changed, as one new 'undo' action.

    Refused (``stale``, nothing written) when the action was already undone, or when something
    it wrote was changed since by a later action (undo that one first).

    Raises:
        EmbcoreError: no such action in this project, or an undo (which cannot itself be undone).
    """
    aid = int(action_id)
    with store.transaction():
        row = store.fetchone(
            "SELECT kind, label, query_id, detail, undone_by FROM review_actions WHERE id = ? AND project_id = ?",
            [aid, pid],
        )
        if row is None:
            raise EmbcoreError(f"no review action {aid} in project {pid}")
        kind, label, qid, detail, undone_by = row
        detail = json.loads(detail) if isinstance(detail, str) else (detail or {})
        if kind == "undo":
            raise EmbcoreError("an undo cannot be undone; make the decision again instead")
        if undone_by is not None:
            return WriteResult("stale", message=f"Already undone: {label}.")
        stale = _stale(store, expect)
        if stale is not None:
            return stale
        logged = store.df(
            "SELECT l.query_id, l.passage_id, l.decision AS logged, l.prev_decision, d.decision AS current "
            "FROM decision_log l LEFT JOIN decisions d ON d.query_id = l.query_id AND d.passage_id = l.passage_id "
            "WHERE l.action_id = ? AND (l.decision IS NULL OR l.decision IN ('accept', 'reject', 'positive')) "
            "ORDER BY l.id",
            [aid],
        )
        reviewed = store.fetchall(
            "SELECT a.query_id, a.reviewed_before, a.reviewed_after, r.how FROM review_action_queries a "
            "LEFT JOIN query_review r ON r.query_id = a.query_id WHERE a.action_id = ?",
            [aid],
        )
        conflict = _undo_conflict(store, kind, qid, detail, logged, reviewed)
        if conflict:
            return WriteResult(
                "stale",
                message=f"Cannot undo “{label}”: {conflict} was changed later; undo that change first.",
            )
        new = _new_action(store, pid, "undo", f"undo: {label}", query_id=qid, undoes=aid)
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
            _write_pairs(store, pid, new, rows)
            touched |= {int(q) for q in rows["query_id"]}
        _undo_other(store, pid, kind, qid, detail)
        restored = {int(q): (how, before) for q, before, _after, how in reviewed}
        others = [q for q in touched if q not in restored]
        if others:
            rid = run_id if run_id is not None else latest_mining_run(store, pid)
            restored |= _recompute_reviewed(store, pid, others, rid, statuses)
        _set_reviewed(store, pid, new, restored)
        touched |= set(restored)
        store.con.execute("UPDATE review_actions SET undone_by = ? WHERE id = ?", [new, aid])
        _finish_action(store, new, len(logged), len(touched))
        new_versions = _bump(store, pid, sorted(touched))
    return WriteResult("applied", new, len(logged), len(touched), new_versions, f"undone: {label}")


def _undo_conflict(
    store: Store, kind: str, qid: Any, detail: dict[str, Any], logged: pd.DataFrame, reviewed: list[tuple]
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


def _undo_other(store: Store, pid: int, kind: str, qid: Any, detail: dict[str, Any]) -> None:
    """Undo what an action wrote besides decisions and reviewed states."""
    if kind == "flag":
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

    Columns: id, created_at, kind, label, query_id, query_text, pairs, queries, undoes, undone_by.
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
        f"a.undoes, a.undone_by FROM review_actions a LEFT JOIN queries q ON q.id = a.query_id WHERE {where} "
        "ORDER BY a.id DESC LIMIT ?",
        [*params, int(limit)],
    )


def last_undoable(store: Store, pid: int, query_id: int) -> int | None:
    """The latest action on one query that can still be undone (not an undo, not undone), or None."""
    row = store.fetchone(
        "SELECT max(id) FROM review_actions WHERE project_id = ? AND query_id = ? AND kind <> 'undo' "
        "AND undone_by IS NULL",
        [pid, int(query_id)],
    )
    return int(row[0]) if row and row[0] is not None else None
