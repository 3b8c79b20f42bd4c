"""Reviewers: per-reviewer decisions and grades, the resolved decision, adjudication, overlap
settings, assignments, the reviewer registry, and the reads behind agreement figures.

Writes the tables ``reviewer_decisions``, ``reviewer_state``, ``adjudications``, ``reviewers``,
``review_settings`` and ``assignments`` (migration 010), and the resolved rows of ``decisions``
(with the review-made rows of ``positives``) that follow them.

The decision model:

- ``reviewer_decisions`` holds every reviewer's own decision and grade per (query, passage);
- ``decisions`` holds the *resolved* decision that exports, mining and the other pages read: the
  lead's adjudication when there is one, else the most frequent decision among the reviewers
  (``single`` with one reviewer, ``unanimous``, ``majority``); a tie resolves to ``reject``
  (``resolved_by = 'tie'``): the pair is neither a negative nor a positive until a lead decides;
- a review-made positive (``positives.origin = 'review'``) exists exactly while the resolved
  decision is ``positive``.

With one reviewer this is exactly the model before 010: the resolved decision is that reviewer's.
The private writers run inside the caller's transaction (the versioned review writes of
:mod:`embcore.store.decisions`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from embcore.errors import EmbcoreError
from embcore.store.connection import Connection
from embcore.store.sql import reviewers as sql

POLICY = (
    "adjudicated decision, else the most frequent decision among the reviewers; "
    "a tie is excluded (neither negative nor positive) until a lead adjudicates"
)
"""How the resolved decision (the one exported) is reached, in words (recorded in the manifest)."""
GRADES: tuple[int, ...] = (0, 1, 2, 3)
GRADE_WORDS: dict[int, str] = {
    0: "not relevant",
    1: "related, does not answer",
    2: "partly answers",
    3: "answers fully",
}
"""Graded relevance of a passage to a query (TREC-style 0-3)."""
RELEVANT_GRADE = 2
"""Grades from this one up make a passage relevant: a qrels row, and never a negative."""
SMALL = 16
"""Up to this many pairs a write uses point statements (a click); more go set-based (bulk)."""


def check_grade(grade: int | None) -> int | None:
    """``grade`` as an int in 0..3 (None stays None).

    Raises:
        EmbcoreError: anything else.
    """
    if grade is None:
        return None
    try:
        g = int(grade)
    except (TypeError, ValueError):
        raise EmbcoreError(f"a grade is 0, 1, 2 or 3, got {grade!r}") from None
    if g not in GRADES or (isinstance(grade, float) and grade != g):
        raise EmbcoreError(f"a grade is 0, 1, 2 or 3, got {grade!r}")
    return g


class ReviewersMixin(Connection):
    """Several reviewers: their own decisions and grades, the resolved decision, adjudication,
    settings, registry, assignments and agreement reads."""

    # ------------------------------------------------------------------ per-reviewer versions

    def reviewer_versions(self, query_ids: Sequence[int], reviewer: str) -> dict[int, int]:
        """Per-reviewer version of each query (0 when the reviewer never wrote on it)."""
        ids = sorted({int(q) for q in query_ids})
        if not ids:
            return {}
        found = dict(self._fetchall(sql.REVIEWER_VERSIONS, [reviewer, ids]))
        return {q: int(found.get(q, 0)) for q in ids}

    def _bump_reviewer(self, pid: int, query_ids: Sequence[int], reviewer: str) -> None:
        """Increment the reviewer's version of every query."""
        ids = sorted({int(q) for q in query_ids})
        if ids:
            self._execute(sql.BUMP_REVIEWER, [ids, reviewer, pid])

    # ------------------------------------------------------------------ per-reviewer rows

    def _write_reviewer_decisions(self, pid: int, rows: pd.DataFrame, reviewer: str) -> None:
        """Set the reviewer's decision ``new`` on rows (query_id, passage_id, new); grades stay.

        A row whose decision and grade are both empty afterwards is removed.
        """
        if len(rows) <= SMALL:
            for q, p, new in rows[["query_id", "passage_id", "new"]].itertuples(index=False):
                self._execute(sql.UPSERT_REVIEWER_DECISION, [pid, int(q), int(p), reviewer, new])
                if new is None:
                    self._execute(sql.DELETE_EMPTY_REVIEWER_ROW, [int(q), int(p), reviewer])
            return
        with self._frame("reviewer_rows", rows[["query_id", "passage_id", "new"]]):
            self._execute(sql.BULK_UPSERT_REVIEWER_DECISIONS, [pid, reviewer])
            self._execute(sql.BULK_DELETE_EMPTY_REVIEWER_ROWS, [reviewer])

    def _reviewer_decision_of(self, pairs: pd.DataFrame, reviewer: str) -> pd.Series:
        """The reviewer's current decision of each (query_id, passage_id) row (None when none), aligned."""
        if pairs.empty:
            return pd.Series([], dtype=object)
        if len(pairs) <= SMALL:  # a click: point lookups on the primary key
            return pd.Series(
                [
                    self._scalar(sql.REVIEWER_DECISION, [int(q), int(p), reviewer])
                    for q, p in pairs[["query_id", "passage_id"]].itertuples(index=False)
                ],
                dtype=object,
            )
        with self._frame("wanted_pairs", pairs[["query_id", "passage_id"]]):
            old = self._df(sql.REVIEWER_DECISIONS_OF_PAIRS, [reviewer])
        merged = pairs[["query_id", "passage_id"]].merge(old, on=["query_id", "passage_id"], how="left")
        return merged["decision"].astype(object).where(merged["decision"].notna(), None)

    def grade_of(self, query_id: int, passage_id: int, reviewer: str) -> int | None:
        """The reviewer's grade of one pair (None when ungraded)."""
        found = self._scalar(sql.GRADE, [int(query_id), int(passage_id), reviewer])
        return None if found is None else int(found)

    def _write_grade(
        self, pid: int, query_id: int, passage_id: int, grade: int | None, reviewer: str
    ) -> None:
        """Set (None: clear) the reviewer's grade of one pair; the decision stays."""
        q, p = int(query_id), int(passage_id)
        self._execute(sql.UPSERT_GRADE, [pid, q, p, reviewer, grade])
        if grade is None:
            self._execute(sql.DELETE_EMPTY_REVIEWER_ROW, [q, p, reviewer])

    # ------------------------------------------------------------------ resolution

    def _resolve_one(self, q: int, p: int) -> tuple[str | None, str | None]:
        """(decision, resolved_by) of one pair: the rule of :data:`sql.RESOLVE` by point lookups."""
        adjudicated = self._scalar(sql.ADJUDICATED_DECISION, [q, p])
        if adjudicated is not None:
            return str(adjudicated), "adjudicated"
        votes = self._fetchall(sql.PAIR_VOTES, [q, p])
        if not votes:
            return None, None
        top = max(n for _, n in votes)
        leaders = [d for d, n in votes if n == top]
        if len(leaders) > 1:
            return "reject", "tie"
        total = sum(n for _, n in votes)
        return str(leaders[0]), ("single" if total == 1 else "unanimous" if len(votes) == 1 else "majority")

    def _resolve_pairs(self, pid: int, pairs: pd.DataFrame) -> None:
        """Recompute the resolved decision (``decisions``) and the review-made positive of each pair.

        Args:
            pid: the project.
            pairs: columns query_id, passage_id.
        """
        if pairs.empty:
            return
        frame = pairs[["query_id", "passage_id"]].astype("int64").drop_duplicates(ignore_index=True)
        if len(frame) <= SMALL:  # a click: point lookups and point statements
            for q, p in frame.itertuples(index=False):
                q, p = int(q), int(p)
                d, how = self._resolve_one(q, p)
                if d != "positive":
                    self._execute(sql.DELETE_REVIEW_POSITIVE, [q, p])
                self._execute(sql.DELETE_RESOLVED, [q, p])
                if d is not None:
                    self._execute(sql.INSERT_RESOLVED, [pid, q, p, d, how])
                if d == "positive":
                    self._execute(sql.INSERT_REVIEW_POSITIVE, [pid, q, p])
            return
        with self._frame("resolve_pairs", frame):
            resolved = self._df(sql.RESOLVE)
        resolved["decision"] = resolved["decision"].astype(object).where(resolved["decision"].notna(), None)
        resolved = resolved.astype({"query_id": "int64", "passage_id": "int64"})
        with self._frame("resolved_rows", resolved):
            self._execute(sql.BULK_DELETE_REVIEW_POSITIVES)
            self._execute(sql.BULK_DELETE_RESOLVED)
            self._execute(sql.BULK_INSERT_RESOLVED, [pid])
            self._execute(sql.BULK_INSERT_REVIEW_POSITIVES, [pid])

    # ------------------------------------------------------------------ adjudication

    def adjudication(self, query_id: int, passage_id: int) -> dict[str, Any] | None:
        """``{"decision", "grade", "lead"}`` of a pair's adjudication, or None."""
        row = self._fetchone(sql.ADJUDICATION, [int(query_id), int(passage_id)])
        return None if row is None else {"decision": row[0], "grade": row[1], "lead": row[2]}

    def _write_adjudication(
        self, pid: int, query_id: int, passage_id: int, value: dict[str, Any] | None
    ) -> None:
        """Set (None: remove) a pair's adjudication ``{"decision", "grade", "lead"}`` and resolve the pair."""
        q, p = int(query_id), int(passage_id)
        self._execute(sql.DELETE_ADJUDICATION, [q, p])
        if value is not None:
            self._execute(
                sql.INSERT_ADJUDICATION, [pid, q, p, value.get("decision"), value.get("grade"), value["lead"]]
            )
        self._resolve_pairs(pid, pd.DataFrame({"query_id": [q], "passage_id": [p]}, dtype="int64"))

    # ------------------------------------------------------------------ settings, registry, assignment

    def review_settings(self, pid: int) -> dict[str, Any]:
        """``{"overlap": k, "leads": [...]}`` of a project (k = 1 and no lead when never set)."""
        row = self._fetchone(sql.SETTINGS, [pid])
        if row is None:
            return {"overlap": 1, "leads": []}
        return {"overlap": int(row[0]), "leads": [str(x) for x in (row[1] or [])]}

    def save_review_settings(self, pid: int, overlap: int, leads: Sequence[str]) -> None:
        """Store the overlap (reviewers per query) and the leads of a project.

        Raises:
            EmbcoreError: overlap below 1.
        """
        if int(overlap) < 1:
            raise EmbcoreError(f"the overlap (reviewers per query) must be at least 1, got {overlap}")
        self._execute(
            sql.SAVE_SETTINGS, [pid, int(overlap), sorted({str(x) for x in leads if str(x).strip()})]
        )

    def register_reviewer(self, pid: int, name: str) -> None:
        """Record that ``name`` reviews this project (once)."""
        self._execute(sql.REGISTER_REVIEWER, [pid, name])

    def reviewer_names(self, pid: int) -> list[str]:
        """Every reviewer of a project: registered ones and anyone who decided, by first appearance."""
        return [str(r[0]) for r in self._fetchall(sql.REVIEWER_NAMES, [pid, pid])]

    def unnamed_decisions(self, pid: int) -> int:
        """How many decisions belong to the unnamed reviewer '' (made before reviewer names existed)."""
        return int(self._scalar(sql.UNNAMED_DECISIONS, [pid]) or 0)

    def adopt_unnamed(self, pid: int, reviewer: str) -> int:
        """Give the unnamed reviewer's decisions, grades, reviewed states, versions, actions and log
        to ``reviewer`` (the person who made them before names were asked). Refused when
        ``reviewer`` already has some.

        Returns:
            Decisions adopted.

        Raises:
            EmbcoreError: an empty name, or a reviewer who already decided on this project.
        """
        if not reviewer:
            raise EmbcoreError("choose a name first")
        with self.transaction():
            if self._scalar(sql.REVIEWER_ROWS, [pid, reviewer]):
                raise EmbcoreError(f"{reviewer!r} already has decisions on this project; nothing was changed")
            n = self.unnamed_decisions(pid)
            for statement in sql.ADOPT_UNNAMED:
                self._execute(statement, [reviewer, pid])
        return n

    def has_assignments(self, pid: int) -> bool:
        """Whether a lead assigned the project's queries to reviewers."""
        return self._fetchone(sql.HAS_ASSIGNMENTS, [pid]) is not None

    def assigned_ids(self, pid: int, reviewer: str) -> set[int] | None:
        """Queries assigned to ``reviewer`` (None when the project has no assignment: everything is)."""
        if not self.has_assignments(pid):
            return None
        return {int(r[0]) for r in self._fetchall(sql.ASSIGNED_IDS, [pid, reviewer])}

    def active_reviewers(self, pid: int) -> pd.DataFrame:
        """(query_id, reviewer) pairs: who decided on or reviewed each query."""
        return self._df(sql.ACTIVE_REVIEWERS, [pid, pid])

    def replace_assignments(self, pid: int, rows: Sequence[tuple[int, str]]) -> None:
        """Replace a project's assignments by ``(query_id, reviewer)`` rows (empty: remove them all)."""
        frame = pd.DataFrame(list(rows), columns=["query_id", "reviewer"]).astype({"query_id": "int64"})
        with self.transaction():
            self._execute(sql.DELETE_ASSIGNMENTS, [pid])
            if len(frame):
                with self._frame("new_assignments", frame):
                    self._execute(sql.INSERT_ASSIGNMENTS, [pid])

    def assignment_counts(self, pid: int) -> pd.DataFrame:
        """Per reviewer: queries assigned and queries that reviewer marked reviewed among them."""
        return self._df(sql.ASSIGNMENT_COUNTS, [pid])

    def reviewed_by_others(self, pid: int, reviewer: str, k: int) -> set[int]:
        """Queries at least ``k`` reviewers other than ``reviewer`` have reviewed (done or complete)."""
        return {int(r[0]) for r in self._fetchall(sql.REVIEWED_BY_OTHERS, [pid, reviewer, int(k)])}

    # ------------------------------------------------------------------ reads for agreement and export

    def reviewer_votes(self, pid: int) -> pd.DataFrame:
        """Every reviewer decision of a project: query_id, passage_id, reviewer, decision, grade."""
        return self._df(sql.VOTES, [pid])

    def disagreements(self, pid: int, limit: int = 200) -> pd.DataFrame:
        """Pairs on which the reviewers' decisions differ, with each vote, the resolution and the texts.

        Columns: query_id, passage_id, query, passage, votes (list of 'reviewer: decision'),
        decision (resolved), resolved_by, adjudicated (bool), lead.
        """
        return self._df(sql.DISAGREEMENTS, [pid, int(limit)])

    def resolution_counts(self, pid: int) -> dict[str, int]:
        """Resolved decisions per ``resolved_by`` (single, unanimous, majority, tie, adjudicated)."""
        return {str(k): int(v) for k, v in self._fetchall(sql.RESOLUTION_COUNTS, [pid])}

    def resolved_grades(self, pid: int) -> pd.DataFrame:
        """One grade per graded (query, passage): the adjudicated grade, else the reviewers' lower median.

        Columns: query_id, passage_id, grade.
        """
        return self._df(sql.RESOLVED_GRADES, [pid, pid])

    def session_decisions(self, pid: int, reviewer: str, since: Any, run_id: int | None) -> pd.DataFrame:
        """The reviewer's logged decisions since ``since`` with the candidate's sources and scores.

        Columns: logged_at, query_id, passage_id, decision, sources, pos_sim, dense_score, status.
        Undone ones are left out (an undo's own rows too).
        """
        return self._df(sql.SESSION_DECISIONS, [-1 if run_id is None else int(run_id), pid, reviewer, since])
