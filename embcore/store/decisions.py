"""Decisions: versioned review writes (decisions, grades, done / reopen, flags, notes, text edits,
corpus-search hits, adjudications) and their undo, the reviewed state, and the review's query lists.

Writes the tables ``decision_log``, ``review_actions``, ``review_action_queries``,
``query_review`` and ``query_state`` (and review-made or edited rows of ``positives``, an edited
query's text in ``queries``, a search hit's row of ``given_negatives``); a reviewer's own
decisions and grades, the resolved ``decisions`` and the adjudications through
:mod:`embcore.store.reviewers`.

Every write a reviewer makes is one *action* (a row of ``review_actions``): a single decision,
"accept remaining", a bulk rule over thousands of pairs, a grade, marking a query done, a flag,
a note, an edited query or positive, a corpus-search hit added, a lead's adjudication, or the
undo of an earlier action. The decisions it changed are ``decision_log`` rows carrying its
``action_id`` and the decision they replaced (``prev_decision``); the reviewed states it changed
are ``review_action_queries`` rows (before / after). Undo replays exactly those rows backwards,
so it restores the decision, the review-made positive and the reviewed flag of every pair and
query the action touched.

Compare-and-set: each query has a version that every action touching the query increments. A
write may name the versions its author saw (``expect``); inside the same transaction the store
compares them with the current ones and, on any difference, writes nothing and answers
``stale``. A key press delivered against an old page, or a second tab that did not see the
first tab's click, is therefore refused, never applied to a state its author did not see.

"Reviewed" (``query_review``): ``how = 'done'`` when the reviewer said so, ``'complete'`` when
every shown candidate of the query (the run's candidates of the shown statuses plus the
negatives given by the data or an LLM) has a decision of that reviewer. A decision never marks
a query done; it only recomputes completeness.

Several reviewers (migration 010): a decision, a grade and "done" belong to the reviewer who
made them (``reviewer_decisions``, ``query_review.reviewer``); the resolved decision that the
rest of the tool reads (``decisions``) is recomputed for every pair a write touches (see
:mod:`embcore.store.reviewers`). The version a reviewer's page names is the query's shared
version (``query_state.version``: flag, note, edits) plus that reviewer's own version
(``reviewer_state``: decisions, grades, done), so a reviewer's key presses are refused when
*their* view moved on (another tab of theirs, a flag), never because a colleague decided on the
same query. ``reviewer = ""`` is the unnamed reviewer of scripts and of the decisions made
before names existed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store.projects import ProjectsMixin
from embcore.store.reviewers import ReviewersMixin, check_grade
from embcore.store.runs import RunsMixin
from embcore.store.sql import decisions as sql
from embcore.text import clean_text, text_hash

log = logging.getLogger(__name__)

DECISIONS: tuple[str, ...] = ("accept", "reject", "positive")
WriteStatus = Literal["applied", "stale", "unchanged"]
SMALL = 16
"""Up to this many pairs a write uses point statements (a click); more go set-based (bulk)."""
FLAGS: tuple[str, ...] = ("bad_query", "wrong_positive")
"""Why a query is flagged: the query itself is unusable, or its positive is wrong."""
REVIEWED_HOW: tuple[str, ...] = ("done", "complete")
REVIEW_STATUSES: tuple[str, ...] = ("all", "reviewed", "unreviewed", "flagged")
"""The status filters of :meth:`DecisionsMixin.filtered_query_ids`."""
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


def json_path(key: str) -> str:
    """A JSONPath selecting one top-level key, quoted so that any column name works."""
    return '$."' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def like_pattern(text: str) -> str:
    """An ``ILIKE ... ESCAPE '\\'`` pattern matching ``text`` literally anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class DecisionsMixin(ReviewersMixin, ProjectsMixin, RunsMixin):
    """Review writes (versioned, undoable, per reviewer) and reads (decisions, reviewed state, query lists)."""

    # ------------------------------------------------------------------ small reads

    def versions(self, query_ids: Sequence[int], reviewer: str = "") -> dict[int, int]:
        """Version of each query as ``reviewer`` sees it: the shared version + the reviewer's own
        (0 when never written)."""
        ids = sorted({int(q) for q in query_ids})
        if not ids:
            return {}
        found = dict(self._fetchall(sql.VERSIONS, [ids]))
        own = self.reviewer_versions(ids, reviewer)
        return {q: int(found.get(q, 0)) + own[q] for q in ids}

    def query_state(self, query_id: int, reviewer: str = "") -> dict[str, Any]:
        """``{"version", "flag", "flag_reason", "reviewed", "note", "note_by"}`` of one query for
        ``reviewer`` (reviewed: 'done', 'complete' or None, that reviewer's)."""
        row = self._fetchone(sql.QUERY_STATE, [int(query_id), reviewer, reviewer])
        version, flag, reason, how, note, note_by = row if row else (0, None, None, None, None, None)
        return {"version": int(version or 0), "flag": flag, "flag_reason": reason, "reviewed": how, "note": note,
                "note_by": note_by}  # fmt: skip

    def complete_queries(
        self, query_ids: Sequence[int], run_id: int | None, statuses: Sequence[str], reviewer: str = ""
    ) -> set[int]:
        """Queries (of ``query_ids``) whose every shown candidate has a decision of ``reviewer`` (and
        that have one at least).

        Shown: the run's candidates with one of ``statuses`` plus the query's given / generated negatives.
        """
        ids = sorted({int(q) for q in query_ids})
        if not ids:
            return set()
        rid = -1 if run_id is None else int(run_id)
        if len(ids) == 1:  # one query (a click): equality lookups on the primary keys
            row = self._fetchone(sql.COMPLETE_ONE, [rid, ids[0], list(statuses), ids[0], ids[0], reviewer])
            return {ids[0]} if row and row[0] and row[0] == row[1] else set()
        return {int(r[0]) for r in self._fetchall(sql.COMPLETE_MANY, [ids, rid, list(statuses), reviewer])}

    def _reviewed(self, query_ids: Sequence[int], reviewer: str = "") -> dict[int, str | None]:
        ids = sorted({int(q) for q in query_ids})
        found = dict(self._fetchall(sql.REVIEWED_HOW, [reviewer, ids]))
        return {q: found.get(q) for q in ids}

    def reviewed_query_ids(self, pid: int, reviewer: str | None = None) -> np.ndarray:
        """Ids of the project's queries reviewed (done or complete) by ``reviewer`` (None: by anyone),
        ascending (int64)."""
        if reviewer is None:
            rows = self._fetchall(sql.REVIEWED_QUERY_IDS, [pid])
        else:
            rows = self._fetchall(sql.REVIEWED_QUERY_IDS_OF, [pid, reviewer])
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def reviewed_states(self, pid: int, reviewer: str | None = None) -> dict[int, str]:
        """``{query_id: how}`` of the project's queries reviewed ('done' or 'complete') by ``reviewer``
        (None: by anyone; a query two reviewers reviewed shows one of their states)."""
        if reviewer is None:
            return {int(q): str(h) for q, h in self._fetchall(sql.REVIEWED_STATES, [pid])}
        return {int(q): str(h) for q, h in self._fetchall(sql.REVIEWED_STATES_OF, [pid, reviewer])}

    def decisions(self, pid: int, query_id: int | None = None) -> pd.DataFrame:
        """(query_id, passage_id, decision, updated_at, resolved_by) of a project's current resolved
        decisions (one query's); ``resolved_by``: single, unanimous, majority, tie or adjudicated."""
        statement, params = sql.DECISIONS, [pid]
        if query_id is not None:
            statement += sql.AND_QUERY
            params.append(int(query_id))
        return self._df(statement + sql.ORDER_PAIRS, params)

    def excluded_negatives(self, pid: int) -> pd.DataFrame:
        """(query_id, passage_id) pairs that must never be a negative: rejected (a tie included) or
        made a positive."""
        return self._df(sql.EXCLUDED_NEGATIVES, [pid])

    def decision_log(self, pid: int, pair: tuple[int, int] | None = None) -> pd.DataFrame:
        """The audit trail of a project's decisions (of one (query, passage) pair), oldest first.

        Columns: id, query_id, passage_id, decision (None = cleared, ``edited->N`` for an edited
        positive), prev_decision, action_id, logged_at, reviewer.
        """
        if pair is None:
            return self._df(sql.DECISION_LOG.format(only=""), [pid])
        return self._df(sql.DECISION_LOG.format(only=sql.LOG_OF_PAIR), [pid, int(pair[0]), int(pair[1])])

    # ------------------------------------------------------------------ building blocks (inside a transaction)

    def _stale(self, expect: Mapping[int, int] | None, reviewer: str = "") -> WriteResult | None:
        """A ``stale`` result when a query's version (as ``reviewer`` sees it) differs from what the
        caller saw, else None."""
        if not expect:
            return None
        current = self.versions(list(expect), reviewer)
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
        self,
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
        return int(
            self._scalar(
                sql.INSERT_ACTION, [pid, kind, query_id, label, detail_json, undoes, pairs, queries, reviewer]
            )
        )

    def _bump(self, pid: int, query_ids: Sequence[int], reviewer: str = "") -> dict[int, int]:
        """Increment the shared version of every query (creating its state row); returns the versions
        as ``reviewer`` sees them."""
        ids = sorted({int(q) for q in query_ids})
        if not ids:
            return {}
        self._execute(sql.BUMP_VERSIONS, [ids, pid])
        return self.versions(ids, reviewer)

    def _bump_own(self, pid: int, query_ids: Sequence[int], reviewer: str) -> dict[int, int]:
        """Increment ``reviewer``'s own version of every query; returns the versions as they see them."""
        self._bump_reviewer(pid, query_ids, reviewer)
        return self.versions(query_ids, reviewer)

    def _write_pairs(self, pid: int, action_id: int, rows: pd.DataFrame, reviewer: str = "") -> None:
        """Write ``reviewer``'s decisions ``new`` over ``old`` for rows (query_id, passage_id, new, old),
        log them, and resolve the pairs (the resolved decision and the review-made positive follow).

        A review-made positive (origin 'review') exists exactly while the resolved decision is
        'positive' (a positive given by the data is never touched). A few rows (a click) take point
        statements on the primary keys; more (a bulk action) one set-based statement per step.
        """
        self._write_reviewer_decisions(pid, rows, reviewer)
        if len(rows) <= SMALL:
            for q, p, new, old in rows[["query_id", "passage_id", "new", "old"]].itertuples(index=False):
                self._execute(sql.LOG_DECISION, [pid, int(q), int(p), new, action_id, old, reviewer])
        else:
            with self._frame("review_rows", rows):
                self._execute(sql.BULK_LOG_DECISIONS, [pid, action_id, reviewer])
        self._resolve_pairs(pid, rows[["query_id", "passage_id"]])

    def _set_reviewed(
        self,
        pid: int,
        action_id: int,
        changes: Mapping[int, tuple[str | None, str | None]],
        reviewer: str = "",
    ) -> None:
        """Apply ``reviewer``'s reviewed-state changes ``{query: (before, after)}`` and record them with
        the action."""
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
        with self._frame("reviewed_changes", frame):
            self._execute(sql.DELETE_REVIEWED, [reviewer])
            self._execute(sql.INSERT_REVIEWED, [reviewer, pid])
            self._execute(sql.LOG_REVIEWED, [action_id, pid])

    def _recompute_reviewed(
        self, query_ids: Sequence[int], run_id: int | None, statuses: Sequence[str], reviewer: str = ""
    ) -> dict[int, tuple[str | None, str | None]]:
        """Reviewed state after decisions changed: 'done' stays; otherwise 'complete' exactly when complete."""
        before = self._reviewed(query_ids, reviewer)
        done = self.complete_queries(query_ids, run_id, statuses, reviewer)
        return {
            q: (how, how if how == "done" else ("complete" if q in done else None))
            for q, how in before.items()
        }

    # ------------------------------------------------------------------ decisions

    def apply_decisions(
        self,
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
        """Set (``None``: clear) one decision of ``reviewer`` on many (query, passage) pairs as one
        undoable action.

        In one transaction: compare the versions in ``expect`` (as the reviewer sees them; refuse
        on any difference), write the reviewer's decisions, log every pair with the decision it
        replaced, resolve the pairs (the resolved decision and the review-made positives:
        ``'positive'`` adds the passage to the query's positives with origin 'review', deciding it
        away removes it again), recompute which touched queries are complete for the reviewer
        (every shown candidate decided, ``run_id`` / ``statuses`` say what is shown; default: the
        latest mining run's selected candidates) and bump the reviewer's versions. A decision
        never marks a query done.

        Raises:
            EmbcoreError: unknown decision.
        """
        if decision is not None and decision not in DECISIONS:
            raise EmbcoreError(f"unknown decision {decision!r}; allowed: {', '.join(DECISIONS)}")
        frame = pd.DataFrame(
            {"query_id": [int(q) for q, _ in pairs], "passage_id": [int(p) for _, p in pairs]}, dtype="int64"
        ).drop_duplicates(ignore_index=True)
        with self.transaction():
            stale = self._stale(expect, reviewer)
            if stale is not None:
                return stale
            if frame.empty:
                return WriteResult(
                    "unchanged",
                    versions=self.versions(list(expect or {}), reviewer),
                    message="Nothing to change.",
                )
            rows = pd.DataFrame(
                {
                    "query_id": frame["query_id"].astype("int64"),
                    "passage_id": frame["passage_id"].astype("int64"),
                    "new": pd.Series([decision] * len(frame), dtype=object),
                    "old": self._reviewer_decision_of(frame, reviewer).to_numpy(),
                }
            )
            qids = sorted({int(q) for q in rows["query_id"]})
            if label is None:
                word = decision or "cleared"
                label = f"{word}: {len(rows)} candidate{'s' * (len(rows) != 1)}"
            one = qids[0] if len(qids) == 1 else None
            action = self._new_action(
                pid, kind, label, query_id=one, detail=detail, pairs=len(rows), queries=len(qids),
                reviewer=reviewer,
            )  # fmt: skip
            self._write_pairs(pid, action, rows, reviewer)
            if run_id is None:
                run_id = self.latest_run(pid, "mine")
            self._set_reviewed(
                pid, action, self._recompute_reviewed(qids, run_id, statuses, reviewer), reviewer
            )
            new_versions = self._bump_own(pid, qids, reviewer)
        log.debug("action %d: %s on %d pairs", action, decision, len(rows))
        return WriteResult("applied", action, len(rows), len(qids), new_versions, label)

    def set_decision(
        self, pid: int, query_id: int, passage_id: int, decision: str | None, *, reviewer: str = ""
    ) -> WriteResult:
        """:meth:`apply_decisions` on one (query, passage) pair, without a version check."""
        return self.apply_decisions(pid, [(query_id, passage_id)], decision, reviewer=reviewer)

    # ------------------------------------------------------------------ done / reopen

    def set_done(
        self,
        pid: int,
        query_id: int,
        done: bool = True,
        *,
        expect: int | None = None,
        run_id: int | None = None,
        statuses: Sequence[str] = ("selected",),
        reviewer: str = "",
    ) -> WriteResult:
        """Mark a query reviewed ('done') by ``reviewer`` or reopen it (then it counts as reviewed by
        them only while complete)."""
        qid = int(query_id)
        with self.transaction():
            stale = self._stale(None if expect is None else {qid: expect}, reviewer)
            if stale is not None:
                return stale
            before = self._reviewed([qid], reviewer)[qid]
            if done:
                after: str | None = "done"
            else:
                rid = run_id if run_id is not None else self.latest_run(pid, "mine")
                after = "complete" if qid in self.complete_queries([qid], rid, statuses, reviewer) else None
            if before == after:
                return WriteResult("unchanged", versions=self.versions([qid], reviewer),
                                   message="Already marked done." if done else "Not marked done.")  # fmt: skip
            label = "marked done" if done else "reopened"
            action = self._new_action(
                pid, "done" if done else "reopen", label, query_id=qid, reviewer=reviewer
            )
            self._set_reviewed(pid, action, {qid: (before, after)}, reviewer)
            new_versions = self._bump_own(pid, [qid], reviewer)
        return WriteResult("applied", action, 0, 1, new_versions, label)

    # ------------------------------------------------------------------ flags, notes and edits

    def set_flag(
        self,
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
        with self.transaction():
            stale = self._stale(None if expect is None else {qid: expect}, reviewer)
            if stale is not None:
                return stale
            state = self.query_state(qid, reviewer)
            if state["flag"] == flag and (state["flag_reason"] or "") == reason:
                return WriteResult(
                    "unchanged", versions={qid: state["version"]}, message="The flag is unchanged."
                )
            label = f"flagged: {flag.replace('_', ' ')}" if flag else "flag cleared"
            detail = {"flag_before": state["flag"], "reason_before": state["flag_reason"], "flag_after": flag,
                      "reason_after": reason or None}  # fmt: skip
            action = self._new_action(pid, "flag", label, query_id=qid, detail=detail, reviewer=reviewer)
            self._execute(sql.WRITE_FLAG, [qid, pid, flag, reason or None])
            new_versions = self._bump(pid, [qid], reviewer)
        return WriteResult("applied", action, 0, 1, new_versions, label)

    def flagged_queries(self, pid: int) -> dict[int, tuple[str, str | None]]:
        """``{query_id: (flag, reason)}`` of a project's flagged queries."""
        return {int(q): (str(f), r) for q, f, r in self._fetchall(sql.FLAGGED, [pid])}

    def set_note(
        self, pid: int, query_id: int, note: str, *, expect: int | None = None, reviewer: str = ""
    ) -> WriteResult:
        """Set (an empty text: remove) the free-text note of a query, shared by its reviewers."""
        qid = int(query_id)
        text = clean_text(note or "") or None
        with self.transaction():
            stale = self._stale(None if expect is None else {qid: expect}, reviewer)
            if stale is not None:
                return stale
            state = self.query_state(qid, reviewer)
            if (state["note"] or None) == text:
                return WriteResult(
                    "unchanged", versions={qid: state["version"]}, message="The note is unchanged."
                )
            label = "note saved" if text else "note removed"
            detail = {"before": state["note"], "by_before": state["note_by"], "after": text}
            action = self._new_action(pid, "note", label, query_id=qid, detail=detail, reviewer=reviewer)
            self._execute(sql.WRITE_NOTE, [qid, pid, text, reviewer if text else None])
            new_versions = self._bump(pid, [qid], reviewer)
        return WriteResult("applied", action, 0, 1, new_versions, label)

    def edit_query(
        self, pid: int, query_id: int, text: str, *, expect: int | None = None, reviewer: str = ""
    ) -> WriteResult:
        """Replace a query's text; its positives, candidates and decisions stay (they refer to its id).

        Raises:
            EmbcoreError: empty text, or another query of the project already has this text.
        """
        qid = int(query_id)
        new = clean_text(text or "")
        if not new:
            raise EmbcoreError("a query cannot be empty")
        with self.transaction():
            stale = self._stale(None if expect is None else {qid: expect}, reviewer)
            if stale is not None:
                return stale
            old = self._scalar(sql.QUERY_TEXT_OF_PROJECT, [pid, qid])
            if old is None:
                raise EmbcoreError(f"query {qid} is not part of project {pid}")
            if str(old) == new:
                return WriteResult(
                    "unchanged", versions=self.versions([qid], reviewer), message="The text is unchanged."
                )
            self._check_query_text_free(pid, qid, new)
            action = self._new_action(pid, "edit_query", "query text edited", query_id=qid,
                                      detail={"before": str(old), "after": new}, reviewer=reviewer)  # fmt: skip
            self._execute(sql.WRITE_QUERY_TEXT, [new, text_hash(new), qid])
            new_versions = self._bump(pid, [qid], reviewer)
        return WriteResult("applied", action, 0, 1, new_versions, "query text edited")

    def _check_query_text_free(self, pid: int, qid: int, text: str) -> None:
        other = self._scalar(sql.OTHER_QUERY_WITH_TEXT, [pid, text_hash(text), qid])
        if other is not None:
            raise EmbcoreError(
                f"query {int(other)} of this project already has this text; edit or flag that one"
            )

    def edit_positive(
        self,
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
        with self.transaction():
            stale = self._stale(None if expect is None else {qid: expect}, reviewer)
            if stale is not None:
                return old_id, stale
            row = self._fetchone(sql.POSITIVE_ROW, [qid, old_id])
            if row is None:
                raise EmbcoreError(f"passage {old_id} is not a positive of query {qid}")
            [new_id] = self.ensure_passages(pid, [text], kind="generated", origin="edit")
            if new_id == old_id:
                return new_id, WriteResult(
                    "unchanged", versions=self.versions([qid], reviewer), message="The text is unchanged."
                )
            detail = {"old": old_id, "new": new_id, "position": int(row[0]), "origin": str(row[1])}
            action = self._new_action(
                pid, "edit_positive", "positive edited", query_id=qid, detail=detail, reviewer=reviewer
            )
            self._execute(sql.DELETE_POSITIVE, [qid, old_id])
            self._execute(sql.INSERT_EDITED_POSITIVE, [pid, qid, new_id, row[0]])
            self._execute(sql.LOG_EDIT, [pid, qid, old_id, f"edited->{new_id}", action, reviewer])
            new_versions = self._bump(pid, [qid], reviewer)
        return new_id, WriteResult("applied", action, 0, 1, new_versions, "positive edited")

    # ------------------------------------------------------------------ grades, search hits, adjudication

    def set_grade(
        self,
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
        g = check_grade(grade)
        with self.transaction():
            stale = self._stale(None if expect is None else {qid: expect}, reviewer)
            if stale is not None:
                return stale
            before = self.grade_of(qid, p, reviewer)
            if before == g:
                return WriteResult(
                    "unchanged", versions=self.versions([qid], reviewer), message="The grade is unchanged."
                )
            label = f"graded candidate {p}: {g}" if g is not None else f"grade of candidate {p} cleared"
            detail = {"passage": p, "before": before, "after": g}
            action = self._new_action(pid, "grade", label, query_id=qid, detail=detail, reviewer=reviewer)
            self._write_grade(pid, qid, p, g, reviewer)
            new_versions = self._bump_own(pid, [qid], reviewer)
        return WriteResult("applied", action, 1, 1, new_versions, label)

    def add_from_search(
        self,
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
            raise EmbcoreError(
                f"a search hit is added as 'accept' (negative) or 'positive', not {decision!r}"
            )
        qid, p = int(query_id), int(passage_id)
        with self.transaction():
            stale = self._stale(None if expect is None else {qid: expect}, reviewer)
            if stale is not None:
                return stale
            if self._fetchone(sql.PASSAGE_OF_PROJECT, [p, pid]) is None:
                raise EmbcoreError(f"passage {p} is not part of project {pid}")
            rid = run_id if run_id is not None else self.latest_run(pid, "mine")
            added = []
            if not self._scalar(sql.KNOWN_CANDIDATE, [-1 if rid is None else rid, qid, p, qid, p]):
                self._execute(sql.INSERT_SEARCH_HIT, [pid, qid, p])
                added.append(p)
            word = "as a negative" if decision == "accept" else "as a positive"
            return self.apply_decisions(
                pid, [(qid, p)], decision, expect=None, run_id=rid, statuses=statuses, kind="search_add",
                label=f"added search hit {p} {word}", detail={"added": added, "passage": p}, reviewer=reviewer,
            )  # fmt: skip

    def adjudicate(
        self,
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
        g = check_grade(grade)
        qid, p = int(query_id), int(passage_id)
        with self.transaction():
            before = self.adjudication(qid, p)
            after = (
                None if decision is None and g is None else {"decision": decision, "grade": g, "lead": lead}
            )
            if before == after:
                return WriteResult("unchanged", message="The adjudication is unchanged.")
            label = (
                f"adjudicated candidate {p}: {decision or '-'}" + (f", grade {g}" if g is not None else "")
                if after
                else f"adjudication of candidate {p} removed"
            )
            detail = {"passage": p, "before": before, "after": after}
            action = self._new_action(pid, "adjudicate", label, query_id=qid, detail=detail, reviewer=lead)
            self._write_adjudication(pid, qid, p, after)
        return WriteResult("applied", action, 1, 1, {}, label)

    # ------------------------------------------------------------------ undo

    def undo(
        self,
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
        with self.transaction():
            row = self._fetchone(sql.ACTION_ROW, [aid, pid])
            if row is None:
                raise EmbcoreError(f"no review action {aid} in project {pid}")
            kind, label, qid, detail, undone_by, owner = row
            detail = json.loads(detail) if isinstance(detail, str) else (detail or {})
            if kind == "undo":
                raise EmbcoreError("an undo cannot be undone; make the decision again instead")
            if undone_by is not None:
                return WriteResult("stale", message=f"Already undone: {label}.")
            stale = self._stale(expect, reviewer)
            if stale is not None:
                return stale
            logged = self._df(sql.LOGGED_BY_ACTION, [owner, aid])
            reviewed = self._fetchall(sql.REVIEWED_BY_ACTION, [owner, aid])
            conflict = self._undo_conflict(kind, qid, detail, logged, reviewed, owner)
            if conflict:
                return WriteResult(
                    "stale",
                    message=f"Cannot undo “{label}”: {conflict} was changed later; undo that change first.",
                )
            new = self._new_action(pid, "undo", f"undo: {label}", query_id=qid, undoes=aid, reviewer=reviewer)
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
                self._write_pairs(pid, new, rows, owner)
                touched |= {int(q) for q in rows["query_id"]}
            self._undo_other(pid, kind, qid, detail, owner)
            restored = {int(q): (how, before) for q, before, _after, how in reviewed}
            others = [q for q in touched if q not in restored]
            if others and kind != "adjudicate":
                rid = run_id if run_id is not None else self.latest_run(pid, "mine")
                restored |= self._recompute_reviewed(others, rid, statuses, owner)
            self._set_reviewed(pid, new, restored, owner)
            touched |= set(restored)
            self._execute(sql.MARK_UNDONE, [new, aid])
            self._execute(sql.FINISH_ACTION, [len(logged), len(touched), new])
            if kind in PER_REVIEWER_KINDS:
                self._bump_reviewer(pid, sorted(touched), owner)
            elif kind != "adjudicate":
                self._bump(pid, sorted(touched))
            new_versions = self.versions(sorted(touched), reviewer)
        return WriteResult("applied", new, len(logged), len(touched), new_versions, f"undone: {label}")

    def _undo_conflict(
        self,
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
            state = self.query_state(int(qid))
            if state["flag"] != detail.get("flag_after") or state["flag_reason"] != detail.get(
                "reason_after"
            ):
                return f"the flag of query {int(qid)}"
        elif kind == "note":
            if self.query_state(int(qid))["note"] != detail.get("after"):
                return f"the note of query {int(qid)}"
        elif kind == "grade":
            if self.grade_of(int(qid), int(detail["passage"]), owner) != detail.get("after"):
                return f"the grade of passage {int(detail['passage'])} of query {int(qid)}"
        elif kind == "adjudicate":
            if self.adjudication(int(qid), int(detail["passage"])) != detail.get("after"):
                return f"the adjudication of passage {int(detail['passage'])} of query {int(qid)}"
        elif kind == "edit_query":
            text = self._scalar(sql.QUERY_TEXT, [int(qid)])
            if text is None or text != detail.get("after"):
                return f"the text of query {int(qid)}"
        elif kind == "edit_positive":
            have = {int(r[0]) for r in self._fetchall(sql.QUERY_POSITIVE_IDS, [int(qid)])}
            if int(detail["new"]) not in have or int(detail["old"]) in have:
                return f"the positives of query {int(qid)}"
        return None

    def _undo_other(self, pid: int, kind: str, qid: Any, detail: dict[str, Any], owner: str = "") -> None:
        """Undo what an action wrote besides decisions and reviewed states."""
        if kind == "note":
            self._execute(sql.WRITE_NOTE, [int(qid), pid, detail.get("before"), detail.get("by_before")])
        elif kind == "grade":
            self._write_grade(pid, int(qid), int(detail["passage"]), detail.get("before"), owner)
        elif kind == "adjudicate":
            self._write_adjudication(pid, int(qid), int(detail["passage"]), detail.get("before"))
        elif kind == "search_add":
            for p in detail.get("added") or []:
                self._execute(sql.DELETE_SEARCH_HIT, [int(qid), int(p), int(qid), int(p)])
        elif kind == "flag":
            self._execute(
                sql.WRITE_FLAG, [int(qid), pid, detail.get("flag_before"), detail.get("reason_before")]
            )
        elif kind == "edit_query":
            before = str(detail["before"])
            self._check_query_text_free(pid, int(qid), before)
            self._execute(sql.WRITE_QUERY_TEXT, [before, text_hash(before), int(qid)])
        elif kind == "edit_positive":
            self._execute(sql.DELETE_POSITIVE, [int(qid), int(detail["new"])])
            self._execute(
                sql.RESTORE_POSITIVE,
                [pid, int(qid), int(detail["old"]), detail["origin"], int(detail["position"])],
            )

    # ------------------------------------------------------------------ history

    def actions(self, pid: int, *, query_id: int | None = None, limit: int = 50) -> pd.DataFrame:
        """A project's review actions (touching one query), newest first.

        Columns: id, created_at, kind, label, query_id, query_text, pairs, queries, undoes, undone_by,
        reviewer.
        """
        if query_id is None:
            return self._df(sql.ACTIONS.format(where=sql.ACTIONS_OF_PROJECT), [pid, int(limit)])
        return self._df(
            sql.ACTIONS.format(where=sql.ACTIONS_OF_QUERY), [pid, *[int(query_id)] * 3, int(limit)]
        )

    def action_count(self, pid: int) -> int:
        """How many review actions a project has (undos included)."""
        return int(self._scalar(sql.ACTION_COUNT, [pid]))

    def last_undoable(self, pid: int, query_id: int, reviewer: str = "") -> int | None:
        """The latest action of ``reviewer`` on one query that can still be undone (not an undo, not
        undone, not an adjudication), or None."""
        found = self._scalar(sql.LAST_UNDOABLE, [pid, int(query_id), reviewer])
        return None if found is None else int(found)

    def reset_review(self, pid: int) -> None:
        """Forget every review write of a project (every reviewer's decisions and grades, the resolved
        decisions, adjudications, their log and actions, reviewed states, flags, notes, versions,
        review-made positives, search hits added to queries) in one transaction: the review starts over.

        Edited query texts and edited positives stay as they are; so do the reviewers, the overlap
        settings and the assignments.
        """
        with self.transaction():
            for statement in sql.RESET_REVIEW:
                self._execute(statement, [pid])

    # ------------------------------------------------------------------ the review's lists

    def filtered_query_ids(
        self,
        pid: int,
        run_id: int | None,
        *,
        status: str = "all",
        meta: dict[str, Sequence[str]] | None = None,
        sources: Sequence[str] | None = None,
        text: str = "",
        reviewer: str | None = None,
    ) -> np.ndarray:
        """Ids of the project's queries passing every filter, ascending (the review order).

        Args:
            pid: project id.
            run_id: mining run (needed by ``sources``; ignored when None).
            status: one of :data:`REVIEW_STATUSES`.
            meta: metadata key -> allowed values (a query passes when its value is one of them).
            sources: keep queries with at least one candidate proposed by one of these sources.
            text: case-insensitive substring of the query or of one of its positives.
            reviewer: "reviewed" / "unreviewed" by this reviewer (None: by anyone).

        Returns:
            int64 array of query ids.

        Raises:
            EmbcoreError: unknown status.
        """
        if status not in REVIEW_STATUSES:
            raise EmbcoreError(
                f"unknown review status filter {status!r}; allowed: {', '.join(REVIEW_STATUSES)}"
            )
        where = [sql.F_PROJECT]
        params: list[Any] = [pid]
        who, who_params = ("", []) if reviewer is None else (sql.F_BY_REVIEWER, [reviewer])
        if status in ("reviewed", "unreviewed"):
            where.append((sql.F_REVIEWED if status == "reviewed" else sql.F_UNREVIEWED).format(who=who))
            params += [pid, *who_params]
        elif status == "flagged":
            where.append(sql.F_FLAGGED)
            params.append(pid)
        for key, values in (meta or {}).items():
            if values:
                where.append(sql.F_META)
                params += [[str(v) for v in values], json_path(key)]
        if sources and run_id is not None:
            where.append(sql.F_SOURCES)
            params += [run_id, list(sources)]
        text = text.strip()
        if text:
            where.append(sql.F_TEXT)
            params += [like_pattern(text)] * 2
        rows = self._fetchall(sql.FILTERED_QUERY_IDS.format(where=" AND ".join(where)), params)
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def query_row(self, pid: int, query_id: int, reviewer: str = "") -> dict[str, Any]:
        """One query: id, text, meta (JSON text), prompt, type, and its review state as ``reviewer``
        sees it: version (shared + the reviewer's own), flag, flag_reason, reviewed ('done' /
        'complete' / None, the reviewer's), note, note_by.

        Raises:
            EmbcoreError: the query is not part of the project.
        """
        row = self._fetchone(sql.QUERY_ROW, [reviewer, reviewer, pid, int(query_id)])
        if row is None:
            raise EmbcoreError(f"query {query_id} is not part of project {pid}")
        keys = ("id", "text", "meta", "prompt", "type", "version", "flag", "flag_reason", "reviewed", "note",
                "note_by")  # fmt: skip
        return dict(zip(keys, row, strict=True))

    def review_counts(self, pid: int, reviewer: str | None = None) -> dict[str, int]:
        """queries, reviewed, decision counts (accepted / rejected / positives) and flagged queries of a
        project: the resolved decisions and the queries reviewed by anyone (``reviewer`` None), or one
        reviewer's."""
        if reviewer is None:
            row = self._fetchone(sql.REVIEW_COUNTS, [pid] * 6)
        else:
            row = self._fetchone(sql.REVIEWER_COUNTS, [pid, pid, reviewer, *[pid, reviewer] * 3, pid])
        keys = ("queries", "reviewed", "accepted", "rejected", "positives", "flagged")
        return {k: int(v or 0) for k, v in zip(keys, row or (0,) * 6, strict=True)}
